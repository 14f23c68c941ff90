/*
 * The HTTP server, on libmicrohttpd with a small internal thread pool.
 *
 * /metrics is served from the scheduler's latest snapshot: the handler takes
 * a reference, asks for the cached rendering in the negotiated format (text
 * 0.0.4 or OpenMetrics 1.0.0, gzip when allowed) and hands the bytes to
 * libmicrohttpd without copying; the reference is dropped when the response
 * is freed. A scrape therefore costs no collection and, after the first one
 * per cycle and format, no encoding.
 *
 * Slow or oversized clients: connections time out after 30 s of inactivity,
 * request headers are bounded by a per-connection memory limit (libmicrohttpd
 * answers 431/413 past it), and epoll-based threads keep one slow reader from
 * holding back others. --web.max-requests bounds concurrent /metrics
 * requests (503 past it), as node_exporter does.
 *
 * /api/v1 (api.c) runs on worker threads: the handler decodes the
 * parameters (query string and form-encoded POST body, kept per request
 * from the raw URI that libmicrohttpd's URI callback sees), suspends the
 * connection and starts a detached thread that builds the reply and
 * resumes it. A query that takes minutes therefore never holds one of the
 * two server threads that answer scrapes. Stopping the server cancels the
 * running queries and waits for their threads before stopping the daemon.
 *
 * The listening socket is created here (not by libmicrohttpd) so that
 * "host:port", ":port" (all addresses, IPv6 and IPv4) and "[v6]:port" all
 * work and port 0 picks a free port for tests.
 */
#include "agent/internal.h"
#include "cairn_version.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct agent_http {
    struct MHD_Daemon *daemon;
    int fd;
    unsigned port;
    char *telemetry_path;
    long max_requests;
    atomic_long in_flight;
    struct agent_source *source;
    struct agent_http_stats *stats;
    struct agent_api *api; /* borrowed; may be NULL */

    pthread_mutex_t lock;
    pthread_cond_t idle; /* workers dropped to 0 */
    long workers;        /* API worker threads running; under lock */
    bool stopping;       /* under lock: no new workers */
};

/* Largest form-encoded POST body taken (Go's ParseForm limit). */
#define MAX_FORM_BODY (10 << 20)

enum request_state { REQ_NEW = 0, REQ_RUNNING, REQ_DONE };

/*
 * One request, from the URI callback to the completion callback. The API
 * fields are filled when the request reaches /api/v1; the worker thread
 * owns the request while state is REQ_RUNNING (the connection is
 * suspended, so libmicrohttpd does not touch it).
 */
struct request {
    bool seen; /* the access handler has had the headers */
    char *uri; /* as received: path and query string, still escaped */
    bool form; /* a form-encoded body is expected */
    bool too_large;
    struct cn_buf body;
    atomic_int state;
    struct agent_http *h;
    struct MHD_Connection *conn;
    char *method, *path; /* path below /api/v1 */
    struct agent_params params;
    struct agent_api_reply reply;
};

static void *request_start(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct request *rq = cn_calloc(1, sizeof(*rq));
    if (!rq)
        return NULL;
    rq->uri = cn_strdup(uri);
    if (!rq->uri) {
        free(rq);
        return NULL;
    }
    rq->h = cls;
    cn_buf_init(&rq->body);
    cn_buf_init(&rq->reply.body);
    atomic_init(&rq->state, REQ_NEW);
    return rq;
}

static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct request *rq = *req_cls;
    if (!rq)
        return;
    free(rq->uri);
    free(rq->method);
    free(rq->path);
    cn_buf_free(&rq->body);
    cn_buf_free(&rq->reply.body);
    agent_params_free(&rq->params);
    free(rq);
    *req_cls = NULL;
}

/* ---- negotiation ------------------------------------------------------------- */

/* Returns the q value of one media range "type/sub;param=..;q=0.5" and
 * reports its type/subtype and version parameter. */
