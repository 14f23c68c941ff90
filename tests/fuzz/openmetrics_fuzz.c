/*
 * libFuzzer target for the OpenMetrics reader of `cairn tsdb import
 * openmetrics`: arbitrary bytes through the import's first pass (the
 * parser, label-set interning, timestamp checks). Beyond "no crash, no
 * leak, no UB": the answer is 0 (accepted) or 1 (refused with a message),
 * nothing else, and an accepted input that does not end in "# EOF\n" is a
 * defect.
 *
 * Seeds: tests/fuzz/corpus/openmetrics/. Run:
 * openmetrics_fuzz -max_total_time=60 corpus/openmetrics
 */
#include "agent/tsdb_tools.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    int rc = agent_tsdb_import_read((const char *)data, size, &n);
    if (rc != 0 && rc != 1)
        abort();
    if (rc == 0 && (size < 6 || memcmp(data + size - 6, "# EOF\n", 6) != 0) &&
        (size < 5 || memcmp(data + size - 5, "# EOF", 5) != 0))
        abort();
    return 0;
}
