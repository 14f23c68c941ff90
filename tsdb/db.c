/*
 * The database: one directory holding immutable blocks, a write-ahead log
 * and, in memory, the head; what the agent stores its history in.
 *
 *   <dir>/<ULID>/            blocks (meta.json, index, chunks/, tombstones)
 *   <dir>/<ULID>.tmp         a block being written (removed on open)
 *   <dir>/<ULID>.corrupt     a block that failed validation, set aside
 *   <dir>/wal/               WAL segments and checkpoint.N/
 *
 * Appends go to the head at once and are logged to the WAL on commit: the
 * records of the series created since the last commit, then one samples
 * record, then fdatasync. So a committed batch survives the process being
 * killed and the machine losing power; a batch not yet committed is lost in
 * both cases. When the WAL cannot be written (a full disk) the samples stay
 * in the head, the error is logged and counted, and every later commit
 * tries to start a fresh segment, which first re-logs every head series so
 * the samples that follow can be replayed.
 *
 * Maintenance runs on a thread of its own (or by tsdb_db_maintain in
 * tests), woken every minute and by a commit that made the head long
 * enough, as Prometheus' DB.run:
 * 1. head -> block: when the head spans more than 1.5 block ranges, the
 *    range-aligned block holding its oldest data is written, the head
 *    truncated to the block's end, and the WAL cut, checkpointed (the
 *    series still in the head, samples from the block's end on) and
 *    truncated;
 * 2. compaction: tsdb_compact_plan over the blocks with the ranges 2h, 6h,
 *    18h, ... up to a tenth of the retention; the planned blocks are
 *    compacted into one and deleted;
 * 3. retention: blocks that ended more than the retention before the
 *    newest block's end are deleted, then the oldest ones while blocks and
 *    WAL together exceed the size limit.
 *
 * Blocks are shared with queries by reference count: a query takes a
 * reference to each block it reads, so a block deleted meanwhile (its
 * files are unlinked at once; the mappings stay valid) is closed when the
 * last query lets go.
 *
 * Locks: wal_lock guards the WAL writer (a commit against the WAL cut of
 * a maintenance pass). The pending batch and the encoding buffer belong to
 * the one appending thread and take no lock, so an append costs no mutex
 * beyond the head's. blocks_lock guards the block list. maint_lock
 * serialises maintenance passes; thread_lock with cond drives the thread.
 * Counters are atomics.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tsdb/tsdb.h"

#define DB_DEFAULT_RANGE (2 * 3600 * 1000LL)
#define DB_MAX_BLOCK_DURATION (31 * 24 * 3600 * 1000LL)
#define DB_MAINT_PERIOD_MS 60000
#define DB_MAX_RANGES 16
#define DB_MAX_KEPT_REF (1u << 22)

struct dblock {
    atomic_int refs;
    struct tsdb_block *b;
    uint64_t bytes;
    atomic_bool failed; /* a compaction of it failed: not planned again */
    char dir[PATH_MAX];
};

struct pending_series {
    uint8_t *rec; /* a series record: type byte, then entries */
    size_t len, cap;
};

struct tsdb_db {
    char *dir;
    char wal_dir[PATH_MAX];
    struct tsdb_db_opts o;
    int64_t ranges[DB_MAX_RANGES];
    size_t nranges;
    bool read_only;
    struct tsdb_head *head;

    pthread_mutex_t wal_lock;
    struct tsdb_wal *wal; /* NULL: failed or read-only */
    int wal_err;          /* the error that closed it, 0 when open */
    /* The batch since the last commit: the appending thread's. */
    struct pending_series pser;
    struct tsdb_ref_sample *psmp;
    size_t npsmp, psmp_cap;
    uint8_t *enc;
    size_t enc_cap;

    pthread_mutex_t blocks_lock;
    struct dblock **blocks; /* sorted by min_time */
    size_t nblocks, blocks_cap;

    pthread_mutex_t maint_lock;
    pthread_mutex_t thread_lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool started, stop, kick;

    atomic_uint_fast64_t compactions, compactions_failed, head_cuts, head_cuts_failed;
    atomic_uint_fast64_t retention_deleted, size_deleted, corrupt_blocks;
    atomic_uint_fast64_t wal_fsyncs, wal_fsync_ns, wal_failures, wal_corruptions;
    atomic_uint_fast64_t replayed_samples, checkpoints, wal_bytes;
};

/* ---- block list ----------------------------------------------------------------------- */

static void dblock_unref(struct dblock *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        tsdb_block_close(d->b);
        free(d);
    }
}

static int cmp_dblock(const void *a, const void *b)
{
    const struct tsdb_block_meta *x = tsdb_block_meta((*(struct dblock *const *)a)->b);
    const struct tsdb_block_meta *y = tsdb_block_meta((*(struct dblock *const *)b)->b);
    if (x->min_time != y->min_time)
        return x->min_time < y->min_time ? -1 : 1;
    return strcmp(x->ulid, y->ulid);
}

/* Opens <dir>/<name> as a block. A block that fails validation is renamed
 * to <name>.corrupt and logged; -EBADMSG then. */
