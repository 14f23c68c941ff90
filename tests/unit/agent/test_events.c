/* The agent's event rule loading and GET /api/v1/events. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/internal.h"
#include "events/events.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* ---- rules ------------------------------------------------------------------------------ */

Test(agent_events, rules_default_and_globbed_files)
{
    char dir[] = "/tmp/cairn-rules-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char a[256], b[256], pattern[256];
    snprintf(a, sizeof(a), "%s/10-a.yml", dir);
    snprintf(b, sizeof(b), "%s/20-b.yml", dir);
    snprintf(pattern, sizeof(pattern), "%s/*.yml", dir);
    write_file(b, "rules:\n  - type: SecondRule\n    severity: info\n    pattern: 'shared line'\n");
    write_file(a, "rules:\n  - type: FirstRule\n    severity: warning\n    pattern: 'shared'\n");

    struct agent_config cfg;
    char err[256] = "";
    char *argv[] = {"agent", NULL};
    cr_assert_eq(agent_config_load(&cfg, 1, argv, err, sizeof(err)), 0);
    cfg.events_default_rules = false;
    char *files[] = {pattern, "/nonexistent-dir/*.yml", NULL};
    cfg.events_rules_files = cn_strv_dup((const char *const *)files);
    struct evt_rules *r = NULL;
    cr_assert_eq(agent_events_rules(&cfg, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(evt_rules_count(r), 2);
    /* Sorted file order: 10-a.yml's rule wins for a line both match. */
    struct evt_rules_matcher *m = NULL;
    cr_assert_eq(evt_rules_matcher_create(r, &m), 0);
    struct evt_event ev;
    evt_event_init(&ev);
    const char *line = "a shared line";
    cr_assert_eq(evt_rules_match(m, line, strlen(line), &ev), 1);
    cr_assert_str_eq(ev.type, "FirstRule");
    evt_event_clear(&ev);
    evt_rules_matcher_destroy(m);
    evt_rules_destroy(r);

    /* The defaults come first. */
    size_t ndefault = 0;
    {
        struct evt_rules *d = NULL;
        cr_assert_eq(evt_rules_create(&d), 0);
        size_t len;
        const char *text = evt_default_rules(&len);
        cr_assert_eq(evt_rules_load(d, EVT_DEFAULT_RULES_NAME, text, len, err, sizeof(err)), 0,
                     "%s", err);
        ndefault = evt_rules_count(d);
        evt_rules_destroy(d);
    }
    cr_assert_gt(ndefault, 15);
    cfg.events_default_rules = true;
    cr_assert_eq(agent_events_rules(&cfg, &r, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(evt_rules_count(r), ndefault + 2);
    evt_rules_destroy(r);

    /* A plain path that does not exist, and a broken file, are errors. */
    cn_strv_free(cfg.events_rules_files);
    char *missing[] = {"/nonexistent-dir/rules.yml", NULL};
    cfg.events_rules_files = cn_strv_dup((const char *const *)missing);
    cr_assert_eq(agent_events_rules(&cfg, &r, err, sizeof(err)), -ENOENT);
    cr_assert_str_eq(
        err, "/nonexistent-dir/rules.yml: cannot read rules file: No such file or directory");
    write_file(b, "rules:\n  - type: bad type\n    severity: info\n    pattern: x\n");
    cn_strv_free(cfg.events_rules_files);
    char *broken[] = {b, NULL};
    cfg.events_rules_files = cn_strv_dup((const char *const *)broken);
    cr_assert_eq(agent_events_rules(&cfg, &r, err, sizeof(err)), -EINVAL);
    char prefix[300];
    snprintf(prefix, sizeof(prefix), "%s:2:", b);
    cr_assert(!strncmp(err, prefix, strlen(prefix)), "%s", err);
    agent_config_free(&cfg);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

/* ---- the API ------------------------------------------------------------------------------ */

struct env {
    char dir[64];
    struct evt_service *svc;
};

/* A service over a fresh store, no kernel log and no checks. */
static void env_start(struct env *e)
{
    snprintf(e->dir, sizeof(e->dir), "/tmp/cairn-evapi-XXXXXX");
    cr_assert_not_null(mkdtemp(e->dir));
    char db[128];
    snprintf(db, sizeof(db), "%s/events.db", e->dir);
    char procfs[128];
    snprintf(procfs, sizeof(procfs), "%s/proc", e->dir); /* no boot id: no Reboot check */
    struct evt_service_opts o = {.db_path = db, .procfs = procfs, .flush_interval_ms = 50};
    cr_assert_eq(evt_service_start(&o, &e->svc), 0);
    cr_assert_eq(evt_service_flush(e->svc, 10000), 0); /* the store is open */
}

static void env_stop(struct env *e)
{
    evt_service_stop(e->svc);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    cr_assert_eq(system(cmd), 0);
}

static void add(struct env *e, int64_t ts_s, const char *type, enum evt_severity sev,
                enum evt_source src, const char *msg)
{
    struct evt_event ev;
    evt_event_init(&ev);
    ev.ts_ns = ts_s * 1000000000LL;
    ev.severity = sev;
    ev.source = src;
    cr_assert_eq(evt_event_set_type(&ev, type), 0);
    cr_assert_eq(evt_event_set_message(&ev, msg, strlen(msg)), 0);
    cr_assert_eq(evt_event_set_attr(&ev, "pid", "42", 2), 0);
    cr_assert(evt_service_submit(e->svc, &ev));
}

/* GET /api/v1/events?query: the status code and the parsed body. */
static json_t *get(struct env *e, const char *query, unsigned *code)
{
    struct agent_params p = {0};
    cr_assert_eq(agent_form_parse(&p, query, strlen(query)), 0);
    struct agent_api_reply r = {0};
    cn_buf_init(&r.body);
    agent_events_api(e ? e->svc : NULL, &p, &r);
    agent_params_free(&p);
    *code = r.code;
    cr_assert_str_eq(r.content_type, "application/json");
    json_error_t jerr;
    json_t *doc = json_loadb(r.body.data, r.body.len, 0, &jerr);
    cr_assert_not_null(doc, "%s: %.*s", jerr.text, (int)r.body.len, r.body.data);
    cn_buf_free(&r.body);
    return doc;
}

/* The types of the events answered, space-separated, in order. */
static void types_of(json_t *doc, char *out, size_t cap)
{
    out[0] = '\0';
    json_t *evs = json_object_get(json_object_get(doc, "data"), "events");
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? " " : "",
                 json_string_value(json_object_get(ev, "type")));
    }
}

static void fill(struct env *e)
{
    add(e, 1000, "Reboot", EVT_SEV_WARNING, EVT_SRC_OS, "host rebooted");
    add(e, 2000, "OOMKill", EVT_SEV_CRITICAL, EVT_SRC_KERNEL,
        "Out of memory: Killed process 4242 (java)");
    add(e, 3000, "LinkUp", EVT_SEV_INFO, EVT_SRC_HARDWARE, "eth0: link up");
    add(e, 4000, "OOMKill", EVT_SEV_CRITICAL, EVT_SRC_KERNEL,
        "Out of memory: Killed process 5151 (python3)");
    add(e, 5000, "IOError", EVT_SEV_WARNING, EVT_SRC_KERNEL, "I/O error, dev sda, sector 8");
    cr_assert_eq(evt_service_flush(e->svc, 10000), 0);
}

Test(agent_events, api_event_document)
{
    struct env e;
    env_start(&e);
    add(&e, 1700000000, "OOMKill", EVT_SEV_CRITICAL, EVT_SRC_KERNEL, "Killed <java> & more");
    cr_assert_eq(evt_service_flush(e.svc, 10000), 0);
    unsigned code;
    json_t *doc = get(&e, "", &code);
    cr_assert_eq(code, 200);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "success");
    json_t *data = json_object_get(doc, "data");
    cr_assert(json_is_null(json_object_get(data, "next_cursor")));
    json_t *ev = json_array_get(json_object_get(data, "events"), 0);
    cr_assert_eq(json_integer_value(json_object_get(ev, "id")), 1);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "time")), "2023-11-14T22:13:20Z");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "source")), "kernel");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "OOMKill");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "severity")), "critical");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "message")), "Killed <java> & more");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "attributes"), "pid")),
                     "42");
    char host[256];
    gethostname(host, sizeof(host));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(ev, "labels"), "hostname")),
                     host);
    json_decref(doc);

    /* Fractions as Go's RFC3339Nano writes them: trailing zeros dropped. */
    struct evt_event ev2;
    evt_event_init(&ev2);
    ev2.ts_ns = 1700000000123456700LL;
    cr_assert_eq(evt_event_set_type(&ev2, "LinkUp"), 0);
    cr_assert(evt_service_submit(e.svc, &ev2));
    cr_assert_eq(evt_service_flush(e.svc, 10000), 0);
    doc = get(&e, "type=LinkUp", &code);
    ev = json_array_get(json_object_get(json_object_get(doc, "data"), "events"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(ev, "time")),
                     "2023-11-14T22:13:20.1234567Z");
    cr_assert_str_eq(json_string_value(json_object_get(ev, "message")), "");
    json_decref(doc);
    env_stop(&e);
}

