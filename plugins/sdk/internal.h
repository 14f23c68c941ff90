/*
 * Internals of the plugin SDK shared by its files (and its unit tests): the
 * collect context of builder.c as serve.c drives it. Nothing outside
 * plugins/sdk and tests/unit/sdk includes this header. These functions have
 * hidden visibility: libcairn-plugin.so exports only the cairn_* API.
 */
#ifndef CAIRN_PLUGIN_SDK_INTERNAL_H
#define CAIRN_PLUGIN_SDK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/plugin.h"
#include "metrics.pb-c.h"

/*
 * Creates the context of one collect for the tick timestamp_ms with the
 * deadline deadline_ms (Unix ms; 0: none). Everything the builder makes for
 * it (families, series, strings) lives in the context until
 * sdk_collect_destroy. Returns NULL on allocation failure.
 */
struct cairn_collect *sdk_collect_create(int64_t timestamp_ms, int64_t deadline_ms);

/*
 * Empties c for another collect (tick and deadline as in create): the
 * families and messages built so far are gone, the failure is cleared, and
 * up to 1 MiB of the memory is kept for reuse.
 */
void sdk_collect_reset(struct cairn_collect *c, int64_t timestamp_ms, int64_t deadline_ms);

/* Frees c and every message built in it. Accepts NULL. */
void sdk_collect_destroy(struct cairn_collect *c);

/*
 * The families built in c, in the order of their first cairn_family call,
 * ready for CollectResponse.families: *n of them. The array and the messages
 * belong to c.
 */
Cairn__Plugin__V1__MetricFamily **sdk_collect_families(struct cairn_collect *c, size_t *n);

/*
 * Why the collect failed: the message given to cairn_collect_fail, or a
 * note that the builder ran out of memory (a partial result is never sent).
 * NULL when neither happened.
 */
const char *sdk_collect_error(const struct cairn_collect *c);

#endif
