/*
 * The agent's side of the event store: the rule set a configuration names,
 * the service it starts, and GET /api/v1/events.
 *
 * Rules. The built-in default rules come first (unless
 * events.default_rules is false), then each events.rules_files entry in
 * order; an entry is a glob pattern, its matches taken in sorted order. A
 * pattern with wildcards that matches nothing is fine (an empty rules.d);
 * a plain path that does not exist is an error, as is any rule error,
 * reported as "file:line:column: what". The glob walk is agent_glob_each
 * (config.c), which the plugin files use too.
 *
 * The API answers in the shape of the rest of /api/v1: {"status":
 * "success","data":{"events":[...],"next_cursor":...}}, errors as
 * {"status":"error","errorType":"bad_data",...} with status 400. Events
 * come newest first, `limit` at a time; next_cursor (opaque, "TS-ID")
 * continues with the older ones. `after=ID` instead returns the events
 * stored after event ID, oldest first, which is how `cairn events -f`
 * follows.
 */
#include "agent/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "events/events.h"

#define DEFAULT_LIMIT 100
#define MAX_LIMIT 10000
#define MAX_TYPES 64

/* ---- rules -------------------------------------------------------------------- */

struct rules_files_ctx {
    struct evt_rules *rules;
    char *err;
    size_t errcap;
};

/* agent_glob_each's callback: appends one rules file. */
static int load_rules_file(const char *path, void *ctx)
{
    struct rules_files_ctx *c = ctx;
    return evt_rules_load_file(c->rules, path, c->err, c->errcap);
}

int agent_events_rules(const struct agent_config *cfg, struct evt_rules **out, char *err,
                       size_t errcap)
{
    struct evt_rules *r = NULL;
    int rc = evt_rules_create(&r);
    if (rc)
        return rc;
    if (cfg->events_default_rules) {
        size_t len;
        const char *text = evt_default_rules(&len);
        rc = evt_rules_load(r, EVT_DEFAULT_RULES_NAME, text, len, err, errcap);
    }
    if (!rc) {
        struct rules_files_ctx c = {.rules = r, .err = err, .errcap = errcap};
        rc = agent_glob_each(cfg->events_rules_files, load_rules_file, &c, "rules file", err,
                             errcap);
    }
    if (rc) {
        evt_rules_destroy(r);
        return rc;
    }
    *out = r;
    return 0;
}

int agent_events_start(const struct agent_config *cfg, struct evt_service **out, char *err,
                       size_t errcap)
{
    struct evt_rules *rules = NULL;
    int rc = agent_events_rules(cfg, &rules, err, errcap);
    if (rc)
        return rc;
    char db[4096];
    const char *path = cfg->events_path;
    if (!path || !path[0]) {
        if (!cn_path_join(db, sizeof(db), cfg->storage_path, "events.db", NULL)) {
            evt_rules_destroy(rules);
            snprintf(err, errcap, "the event store path is too long");
            return -ENAMETOOLONG;
        }
        path = db;
    }
    struct evt_service_opts o = {
        .db_path = path,
        .retention_ns = cfg->events_retention_ms * 1000000,
        .retention_count = (uint64_t)cfg->events_retention_count,
        .kmsg_path = cfg->kmsg_path,
        .procfs = cfg->paths.procfs,
        .sysfs = cfg->paths.sysfs,
        .rules = rules,
        .flush_interval_ms = cfg->events_flush_ms,
        .check_interval_ms = cfg->interval_ms,
        .queue_size = (size_t)cfg->events_queue_size,
    };
    rc = evt_service_start(&o, out);
    if (rc)
        snprintf(err, errcap, "cannot start the event service: %s", strerror(-rc));
    return rc;
}

/* ---- GET /api/v1/events ----------------------------------------------------------- */

/* RFC 3339 with nanoseconds, UTC, as Go's time.RFC3339Nano writes it
 * (trailing zeros of the fraction dropped). */
static void json_rfc3339(struct cn_buf *b, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    struct tm tm;
    gmtime_r(&sec, &tm);
    char out[64];
    size_t n = strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%S", &tm);
    if (frac) {
        int digits = 9;
        for (; frac % 10 == 0; frac /= 10)
            digits--;
        snprintf(out + n, sizeof(out) - n, ".%0*ldZ", digits, frac);
    } else {
        snprintf(out + n, sizeof(out) - n, "Z");
    }
    cn_buf_putc(b, '"');
    cn_buf_puts(b, out);
    cn_buf_putc(b, '"');
}

