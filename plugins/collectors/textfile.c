/*
 * textfile: metrics from *.prom files, as node_exporter 1.5's textfile
 * collector exports them.
 *
 * Option "directory" (--collector.textfile.directory, default empty: only
 * node_textfile_scrape_error 0). It may be a glob pattern matching several
 * directories, as in 1.5; when the pattern matches nothing it is read as one
 * directory. Every entry whose name ends in ".prom" is parsed with
 * exp_parse_text() into its own scratch builder, in name order. A file that
 * does not parse, cannot be read, is larger than 64 MiB or carries client-side
 * timestamps is skipped as a whole and sets node_textfile_scrape_error to 1;
 * the other files are still exported, and the collector itself succeeds
 * (node_exporter 1.5 reports success 1 in that case too). Failures are logged,
 * each distinct message once until it goes away.
 *
 * What 1.5 does on the way from the parsed files to /metrics, and therefore
 * this collector too:
 * - node_textfile_mtime_seconds{file} for each file read successfully, with
 *   the file's path as filepath.Join(directory, name) spells it (the full,
 *   cleaned path), in whole seconds; sorted by path.
 * - A family without HELP gets "Metric read from <file>, <file>..." listing
 *   every successfully parsed file that has a family of that name.
 * - Within one file, every series of a family carries all label names used
 *   in that family; missing ones are exported with the empty value.
 * - Histogram bucket counts and summary/histogram sample counts pass through
 *   Go's uint64 conversion (3.9 becomes 3; amd64 semantics for the rest).
 * - Families from several files are merged when name, HELP and type agree.
 *   When they do not, the Prometheus registry drops the later file's series
 *   (an error at gathering time that does not touch
 *   node_textfile_scrape_error): so do we, and log it. The same goes for a
 *   series already collected with the same labels (the first one stays) and
 *   for a summary or histogram whose _sum/_count/_bucket names collide with
 *   another family.
 * - A directory entry named *.prom reads as an empty file (1.5's parser
 *   takes the EISDIR error at the start of input for the end of input).
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEXTFILE_MAX_BYTES (64u << 20)
/* Bound on label pairs one family may expand to when missing labels are
 * filled in (series x distinct label names). */
#define TEXTFILE_MAX_FILLED_PAIRS 10000000ULL

#define MTIME_NAME "node_textfile_mtime_seconds"
#define MTIME_HELP "Unixtime mtime of textfiles successfully read."
#define ERROR_NAME "node_textfile_scrape_error"
#define ERROR_HELP "1 if there was an error opening or reading a file, 0 otherwise"

struct textfile {
    char *directory;
    /* hashes of the messages logged during the previous cycle */
    uint64_t *logged;
    size_t nlogged;
};

/* A file that was parsed successfully. */
struct tf_file {
    char *path;
    struct exp_builder *b; /* finished */
    double mtime;
    bool has_mtime;
};

/* Name table of the families exported so far in this cycle. */
struct tf_name {
    const char *name;
    const char *help;
    enum exp_type type;
    struct exp_family *f;
};

