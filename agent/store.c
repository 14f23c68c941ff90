/*
 * The agent's history: every collection cycle's snapshot appended to the
 * embedded TSDB at the cycle's timestamp, as a Prometheus scrape of
 * /metrics would store it (counters, gauges and untyped as one sample;
 * summaries as name{quantile}, name_sum, name_count; histograms as
 * name_bucket{le} with +Inf, name_sum, name_count; label values written as
 * the text format writes them).
 *
 * A series cache plays the part of Prometheus' scrape cache: it maps each
 * exposed series (name and label pairs, as a byte key) to its TSDB
 * reference, so a cycle appends by reference without building or hashing
 * label sets, and remembers the cycle each series was last seen in. A
 * series missing from a cycle gets a staleness marker at that cycle's
 * timestamp and leaves the cache, so queries stop returning it at once
 * instead of five minutes later.
 *
 * The store outlives scheduler reloads (it is owned by `cairn agent`, the
 * scheduler borrows it), so a reload neither loses the cache nor marks
 * every series stale. One lock per cycle serialises appends (see struct
 * agent_store).
 */
#include "agent/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tsdb/tsdb.h"

struct centry {
    uint64_t hash;
    uint64_t ref; /* 0: empty slot */
    uint64_t seen;
    char *key;
    size_t klen;
};

struct agent_store {
    struct tsdb_db *db;
    int64_t retention_ms;
    uint64_t retention_bytes;
    struct centry *tab;
    size_t cap, n;
    uint64_t cycle;
    int64_t t; /* the timestamp of the cycle being appended */
    struct cn_buf key;
    struct tsdb_label *labels;
    size_t lcap;
    uint64_t appended, stale, refused_ooo, refused_dup, failed;
    uint64_t damage_reported; /* corrupt blocks and WAL damage already reported */
    int last_err;             /* logged once per distinct error */
    /* Held for a whole cycle's append, and by export: during a reload the
     * old and the new scheduler both run cycles for a moment, and the
     * cache and the database's batch take one appender at a time. */
    pthread_mutex_t lock;
};

