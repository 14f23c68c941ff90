/* Configuration: defaults, YAML, flags, precedence and every error message. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"

static long idx(const char *name)
{
    const struct plg_collector *const *all = plg_builtin_collectors();
    for (long i = 0; all[i]; i++)
        if (!strcmp(all[i]->name, name))
            return i;
    cr_assert_fail("no collector %s", name);
    return -1;
}

/* Loads argv (without the leading "agent") and returns rc; err receives the message. */
static int load(struct agent_config *cfg, char *err, size_t cap, int argc, const char **argv)
{
    const char *full[32] = {"agent"};
    for (int i = 0; i < argc; i++)
        full[i + 1] = argv[i];
    return agent_config_load(cfg, argc + 1, (char **)full, err, cap);
}

static int yaml(struct agent_config *cfg, char *err, size_t cap, const char *text)
{
    const char *argv[] = {"agent"};
    cr_assert_eq(agent_config_load(cfg, 1, (char **)argv, err, cap), 0);
    return agent_config_apply_yaml(cfg, "test.yml", text, strlen(text), err, cap);
}

Test(agent_config, defaults)
{
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(load(&cfg, err, sizeof(err), 0, NULL), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_address, ":9100");
    cr_assert_str_eq(cfg.telemetry_path, "/metrics");
    cr_assert_str_eq(cfg.paths.procfs, "/proc");
    cr_assert_str_eq(cfg.paths.sysfs, "/sys");
    cr_assert_str_eq(cfg.paths.rootfs, "/");
    cr_assert_eq(cfg.interval_ms, 15000);
    cr_assert_eq(agent_config_timeout_ms(&cfg), 10000);
    cr_assert_eq(cfg.max_requests, 40);
    cr_assert(agent_config_collector_enabled(&cfg, (size_t)idx("loadavg")));
    agent_config_free(&cfg);
}

Test(agent_config, flags)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--web.listen-address=127.0.0.1:9200",
                          "--path.procfs",
                          "/host/proc",
                          "--collector.interval=2s",
                          "--no-collector.loadavg",
                          "--log.level=debug",
                          "--log.format=json"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 7, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_address, "127.0.0.1:9200");
    cr_assert_str_eq(cfg.paths.procfs, "/host/proc");
    cr_assert_eq(cfg.interval_ms, 2000);
    cr_assert_eq(agent_config_timeout_ms(&cfg), 2000, "timeout follows a short interval");
    cr_assert_not(agent_config_collector_enabled(&cfg, (size_t)idx("loadavg")));
    cr_assert_eq(cfg.log_level, CN_LOG_DEBUG);
    cr_assert_eq(cfg.log_format, CN_LOG_JSON);
    agent_config_free(&cfg);
}

Test(agent_config, disable_defaults_then_enable_one)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--collector.disable-defaults", "--collector.loadavg"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 2, argv), 0, "%s", err);
    for (size_t i = 0; i < cfg.ncollectors; i++)
        cr_assert_eq(agent_config_collector_enabled(&cfg, i), (long)i == idx("loadavg"));
    agent_config_free(&cfg);
}

Test(agent_config, flag_errors)
{
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        {"--nope", "unknown long flag '--nope'"},
        {"--collector.nosuch", "unknown long flag '--collector.nosuch'"},
        {"--collector.loadavg.nosuch=1", "unknown long flag '--collector.loadavg.nosuch'"},
        {"--collector.interval=soon", "invalid value \"soon\" for flag --collector.interval"},
        {"--log.level=loud", "invalid value \"loud\" for flag --log.level"},
        {"--web.listen-address=nowhere",
         "--web.listen-address: invalid listen address \"nowhere\" (want host:port, :port or "
         "[v6]:port)"},
        {"--web.max-requests=-1", "invalid value \"-1\" for flag --web.max-requests"},
        {"--collector.timeout=20s", "collector timeout must be positive and at most the interval"},
        {"stray", "unexpected argument \"stray\""},
        {"--web.telemetry-path=metrics", "--web.telemetry-path must start with '/'"},
        {"--config.file=/nonexistent/cairn.yml",
         "/nonexistent/cairn.yml: cannot read configuration file: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_config cfg;
        char err[256] = "";
        const char *argv[] = {cases[i].arg};
        cr_expect_eq(load(&cfg, err, sizeof(err), 1, argv), -EINVAL, "%s", cases[i].arg);
        cr_expect_str_eq(err, cases[i].msg);
        agent_config_free(&cfg);
    }
}