/* One collection cycle. */
struct tf_run {
    struct textfile *t;
    struct plg_collect *c;
    bool errored;
    struct tf_file *files;
    size_t nfiles, capfiles;
    struct cn_buf data;
    uint64_t *logged;
    size_t nlogged, caplogged;
    struct tf_name *names;
    size_t nnames, capnames; /* open addressing; capnames is a power of two */
    /* series already exported: hash -> index into keys (+1) */
    uint32_t *series;
    size_t nseries, capseries;
    struct cn_arena *keys;
    struct cn_buf key; /* scratch for the key being looked up */
    const char **keyptr;
    size_t *keylen;
    size_t capkeys;
    int err; /* -ENOMEM */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

#define FNV_SEED 1469598103934665603ULL

/* ---- logging, once per distinct message ----------------------------------- */

static void tf_log(struct tf_run *r, const char *msg, const char *key, const char *val,
                   const char *err)
{
    uint64_t h = fnv(fnv(fnv(FNV_SEED, msg, strlen(msg)), val, strlen(val)), err, strlen(err));
    if (r->nlogged == r->caplogged) {
        size_t cap = r->caplogged ? r->caplogged * 2 : 8;
        uint64_t *l = cn_realloc(r->logged, cap * sizeof(*l));
        if (l) {
            r->logged = l;
            r->caplogged = cap;
        }
    }
    if (r->nlogged < r->caplogged)
        r->logged[r->nlogged++] = h;
    for (size_t i = 0; i < r->t->nlogged; i++)
        if (r->t->logged[i] == h)
            return; /* said last cycle already */
    cn_log(CN_LOG_ERROR, "collector", msg, "collector", "textfile", key, val, "err", err, NULL);
}

/* ---- paths -------------------------------------------------------------------- */

/* filepath.Join(dir, name): joined, then cleaned lexically as Go's
 * filepath.Clean does. Returns false if it does not fit in out (PATH_MAX). */
static bool join_clean(char *out, const char *dir, const char *name)
{
    char path[PATH_MAX];
    int len = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof(path))
        return false;
    size_t n = (size_t)len, r = 0, w = 0, dotdot = 0;
    bool rooted = path[0] == '/';
    if (rooted) {
        out[w++] = '/';
        r = dotdot = 1;
    }
    while (r < n) {
        if (path[r] == '/') {
            r++;
        } else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
            r++;
        } else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) {
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            } else if (!rooted) {
                if (w > 0)
                    out[w++] = '/';
                out[w++] = '.';
                out[w++] = '.';
                dotdot = w;
            }
        } else {
            if ((rooted && w != 1) || (!rooted && w != 0))
                out[w++] = '/';
            for (; r < n && path[r] != '/'; r++)
                out[w++] = path[r];
        }
    }
    if (w == 0)
        out[w++] = '.';
    out[w] = '\0';
    return true;
}

/* ---- reading one file ------------------------------------------------------------ */

/*
 * Whether a file that parsed without error has a sample with an explicit
 * timestamp. The parser stores timestamps in exp_series.timestamp_ms, where 0
 * also means "none", so "metric 1 0" is only visible here: in a well-formed
 * sample line anything after the value is the timestamp.
 */
static bool has_zero_timestamp(const char *p, size_t len)
{
    const char *end = p + len;
    while (p < end) {
        const char *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p < e && *p != '#') {
            while (p < e && *p != ' ' && *p != '\t' && *p != '{')
                p++;
            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            if (p < e && *p == '{') {
                bool quoted = false;
                for (p++; p < e; p++) {
                    if (quoted && *p == '\\' && p + 1 < e)
                        p++;
                    else if (*p == '"')
                        quoted = !quoted;
                    else if (!quoted && *p == '}')
                        break;
                }
                if (p < e)
                    p++;
                while (p < e && (*p == ' ' || *p == '\t'))
                    p++;
            }
            while (p < e && *p != ' ' && *p != '\t')
                p++;
            if (p < e)
                return true;
        }
        p = e + 1;
    }
    return false;
}

static bool has_timestamps(struct exp_builder *b, const char *data, size_t len)
{
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    for (size_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < fams[i]->nseries; j++)
            if (fams[i]->series[j].timestamp_ms)
                return true;
    return has_zero_timestamp(data, len);
}

static void add_file(struct tf_run *r, const char *path, struct exp_builder *b, bool has_mtime,
                     double mtime)
{
    if (r->nfiles == r->capfiles) {
        size_t cap = r->capfiles ? r->capfiles * 2 : 8;
        struct tf_file *f = cn_realloc(r->files, cap * sizeof(*f));
        if (!f)
            goto nomem;
        r->files = f;
        r->capfiles = cap;
    }
    char *p = cn_strdup(path);
    if (!p)
        goto nomem;
    r->files[r->nfiles++] =
        (struct tf_file){.path = p, .b = b, .mtime = mtime, .has_mtime = has_mtime};
    return;
nomem:
    exp_builder_unref(b);
    r->err = -ENOMEM;
}