int agent_store_open(const struct agent_config *cfg, struct agent_store **out, char *err,
                     size_t errcap)
{
    struct agent_store *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    cn_buf_init(&s->key);
    pthread_mutex_init(&s->lock, NULL);
    s->retention_ms = cfg->retention_ms;
    s->retention_bytes = cfg->retention_bytes;
    struct tsdb_db_opts o = {.block_range_ms = cfg->block_ms,
                             .retention_ms = cfg->retention_ms,
                             .retention_bytes = cfg->retention_bytes,
                             .background = true};
    int rc = tsdb_db_open(cfg->storage_path, &o, &s->db, err, errcap);
    if (rc) {
        agent_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

void agent_store_close(struct agent_store *s)
{
    if (!s)
        return;
    int rc = tsdb_db_close(s->db);
    if (rc)
        cn_log(CN_LOG_ERROR, "tsdb", "closing the database failed", "err", strerror(-rc), NULL);
    for (size_t i = 0; i < s->cap; i++)
        free(s->tab[i].key);
    free(s->tab);
    free(s->labels);
    cn_buf_free(&s->key);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct tsdb_db *agent_store_db(struct agent_store *s)
{
    return s->db;
}

/* ---- the series cache ---------------------------------------------------------------- */

static uint64_t key_hash(const char *k, size_t n)
{
    uint64_t x = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        x = (x ^ (unsigned char)k[i]) * 1099511628211ULL;
    return x ^ (x >> 31);
}

static struct centry *cache_find(struct agent_store *s, const char *k, size_t n, uint64_t hash)
{
    for (size_t j = hash & (s->cap - 1);; j = (j + 1) & (s->cap - 1)) {
        struct centry *e = &s->tab[j];
        if (!e->ref || (e->hash == hash && e->klen == n && memcmp(e->key, k, n) == 0))
            return e;
    }
}

/* Rebuilds the table at cap slots, leaving out entries not seen in the
 * current cycle when drop_unseen is set. */
static int cache_rebuild(struct agent_store *s, size_t cap, bool drop_unseen)
{
    struct centry *t = cn_calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++) {
        struct centry *e = &s->tab[i];
        if (!e->ref)
            continue;
        if (drop_unseen && e->seen != s->cycle) {
            free(e->key);
            continue;
        }
        size_t j = e->hash & (cap - 1);
        while (t[j].ref)
            j = (j + 1) & (cap - 1);
        t[j] = *e;
        n++;
    }
    free(s->tab);
    s->tab = t;
    s->cap = cap;
    s->n = n;
    return 0;
}

/* ---- appending ----------------------------------------------------------------------- */

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

static void count_refusal(struct agent_store *s, int rc)
{
    if (rc == -ERANGE)
        s->refused_ooo++;
    else if (rc == -EEXIST)
        s->refused_dup++;
    else
        s->failed++;
    if (rc != -ERANGE && rc != -EEXIST && rc != s->last_err) {
        cn_log(CN_LOG_ERROR, "tsdb", "appending a sample failed", "err", strerror(-rc), NULL);
        s->last_err = rc;
    }
}

/* Appends one sample of series `name` + labels (+ the extra pair xn=xv). */
static void put(struct agent_store *s, const char *name, const char *suffix,
                const struct exp_series *es, const char *xn, const char *xv, double v)
{
    struct cn_buf *k = &s->key;
    cn_buf_reset(k);
    cn_buf_puts(k, name);
    if (suffix)
        cn_buf_puts(k, suffix);
    for (uint32_t i = 0; i < es->nlabels; i++) {
        cn_buf_putc(k, '\xff');
        cn_buf_puts(k, es->labels[i].name);
        cn_buf_putc(k, '\xfe');
        cn_buf_puts(k, es->labels[i].value);
    }
    if (xn) {
        cn_buf_putc(k, '\xff');
        cn_buf_puts(k, xn);
        cn_buf_putc(k, '\xfe');
        cn_buf_puts(k, xv);
    }
    if (k->err) {
        count_refusal(s, -ENOMEM);
        return;
    }
    int64_t t = es->timestamp_ms ? es->timestamp_ms : s->t;
    if ((s->n + 1) * 2 > s->cap && cache_rebuild(s, s->cap ? s->cap * 2 : 1024, false)) {
        count_refusal(s, -ENOMEM);
        return;
    }
    uint64_t hash = key_hash(k->data, k->len);
    struct centry *e = cache_find(s, k->data, k->len, hash);
    int rc = -ENOENT;
    if (e->ref) {
        rc = tsdb_db_append_ref(s->db, e->ref, t, v);
        if (rc != -ENOENT)
            e->seen = s->cycle;
    }
    if (rc == -ENOENT) {
        /* New, or removed from the head since (a truncation found it
         * without recent samples): append by label set. */
        size_t nl = es->nlabels + 2;
        if (nl > s->lcap) {
            struct tsdb_label *nb = cn_realloc(s->labels, nl * sizeof(*nb));
            if (!nb) {
                count_refusal(s, -ENOMEM);
                return;
            }
            s->labels = nb;
            s->lcap = nl;
        }
        /* The metric name with its suffix lives in the key buffer. */
        char *full = k->data;
        size_t namelen = strlen(name) + (suffix ? strlen(suffix) : 0);
        char saved = full[namelen];
        full[namelen] = '\0';
        size_t n = 0;
        s->labels[n++] = (struct tsdb_label){"__name__", full};
        for (uint32_t i = 0; i < es->nlabels; i++)
            if (es->labels[i].value[0])
                s->labels[n++] = (struct tsdb_label){es->labels[i].name, es->labels[i].value};
        if (xn)
            s->labels[n++] = (struct tsdb_label){xn, xv};
        qsort(s->labels, n, sizeof(*s->labels), cmp_label);
        struct tsdb_labels ls = {s->labels, n};
        uint64_t ref = 0;
        rc = tsdb_db_append(s->db, &ls, t, v, &ref);
        full[namelen] = saved;
        if (ref) {
            if (!e->ref) {
                e->key = cn_malloc(k->len);
                if (!e->key) {
                    count_refusal(s, -ENOMEM);
                    return;
                }
                memcpy(e->key, k->data, k->len);
                e->klen = k->len;
                e->hash = hash;
                s->n++;
            }
            e->ref = ref;
            e->seen = s->cycle;
        }
    }
    if (rc) {
        count_refusal(s, rc);
        return;
    }
    s->appended++;
}

static void put_family(struct agent_store *s, const struct exp_family *f)
{
    char num[40];
    for (uint32_t i = 0; i < f->nseries; i++) {
        const struct exp_series *es = &f->series[i];
        switch (f->type) {
        case EXP_COUNTER:
        case EXP_GAUGE:
        case EXP_UNTYPED: put(s, f->name, NULL, es, NULL, NULL, es->value); break;
        case EXP_SUMMARY:
            for (uint32_t b = 0; b < es->nbuckets; b++) {
                exp_format_double(num, es->buckets[b].upper);
                put(s, f->name, NULL, es, "quantile", num, es->buckets[b].count);
            }
            put(s, f->name, "_sum", es, NULL, NULL, es->sum);
            put(s, f->name, "_count", es, NULL, NULL, es->count);
            break;
        case EXP_HISTOGRAM: {
            bool inf = false;
            for (uint32_t b = 0; b < es->nbuckets; b++) {
                exp_format_double(num, es->buckets[b].upper);
                inf |= isinf(es->buckets[b].upper) && es->buckets[b].upper > 0;
                put(s, f->name, "_bucket", es, "le", num, es->buckets[b].count);
            }
            if (!inf)
                put(s, f->name, "_bucket", es, "le", "+Inf", es->count);
            put(s, f->name, "_sum", es, NULL, NULL, es->sum);
            put(s, f->name, "_count", es, NULL, NULL, es->count);
            break;
        }
        }
    }
}

void agent_store_append(struct agent_store *s, const struct exp_snapshot *snap, int64_t t)
{
    pthread_mutex_lock(&s->lock);
    s->cycle++;
    s->t = t;
    size_t nf;
    struct exp_family *const *fams = exp_snapshot_families(snap, &nf);
    for (size_t i = 0; i < nf; i++)
        put_family(s, fams[i]);
    /* Series not seen this cycle: a staleness marker each, then out. */
    size_t gone = 0;
    for (size_t i = 0; i < s->cap; i++) {
        struct centry *e = &s->tab[i];
        if (!e->ref || e->seen == s->cycle)
            continue;
        gone++;
        int rc = tsdb_db_append_ref(s->db, e->ref, t, tsdb_stale_nan());
        if (rc && rc != -ENOENT)
            count_refusal(s, rc);
    }
    if (gone) {
        s->stale += gone;
        if (cache_rebuild(s, s->cap, true))
            count_refusal(s, -ENOMEM);
    }
    int rc = tsdb_db_commit(s->db);
    if (rc == -ENOMEM)
        count_refusal(s, rc);
    pthread_mutex_unlock(&s->lock);
}

/* ---- self-metrics --------------------------------------------------------------------- */

uint64_t agent_store_new_damage(struct agent_store *s)
{
    struct tsdb_db_stats st;
    tsdb_db_stats(s->db, &st);
    uint64_t total = st.corrupt_blocks + st.wal_corruptions;
    pthread_mutex_lock(&s->lock);
    uint64_t fresh = total > s->damage_reported ? total - s->damage_reported : 0;
    s->damage_reported = total;
    pthread_mutex_unlock(&s->lock);
    return fresh;
}

void agent_store_export(struct agent_store *s, struct exp_builder *b)
{
    struct tsdb_db_stats st;
    tsdb_db_stats(s->db, &st);
    pthread_mutex_lock(&s->lock);
    uint64_t appended = s->appended, stale = s->stale, ooo = s->refused_ooo, dup = s->refused_dup,
             failed = s->failed;
    pthread_mutex_unlock(&s->lock);

    exp_gauge(b, "cairn_tsdb_head_series", "Series in the head.", (double)st.head.series, 0);
    exp_gauge(b, "cairn_tsdb_head_chunks", "Chunks in the head.", (double)st.head.chunks, 0);
    exp_gauge(b, "cairn_tsdb_head_chunks_bytes",
              "Bytes of head chunks held in memory (the open ones, and full ones not on disk).",
              (double)st.head.chunk_bytes, 0);
    exp_gauge(b, "cairn_tsdb_head_chunks_disk_bytes",
              "Bytes of full head chunks in chunks_head/ files.", (double)st.head.disk_bytes, 0);
    exp_counter(b, "cairn_tsdb_head_chunk_write_failures_total",
                "Full head chunks that could not be written to chunks_head/ (kept in memory).",
                (double)st.head.disk_write_failures, 0);
    exp_counter(b, "cairn_tsdb_head_samples_appended_total",
                "Samples appended to the head (staleness markers included).",
                (double)st.head.samples, 0);
    exp_counter(b, "cairn_tsdb_collected_samples_appended_total",
                "Samples of collection cycles the TSDB accepted.", (double)appended, 0);
    exp_counter(b, "cairn_tsdb_staleness_markers_total",
                "Staleness markers written for series that disappeared.", (double)stale, 0);
    exp_counter(b, "cairn_tsdb_out_of_order_samples_total",
                "Samples refused for being older than their series' last sample or than the "
                "newest block.",
                (double)ooo, 0);
    exp_counter(b, "cairn_tsdb_duplicate_samples_total",
                "Samples refused for repeating a timestamp with another value.", (double)dup, 0);
    exp_counter(b, "cairn_tsdb_append_failures_total",
                "Samples the TSDB could not take for another reason (memory).", (double)failed, 0);
    if (st.head.series) {
        exp_gauge(b, "cairn_tsdb_head_min_time_seconds", "Oldest sample time in the head.",
                  (double)st.head.mint / 1000.0, 0);
        exp_gauge(b, "cairn_tsdb_head_max_time_seconds", "Newest sample time in the head.",
                  (double)st.head.maxt / 1000.0, 0);
    }
    if (st.min_time != INT64_MAX)
        exp_gauge(b, "cairn_tsdb_lowest_timestamp_seconds",
                  "Oldest sample time the TSDB holds (blocks and head).",
                  (double)st.min_time / 1000.0, 0);
    exp_gauge(b, "cairn_tsdb_blocks_loaded", "Blocks on disk the TSDB serves.", (double)st.blocks,
              0);
    exp_gauge(b, "cairn_tsdb_storage_blocks_bytes", "Bytes of the blocks on disk.",
              (double)st.blocks_bytes, 0);
    exp_gauge(b, "cairn_tsdb_wal_storage_size_bytes", "Bytes of the WAL on disk.",
              (double)st.wal_bytes, 0);
    exp_gauge(b, "cairn_tsdb_retention_limit_seconds",
              "Retention by time (--storage.tsdb.retention.time); 0: none.",
              (double)s->retention_ms / 1000.0, 0);
    exp_gauge(b, "cairn_tsdb_retention_limit_bytes",
              "Retention by size (--storage.tsdb.retention.size); 0: none.",
              (double)s->retention_bytes, 0);
    struct exp_family *f =
        exp_family(b, "cairn_tsdb_wal_fsync_duration_seconds",
                   "Duration of WAL fsyncs, one per committed cycle.", EXP_SUMMARY);
    struct exp_series *fs = exp_add(b, f, 0, 0);
    if (fs)
        exp_set_buckets(b, fs, NULL, 0, st.wal_fsync_seconds, (double)st.wal_fsyncs);
    exp_counter(b, "cairn_tsdb_wal_writes_failed_total",
                "Commits whose WAL write or fsync failed (samples kept in memory).",
                (double)st.wal_failures, 0);
    exp_counter(b, "cairn_tsdb_wal_corruptions_total", "WAL damage found (and repaired) at start.",
                (double)st.wal_corruptions, 0);
    exp_counter(b, "cairn_tsdb_checkpoint_creations_total", "WAL checkpoints written.",
                (double)st.wal_checkpoints, 0);
    exp_counter(b, "cairn_tsdb_head_blocks_written_total", "Blocks written from the head.",
                (double)st.head_cuts, 0);
    exp_counter(b, "cairn_tsdb_head_blocks_failed_total",
                "Attempts to write a block from the head that failed.", (double)st.head_cuts_failed,
                0);
    exp_counter(b, "cairn_tsdb_compactions_total", "Compactions of blocks into larger ones.",
                (double)st.compactions, 0);
    exp_counter(b, "cairn_tsdb_compactions_failed_total", "Compactions that failed.",
                (double)st.compactions_failed, 0);
    exp_counter(b, "cairn_tsdb_time_retentions_total",
                "Blocks deleted for being older than the retention time.",
                (double)st.retention_deleted, 0);
    exp_counter(b, "cairn_tsdb_size_retentions_total",
                "Blocks deleted to stay under the retention size.", (double)st.size_deleted, 0);
    exp_counter(b, "cairn_tsdb_corrupt_blocks_total",
                "Blocks that failed validation and were set aside.", (double)st.corrupt_blocks, 0);
}