Test(agent_config, yaml_full)
{
    struct agent_config cfg;
    char err[256] = "";
    int rc = yaml(&cfg, err, sizeof(err),
                  "web:\n"
                  "  listen_address: \"127.0.0.1:9300\"\n"
                  "  telemetry_path: /m\n"
                  "  max_requests: 5\n"
                  "log:\n  level: warn\n  format: json\n"
                  "paths:\n  procfs: /p\n  sysfs: /s\n  rootfs: /r\n  udev_data: /u\n"
                  "collection:\n  interval: 30s\n  timeout: 5s\n"
                  "collectors:\n"
                  "  disable_defaults: true\n"
                  "  loadavg: true\n");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(cfg.listen_address, "127.0.0.1:9300");
    cr_assert_str_eq(cfg.telemetry_path, "/m");
    cr_assert_eq(cfg.max_requests, 5);
    cr_assert_eq(cfg.log_level, CN_LOG_WARN);
    cr_assert_eq(cfg.log_format, CN_LOG_JSON);
    cr_assert_str_eq(cfg.paths.procfs, "/p");
    cr_assert_str_eq(cfg.paths.udev_data, "/u");
    cr_assert_eq(cfg.interval_ms, 30000);
    cr_assert_eq(cfg.timeout_ms, 5000);
    cr_assert(cfg.disable_defaults);
    cr_assert(agent_config_collector_enabled(&cfg, (size_t)idx("loadavg")));
    agent_config_free(&cfg);
}

Test(agent_config, yaml_collector_mapping)
{
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(yaml(&cfg, err, sizeof(err), "collectors:\n  loadavg:\n    enabled: false\n"), 0,
                 "%s", err);
    cr_assert_not(agent_config_collector_enabled(&cfg, (size_t)idx("loadavg")));
    agent_config_free(&cfg);
}

Test(agent_config, yaml_errors)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"web:\n  listen: x\n", "test.yml:2:3: unknown key \"listen\" in web"},
        {"nope: 1\n", "test.yml:1:1: unknown key \"nope\" in the configuration file"},
        {"web: [1, 2]\n", "test.yml:1:6: web must be a mapping"},
        {"collection:\n  interval: soon\n",
         "test.yml:2:13: collection.interval: \"soon\" is not a duration (e.g. 15s, 1m, 500ms)"},
        {"log:\n  level: loud\n",
         "test.yml:2:10: log.level: \"loud\" is not one of debug, info, warn, error"},
        {"log:\n  format: xml\n", "test.yml:2:11: log.format: \"xml\" is not one of logfmt, json"},
        {"collectors:\n  loadavg: maybe\n",
         "test.yml:2:12: loadavg: \"maybe\" is not a boolean (true or false)"},
        {"collectors:\n  nosuch: true\n", "test.yml:2:3: unknown key \"nosuch\" in collectors"},
        {"collectors:\n  loadavg:\n    colour: red\n",
         "test.yml:3:5: unknown key \"colour\" in collectors.loadavg"},
        {"web:\n  max_requests: many\n",
         "test.yml:2:17: web.max_requests: \"many\" is not a non-negative integer"},
        {"web:\n  listen_address: nowhere\n",
         "test.yml:2:19: invalid listen address \"nowhere\" (want host:port, :port or [v6]:port)"},
        {"web:\n  telemetry_path: metrics\n",
         "test.yml:2:19: web.telemetry_path must start with '/'"},
        {"web:\n  listen_address: [a]\n",
         "test.yml:2:19: web.listen_address must be a scalar value"},
        {"web:\n  - a\n", "test.yml:2:3: web must be a mapping"},
        {"collection:\n  interval: 5s\n  timeout: 10s\n",
         "test.yml:1:1: collector timeout must be positive and at most the interval"},
        {"web: {listen_address: \"a:1\"\n",
         "test.yml:2:1: did not find expected ',' or '}' while parsing a flow mapping"},
        {"a: b: c\n", "test.yml:1:5: mapping values are not allowed in this context"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_config cfg;
        char err[256] = "";
        cr_expect_eq(yaml(&cfg, err, sizeof(err), cases[i].text), -EINVAL, "%s", cases[i].text);
        cr_expect_str_eq(err, cases[i].msg);
        agent_config_free(&cfg);
    }
}