static int block_load(struct tsdb_db *db, const char *name, struct dblock **out)
{
    struct dblock *d = cn_calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    if (!cn_path_join(d->dir, sizeof(d->dir), db->dir, name, NULL)) {
        free(d);
        return -ENAMETOOLONG;
    }
    char err[256] = "";
    int rc = tsdb_block_open(d->dir, &d->b, err, sizeof(err));
    if (rc == -ENOMEM) {
        free(d);
        return rc;
    }
    if (rc) {
        atomic_fetch_add(&db->corrupt_blocks, 1);
        char aside[PATH_MAX + 16];
        snprintf(aside, sizeof(aside), "%s.corrupt", d->dir);
        bool moved = !db->read_only && rename(d->dir, aside) == 0;
        cn_log(CN_LOG_ERROR, "tsdb", "block failed validation; set aside", "block", name, "err",
               err[0] ? err : strerror(-rc), "moved_to", moved ? aside : "(left in place)", NULL);
        free(d);
        return -EBADMSG;
    }
    atomic_init(&d->refs, 1);
    d->bytes = cn_disk_usage(d->dir);
    *out = d;
    return 0;
}

static int blocks_add(struct tsdb_db *db, struct dblock *d)
{
    pthread_mutex_lock(&db->blocks_lock);
    int rc = cn_array_grow((void **)&db->blocks, &db->blocks_cap, db->nblocks + 1,
                           sizeof(*db->blocks), 8);
    if (!rc) {
        db->blocks[db->nblocks++] = d;
        qsort(db->blocks, db->nblocks, sizeof(*db->blocks), cmp_dblock);
    }
    pthread_mutex_unlock(&db->blocks_lock);
    return rc;
}

/* Takes the block out of the list, deletes its directory and drops the
 * list's reference. */
static void block_delete(struct tsdb_db *db, struct dblock *d, const char *why)
{
    pthread_mutex_lock(&db->blocks_lock);
    for (size_t i = 0; i < db->nblocks; i++)
        if (db->blocks[i] == d) {
            memmove(db->blocks + i, db->blocks + i + 1,
                    (db->nblocks - i - 1) * sizeof(*db->blocks));
            db->nblocks--;
            break;
        }
    pthread_mutex_unlock(&db->blocks_lock);
    /* Rename first so a crash mid-removal leaves no half block to load. */
    char gone[PATH_MAX + 32];
    snprintf(gone, sizeof(gone), "%s.tmp-for-deletion", d->dir);
    int rc = rename(d->dir, gone) ? -errno : cn_remove_all(gone);
    cn_log(rc ? CN_LOG_ERROR : CN_LOG_INFO, "tsdb", rc ? "deleting block failed" : "block deleted",
           "block", tsdb_block_meta(d->b)->ulid, "reason", why, "err", rc ? strerror(-rc) : NULL,
           NULL);
    dblock_unref(d);
}

static bool is_parent_of_another(struct tsdb_db *db, const char *ulid)
{
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct tsdb_block_meta *m = tsdb_block_meta(db->blocks[i]->b);
        for (size_t k = 0; k < m->nparents; k++)
            if (strcmp(m->parents[k].ulid, ulid) == 0)
                return true;
    }
    return false;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Loads every block in db->dir; leftovers of interrupted writes and
 * deletions are removed, blocks a compaction already replaced (parents of
 * another block) deleted. */
static int blocks_open_all(struct tsdb_db *db)
{
    DIR *dh = opendir(db->dir);
    if (!dh)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dh))) {
        char path[PATH_MAX];
        if (!cn_path_join(path, sizeof(path), db->dir, e->d_name, NULL))
            continue;
        if (has_suffix(e->d_name, ".tmp") || has_suffix(e->d_name, ".tmp-for-deletion")) {
            if (!db->read_only)
                cn_remove_all(path);
            continue;
        }
        struct stat st;
        if (!tsdb_ulid_valid(e->d_name) || strlen(e->d_name) != TSDB_ULID_LEN || stat(path, &st) ||
            !S_ISDIR(st.st_mode))
            continue;
        struct dblock *d;
        int lrc = block_load(db, e->d_name, &d);
        if (lrc == -ENOMEM)
            rc = lrc;
        else if (!lrc && (rc = blocks_add(db, d)))
            dblock_unref(d);
    }
    closedir(dh);
    for (size_t i = 0; !rc && !db->read_only && i < db->nblocks;) {
        struct dblock *d = db->blocks[i];
        if (is_parent_of_another(db, tsdb_block_meta(d->b)->ulid))
            block_delete(db, d, "replaced by a compacted block");
        else
            i++;
    }
    return rc;
}

/* References to the blocks overlapping [mint, maxt], oldest first. */
static int blocks_acquire(struct tsdb_db *db, int64_t mint, int64_t maxt, struct dblock ***out,
                          size_t *n)
{
    pthread_mutex_lock(&db->blocks_lock);
    *n = 0;
    *out = cn_calloc(db->nblocks + 1, sizeof(**out));
    if (!*out) {
        pthread_mutex_unlock(&db->blocks_lock);
        return -ENOMEM;
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct tsdb_block_meta *m = tsdb_block_meta(db->blocks[i]->b);
        if (m->max_time <= mint || m->min_time > maxt)
            continue;
        atomic_fetch_add(&db->blocks[i]->refs, 1);
        (*out)[(*n)++] = db->blocks[i];
    }
    pthread_mutex_unlock(&db->blocks_lock);
    return 0;
}

