/*
 * `cairn events`: the host's events from a running agent's
 * GET /api/v1/events.
 *
 *   cairn events [--since 2h] [--until T] [--type T]... [--severity S]
 *                [--source S] [--match M] [--limit N] [-f] [-o table|json]
 *
 * Without -f it fetches up to --limit events (newest first, page by page
 * with the API's cursor) and prints them oldest first, as a log reads. With
 * -f it then keeps asking for events stored after the newest one it has
 * seen (the API's `after`), once a second, and prints them as they come,
 * until interrupted.
 *
 * Output is a table on a terminal or with -o table (local time, severity,
 * source, type, message and attributes), else JSON Lines: one event object
 * a line, as the API returns it, which is what scripts and jq want. Errors
 * go to stderr with exit status 1; usage errors exit with 2.
 */
#include "agent/internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define DEFAULT_SERVER "http://localhost:9100"
#define DEFAULT_LIMIT 1000
#define PAGE 1000
#define FOLLOW_MS 1000

struct eopts {
    const char *server, *since, *until, *severity, *source, *match;
    const char *types[64];
    size_t ntypes;
    long limit;
    bool follow, json;
};

static void events_usage(FILE *out)
{
    fprintf(out,
            "usage: cairn events [flags]\n\n"
            "Flags:\n"
            "  --server=URL       the agent (default " DEFAULT_SERVER ")\n"
            "  --since=D          only events of the last D (e.g. 2h, 30m, 7d; default: all)\n"
            "  --until=T          only events up to T (Unix seconds or RFC 3339)\n"
            "  --type=T           only events of type T (repeat or comma-separate for several)\n"
            "  --severity=S       only events of severity S or worse: info, warning, critical\n"
            "  --source=S         only events from kernel, os, hardware, plugin or agent\n"
            "  --match=M          only events whose message contains M (/M/: a regex)\n"
            "  --limit=N          at most N events before following (default 1000)\n"
            "  -f, --follow       keep printing new events as they are stored\n"
            "  -o, --output=FMT   table or json (JSON Lines) (default: table on a terminal)\n");
}

static int parse_args(int argc, char **argv, struct eopts *o)
{
    bool table = false, json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-f") || !strcmp(a, "--follow")) {
            o->follow = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            events_usage(stdout);
            exit(0);
        }
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        static const char *const names[] = {"--server",   "--since",  "--until", "--type",
                                            "--severity", "--source", "--match", "--limit",
                                            "--output",   "-o"};
        int which = -1;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strlen(names[k]) == klen && !strncmp(a, names[k], klen))
                which = (int)k;
        if (which < 0) {
            fprintf(stderr, "cairn: error: unknown flag or argument %.*s\n", (int)klen, a);
            return EXIT_USAGE;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "cairn: error: flag %s needs a value\n", names[which]);
            return EXIT_USAGE;
        }
        switch (which) {
        case 0: o->server = v; break;
        case 1: o->since = v; break;
        case 2: o->until = v; break;
        case 3:
            if (o->ntypes == sizeof(o->types) / sizeof(o->types[0])) {
                fprintf(stderr, "cairn: error: too many --type flags\n");
                return EXIT_USAGE;
            }
            o->types[o->ntypes++] = v;
            break;
        case 4: o->severity = v; break;
        case 5: o->source = v; break;
        case 6: o->match = v; break;
        case 7: {
            int64_t n;
            if (cn_parse_i64(v, &n) || n < 1) {
                fprintf(stderr, "cairn: error: --limit must be a positive number\n");
                return EXIT_USAGE;
            }
            o->limit = (long)n;
            break;
        }
        default:
            table = !strcmp(v, "table");
            json = !strcmp(v, "json");
            if (!table && !json) {
                fprintf(stderr, "cairn: error: output format must be table or json, not \"%s\"\n",
                        v);
                return EXIT_USAGE;
            }
        }
    }
    o->json = json || (!table && !isatty(STDOUT_FILENO));
    return 0;
}

/* Appends &name=value, escaped. */
static void form_add(struct cn_buf *f, const char *name, const char *value)
{
    char *v = curl_easy_escape(NULL, value, 0);
    if (!v) {
        f->err = -ENOMEM;
        return;
    }
    cn_buf_printf(f, "%s%s=%s", f->len ? "&" : "", name, v);
    curl_free(v);
}

/* The filters shared by every request. */
static int base_form(const struct eopts *o, struct cn_buf *f)
{
    if (o->since) {
        int64_t ms;
        if (cn_duration_parse(o->since, &ms) || ms <= 0) {
            fprintf(stderr, "cairn: error: --since must be a duration such as 2h or 30m\n");
            return EXIT_USAGE;
        }
        char start[32];
        int64_t t = cn_now_ms() - ms;
        snprintf(start, sizeof(start), "%" PRId64 ".%03d", t / 1000, (int)(t % 1000));
        form_add(f, "start", start);
    }
    if (o->until)
        form_add(f, "end", o->until);
    for (size_t i = 0; i < o->ntypes; i++)
        form_add(f, "type", o->types[i]);
    if (o->severity)
        form_add(f, "severity", o->severity);
    if (o->source)
        form_add(f, "source", o->source);
    if (o->match)
        form_add(f, "match", o->match);
    return 0;
}

/* "2026-11-21T03:12:00.123456789Z" as local time with milliseconds. */
static void local_time(const char *rfc, char *out, size_t cap)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(rfc, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) {
        snprintf(out, cap, "%s", rfc);
        return;
    }
    int ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            if (digits++ < 3)
                ms = ms * 10 + (*rest - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    time_t t = timegm(&tm);
    struct tm lt;
    localtime_r(&t, &lt);
    char buf[64];
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &lt);
    snprintf(out, cap, "%s.%03d", buf, ms);
}