Test(agent_config, empty_file_is_valid)
{
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(yaml(&cfg, err, sizeof(err), ""), 0, "%s", err);
    agent_config_free(&cfg);
    cr_assert_eq(yaml(&cfg, err, sizeof(err), "web:\n"), 0, "%s", err);
    agent_config_free(&cfg);
}

Test(agent_config, flags_override_file)
{
    char path[] = "/tmp/cairn-config-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "web:\n  listen_address: \"127.0.0.1:9300\"\ncollection:\n  interval: 30s\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char file_flag[64];
    snprintf(file_flag, sizeof(file_flag), "--config.file=%s", path);
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--web.listen-address=127.0.0.1:9400", file_flag};
    cr_assert_eq(load(&cfg, err, sizeof(err), 2, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.listen_address, "127.0.0.1:9400", "the flag wins wherever it stands");
    cr_assert_eq(cfg.interval_ms, 30000, "the file applies where no flag is given");
    agent_config_free(&cfg);
    unlink(path);
}

Test(agent_config, node_exporter_option_prefix)
{
    /* node_exporter spells the powersupplyclass options --collector.powersupply.* */
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--collector.powersupply.ignored-supplies=^AC$"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 1, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.collectors[idx("powersupplyclass")].values[0], "^AC$");
    agent_config_free(&cfg);
}

Test(agent_config, boolean_collector_options)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--collector.stat.softirq", "--no-collector.cpu.guest",
                          "--collector.vmstat.fields", "^pg"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 4, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.collectors[idx("stat")].values[0], "true");
    cr_assert_str_eq(cfg.collectors[idx("cpu")].values[0], "false");
    cr_assert_str_eq(cfg.collectors[idx("vmstat")].values[0], "^pg");
    agent_config_free(&cfg);
    const char *bad[] = {"--no-collector.vmstat.fields"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 1, bad), -EINVAL);
    cr_assert_str_eq(err, "unknown long flag '--no-collector.vmstat.fields'");
    agent_config_free(&cfg);
}

Test(agent_config, query_engine_settings)
{
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(load(&cfg, err, sizeof(err), 0, NULL), 0, "%s", err);
    cr_assert_eq(cfg.query_lookback_ms, 300000);
    cr_assert_eq(cfg.query_timeout_ms, 120000);
    cr_assert_eq(cfg.query_max_samples, 50000000);
    cr_assert_eq(cfg.query_max_concurrency, 20);
    agent_config_free(&cfg);

    const char *argv[] = {"--query.lookback-delta=1m", "--query.timeout", "30s",
                          "--query.max-samples=1000", "--query.max-concurrency=2"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 5, argv), 0, "%s", err);
    cr_assert_eq(cfg.query_lookback_ms, 60000);
    cr_assert_eq(cfg.query_timeout_ms, 30000);
    cr_assert_eq(cfg.query_max_samples, 1000);
    cr_assert_eq(cfg.query_max_concurrency, 2);
    agent_config_free(&cfg);

    cr_assert_eq(yaml(&cfg, err, sizeof(err),
                      "query:\n  lookback_delta: 10m\n  timeout: 1m\n  max_samples: 5\n"
                      "  max_concurrency: 3\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.query_lookback_ms, 600000);
    cr_assert_eq(cfg.query_timeout_ms, 60000);
    cr_assert_eq(cfg.query_max_samples, 5);
    cr_assert_eq(cfg.query_max_concurrency, 3);
    agent_config_free(&cfg);

    cr_assert_eq(yaml(&cfg, err, sizeof(err), "query:\n  max_concurrency: 0\n"), -EINVAL);
    cr_assert_str_eq(err, "test.yml:2:20: query.max_concurrency: \"0\" is not a positive integer");
    agent_config_free(&cfg);
    cr_assert_eq(yaml(&cfg, err, sizeof(err), "query:\n  timeout: soon\n"), -EINVAL);
    cr_assert_str_eq(
        err, "test.yml:2:12: query.timeout: \"soon\" is not a duration (e.g. 15s, 1m, 500ms)");
    agent_config_free(&cfg);
    const char *zero[] = {"--query.timeout=0s"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 1, zero), -EINVAL);
    cr_assert_str_eq(err, "the query lookback delta and timeout must be positive");
    agent_config_free(&cfg);
    const char *none[] = {"--query.max-samples=0"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 1, none), -EINVAL);
    cr_assert_str_eq(err, "the query sample and concurrency limits must be positive");
    agent_config_free(&cfg);
}