static void blocks_release(struct dblock **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dblock_unref(v[i]);
    free(v);
}

/* ---- WAL replay ----------------------------------------------------------------------- */

/* WAL references that replay mapped to another head reference (a label set
 * logged twice under two references). Open addressing, key 0 empty. */
struct alias_map {
    uint64_t *key, *val;
    size_t cap, n;
};

static uint64_t *alias_slot(const struct alias_map *m, uint64_t key)
{
    size_t j = (key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
    while (m->key[j] && m->key[j] != key)
        j = (j + 1) & (m->cap - 1);
    return &m->key[j];
}

static int alias_put(struct alias_map *m, uint64_t key, uint64_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        struct alias_map t = {.cap = m->cap ? m->cap * 2 : 64};
        t.key = cn_calloc(t.cap, sizeof(uint64_t));
        t.val = cn_calloc(t.cap, sizeof(uint64_t));
        if (!t.key || !t.val) {
            free(t.key);
            free(t.val);
            return -ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                uint64_t *k = alias_slot(&t, m->key[i]);
                *k = m->key[i];
                t.val[k - t.key] = m->val[i];
            }
        t.n = m->n;
        free(m->key);
        free(m->val);
        *m = t;
    }
    uint64_t *k = alias_slot(m, key);
    if (!*k)
        m->n++;
    *k = key;
    m->val[k - m->key] = val;
    return 0;
}

static uint64_t alias_get(const struct alias_map *m, uint64_t key)
{
    if (!m->cap)
        return key;
    const uint64_t *k = alias_slot(m, key);
    return *k ? m->val[k - m->key] : key;
}

struct replay {
    struct alias_map alias;
    struct tsdb_label *labels;
    size_t lcap;
    char *str;
    size_t scap;
    uint64_t series, samples, refused, unknown;
};

static int pending_series_add(struct tsdb_db *db, uint64_t ref, const struct tsdb_labels *ls);

static int replay_series(struct tsdb_db *db, struct replay *rp, const uint8_t *rec, size_t len)
{
    struct tsdb_record_dec d;
    if (tsdb_record_dec_init(&d, rec, len, TSDB_REC_SERIES))
        return 0;
    if (rp->scap < len + 1 || rp->lcap < len / 2 + 1) {
        free(rp->str);
        free(rp->labels);
        rp->scap = len + 1;
        rp->lcap = len / 2 + 1;
        rp->str = cn_malloc(rp->scap);
        rp->labels = cn_calloc(rp->lcap, sizeof(*rp->labels));
        if (!rp->str || !rp->labels)
            return -ENOMEM;
    }
    uint64_t ref;
    size_t n;
    int rc;
    while ((rc = tsdb_record_next_series(&d, &ref, rp->labels, rp->lcap, &n, rp->str, rp->scap)) ==
           1) {
        struct tsdb_labels ls = {rp->labels, n};
        uint64_t got = 0;
        /* The head's reference table is indexed by reference: one from
         * another writer far beyond any this head would hand out gets a
         * fresh reference (and an alias) instead of a huge table. */
        int crc = tsdb_head_create_series(db->head, &ls, ref < DB_MAX_KEPT_REF ? ref : 0, &got);
        if (crc == -ENOMEM)
            return crc;
        if (crc == -EEXIST) {
            /* The reference was taken by another label set: a malformed
             * log. Give this one a fresh reference. */
            crc = tsdb_head_create_series(db->head, &ls, 0, &got);
            if (crc == -ENOMEM)
                return crc;
        }
        if (crc >= 0 && got != ref && alias_put(&rp->alias, ref, got))
            return -ENOMEM;
        /* A series created under a reference other than its record's is
         * logged again under the head's (at the first commit), so the WAL
         * and the head chunk files, which carry the head's reference, agree
         * for any reader. */
        if (crc == 1 && got != ref && !db->read_only && pending_series_add(db, got, &ls))
            return -ENOMEM;
        rp->series += crc == 1;
    }
    return 0;
}

static void replay_samples(struct tsdb_db *db, struct replay *rp, const uint8_t *rec, size_t len)
{
    struct tsdb_record_dec d;
    if (tsdb_record_dec_init(&d, rec, len, TSDB_REC_SAMPLES))
        return;
    struct tsdb_ref_sample s;
    while (tsdb_record_next_sample(&d, &s) == 1) {
        int rc = tsdb_head_append_ref(db->head, alias_get(&rp->alias, s.ref), s.t, s.v);
        if (rc == 0)
            rp->samples++;
        else if (rc == -ENOENT)
            rp->unknown++;
        else
            rp->refused++;
    }
}

/* Replays <dir>/wal into the head. Damage is logged and, unless read-only,
 * repaired (the damaged tail cut off; a damaged checkpoint set aside);
 * either way the records before it are kept and replay never fails for it. */
