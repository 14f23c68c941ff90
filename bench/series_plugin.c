/*
 * bench_series_plugin: a plugin of BENCH_SERIES (default 1000) gauge series,
 * bench_series{i="0".."N-1", host="bench", kind="cpu|memory|disk|network"},
 * whose values change on every Collect; for measuring the cost of a
 * collection through the plugin host. The label strings are made once at
 * start so that a Collect costs the SDK's work and little else.
 */
#include <stdio.h>
#include <stdlib.h>

#include <cairn/plugin.h>

struct bench {
    long n;
    char (*idx)[24]; /* n label values "0".."n-1" */
    double calls;
};

static const char *const kinds[] = {"cpu", "memory", "disk", "network"};

static int collect(struct cairn_collect *c, void *user)
{
    struct bench *b = user;
    b->calls++;
    struct cairn_family *f = cairn_family(c, "bench_series", "Synthetic series.", CAIRN_GAUGE);
    for (long i = 0; i < b->n; i++)
        if (cairn_add(f, b->calls * 1000 + (double)i, "i", b->idx[i], "host", "bench", "kind",
                      kinds[i % 4], NULL) < 0)
            return cairn_collect_fail(c, "bench: cannot build series %ld", i);
    return 0;
}

int main(void)
{
    const char *env = getenv("BENCH_SERIES");
    struct bench b = {.n = env ? strtol(env, NULL, 10) : 1000};
    if (b.n < 0 || b.n > 10000000) {
        fprintf(stderr, "bench: BENCH_SERIES must be between 0 and 10000000\n");
        return 1;
    }
    b.idx = calloc(b.n ? (size_t)b.n : 1, sizeof(*b.idx));
    if (!b.idx)
        return 1;
    for (long i = 0; i < b.n; i++)
        snprintf(b.idx[i], sizeof(b.idx[i]), "%ld", i);
    struct cairn_plugin p = {.name = "bench", .version = "1.0", .collect = collect, .user = &b};
    int status = cairn_plugin_serve(&p);
    free(b.idx);
    return status;
}
