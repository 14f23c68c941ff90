/*
 * exporter: metric families, the builder collectors write into, the text
 * 0.0.4 and OpenMetrics 1.0.0 encoders, the exposition parser, and the
 * immutable snapshot that /metrics serves.
 *
 * Model. A family has a name, HELP, a type and a list of series; a series is
 * a label set plus a value (counter, gauge, untyped) or buckets/quantiles with
 * sum and count (histogram, summary). This is Prometheus' client data model.
 *
 * Ownership. Everything a builder holds lives in the builder's arena: names,
 * help strings and label values are copied in, so callers may pass stack or
 * temporary strings. A finished builder is immutable and may be shared
 * read-only between threads; snapshots share builders by reference count.
 */
#ifndef CAIRN_EXPORTER_H
#define CAIRN_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

enum exp_type { EXP_COUNTER = 0, EXP_GAUGE, EXP_UNTYPED, EXP_SUMMARY, EXP_HISTOGRAM };

struct exp_label {
    const char *name;
    const char *value;
};

/* A histogram bucket (upper = le, count cumulative) or a summary quantile
 * (upper = quantile, count = value). */
struct exp_bucket {
    double upper;
    double count;
};

struct exp_series {
    struct exp_label *labels; /* sorted by name once the builder is finished */
    uint32_t nlabels;
    uint32_t nbuckets;
    double value;               /* counter, gauge, untyped */
    double sum, count;          /* summary, histogram */
    struct exp_bucket *buckets; /* summary, histogram; ascending by upper */
    int64_t timestamp_ms;       /* 0: none */
};

struct exp_family {
    const char *name;
    const char *help;
    enum exp_type type;
    uint32_t nseries;
    uint32_t cap;
    struct exp_series *series; /* sorted by labels once finished */
};

/* ---- builder ------------------------------------------------------------ */

/* A set of families under construction. Not thread-safe: one writer. */
struct exp_builder;

struct exp_builder *exp_builder_create(void);
/* Drops one reference (builders are created with one). Accepts NULL. */
void exp_builder_unref(struct exp_builder *b);
void exp_builder_ref(struct exp_builder *b);

/*
 * Returns the family with this name, creating it with help and type if it
 * does not exist yet. A second call with the same name returns the same
 * family (help and type of the first call win). Returns NULL on allocation
 * failure or when the name is not a valid metric name; the builder then
 * records the error (exp_builder_error). Strings are copied.
 */
struct exp_family *exp_family(struct exp_builder *b, const char *name, const char *help,
                              enum exp_type type);

/*
 * Adds a series with `value` to family f, with nlabels label pairs given as
 * alternating name, value strings: exp_add(b, f, 3.0, 2, "cpu", "0", "mode", "idle").
 * Returns the series (for exp_set_buckets) or NULL on failure (recorded).
 * f may be NULL (a failed exp_family), in which case nothing happens.
 */
struct exp_series *exp_add(struct exp_builder *b, struct exp_family *f, double value, int nlabels,
                           ...);
/* The same with label arrays. */
struct exp_series *exp_addv(struct exp_builder *b, struct exp_family *f, double value, int nlabels,
                            const char *const *names, const char *const *values);

/* Shorthands: family + one series in one call. */
struct exp_series *exp_gauge(struct exp_builder *b, const char *name, const char *help,
                             double value, int nlabels, ...);
struct exp_series *exp_counter(struct exp_builder *b, const char *name, const char *help,
                               double value, int nlabels, ...);

/* Sets histogram buckets / summary quantiles of s (copied), with sum and count. */
int exp_set_buckets(struct exp_builder *b, struct exp_series *s, const struct exp_bucket *buckets,
                    uint32_t n, double sum, double count);

/* The first error any call recorded (-ENOMEM, -EINVAL), or 0. */
int exp_builder_error(const struct exp_builder *b);