static int wal_replay(struct tsdb_db *db)
{
    struct replay rp = {0};
    struct tsdb_wal_reader *r;
    int rc = tsdb_wal_reader_open(db->wal_dir, &r);
    if (rc == -ENOENT)
        return 0;
    if (rc == -EINVAL) {
        cn_log(CN_LOG_ERROR, "tsdb", "WAL segments are not consecutive; not replayed", "dir",
               db->wal_dir, NULL);
        atomic_fetch_add(&db->wal_corruptions, 1);
        return 0;
    }
    if (rc)
        return rc;
    int64_t t0 = cn_mono_ns();
    const uint8_t *rec;
    size_t len;
    while ((rc = tsdb_wal_reader_next(r, &rec, &len)) == 1) {
        enum tsdb_record_type type = tsdb_record_type(rec, len);
        if (type == TSDB_REC_SERIES)
            rc = replay_series(db, &rp, rec, len);
        else if (type == TSDB_REC_SAMPLES)
            replay_samples(db, &rp, rec, len);
        if (rc < 0)
            break;
    }
    struct tsdb_wal_corruption c = {0};
    if (rc == -EBADMSG)
        c = *tsdb_wal_reader_corruption(r);
    int ckpt = tsdb_wal_reader_checkpoint(r);
    tsdb_wal_reader_close(r);
    if (rc == -EBADMSG) {
        atomic_fetch_add(&db->wal_corruptions, 1);
        int rrc = 0;
        if (!db->read_only && c.segment >= 0) {
            rrc = tsdb_wal_repair(db->wal_dir, &c);
        } else if (!db->read_only) {
            char ck[PATH_MAX + 32], aside[PATH_MAX + 48];
            snprintf(ck, sizeof(ck), "%s/checkpoint.%08d", db->wal_dir, ckpt);
            snprintf(aside, sizeof(aside), "%s.corrupt", ck);
            rrc = rename(ck, aside) ? -errno : 0;
        }
        cn_log(CN_LOG_WARN, "tsdb",
               db->read_only    ? "WAL damaged; replayed up to the damage"
               : c.segment >= 0 ? "WAL damaged; replayed up to the damage and truncated the rest"
                                : "WAL checkpoint damaged; set aside, replayed up to the damage",
               "segment", CN_LOGNUM(c.segment), "offset", CN_LOGINT(c.offset), "err", c.msg,
               "repair", rrc ? strerror(-rrc) : "ok", NULL);
        rc = 0;
    }
    atomic_store(&db->replayed_samples, rp.samples);
    cn_log(CN_LOG_INFO, "tsdb", "WAL replayed", "series", CN_LOGNUM(rp.series), "samples",
           CN_LOGINT(rp.samples), "refused", CN_LOGNUM(rp.refused), "unknown_series",
           CN_LOGNUM(rp.unknown), "seconds", CN_LOGNUM((double)(cn_mono_ns() - t0) / 1e9), NULL);
    free(rp.alias.key);
    free(rp.alias.val);
    free(rp.labels);
    free(rp.str);
    return rc < 0 ? rc : 0;
}

/* ---- open and close ---------------------------------------------------------------------- */

static void *maint_main(void *arg);

static void compute_ranges(struct tsdb_db *db)
{
    int64_t maxdur = DB_MAX_BLOCK_DURATION;
    if (db->o.retention_ms > 0 && db->o.retention_ms / 10 < maxdur)
        maxdur = db->o.retention_ms / 10;
    db->nranges = 0;
    for (int64_t r = db->o.block_range_ms; db->nranges < DB_MAX_RANGES; r *= 3) {
        if (db->nranges > 0 && r > maxdur)
            break;
        db->ranges[db->nranges++] = r;
    }
}

int tsdb_db_open(const char *dir, const struct tsdb_db_opts *opts, struct tsdb_db **out, char *err,
                 size_t errcap)
{
    struct tsdb_db *db = cn_calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    if (opts)
        db->o = *opts;
    if (db->o.block_range_ms <= 0)
        db->o.block_range_ms = DB_DEFAULT_RANGE;
    db->read_only = db->o.read_only;
    compute_ranges(db);
    pthread_mutex_init(&db->wal_lock, NULL);
    pthread_mutex_init(&db->blocks_lock, NULL);
    pthread_mutex_init(&db->maint_lock, NULL);
    pthread_mutex_init(&db->thread_lock, NULL);
    pthread_cond_init(&db->cond, NULL);
    int rc = 0;
    const char *what = "opening";
    db->dir = cn_strdup(dir);
    if (!db->dir || !cn_path_join(db->wal_dir, sizeof(db->wal_dir), dir, "wal", NULL)) {
        rc = db->dir ? -ENAMETOOLONG : -ENOMEM;
        goto fail;
    }
    if (!db->read_only && mkdir(dir, 0755) && errno != EEXIST) {
        rc = -errno;
        what = "creating";
        goto fail;
    }
    if ((rc = blocks_open_all(db))) {
        what = "reading blocks in";
        goto fail;
    }
    if ((rc = db->read_only ? tsdb_head_create(&db->head) : tsdb_head_create_disk(dir, &db->head)))
        goto fail;
    if ((rc = wal_replay(db))) {
        what = "replaying the WAL of";
        goto fail;
    }
    /* Data a block already holds (a crash between writing the block and
     * checkpointing the WAL) is dropped from the head. */
    if (db->nblocks) {
        int64_t maxt = tsdb_block_meta(db->blocks[db->nblocks - 1]->b)->max_time;
        for (size_t i = 0; i < db->nblocks; i++)
            if (tsdb_block_meta(db->blocks[i]->b)->max_time > maxt)
                maxt = tsdb_block_meta(db->blocks[i]->b)->max_time;
        tsdb_head_truncate(db->head, maxt, NULL);
    }
    if (!db->read_only) {
        if ((rc = tsdb_wal_open(db->wal_dir, db->o.wal_segment_size, &db->wal))) {
            what = "opening the WAL of";
            goto fail;
        }
        if (db->o.background) {
            if ((rc = -pthread_create(&db->thread, NULL, maint_main, db))) {
                what = "starting maintenance for";
                goto fail;
            }
            db->started = true;
        }
    }
    *out = db;
    return 0;
fail:
    if (err)
        snprintf(err, errcap, "%s %s: %s", what, dir, strerror(-rc));
    tsdb_db_close(db);
    return rc;
}

