/*
 * meta.json, a block's description (Prometheus' BlockMeta, version 1), read
 * and written with jansson, and ULIDs, the block names.
 *
 * The writer emits what Prometheus 2.42 writes (zero stats omitted, as Go's
 * omitempty does) through meta.json.tmp, fsync and rename, so a crash leaves
 * the old file or the new one. The reader insists on the fields every
 * Prometheus version writes (ulid, minTime, maxTime, version 1) and takes the
 * rest when present (compaction sources and parents included); unknown
 * fields (Thanos' "thanos" section, "deletable", "failed", "hints") are
 * ignored.
 *
 * A ULID is 48 bits of milliseconds and 80 random bits in Crockford's base32,
 * most significant first: 26 characters, the first at most '7'.
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void tsdb_ulid_format(int64_t ms, const uint8_t rnd[10], char out[TSDB_ULID_LEN + 1])
{
    uint8_t b[16];
    uint64_t t = (uint64_t)ms;
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(t >> (40 - 8 * i));
    memcpy(b + 6, rnd, 10);
    /* 128 bits as 26 groups of 5 bits, the first group holding 3. */
    for (int i = 0; i < TSDB_ULID_LEN; i++) {
        int bit = i == 0 ? 0 : 3 + 5 * (i - 1); /* first bit of the group */
        int width = i == 0 ? 3 : 5;
        unsigned v = 0;
        for (int k = 0; k < width; k++) {
            int pos = bit + k;
            v = v << 1 | ((b[pos / 8] >> (7 - pos % 8)) & 1u);
        }
        out[i] = crockford[v];
    }
    out[TSDB_ULID_LEN] = '\0';
}

int tsdb_ulid_new(char out[TSDB_ULID_LEN + 1])
{
    uint8_t rnd[10];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return errno ? -errno : -EIO;
    tsdb_ulid_format(cn_now_ms(), rnd, out);
    return 0;
}

bool tsdb_ulid_valid(const char *s)
{
    if (strlen(s) != TSDB_ULID_LEN || s[0] < '0' || s[0] > '7')
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr(crockford, *p) && !strchr("abcdefghjkmnpqrstvwxyz", *p))
            return false;
    return true;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

int tsdb_meta_write(const char *dir, const struct tsdb_block_meta *m)
{
    json_t *stats = json_object(), *comp = json_object(), *root = json_object();
    json_t *src = json_array(), *par = json_array();
    int rc = -ENOMEM;
    char *text = NULL;
    if (!stats || !comp || !root || !src || !par)
        goto out;
    json_object_set_new(root, "ulid", json_string(m->ulid));
    json_object_set_new(root, "minTime", json_integer(m->min_time));
    json_object_set_new(root, "maxTime", json_integer(m->max_time));
    const struct {
        const char *key;
        uint64_t v;
    } st[] = {{"numSamples", m->num_samples},
              {"numSeries", m->num_series},
              {"numChunks", m->num_chunks},
              {"numTombstones", m->num_tombstones}};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
        if (st[i].v)
            json_object_set_new(stats, st[i].key, json_integer((json_int_t)st[i].v));
    json_object_set(root, "stats", stats);
    json_object_set_new(comp, "level", json_integer(m->level));
    for (size_t i = 0; i < m->nsources; i++)
        json_array_append_new(src, json_string(m->sources[i]));
    if (m->nsources)
        json_object_set(comp, "sources", src);
    /* Go's field order: level, sources, parents; a level-1 block has none. */
    for (size_t i = 0; i < m->nparents; i++) {
        json_t *p = json_object();
        if (!p)
            goto out;
        json_object_set_new(p, "ulid", json_string(m->parents[i].ulid));
        json_object_set_new(p, "minTime", json_integer(m->parents[i].min_time));
        json_object_set_new(p, "maxTime", json_integer(m->parents[i].max_time));
        json_array_append_new(par, p);
    }
    if (m->nparents)
        json_object_set(comp, "parents", par);
    json_object_set(root, "compaction", comp);
    json_object_set_new(root, "version", json_integer(m->version ? m->version : 1));
    text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text)
        goto out;

    char tmp[4096], path[4096];
    if (snprintf(tmp, sizeof(tmp), "%s/meta.json.tmp", dir) >= (int)sizeof(tmp) ||
        snprintf(path, sizeof(path), "%s/meta.json", dir) >= (int)sizeof(path)) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    size_t len = strlen(text);
    rc = 0;
    if (write(fd, text, len) != (ssize_t)len || fsync(fd))
        rc = errno ? -errno : -EIO;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (!rc)
        rc = fsync_dir(dir);
    if (rc)
        unlink(tmp);
out:
    free(text);
    json_decref(stats);
    json_decref(comp);
    json_decref(src);
    json_decref(par);
    json_decref(root);
    return rc;
}