static void file_error(struct tf_run *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void file_error(struct tf_run *r, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->errored = true;
    tf_log(r, "failed to collect textfile data", "file", path, msg);
}

/* Go's time.Time.UnixNano() / 1e9: whole seconds, truncated toward zero. */
static double mtime_seconds(const struct stat *st)
{
    long long s = (long long)st->st_mtim.tv_sec;
    if (s < 0 && st->st_mtim.tv_nsec > 0)
        s++;
    return (double)s;
}

static void process_file(struct tf_run *r, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > TEXTFILE_MAX_BYTES) {
            file_error(r, path, "textfile \"%s\" is larger than %u MiB, skipping entire file", path,
                       TEXTFILE_MAX_BYTES >> 20);
            return;
        }
        if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
            /* 1.5 would block in open(2) on a FIFO until a writer comes. */
            file_error(r, path, "textfile \"%s\" is not a regular file, skipping it", path);
            return;
        }
    }
    int rc = cn_read_file_buf(path, &r->data, TEXTFILE_MAX_BYTES);
    if (rc == -EISDIR) {
        r->data.len = 0;
    } else if (rc == -EFBIG) {
        file_error(r, path, "textfile \"%s\" is larger than %u MiB, skipping entire file", path,
                   TEXTFILE_MAX_BYTES >> 20);
        return;
    } else if (rc) {
        file_error(r, path, "failed to open textfile data file \"%s\": %s", path, strerror(-rc));
        return;
    }
    struct exp_builder *b = exp_builder_create();
    if (!b) {
        r->err = -ENOMEM;
        return;
    }
    struct exp_parse_error perr;
    rc = exp_parse_text(r->data.data, r->data.len, b, &perr);
    if (rc) {
        exp_builder_unref(b);
        if (rc == -ENOMEM) {
            r->err = rc;
            return;
        }
        file_error(r, path,
                   "failed to parse textfile data from \"%s\": text format parsing error in line "
                   "%d: %s",
                   path, perr.line, perr.msg);
        return;
    }
    exp_builder_finish(b);
    if (has_timestamps(b, r->data.data, r->data.len)) {
        exp_builder_unref(b);
        file_error(r, path,
                   "textfile \"%s\" contains unsupported client-side timestamps, skipping entire "
                   "file",
                   path);
        return;
    }
    /* Stat after parsing, so that a failing file does not look fresh. */
    if (stat(path, &st) != 0) {
        /* 1.5 still exports the families, without an mtime. */
        file_error(r, path, "failed to stat \"%s\": %s", path, strerror(errno));
        add_file(r, path, b, false, 0);
        return;
    }
    add_file(r, path, b, true, mtime_seconds(&st));
}

static bool has_prom_suffix(const char *name)
{
    size_t n = strlen(name);
    return n >= 5 && memcmp(name + n - 5, ".prom", 5) == 0;
}

static void read_directory(struct tf_run *r, const char *dir)
{
    char **names;
    int n = plg_dir_list(dir, &names);
    if (n < 0) {
        if (n == -ENOMEM) {
            r->err = n;
            return;
        }
        r->errored = true;
        tf_log(r, "failed to read textfile collector directory", "path", dir, strerror(-n));
        return;
    }
    char path[PATH_MAX];
    for (int i = 0; i < n && !r->err; i++) {
        if (!has_prom_suffix(names[i]))
            continue;
        if (!join_clean(path, dir, names[i])) {
            r->errored = true;
            tf_log(r, "failed to collect textfile data", "file", names[i], "path too long");
            continue;
        }
        process_file(r, path);
    }
    plg_dir_free(names, n);
}

/* ---- merging into the collector's builder --------------------------------------- */

