/*
 * The scheduler and the HTTP server together, over real loopback sockets:
 * formats, negotiation, gzip, status codes, readiness, concurrent scrapes,
 * slow and oversized clients, collector failures and deadlines.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/internal.h"
#include "cairn_version.h"

/* ---- test collectors ---------------------------------------------------------- */

static int failing_collect(void *state, struct plg_collect *c)
{
    (void)state;
    exp_gauge(c->b, "test_partial", "Added before the failure.", 1, 0);
    return plg_fail(c, -EIO, "the device said no");
}

static const struct plg_collector failing = {.name = "failing", .collect = failing_collect};

static int sleepy_collect(void *state, struct plg_collect *c)
{
    (void)state;
    struct timespec ts = {1, 200000000}; /* 1.2 s: past the 300 ms deadline */
    nanosleep(&ts, NULL);
    exp_gauge(c->b, "test_sleepy", "Only seen when not late.", 1, 0);
    return 0;
}

static const struct plg_collector sleepy = {.name = "sleepy", .collect = sleepy_collect};

/* ---- a minimal HTTP client ----------------------------------------------------- */

struct reply {
    int status;
    char *head; /* header block */
    char *body;
    size_t body_len;
};

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    return fd;
}

static struct reply request(unsigned port, const char *method, const char *path,
                            const char *headers)
{
    int fd = connect_to(port);
    char req[65536 + 512];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n", method,
                     path, headers ? headers : "");
    cr_assert_eq(write(fd, req, (size_t)n), n);
    struct cn_buf b;
    cn_buf_init(&b);
    char tmp[8192];
    ssize_t r;
    while ((r = read(fd, tmp, sizeof(tmp))) > 0)
        cn_buf_append(&b, tmp, (size_t)r);
    close(fd);
    struct reply rep = {0};
    const char *all = cn_buf_cstr(&b);
    if (b.len > 12)
        sscanf(all, "HTTP/1.1 %d", &rep.status);
    const char *sep = strstr(all, "\r\n\r\n");
    cr_assert_not_null(sep, "no header end in %s", all);
    rep.head = strndup(all, (size_t)(sep - all));
    rep.body_len = b.len - (size_t)(sep + 4 - all);
    rep.body = malloc(rep.body_len + 1);
    memcpy(rep.body, sep + 4, rep.body_len);
    rep.body[rep.body_len] = '\0';
    cn_buf_free(&b);
    return rep;
}

static void reply_free(struct reply *r)
{
    free(r->head);
    free(r->body);
}

/* ---- fixture: scheduler + server ----------------------------------------------- */

struct env {
    struct agent_config cfg;
    struct agent_http_stats *stats;
    struct agent_source src;
    struct agent_http *http;
    unsigned port;
};

static void env_start(struct env *e, const struct plg_collector *const *extra, size_t nextra,
                      bool run_cycle)
{
    char procfs[512];
    snprintf(procfs, sizeof(procfs), "--path.procfs=%s/tests/fixtures/loadavg/ok/proc",
             CAIRN_SOURCE_DIR);
    const char *argv[] = {"agent", "--collector.disable-defaults", "--collector.loadavg",
                          procfs,  "--collector.interval=1s",      "--collector.timeout=300ms"};
    char err[256] = "";
    cr_assert_eq(agent_config_load(&e->cfg, 6, (char **)argv, err, sizeof(err)), 0, "%s", err);
    e->stats = agent_http_stats_create();
    pthread_mutex_init(&e->src.lock, NULL);
    struct agent_sched_opts so = {
        .cfg = &e->cfg, .http = e->stats, .extra = extra, .nextra = nextra};
    cr_assert_eq(agent_sched_create(&so, &e->src.sched), 0);
    if (run_cycle)
        agent_sched_run_once(e->src.sched);
    struct agent_http_opts ho = {.listen_address = "127.0.0.1:0",
                                 .telemetry_path = "/metrics",
                                 .max_requests = 40,
                                 .source = &e->src,
                                 .stats = e->stats};
    cr_assert_eq(agent_http_start(&ho, &e->http, err, sizeof(err)), 0, "%s", err);
    e->port = agent_http_port(e->http);
    cr_assert_gt(e->port, 0);
}

static void env_stop(struct env *e)
{
    agent_http_stop(e->http);
    agent_sched_destroy(e->src.sched);
    pthread_mutex_destroy(&e->src.lock);
    agent_http_stats_destroy(e->stats);
    agent_config_free(&e->cfg);
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* ---- tests --------------------------------------------------------------------- */

Test(agent_http, text_format)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    struct reply r = request(e.port, "GET", "/metrics", NULL);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.head, "Content-Type: text/plain; version=0.0.4; charset=utf-8"), "%s",
              r.head);
    cr_assert(has_line(r.body, "# TYPE node_load1 gauge"));
    cr_assert(has_line(r.body, "node_load1 0.21"));
    cr_assert(has_line(r.body, "node_scrape_collector_success{collector=\"loadavg\"} 1"));
    cr_assert(has_line(r.body, "cairn_build_info{compiler=\"" __VERSION__
                               "\",version=\"" CAIRN_VERSION "\"} 1"));
    cr_assert(strstr(r.body, "# EOF") == NULL);
    reply_free(&r);
    env_stop(&e);
}

