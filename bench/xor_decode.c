/*
 * XOR chunk decode speed and density on node-metric shapes.
 *
 * Encodes SAMPLES samples (default 1,000,000) into 120-sample chunks, as the
 * head cuts them, from series shaped like node_exporter's:
 *   - counters: CPU seconds (1/100 s resolution), bytes and packets (the
 *     latter mostly idle) growing by a noisy amount per 15 s scrape;
 *   - noisy gauges: memory bytes in 4 KiB pages, temperatures in
 *     millidegrees, load averages with two decimals;
 *   - constants: info metrics, sizes, counters of unused features;
 * mixed 50% constants, 30% counters, 20% gauges. The mix follows this
 * machine's node_exporter 1.5: 350 of its 507 series did not change over a
 * minute of 15 s scrapes, and most of the others were counters.
 *
 * Timestamps follow a 15 s grid in three profiles, because scrape jitter is
 * what the decoder's branches feel most: "aligned" (every delta of deltas
 * zero, as a scheduler ticking on a grid writes them and as Prometheus 2.43+
 * mostly does with its 2 ms alignment tolerance), "jitter 10%" (one scrape in
 * ten off the grid by up to 3 ms) and "jitter 100%" (every scrape off by up
 * to 3 ms, as Prometheus before 2.43 wrote them).
 *
 * It decodes every chunk ROUNDS times through tsdb_xor_next_batch() (a whole
 * chunk at a time, how a querier reads) and through tsdb_xor_next() (one
 * sample per call), and prints the best round's ns per sample and the
 * encoded bytes per sample (2-byte header included) per shape and overall.
 *
 * Prometheus' own decoder (Go, chunkenc.BenchmarkXORIterator) is not run
 * side by side: there is no Go toolchain on the build machines.
 *
 * Build and run (no CMake target; -O2 as the RelWithDebInfo build):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I/work/main /work/main/bench/xor_decode.c \
 *      /work/main/tsdb/chunk.c -o /tmp/xor_decode && /tmp/xor_decode [SAMPLES]
 */
#include "tsdb/tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7
#define CHUNK_CAP 4096
#define SCRAPE_MS 15000

enum shape { SHAPE_COUNTER, SHAPE_GAUGE, SHAPE_CONST, NSHAPES };
static const char *const shape_names[NSHAPES] = {"counters", "noisy gauges", "constants"};
/* 50% constants, 30% counters, 20% gauges, interleaved. */
static const enum shape mix[10] = {SHAPE_CONST, SHAPE_COUNTER, SHAPE_CONST, SHAPE_GAUGE,
                                   SHAPE_CONST, SHAPE_COUNTER, SHAPE_CONST, SHAPE_GAUGE,
                                   SHAPE_CONST, SHAPE_COUNTER};

struct profile {
    const char *name;
    unsigned jitter_in_10; /* scrapes in 10 off the grid */
};
static const struct profile profiles[] = {
    {"aligned", 0},
    {"jitter 10%", 1},
    {"jitter 100%", 10},
};

struct chunk {
    uint8_t *data;
    size_t len;
    enum shape shape;
};