Test(agent_config, yaml_plugins)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *text = "plugins:\n"
                       "  - name: gpu\n"
                       "    args: [--fast, -v]\n"
                       "    command: /usr/lib/cairn/gpu\n"
                       "    env: {GPU_MODE: all, EMPTY: \"\"}\n"
                       "    interval: 30s\n"
                       "    timeout: 5s\n"
                       "    user: nobody\n"
                       "    memory_limit: 256MB\n"
                       "    cpu_limit: 1m\n"
                       "    max_series: 500\n"
                       "    max_message_size: 1MB\n"
                       "    start_timeout: 3s\n"
                       "    restart_backoff: 2s\n"
                       "    restart_backoff_max: 2m\n"
                       "    max_failures: 7\n"
                       "  - name: raid\n"
                       "    command: raidstat\n";
    cr_assert_eq(yaml(&cfg, err, sizeof(err), text), 0, "%s", err);
    cr_assert_eq(cfg.nplugins, 2);
    const struct plg_plugin_cfg *p = &cfg.plugins[0].cfg;
    cr_expect_str_eq(p->name, "gpu");
    cr_expect_str_eq(p->argv[0], "/usr/lib/cairn/gpu");
    cr_expect_str_eq(p->argv[1], "--fast");
    cr_expect_str_eq(p->argv[2], "-v");
    cr_expect_null(p->argv[3]);
    cr_expect_str_eq(p->env[0], "GPU_MODE=all");
    cr_expect_str_eq(p->env[1], "EMPTY=");
    cr_expect_null(p->env[2]);
    cr_expect_eq(p->interval_ms, 30000);
    cr_expect_eq(p->timeout_ms, 5000);
    cr_expect_str_eq(p->user, "nobody");
    cr_expect_eq(p->memory_limit, 256ULL << 20);
    cr_expect_eq(p->cpu_limit, 60);
    cr_expect_eq(p->max_series, 500);
    cr_expect_eq(p->max_message_bytes, 1L << 20);
    cr_expect_eq(p->start_timeout_ms, 3000);
    cr_expect_eq(p->restart_backoff_ms, 2000);
    cr_expect_eq(p->restart_backoff_max_ms, 120000);
    cr_expect_eq(p->max_failures, 7);
    p = &cfg.plugins[1].cfg;
    cr_expect_str_eq(p->argv[0], "raidstat");
    cr_expect_null(p->argv[1]);
    cr_expect_null(p->env[0]);
    cr_expect_null(p->user);
    cr_expect_eq(p->interval_ms, 0);
    agent_config_free(&cfg);
}

Test(agent_config, yaml_plugin_errors)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"plugins: {a: 1}\n", "test.yml:1:10: plugins must be a list of plugin entries"},
        {"plugins:\n  - x\n",
         "test.yml:2:5: each entry of plugins must be a mapping (name, command, ...)"},
        {"plugins:\n  - command: /bin/x\n", "test.yml:2:5: a plugins entry needs a name"},
        {"plugins:\n  - name: x\n", "test.yml:2:5: plugin \"x\" needs a command"},
        {"plugins:\n  - name: 9x\n    command: /bin/x\n",
         "test.yml:2:5: plugin name \"9x\" is not valid ([a-zA-Z_][a-zA-Z0-9_-]*, at most 64)"},
        {"plugins:\n  - name: cpu\n    command: /bin/x\n",
         "test.yml:2:5: plugin name \"cpu\" is a built-in collector's; to run that collector in "
         "its own process set collectors.cpu.isolated"},
        {"plugins:\n  - {name: a, command: /bin/x}\n  - {name: a, command: /bin/y}\n",
         "test.yml:3:5: plugin name \"a\" is used twice"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    colour: red\n",
         "test.yml:4:5: unknown key \"colour\" in a plugins entry"},
        {"plugins:\n  - name: a\n    command: \"\"\n",
         "test.yml:3:14: plugins.command must not be empty"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    args: --v\n",
         "test.yml:4:11: plugins.args must be a list of strings"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    env: [A=1]\n",
         "test.yml:4:10: plugins.env must be a mapping of variable names to values"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    env: {\"A=B\": 1}\n",
         "test.yml:4:11: plugins.env: \"A=B\" is not an environment variable name"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    interval: soon\n",
         "test.yml:4:15: plugins.interval: \"soon\" is not a duration (e.g. 15s, 1m, 500ms)"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    memory_limit: lots\n",
         "test.yml:4:19: plugins.memory_limit: \"lots\" is not a size such as 512MB or 2GB"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    cpu_limit: 500ms\n",
         "test.yml:4:16: plugins.cpu_limit is whole seconds of CPU time, at least 1s"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    max_series: -1\n",
         "test.yml:4:17: plugins.max_series: \"-1\" is not a positive integer"},
        {"plugins:\n  - name: a\n    command: /bin/x\n    interval: 1s\n    timeout: 2s\n",
         "test.yml:2:5: plugin \"a\": the timeout must be at most the interval"},
        {"collectors:\n  loadavg:\n    isolated: perhaps\n",
         "test.yml:3:15: isolated: \"perhaps\" is not a boolean (true or false)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_config cfg;
        char err[256] = "";
        cr_expect_eq(yaml(&cfg, err, sizeof(err), cases[i].text), -EINVAL, "%s", cases[i].text);
        cr_expect_str_eq(err, cases[i].msg);
        agent_config_free(&cfg);
    }
}