Test(agent_http, openmetrics_when_asked)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    /* What Prometheus 2.42 sends. */
    struct reply r = request(
        e.port, "GET", "/metrics",
        "Accept: application/openmetrics-text;version=1.0.0,application/"
        "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n");
    cr_assert_eq(r.status, 200);
    cr_assert(
        strstr(r.head, "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "%s", r.head);
    cr_assert(has_line(r.body, "node_load1 0.21"));
    cr_assert(has_line(r.body, "# TYPE process_cpu_seconds counter"));
    size_t n = strlen(r.body);
    cr_assert(n > 6 && strcmp(r.body + n - 6, "# EOF\n") == 0);
    reply_free(&r);
    env_stop(&e);
}

Test(agent_http, negotiation)
{
    cr_assert_eq(agent_negotiate_format(NULL), EXP_FMT_TEXT);
    cr_assert_eq(agent_negotiate_format("*/*"), EXP_FMT_TEXT);
    cr_assert_eq(agent_negotiate_format("application/openmetrics-text"), EXP_FMT_OPENMETRICS);
    cr_assert_eq(agent_negotiate_format(
                     "text/plain;q=0.9, application/openmetrics-text;version=1.0.0;q=0.5"),
                 EXP_FMT_TEXT);
    cr_assert_eq(agent_negotiate_format("application/openmetrics-text;version=2.0.0"),
                 EXP_FMT_TEXT);
    cr_assert_eq(agent_negotiate_format("application/openmetrics-text;q=0, text/plain"),
                 EXP_FMT_TEXT);
    cr_assert(agent_accepts_gzip("gzip, deflate"));
    cr_assert(agent_accepts_gzip("deflate, gzip;q=0.5"));
    cr_assert_not(agent_accepts_gzip("gzip;q=0"));
    cr_assert_not(agent_accepts_gzip("identity"));
    cr_assert_not(agent_accepts_gzip(NULL));
}

Test(agent_http, gzip_when_allowed)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    struct reply plain = request(e.port, "GET", "/metrics", NULL);
    struct reply gz = request(e.port, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    cr_assert_eq(gz.status, 200);
    cr_assert(strstr(gz.head, "Content-Encoding: gzip"), "%s", gz.head);
    cr_assert_eq((unsigned char)gz.body[0], 0x1f);
    cr_assert_eq((unsigned char)gz.body[1], 0x8b);
    char *out = malloc(plain.body_len + 1);
    z_stream z = {0};
    cr_assert_eq(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz.body;
    z.avail_in = (uInt)gz.body_len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)plain.body_len + 1;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    cr_assert_eq(z.total_out, plain.body_len);
    cr_assert_eq(memcmp(out, plain.body, plain.body_len), 0, "same snapshot, same bytes");
    inflateEnd(&z);
    free(out);
    reply_free(&plain);
    reply_free(&gz);
    env_stop(&e);
}

Test(agent_http, status_codes)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    struct {
        const char *method, *path;
        int status;
    } cases[] = {
        {"GET", "/", 200},         {"GET", "/-/healthy", 200}, {"GET", "/-/ready", 200},
        {"HEAD", "/metrics", 200}, {"GET", "/nope", 404},      {"GET", "/metrics/", 404},
        {"POST", "/metrics", 405}, {"DELETE", "/", 405},       {"PUT", "/-/ready", 405},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct reply r = request(e.port, cases[i].method, cases[i].path, NULL);
        cr_expect_eq(r.status, cases[i].status, "%s %s", cases[i].method, cases[i].path);
        if (cases[i].status == 405)
            cr_expect(strstr(r.head, "Allow: GET, HEAD"), "%s", r.head);
        reply_free(&r);
    }
    struct reply r = request(e.port, "GET", "/", NULL);
    cr_assert(strstr(r.body, "<a href=\"/metrics\">"), "%s", r.body);
    reply_free(&r);
    env_stop(&e);
}

Test(agent_http, not_ready_before_first_cycle)
{
    struct env e = {0};
    env_start(&e, NULL, 0, false);
    struct reply r = request(e.port, "GET", "/-/ready", NULL);
    cr_assert_eq(r.status, 503);
    reply_free(&r);
    r = request(e.port, "GET", "/metrics", NULL);
    cr_assert_eq(r.status, 503);
    reply_free(&r);
    r = request(e.port, "GET", "/-/healthy", NULL);
    cr_assert_eq(r.status, 200);
    reply_free(&r);
    env_stop(&e);
}