int tsdb_db_close(struct tsdb_db *db)
{
    if (!db)
        return 0;
    if (db->started) {
        pthread_mutex_lock(&db->thread_lock);
        db->stop = true;
        pthread_cond_broadcast(&db->cond);
        pthread_mutex_unlock(&db->thread_lock);
        pthread_join(db->thread, NULL);
    }
    int rc = 0;
    if (db->wal && (db->npsmp || db->pser.len))
        rc = tsdb_db_commit(db);
    int crc = tsdb_wal_close(db->wal);
    if (!rc)
        rc = crc;
    for (size_t i = 0; i < db->nblocks; i++)
        dblock_unref(db->blocks[i]);
    free(db->blocks);
    tsdb_head_destroy(db->head);
    free(db->pser.rec);
    free(db->psmp);
    free(db->enc);
    free(db->dir);
    pthread_mutex_destroy(&db->wal_lock);
    pthread_mutex_destroy(&db->blocks_lock);
    pthread_mutex_destroy(&db->maint_lock);
    pthread_mutex_destroy(&db->thread_lock);
    pthread_cond_destroy(&db->cond);
    free(db);
    return rc;
}

struct tsdb_head *tsdb_db_head(struct tsdb_db *db)
{
    return db->head;
}

/* ---- appending -------------------------------------------------------------------------- */

/* Encodes into db->enc, growing it. */
static int encode(struct tsdb_db *db, int (*fn)(const void *, size_t, uint8_t *, size_t, size_t *),
                  const void *v, size_t n, size_t *len)
{
    for (;;) {
        int rc = fn(v, n, db->enc, db->enc_cap, len);
        if (rc != -ENOSPC)
            return rc;
        uint8_t *nb = cn_realloc(db->enc, *len);
        if (!nb)
            return -ENOMEM;
        db->enc = nb;
        db->enc_cap = *len;
    }
}

static int enc_series(const void *v, size_t n, uint8_t *buf, size_t cap, size_t *len)
{
    return tsdb_record_encode_series(v, n, buf, cap, len);
}

static int enc_samples(const void *v, size_t n, uint8_t *buf, size_t cap, size_t *len)
{
    return tsdb_record_encode_samples(v, n, buf, cap, len);
}

/* Adds one series to the pending series record. A series record is a type
 * byte followed by independent entries, so entries encoded one at a time
 * are concatenated after the first one's type byte. The appending thread's
 * (or the open's, during replay). */
static int pending_series_add(struct tsdb_db *db, uint64_t ref, const struct tsdb_labels *ls)
{
    struct tsdb_ref_series rs = {ref, *ls};
    size_t len;
    int rc = encode(db, enc_series, &rs, 1, &len);
    if (rc)
        return rc;
    size_t skip = db->pser.len ? 1 : 0;
    rc = cn_array_grow((void **)&db->pser.rec, &db->pser.cap, db->pser.len + len - skip, 1, 256);
    if (rc)
        return rc;
    memcpy(db->pser.rec + db->pser.len, db->enc + skip, len - skip);
    db->pser.len += len - skip;
    return 0;
}

int tsdb_db_append(struct tsdb_db *db, const struct tsdb_labels *ls, int64_t t, double v,
                   uint64_t *ref)
{
    if (db->read_only)
        return -EROFS;
    uint64_t r;
    int rc = tsdb_head_create_series(db->head, ls, 0, &r);
    if (rc < 0)
        return rc;
    if (rc == 1 && (rc = pending_series_add(db, r, ls)))
        return rc;
    if (ref)
        *ref = r;
    return tsdb_db_append_ref(db, r, t, v);
}

int tsdb_db_append_ref(struct tsdb_db *db, uint64_t ref, int64_t t, double v)
{
    if (db->read_only)
        return -EROFS;
    int rc = tsdb_head_append_ref(db->head, ref, t, v);
    if (rc)
        return rc;
    rc = cn_array_grow((void **)&db->psmp, &db->psmp_cap, db->npsmp + 1, sizeof(*db->psmp), 256);
    if (!rc)
        db->psmp[db->npsmp++] = (struct tsdb_ref_sample){ref, t, v};
    return rc;
}

struct relog {
    struct tsdb_db *db;
    int rc;
};

