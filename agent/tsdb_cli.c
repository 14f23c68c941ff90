/*
 * `cairn tsdb`: tools over a TSDB directory, in the shape of promtool's.
 *
 *   cairn tsdb list [-r] DIR   the blocks, as `promtool tsdb list` prints them
 *   cairn tsdb dump [--min-time T] [--max-time T] [--match SELECTOR] DIR
 *                              the samples of the blocks and of the head
 *                              replayed read-only from the WAL, as
 *                              `promtool tsdb dump` prints them
 *   cairn tsdb bench write [--metrics N] [--scrapes N] [--out DIR] FILE
 *                              promtool tsdb bench write's workload: N label
 *                              sets from FILE (one JSON object a line), each
 *                              appended for every scrape to the head with
 *                              the WAL on, printed in promtool's shape
 *
 * Output is meant to be compared with promtool's line for line, so columns
 * follow its tabwriter layout (minimum width 13, padding 2, the last column
 * unpadded) and durations Go's time.Duration format.
 */
#include "agent/internal.h"
#include "agent/tsdb_tools.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXIT_USAGE 2

void agent_tsdb_go_duration(int64_t ms, char *out, size_t cap)
{
    if (ms == 0) {
        snprintf(out, cap, "0s");
        return;
    }
    const char *sign = ms < 0 ? "-" : "";
    uint64_t u = ms < 0 ? (uint64_t)(-(ms + 1)) + 1 : (uint64_t)ms;
    if (u < 1000) {
        snprintf(out, cap, "%s%" PRIu64 "ms", sign, u);
        return;
    }
    uint64_t h = u / 3600000, m = u / 60000 % 60, s = u / 1000 % 60, frac = u % 1000;
    char secs[32];
    if (frac) {
        int n = snprintf(secs, sizeof(secs), "%" PRIu64 ".%03" PRIu64, s, frac);
        while (n > 0 && secs[n - 1] == '0')
            secs[--n] = '\0';
    } else {
        snprintf(secs, sizeof(secs), "%" PRIu64, s);
    }
    if (h)
        snprintf(out, cap, "%s%" PRIu64 "h%" PRIu64 "m%ss", sign, h, m, secs);
    else if (m)
        snprintf(out, cap, "%s%" PRIu64 "m%ss", sign, m, secs);
    else
        snprintf(out, cap, "%s%ss", sign, secs);
}

/* units.Base2Bytes' String() as promtool prints sizes: each power of 1024
 * that is present, largest first ("784B", "6KiB852B", "1MiB512KiB"). */
static void go_bytes(uint64_t v, char *out, size_t cap)
{
    static const char *const unit[] = {"EiB", "PiB", "TiB", "GiB", "MiB", "KiB", "B"};
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < 7; i++) {
        uint64_t size = 1ULL << (10 * (6 - i));
        if (v >= size || (i == 6 && len == 0)) {
            int n = snprintf(out + len, cap - len, "%" PRIu64 "%s", v / size, unit[i]);
            if (n < 0 || (size_t)n >= cap - len)
                return;
            len += (size_t)n;
            v %= size;
        }
    }
}

struct listed {
    struct tsdb_block_meta meta;
    uint64_t size;
};

static int cmp_listed(const void *pa, const void *pb)
{
    const struct listed *a = pa, *b = pb;
    if (a->meta.min_time != b->meta.min_time)
        return a->meta.min_time < b->meta.min_time ? -1 : 1;
    return strcmp(a->meta.ulid, b->meta.ulid);
}

void agent_tsdb_print_rows(char (*cells)[8][64], size_t rows)
{
    size_t width[8] = {0};
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < 8; c++) {
            size_t w = strlen(cells[r][c]) + 2;
            if (w < 13)
                w = 13;
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < rows; r++) {
        for (int c = 0; c < 7; c++)
            printf("%-*s", (int)width[c], cells[r][c]);
        printf("%s\n", cells[r][7]);
    }
}

static void format_time(int64_t ms, bool human, char *out, size_t cap)
{
    if (!human) {
        snprintf(out, cap, "%" PRId64, ms);
        return;
    }
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
}