Test(agent_config, isolated_collector_becomes_a_plugin)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--path.procfs=/host/proc",
                          "--collector.filesystem.fs-types-exclude=^x$"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 2, argv), 0, "%s", err);
    const char *text = "collectors:\n  filesystem:\n    isolated: true\n";
    cr_assert_eq(agent_config_apply_yaml(&cfg, "test.yml", text, strlen(text), err, sizeof(err)), 0,
                 "%s", err);
    long fs = idx("filesystem");
    cr_expect_not(agent_config_collector_enabled(&cfg, (size_t)fs));
    cr_expect(agent_config_collector_isolated(&cfg, (size_t)fs));
    struct agent_plugin_list list;
    cr_assert_eq(agent_config_plugin_list(&cfg, "/usr/bin/cairn", &list), 0);
    cr_assert_eq(list.n, 1);
    const struct plg_plugin_cfg *p = &list.cfgs[0];
    cr_expect_str_eq(p->name, "filesystem");
    const char *want[] = {"/usr/bin/cairn",
                          "plugin",
                          "serve",
                          "filesystem",
                          "--path.procfs=/host/proc",
                          "--path.sysfs=/sys",
                          "--path.rootfs=/",
                          "--path.udev.data=/run/udev/data",
                          "--collector.filesystem.fs-types-exclude=^x$",
                          NULL};
    for (size_t i = 0; want[i]; i++)
        cr_expect_str_eq(p->argv[i], want[i]);
    cr_expect_null(p->argv[9]);
    cr_expect_eq(p->interval_ms, cfg.interval_ms);
    cr_expect_eq(p->timeout_ms, agent_config_timeout_ms(&cfg));
    agent_plugin_list_free(&list);
    agent_config_free(&cfg);
}

Test(agent_config, events_defaults)
{
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(load(&cfg, err, sizeof(err), 0, NULL), 0, "%s", err);
    cr_assert_str_eq(cfg.kmsg_path, "/dev/kmsg");
    cr_assert_null(cfg.events_path);
    cr_assert_eq(cfg.events_retention_ms, 30LL * 24 * 3600 * 1000);
    cr_assert_eq(cfg.events_retention_count, 1000000);
    cr_assert_eq(cfg.events_queue_size, 65536);
    cr_assert_eq(cfg.events_flush_ms, 1000);
    cr_assert(cfg.events_default_rules);
    cr_assert_null(cfg.events_rules_files);
    agent_config_free(&cfg);
}

Test(agent_config, events_flags)
{
    struct agent_config cfg;
    char err[256] = "";
    const char *argv[] = {"--path.kmsg=/tmp/kmsg.txt", "--events.store.path", "/tmp/ev.db",
                          "--events.retention.time=2h", "--events.retention.count=500"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 5, argv), 0, "%s", err);
    cr_assert_str_eq(cfg.kmsg_path, "/tmp/kmsg.txt");
    cr_assert_str_eq(cfg.events_path, "/tmp/ev.db");
    cr_assert_eq(cfg.events_retention_ms, 2 * 3600 * 1000);
    cr_assert_eq(cfg.events_retention_count, 500);
    agent_config_free(&cfg);

    const char *bad[] = {"--events.retention.time=soon"};
    cr_assert_eq(load(&cfg, err, sizeof(err), 1, bad), -EINVAL);
    cr_assert_str_eq(err, "invalid value \"soon\" for flag --events.retention.time");
    agent_config_free(&cfg);
}

