/*
 * `cairn query`: PromQL and metadata queries against a running agent (or
 * any Prometheus-compatible server) over the HTTP API.
 *
 *   cairn query [instant] [--time T] EXPR      an instant query
 *   cairn query range [--start T] [--end T] [--step D] EXPR
 *   cairn query series [--start T] [--end T] MATCHER...
 *   cairn query labels [--start T] [--end T] [--match M]... [NAME]
 *                                              label names, or NAME's values
 *
 * Every form takes --server URL (default http://localhost:9100, the
 * agent's default listen address), -o table|json and --timeout D. Times
 * are Unix seconds, RFC 3339, "now" or "now-1h"/"now+5m".
 *
 * Requests are POSTed form-encoded (label values: GET), as promtool sends
 * them, with libcurl; answers are read with jansson. Output is a table
 * when stdout is a terminal or with -o table, else (or with -o json) the
 * server's JSON as it came. Errors go to stderr with exit status 1: an
 * unreachable server with curl's reason, an API error as
 * "errorType: message"; a usage error exits with 2.
 */
#include "agent/internal.h"
#include "cairn_version.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define DEFAULT_SERVER "http://localhost:9100"
/* A range query's default span, and the resolution Prometheus' UI and
 * promtool pick: a 250th of the span, at least a second. */
#define DEFAULT_RANGE_S 3600
#define RANGE_POINTS 250

enum output { OUT_AUTO, OUT_TABLE, OUT_JSON };

struct qopts {
    const char *server;
    enum output out;
    const char *time, *start, *end, *step, *timeout;
    const char **match; /* --match, repeated */
    size_t nmatch;
    const char **args; /* positional */
    size_t nargs;
};

static void query_usage(FILE *out)
{
    fprintf(out,
            "usage: cairn query [instant] [flags] EXPR\n"
            "       cairn query range [--start=T] [--end=T] [--step=D] [flags] EXPR\n"
            "       cairn query series [--start=T] [--end=T] [flags] MATCHER...\n"
            "       cairn query labels [--start=T] [--end=T] [--match=M]... [flags] [NAME]\n\n"
            "Flags:\n"
            "  --server=URL      the agent or Prometheus server (default " DEFAULT_SERVER ")\n"
            "  -o, --output=FMT  table or json (default: table on a terminal, else json)\n"
            "  --time=T          evaluation time of an instant query (default now)\n"
            "  --start=T         start of a range (range: end - 1h; series, labels: all)\n"
            "  --end=T           end of a range (default now; series, labels: all)\n"
            "  --step=D          resolution of a range query (default span / 250, >= 1s)\n"
            "  --timeout=D       evaluation timeout sent to the server\n"
            "  --match=M         series selector restricting label names or values\n\n"
            "Times: Unix seconds, RFC 3339, now, now-1h, now+5m. Durations: 15s, 1m30s, 0.5.\n");
}

/* ---- arguments ---------------------------------------------------------------------- */

/* Parses flags and positional arguments from argv[first..]. */
static int parse_args(int argc, char **argv, int first, struct qopts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } flags[] = {
        {"--server", offsetof(struct qopts, server)},
        {"--time", offsetof(struct qopts, time)},
        {"--start", offsetof(struct qopts, start)},
        {"--end", offsetof(struct qopts, end)},
        {"--step", offsetof(struct qopts, step)},
        {"--timeout", offsetof(struct qopts, timeout)},
        {"--output", 0},
        {"-o", 0},
        {"--match", 0},
    };
    bool positional_only = false;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (positional_only || a[0] != '-' || !strcmp(a, "-")) {
            o->args[o->nargs++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            positional_only = true;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        int which = -1;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == klen && !strncmp(a, flags[k].name, klen))
                which = (int)k;
        if (which < 0) {
            fprintf(stderr, "cairn: error: unknown flag %.*s\n", (int)klen, a);
            return EXIT_USAGE;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "cairn: error: flag %s needs a value\n", flags[which].name);
            return EXIT_USAGE;
        }
        const char *name = flags[which].name;
        if (!strcmp(name, "--match")) {
            o->match[o->nmatch++] = val;
        } else if (!strcmp(name, "--output") || !strcmp(name, "-o")) {
            if (!strcmp(val, "table"))
                o->out = OUT_TABLE;
            else if (!strcmp(val, "json"))
                o->out = OUT_JSON;
            else {
                fprintf(stderr, "cairn: error: output format must be table or json, not \"%s\"\n",
                        val);
                return EXIT_USAGE;
            }
        } else {
            *(const char **)((char *)o + flags[which].off) = val;
        }
    }
    return 0;
}