void agent_tsdb_block_row(const struct tsdb_block_meta *m, uint64_t size, bool human,
                          char row[8][64])
{
    static const char *const head[8] = {"BLOCK ULID",  "MIN TIME",   "MAX TIME",   "DURATION",
                                        "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE"};
    if (!m) {
        for (int c = 0; c < 8; c++)
            snprintf(row[c], 64, "%s", head[c]);
        return;
    }
    snprintf(row[0], 64, "%s", m->ulid);
    format_time(m->min_time, human, row[1], 64);
    format_time(m->max_time, human, row[2], 64);
    agent_tsdb_go_duration(m->max_time - m->min_time, row[3], 64);
    snprintf(row[4], 64, "%" PRIu64, m->num_samples);
    snprintf(row[5], 64, "%" PRIu64, m->num_chunks);
    snprintf(row[6], 64, "%" PRIu64, m->num_series);
    if (human)
        go_bytes(size, row[7], 64);
    else
        snprintf(row[7], 64, "%" PRIu64, size);
}

static int tsdb_list(const char *dir, bool human)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cairn: error: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct listed *blocks = NULL;
    size_t n = 0, cap = 0;
    int status = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!tsdb_ulid_valid(e->d_name))
            continue;
        char path[4096], err[256] = "";
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            struct listed *nb = realloc(blocks, cap * sizeof(*nb));
            if (!nb) {
                status = 1;
                break;
            }
            blocks = nb;
        }
        memset(&blocks[n], 0, sizeof(blocks[n]));
        if (tsdb_meta_read(path, &blocks[n].meta, err, sizeof(err))) {
            fprintf(stderr, "cairn: error: block %s: %s\n", path, err);
            status = 1;
            continue;
        }
        blocks[n].size = cn_disk_usage(path);
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(blocks, n, sizeof(*blocks), cmp_listed);
    char(*cells)[8][64] = calloc(n + 1, sizeof(*cells));
    if (!cells) {
        free(blocks);
        return 1;
    }
    agent_tsdb_block_row(NULL, 0, human, cells[0]);
    for (size_t i = 0; i < n; i++) {
        agent_tsdb_block_row(&blocks[i].meta, blocks[i].size, human, cells[i + 1]);
        tsdb_meta_free(&blocks[i].meta);
    }
    agent_tsdb_print_rows(cells, n + 1);
    free(cells);
    free(blocks);
    return status;
}

/* ---- dump ------------------------------------------------------------------ */

/* Go's %q for a label value: printable ASCII as is, the usual escapes, other
 * control and invalid bytes as \xNN; valid UTF-8 above ASCII is kept. */
static void print_quoted(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\a': fputs("\\a", stdout); break;
        case '\b': fputs("\\b", stdout); break;
        case '\f': fputs("\\f", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\v': fputs("\\v", stdout); break;
        default: {
            size_t n = *p < 0x80 ? 1 : plg_utf8_len((const char *)p, strlen((const char *)p));
            if (*p < 0x20 || *p == 0x7f || n == 0)
                printf("\\x%02x", *p);
            else {
                fwrite(p, 1, n, stdout);
                p += n - 1;
            }
        }
        }
    }
    putchar('"');
}

/* A selector's matchers: `name{l="v", l2=~'re'}` or `{...}`. */
struct selector {
    struct tsdb_matcher *m[32];
    size_t n;
};

static void selector_free(struct selector *sel)
{
    for (size_t i = 0; i < sel->n; i++)
        tsdb_matcher_destroy(sel->m[i]);
    sel->n = 0;
}

static int selector_add(struct selector *sel, enum tsdb_match_type t, const char *name,
                        const char *value, char *err, size_t errcap)
{
    if (sel->n == sizeof(sel->m) / sizeof(sel->m[0])) {
        snprintf(err, errcap, "too many matchers");
        return -EINVAL;
    }
    int rc = tsdb_matcher_create(t, name, value, &sel->m[sel->n], err, errcap);
    if (!rc)
        sel->n++;
    return rc;
}

static const char *skip_blank(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Reads an identifier into out; returns the end or NULL. */
static const char *read_ident(const char *p, char *out, size_t cap, bool metric)
{
    size_t n = 0;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
           (metric && *p == ':') || (n > 0 && *p >= '0' && *p <= '9')) {
        if (n + 1 >= cap)
            return NULL;
        out[n++] = *p++;
    }
    out[n] = '\0';
    return n ? p : NULL;
}