static int relog_one(void *ctx, uint64_t ref, const struct tsdb_labels *ls)
{
    struct relog *rl = ctx;
    return rl->rc = pending_series_add(rl->db, ref, ls);
}

/* Starts a fresh WAL segment after a failure; the head's series are logged
 * first (as the pending series record) so later samples replay. Caller
 * holds wal_lock. */
static int wal_reopen(struct tsdb_db *db)
{
    int rc = tsdb_wal_open(db->wal_dir, db->o.wal_segment_size, &db->wal);
    if (rc)
        return rc;
    db->pser.len = 0;
    struct relog rl = {db, 0};
    tsdb_head_foreach(db->head, relog_one, &rl);
    return rl.rc;
}

static void wal_failed(struct tsdb_db *db, int rc)
{
    atomic_fetch_add(&db->wal_failures, 1);
    if (db->wal_err != rc)
        cn_log(CN_LOG_ERROR, "tsdb",
               "writing the WAL failed; samples are kept in memory only until it works again",
               "dir", db->wal_dir, "err", strerror(-rc), NULL);
    db->wal_err = rc;
    tsdb_wal_close(db->wal);
    db->wal = NULL;
}

int tsdb_db_commit(struct tsdb_db *db)
{
    if (db->read_only)
        return -EROFS;
    pthread_mutex_lock(&db->wal_lock);
    int rc = 0;
    if (!db->wal && (rc = wal_reopen(db))) {
        if (db->wal) {
            tsdb_wal_close(db->wal);
            db->wal = NULL;
        }
        wal_failed(db, rc);
        goto out;
    }
    if (db->pser.len && (rc = tsdb_wal_log(db->wal, db->pser.rec, db->pser.len)))
        goto io;
    if (db->npsmp) {
        size_t len;
        if ((rc = encode(db, enc_samples, db->psmp, db->npsmp, &len)) ||
            (rc = tsdb_wal_log(db->wal, db->enc, len)))
            goto io;
    }
    if (db->pser.len || db->npsmp) {
        int64_t t0 = cn_mono_ns();
        if ((rc = tsdb_wal_sync(db->wal)))
            goto io;
        atomic_fetch_add(&db->wal_fsyncs, 1);
        atomic_fetch_add(&db->wal_fsync_ns, (uint64_t)(cn_mono_ns() - t0));
    }
    if (db->wal_err) {
        cn_log(CN_LOG_INFO, "tsdb", "writing the WAL works again", "dir", db->wal_dir, NULL);
        db->wal_err = 0;
    }
    goto out;
io:
    if (rc != -ENOMEM)
        wal_failed(db, rc);
out:
    db->pser.len = 0;
    db->npsmp = 0;
    pthread_mutex_unlock(&db->wal_lock);
    /* Wake maintenance when the head has grown long enough for a block. */
    struct tsdb_head_stats hs;
    tsdb_head_stats(db->head, &hs);
    if (db->started && hs.series && hs.maxt - hs.mint > db->o.block_range_ms / 2 * 3) {
        pthread_mutex_lock(&db->thread_lock);
        db->kick = true;
        pthread_cond_signal(&db->cond);
        pthread_mutex_unlock(&db->thread_lock);
    }
    return rc;
}

/* ---- maintenance ----------------------------------------------------------------------- */

static bool keep_series(void *ctx, uint64_t ref)
{
    return tsdb_head_has_series(ctx, ref);
}

/* After the head was truncated at mint: closes the active segment and
 * checkpoints every segment before the new one. */
static void wal_checkpoint(struct tsdb_db *db, int64_t mint)
{
    pthread_mutex_lock(&db->wal_lock);
    int rc = db->wal ? tsdb_wal_cut(db->wal) : -EIO;
    int cur = db->wal && !rc ? tsdb_wal_segment(db->wal) : -1;
    if (rc && db->wal)
        wal_failed(db, rc);
    pthread_mutex_unlock(&db->wal_lock);
    if (cur <= 0)
        return;
    int *segs;
    size_t n;
    if (tsdb_wal_segments(db->wal_dir, &segs, &n))
        return;
    int first = n ? segs[0] : cur;
    free(segs);
    if (first >= cur)
        return;
    struct tsdb_wal_checkpoint_stats st;
    rc = tsdb_wal_checkpoint(db->wal_dir, first, cur - 1, keep_series, db->head, mint, &st);
    if (!rc)
        rc = tsdb_wal_truncate(db->wal_dir, cur);
    if (!rc)
        atomic_fetch_add(&db->checkpoints, 1);
    cn_log(rc ? CN_LOG_ERROR : CN_LOG_INFO, "tsdb", rc ? "WAL checkpoint failed" : "WAL checkpoint",
           "segments", CN_LOGNUM(cur - first), "series", CN_LOGNUM(rc ? 0 : st.series),
           "dropped_series", CN_LOGNUM(rc ? 0 : st.dropped_series), "err",
           rc ? strerror(-rc) : NULL, NULL);
}

/* Writes the head's oldest full range as a block while the head spans more
 * than 1.5 ranges. */
