/*
 * The cairn command line and the agent's life cycle.
 *
 * `cairn agent` loads the configuration, starts the scheduler and the HTTP
 * server, then waits for signals on the main thread (all other threads block
 * them): SIGHUP reloads the configuration and swaps in a new scheduler while
 * the server keeps serving the last snapshot; SIGTERM and SIGINT shut down
 * cleanly. A reload with a bad file is logged and the running configuration
 * stays.
 *
 * The PromQL engine and the /api/v1 handlers are created once with the
 * agent and live across reloads, like the TSDB they read, and so does the
 * event service; a reload gives it the configuration's new rules. The
 * agent's own milestones and troubles (started, reloaded or not, a plugin
 * quarantined, stopping) are events too.
 */
#include "agent/agent.h"
#include "agent/internal.h"
#include "cairn_version.h"
#include "events/events.h"
#include "promql/promql.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out, "usage: cairn <command> [<flags>]\n\n"
                 "Commands:\n"
                 "  agent     run the monitoring agent (see cairn agent --help)\n"
                 "  query     PromQL queries against a running agent (see cairn query --help)\n"
                 "  events    the host's events from a running agent (see cairn events --help)\n"
                 "  tsdb      tools for a TSDB directory (see cairn tsdb --help)\n"
                 "  plugin    check a plugin, or serve a built-in collector as one (see cairn "
                 "plugin --help)\n"
                 "  version   print the version\n");
}

/* Runs every enabled collector's init with the configured options, so that
 * --config.check catches bad option values (e.g. a broken regex). */
static int check_collectors(const struct agent_config *cfg)
{
    int bad = 0;
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (size_t i = 0; i < cfg->ncollectors; i++) {
        if (!(agent_config_collector_enabled(cfg, i) || agent_config_collector_isolated(cfg, i)) ||
            !all[i]->init)
            continue;
        char msg[256] = "";
        struct plg_config pc = {.paths = &cfg->paths,
                                .collector = all[i],
                                .values = (const char *const *)cfg->collectors[i].values,
                                .errbuf = msg,
                                .errcap = sizeof(msg)};
        void *state = NULL;
        int rc = all[i]->init(&pc, &state);
        if (rc) {
            fprintf(stderr, "cairn: error: collector %s: %s\n", all[i]->name,
                    msg[0] ? msg : strerror(-rc));
            bad++;
        } else if (all[i]->destroy) {
            all[i]->destroy(state);
        }
    }
    return bad;
}

/* What a configuration runs: the scheduler, and the plugins' collectors it
 * borrows. */
struct running {
    struct agent_sched *sched;
    struct plg_host_collectors *plugins;
};

static void running_stop(struct running *r)
{
    agent_sched_destroy(r->sched);
    plg_host_collectors_release(r->plugins);
    memset(r, 0, sizeof(*r));
}

/*
 * Brings the plugin host in line with cfg (starting and stopping plugins)
 * and starts a scheduler over the built-in collectors and the plugins'.
 */
static int start_sched(const struct agent_config *cfg, struct agent_http_stats *stats,
                       struct agent_store *store, struct evt_service *events, struct plg_host *host,
                       struct running *out)
{
    memset(out, 0, sizeof(*out));
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0)
        return -errno;
    self[len] = '\0';
    struct agent_plugin_list list;
    int rc = agent_config_plugin_list(cfg, self, &list);
    if (rc)
        return rc;
    plg_host_set_default_interval(host, cfg->interval_ms);
    rc = plg_host_apply(host, list.cfgs, list.n);
    agent_plugin_list_free(&list);
    const struct plg_collector *const *cols = NULL;
    size_t ncols = 0;
    if (!rc)
        rc = plg_host_collectors(host, &out->plugins, &cols, &ncols);
    if (rc)
        return rc;
    struct agent_sched_opts so = {.cfg = cfg,
                                  .http = stats,
                                  .store = store,
                                  .events = events,
                                  .extra = cols,
                                  .nextra = ncols};
    rc = agent_sched_create(&so, &out->sched);
    if (!rc) {
        rc = agent_sched_start(out->sched);
        if (rc) {
            agent_sched_destroy(out->sched);
            out->sched = NULL;
        }
    }
    if (rc)
        running_stop(out);
    return rc;
}