static double media_range(const char *s, size_t len, char *type, size_t tcap, char *version,
                          size_t vcap)
{
    double q = 1.0;
    type[0] = version[0] = '\0';
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    size_t t0 = i;
    while (i < len && s[i] != ';' && s[i] != ' ')
        i++;
    snprintf(type, tcap, "%.*s", (int)(i - t0), s + t0);
    while (i < len) {
        while (i < len && (s[i] == ';' || s[i] == ' '))
            i++;
        size_t k0 = i;
        while (i < len && s[i] != '=' && s[i] != ';')
            i++;
        size_t klen = i - k0;
        if (i >= len || s[i] != '=')
            continue;
        i++;
        size_t v0 = i;
        while (i < len && s[i] != ';' && s[i] != ' ')
            i++;
        if (klen == 1 && s[k0] == 'q')
            q = strtod(s + v0, NULL);
        else if (klen == 7 && !strncmp(s + k0, "version", 7))
            snprintf(version, vcap, "%.*s", (int)(i - v0), s + v0);
    }
    return q;
}

enum exp_format agent_negotiate_format(const char *accept)
{
    if (!accept)
        return EXP_FMT_TEXT;
    double best_q = -1;
    enum exp_format best = EXP_FMT_TEXT;
    const char *p = accept;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char type[128], version[32];
        double q = media_range(p, len, type, sizeof(type), version, sizeof(version));
        int fmt = -1;
        if (!strcasecmp(type, "application/openmetrics-text") &&
            (!version[0] || !strcmp(version, "1.0.0") || !strcmp(version, "0.0.1")))
            fmt = EXP_FMT_OPENMETRICS;
        else if ((!strcasecmp(type, "text/plain") && (!version[0] || !strcmp(version, "0.0.4"))) ||
                 !strcmp(type, "*/*") || !strcasecmp(type, "text/*"))
            fmt = EXP_FMT_TEXT;
        if (fmt >= 0 && q > 0 && q > best_q) {
            best_q = q;
            best = (enum exp_format)fmt;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return best;
}

bool agent_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    const char *p = ae;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char type[64], version[8];
        double q = media_range(p, len, type, sizeof(type), version, sizeof(version));
        if ((!strcasecmp(type, "gzip") || !strcmp(type, "*")) && q > 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* ---- responses ----------------------------------------------------------------- */

static enum MHD_Result send_text(struct agent_http *h, struct MHD_Connection *conn,
                                 const char *handler, unsigned code, const char *ctype,
                                 const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    agent_http_stats_inc(h->stats, handler, code);
    return ret;
}

static struct exp_snapshot *current_snapshot(struct agent_source *src)
{
    pthread_mutex_lock(&src->lock);
    struct exp_snapshot *s = src->sched ? agent_sched_snapshot(src->sched) : NULL;
    pthread_mutex_unlock(&src->lock);
    return s;
}

static void release_snapshot(void *cls)
{
    exp_snapshot_unref(cls);
}

static enum MHD_Result serve_metrics(struct agent_http *h, struct MHD_Connection *conn)
{
    const char *handler = "/metrics";
    long inflight = atomic_fetch_add(&h->in_flight, 1) + 1;
    enum MHD_Result ret;
    if (h->max_requests > 0 && inflight > h->max_requests) {
        ret = send_text(h, conn, handler, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                        "Limit of concurrent requests reached, try again later.\n");
        goto out;
    }
    struct exp_snapshot *snap = current_snapshot(h->source);
    if (!snap) {
        ret = send_text(h, conn, handler, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
                        "The first collection cycle has not finished yet.\n");
        goto out;
    }
    enum exp_format fmt = agent_negotiate_format(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT));
    bool gz = agent_accepts_gzip(
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT_ENCODING));
    const char *data;
    size_t len;
    int rc = exp_snapshot_render(snap, fmt, gz, &data, &len);
    if (rc) {
        exp_snapshot_unref(snap);
        cn_log(CN_LOG_ERROR, "http", "rendering metrics failed", "err", strerror(-rc), NULL);
        ret = send_text(h, conn, handler, MHD_HTTP_INTERNAL_SERVER_ERROR,
                        "text/plain; charset=utf-8", "Rendering metrics failed.\n");
        goto out;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback_cls(
        len, (void *)data, release_snapshot, snap);
    if (!r) {
        exp_snapshot_unref(snap);
        ret = MHD_NO;
        goto out;
    }
    MHD_add_response_header(r, "Content-Type",
                            fmt == EXP_FMT_OPENMETRICS ? EXP_CONTENT_TYPE_OPENMETRICS
                                                       : EXP_CONTENT_TYPE_TEXT);
    MHD_add_response_header(r, "Vary", "Accept-Encoding");
    if (gz)
        MHD_add_response_header(r, "Content-Encoding", "gzip");
    ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    agent_http_stats_inc(h->stats, handler, MHD_HTTP_OK);
out:
    atomic_fetch_sub(&h->in_flight, 1);
    return ret;
}

/* ---- /api/v1 --------------------------------------------------------------------- */

static bool is_api(const char *url)
{
    return !strncmp(url, "/api/v1/", 8);
}

/* The handler label of an API path for cairn_http_requests_total. */
static const char *api_handler(const char *path)
{
    static const char *const known[] = {"/api/v1/query",       "/api/v1/query_range",
                                        "/api/v1/series",      "/api/v1/labels",
                                        "/api/v1/metadata",    "/api/v1/status/buildinfo",
                                        "/api/v1/status/tsdb", "/api/v1/status/runtimeinfo"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (!strcmp(path, known[i] + 7))
            return known[i];
    size_t n = strlen(path);
    if (!strncmp(path, "/label/", 7) && n > 14 && !strcmp(path + n - 7, "/values"))
        return "/api/v1/label/:name/values";
    return "other";
}

static enum MHD_Result send_api_reply(struct agent_http *h, struct MHD_Connection *conn,
                                      struct request *rq)
{
    struct agent_api_reply *rp = &rq->reply;
    if (rp->body.err)
        return send_text(h, conn, api_handler(rq->path), MHD_HTTP_INTERNAL_SERVER_ERROR,
                         "text/plain; charset=utf-8", "Out of memory.\n");
    size_t len = 0;
    char *data = cn_buf_steal(&rp->body, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, data ? data : (void *)"", data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    if (rp->content_type)
        MHD_add_response_header(r, "Content-Type", rp->content_type);
    if (rp->allow)
        MHD_add_response_header(r, "Allow", rp->allow);
    /* CORS as Prometheus' default --web.cors.origin='.*' answers it. */
    if (MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin")) {
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                "Accept, Authorization, Content-Type, Origin");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        MHD_add_response_header(r, "Access-Control-Expose-Headers", "Date");
        MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    }
    enum MHD_Result ret = MHD_queue_response(conn, rp->code, r);
    MHD_destroy_response(r);
    agent_http_stats_inc(h->stats, api_handler(rq->path), rp->code);
    return ret;
}

static void *api_worker(void *arg)
{
    struct request *rq = arg;
    struct agent_http *h = rq->h;
    agent_api_serve(h->api, rq->method, rq->path, &rq->params, &rq->reply);
    atomic_store(&rq->state, REQ_DONE);
    MHD_resume_connection(rq->conn); /* rq belongs to libmicrohttpd again */
    pthread_mutex_lock(&h->lock);
    if (--h->workers == 0)
        pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static enum MHD_Result serve_api(struct agent_http *h, struct MHD_Connection *conn,
                                 struct request *rq, const char *url, const char *method)
{
    if (atomic_load(&rq->state) == REQ_DONE)
        return send_api_reply(h, conn, rq);
    if (!h->api)
        return send_text(h, conn, "other", MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                         "404 page not found\n");
    rq->method = cn_strdup(method);
    rq->path = cn_strdup(url + 7);
    if (!rq->method || !rq->path)
        return MHD_NO;
    if (rq->too_large)
        snprintf(rq->params.err, sizeof(rq->params.err), "http: POST too large");
    /* Go's r.Form: the body's parameters first, then the query string's. */
    const char *qs = strchr(rq->uri, '?');
    if ((rq->form && !rq->too_large && rq->body.len &&
         agent_form_parse(&rq->params, rq->body.data, rq->body.len) == -ENOMEM) ||
        (qs && agent_form_parse(&rq->params, qs + 1, strlen(qs + 1)) == -ENOMEM))
        return MHD_NO;
    pthread_mutex_lock(&h->lock);
    bool stopping = h->stopping;
    if (!stopping)
        h->workers++;
    pthread_mutex_unlock(&h->lock);
    if (stopping)
        return send_text(h, conn, api_handler(rq->path), MHD_HTTP_SERVICE_UNAVAILABLE,
                         "text/plain; charset=utf-8", "Shutting down.\n");
    rq->conn = conn;
    atomic_store(&rq->state, REQ_RUNNING);
    MHD_suspend_connection(conn);
    pthread_attr_t attr;
    pthread_t t;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, api_worker, rq);
    pthread_attr_destroy(&attr);
    if (rc)
        api_worker(rq); /* no thread to be had: answer on this one */
    return MHD_YES;
}

static const char landing_fmt[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cairn</title></head>\n"
    "<body>\n<h1>cairn</h1>\n<p>Per-node monitoring agent, version " CAIRN_VERSION ".</p>\n"
    "<ul>\n"
    "<li><a href=\"%s\">%s</a>: metrics for Prometheus (text 0.0.4 or OpenMetrics)</li>\n"
    "<li><a href=\"/-/healthy\">/-/healthy</a>: liveness</li>\n"
    "<li><a href=\"/-/ready\">/-/ready</a>: readiness (after the first collection)</li>\n"
    "<li><a href=\"/api/v1/status/buildinfo\">/api/v1</a>: the Prometheus HTTP API (PromQL "
    "queries over the agent's history)</li>\n"
    "</ul>\n</body></html>\n";

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct agent_http *h = cls;
    struct request *rq = *req_cls;
    (void)version;
    if (!rq)
        return MHD_NO; /* out of memory at the URI callback */
    /* First call per request: headers only. A body is kept for a form
     * POST to the API, drained otherwise. */
    if (!rq->seen) {
        rq->seen = true;
        const char *ct =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        rq->form = !strcmp(method, "POST") && is_api(url) && ct &&
                   !strncasecmp(ct, "application/x-www-form-urlencoded", 33) &&
                   (ct[33] == '\0' || ct[33] == ';' || ct[33] == ' ');
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (rq->form && !rq->too_large) {
            if (rq->body.len + *upload_data_size > MAX_FORM_BODY)
                rq->too_large = true;
            else
                cn_buf_append(&rq->body, upload_data, *upload_data_size);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (is_api(url))
        return serve_api(h, conn, rq, url, method);
    const char *handler;
    if (!strcmp(url, h->telemetry_path))
        handler = "/metrics";
    else if (!strcmp(url, "/"))
        handler = "/";
    else if (!strcmp(url, "/-/healthy"))
        handler = "/-/healthy";
    else if (!strcmp(url, "/-/ready"))
        handler = "/-/ready";
    else
        return send_text(h, conn, "other", MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                         "404 page not found\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(h, conn, handler, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                         "Method not allowed.\n");
    if (!strcmp(handler, "/metrics"))
        return serve_metrics(h, conn);
    if (!strcmp(handler, "/-/healthy"))
        return send_text(h, conn, handler, MHD_HTTP_OK, "text/plain; charset=utf-8",
                         "cairn is Healthy.\n");
    if (!strcmp(handler, "/-/ready")) {
        struct exp_snapshot *snap = current_snapshot(h->source);
        exp_snapshot_unref(snap);
        if (snap)
            return send_text(h, conn, handler, MHD_HTTP_OK, "text/plain; charset=utf-8",
                             "cairn is Ready.\n");
        return send_text(h, conn, handler, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "text/plain; charset=utf-8", "Service Unavailable\n");
    }
    /* Landing page: rendered per request; it is small and rarely asked for. */
    char page[sizeof(landing_fmt) + 512];
    snprintf(page, sizeof(page), landing_fmt, h->telemetry_path, h->telemetry_path);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(page), page, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    agent_http_stats_inc(h->stats, handler, MHD_HTTP_OK);
    return ret;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    cn_log(CN_LOG_DEBUG, "http", msg, NULL);
}

/* ---- listening socket ----------------------------------------------------------- */

static int listen_on(const char *address, int *fd_out, unsigned *port_out, char *err, size_t errcap)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (!colon) {
        snprintf(err, errcap, "invalid listen address \"%s\"", address);
        return -EINVAL;
    }
    size_t hlen = (size_t)(colon - address);
    if (hlen >= 2 && address[0] == '[' && address[hlen - 1] == ']')
        snprintf(host, sizeof(host), "%.*s", (int)(hlen - 2), address + 1);
    else
        snprintf(host, sizeof(host), "%.*s", (int)hlen, address);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (gai) {
        snprintf(err, errcap, "cannot resolve listen address \"%s\": %s", address,
                 gai_strerror(gai));
        return -EINVAL;
    }
    /* With no host, prefer the IPv6 wildcard that also accepts IPv4. */
    struct addrinfo *pick = res;
    if (!host[0])
        for (struct addrinfo *a = res; a; a = a->ai_next)
            if (a->ai_family == AF_INET6)
                pick = a;
    struct addrinfo *order[16];
    int n = 0;
    order[n++] = pick;
    for (struct addrinfo *a = res; a && n < 16; a = a->ai_next)
        if (a != pick)
            order[n++] = a;
    int rc = -EADDRNOTAVAIL;
    for (int i = 0; i < n; i++) {
        struct addrinfo *a = order[i];
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6 && !host[0])
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
            *fd_out = fd;
            freeaddrinfo(res);
            return 0;
        }
        rc = -errno;
        close(fd);
    }
    freeaddrinfo(res);
    snprintf(err, errcap, "cannot listen on %s: %s", address, strerror(-rc));
    return rc;
}

int agent_http_start(const struct agent_http_opts *opts, struct agent_http **out, char *err,
                     size_t errcap)
{
    struct agent_http *h = cn_calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->idle, NULL);
    h->api = opts->api;
    h->source = opts->source;
    h->stats = opts->stats;
    h->max_requests = opts->max_requests;
    atomic_init(&h->in_flight, 0);
    h->telemetry_path = cn_strdup(opts->telemetry_path);
    int rc = h->telemetry_path ? listen_on(opts->listen_address, &h->fd, &h->port, err, errcap)
                               : -ENOMEM;
    if (rc) {
        agent_http_stop(h);
        return rc;
    }
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME,
        0, NULL, NULL, handle, h, MHD_OPTION_URI_LOG_CALLBACK, request_start, h,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL, MHD_OPTION_LISTEN_SOCKET, h->fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32768, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (!h->daemon) {
        snprintf(err, errcap, "cannot start the HTTP server on %s", opts->listen_address);
        agent_http_stop(h);
        return -EIO;
    }
    *out = h;
    return 0;
}

unsigned agent_http_port(const struct agent_http *h)
{
    return h->port;
}

void agent_http_stop(struct agent_http *h)
{
    if (!h)
        return;
    if (h->daemon) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_mutex_unlock(&h->lock);
        if (h->api)
            agent_api_cancel_all(h->api);
        pthread_mutex_lock(&h->lock);
        while (h->workers)
            pthread_cond_wait(&h->idle, &h->lock);
        pthread_mutex_unlock(&h->lock);
        MHD_stop_daemon(h->daemon);
    }
    if (h->fd >= 0)
        close(h->fd);
    free(h->telemetry_path);
    pthread_cond_destroy(&h->idle);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
