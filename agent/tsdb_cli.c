/*
 * `cairn tsdb`: tools over a TSDB directory, in the shape of promtool's.
 *
 *   cairn tsdb list [-r] DIR   the blocks, as `promtool tsdb list` prints them
 *
 * Output is meant to be compared with promtool's line for line, so columns
 * follow its tabwriter layout (minimum width 13, padding 2, the last column
 * unpadded) and durations Go's time.Duration format.
 */
#include "agent/internal.h"
#include "tsdb/tsdb.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define EXIT_USAGE 2

/* Go's time.Duration.String() for a whole number of milliseconds. */
static void go_duration(int64_t ms, char *out, size_t cap)
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
        while (secs[n - 1] == '0')
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

/* Bytes of all files under path. */
static uint64_t dir_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (uint64_t)st.st_size;
    uint64_t total = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        total += dir_size(sub);
    }
    closedir(d);
    return total;
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

/* A row of cells laid out like Go's tabwriter(minwidth 13, padding 2). */
static void print_rows(char (*cells)[8][64], size_t rows)
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
        blocks[n].size = dir_size(path);
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
    static const char *const head[8] = {"BLOCK ULID",  "MIN TIME",   "MAX TIME",   "DURATION",
                                        "NUM SAMPLES", "NUM CHUNKS", "NUM SERIES", "SIZE"};
    for (int c = 0; c < 8; c++)
        snprintf(cells[0][c], 64, "%s", head[c]);
    for (size_t i = 0; i < n; i++) {
        const struct tsdb_block_meta *m = &blocks[i].meta;
        char(*row)[64] = cells[i + 1];
        snprintf(row[0], 64, "%s", m->ulid);
        format_time(m->min_time, human, row[1], 64);
        format_time(m->max_time, human, row[2], 64);
        go_duration(m->max_time - m->min_time, row[3], 64);
        snprintf(row[4], 64, "%" PRIu64, m->num_samples);
        snprintf(row[5], 64, "%" PRIu64, m->num_chunks);
        snprintf(row[6], 64, "%" PRIu64, m->num_series);
        if (human)
            go_bytes(blocks[i].size, row[7], 64);
        else
            snprintf(row[7], 64, "%" PRIu64, blocks[i].size);
        tsdb_meta_free(&blocks[i].meta);
    }
    print_rows(cells, n + 1);
    free(cells);
    free(blocks);
    return status;
}

static void tsdb_usage(FILE *out)
{
    fprintf(out, "usage: cairn tsdb <command> [<flags>] DIR\n\n"
                 "Commands:\n"
                 "  list [-r|--human-readable] DIR   list the blocks of a TSDB directory\n");
}

int agent_tsdb_main(int argc, char **argv)
{
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
    fprintf(stderr, "cairn: error: unknown tsdb command \"%s\"\n", argv[1]);
    tsdb_usage(stderr);
    return EXIT_USAGE;
}