static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* An optional non-negative integer field. */
static bool get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return true;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* compaction.parents (may be NULL): objects of a ULID and a time range. */
static int read_parents(json_t *par, struct tsdb_block_meta *m, const char *path, char *err,
                        size_t cap)
{
    size_t n = par ? json_array_size(par) : 0;
    if (n == 0)
        return 0;
    m->parents = cn_calloc(n, sizeof(*m->parents));
    if (!m->parents)
        return fail(err, cap, -ENOMEM, "meta.json: out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(par, i);
        json_t *u = json_object_get(p, "ulid"), *mint = json_object_get(p, "minTime"),
               *maxt = json_object_get(p, "maxTime");
        if (!json_is_object(p) || !json_is_string(u) || !tsdb_ulid_valid(json_string_value(u)) ||
            !json_is_integer(mint) || !json_is_integer(maxt))
            return fail(err, cap, -EINVAL,
                        "%s: compaction parent %zu is not {\"ulid\", \"minTime\", \"maxTime\"}",
                        path, i);
        memcpy(m->parents[i].ulid, json_string_value(u), TSDB_ULID_LEN + 1);
        m->parents[i].min_time = json_integer_value(mint);
        m->parents[i].max_time = json_integer_value(maxt);
        m->nparents = i + 1;
    }
    return 0;
}

int tsdb_meta_read(const char *dir, struct tsdb_block_meta *m, char *err, size_t cap)
{
    memset(m, 0, sizeof(*m));
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/meta.json", dir) >= (int)sizeof(path))
        return fail(err, cap, -ENAMETOOLONG, "meta.json: path too long");
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (access(path, F_OK))
            return fail(err, cap, -errno, "%s: %s", path, strerror(errno));
        return fail(err, cap, -EINVAL, "%s: not JSON: line %d column %d: %s", path, je.line,
                    je.column, je.text);
    }
    int rc = -EINVAL;
    json_t *ulid = json_object_get(root, "ulid");
    json_t *mint = json_object_get(root, "minTime"), *maxt = json_object_get(root, "maxTime");
    json_t *ver = json_object_get(root, "version");
    if (!json_is_object(root) || !json_is_string(ulid) ||
        !tsdb_ulid_valid(json_string_value(ulid))) {
        fail(err, cap, rc, "%s: no valid \"ulid\"", path);
        goto out;
    }
    if (!json_is_integer(mint) || !json_is_integer(maxt)) {
        fail(err, cap, rc, "%s: \"minTime\"/\"maxTime\" missing or not integers", path);
        goto out;
    }
    if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
        fail(err, cap, rc, "%s: \"version\" is not 1", path);
        goto out;
    }
    memcpy(m->ulid, json_string_value(ulid), TSDB_ULID_LEN + 1);
    m->min_time = json_integer_value(mint);
    m->max_time = json_integer_value(maxt);
    m->version = 1;
    json_t *st = json_object_get(root, "stats");
    if (st &&
        (!json_is_object(st) || !get_u64(st, "numSamples", &m->num_samples) ||
         !get_u64(st, "numSeries", &m->num_series) || !get_u64(st, "numChunks", &m->num_chunks) ||
         !get_u64(st, "numTombstones", &m->num_tombstones))) {
        fail(err, cap, rc, "%s: malformed \"stats\"", path);
        goto out;
    }
    json_t *comp = json_object_get(root, "compaction");
    if (comp) {
        json_t *lvl = json_object_get(comp, "level"), *src = json_object_get(comp, "sources");
        json_t *par = json_object_get(comp, "parents");
        if (!json_is_object(comp) || (lvl && !json_is_integer(lvl)) ||
            (src && !json_is_array(src)) || (par && !json_is_array(par))) {
            fail(err, cap, rc, "%s: malformed \"compaction\"", path);
            goto out;
        }
        m->level = lvl ? (int)json_integer_value(lvl) : 0;
        size_t n = src ? json_array_size(src) : 0;
        if (n) {
            m->sources = cn_calloc(n, sizeof(*m->sources));
            if (!m->sources) {
                rc = fail(err, cap, -ENOMEM, "meta.json: out of memory");
                goto out;
            }
            for (size_t i = 0; i < n; i++) {
                json_t *s = json_array_get(src, i);
                if (!json_is_string(s) || !tsdb_ulid_valid(json_string_value(s))) {
                    fail(err, cap, rc, "%s: compaction source %zu is not a ULID", path, i);
                    tsdb_meta_free(m);
                    goto out;
                }
                memcpy(m->sources[i], json_string_value(s), TSDB_ULID_LEN + 1);
            }
            m->nsources = n;
        }
        if ((rc = read_parents(par, m, path, err, cap))) {
            tsdb_meta_free(m);
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void tsdb_meta_free(struct tsdb_block_meta *m)
{
    if (!m)
        return;
    free(m->sources);
    m->sources = NULL;
    m->nsources = 0;
    free(m->parents);
    m->parents = NULL;
    m->nparents = 0;
}