Test(agent_config, events_yaml)
{
    struct agent_config cfg;
    char err[256] = "";
    int rc = yaml(&cfg, err, sizeof(err),
                  "paths:\n  kmsg: ''\n"
                  "events:\n  store_path: /var/lib/cairn/events.db\n  retention_time: 7d\n"
                  "  retention_count: 1000\n  queue_size: 128\n  flush_interval: 250ms\n"
                  "  default_rules: false\n  rules_files: [/etc/cairn/rules.d/*.yml, /x.yml]\n");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(cfg.kmsg_path, "");
    cr_assert_str_eq(cfg.events_path, "/var/lib/cairn/events.db");
    cr_assert_eq(cfg.events_retention_ms, 7LL * 24 * 3600 * 1000);
    cr_assert_eq(cfg.events_retention_count, 1000);
    cr_assert_eq(cfg.events_queue_size, 128);
    cr_assert_eq(cfg.events_flush_ms, 250);
    cr_assert_not(cfg.events_default_rules);
    cr_assert_str_eq(cfg.events_rules_files[0], "/etc/cairn/rules.d/*.yml");
    cr_assert_str_eq(cfg.events_rules_files[1], "/x.yml");
    cr_assert_null(cfg.events_rules_files[2]);
    agent_config_free(&cfg);
}

Test(agent_config, events_yaml_errors)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"events:\n  color: red\n", "test.yml:2:3: unknown key \"color\" in events"},
        {"events:\n  retention_time: forever\n",
         "test.yml:2:19: events.retention_time: \"forever\" is not a duration (e.g. 15s, 1m, "
         "500ms)"},
        {"events:\n  rules_files: /etc/rules.yml\n",
         "test.yml:2:16: events.rules_files must be a list of strings"},
        {"events:\n  queue_size: 0\n",
         "test.yml:2:15: events.queue_size: \"0\" is not a positive integer"},
        {"events:\n  default_rules: maybe\n",
         "test.yml:2:18: events.default_rules: \"maybe\" is not a boolean (true or false)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_config cfg;
        char err[256] = "";
        cr_assert_eq(yaml(&cfg, err, sizeof(err), cases[i].text), -EINVAL, "%s", cases[i].text);
        cr_assert_str_eq(err, cases[i].msg);
        agent_config_free(&cfg);
    }
}

/* ---- plugin files ------------------------------------------------------------------------ */

/* Each plugin-file test works in a temp dir of its own, which the .fini
 * removes also after a failed assertion. */
static char plg_dir[64];

static void plg_dir_make(void)
{
    snprintf(plg_dir, sizeof(plg_dir), "/tmp/cairn-plugin-files-XXXXXX");
    cr_assert_not_null(mkdtemp(plg_dir));
}

static void plg_dir_remove(void)
{
    cr_assert_eq(cn_remove_all(plg_dir), 0);
}

/* Writes text into plg_dir/name, every "@D" in it replaced by plg_dir. */
static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", plg_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    for (const char *s = text; *s; s++) {
        if (s[0] == '@' && s[1] == 'D') {
            fputs(plg_dir, f);
            s++;
        } else {
            fputc(*s, f);
        }
    }
    cr_assert_eq(fclose(f), 0);
}

/* Loads plg_dir/main.conf (text as put() writes it; not *.yml, so that the
 * tests' patterns do not match it) as --config.file. */
static int load_main(struct agent_config *cfg, char *err, size_t cap, const char *text)
{
    put("main.conf", text);
    char flag[128];
    snprintf(flag, sizeof(flag), "--config.file=%s/main.conf", plg_dir);
    const char *argv[] = {flag};
    return load(cfg, err, cap, 1, argv);
}

#define MAIN_WITH_PLUGIN_FILES                                                                     \
    "plugins:\n  - {name: main, command: /bin/main}\nplugin_files: [@D/*.yml]\n"

