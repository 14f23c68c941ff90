/*
 * Head memory per active series, on node_exporter-shaped data.
 *
 * Label sets are the 507 series of the real node_exporter 1.5 scrape of
 * this machine (tests' /work/shared/fixtures/node_exporter-1.5.0.metrics,
 * or the file given as the first argument), each with job="node" and an
 * instance label, repeated over as many instances as it takes to reach
 * SERIES (default 10,000) series. Every series gets SAMPLES samples 15 s
 * apart (default 480, 2 h: four full 120-sample chunks; 540 adds a
 * half-full open chunk), values shaped as in bench/xor_decode.c: 50%
 * constants, 30% counters (CPU-seconds style, 1/100 resolution, growing by
 * a noisy amount), 20% noisy gauges (4 KiB-page memory sizes); JITTER
 * (default 1) scrapes in ten are off the 15 s grid by 1-3 ms (0: aligned,
 * as a scheduler ticking on a grid writes them).
 *
 * It runs twice on the same samples: a head keeping every chunk in memory
 * (tsdb_head_create, as `cairn tsdb bench write` uses it), then a
 * disk-backed one writing full chunks to chunks_head/ in a temporary
 * directory under /tmp, removed afterwards (tsdb_head_create_disk, as the
 * database uses it). For each it prints the heap bytes the head holds per
 * series (glibc mallinfo2 before and after, so malloc's own overhead is
 * included), split into the encoded chunk bytes it keeps in memory and
 * everything else (series structs, closed chunks' references, label
 * pointers, interned strings, postings, hash tables), and for the second
 * the bytes of the chunks_head files (page cache, not heap).
 * Prometheus is not run side by side (no Go toolchain on the build
 * machines); its head is documented at a few KiB per series for 2 h of
 * data (series struct, memSeries chunks, postings, label strings per series).
 *
 * Build and run with a build that is not under ASan (whose allocator
 * mallinfo2 cannot see):
 *   cmake --build build-rel --target bench_head_memory &&
 *   ./build-rel/bench_head_memory [METRICS_FILE [SERIES [JITTER [SAMPLES]]]]
 */
#include "tsdb/tsdb.h"

#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRAPE_MS 15000
#define MAX_LABELS 16

struct lset {
    char *buf; /* "name\0value\0..." */
    struct tsdb_label l[MAX_LABELS + 2];
    size_t n;
};

static int cmp_label(const void *a, const void *b)
{
    return strcmp(((const struct tsdb_label *)a)->name, ((const struct tsdb_label *)b)->name);
}

/* Parses `name{a="b",...} value` into *ls (strings in ls->buf). 0 or -1. */
static int parse_line(const char *line, struct lset *ls)
{
    size_t len = strlen(line);
    char *b = malloc(len + 64), *w = b;
    const char *p = line;
    ls->buf = b;
    ls->n = 0;
    const char *name = w;
    while (*p && *p != '{' && *p != ' ')
        *w++ = *p++;
    *w++ = '\0';
    ls->l[ls->n++] = (struct tsdb_label){"__name__", name};
    if (*p == '{') {
        p++;
        while (*p && *p != '}') {
            if (ls->n >= MAX_LABELS)
                return -1;
            const char *ln = w;
            while (*p && *p != '=')
                *w++ = *p++;
            *w++ = '\0';
            if (p[0] != '=' || p[1] != '"')
                return -1;
            p += 2;
            const char *lv = w;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                *w++ = *p++;
            }
            *w++ = '\0';
            if (*p++ != '"')
                return -1;
            if (*p == ',')
                p++;
            if (*lv)
                ls->l[ls->n++] = (struct tsdb_label){ln, lv};
        }
    }
    return 0;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct workload {
    const struct lset *all;
    size_t nseries, nbase, ninst, label_bytes;
    unsigned jitter, samples;
};

/* Appends the workload to a new head (in memory, or with chunks under
 * dir) and prints what it holds. 0 or 1. */