/* Unix seconds with milliseconds, exactly ("1700000000.123"). */
static void format_ms(int64_t ms, char *out, size_t cap)
{
    snprintf(out, cap, "%s%lld.%03lld", ms < 0 ? "-" : "", (long long)(ms < 0 ? -ms : ms) / 1000,
             (long long)(ms < 0 ? -ms : ms) % 1000);
}

/*
 * A time argument for the server: "now" and "now±DURATION" become Unix
 * seconds here (the server has no such syntax); anything else is passed
 * on as written, for the server to judge. out holds >= 32 bytes.
 */
static int resolve_time(const char *s, int64_t now_ms, char *out, size_t cap, const char **res)
{
    if (strncmp(s, "now", 3) != 0) {
        *res = s;
        return 0;
    }
    int64_t t = now_ms;
    if (s[3]) {
        int64_t ms;
        if ((s[3] != '-' && s[3] != '+') || cn_duration_parse(s + 4, &ms)) {
            fprintf(stderr, "cairn: error: \"%s\" is not a time (now, now-1h, now+5m)\n", s);
            return EXIT_USAGE;
        }
        t += s[3] == '-' ? -ms : ms;
    }
    format_ms(t, out, cap);
    *res = out;
    return 0;
}

/* Seconds a time argument stands for, when it is a number or "now..." (for
 * the default step); NAN otherwise. */
static double seconds_of(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    return end != s && !*end ? v : NAN;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static size_t collect(char *data, size_t size, size_t n, void *ctx)
{
    struct cn_buf *b = ctx;
    cn_buf_append(b, data, size * n);
    return b->err ? 0 : size * n;
}

/* Adds name=value, URL-escaped, to a form being built. */
static void form_add(CURL *c, struct cn_buf *form, const char *name, const char *value)
{
    if (!value)
        return;
    char *n = curl_easy_escape(c, name, 0), *v = curl_easy_escape(c, value, 0);
    if (form->len)
        cn_buf_putc(form, '&');
    cn_buf_printf(form, "%s=%s", n ? n : "", v ? v : "");
    curl_free(n);
    curl_free(v);
}

/* Sends the request (POST with the form as body, or GET with it as query
 * string) and checks the answer; see internal.h. */
int agent_api_call(const char *server, const char *path, bool post, const char *form,
                   struct cn_buf *raw, void **docp)
{
    json_t **doc = (json_t **)docp;
    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "cairn: error: cannot initialise libcurl\n");
        return 1;
    }
    struct cn_buf url;
    cn_buf_init(&url);
    size_t slen = strlen(server);
    while (slen && server[slen - 1] == '/')
        slen--;
    if (!strstr(server, "://"))
        cn_buf_puts(&url, "http://");
    cn_buf_append(&url, server, slen);
    cn_buf_puts(&url, path);
    if (!post && form[0]) {
        cn_buf_putc(&url, '?');
        cn_buf_puts(&url, form);
    }
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, cn_buf_cstr(&url));
    curl_easy_setopt(c, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, ""); /* any the library decodes */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, raw);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form); /* form-encoded, as curl -d */
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    int rc = 1;
    if (cc != CURLE_OK) {
        fprintf(stderr, "cairn: error: cannot query %.*s: %s\n", (int)slen, server,
                curl_err[0] ? curl_err : curl_easy_strerror(cc));
        goto out;
    }
    json_error_t jerr;
    *doc = raw->len ? json_loadb(raw->data, raw->len, 0, &jerr) : NULL;
    const char *status = json_string_value(json_object_get(*doc, "status"));
    if (status && !strcmp(status, "success") && code == 200) {
        rc = 0;
        goto out;
    }
    if (status && !strcmp(status, "error")) {
        const char *type = json_string_value(json_object_get(*doc, "errorType"));
        const char *msg = json_string_value(json_object_get(*doc, "error"));
        fprintf(stderr, "cairn: error: %s: %s\n", type ? type : "error", msg ? msg : "");
    } else {
        /* Not the API (a 404 page, a proxy): its first line says enough. */
        const char *body = cn_buf_cstr(raw);
        size_t line = strcspn(body, "\r\n");
        fprintf(stderr, "cairn: error: %s answered HTTP %ld%s%.*s\n", cn_buf_cstr(&url), code,
                line ? ": " : "", (int)(line > 200 ? 200 : line), body);
    }