/*
 * Finishes the builder: sorts label pairs within each series and series
 * within each family, and removes duplicate series (same labels), keeping
 * one of them and counting the rest. Returns the number of duplicates removed.
 * After this the builder must not be modified.
 */
int exp_builder_finish(struct exp_builder *b);

/* The families in creation order (sorted by name after exp_builder_finish). */
struct exp_family *const *exp_builder_families(const struct exp_builder *b, size_t *n);

/* Removes the family `name` if present (before finish). */
void exp_builder_drop(struct exp_builder *b, const char *name);

/* Arena of the builder, for callers that need scratch strings that live as
 * long as the builder. */
struct cn_arena *exp_builder_arena(struct exp_builder *b);

/* Validity of names: [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]*. */
bool exp_valid_metric_name(const char *s);
bool exp_valid_label_name(const char *s);

/* ---- encoders ----------------------------------------------------------- */

enum exp_format { EXP_FMT_TEXT = 0, EXP_FMT_OPENMETRICS };

#define EXP_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define EXP_CONTENT_TYPE_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/*
 * Appends families (each sorted, names distinct or adjacent; adjacent
 * families with the same name are written as one) in the given format. The
 * OpenMetrics encoding ends with "# EOF\n". Errors land in out->err.
 */
void exp_encode(struct cn_buf *out, struct exp_family *const *fams, size_t n, enum exp_format fmt);

/*
 * Formats v as Go's strconv.FormatFloat(v, 'g', -1, 64) does (the text
 * format's number syntax): shortest round-trip digits, exponent form below
 * 1e-4 and from 1e21... as Go decides, "+Inf", "-Inf", "NaN". buf >= 32 bytes.
 * Returns the length written.
 */
size_t exp_format_double(char *buf, double v);

/* ---- parser -------------------------------------------------------------- */

struct exp_parse_error {
    int line; /* 1-based; 0 when not applicable */
    char msg[256];
};

/*
 * Parses the text exposition format 0.0.4 from data[0..len) into b. Follows
 * Prometheus' text parser: HELP and TYPE lines, comments, label escapes,
 * values (including NaN, +Inf, -Inf), optional timestamps; histogram and
 * summary series (_bucket, _sum, _count, quantile) are grouped into their
 * family. Returns 0, or -EINVAL with err filled (line and message) on the
 * first syntax error; on error b may hold part of the input and should be
 * discarded.
 */
int exp_parse_text(const char *data, size_t len, struct exp_builder *b,
                   struct exp_parse_error *err);

/* ---- snapshots ------------------------------------------------------------ */

/*
 * An immutable view of one collection cycle: the families of several
 * finished builders, sorted by name, and the lazily rendered, cached
 * encodings. Handlers take a reference, encode or read, and drop it; the
 * collector thread publishes the next snapshot meanwhile. Thread-safe.
 */
struct exp_snapshot;

/* Creates a snapshot over n finished builders; takes a reference to each
 * (the caller keeps its own). Returns NULL on allocation failure. */
struct exp_snapshot *exp_snapshot_create(struct exp_builder *const *builders, size_t n,
                                         int64_t timestamp_ms);
void exp_snapshot_ref(struct exp_snapshot *s);
void exp_snapshot_unref(struct exp_snapshot *s); /* accepts NULL */

/* The snapshot's families sorted by name (same-name families adjacent). */
struct exp_family *const *exp_snapshot_families(const struct exp_snapshot *s, size_t *n);
int64_t exp_snapshot_timestamp(const struct exp_snapshot *s);

/*
 * Returns the encoding of the snapshot in fmt, gzip-compressed if gzip. The
 * data is owned by the snapshot and valid while the caller holds its
 * reference. Rendered once per (format, gzip) and cached. 0 or -ENOMEM/-EIO.
 */
int exp_snapshot_render(struct exp_snapshot *s, enum exp_format fmt, bool gzip, const char **data,
                        size_t *len);

#endif
