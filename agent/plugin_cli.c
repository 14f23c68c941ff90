/*
 * `cairn plugin`: the plugin author's tools and the other half of isolated
 * collectors.
 *
 *   cairn plugin check [--timeout=D] [--max-series=N] PATH [ARG...]
 *       runs the plugin once as the agent would (cookie, handshake, health,
 *       Info, one Collect, the agent's validation) and prints what it
 *       offers and returns, in the text exposition format, then what was
 *       rejected. Exit 0 when the plugin worked and nothing was rejected.
 *
 *   cairn plugin serve NAME [--path.*=...] [--collector.NAME.OPTION=V...]
 *       serves built-in collector NAME over the plugin contract (the SDK's
 *       server); the agent starts this for collectors configured with
 *       `isolated: true`. The flags are the agent's.
 *
 * A built-in served this way differs from one run in process in two points:
 * a collect that fails fails the whole call (the contract has no partial
 * results), so the series it gathered before failing are not exported; and
 * one that finds no such device on the host succeeds with no series, where
 * in process it reports node_scrape_collector_success 0.
 */
#include "agent/internal.h"
#include "cairn_version.h"
#include "cairn/plugin.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairn plugin check [--timeout=DURATION] [--max-series=N] PATH [ARG...]\n"
            "       cairn plugin serve NAME [agent flags: --path.*, --collector.NAME.OPTION]\n\n"
            "check  run a plugin once as the agent would and print what it returns\n"
            "serve  serve built-in collector NAME over the plugin contract\n");
}

/* ---- serve ----------------------------------------------------------------- */

struct served {
    const struct plg_collector *col;
    const struct plg_paths *paths;
    void *state;
    struct plg_files *files;
};

static enum cairn_metric_type sdk_type(enum exp_type t)
{
    switch (t) {
    case EXP_COUNTER: return CAIRN_COUNTER;
    case EXP_GAUGE: return CAIRN_GAUGE;
    case EXP_SUMMARY: return CAIRN_SUMMARY;
    case EXP_HISTOGRAM: return CAIRN_HISTOGRAM;
    case EXP_UNTYPED: break;
    }
    return CAIRN_UNTYPED;
}

/* Scratch arrays for handing series to the SDK, sized once per collect for
 * the largest label set and bucket list of the builder. */
struct scratch {
    const char **names, **values;
    double *upper, *dv;
    uint64_t *cnt;
};

static int scratch_alloc(struct scratch *x, struct exp_family *const *fams, size_t nf)
{
    uint32_t maxl = 0, maxb = 0;
    for (size_t i = 0; i < nf; i++)
        for (uint32_t j = 0; j < fams[i]->nseries; j++) {
            const struct exp_series *s = &fams[i]->series[j];
            maxl = s->nlabels > maxl ? s->nlabels : maxl;
            maxb = s->nbuckets > maxb ? s->nbuckets : maxb;
        }
    x->names = cn_calloc(maxl + 1, sizeof(*x->names));
    x->values = cn_calloc(maxl + 1, sizeof(*x->values));
    x->upper = cn_calloc(maxb + 1, sizeof(*x->upper));
    x->dv = cn_calloc(maxb + 1, sizeof(*x->dv));
    x->cnt = cn_calloc(maxb + 1, sizeof(*x->cnt));
    return x->names && x->values && x->upper && x->dv && x->cnt ? 0 : -ENOMEM;
}

static void scratch_free(struct scratch *x)
{
    free(x->names);
    free(x->values);
    free(x->upper);
    free(x->dv);
    free(x->cnt);
}

/* Hands one series of family sf to the SDK's family f. */
static int put_series(struct cairn_family *f, const struct exp_family *sf,
                      const struct exp_series *s, struct scratch *x)
{
    for (uint32_t k = 0; k < s->nlabels; k++) {
        x->names[k] = s->labels[k].name;
        x->values[k] = s->labels[k].value;
    }
    if (sf->type != EXP_HISTOGRAM && sf->type != EXP_SUMMARY)
        return cairn_addv(f, s->value, s->nlabels, x->names, x->values);
    for (uint32_t k = 0; k < s->nbuckets; k++) {
        x->upper[k] = s->buckets[k].upper;
        x->dv[k] = s->buckets[k].count;
        x->cnt[k] = (uint64_t)s->buckets[k].count;
    }
    if (sf->type == EXP_HISTOGRAM)
        return cairn_histogramv(f, s->nbuckets, x->upper, x->cnt, (uint64_t)s->count, s->sum,
                                s->nlabels, x->names, x->values);
    return cairn_summaryv(f, s->nbuckets, x->upper, x->dv, (uint64_t)s->count, s->sum, s->nlabels,
                          x->names, x->values);
}

static int serve_collect(struct cairn_collect *c, void *user)
{
    struct served *sv = user;
    struct exp_builder *b = exp_builder_create();
    if (!b)
        return cairn_collect_fail(c, "out of memory");
    struct plg_collect pc = {.b = b, .paths = sv->paths, .files = sv->files};
    int rc = sv->col->collect(sv->state, &pc);
    plg_files_sweep(sv->files);
    /* "No such device on this host" is not a failure worth a restart: the
     * call succeeds with whatever was found (usually nothing). */
    if (rc && pc.nodata)
        rc = 0;
    if (rc) {
        exp_builder_unref(b);
        return cairn_collect_fail(c, "%s", pc.errmsg[0] ? pc.errmsg : strerror(-rc));
    }
    exp_builder_finish(b);
    size_t nf;
    struct exp_family *const *fams = exp_builder_families(b, &nf);
    struct scratch x = {0};
    rc = scratch_alloc(&x, fams, nf);
    for (size_t i = 0; !rc && i < nf; i++) {
        const struct exp_family *sf = fams[i];
        struct cairn_family *f = cairn_family(c, sf->name, sf->help, sdk_type(sf->type));
        if (!f)
            rc = -ENOMEM;
        for (uint32_t j = 0; !rc && j < sf->nseries; j++)
            rc = put_series(f, sf, &sf->series[j], &x);
    }
    scratch_free(&x);
    exp_builder_unref(b);
    return rc ? cairn_collect_fail(c, "%s", strerror(-rc)) : 0;
}