out:
    cn_buf_free(&url);
    return rc;
}

/* ---- tables --------------------------------------------------------------------------- */

/* Rows of up to three cells, printed with aligned columns. */
struct table {
    char *(*rows)[3];
    size_t n, cap;
    int ncols;
};

static int table_add(struct table *t, char *a, char *b, char *c)
{
    if (cn_array_grow((void **)&t->rows, &t->cap, t->n + 1, sizeof(*t->rows), 64) || !a ||
        (t->ncols > 1 && !b) || (t->ncols > 2 && !c)) {
        free(a);
        free(b);
        free(c);
        return -ENOMEM;
    }
    t->rows[t->n][0] = a;
    t->rows[t->n][1] = b;
    t->rows[t->n][2] = c;
    t->n++;
    return 0;
}

static void table_print(struct table *t)
{
    size_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < t->ncols; k++)
            if (t->rows[i][k] && strlen(t->rows[i][k]) > w[k])
                w[k] = strlen(t->rows[i][k]);
    for (size_t i = 0; i < t->n; i++) {
        for (int k = 0; k < t->ncols; k++) {
            const char *cell = t->rows[i][k] ? t->rows[i][k] : "";
            if (k == t->ncols - 1)
                printf("%s\n", cell);
            else
                printf("%-*s  ", (int)w[k], cell);
        }
    }
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++)
        for (int k = 0; k < 3; k++)
            free(t->rows[i][k]);
    free(t->rows);
}

/* A label set as Prometheus prints a metric: name{a="1", b="2"}. */
static char *metric_string(json_t *m)
{
    struct cn_buf b;
    cn_buf_init(&b);
    const char *name = json_string_value(json_object_get(m, "__name__"));
    if (name)
        cn_buf_puts(&b, name);
    cn_buf_putc(&b, '{');
    /* jansson keeps keys in insertion order: the server's, sorted. */
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(m, k, v)
    {
        if (!strcmp(k, "__name__"))
            continue;
        cn_buf_printf(&b, "%s%s=\"", first ? "" : ", ", k);
        for (const char *p = json_string_value(v); p && *p; p++) {
            if (*p == '"' || *p == '\\')
                cn_buf_putc(&b, '\\');
            if (*p == '\n')
                cn_buf_puts(&b, "\\n");
            else
                cn_buf_putc(&b, *p);
        }
        cn_buf_putc(&b, '"');
        first = false;
    }
    cn_buf_putc(&b, '}');
    if (first && name) /* no labels but the name: "up", not "up{}" */
        b.data[b.len -= 2] = '\0';
    return b.err ? (cn_buf_free(&b), NULL) : cn_buf_steal(&b, NULL);
}

/* A [t, "v"] pair's time as RFC 3339 in UTC with milliseconds. */
static char *time_string(json_t *t)
{
    double s = json_number_value(t);
    int64_t ms = (int64_t)llround(s * 1000);
    time_t sec = (time_t)(ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    char buf[64];
    gmtime_r(&sec, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms - (int64_t)sec * 1000));
    return cn_strdup(buf);
}

static char *value_string(json_t *pair)
{
    const char *v = json_string_value(json_array_get(pair, 1));
    return cn_strdup(v ? v : "");
}