Test(agent_events, api_filters)
{
    struct env e;
    env_start(&e);
    fill(&e);
    static const struct {
        const char *query, *types;
    } cases[] = {
        {"", "IOError OOMKill LinkUp OOMKill Reboot"},
        {"type=OOMKill", "OOMKill OOMKill"},
        {"type=OOMKill,Reboot", "OOMKill OOMKill Reboot"},
        {"type=Reboot&type=LinkUp", "LinkUp Reboot"},
        {"severity=warning", "IOError OOMKill OOMKill Reboot"},
        {"severity=critical", "OOMKill OOMKill"},
        {"source=kernel", "IOError OOMKill OOMKill"},
        {"start=2000&end=4000", "OOMKill LinkUp OOMKill"},
        {"start=1970-01-01T00:50:00Z", "IOError OOMKill LinkUp"},
        {"match=python3", "OOMKill"},
        {"match=/Killed process [0-9]{4} \\(java\\)/", "OOMKill"},
        {"match=/^eth[0-9]/", "LinkUp"},
        {"limit=2", "IOError OOMKill"},
        {"after=3", "OOMKill IOError"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned code;
        char q[256], types[256];
        /* Form encoding: '+' would be a space; the tests' queries have none. */
        snprintf(q, sizeof(q), "%s", cases[i].query);
        json_t *doc = get(&e, q, &code);
        cr_assert_eq(code, 200, "%s", q);
        types_of(doc, types, sizeof(types));
        cr_assert_str_eq(types, cases[i].types, "%s", q);
        json_decref(doc);
    }
    env_stop(&e);
}

Test(agent_events, api_cursor_pages_through_everything_once)
{
    struct env e;
    env_start(&e);
    fill(&e);
    char q[128] = "limit=2", all[256] = "";
    for (int page = 0; page < 5; page++) {
        unsigned code;
        json_t *doc = get(&e, q, &code);
        cr_assert_eq(code, 200);
        char types[128];
        types_of(doc, types, sizeof(types));
        size_t n = strlen(all);
        snprintf(all + n, sizeof(all) - n, "%s%s", n ? " " : "", types);
        const char *next =
            json_string_value(json_object_get(json_object_get(doc, "data"), "next_cursor"));
        if (!next) {
            json_decref(doc);
            break;
        }
        snprintf(q, sizeof(q), "limit=2&cursor=%s", next);
        json_decref(doc);
    }
    cr_assert_str_eq(all, "IOError OOMKill LinkUp OOMKill Reboot");
    env_stop(&e);
}

Test(agent_events, api_errors)
{
    struct env e;
    env_start(&e);
    static const struct {
        const char *query, *msg;
    } cases[] = {
        {"severity=loud",
         "invalid parameter \"severity\": \"loud\" is not one of info, warning, critical"},
        {"source=moon", "invalid parameter \"source\": \"moon\" is not one of kernel, os, "
                        "hardware, plugin, agent"},
        {"type=oom_kill", "invalid parameter \"type\": \"oom_kill\" is not an event type "
                          "(CamelCase)"},
        {"limit=0", "invalid parameter \"limit\": must be a number from 1 to 10000"},
        {"limit=10001", "invalid parameter \"limit\": must be a number from 1 to 10000"},
        {"start=yesterday",
         "invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp"},
        {"start=20&end=10", "end timestamp must not be before start time"},
        {"cursor=abc", "invalid parameter \"cursor\": \"abc\" is not a cursor this API returned"},
        {"after=-3", "invalid parameter \"after\": \"-3\" is not an event id"},
        {"after=3&cursor=10-2", "the parameters \"after\" and \"cursor\" cannot be combined"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned code;
        json_t *doc = get(&e, cases[i].query, &code);
        cr_assert_eq(code, 400, "%s", cases[i].query);
        cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "error");
        cr_assert_str_eq(json_string_value(json_object_get(doc, "errorType")), "bad_data");
        cr_assert_str_eq(json_string_value(json_object_get(doc, "error")), cases[i].msg);
        json_decref(doc);
    }
    /* A broken regular expression names the problem and where it is. */
    unsigned code;
    json_t *doc = get(&e, "match=/(unclosed/", &code);
    cr_assert_eq(code, 400);
    const char *msg = json_string_value(json_object_get(doc, "error"));
    cr_assert(!strncmp(msg, "invalid parameter \"match\": error parsing regexp: ", 49), "%s", msg);
    cr_assert_not_null(strstr(msg, "at offset"), "%s", msg);
    json_decref(doc);
    env_stop(&e);
    /* No service at all. */
    doc = get(NULL, "", &code);
    cr_assert_eq(code, 503);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "errorType")), "unavailable");
    json_decref(doc);
}