Test(agent_http, request_counter)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    for (int i = 0; i < 3; i++) {
        struct reply r = request(e.port, "GET", "/nope", NULL);
        reply_free(&r);
    }
    agent_sched_run_once(e.src.sched);
    struct reply r = request(e.port, "GET", "/metrics", NULL);
    cr_assert(has_line(r.body, "cairn_http_requests_total{code=\"404\",handler=\"other\"} 3"), "%s",
              r.body);
    reply_free(&r);
    env_stop(&e);
}

struct scrape_job {
    unsigned port;
    int ok;
    size_t len;
};

static void *scrape_loop(void *arg)
{
    struct scrape_job *j = arg;
    for (int i = 0; i < 40; i++) {
        struct reply r = request(j->port, "GET", "/metrics", NULL);
        if (r.status == 200 && (j->len == 0 || j->len == r.body_len))
            j->ok++;
        j->len = r.body_len;
        reply_free(&r);
    }
    return NULL;
}

Test(agent_http, concurrent_scrapes_and_a_slow_client)
{
    struct env e = {0};
    env_start(&e, NULL, 0, true);
    /* A client that sends half a request line and then nothing. */
    int slow = connect_to(e.port);
    cr_assert_eq(write(slow, "GET /metr", 9), 9);
    /* An oversized request: ~60 KiB of headers, past the 32 KiB limit. */
    char *big = malloc(61000);
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', 60000);
    strcpy(big + 60007, "\r\n");
    struct reply huge = request(e.port, "GET", "/metrics", big);
    cr_assert(huge.status == 431 || huge.status == 413, "status %d", huge.status);
    reply_free(&huge);
    free(big);

    pthread_t t[8];
    struct scrape_job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (struct scrape_job){.port = e.port};
        pthread_create(&t[i], NULL, scrape_loop, &jobs[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(jobs[i].ok, 40, "thread %d: %d of 40 scrapes ok", i, jobs[i].ok);
    }
    close(slow);
    env_stop(&e);
}

Test(agent_http, failing_and_late_collectors)
{
    /* sleepy runs before failing: the collector after a late one must
     * still run in the same cycle. */
    const struct plg_collector *extra[] = {&sleepy, &failing};
    struct env e = {0};
    env_start(&e, extra, 2, false);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    agent_sched_run_once(e.src.sched);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(took, 1.0, "the cycle waited for the sleepy collector (%.3fs)", took);

    struct reply r = request(e.port, "GET", "/metrics", NULL);
    cr_assert(has_line(r.body, "node_load1 0.21"), "the good collector's series stay");
    cr_assert(has_line(r.body, "node_scrape_collector_success{collector=\"loadavg\"} 1"));
    cr_assert(has_line(r.body, "node_scrape_collector_success{collector=\"failing\"} 0"));
    cr_assert(has_line(r.body, "test_partial 1"), "series before a failure are kept");
    cr_assert(has_line(r.body, "node_scrape_collector_success{collector=\"sleepy\"} 0"));
    cr_assert(strstr(r.body, "test_sleepy") == NULL, "a late collector's series are dropped");
    reply_free(&r);

    /* Still running: not started again, still reported as failing. */
    agent_sched_run_once(e.src.sched);
    r = request(e.port, "GET", "/metrics", NULL);
    cr_assert(has_line(r.body, "node_scrape_collector_success{collector=\"sleepy\"} 0"));
    cr_assert(strstr(r.body, "test_sleepy") == NULL);
    reply_free(&r);

    /* Once it has finished, the next cycle hands it a fresh tick; with 1.2 s
     * per run against a 300 ms deadline it stays late, but its stale result
     * from the earlier cycle must never leak into a snapshot. */
    struct timespec wait = {1, 300000000};
    nanosleep(&wait, NULL);
    agent_sched_run_once(e.src.sched);
    r = request(e.port, "GET", "/metrics", NULL);
    cr_assert(strstr(r.body, "test_sleepy") == NULL);
    cr_assert(has_line(r.body, "node_load1 0.21"));
    reply_free(&r);
    env_stop(&e);
}

/* Counts lines in text containing every one of the given substrings. */
static int count_log(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        if (strstr(line, a) && strstr(line, b))
            n++;
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

Test(agent_http, a_failure_is_logged_once_per_cause)
{
    const struct plg_collector *extra[] = {&failing};
    struct env e = {0};
    env_start(&e, extra, 1, false);
    char path[] = "/tmp/cairn-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cn_log_set_fd(fd);
    for (int i = 0; i < 4; i++)
        agent_sched_run_once(e.src.sched);
    cn_log_set_fd(2);
    close(fd);
    struct cn_buf log;
    cn_buf_init(&log);
    cr_assert_eq(cn_read_file_buf(path, &log, 1 << 20), 0);
    unlink(path);
    const char *text = cn_buf_cstr(&log);
    cr_assert_eq(count_log(text, "collector=failing", "the device said no"), 1, "%s", text);
    cr_assert_eq(count_log(text, "collector=loadavg", "failed"), 0, "%s", text);
    cn_buf_free(&log);
    env_stop(&e);
}