/* Reads a "..." or '...' string with backslash escapes. */
static const char *read_string(const char *p, char *out, size_t cap)
{
    char q = *p;
    if (q != '"' && q != '\'')
        return NULL;
    size_t n = 0;
    for (p++; *p && *p != q; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p;
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == '\0')
                return NULL;
        }
        if (n + 1 >= cap)
            return NULL;
        out[n++] = c;
    }
    if (*p != q)
        return NULL;
    out[n] = '\0';
    return p + 1;
}

static int selector_parse(const char *s, struct selector *sel, char *err, size_t errcap)
{
    char name[256], value[4096];
    const char *p = skip_blank(s);
    const char *q = read_ident(p, name, sizeof(name), true);
    int rc;
    if (q) {
        if ((rc = selector_add(sel, TSDB_MATCH_EQ, "__name__", name, err, errcap)))
            return rc;
        p = skip_blank(q);
    }
    if (*p == '{') {
        p = skip_blank(p + 1);
        while (*p && *p != '}') {
            if (!(q = read_ident(p, name, sizeof(name), false)))
                goto bad;
            p = skip_blank(q);
            enum tsdb_match_type t;
            if (p[0] == '=' && p[1] == '~')
                t = TSDB_MATCH_RE, p += 2;
            else if (p[0] == '!' && p[1] == '~')
                t = TSDB_MATCH_NRE, p += 2;
            else if (p[0] == '!' && p[1] == '=')
                t = TSDB_MATCH_NEQ, p += 2;
            else if (p[0] == '=')
                t = TSDB_MATCH_EQ, p += 1;
            else
                goto bad;
            if (!(q = read_string(skip_blank(p), value, sizeof(value))))
                goto bad;
            if ((rc = selector_add(sel, t, name, value, err, errcap)))
                return rc;
            p = skip_blank(q);
            if (*p == ',')
                p = skip_blank(p + 1);
            else if (*p != '}')
                goto bad;
        }
        if (*p != '}')
            goto bad;
        p = skip_blank(p + 1);
    }
    if (*p || sel->n == 0)
        goto bad;
    return 0;
bad:
    snprintf(err, errcap, "cannot parse selector \"%s\" near \"%s\"", s, p);
    return -EINVAL;
}