/* A query answer's data as a table. */
static int print_result(json_t *data)
{
    const char *type = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    struct table t = {.ncols = 3};
    int rc = 0;
    if (type && (!strcmp(type, "scalar") || !strcmp(type, "string"))) {
        t.ncols = 2;
        rc = table_add(&t, cn_strdup("VALUE"), cn_strdup("TIMESTAMP"), NULL);
        if (!rc)
            rc = table_add(&t, value_string(result), time_string(json_array_get(result, 0)), NULL);
    } else if (type && !strcmp(type, "vector")) {
        rc = table_add(&t, cn_strdup("SERIES"), cn_strdup("VALUE"), cn_strdup("TIMESTAMP"));
        size_t i;
        json_t *s;
        json_array_foreach(result, i, s)
        {
            json_t *v = json_object_get(s, "value");
            if (!rc)
                rc = table_add(&t, metric_string(json_object_get(s, "metric")), value_string(v),
                               time_string(json_array_get(v, 0)));
        }
    } else if (type && !strcmp(type, "matrix")) {
        /* The series on its first row; its points below. */
        rc = table_add(&t, cn_strdup("SERIES"), cn_strdup("TIMESTAMP"), cn_strdup("VALUE"));
        size_t i, k;
        json_t *s, *p;
        json_array_foreach(result, i, s)
        {
            json_array_foreach(json_object_get(s, "values"), k, p)
            {
                if (!rc)
                    rc = table_add(&t,
                                   k ? cn_strdup("") : metric_string(json_object_get(s, "metric")),
                                   time_string(json_array_get(p, 0)), value_string(p));
            }
        }
    } else {
        fprintf(stderr, "cairn: error: unknown result type \"%s\"\n", type ? type : "");
        return 1;
    }
    if (rc)
        fprintf(stderr, "cairn: error: out of memory\n");
    else
        table_print(&t);
    table_free(&t);
    return rc ? 1 : 0;
}

/* /api/v1/series data (label sets) or labels data (strings) as a table. */
static int print_list(json_t *data, const char *header, bool metrics)
{
    struct table t = {.ncols = 1};
    int rc = table_add(&t, cn_strdup(header), NULL, NULL);
    size_t i;
    json_t *v;
    json_array_foreach(data, i, v)
    {
        if (!rc)
            rc = table_add(&t,
                           metrics ? metric_string(v)
                                   : cn_strdup(json_string_value(v) ? json_string_value(v) : ""),
                           NULL, NULL);
    }
    if (rc)
        fprintf(stderr, "cairn: error: out of memory\n");
    else
        table_print(&t);
    table_free(&t);
    return rc ? 1 : 0;
}

/* ---- the subcommands ------------------------------------------------------------------ */

enum kind { K_INSTANT, K_RANGE, K_SERIES, K_LABELS };