static void json_event(struct cn_buf *b, const struct evt_event *ev, const char *host)
{
    cn_buf_printf(b, "{\"id\":%" PRId64 ",\"time\":", ev->id);
    json_rfc3339(b, ev->ts_ns);
    cn_buf_puts(b, ",\"source\":");
    agent_json_string(b, evt_source_name(ev->source));
    cn_buf_puts(b, ",\"type\":");
    agent_json_string(b, ev->type);
    cn_buf_puts(b, ",\"severity\":");
    agent_json_string(b, evt_severity_name(ev->severity));
    cn_buf_puts(b, ",\"message\":");
    agent_json_string(b, ev->message ? ev->message : "");
    cn_buf_puts(b, ",\"attributes\":{");
    for (size_t i = 0; i < ev->nattrs; i++) {
        if (i)
            cn_buf_putc(b, ',');
        agent_json_string(b, ev->attrs[i].name);
        cn_buf_putc(b, ':');
        agent_json_string(b, ev->attrs[i].value);
    }
    cn_buf_puts(b, "},\"labels\":{\"hostname\":");
    agent_json_string(b, host);
    cn_buf_puts(b, "}}");
}

static void bad_data(struct agent_api_reply *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void bad_data(struct agent_api_reply *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    agent_api_error(r, "bad_data", 400, msg);
}

/* A time parameter in ns; `end` rounds up to the end of its millisecond. */
static bool time_param(const struct agent_params *p, const char *name, bool end, int64_t *ns,
                       struct agent_api_reply *r)
{
    const char *v = agent_params_get(p, name);
    if (!v || !v[0])
        return true;
    int64_t ms;
    if (agent_parse_time(v, &ms) || ms > INT64_MAX / 1000000 - 1 || ms < INT64_MIN / 1000000) {
        bad_data(r, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp", name, v);
        return false;
    }
    *ns = ms * 1000000 + (end ? 999999 : 0);
    return true;
}

/* Splits every `type` parameter on commas into types (pointers into buf). */
static bool type_params(const struct agent_params *p, char *buf, size_t cap, const char **types,
                        size_t *n, struct agent_api_reply *r)
{
    size_t used = 0;
    *n = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, "type"))
            continue;
        size_t len = strlen(p->v[i].value);
        if (used + len + 1 > cap) {
            bad_data(r, "invalid parameter \"type\": too many types");
            return false;
        }
        char *s = memcpy(buf + used, p->v[i].value, len + 1);
        used += len + 1;
        for (char *save = NULL, *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (!evt_type_valid(t)) {
                bad_data(r, "invalid parameter \"type\": \"%s\" is not an event type (CamelCase)",
                         t);
                return false;
            }
            if (*n == MAX_TYPES) {
                bad_data(r, "invalid parameter \"type\": at most %d types", MAX_TYPES);
                return false;
            }
            types[(*n)++] = t;
        }
    }
    return true;
}