/* Records the outcome of a configuration (re)load for runtimeinfo. */
static void config_loaded(struct agent_source *src, bool ok)
{
    pthread_mutex_lock(&src->lock);
    src->config_ok = ok;
    if (ok)
        src->config_ms = cn_now_ms();
    pthread_mutex_unlock(&src->lock);
}

/* The agent's state across reloads. */
struct agent_ctx {
    struct agent_source *src;
    struct agent_http_stats *stats;
    struct agent_store *store;
    struct evt_service *events;
    struct plg_host *host;
};

/* A reload that failed: logged, and an event. */
static bool reload_failed(struct agent_ctx *a, struct agent_config *next, const char *why)
{
    cn_log(CN_LOG_ERROR, "agent", "reload failed; keeping the running configuration", "err", why,
           NULL);
    evt_service_agent_event(a->events, "ConfigReloadFailed", EVT_SEV_WARNING,
                            "reloading the configuration failed; the running one stays", "error",
                            why, NULL);
    agent_config_free(next);
    return false;
}

/* Reloads the configuration; false when the running one stays. */
static bool reload(struct agent_config *cfg, int argc, char **argv, struct agent_ctx *a,
                   struct running *run)
{
    struct agent_config next;
    char err[512] = "";
    if (agent_config_load(&next, argc, argv, err, sizeof(err)))
        return reload_failed(a, &next, err);
    if (check_collectors(&next))
        return reload_failed(a, &next, "a collector rejected its options");
    struct evt_rules *rules = NULL;
    if (agent_events_rules(&next, &rules, err, sizeof(err)))
        return reload_failed(a, &next, err);
    if (strcmp(next.listen_address, cfg->listen_address) ||
        strcmp(next.telemetry_path, cfg->telemetry_path) || next.max_requests != cfg->max_requests)
        cn_log(CN_LOG_WARN, "agent", "web settings change only on restart", NULL);
    if (strcmp(next.storage_path, cfg->storage_path) || next.retention_ms != cfg->retention_ms ||
        next.retention_bytes != cfg->retention_bytes || next.block_ms != cfg->block_ms)
        cn_log(CN_LOG_WARN, "agent", "storage settings change only on restart", NULL);
    if (strcmp(next.kmsg_path, cfg->kmsg_path) ||
        (next.events_path && (!cfg->events_path || strcmp(next.events_path, cfg->events_path))) ||
        next.events_retention_ms != cfg->events_retention_ms ||
        next.events_retention_count != cfg->events_retention_count ||
        next.events_queue_size != cfg->events_queue_size ||
        next.events_flush_ms != cfg->events_flush_ms)
        cn_log(CN_LOG_WARN, "agent", "event store and kernel log settings change only on restart",
               NULL);
    if (next.query_lookback_ms != cfg->query_lookback_ms ||
        next.query_timeout_ms != cfg->query_timeout_ms ||
        next.query_max_samples != cfg->query_max_samples ||
        next.query_max_concurrency != cfg->query_max_concurrency)
        cn_log(CN_LOG_WARN, "agent", "query settings change only on restart", NULL);
    cn_log_setup(next.log_level, next.log_format);
    struct running next_run;
    int rc = start_sched(&next, a->stats, a->store, a->events, a->host, &next_run);
    if (rc) {
        evt_rules_destroy(rules);
        return reload_failed(a, &next, strerror(-rc));
    }
    if (a->events)
        evt_service_set_rules(a->events, rules);
    else
        evt_rules_destroy(rules);
    pthread_mutex_lock(&a->src->lock);
    a->src->sched = next_run.sched;
    pthread_mutex_unlock(&a->src->lock);
    running_stop(run);
    *run = next_run;
    agent_config_free(cfg);
    *cfg = next;
    cn_log(CN_LOG_INFO, "agent", "configuration reloaded", "file",
           cfg->config_file ? cfg->config_file : "", NULL);
    evt_service_agent_event(a->events, "ConfigReloaded", EVT_SEV_INFO,
                            "the configuration was reloaded", "file",
                            cfg->config_file ? cfg->config_file : "", NULL);
    return true;
}