static struct tf_name *name_find(struct tf_run *r, const char *name, size_t len)
{
    if (!r->capnames)
        return NULL;
    for (size_t s = fnv(FNV_SEED, name, len) & (r->capnames - 1);;
         s = (s + 1) & (r->capnames - 1)) {
        struct tf_name *e = &r->names[s];
        if (!e->name)
            return NULL;
        if (strlen(e->name) == len && memcmp(e->name, name, len) == 0)
            return e;
    }
}

static struct tf_name *name_add(struct tf_run *r, const char *name)
{
    if ((r->nnames + 1) * 2 > r->capnames) {
        size_t cap = r->capnames ? r->capnames * 2 : 64;
        struct tf_name *t = cn_calloc(cap, sizeof(*t));
        if (!t)
            return NULL;
        for (size_t i = 0; i < r->capnames; i++) {
            if (!r->names[i].name)
                continue;
            size_t s = fnv(FNV_SEED, r->names[i].name, strlen(r->names[i].name)) & (cap - 1);
            while (t[s].name)
                s = (s + 1) & (cap - 1);
            t[s] = r->names[i];
        }
        free(r->names);
        r->names = t;
        r->capnames = cap;
    }
    size_t s = fnv(FNV_SEED, name, strlen(name)) & (r->capnames - 1);
    while (r->names[s].name)
        s = (s + 1) & (r->capnames - 1);
    r->names[s].name = name;
    r->nnames++;
    return &r->names[s];
}

static bool name_exists_with(struct tf_run *r, const char *name, const char *suffix)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%s%s", name, suffix);
    return n > 0 && (size_t)n < sizeof(buf) && name_find(r, buf, (size_t)n);
}

static const char *type_str(enum exp_type t)
{
    switch (t) {
    case EXP_COUNTER: return "counter";
    case EXP_GAUGE: return "gauge";
    case EXP_SUMMARY: return "summary";
    case EXP_HISTOGRAM: return "histogram";
    default: return "untyped";
    }
}

static const char *const collision_suffixes[] = {"_count", "_sum", "_bucket"};

/*
 * The family `name` for this collector's builder, after the consistency
 * checks of the Prometheus registry (client_golang 1.14, non-pedantic):
 * same HELP and type as earlier metrics of that name, and for a new name no
 * collision of summary/histogram sample names. NULL if the metrics must be
 * dropped (logged) or on allocation failure (r->err).
 */
static struct exp_family *admit(struct tf_run *r, const char *name, const char *help,
                                enum exp_type type)
{
    size_t len = strlen(name);
    struct tf_name *e = name_find(r, name, len);
    char why[768];
    if (e) {
        if (strcmp(e->help, help) != 0) {
            snprintf(why, sizeof(why), "collected metric %s has help \"%s\" but should have \"%s\"",
                     name, help, e->help);
            goto drop;
        }
        if (e->type != type) {
            snprintf(why, sizeof(why), "collected metric %s has type %s but should have %s", name,
                     type_str(type), type_str(e->type));
            goto drop;
        }
        return e->f;
    }
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(collision_suffixes[i]);
        if (len > sl && strcmp(name + len - sl, collision_suffixes[i]) == 0) {
            struct tf_name *base = name_find(r, name, len - sl);
            if (base && (base->type == EXP_HISTOGRAM || (base->type == EXP_SUMMARY && i != 2))) {
                snprintf(why, sizeof(why),
                         "collected metric named %s collides with previously collected %s named "
                         "%s",
                         name, type_str(base->type), base->name);
                goto drop;
            }
            break;
        }
    }
    if ((type == EXP_SUMMARY || type == EXP_HISTOGRAM) &&
        (name_exists_with(r, name, "_count") || name_exists_with(r, name, "_sum") ||
         (type == EXP_HISTOGRAM && name_exists_with(r, name, "_bucket")))) {
        snprintf(why, sizeof(why),
                 "collected %s named %s collides with previously collected metric named %s_count, "
                 "%s_sum or %s_bucket",
                 type_str(type), name, name, name, name);
        goto drop;
    }
    struct exp_family *f = exp_family(r->c->b, name, help, type);
    e = f ? name_add(r, f->name) : NULL;
    if (!e) {
        r->err = -ENOMEM;
        return NULL;
    }
    e->help = f->help;
    e->type = type;
    e->f = f;
    return f;