static int tsdb_dump(const char *dir, int64_t mint, int64_t maxt, const char *match)
{
    struct selector sel = {.n = 0};
    char err[512] = "";
    if (selector_parse(match, &sel, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: --match: %s\n", err);
        return EXIT_USAGE;
    }
    /* The blocks and the WAL replayed into a head, as promtool's read-only
     * open does: nothing in dir changes, so a live agent's directory is
     * fine. Damaged blocks and WAL tails are logged and skipped. */
    struct stat st;
    int serr = stat(dir, &st) ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
    if (serr) {
        fprintf(stderr, "cairn: error: %s: %s\n", dir, strerror(serr));
        selector_free(&sel);
        return 1;
    }
    struct tsdb_db_opts o = {.read_only = true};
    struct tsdb_db *db = NULL;
    int rc = tsdb_db_open(dir, &o, &db, err, sizeof(err));
    if (rc)
        fprintf(stderr, "cairn: error: %s\n", err);
    struct tsdb_db_querier *q = NULL;
    if (!rc && (rc = tsdb_db_querier_open(db, mint, maxt, &q)))
        fprintf(stderr, "cairn: error: %s\n", strerror(-rc));
    struct tsdb_series_set set = {0};
    if (!rc) {
        size_t nsrc;
        const struct tsdb_source *src = tsdb_db_querier_sources(q, &nsrc);
        rc = tsdb_query_select(src, nsrc, (const struct tsdb_matcher *const *)sel.m, sel.n, mint,
                               maxt, &set);
        if (rc)
            fprintf(stderr, "cairn: error: select: %s\n", strerror(-rc));
    }
    for (size_t i = 0; !rc && i < set.n; i++) {
        const struct tsdb_series *s = &set.v[i];
        for (size_t j = 0; j < s->n; j++) {
            putchar('{');
            for (size_t k = 0; k < s->labels.n; k++) {
                printf("%s%s=", k ? ", " : "", s->labels.v[k].name);
                print_quoted(s->labels.v[k].value);
            }
            char num[40];
            exp_format_double(num, s->samples[j].v);
            printf("} %s %lld\n", num, (long long)s->samples[j].t);
        }
    }
    int status = rc ? 1 : 0;
    if (db) {
        struct tsdb_db_stats dst;
        tsdb_db_stats(db, &dst);
        if (dst.corrupt_blocks)
            status = 1;
    }
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    tsdb_db_close(db);
    selector_free(&sel);
    return status;
}

/* ---- bench write -------------------------------------------------------------- */

/* Go's time.Duration.String() for nanoseconds below an hour. */
static void go_duration_ns(int64_t ns, char *out, size_t cap)
{
    if (ns < 1000) {
        snprintf(out, cap, "%lldns", (long long)ns);
        return;
    }
    const char *unit = "s";
    double v = (double)ns / 1e9;
    if (ns < 1000000) {
        unit = "\u00b5s";
        v = (double)ns / 1e3;
    } else if (ns < 1000000000) {
        unit = "ms";
        v = (double)ns / 1e6;
    } else if (ns >= 60000000000LL) {
        int64_t m = ns / 60000000000LL;
        char secs[40];
        go_duration_ns(ns - m * 60000000000LL, secs, sizeof(secs));
        snprintf(out, cap, "%lldm%s", (long long)m, secs);
        return;
    }
    int n = snprintf(out, cap, "%.9f", v);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
    snprintf(out + n, cap - (size_t)n, "%s", unit);
}

static int64_t stage_start(const char *stage)
{
    printf(">> start stage=%s\n", stage);
    fflush(stdout);
    return cn_mono_ns();
}

static int64_t stage_end(const char *stage, int64_t t0)
{
    int64_t ns = cn_mono_ns() - t0;
    char d[64];
    go_duration_ns(ns, d, sizeof(d));
    printf(">> completed stage=%s duration=%s\n", stage, d);
    fflush(stdout);
    return ns;
}

struct bench_series {
    struct tsdb_label *labels; /* one allocation with the strings */
    size_t n;
    uint64_t ref; /* in the head, 0 until the first append */
    uint64_t hash;
    double value;
};

static int cmp_label_name(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Reads up to n distinct label sets, one JSON object a line. */
static int read_label_sets(const char *file, size_t n, struct bench_series **out, size_t *nout)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "cairn: error: %s: %s\n", file, strerror(errno));
        return -errno;
    }
    struct bench_series *v = calloc(n ? n : 1, sizeof(*v));
    size_t got = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    int rc = v ? 0 : -ENOMEM;
    while (!rc && got < n && getline(&line, &cap, f) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *obj = json_loads(line, 0, &jerr);
        if (!json_is_object(obj) || json_object_size(obj) == 0) {
            fprintf(stderr, "cairn: error: %s:%zu: not a JSON object of labels\n", file, lineno);
            json_decref(obj);
            rc = -EINVAL;
            break;
        }
        size_t nl = json_object_size(obj), bytes = nl * sizeof(struct tsdb_label);
        const char *k;
        json_t *val;
        json_object_foreach(obj, k, val)
        {
            bytes += strlen(k) + 1 + (json_is_string(val) ? strlen(json_string_value(val)) : 0) + 1;
        }
        struct tsdb_label *ls = malloc(bytes);
        if (!ls) {
            json_decref(obj);
            rc = -ENOMEM;
            break;
        }
        char *str = (char *)(ls + nl);
        size_t i = 0;
        json_object_foreach(obj, k, val)
        {
            /* An empty value is no label at all, as in Prometheus. */
            if (!json_is_string(val) || !*json_string_value(val))
                continue;
            ls[i].name = strcpy(str, k);
            str += strlen(str) + 1;
            ls[i].value = strcpy(str, json_string_value(val));
            str += strlen(str) + 1;
            i++;
        }
        json_decref(obj);
        nl = i;
        qsort(ls, nl, sizeof(*ls), cmp_label_name);
        struct tsdb_labels set = {.v = ls, .n = nl};
        uint64_t hash = tsdb_labels_hash(&set);
        bool dup = false;
        for (size_t j = 0; j < got && !dup; j++) {
            struct tsdb_labels other = {.v = v[j].labels, .n = v[j].n};
            dup = v[j].hash == hash && tsdb_labels_cmp(&set, &other) == 0;
        }
        if (dup) {
            free(ls);
            continue;
        }
        v[got++] = (struct bench_series){.labels = ls, .n = nl, .hash = hash, .value = 123456789};
    }
    free(line);
    fclose(f);
    if (rc) {
        for (size_t i = 0; i < got; i++)
            free(v[i].labels);
        free(v);
        return rc;
    }
    *out = v;
    *nout = got;
    return 0;
}

