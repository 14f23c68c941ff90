/*
 * The cost of one plugin Collect, measured from the host's side: starts a
 * plugin the way the agent does (plugins/host: process, handshake, gRPC
 * client), then times RUNS Collect round trips (request out, response in
 * and decoded) and, separately, the validation and conversion of each
 * response into a builder (plg_adapt + finish). Prints median, p90 and max
 * of both in milliseconds, and the response size. Asserts nothing.
 *
 * usage: bench_plugin_rtt PLUGIN [RUNS]   (BENCH_SERIES sets the series count
 *        of bench_series_plugin; make bench-plugins runs it)
 */
#include "plugins/host/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    printf("%-28s median %.3f ms  p90 %.3f ms  max %.3f ms\n", what, v[n / 2], v[n * 9 / 10],
           v[n - 1]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PLUGIN [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 1000;
    if (runs < 10)
        runs = 10;
    const char *av[] = {argv[1], NULL};
    struct plg_plugin_cfg cfg = {.name = "bench", .argv = av};
    char err[512] = "";
    struct plg_proc *proc = NULL;
    struct plg_client *client = NULL;
    struct plg_handshake hs;
    if (plg_proc_start(&cfg, "/tmp", &proc, err, sizeof(err)) ||
        plg_proc_handshake(proc, 10000, &hs, err, sizeof(err)) ||
        plg_client_connect(hs.socket_path, 64L << 20, &client, err, sizeof(err)) ||
        plg_client_health(client, 5000, err, sizeof(err))) {
        fprintf(stderr, "cannot start %s: %s\n", argv[1], err);
        plg_client_close(client);
        plg_proc_stop(proc, 1000);
        return 1;
    }
    double *rtt = calloc((size_t)runs, sizeof(double));
    double *adapt = calloc((size_t)runs, sizeof(double));
    size_t series = 0, bytes = 0;
    int rc = rtt && adapt ? 0 : 1;
    for (int i = -10; !rc && i < runs; i++) { /* 10 warm-up calls */
        Cairn__Plugin__V1__CollectResponse *resp = NULL;
        int64_t t0 = cn_mono_ns();
        int64_t now = cn_now_ms();
        rc = plg_client_collect(client, now, now + 5000, &resp, err, sizeof(err));
        int64_t t1 = cn_mono_ns();
        if (rc) {
            fprintf(stderr, "collect failed: %s\n", err);
            break;
        }
        struct exp_builder *b = exp_builder_create();
        struct plg_rejects rej = {0};
        plg_adapt(resp->families, resp->n_families, 100000, b, &rej);
        exp_builder_finish(b);
        int64_t t2 = cn_mono_ns();
        if (i >= 0) {
            rtt[i] = (double)(t1 - t0) / 1e6;
            adapt[i] = (double)(t2 - t1) / 1e6;
        }
        series = 0;
        for (size_t f = 0; f < resp->n_families; f++)
            series += resp->families[f]->n_metric;
        bytes = cairn__plugin__v1__collect_response__get_packed_size(resp);
        exp_builder_unref(b);
        cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);
    }
    if (!rc) {
        printf("plugin %s: %zu series, %zu bytes per response, %d calls\n", argv[1], series, bytes,
               runs);
        report("Collect round trip", rtt, runs);
        report("validate + convert", adapt, runs);
    }
    free(rtt);
    free(adapt);
    plg_client_close(client);
    plg_proc_stop(proc, 1000);
    return rc;
}