/* Parses the query parameters into q; false after replying with an error. */
static bool parse_query(const struct agent_params *p, struct evt_query *q, char *typebuf,
                        size_t typecap, const char **types, struct agent_api_reply *r)
{
    memset(q, 0, sizeof(*q));
    q->start_ns = INT64_MIN;
    q->end_ns = INT64_MAX;
    q->source = -1;
    q->limit = DEFAULT_LIMIT;
    q->types = types;
    if (!time_param(p, "start", false, &q->start_ns, r) ||
        !time_param(p, "end", true, &q->end_ns, r) ||
        !type_params(p, typebuf, typecap, types, &q->ntypes, r))
        return false;
    if (q->end_ns < q->start_ns) {
        bad_data(r, "end timestamp must not be before start time");
        return false;
    }
    const char *v = agent_params_get(p, "severity");
    if (v && v[0] && evt_severity_parse(v, &q->min_severity)) {
        bad_data(r, "invalid parameter \"severity\": \"%s\" is not one of info, warning, critical",
                 v);
        return false;
    }
    v = agent_params_get(p, "source");
    if (v && v[0]) {
        enum evt_source src;
        if (evt_source_parse(v, &src)) {
            bad_data(r,
                     "invalid parameter \"source\": \"%s\" is not one of kernel, os, hardware, "
                     "plugin, agent",
                     v);
            return false;
        }
        q->source = (int)src;
    }
    v = agent_params_get(p, "match");
    if (v && v[0]) {
        size_t len = strlen(v);
        /* "/regex/" is a regular expression; anything else a substring. */
        q->match_regex = len >= 2 && v[0] == '/' && v[len - 1] == '/';
        q->match = v;
    }
    v = agent_params_get(p, "limit");
    if (v && v[0]) {
        uint64_t n;
        if (cn_parse_u64(v, &n) || n < 1 || n > MAX_LIMIT) {
            bad_data(r, "invalid parameter \"limit\": must be a number from 1 to %d", MAX_LIMIT);
            return false;
        }
        q->limit = (size_t)n;
    }
    v = agent_params_get(p, "cursor");
    if (v && v[0]) {
        const char *dash = strchr(v + 1, '-');
        char ts[32] = "";
        if (dash && (size_t)(dash - v) < sizeof(ts))
            memcpy(ts, v, (size_t)(dash - v));
        if (!ts[0] || cn_parse_i64(ts, &q->cursor_ts_ns) || cn_parse_i64(dash + 1, &q->cursor_id) ||
            q->cursor_id < 1) {
            bad_data(r, "invalid parameter \"cursor\": \"%s\" is not a cursor this API returned",
                     v);
            return false;
        }
        q->has_cursor = true;
    }
    v = agent_params_get(p, "after");
    if (v && v[0]) {
        if (cn_parse_i64(v, &q->after_id) || q->after_id < 0) {
            bad_data(r, "invalid parameter \"after\": \"%s\" is not an event id", v);
            return false;
        }
        if (q->has_cursor) {
            bad_data(r, "the parameters \"after\" and \"cursor\" cannot be combined");
            return false;
        }
    }
    return true;
}

void agent_events_api(struct evt_service *svc, const struct agent_params *p,
                      struct agent_api_reply *r)
{
    char typebuf[2048];
    const char *types[MAX_TYPES];
    struct evt_query q;
    if (!parse_query(p, &q, typebuf, sizeof(typebuf), types, r))
        return;
    if (!svc) {
        agent_api_error(r, "unavailable", 503, "the event store is not running");
        return;
    }
    /* A "/regex/" is handed over without its slashes. */
    char *pattern = NULL;
    if (q.match_regex) {
        pattern = cn_strndup(q.match + 1, strlen(q.match) - 2);
        if (!pattern) {
            agent_api_error(r, "internal", 500, "out of memory");
            return;
        }
        q.match = pattern;
    }
    struct evt_result res;
    char err[512] = "";
    int rc = evt_service_query(svc, &q, &res, err, sizeof(err));
    free(pattern);
    if (rc == -EINVAL) {
        bad_data(r, "invalid parameter \"match\": %s", err);
        return;
    }
    if (rc) {
        agent_api_error(r, rc == -EAGAIN ? "unavailable" : "internal", rc == -EAGAIN ? 503 : 500,
                        err[0] ? err : strerror(-rc));
        return;
    }
    struct utsname u;
    const char *host = uname(&u) == 0 ? u.nodename : "";
    cn_buf_reset(&r->body);
    r->code = 200;
    r->content_type = "application/json";
    cn_buf_puts(&r->body, "{\"status\":\"success\",\"data\":{\"events\":[");
    for (size_t i = 0; i < res.n; i++) {
        if (i)
            cn_buf_putc(&r->body, ',');
        json_event(&r->body, &res.events[i], host);
    }
    cn_buf_puts(&r->body, "],\"next_cursor\":");
    if (res.more && res.n && !q.after_id)
        cn_buf_printf(&r->body, "\"%" PRId64 "-%" PRId64 "\"", res.events[res.n - 1].ts_ns,
                      res.events[res.n - 1].id);
    else
        cn_buf_puts(&r->body, "null");
    cn_buf_puts(&r->body, "}}");
    evt_result_free(&res);
    if (r->body.err)
        agent_api_error(r, "internal", 500, "out of memory");
}