static int run(enum kind kind, struct qopts *o)
{
    if ((kind == K_INSTANT || kind == K_RANGE) && o->nargs != 1) {
        fprintf(stderr, "cairn: error: give exactly one PromQL expression\n");
        return EXIT_USAGE;
    }
    if (kind == K_SERIES && o->nargs == 0) {
        fprintf(stderr, "cairn: error: give at least one series selector, e.g. 'up' or "
                        "'{job=\"node\"}'\n");
        return EXIT_USAGE;
    }
    if (kind == K_LABELS && o->nargs > 1) {
        fprintf(stderr, "cairn: error: give at most one label name\n");
        return EXIT_USAGE;
    }
    int64_t now = cn_now_ms();
    char tbuf[3][40];
    const char *t = NULL, *start = NULL, *end = NULL;
    if ((o->time && resolve_time(o->time, now, tbuf[0], sizeof(tbuf[0]), &t)) ||
        (o->start && resolve_time(o->start, now, tbuf[1], sizeof(tbuf[1]), &start)) ||
        (o->end && resolve_time(o->end, now, tbuf[2], sizeof(tbuf[2]), &end)))
        return EXIT_USAGE;
    const char *step = o->step;
    char stepbuf[32];
    if (kind == K_RANGE) {
        if (!end) {
            format_ms(now, tbuf[2], sizeof(tbuf[2]));
            end = tbuf[2];
        }
        if (!start) {
            double e = seconds_of(end);
            if (isnan(e)) {
                fprintf(stderr, "cairn: error: --end is not in Unix seconds: give --start too\n");
                return EXIT_USAGE;
            }
            format_ms((int64_t)llround(e * 1000) - DEFAULT_RANGE_S * 1000, tbuf[1],
                      sizeof(tbuf[1]));
            start = tbuf[1];
        }
        if (!step) {
            double span = seconds_of(end) - seconds_of(start);
            if (isnan(span)) {
                fprintf(stderr, "cairn: error: give --step with RFC 3339 times\n");
                return EXIT_USAGE;
            }
            double res = floor(span / RANGE_POINTS);
            snprintf(stepbuf, sizeof(stepbuf), "%.0f", res < 1 ? 1 : res);
            step = stepbuf;
        }
    }

    CURL *c = curl_easy_init();
    if (!c) {
        fprintf(stderr, "cairn: error: cannot initialise libcurl\n");
        return 1;
    }
    struct cn_buf form, path;
    cn_buf_init(&form);
    cn_buf_init(&path);
    bool post = true;
    const char *header = NULL;
    switch (kind) {
    case K_INSTANT:
        cn_buf_puts(&path, "/api/v1/query");
        form_add(c, &form, "query", o->args[0]);
        form_add(c, &form, "time", t);
        break;
    case K_RANGE:
        cn_buf_puts(&path, "/api/v1/query_range");
        form_add(c, &form, "query", o->args[0]);
        form_add(c, &form, "start", start);
        form_add(c, &form, "end", end);
        form_add(c, &form, "step", step);
        break;
    case K_SERIES:
        cn_buf_puts(&path, "/api/v1/series");
        header = "SERIES";
        for (size_t i = 0; i < o->nargs; i++)
            form_add(c, &form, "match[]", o->args[i]);
        break;
    case K_LABELS:
        if (o->nargs) {
            char *name = curl_easy_escape(c, o->args[0], 0);
            cn_buf_printf(&path, "/api/v1/label/%s/values", name ? name : "");
            curl_free(name);
            post = false; /* Prometheus takes label values by GET only */
            header = "VALUE";
        } else {
            cn_buf_puts(&path, "/api/v1/labels");
            header = "LABEL";
        }
        for (size_t i = 0; i < o->nmatch; i++)
            form_add(c, &form, "match[]", o->match[i]);
        break;
    }
    if (kind != K_INSTANT && kind != K_RANGE) {
        form_add(c, &form, "start", start);
        form_add(c, &form, "end", end);
    } else {
        form_add(c, &form, "timeout", o->timeout);
    }
    curl_easy_cleanup(c);

    struct cn_buf raw;
    cn_buf_init(&raw);
    json_t *doc = NULL;
    int rc = form.err || path.err ? 1 : 0;
    if (rc)
        fprintf(stderr, "cairn: error: out of memory\n");
    else
        rc = agent_api_call(o->server ? o->server : DEFAULT_SERVER, cn_buf_cstr(&path), post,
                            cn_buf_cstr(&form), &raw, (void **)&doc);
    enum output out = o->out;
    if (out == OUT_AUTO)
        out = isatty(STDOUT_FILENO) ? OUT_TABLE : OUT_JSON;
    if (out == OUT_JSON && raw.len && doc) {
        fwrite(raw.data, 1, raw.len, stdout);
        if (raw.data[raw.len - 1] != '\n')
            putchar('\n');
    } else if (!rc) {
        json_t *data = json_object_get(doc, "data");
        rc = header ? print_list(data, header, kind == K_SERIES) : print_result(data);
    }
    json_decref(doc);
    cn_buf_free(&raw);
    cn_buf_free(&form);
    cn_buf_free(&path);
    if (fflush(stdout) && !rc) {
        fprintf(stderr, "cairn: error: writing the output: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

int agent_query_main(int argc, char **argv)
{
    int first = 1;
    enum kind kind = K_INSTANT;
    if (argc > 1 && !strcmp(argv[1], "instant"))
        first = 2;
    else if (argc > 1 && !strcmp(argv[1], "range"))
        kind = K_RANGE, first = 2;
    else if (argc > 1 && !strcmp(argv[1], "series"))
        kind = K_SERIES, first = 2;
    else if (argc > 1 && !strcmp(argv[1], "labels"))
        kind = K_LABELS, first = 2;
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            query_usage(stdout);
            return 0;
        }
    }
    if (argc <= first) {
        query_usage(stderr);
        return EXIT_USAGE;
    }
    struct qopts o = {.out = OUT_AUTO};
    o.args = cn_calloc((size_t)argc, sizeof(*o.args));
    o.match = cn_calloc((size_t)argc, sizeof(*o.match));
    int rc;
    if (!o.args || !o.match) {
        fprintf(stderr, "cairn: error: out of memory\n");
        rc = 1;
    } else {
        rc = parse_args(argc, argv, first, &o);
        if (!rc) {
            curl_global_init(CURL_GLOBAL_DEFAULT);
            rc = run(kind, &o);
            curl_global_cleanup();
        }
    }
    free(o.args);
    free(o.match);
    return rc;
}