static int plugin_serve(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return EXIT_USAGE;
    }
    const struct plg_collector *col = plg_find_collector(argv[1]);
    if (!col) {
        fprintf(stderr, "cairn: error: no built-in collector \"%s\"\n", argv[1]);
        return EXIT_USAGE;
    }
    /* The remaining arguments are agent flags: argv[1] stands in for argv[0]. */
    struct agent_config cfg;
    char err[512] = "";
    if (agent_config_load(&cfg, argc - 1, argv + 1, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: %s\n", err);
        agent_config_free(&cfg);
        return EXIT_USAGE;
    }
    size_t ci = 0;
    while (plg_builtin_collectors()[ci] != col)
        ci++;
    char msg[256] = "";
    struct plg_config pc = {.paths = &cfg.paths,
                            .collector = col,
                            .values = (const char *const *)cfg.collectors[ci].values,
                            .errbuf = msg,
                            .errcap = sizeof(msg)};
    struct served sv = {.col = col, .paths = &cfg.paths, .files = plg_files_create(32)};
    int rc = col->init ? col->init(&pc, &sv.state) : 0;
    if (rc) {
        fprintf(stderr, "cairn: error: collector %s: %s\n", col->name,
                msg[0] ? msg : strerror(-rc));
        plg_files_destroy(sv.files);
        agent_config_free(&cfg);
        return 1;
    }
    /* The agent reloads on SIGHUP; `killall -HUP cairn` must not stop the
     * collectors it runs in their own processes. */
    signal(SIGHUP, SIG_IGN);
    struct cairn_plugin p = {
        .name = col->name, .version = CAIRN_VERSION, .collect = serve_collect, .user = &sv};
    int status = cairn_plugin_serve(&p);
    if (col->destroy)
        col->destroy(sv.state);
    plg_files_destroy(sv.files);
    agent_config_free(&cfg);
    return status;
}

/* ---- check ----------------------------------------------------------------- */

static int plugin_check(int argc, char **argv)
{
    struct plg_plugin_cfg cfg = {.max_failures = 1};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--timeout=", 10)) {
            if (cn_duration_parse(a + 10, &cfg.timeout_ms) || cfg.timeout_ms <= 0) {
                fprintf(stderr, "cairn: error: bad --timeout \"%s\"\n", a + 10);
                return EXIT_USAGE;
            }
            cfg.start_timeout_ms = cfg.timeout_ms;
        } else if (!strncmp(a, "--max-series=", 13)) {
            int64_t n;
            if (cn_parse_i64(a + 13, &n) || n <= 0) {
                fprintf(stderr, "cairn: error: bad --max-series \"%s\"\n", a + 13);
                return EXIT_USAGE;
            }
            cfg.max_series = (long)n;
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else {
            fprintf(stderr, "cairn: error: unknown flag \"%s\"\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* The plugin is named after its file, made a valid name. */
    char name[65];
    char *path = cn_strdup(argv[i]);
    if (!path)
        return 1;
    snprintf(name, sizeof(name), "%s", basename(path));
    free(path);
    for (char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            *p = '_';
    if (name[0] >= '0' && name[0] <= '9')
        name[0] = '_';
    cfg.name = name;
    cfg.argv = (const char *const *)(argv + i);

    struct exp_builder *b = exp_builder_create();
    struct cn_buf rejects, text;
    cn_buf_init(&rejects);
    cn_buf_init(&text);
    char info[256] = "", err[512] = "";
    int rc =
        b ? plg_host_check(&cfg, NULL, info, sizeof(info), b, &rejects, err, sizeof(err)) : -ENOMEM;
    int status = 0;
    if (rc) {
        fprintf(stderr, "cairn: error: plugin %s: %s\n", argv[i], err[0] ? err : strerror(-rc));
        status = 1;
    } else {
        exp_builder_finish(b);
        size_t nf;
        struct exp_family *const *fams = exp_builder_families(b, &nf);
        exp_encode(&text, fams, nf, EXP_FMT_TEXT);
        printf("# plugin: %s\n", info);
        fwrite(text.data ? text.data : "", 1, text.len, stdout);
        if (rejects.len) {
            printf("# rejected:\n");
            for (char *line = rejects.data; line && *line;) {
                char *nl = strchr(line, '\n');
                printf("#   %.*s\n", (int)(nl ? nl - line : (long)strlen(line)), line);
                line = nl ? nl + 1 : NULL;
            }
            status = 1;
        }
    }
    cn_buf_free(&rejects);
    cn_buf_free(&text);
    exp_builder_unref(b);
    return status;
}

int agent_plugin_main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "serve"))
        return plugin_serve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check"))
        return plugin_check(argc - 1, argv + 1);
    fprintf(stderr, "cairn: error: unknown plugin command \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