static int cut_head(struct tsdb_db *db)
{
    int rc = 0;
    for (;;) {
        struct tsdb_head_stats hs;
        tsdb_head_stats(db->head, &hs);
        int64_t r = db->o.block_range_ms;
        if (!hs.series || hs.maxt == INT64_MIN || hs.maxt - hs.mint <= r / 2 * 3)
            return rc;
        int64_t mint = hs.mint - (((hs.mint % r) + r) % r);
        int64_t maxt = mint + r;
        char ulid[TSDB_ULID_LEN + 1];
        int64_t t0 = cn_mono_ns();
        rc = tsdb_head_write_block(db->head, db->dir, mint, maxt, ulid);
        if (rc == -ENODATA) {
            rc = 0;
        } else if (rc) {
            atomic_fetch_add(&db->head_cuts_failed, 1);
            cn_log(CN_LOG_ERROR, "tsdb", "writing a block from the head failed; will retry", "mint",
                   CN_LOGINT(mint), "maxt", CN_LOGINT(maxt), "err", strerror(-rc), NULL);
            return rc;
        } else {
            struct dblock *d;
            rc = block_load(db, ulid, &d);
            if (!rc && (rc = blocks_add(db, d)))
                dblock_unref(d);
            if (rc)
                return rc;
            atomic_fetch_add(&db->head_cuts, 1);
            const struct tsdb_block_meta *m = tsdb_block_meta(d->b);
            cn_log(CN_LOG_INFO, "tsdb", "block written from the head", "block", ulid, "mint",
                   CN_LOGINT(m->min_time), "maxt", CN_LOGINT(m->max_time), "series",
                   CN_LOGINT(m->num_series), "samples", CN_LOGINT(m->num_samples), "seconds",
                   CN_LOGNUM((double)(cn_mono_ns() - t0) / 1e9), NULL);
        }
        struct tsdb_head_truncation tr;
        tsdb_head_truncate(db->head, maxt, &tr);
        wal_checkpoint(db, maxt);
    }
}

static int compact_once(struct tsdb_db *db, bool *did)
{
    *did = false;
    struct dblock **v;
    size_t n;
    int rc = blocks_acquire(db, INT64_MIN, INT64_MAX, &v, &n);
    if (rc)
        return rc;
    struct tsdb_block_meta *metas = cn_calloc(n + 1, sizeof(*metas));
    size_t *pick = cn_calloc(n + 1, sizeof(*pick));
    struct tsdb_block **in = cn_calloc(n + 1, sizeof(*in));
    struct dblock **cand = cn_calloc(n + 1, sizeof(*cand));
    size_t npick = 0, ncand = 0;
    if (!metas || !pick || !in || !cand)
        rc = -ENOMEM;
    /* Blocks a compaction failed on stay out of plans (as Prometheus marks
     * them in meta.json); a restart tries them again. */
    for (size_t i = 0; !rc && i < n; i++)
        if (!atomic_load(&v[i]->failed)) {
            metas[ncand] = *tsdb_block_meta(v[i]->b);
            cand[ncand++] = v[i];
        }
    if (!rc)
        rc = tsdb_compact_plan(metas, ncand, db->ranges, db->nranges, pick, &npick);
    if (!rc && npick) {
        for (size_t i = 0; i < npick; i++)
            in[i] = cand[pick[i]]->b;
        char ulid[TSDB_ULID_LEN + 1], err[256] = "";
        int64_t t0 = cn_mono_ns();
        rc = tsdb_compact(db->dir, in, npick, ulid, err, sizeof(err));
        if (rc && rc != -ENODATA) {
            atomic_fetch_add(&db->compactions_failed, 1);
            for (size_t i = 0; i < npick; i++)
                atomic_store(&cand[pick[i]]->failed, true);
            cn_log(CN_LOG_ERROR, "tsdb", "compaction failed", "blocks", CN_LOGNUM(npick), "err",
                   err[0] ? err : strerror(-rc), NULL);
        } else {
            struct dblock *d = NULL;
            if (!rc && !(rc = block_load(db, ulid, &d)) && (rc = blocks_add(db, d)))
                dblock_unref(d);
            if (!rc || rc == -ENODATA) {
                atomic_fetch_add(&db->compactions, 1);
                cn_log(CN_LOG_INFO, "tsdb", "blocks compacted", "blocks", CN_LOGNUM(npick), "into",
                       d ? ulid : "(nothing: no samples)", "seconds",
                       CN_LOGNUM((double)(cn_mono_ns() - t0) / 1e9), NULL);
                for (size_t i = 0; i < npick; i++)
                    block_delete(db, cand[pick[i]], "compacted");
                *did = true;
                rc = 0;
            }
        }
    }
    free(metas);
    free(pick);
    free(in);
    free(cand);
    blocks_release(v, n);
    return rc;
}

static void apply_retention(struct tsdb_db *db)
{
    struct dblock **v;
    size_t n;
    if (blocks_acquire(db, INT64_MIN, INT64_MAX, &v, &n))
        return;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < n; i++)
        if (tsdb_block_meta(v[i]->b)->max_time > newest)
            newest = tsdb_block_meta(v[i]->b)->max_time;
    uint64_t total = cn_disk_usage(db->wal_dir);
    atomic_store(&db->wal_bytes, total);
    /* The head's chunk files count too, as in Prometheus. */
    struct tsdb_head_stats hs;
    tsdb_head_stats(db->head, &hs);
    total += hs.disk_bytes;
    /* Newest first: the size limit keeps the newest blocks that fit. */
    for (size_t k = n; k-- > 0;) {
        const struct tsdb_block_meta *m = tsdb_block_meta(v[k]->b);
        total += v[k]->bytes;
        if (db->o.retention_ms > 0 && newest - m->max_time > db->o.retention_ms) {
            atomic_fetch_add(&db->retention_deleted, 1);
            block_delete(db, v[k], "older than the retention time");
        } else if (db->o.retention_bytes > 0 && total > db->o.retention_bytes) {
            atomic_fetch_add(&db->size_deleted, 1);
            block_delete(db, v[k], "over the retention size");
        }
    }
    blocks_release(v, n);
}