Test(agent_config, plugin_files_after_the_main_file_in_sorted_order, .init = plg_dir_make,
     .fini = plg_dir_remove)
{
    put("20-b.yml", "plugins:\n  - name: b\n    command: /bin/b\n");
    put("10-a.yml", "plugins:\n"
                    "  - {name: a1, command: /bin/a1}\n"
                    "  - name: a2\n"
                    "    command: /bin/a2\n"
                    "    args: [-x]\n"
                    "    interval: 30s\n");
    put("11-empty.yml", "");
    put("12-comment.yml", "# nothing here yet\n");
    put("13-dashes.yml", "---\n");
    put("14-no-entries.yml", "plugins:\n");
    put("notes.txt", "not: [yaml\n");
    struct agent_config cfg;
    char err[512] = "";
    /* conf.d does not exist: a pattern that matches nothing is fine. */
    cr_assert_eq(load_main(&cfg, err, sizeof(err),
                           "plugins:\n  - {name: main, command: /bin/main}\n"
                           "plugin_files: [@D/*.yml, @D/conf.d/*.yml]\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.nplugins, 4);
    const char *want[] = {"main", "a1", "a2", "b"};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_str_eq(cfg.plugins[i].name, want[i]);
        cr_expect_str_eq(cfg.plugins[i].cfg.name, want[i]);
    }
    const struct plg_plugin_cfg *a2 = &cfg.plugins[2].cfg;
    cr_expect_str_eq(a2->argv[0], "/bin/a2");
    cr_expect_str_eq(a2->argv[1], "-x");
    cr_expect_null(a2->argv[2]);
    cr_expect_eq(a2->interval_ms, 30000);
    cr_expect_str_eq(cfg.plugins[3].cfg.argv[0], "/bin/b");
    char pattern[128];
    snprintf(pattern, sizeof(pattern), "%s/*.yml", plg_dir);
    cr_expect_str_eq(cfg.plugin_files[0], pattern);
    cr_expect_null(cfg.plugin_files[2]);
    /* The plugin list hands them on in the same order. */
    struct agent_plugin_list list;
    cr_assert_eq(agent_config_plugin_list(&cfg, "/usr/bin/cairn", &list), 0);
    cr_assert_eq(list.n, 4);
    for (size_t i = 0; i < 4; i++)
        cr_expect_str_eq(list.cfgs[i].name, want[i]);
    agent_plugin_list_free(&list);
    agent_config_free(&cfg);
}

Test(agent_config, plugin_files_are_read_again_on_every_load, .init = plg_dir_make,
     .fini = plg_dir_remove)
{
    /* A reload is another agent_config_load: it sees added, changed and
     * removed files. */
    put("a.yml", "plugins:\n  - {name: a, command: /bin/a}\n");
    put("b.yml", "plugins:\n  - {name: b, command: /bin/b}\n");
    struct agent_config cfg;
    char err[512] = "";
    cr_assert_eq(load_main(&cfg, err, sizeof(err), MAIN_WITH_PLUGIN_FILES), 0, "%s", err);
    cr_assert_eq(cfg.nplugins, 3);
    cr_expect_str_eq(cfg.plugins[1].name, "a");
    cr_expect_str_eq(cfg.plugins[2].name, "b");
    agent_config_free(&cfg);

    char path[128];
    snprintf(path, sizeof(path), "%s/a.yml", plg_dir);
    cr_assert_eq(unlink(path), 0);
    put("b.yml", "plugins:\n  - {name: b, command: /bin/b2}\n");
    put("c.yml", "plugins:\n  - {name: c, command: /bin/c}\n");
    cr_assert_eq(load_main(&cfg, err, sizeof(err), MAIN_WITH_PLUGIN_FILES), 0, "%s", err);
    cr_assert_eq(cfg.nplugins, 3);
    cr_expect_str_eq(cfg.plugins[0].name, "main");
    cr_expect_str_eq(cfg.plugins[1].name, "b");
    cr_expect_str_eq(cfg.plugins[1].cfg.argv[0], "/bin/b2");
    cr_expect_str_eq(cfg.plugins[2].name, "c");
    agent_config_free(&cfg);
}

Test(agent_config, plugin_files_only_recorded_by_apply_yaml)
{
    /* The text alone reads no file: neither pattern is looked at. */
    struct agent_config cfg;
    char err[256] = "";
    cr_assert_eq(yaml(&cfg, err, sizeof(err),
                      "plugin_files: [/nonexistent-dir/*.yml, /nonexistent-dir/gpu.yml]\n"),
                 0, "%s", err);
    cr_assert_eq(cfg.nplugins, 0);
    cr_assert_str_eq(cfg.plugin_files[0], "/nonexistent-dir/*.yml");
    cr_assert_str_eq(cfg.plugin_files[1], "/nonexistent-dir/gpu.yml");
    cr_assert_null(cfg.plugin_files[2]);
    agent_config_free(&cfg);
}

Test(agent_config, plugin_files_missing_plain_file, .init = plg_dir_make, .fini = plg_dir_remove)
{
    put("a.yml", "plugins:\n  - {name: a, command: /bin/a}\n");
    struct agent_config cfg;
    char err[512] = "";
    cr_assert_eq(load_main(&cfg, err, sizeof(err), "plugin_files: [@D/*.yml, @D/gpu.yml]\n"),
                 -EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "%s/gpu.yml: cannot read plugin file: No such file or directory",
             plg_dir);
    cr_assert_str_eq(err, want);
    agent_config_free(&cfg);
}

Test(agent_config, plugin_files_duplicate_name_across_files, .init = plg_dir_make,
     .fini = plg_dir_remove)
{
    put("10-a.yml", "plugins:\n  - {name: x, command: /bin/x}\n");
    put("20-b.yml", "plugins:\n  - {name: y, command: /bin/y}\n  - {name: x, command: /bin/x2}\n");
    struct agent_config cfg;
    char err[512] = "";
    cr_assert_eq(load_main(&cfg, err, sizeof(err), MAIN_WITH_PLUGIN_FILES), -EINVAL);
    char want[256];
    snprintf(want, sizeof(want), "%s/20-b.yml:3:5: plugin name \"x\" is used twice", plg_dir);
    cr_assert_str_eq(err, want);
    agent_config_free(&cfg);
}

Test(agent_config, plugin_file_errors, .init = plg_dir_make, .fini = plg_dir_remove)
{
    static const struct {
        const char *text, *msg; /* msg after "DIR/p.yml:" */
    } cases[] = {
        {"plugins:\n  - name: ok\n    command: /bin/ok\n  - name: main\n    command: /bin/x\n",
         "4:5: plugin name \"main\" is used twice"},
        {"plugins: []\nweb:\n  listen_address: \":1\"\n",
         "2:1: unknown key \"web\" in a plugin file (only plugins: is allowed)"},
        {"plugins: {name: a, command: /bin/a}\n", "1:10: plugins must be a list of plugin entries"},
        {"- name: a\n  command: /bin/a\n",
         "1:1: a plugin file must be a mapping with one key, plugins:"},
        {"plugins: [\n", "2:1: did not find expected node content while parsing a flow node"},
        {"plugins:\n  - name: a\n    colour: red\n",
         "3:5: unknown key \"colour\" in a plugins entry"},
        {"plugins:\n  - name: a\n    command: /bin/a\n    interval: soon\n",
         "4:15: plugins.interval: \"soon\" is not a duration (e.g. 15s, 1m, 500ms)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put("p.yml", cases[i].text);
        struct agent_config cfg;
        char err[512] = "";
        cr_expect_eq(load_main(&cfg, err, sizeof(err), MAIN_WITH_PLUGIN_FILES), -EINVAL, "%s",
                     cases[i].text);
        char want[256];
        snprintf(want, sizeof(want), "%s/p.yml:%s", plg_dir, cases[i].msg);
        cr_expect_str_eq(err, want);
        agent_config_free(&cfg);
    }
}

Test(agent_config, plugin_files_must_be_a_list_of_strings)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"plugin_files: /etc/cairn/plugins.d/*.yml\n",
         "test.yml:1:15: plugin_files must be a list of strings"},
        {"plugin_files: {a: b}\n", "test.yml:1:15: plugin_files must be a list of strings"},
        {"plugin_files: [[a.yml]]\n", "test.yml:1:16: plugin_files must be a scalar value"},
        {"plugin_files:\n  - a.yml\n  - {b: c}\n",
         "test.yml:3:5: plugin_files must be a scalar value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct agent_config cfg;
        char err[256] = "";
        cr_expect_eq(yaml(&cfg, err, sizeof(err), cases[i].text), -EINVAL, "%s", cases[i].text);
        cr_expect_str_eq(err, cases[i].msg);
        agent_config_free(&cfg);
    }
}