drop:
    tf_log(r, "error gathering metrics", "metric", name, why);
    return NULL;
}

/* Whether the series name{labels} was exported before in this cycle;
 * remembers it if not. The first of duplicates wins, as in the registry. */
static bool seen_series(struct tf_run *r, const char *name, uint32_t n, const char *const *names,
                        const char *const *values)
{
    struct cn_buf *key = &r->key;
    cn_buf_reset(key);
    cn_buf_append(key, name, strlen(name) + 1);
    for (uint32_t i = 0; i < n; i++) {
        cn_buf_append(key, names[i], strlen(names[i]) + 1);
        cn_buf_append(key, values[i], strlen(values[i]) + 1);
    }
    if (key->err) {
        r->err = -ENOMEM;
        return true;
    }
    uint64_t h = fnv(FNV_SEED, key->data, key->len);
    if ((r->nseries + 1) * 2 > r->capseries) {
        size_t cap = r->capseries ? r->capseries * 2 : 256;
        uint32_t *t = cn_calloc(cap, sizeof(*t));
        if (!t)
            goto nomem;
        for (size_t i = 0; i < r->capseries; i++) {
            if (!r->series[i])
                continue;
            uint32_t k = r->series[i] - 1;
            size_t s = fnv(FNV_SEED, r->keyptr[k], r->keylen[k]) & (cap - 1);
            while (t[s])
                s = (s + 1) & (cap - 1);
            t[s] = r->series[i];
        }
        free(r->series);
        r->series = t;
        r->capseries = cap;
    }
    size_t s = h & (r->capseries - 1);
    for (; r->series[s]; s = (s + 1) & (r->capseries - 1)) {
        uint32_t k = r->series[s] - 1;
        if (r->keylen[k] == key->len && memcmp(r->keyptr[k], key->data, key->len) == 0)
            return true;
    }
    if (r->nseries == r->capkeys) {
        size_t cap = r->capkeys ? r->capkeys * 2 : 256;
        const char **kp = cn_realloc(r->keyptr, cap * sizeof(*kp));
        if (kp)
            r->keyptr = kp;
        size_t *kl = kp ? cn_realloc(r->keylen, cap * sizeof(*kl)) : NULL;
        if (!kl)
            goto nomem;
        r->keylen = kl;
        r->capkeys = cap;
    }
    char *copy = cn_arena_alloc(r->keys, key->len);
    if (!copy)
        goto nomem;
    memcpy(copy, key->data, key->len);
    r->keyptr[r->nseries] = copy;
    r->keylen[r->nseries] = key->len;
    r->series[s] = (uint32_t)++r->nseries;
    return false;
nomem:
    r->err = -ENOMEM;
    return true;
}