static int tsdb_bench_write(const char *file, size_t metrics, size_t scrapes, const char *out)
{
    char wal_dir[4096];
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", out);
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "cairn: error: %s: %s\n", out, strerror(errno));
        return 1;
    }
    struct bench_series *series = NULL;
    size_t n = 0;
    int64_t t0 = stage_start("readData");
    if (read_label_sets(file, metrics, &series, &n))
        return 1;
    stage_end("readData", t0);

    struct tsdb_head *head = NULL;
    struct tsdb_wal *wal = NULL;
    struct tsdb_ref_sample *smp = calloc(n + 1, sizeof(*smp));
    struct tsdb_ref_series *ser = calloc(n + 1, sizeof(*ser));
    size_t bufcap = 64 + n * 32;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < series[i].n; j++)
            bufcap += strlen(series[i].labels[j].name) + strlen(series[i].labels[j].value) + 20;
    uint8_t *buf = malloc(bufcap);
    int rc = smp && ser && buf ? tsdb_head_create(&head) : -ENOMEM;
    if (!rc)
        rc = tsdb_wal_open(wal_dir, 0, &wal);
    if (rc) {
        fprintf(stderr, "cairn: error: opening the storage: %s\n", strerror(-rc));
        goto out;
    }

    uint64_t total = 0;
    const int64_t delta = 30000; /* promtool's timeDelta */
    t0 = stage_start("ingestScrapes");
    /* As promtool: shards of 1000 series, 100 scrapes at a time, one
     * commit (here: one WAL samples record) per shard and scrape. */
    for (size_t base = 0; !rc && base < scrapes; base += 100) {
        for (size_t lo = 0; !rc && lo < n; lo += 1000) {
            size_t hi = lo + 1000 < n ? lo + 1000 : n;
            int64_t ts = (int64_t)base * delta;
            for (size_t s = 0; !rc && s < 100 && base + s < scrapes; s++) {
                ts += delta;
                size_t nnew = 0, ns = 0;
                for (size_t i = lo; i < hi; i++) {
                    struct bench_series *b = &series[i];
                    b->value += 1000;
                    if (!b->ref) {
                        struct tsdb_labels ls = {.v = b->labels, .n = b->n};
                        rc = tsdb_head_append(head, &ls, ts, b->value, &b->ref);
                        ser[nnew++] = (struct tsdb_ref_series){.ref = b->ref, .labels = ls};
                    } else {
                        rc = tsdb_head_append_ref(head, b->ref, ts, b->value);
                    }
                    if (rc)
                        break;
                    smp[ns++] = (struct tsdb_ref_sample){.ref = b->ref, .t = ts, .v = b->value};
                    total++;
                }
                size_t len;
                if (!rc && nnew && !(rc = tsdb_record_encode_series(ser, nnew, buf, bufcap, &len)))
                    rc = tsdb_wal_log(wal, buf, len);
                if (!rc && !(rc = tsdb_record_encode_samples(smp, ns, buf, bufcap, &len)))
                    rc = tsdb_wal_log(wal, buf, len);
            }
        }
    }
    if (rc) {
        fprintf(stderr, "cairn: error: ingesting: %s\n", strerror(-rc));
        goto out;
    }
    printf("ingestion completed\n");
    int64_t ns = stage_end("ingestScrapes", t0);
    char rate[40];
    exp_format_double(rate, (double)total / ((double)ns / 1e9));
    printf(" > total samples: %llu\n > samples/sec: %s\n", (unsigned long long)total, rate);
    t0 = stage_start("stopStorage");
    rc = tsdb_wal_close(wal);
    wal = NULL;
    stage_end("stopStorage", t0);
out:
    if (wal)
        tsdb_wal_close(wal);
    tsdb_head_destroy(head);
    for (size_t i = 0; i < n; i++)
        free(series[i].labels);
    free(series);
    free(smp);
    free(ser);
    free(buf);
    return rc ? 1 : 0;
}