static int measure(const struct workload *w, const char *dir)
{
    uint64_t *refs = calloc(w->nseries, sizeof(*refs));
    double *val = calloc(w->nseries, sizeof(*val));
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < w->nseries; i++)
        val[i] = (double)(rng(&seed) % 100000) / 100.0;

    struct mallinfo2 before = mallinfo2();
    struct tsdb_head *h;
    int rc = dir ? tsdb_head_create_disk(dir, &h) : tsdb_head_create(&h);
    if (rc) {
        fprintf(stderr, "creating the head: %d\n", rc);
        return 1;
    }
    int64_t t0 = 1700000000000;
    for (unsigned k = 0; k < w->samples; k++) {
        for (size_t i = 0; i < w->nseries; i++) {
            int64_t t = t0 + (int64_t)k * SCRAPE_MS;
            if (rng(&seed) % 10 < w->jitter)
                t += 1 + (int64_t)(rng(&seed) % 3);
            switch (i % 10) {
            case 1:
            case 5:
            case 9: /* counter: CPU seconds, 1/100 s */
                val[i] += (double)(rng(&seed) % 1500) / 100.0;
                break;
            case 3:
            case 7: /* gauge: bytes in 4 KiB pages */
                val[i] = 4096.0 * (double)(200000 + rng(&seed) % 5000);
                break;
            default: /* constant */ break;
            }
            rc = k == 0 ? tsdb_head_append(h, &(struct tsdb_labels){w->all[i].l, w->all[i].n}, t,
                                           val[i], &refs[i])
                        : tsdb_head_append_ref(h, refs[i], t, val[i]);
            if (rc) {
                fprintf(stderr, "append: %d\n", rc);
                return 1;
            }
        }
    }
    struct mallinfo2 after = mallinfo2();
    struct tsdb_head_stats st;
    tsdb_head_stats(h, &st);
    double heap = (double)(after.uordblks - before.uordblks), n = (double)w->nseries;
    printf("%s\n",
           dir ? "chunks on disk (tsdb_head_create_disk)" : "chunks in memory (tsdb_head_create)");
    printf("  series                 %llu (%zu label sets x %zu instances)\n",
           (unsigned long long)st.series, w->nbase, w->ninst);
    printf("  samples                %llu (%u per series, 15 s, %u in 10 off-grid)\n",
           (unsigned long long)st.samples, w->samples, w->jitter);
    printf("  chunks                 %llu (%llu on disk)\n", (unsigned long long)st.chunks,
           (unsigned long long)st.disk_chunks);
    printf("  interned strings       %llu\n", (unsigned long long)st.symbols);
    printf("  label bytes if copied  %.1f per series\n", (double)w->label_bytes / n);
    printf("  heap                   %.0f bytes\n", heap);
    printf("  heap per series        %.1f bytes\n", heap / n);
    printf("    chunk bytes          %.1f per series (%.2f per sample, buffers included)\n",
           (double)st.chunk_bytes / n, (double)st.chunk_bytes / (double)st.samples);
    printf("    everything else      %.1f per series\n", (heap - (double)st.chunk_bytes) / n);
    if (dir)
        printf("  chunks_head files      %.1f bytes per series (%llu write failures)\n",
               (double)st.disk_bytes / n, (unsigned long long)st.disk_write_failures);
    tsdb_head_destroy(h);
    free(refs);
    free(val);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/work/shared/fixtures/node_exporter-1.5.0.metrics";
    size_t want = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    unsigned jitter = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
    unsigned samples = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 480;
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    struct lset *base = calloc(4096, sizeof(*base));
    size_t nbase = 0;
    char line[4096];
    while (fgets(line, sizeof(line), f) && nbase < 4096)
        if (line[0] != '#' && line[0] != '\n' && parse_line(line, &base[nbase]) == 0)
            nbase++;
    fclose(f);
    size_t ninst = (want + nbase - 1) / nbase;
    size_t nseries = 0;
    struct lset *all = calloc(ninst * nbase, sizeof(*all));
    char(*inst)[48] = calloc(ninst, sizeof(*inst));
    for (size_t i = 0; i < ninst; i++) {
        snprintf(inst[i], sizeof(inst[i]), "node-%03zu.example.org:9100", i);
        for (size_t k = 0; k < nbase && nseries < want; k++) {
            struct lset *s = &all[nseries++];
            *s = base[k];
            s->l[s->n++] = (struct tsdb_label){"instance", inst[i]};
            s->l[s->n++] = (struct tsdb_label){"job", "node"};
            qsort(s->l, s->n, sizeof(s->l[0]), cmp_label);
        }
    }
    size_t label_bytes = 0;
    for (size_t i = 0; i < nseries; i++)
        for (size_t k = 0; k < all[i].n; k++)
            label_bytes += strlen(all[i].l[k].name) + strlen(all[i].l[k].value) + 2;
    struct workload w = {all, nseries, nbase, ninst, label_bytes, jitter, samples};

    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "/tmp/cairn-head-memory-XXXXXX");
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    int rc = measure(&w, NULL);
    if (!rc)
        rc = measure(&w, dir);
    cn_remove_all(dir);
    return rc;
}