/* A string member, or "". */
static const char *jstr(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

static void print_event(json_t *ev, bool json)
{
    if (json) {
        char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            printf("%s\n", line);
        free(line);
        return;
    }
    char when[80];
    local_time(jstr(ev, "time"), when, sizeof(when));
    printf("%-23s  %-8s  %-8s  %-20s  %s", when, jstr(ev, "severity"), jstr(ev, "source"),
           jstr(ev, "type"), jstr(ev, "message"));
    json_t *attrs = json_object_get(ev, "attributes");
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(attrs, k, v)
    {
        const char *val = json_string_value(v);
        printf("%s%s=%s", first ? "  {" : " ", k, val ? val : "");
        first = false;
    }
    printf("%s\n", first ? "" : "}");
}

/* One request; 0 with the answer's events array (borrowed from *doc). */
static int fetch(const struct eopts *o, const char *form, json_t **doc, json_t **events)
{
    struct cn_buf raw;
    cn_buf_init(&raw);
    void *d = NULL;
    int rc = agent_api_call(o->server ? o->server : DEFAULT_SERVER, "/api/v1/events", false, form,
                            &raw, &d);
    cn_buf_free(&raw);
    *doc = d;
    *events = json_object_get(json_object_get(*doc, "data"), "events");
    if (!rc && !json_is_array(*events)) {
        fprintf(stderr, "cairn: error: the server's answer has no events\n");
        rc = 1;
    }
    return rc;
}

/* The highest event id in events, or `have`. */
static int64_t max_id(json_t *events, int64_t have)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        int64_t id = (int64_t)json_integer_value(json_object_get(ev, "id"));
        if (id > have)
            have = id;
    }
    return have;
}

/* Lists up to o->limit events, oldest first; *last is the newest id seen. */
static int list(const struct eopts *o, const char *filters, int64_t *last)
{
    json_t *all = json_array();
    char *cursor = NULL;
    int rc = all ? 0 : 1;
    while (!rc && json_array_size(all) < (size_t)o->limit) {
        struct cn_buf f;
        cn_buf_init(&f);
        cn_buf_puts(&f, filters);
        char lim[24];
        size_t want = (size_t)o->limit - json_array_size(all);
        snprintf(lim, sizeof(lim), "%zu", want < PAGE ? want : PAGE);
        form_add(&f, "limit", lim);
        if (cursor)
            form_add(&f, "cursor", cursor);
        json_t *doc = NULL, *events = NULL;
        rc = f.err ? 1 : fetch(o, cn_buf_cstr(&f), &doc, &events);
        cn_buf_free(&f);
        if (!rc) {
            json_array_extend(all, events);
            const char *next =
                json_string_value(json_object_get(json_object_get(doc, "data"), "next_cursor"));
            free(cursor);
            cursor = next ? strdup(next) : NULL;
        }
        json_decref(doc);
        if (!cursor)
            break;
    }
    free(cursor);
    if (!rc) {
        for (size_t i = json_array_size(all); i-- > 0;)
            print_event(json_array_get(all, i), o->json);
        *last = max_id(all, *last);
    }
    json_decref(all);
    fflush(stdout);
    return rc;
}

/* The newest event id on the server whatever the filters, so following
 * starts from now even when nothing matched yet. */
static int newest_id(const struct eopts *o, int64_t *id)
{
    json_t *doc = NULL, *events = NULL;
    int rc = fetch(o, "limit=1", &doc, &events);
    if (!rc)
        *id = max_id(events, *id);
    json_decref(doc);
    return rc;
}

static int follow(const struct eopts *o, const char *filters, int64_t last)
{
    for (;;) {
        usleep(FOLLOW_MS * 1000);
        struct cn_buf f;
        cn_buf_init(&f);
        cn_buf_puts(&f, filters);
        char after[24];
        snprintf(after, sizeof(after), "%" PRId64, last);
        form_add(&f, "after", after);
        form_add(&f, "limit", "1000");
        json_t *doc = NULL, *events = NULL;
        int rc = f.err ? 1 : fetch(o, cn_buf_cstr(&f), &doc, &events);
        cn_buf_free(&f);
        if (rc) {
            json_decref(doc);
            return rc;
        }
        size_t i;
        json_t *ev;
        json_array_foreach(events, i, ev) print_event(ev, o->json);
        last = max_id(events, last);
        json_decref(doc);
        fflush(stdout);
    }
}

int agent_events_main(int argc, char **argv)
{
    struct eopts o = {.limit = DEFAULT_LIMIT};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    struct cn_buf filters;
    cn_buf_init(&filters);
    rc = base_form(&o, &filters);
    if (!rc && filters.err) {
        fprintf(stderr, "cairn: error: out of memory\n");
        rc = 1;
    }
    int64_t last = 0;
    if (!rc)
        rc = list(&o, cn_buf_cstr(&filters), &last);
    if (!rc && o.follow) {
        /* Following ignores the time range: new events are newer anyway. */
        struct cn_buf ff;
        cn_buf_init(&ff);
        struct eopts fo = o;
        fo.since = fo.until = NULL;
        base_form(&fo, &ff);
        rc = newest_id(&o, &last);
        if (!rc)
            rc = follow(&o, cn_buf_cstr(&ff), last);
        cn_buf_free(&ff);
    }
    cn_buf_free(&filters);
    return rc;
}