int tsdb_db_maintain(struct tsdb_db *db)
{
    if (db->read_only)
        return -EROFS;
    pthread_mutex_lock(&db->maint_lock);
    int rc = cut_head(db);
    bool did = true;
    for (int i = 0; did && i < 64;) {
        int crc = compact_once(db, &did);
        if (crc) {
            rc = rc ? rc : crc;
            break;
        }
        i += did;
    }
    apply_retention(db);
    pthread_mutex_unlock(&db->maint_lock);
    return rc;
}

static void *maint_main(void *arg)
{
    struct tsdb_db *db = arg;
    pthread_mutex_lock(&db->thread_lock);
    while (!db->stop) {
        pthread_mutex_unlock(&db->thread_lock);
        tsdb_db_maintain(db);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += DB_MAINT_PERIOD_MS / 1000;
        pthread_mutex_lock(&db->thread_lock);
        while (!db->stop && !db->kick)
            if (pthread_cond_timedwait(&db->cond, &db->thread_lock, &until) == ETIMEDOUT)
                break;
        db->kick = false;
    }
    pthread_mutex_unlock(&db->thread_lock);
    return NULL;
}

/* ---- querying and statistics --------------------------------------------------------------- */

struct tsdb_db_querier {
    struct dblock **blocks;
    size_t nblocks;
    struct tsdb_source *src;
    size_t nsrc;
};

int tsdb_db_querier_open(struct tsdb_db *db, int64_t mint, int64_t maxt,
                         struct tsdb_db_querier **out)
{
    struct tsdb_db_querier *q = cn_calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    int rc = blocks_acquire(db, mint, maxt, &q->blocks, &q->nblocks);
    if (!rc && !(q->src = cn_calloc(q->nblocks + 1, sizeof(*q->src))))
        rc = -ENOMEM;
    if (rc) {
        tsdb_db_querier_close(q);
        return rc;
    }
    for (size_t i = 0; i < q->nblocks; i++)
        q->src[q->nsrc++] = tsdb_block_source(q->blocks[i]->b);
    q->src[q->nsrc++] = tsdb_head_source(db->head);
    *out = q;
    return 0;
}

const struct tsdb_source *tsdb_db_querier_sources(const struct tsdb_db_querier *q, size_t *n)
{
    *n = q->nsrc;
    return q->src;
}

void tsdb_db_querier_close(struct tsdb_db_querier *q)
{
    if (!q)
        return;
    blocks_release(q->blocks, q->nblocks);
    free(q->src);
    free(q);
}

void tsdb_db_stats(struct tsdb_db *db, struct tsdb_db_stats *st)
{
    *st = (struct tsdb_db_stats){0};
    tsdb_head_stats(db->head, &st->head);
    pthread_mutex_lock(&db->blocks_lock);
    st->blocks = db->nblocks;
    st->min_time = st->head.series ? st->head.mint : INT64_MAX;
    for (size_t i = 0; i < db->nblocks; i++) {
        const struct tsdb_block_meta *m = tsdb_block_meta(db->blocks[i]->b);
        st->blocks_bytes += db->blocks[i]->bytes;
        if (m->min_time < st->min_time)
            st->min_time = m->min_time;
    }
    pthread_mutex_unlock(&db->blocks_lock);
    st->wal_bytes = atomic_load(&db->wal_bytes);
    st->compactions = atomic_load(&db->compactions);
    st->compactions_failed = atomic_load(&db->compactions_failed);
    st->head_cuts = atomic_load(&db->head_cuts);
    st->head_cuts_failed = atomic_load(&db->head_cuts_failed);
    st->retention_deleted = atomic_load(&db->retention_deleted);
    st->size_deleted = atomic_load(&db->size_deleted);
    st->corrupt_blocks = atomic_load(&db->corrupt_blocks);
    st->wal_fsyncs = atomic_load(&db->wal_fsyncs);
    st->wal_fsync_seconds = (double)atomic_load(&db->wal_fsync_ns) / 1e9;
    st->wal_failures = atomic_load(&db->wal_failures);
    st->wal_corruptions = atomic_load(&db->wal_corruptions);
    st->wal_checkpoints = atomic_load(&db->checkpoints);
    st->replayed_samples = atomic_load(&db->replayed_samples);
    pthread_mutex_lock(&db->wal_lock);
    st->wal_ok = db->wal != NULL;
    pthread_mutex_unlock(&db->wal_lock);
}

const int64_t *tsdb_db_ranges(const struct tsdb_db *db, size_t *n)
{
    *n = db->nranges;
    return db->ranges;
}