/* The plugin host's news of a quarantined plugin, as an event. */
static void plugin_quarantined(void *ctx, const char *plugin, const char *why)
{
    char msg[512];
    snprintf(msg, sizeof(msg),
             "plugin %s was quarantined: %s; it stays stopped until the next reload", plugin, why);
    evt_service_agent_event(ctx, "PluginQuarantined", EVT_SEV_WARNING, msg, "plugin", plugin, NULL);
}

/* --config.check: the collectors' options and the event rules. */
static int check_config(const struct agent_config *cfg)
{
    int bad = check_collectors(cfg);
    struct evt_rules *rules = NULL;
    char err[512] = "";
    if (agent_events_rules(cfg, &rules, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: event rules: %s\n", err);
        bad++;
    }
    evt_rules_destroy(rules);
    return bad;
}

static int run_agent(int argc, char **argv)
{
    struct agent_config cfg;
    char err[512] = "";
    if (agent_config_load(&cfg, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "cairn: error: %s\n", err);
        agent_config_free(&cfg);
        return EXIT_USAGE;
    }
    if (cfg.show_help || cfg.show_version) {
        if (cfg.show_help)
            agent_config_usage(stdout);
        else
            printf("cairn, version %s\n", CAIRN_VERSION);
        agent_config_free(&cfg);
        return 0;
    }
    if (cfg.config_check) {
        int bad = check_config(&cfg);
        if (!bad)
            printf("SUCCESS: %s is valid\n", cfg.config_file ? cfg.config_file : "configuration");
        agent_config_free(&cfg);
        return bad ? EXIT_USAGE : 0;
    }
    cn_log_setup(cfg.log_level, cfg.log_format);
    if (check_config(&cfg)) {
        agent_config_free(&cfg);
        return EXIT_USAGE;
    }
    /* Few malloc arenas: the agent's threads are mostly idle. */
    mallopt(M_ARENA_MAX, 2);
    /* Collectors keep procfs/sysfs files open between cycles; allow as many
     * descriptors as the hard limit permits, as Go programs such as
     * node_exporter do at start. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited by every thread */
    signal(SIGPIPE, SIG_IGN);
    /* Past a file size limit, writes fail with EFBIG like a full disk's
     * ENOSPC, which the TSDB handles, instead of killing the agent. */
    signal(SIGXFSZ, SIG_IGN);

    int status = 0;
    struct agent_http_stats *stats = agent_http_stats_create();
    struct agent_source src = {.sched = NULL};
    pthread_mutex_init(&src.lock, NULL);
    config_loaded(&src, true);
    struct agent_http *http = NULL;
    struct agent_store *store = NULL;
    struct promql_engine *engine = NULL;
    struct agent_api *api = NULL;
    struct plg_host *host = NULL;
    struct evt_service *events = NULL;
    struct running run = {0};
    int rc = stats ? agent_store_open(&cfg, &store, err, sizeof(err)) : -ENOMEM;
    if (rc) {
        cn_log(CN_LOG_ERROR, "agent", "cannot open the TSDB", "err", err[0] ? err : strerror(-rc),
               NULL);
        status = 1;
        goto out;
    }
    rc = agent_events_start(&cfg, &events, err, sizeof(err));
    if (rc) {
        cn_log(CN_LOG_ERROR, "agent", "cannot start the event service", "err", err, NULL);
        status = 1;
        goto out;
    }
    struct promql_engine_opts eo = {.lookback_ms = cfg.query_lookback_ms,
                                    .timeout_ms = cfg.query_timeout_ms,
                                    .max_samples = cfg.query_max_samples,
                                    .max_concurrency = (int)cfg.query_max_concurrency};
    rc = promql_engine_create(&eo, &engine);
    if (!rc) {
        struct agent_api_opts ao = {.store = store,
                                    .engine = engine,
                                    .source = &src,
                                    .events = events,
                                    .retention_ms = cfg.retention_ms,
                                    .retention_bytes = cfg.retention_bytes};
        rc = agent_api_create(&ao, &api);
    }
    if (rc) {
        cn_log(CN_LOG_ERROR, "agent", "cannot start the query engine", "err", strerror(-rc), NULL);
        status = 1;
        goto out;
    }
    struct plg_host_opts hopts = {
        .default_interval_ms = cfg.interval_ms, .on_quarantine = plugin_quarantined, .ctx = events};
    rc = plg_host_create(&hopts, &host);
    if (!rc)
        rc = start_sched(&cfg, stats, store, events, host, &run);
    src.sched = run.sched;
    if (rc) {
        cn_log(CN_LOG_ERROR, "agent", "cannot start the scheduler", "err", strerror(-rc), NULL);
        status = 1;
        goto out;
    }
    struct agent_http_opts ho = {.listen_address = cfg.listen_address,
                                 .telemetry_path = cfg.telemetry_path,
                                 .max_requests = cfg.max_requests,
                                 .source = &src,
                                 .stats = stats,
                                 .api = api};
    rc = agent_http_start(&ho, &http, err, sizeof(err));
    if (rc) {
        cn_log(CN_LOG_ERROR, "agent", "cannot start the HTTP server", "err", err, NULL);
        status = 1;
        goto out;
    }
    char port[16];
    snprintf(port, sizeof(port), "%u", agent_http_port(http));
    cn_log(CN_LOG_INFO, "agent", "cairn agent started", "version", CAIRN_VERSION, "address",
           cfg.listen_address, "port", port, NULL);
    evt_service_agent_event(events, "AgentStarted", EVT_SEV_INFO, "the cairn agent started",
                            "version", CAIRN_VERSION, "port", port, NULL);
    struct agent_ctx actx = {
        .src = &src, .stats = stats, .store = store, .events = events, .host = host};

    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&set, &si);
        if (sig < 0)
            continue; /* EINTR */
        if (sig == SIGHUP) {
            cn_log(CN_LOG_INFO, "agent", "reloading configuration", NULL);
            config_loaded(&src, reload(&cfg, argc, argv, &actx, &run));
            continue;
        }
        cn_log(CN_LOG_INFO, "agent", "shutting down", "signal",
               sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
        evt_service_agent_event(events, "AgentStopped", EVT_SEV_INFO, "the cairn agent stopped",
                                "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
        break;
    }
out:
    agent_http_stop(http); /* cancels and waits for running queries */
    agent_api_destroy(api);
    promql_engine_destroy(engine);
    running_stop(&run);
    plg_host_destroy(host);
    evt_service_stop(events); /* after the plugin host, which reports to it */
    agent_store_close(store);
    pthread_mutex_destroy(&src.lock);
    agent_http_stats_destroy(stats);
    agent_config_free(&cfg);
    return status;
}

int agent_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("cairn, version %s\n", CAIRN_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "agent"))
        return run_agent(argc - 1, argv + 1);
    if (!strcmp(cmd, "tsdb"))
        return agent_tsdb_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "query"))
        return agent_query_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "events"))
        return agent_events_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "plugin"))
        return agent_plugin_main(argc - 1, argv + 1);
    fprintf(stderr, "cairn: error: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