/* Go's uint64(f) on amd64, back to float64: how 1.5 stores parsed counts. */
static double go_uint64(double x)
{
    const double two63 = 9223372036854775808.0;
    uint64_t u;
    if (x < two63) {
        u = x > -two63 ? (uint64_t)(int64_t)x : 1ULL << 63;
    } else {
        double y = x - two63; /* NaN and >= 2^64 end up as 2^63 */
        u = y < two63 ? ((uint64_t)(int64_t)y | (1ULL << 63)) : 1ULL << 63;
    }
    return (double)u;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Copies one family of a file into the collector's builder. */
static void copy_family(struct tf_run *r, const struct exp_family *sf, const char *help)
{
    /* The label names of the whole family, sorted. */
    size_t total = 0;
    for (uint32_t i = 0; i < sf->nseries; i++)
        total += sf->series[i].nlabels;
    const char **all = cn_malloc((total ? total : 1) * sizeof(*all));
    if (!all) {
        r->err = -ENOMEM;
        return;
    }
    size_t nall = 0;
    for (uint32_t i = 0; i < sf->nseries; i++)
        for (uint32_t j = 0; j < sf->series[i].nlabels; j++)
            all[nall++] = sf->series[i].labels[j].name;
    qsort(all, nall, sizeof(*all), cmp_str);
    size_t nu = 0;
    for (size_t i = 0; i < nall; i++)
        if (!nu || strcmp(all[nu - 1], all[i]) != 0)
            all[nu++] = all[i];
    if ((unsigned long long)nu * sf->nseries > TEXTFILE_MAX_FILLED_PAIRS) {
        tf_log(r, "error gathering metrics", "metric", sf->name,
               "too many distinct label names in one family");
        free(all);
        return;
    }
    struct exp_family *f = admit(r, sf->name, help, sf->type);
    const char **values = f ? cn_malloc((nu ? nu : 1) * sizeof(*values)) : NULL;
    struct exp_bucket *bk = NULL;
    uint32_t capbk = 0;
    for (uint32_t i = 0; values && i < sf->nseries && !r->err; i++) {
        const struct exp_series *s = &sf->series[i];
        for (size_t u = 0, j = 0; u < nu; u++) {
            if (j < s->nlabels && strcmp(s->labels[j].name, all[u]) == 0)
                values[u] = s->labels[j++].value;
            else
                values[u] = "";
        }
        if (seen_series(r, sf->name, (uint32_t)nu, all, values)) {
            if (!r->err)
                tf_log(r, "error gathering metrics", "metric", sf->name,
                       "collected metric was collected before with the same name and label "
                       "values");
            continue;
        }
        struct exp_series *d = exp_addv(r->c->b, f, s->value, (int)nu, all, values);
        if (!d) {
            r->err = -ENOMEM;
            break;
        }
        if (sf->type != EXP_SUMMARY && sf->type != EXP_HISTOGRAM)
            continue;
        if (s->nbuckets > capbk) {
            struct exp_bucket *t = cn_realloc(bk, s->nbuckets * sizeof(*t));
            if (!t) {
                r->err = -ENOMEM;
                break;
            }
            bk = t;
            capbk = s->nbuckets;
        }
        for (uint32_t j = 0; j < s->nbuckets; j++) {
            bk[j] = s->buckets[j];
            if (sf->type == EXP_HISTOGRAM)
                bk[j].count = go_uint64(bk[j].count);
        }
        if (exp_set_buckets(r->c->b, d, bk, s->nbuckets, s->sum, go_uint64(s->count)))
            r->err = -ENOMEM;
    }
    if (f && !values)
        r->err = -ENOMEM;
    free(bk);
    free(values);
    free(all);
}

static int cmp_family_name(const void *key, const void *elem)
{
    return strcmp(key, (*(struct exp_family *const *)elem)->name);
}

static bool file_has_family(const struct tf_file *file, const char *name)
{
    size_t n;
    struct exp_family *const *fams = exp_builder_families(file->b, &n);
    return n && bsearch(name, fams, n, sizeof(*fams), cmp_family_name);
}

/* 1.5's HELP for families without one: the files that have the family. */
static const char *generated_help(struct tf_run *r, const char *name, struct cn_buf *buf)
{
    cn_buf_reset(buf);
    cn_buf_puts(buf, "Metric read from ");
    bool first = true;
    for (size_t i = 0; i < r->nfiles; i++) {
        if (!file_has_family(&r->files[i], name))
            continue;
        if (!first)
            cn_buf_puts(buf, ", ");
        cn_buf_puts(buf, r->files[i].path);
        first = false;
    }
    if (buf->err) {
        r->err = -ENOMEM;
        return NULL;
    }
    return cn_buf_cstr(buf);
}

static int cmp_file_path(const void *a, const void *b)
{
    return strcmp(((const struct tf_file *)a)->path, ((const struct tf_file *)b)->path);
}

static void export_all(struct tf_run *r)
{
    struct cn_buf help;
    cn_buf_init(&help);
    for (size_t i = 0; i < r->nfiles && !r->err; i++) {
        size_t n;
        struct exp_family *const *fams = exp_builder_families(r->files[i].b, &n);
        for (size_t j = 0; j < n && !r->err; j++) {
            const struct exp_family *sf = fams[j];
            if (!sf->nseries)
                continue;
            const char *h = sf->help[0] ? sf->help : generated_help(r, sf->name, &help);
            if (h)
                copy_family(r, sf, h);
        }
    }
    cn_buf_free(&help);
    if (r->err)
        return;

    if (r->nfiles > 1)
        qsort(r->files, r->nfiles, sizeof(*r->files), cmp_file_path);
    struct exp_family *f = NULL;
    bool admitted = false;
    for (size_t i = 0; i < r->nfiles && !r->err; i++) {
        if (!r->files[i].has_mtime)
            continue;
        if (!admitted) {
            f = admit(r, MTIME_NAME, MTIME_HELP, EXP_GAUGE);
            admitted = true;
        }
        const char *names[] = {"file"}, *values[] = {r->files[i].path};
        if (f && !seen_series(r, MTIME_NAME, 1, names, values))
            exp_addv(r->c->b, f, r->files[i].mtime, 1, names, values);
    }
    if (r->err)
        return;
    f = admit(r, ERROR_NAME, ERROR_HELP, EXP_GAUGE);
    if (f && !seen_series(r, ERROR_NAME, 0, NULL, NULL))
        exp_add(r->c->b, f, r->errored ? 1 : 0, 0);
}

/* ---- the collector ---------------------------------------------------------------------- */

static int textfile_collect(void *state, struct plg_collect *c)
{
    struct textfile *t = state;
    struct tf_run r = {.t = t, .c = c};
    cn_buf_init(&r.data);
    cn_buf_init(&r.key);
    r.keys = cn_arena_create(16384);
    if (!r.keys)
        return plg_fail(c, -ENOMEM, "out of memory");

    if (t->directory[0]) {
        glob_t g;
        memset(&g, 0, sizeof(g));
        int grc = glob(t->directory, GLOB_PERIOD, NULL, &g);
        if (grc == 0 && g.gl_pathc > 0) {
            for (size_t i = 0; i < g.gl_pathc && !r.err; i++)
                read_directory(&r, g.gl_pathv[i]);
        } else if (grc == GLOB_NOSPACE) {
            r.err = -ENOMEM;
        } else {
            read_directory(&r, t->directory);
        }
        globfree(&g);
    }
    cn_buf_free(&r.data);
    if (!r.err)
        export_all(&r);

    for (size_t i = 0; i < r.nfiles; i++) {
        free(r.files[i].path);
        exp_builder_unref(r.files[i].b);
    }
    free(r.files);
    free(r.names);
    free(r.series);
    free(r.keyptr);
    free(r.keylen);
    cn_arena_destroy(r.keys);
    cn_buf_free(&r.key);
    /* Remember what was logged, to stay quiet about it next cycle. */
    free(t->logged);
    t->logged = r.logged;
    t->nlogged = r.nlogged;
    if (r.err)
        return plg_fail(c, r.err, "textfile: out of memory");
    return 0;
}

static int textfile_init(const struct plg_config *cfg, void **state)
{
    const char *dir = plg_config_get(cfg, "directory");
    struct textfile *t = cn_calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->directory = cn_strdup(dir ? dir : "");
    if (!t->directory) {
        free(t);
        return -ENOMEM;
    }
    *state = t;
    return 0;
}

static void textfile_destroy(void *state)
{
    struct textfile *t = state;
    if (!t)
        return;
    free(t->directory);
    free(t->logged);
    free(t);
}

static const struct plg_option textfile_options[] = {
    {"directory", "", "Directory to read text files with metrics from."},
    {NULL, NULL, NULL},
};

const struct plg_collector plg_collector_textfile = {
    .name = "textfile",
    .default_enabled = true,
    .options = textfile_options,
    .init = textfile_init,
    .collect = textfile_collect,
    .destroy = textfile_destroy,
};
