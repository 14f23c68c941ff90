/*
 * `cairn tsdb` tools that live in files of their own, called from the
 * dispatcher in tsdb_cli.c: analyze (tsdb_analyze.c) and import openmetrics
 * (tsdb_import.c), plus the Go-compatible formatting they share. Private to
 * agent/.
 *
 * Both tools print what promtool 2.42 prints for the same input, so numbers
 * and durations follow Go's formatting rules (time.Duration.String(),
 * tabwriter columns) rather than C's.
 */
#ifndef CAIRN_AGENT_TSDB_TOOLS_H
#define CAIRN_AGENT_TSDB_TOOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tsdb/tsdb.h"

/*
 * `cairn tsdb analyze [--limit=N] [--extended] [DIR [BLOCK_ID]]`, as
 * `promtool tsdb analyze`. argv[0] is "analyze". Prints to stdout, errors
 * to stderr; returns the process exit status (0, 1 on failure, 2 on a
 * usage error).
 */
int agent_tsdb_analyze_main(int argc, char **argv);

/*
 * `cairn tsdb import openmetrics [-r] [-q] [--max-block-duration=D] FILE
 * [DIR]`, as `promtool tsdb create-blocks-from openmetrics`. argv[0] is
 * "import". Returns the process exit status as above.
 */
int agent_tsdb_import_main(int argc, char **argv);

/* The import's first pass alone (for the fuzzer): reads OpenMetrics text
 * (data need not be NUL-terminated) as the import does, reporting bad
 * input on stderr. 0 and the sample count in *nsamples, 1 for bad input,
 * -ENOMEM. */
int agent_tsdb_import_read(const char *data, size_t len, size_t *nsamples);

/* The formatting the tools share, defined in tsdb_cli.c. */

/* Go's time.Duration.String() for a whole number of milliseconds ("2h0m0s",
 * "1h59m59.999s", "15ms", "0s"), into out (cap >= 32). */
void agent_tsdb_go_duration(int64_t ms, char *out, size_t cap);
/* One row of promtool's block list (ULID, min/max time, duration, samples,
 * chunks, series, size; -r: dates and Go's byte units), or the header row
 * when m is NULL. */
void agent_tsdb_block_row(const struct tsdb_block_meta *m, uint64_t size, bool human,
                          char row[8][64]);
/* Rows laid out as Go's tabwriter (minimum width 13, padding 2), the last
 * column unpadded. */
void agent_tsdb_print_rows(char (*cells)[8][64], size_t rows);

#endif