/* xorshift64*: reproducible noise without global state. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static double unit(uint64_t *s)
{
    return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

/* The next value of a series of shape `shape`, variant `kind`. */
static double next_value(enum shape shape, unsigned kind, double prev, uint64_t *s)
{
    switch (shape) {
    case SHAPE_COUNTER:
        switch (kind % 3) {
        case 0: /* node_cpu_seconds_total */
            return (double)(long long)((prev + 14.0 + 2.0 * unit(s)) * 100.0 + 0.5) / 100.0;
        case 1: /* node_network_receive_bytes_total */ return prev + (double)(rnd(s) % 2000000);
        default: /* node_network_receive_packets_total of a quiet interface */
            return prev + (double)(rnd(s) % 4 == 0 ? rnd(s) % 50 : 0);
        }
    case SHAPE_GAUGE:
        switch (kind % 3) {
        case 0: /* node_memory_MemAvailable_bytes */
            return 8.0e9 + 4096.0 * (double)(rnd(s) % 250000);
        case 1: /* node_hwmon_temp_celsius */
            return (double)(40000 + (long long)(rnd(s) % 8000)) / 1000.0;
        default: /* node_load1 */ return (double)(long long)(100.0 * (0.5 + 1.5 * unit(s))) / 100.0;
        }
    default:
        switch (kind % 3) {
        case 0: return 1.0;           /* node_uname_info */
        case 1: return 16777216000.0; /* node_filesystem_size_bytes */
        default: return 0.0;          /* node_netstat_Icmp_InErrors */
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Encodes `total` samples into chunks; NULL on failure. */
static struct chunk *encode(size_t total, size_t nchunks, const struct profile *p, uint64_t *seed)
{
    struct chunk *chunks = calloc(nchunks, sizeof(*chunks));
    uint8_t tmp[CHUNK_CAP];
    size_t left = total;
    if (!chunks)
        return NULL;
    for (size_t c = 0; c < nchunks; c++) {
        enum shape sh = mix[c % 10];
        unsigned kind = (unsigned)(c / 10);
        size_t n = left < TSDB_XOR_SAMPLES_PER_CHUNK ? left : TSDB_XOR_SAMPLES_PER_CHUNK;
        struct tsdb_xor_enc e;
        if (tsdb_xor_init(&e, tmp, sizeof(tmp)))
            return NULL;
        int64_t grid = 1700000000000LL + (int64_t)(rnd(seed) % SCRAPE_MS);
        double v = sh == SHAPE_COUNTER ? (double)(rnd(seed) % 1000000) : 0;
        for (size_t i = 0; i < n; i++) {
            int64_t t = grid + (int64_t)i * SCRAPE_MS;
            if (rnd(seed) % 10 < p->jitter_in_10)
                t += (int64_t)(rnd(seed) % 7) - 3;
            v = next_value(sh, kind, v, seed);
            if (tsdb_xor_append(&e, t, v))
                return NULL;
        }
        chunks[c].len = tsdb_xor_len(&e);
        chunks[c].data = malloc(chunks[c].len);
        if (!chunks[c].data)
            return NULL;
        memcpy(chunks[c].data, tmp, chunks[c].len);
        chunks[c].shape = sh;
        left -= n;
    }
    return chunks;
}

/* Decodes one chunk (mode 0: batch, 1: sample by sample), counting samples
 * into *seen. The compiler barrier stands for a consumer of the samples
 * (summing them would time a chain of floating-point adds, not the decoder). */
static int decode(const struct chunk *c, int mode, size_t *seen)
{
    struct tsdb_xor_iter it;
    struct tsdb_sample s[TSDB_XOR_SAMPLES_PER_CHUNK];
    int rc;
    tsdb_xor_iter_init(&it, c->data, c->len);
    if (mode == 0) {
        while ((rc = tsdb_xor_next_batch(&it, s, TSDB_XOR_SAMPLES_PER_CHUNK)) > 0) {
            __asm__ volatile("" : : "r"(s) : "memory");
            *seen += (size_t)rc;
        }
    } else {
        while ((rc = tsdb_xor_next(&it, &s[0])) == 1) {
            __asm__ volatile("" : : "r"(s) : "memory");
            (*seen)++;
        }
    }
    if (rc) {
        fprintf(stderr, "decode failed: %d\n", rc);
        return -1;
    }
    return 0;
}

/* Times decoding the chunks of shape sh (NSHAPES: all), prints a row. */
static int measure(const struct chunk *chunks, size_t nchunks, int sh, const char *profile)
{
    size_t ns = 0, nb = 0;
    for (size_t c = 0; c < nchunks; c++) {
        if (sh == NSHAPES || chunks[c].shape == (enum shape)sh) {
            ns += tsdb_xor_count(chunks[c].data, chunks[c].len);
            nb += chunks[c].len;
        }
    }
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < ROUNDS; r++) {
        for (int mode = 0; mode < 2; mode++) {
            size_t seen = 0;
            double t0 = now_s();
            for (size_t c = 0; c < nchunks; c++) {
                if (sh < NSHAPES && chunks[c].shape != (enum shape)sh)
                    continue;
                if (decode(&chunks[c], mode, &seen))
                    return -1;
            }
            double dt = now_s() - t0;
            if (seen != ns) {
                fprintf(stderr, "decoded %zu of %zu samples\n", seen, ns);
                return -1;
            }
            if (dt < best[mode])
                best[mode] = dt;
        }
    }
    printf("%-12s %-13s %9zu %13.3f %16.3f %15.3f\n", profile,
           sh == NSHAPES ? "all" : shape_names[sh], ns, (double)nb / (double)ns,
           best[0] * 1e9 / (double)ns, best[1] * 1e9 / (double)ns);
    return 0;
}

int main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    if (total == 0)
        return 2;
    size_t nchunks = (total + TSDB_XOR_SAMPLES_PER_CHUNK - 1) / TSDB_XOR_SAMPLES_PER_CHUNK;
    printf("XOR chunks: %zu samples per profile in %zu chunks of <= %d samples\n", total, nchunks,
           TSDB_XOR_SAMPLES_PER_CHUNK);
    printf("%-12s %-13s %9s %13s %16s %15s\n", "timestamps", "shape", "samples", "bytes/sample",
           "ns/sample batch", "ns/sample next");
    for (size_t p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++) {
        uint64_t seed = 0x9e3779b97f4a7c15ULL;
        struct chunk *chunks = encode(total, nchunks, &profiles[p], &seed);
        if (!chunks) {
            fprintf(stderr, "encoding failed\n");
            return 1;
        }
        for (int sh = 0; sh <= NSHAPES; sh++)
            if (measure(chunks, nchunks, sh, profiles[p].name))
                return 1;
        for (size_t c = 0; c < nchunks; c++)
            free(chunks[c].data);
        free(chunks);
    }
    return 0;
}