static void tsdb_usage(FILE *out)
{
    fprintf(out, "usage: cairn tsdb <command> [<flags>] DIR\n\n"
                 "Commands:\n"
                 "  list [-r|--human-readable] DIR   list the blocks of a TSDB directory\n"
                 "  dump [--min-time=MS] [--max-time=MS] [--match=SELECTOR] DIR\n"
                 "                                   print the samples of the blocks and the WAL\n"
                 "  analyze [--limit=N] [--extended] DIR [BLOCK_ID]\n"
                 "                                   churn and cardinality of a block (default:\n"
                 "                                   the most recent one)\n"
                 "  import openmetrics [-r] [-q] [--max-block-duration=D] FILE [DIR]\n"
                 "                                   write blocks from an OpenMetrics file\n"
                 "  bench write [--metrics=N] [--scrapes=N] [--out=DIR] FILE\n"
                 "                                   promtool's write benchmark on cairn's head\n");
}

int agent_tsdb_main(int argc, char **argv)
{
    /* The tools report on stderr; the library's routine log lines (WAL
     * replayed, ...) would only be noise there. Damage is still logged. */
    cn_log_setup(CN_LOG_WARN, CN_LOG_LOGFMT);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        tsdb_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "list")) {
        bool human = false;
        const char *dir = NULL;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "-r") || !strcmp(argv[i], "--human-readable"))
                human = true;
            else if (argv[i][0] == '-') {
                fprintf(stderr, "cairn: error: unknown flag %s\n", argv[i]);
                return EXIT_USAGE;
            } else if (!dir)
                dir = argv[i];
            else {
                fprintf(stderr, "cairn: error: unexpected argument %s\n", argv[i]);
                return EXIT_USAGE;
            }
        }
        return tsdb_list(dir ? dir : "data/", human);
    }
    if (!strcmp(argv[1], "dump")) {
        int64_t mint = INT64_MIN, maxt = INT64_MAX;
        const char *match = "{__name__=~'(?s:.*)'}", *dir = NULL;
        for (int i = 2; i < argc; i++) {
            const char *a = argv[i], *val = NULL;
            const char *eq = strchr(a, '=');
            static const char *const names[] = {"--min-time", "--max-time", "--match"};
            int which = -1;
            for (int k = 0; k < 3; k++) {
                size_t n = strlen(names[k]);
                if (!strncmp(a, names[k], n) && (a[n] == '\0' || a[n] == '='))
                    which = k;
            }
            if (which < 0) {
                if (a[0] == '-') {
                    fprintf(stderr, "cairn: error: unknown flag %s\n", a);
                    return EXIT_USAGE;
                }
                dir = a;
                continue;
            }
            val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!val) {
                fprintf(stderr, "cairn: error: %s needs a value\n", names[which]);
                return EXIT_USAGE;
            }
            if (which == 2) {
                match = val;
            } else if (cn_parse_i64(val, which == 0 ? &mint : &maxt)) {
                fprintf(stderr, "cairn: error: %s: \"%s\" is not a timestamp in ms\n", names[which],
                        val);
                return EXIT_USAGE;
            }
        }
        return tsdb_dump(dir ? dir : "data/", mint, maxt, match);
    }
    if (!strcmp(argv[1], "analyze"))
        return agent_tsdb_analyze_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import"))
        return agent_tsdb_import_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench") && argc > 2 && !strcmp(argv[2], "write")) {
        uint64_t metrics = 10000, scrapes = 3000;
        const char *out = "benchout", *file = NULL;
        for (int i = 3; i < argc; i++) {
            const char *a = argv[i];
            const char *eq = strchr(a, '=');
            size_t klen = eq ? (size_t)(eq - a) : strlen(a);
            if (a[0] != '-') {
                file = a;
                continue;
            }
            const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            int bad = !val;
            if (!bad && klen == 9 && !strncmp(a, "--metrics", 9))
                bad = cn_parse_u64(val, &metrics) || metrics == 0;
            else if (!bad && klen == 9 && !strncmp(a, "--scrapes", 9))
                bad = cn_parse_u64(val, &scrapes) || scrapes == 0;
            else if (!bad && klen == 5 && !strncmp(a, "--out", 5))
                out = val;
            else
                bad = 1;
            if (bad) {
                fprintf(stderr, "cairn: error: bad flag %s\n", a);
                return EXIT_USAGE;
            }
        }
        if (!file) {
            fprintf(stderr, "cairn: error: bench write needs a FILE of label sets\n");
            return EXIT_USAGE;
        }
        return tsdb_bench_write(file, metrics, scrapes, out);
    }
    fprintf(stderr, "cairn: error: unknown tsdb command \"%s\"\n", argv[1]);
    tsdb_usage(stderr);
    return EXIT_USAGE;
}
