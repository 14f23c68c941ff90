/*
 * Tests of the plugin host's gRPC client (plugins/host/client.c) against a
 * small grpc core server run by the test itself on a Unix socket in a
 * temporary directory. The server answers each call as the test told it to
 * (a message, a status, nothing at all, or OK without a message) and
 * records the method and request bytes, so both directions are checked
 * exactly.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "health.pb-c.h"
#include "plugins/host/internal.h"

TestSuite(plugins_client, .timeout = 60);

/* ---- the test server -------------------------------------------------------- */

enum reply_kind {
    REPLY_MESSAGE,  /* the bytes of reply, status OK */
    REPLY_STATUS,   /* status and details, no message */
    REPLY_SILENT,   /* never answer (until the client gives up) */
    REPLY_OK_EMPTY, /* status OK without a message */
};

#define TAG_NEW ((void *)1)
#define TAG_RECV ((void *)2)
#define TAG_SEND ((void *)3)
#define TAG_SHUTDOWN ((void *)4)

struct server {
    grpc_server *srv;
    grpc_completion_queue *cq;
    pthread_t thread;
    char dir[64];
    char path[128];
    bool down; /* the shutdown tag was seen (server thread only) */

    pthread_mutex_t mu; /* guards everything below */
    enum reply_kind kind;
    unsigned char reply[8192];
    size_t reply_len;
    grpc_status_code status;
    char details[128];
    /* the last call */
    int calls;
    char method[128];
    unsigned char request[1024];
    size_t request_len;
};

/* The next event with tag (noting the shutdown tag on the way). */
static grpc_event wait_for(struct server *s, void *tag)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        cr_assert_eq(ev.type, GRPC_OP_COMPLETE);
        if (ev.tag == TAG_SHUTDOWN)
            s->down = true;
        if (ev.tag == tag)
            return ev;
    }
}

static void handle(struct server *s, grpc_call *call, const grpc_call_details *det)
{
    grpc_byte_buffer *in = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &in;
    cr_assert_eq(grpc_call_start_batch(call, &op, 1, TAG_RECV, NULL), GRPC_CALL_OK);
    wait_for(s, TAG_RECV);

    pthread_mutex_lock(&s->mu);
    s->calls++;
    char *m = grpc_slice_to_c_string(det->method);
    snprintf(s->method, sizeof(s->method), "%s", m);
    gpr_free(m);
    s->request_len = 0;
    if (in) {
        grpc_byte_buffer_reader r;
        cr_assert(grpc_byte_buffer_reader_init(&r, in));
        grpc_slice sl = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        s->request_len = GRPC_SLICE_LENGTH(sl);
        cr_assert_leq(s->request_len, sizeof(s->request));
        memcpy(s->request, GRPC_SLICE_START_PTR(sl), s->request_len);
        grpc_slice_unref(sl);
        grpc_byte_buffer_destroy(in);
    }
    enum reply_kind kind = s->kind;
    grpc_slice payload = grpc_slice_from_copied_buffer((const char *)s->reply, s->reply_len);
    grpc_slice details = grpc_slice_from_copied_string(s->details);
    grpc_status_code status = s->status;
    pthread_mutex_unlock(&s->mu);

    grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&payload, 1);
    int cancelled = 0;
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (kind != REPLY_SILENT) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        if (kind == REPLY_MESSAGE) {
            ops[n].op = GRPC_OP_SEND_MESSAGE;
            ops[n++].data.send_message.send_message = out;
        }
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = kind == REPLY_STATUS ? status : GRPC_STATUS_OK;
        ops[n++].data.send_status_from_server.status_details =
            kind == REPLY_STATUS ? &details : NULL;
    }
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &cancelled;
    cr_assert_eq(grpc_call_start_batch(call, ops, n, TAG_SEND, NULL), GRPC_CALL_OK);
    wait_for(s, TAG_SEND);
    grpc_byte_buffer_destroy(out);
    grpc_slice_unref(payload);
    grpc_slice_unref(details);
}

static void *serve(void *arg)
{
    struct server *s = arg;
    for (;;) {
        grpc_call *call = NULL;
        grpc_call_details det;
        grpc_metadata_array md;
        grpc_call_details_init(&det);
        grpc_metadata_array_init(&md);
        bool ok = grpc_server_request_call(s->srv, &call, &det, &md, s->cq, s->cq, TAG_NEW) ==
                      GRPC_CALL_OK &&
                  wait_for(s, TAG_NEW).success;
        if (ok)
            handle(s, call, &det);
        if (call)
            grpc_call_unref(call);
        grpc_call_details_destroy(&det);
        grpc_metadata_array_destroy(&md);
        if (!ok)
            break;
    }
    if (!s->down)
        wait_for(s, TAG_SHUTDOWN);
    return NULL;
}

static struct server *server_start(void)
{
    struct server *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->dir, sizeof(s->dir), "/tmp/cairn-client-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof(s->path), "%s/plugin.sock", s->dir);
    char addr[160];
    snprintf(addr, sizeof(addr), "unix:%s", s->path);
    grpc_init();
    s->srv = grpc_server_create(NULL, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->srv, s->cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    cr_assert_neq(grpc_server_add_http2_port(s->srv, addr, creds), 0);
    grpc_server_credentials_release(creds);
    grpc_server_start(s->srv);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

static void server_stop(struct server *s)
{
    grpc_server_shutdown_and_notify(s->srv, s->cq, TAG_SHUTDOWN);
    grpc_server_cancel_all_calls(s->srv);
    pthread_join(s->thread, NULL);
    grpc_server_destroy(s->srv);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(s->cq);
    grpc_shutdown();
    unlink(s->path);
    rmdir(s->dir);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The next call is answered with msg, packed. */
static void reply_message(struct server *s, const ProtobufCMessage *msg)
{
    pthread_mutex_lock(&s->mu);
    s->kind = REPLY_MESSAGE;
    s->reply_len = protobuf_c_message_get_packed_size(msg);
    cr_assert_leq(s->reply_len, sizeof(s->reply));
    protobuf_c_message_pack(msg, s->reply);
    pthread_mutex_unlock(&s->mu);
}

static void reply_bytes(struct server *s, const void *data, size_t n)
{
    pthread_mutex_lock(&s->mu);
    s->kind = REPLY_MESSAGE;
    memcpy(s->reply, data, n);
    s->reply_len = n;
    pthread_mutex_unlock(&s->mu);
}

static void reply_status(struct server *s, grpc_status_code st, const char *details)
{
    pthread_mutex_lock(&s->mu);
    s->kind = REPLY_STATUS;
    s->status = st;
    snprintf(s->details, sizeof(s->details), "%s", details);
    pthread_mutex_unlock(&s->mu);
}

static void reply_kind(struct server *s, enum reply_kind kind)
{
    pthread_mutex_lock(&s->mu);
    s->kind = kind;
    pthread_mutex_unlock(&s->mu);
}

/* The method and unpacked request of the last call (free with
 * protobuf_c_message_free_unpacked). */
static ProtobufCMessage *last_request(struct server *s, const ProtobufCMessageDescriptor *desc,
                                      char *method, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    snprintf(method, cap, "%s", s->method);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, s->request_len, s->request);
    pthread_mutex_unlock(&s->mu);
    cr_assert_not_null(m);
    return m;
}

static int calls(struct server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->calls;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void reply_health(struct server *s,
                         Grpc__Health__V1__HealthCheckResponse__ServingStatus status)
{
    Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    r.status = status;
    reply_message(s, &r.base);
}

static struct plg_client *connect_to(struct server *s, long max_message)
{
    struct plg_client *c = NULL;
    char err[256] = "";
    cr_assert_eq(plg_client_connect(s->path, max_message, &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(c);
    return c;
}

/* ---- tests -------------------------------------------------------------------- */

Test(plugins_client, health)
{
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    char err[256] = "";
    reply_health(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), 0, "%s", err);

    char method[128];
    Grpc__Health__V1__HealthCheckRequest *req =
        (Grpc__Health__V1__HealthCheckRequest *)last_request(
            s, &grpc__health__v1__health_check_request__descriptor, method, sizeof(method));
    cr_assert_str_eq(method, "/grpc.health.v1.Health/Check");
    cr_assert_str_eq(req->service, "");
    grpc__health__v1__health_check_request__free_unpacked(req, NULL);

    reply_health(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), -EAGAIN);
    cr_assert_str_eq(err, "health status NOT_SERVING");
    reply_health(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), -EAGAIN);
    cr_assert_str_eq(err, "health status UNKNOWN");
    /* A status this version of the enum does not know. */
    reply_bytes(s, "\x08\x07", 2);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), -EAGAIN);
    cr_assert_str_eq(err, "health status 7");
    cr_assert_eq(calls(s), 4);
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, info)
{
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    Cairn__Plugin__V1__MetricFamily fam = CAIRN__PLUGIN__V1__METRIC_FAMILY__INIT;
    fam.name = "jobs_total";
    fam.help = "Jobs run.";
    fam.has_type = 1;
    fam.type = CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER;
    Cairn__Plugin__V1__MetricFamily *fams[] = {&fam};
    Cairn__Plugin__V1__InfoResponse r = CAIRN__PLUGIN__V1__INFO_RESPONSE__INIT;
    r.name = "bench";
    r.version = "1.2.3";
    r.protocol_version = 1;
    r.n_families = 1;
    r.families = fams;
    r.interval_ms = 15000;
    reply_message(s, &r.base);

    Cairn__Plugin__V1__InfoResponse *info = NULL;
    char err[256] = "";
    cr_assert_eq(plg_client_info(c, 5000, &info, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(info->name, "bench");
    cr_assert_str_eq(info->version, "1.2.3");
    cr_assert_eq(info->protocol_version, 1);
    cr_assert_eq(info->interval_ms, 15000);
    cr_assert_eq(info->n_families, 1);
    cr_assert_str_eq(info->families[0]->name, "jobs_total");
    cr_assert_str_eq(info->families[0]->help, "Jobs run.");
    cr_assert_eq(info->families[0]->type, CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER);
    cr_assert_eq(info->families[0]->n_metric, 0);
    cairn__plugin__v1__info_response__free_unpacked(info, NULL);

    char method[128];
    Cairn__Plugin__V1__InfoRequest *req = (Cairn__Plugin__V1__InfoRequest *)last_request(
        s, &cairn__plugin__v1__info_request__descriptor, method, sizeof(method));
    cr_assert_str_eq(method, "/cairn.plugin.v1.Plugin/Info");
    cr_assert_eq(req->protocol_version, 1);
    cairn__plugin__v1__info_request__free_unpacked(req, NULL);
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, collect)
{
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    Cairn__Plugin__V1__LabelPair lp = CAIRN__PLUGIN__V1__LABEL_PAIR__INIT;
    lp.name = "queue";
    lp.value = "high";
    Cairn__Plugin__V1__LabelPair *lps[] = {&lp};
    Cairn__Plugin__V1__Gauge g = CAIRN__PLUGIN__V1__GAUGE__INIT;
    g.has_value = 1;
    g.value = 42.5;
    Cairn__Plugin__V1__Metric m = CAIRN__PLUGIN__V1__METRIC__INIT;
    m.n_label = 1;
    m.label = lps;
    m.gauge = &g;
    Cairn__Plugin__V1__Metric *ms[] = {&m};
    Cairn__Plugin__V1__MetricFamily fam = CAIRN__PLUGIN__V1__METRIC_FAMILY__INIT;
    fam.name = "queue_length";
    fam.has_type = 1;
    fam.type = CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE;
    fam.n_metric = 1;
    fam.metric = ms;
    Cairn__Plugin__V1__MetricFamily *fams[] = {&fam};
    Cairn__Plugin__V1__CollectResponse r = CAIRN__PLUGIN__V1__COLLECT_RESPONSE__INIT;
    r.n_families = 1;
    r.families = fams;
    reply_message(s, &r.base);

    int64_t ts = cn_now_ms(), deadline = ts + 5000;
    Cairn__Plugin__V1__CollectResponse *resp = NULL;
    char err[256] = "";
    cr_assert_eq(plg_client_collect(c, ts, deadline, &resp, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(resp->n_families, 1);
    const Cairn__Plugin__V1__MetricFamily *f = resp->families[0];
    cr_assert_str_eq(f->name, "queue_length");
    cr_assert_eq(f->type, CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE);
    cr_assert_eq(f->n_metric, 1);
    cr_assert_eq(f->metric[0]->n_label, 1);
    cr_assert_str_eq(f->metric[0]->label[0]->name, "queue");
    cr_assert_str_eq(f->metric[0]->label[0]->value, "high");
    cr_assert_not_null(f->metric[0]->gauge);
    cr_assert_eq(f->metric[0]->gauge->value, 42.5);
    cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);

    char method[128];
    Cairn__Plugin__V1__CollectRequest *req = (Cairn__Plugin__V1__CollectRequest *)last_request(
        s, &cairn__plugin__v1__collect_request__descriptor, method, sizeof(method));
    cr_assert_str_eq(method, "/cairn.plugin.v1.Plugin/Collect");
    cr_assert_eq(req->timestamp_ms, ts);
    cr_assert_eq(req->deadline_ms, deadline);
    cairn__plugin__v1__collect_request__free_unpacked(req, NULL);

    /* An empty response is a valid, empty collection. */
    Cairn__Plugin__V1__CollectResponse empty = CAIRN__PLUGIN__V1__COLLECT_RESPONSE__INIT;
    reply_message(s, &empty.base);
    cr_assert_eq(plg_client_collect(c, ts, cn_now_ms() + 5000, &resp, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(resp->n_families, 0);
    cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, deadline_exceeded)
{
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    reply_kind(s, REPLY_SILENT);
    Cairn__Plugin__V1__CollectResponse *resp = (void *)1;
    char err[256] = "";
    int64_t now = cn_now_ms();
    cr_assert_eq(plg_client_collect(c, now, now + 300, &resp, err, sizeof(err)), -ETIMEDOUT);
    cr_assert_null(resp);
    cr_assert_eq(strncmp(err, "DEADLINE_EXCEEDED: ", 19), 0, "%s", err);
    /* Health and Info time out the same way. */
    cr_assert_eq(plg_client_health(c, 200, err, sizeof(err)), -ETIMEDOUT);
    Cairn__Plugin__V1__InfoResponse *info = (void *)1;
    cr_assert_eq(plg_client_info(c, 200, &info, err, sizeof(err)), -ETIMEDOUT);
    cr_assert_null(info);
    /* A deadline already past fails without waiting for the server. */
    cr_assert_eq(plg_client_collect(c, now, now - 1000, &resp, err, sizeof(err)), -ETIMEDOUT);
    /* The client stays usable. */
    reply_health(s, GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), 0, "%s", err);
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, message_too_large)
{
    struct server *s = server_start();
    char help[4000];
    memset(help, 'h', sizeof(help) - 1);
    help[sizeof(help) - 1] = '\0';
    Cairn__Plugin__V1__MetricFamily fam = CAIRN__PLUGIN__V1__METRIC_FAMILY__INIT;
    fam.name = "big";
    fam.help = help;
    Cairn__Plugin__V1__MetricFamily *fams[] = {&fam};
    Cairn__Plugin__V1__CollectResponse r = CAIRN__PLUGIN__V1__COLLECT_RESPONSE__INIT;
    r.n_families = 1;
    r.families = fams;
    cr_assert_eq(protobuf_c_message_get_packed_size(&r.base), 4010);

    struct plg_client *c = connect_to(s, 1024);
    reply_message(s, &r.base);
    Cairn__Plugin__V1__CollectResponse *resp = (void *)1;
    char err[256] = "";
    cr_assert_eq(plg_client_collect(c, 1, cn_now_ms() + 5000, &resp, err, sizeof(err)), -EMSGSIZE);
    cr_assert_null(resp);
    cr_assert_eq(strncmp(err, "RESOURCE_EXHAUSTED: ", 20), 0, "%s", err);
    cr_assert_neq(strstr(err, "4010"), NULL, "%s", err);
    plg_client_close(c);

    /* Exactly at the limit passes. */
    c = connect_to(s, 4010);
    cr_assert_eq(plg_client_collect(c, 1, cn_now_ms() + 5000, &resp, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_str_eq(resp->families[0]->help, help);
    cairn__plugin__v1__collect_response__free_unpacked(resp, NULL);
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, undecodable_response)
{
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    char err[256] = "";
    Cairn__Plugin__V1__CollectResponse *resp = (void *)1;
    /* Field 1, length 5, but only 2 bytes follow. */
    reply_bytes(s,
                "\x0a\x05"
                "ab",
                4);
    cr_assert_eq(plg_client_collect(c, 1, cn_now_ms() + 5000, &resp, err, sizeof(err)), -EBADMSG);
    cr_assert_null(resp);
    cr_assert_str_eq(err, "/cairn.plugin.v1.Plugin/Collect: undecodable response (4 bytes)");
    reply_bytes(s, "\xff\xff\xff", 3);
    cr_assert_eq(plg_client_health(c, 5000, err, sizeof(err)), -EBADMSG);
    cr_assert_str_eq(err, "/grpc.health.v1.Health/Check: undecodable response (3 bytes)");
    /* Status OK without any message. */
    reply_kind(s, REPLY_OK_EMPTY);
    Cairn__Plugin__V1__InfoResponse *info = (void *)1;
    cr_assert_eq(plg_client_info(c, 5000, &info, err, sizeof(err)), -EBADMSG);
    cr_assert_null(info);
    cr_assert_str_eq(err, "/cairn.plugin.v1.Plugin/Info: status OK without a response message");
    plg_client_close(c);
    server_stop(s);
}

Test(plugins_client, statuses)
{
    const struct {
        grpc_status_code st;
        const char *details;
        int rc;
        const char *err;
    } cases[] = {
        {GRPC_STATUS_UNIMPLEMENTED, "unknown method Collect", -EIO,
         "UNIMPLEMENTED: unknown method Collect"},
        {GRPC_STATUS_INTERNAL, "boom", -EIO, "INTERNAL: boom"},
        {GRPC_STATUS_UNKNOWN, "", -EIO, "UNKNOWN: "},
        {GRPC_STATUS_UNAUTHENTICATED, "who", -EIO, "UNAUTHENTICATED: who"},
        {GRPC_STATUS_UNAVAILABLE, "going away", -ECONNREFUSED, "UNAVAILABLE: going away"},
        {GRPC_STATUS_RESOURCE_EXHAUSTED, "busy", -EMSGSIZE, "RESOURCE_EXHAUSTED: busy"},
        {GRPC_STATUS_DEADLINE_EXCEEDED, "slow", -ETIMEDOUT, "DEADLINE_EXCEEDED: slow"},
    };
    struct server *s = server_start();
    struct plg_client *c = connect_to(s, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply_status(s, cases[i].st, cases[i].details);
        Cairn__Plugin__V1__CollectResponse *resp = (void *)1;
        char err[256] = "";
        cr_assert_eq(plg_client_collect(c, 1, cn_now_ms() + 5000, &resp, err, sizeof(err)),
                     cases[i].rc, "case %zu: %s", i, err);
        cr_assert_null(resp);
        cr_assert_str_eq(err, cases[i].err);
    }
    /* err may be NULL. */
    reply_status(s, GRPC_STATUS_INTERNAL, "x");
    cr_assert_eq(plg_client_health(c, 5000, NULL, 0), -EIO);
    plg_client_close(c);
    server_stop(s);
}

/*
 * Nobody listens on the path: the channel's connection attempt is refused
 * at once, and a call (not wait-for-ready) fails with UNAVAILABLE, so the
 * first call returns -ECONNREFUSED well before its deadline. Later calls
 * do the same.
 */
Test(plugins_client, nobody_listening)
{
    char dir[] = "/tmp/cairn-client-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/none.sock", dir);
    struct plg_client *c = NULL;
    char err[256] = "";
    cr_assert_eq(plg_client_connect(path, 0, &c, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(plg_client_health(c, 10000, err, sizeof(err)), -ECONNREFUSED, "%s", err);
    cr_assert_eq(strncmp(err, "UNAVAILABLE: ", 13), 0, "%s", err);
    Cairn__Plugin__V1__CollectResponse *resp = (void *)1;
    cr_assert_eq(plg_client_collect(c, 1, cn_now_ms() + 10000, &resp, err, sizeof(err)),
                 -ECONNREFUSED, "%s", err);
    cr_assert_null(resp);
    plg_client_close(c);
    rmdir(dir);
}

Test(plugins_client, connect_arguments)
{
    struct plg_client *c = (void *)1;
    char err[256] = "";
    cr_assert_eq(plg_client_connect("", 0, &c, err, sizeof(err)), -EINVAL);
    cr_assert_null(c);
    cr_assert_str_eq(err, "invalid socket path");
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    cr_assert_eq(plg_client_connect(longpath, 0, &c, err, sizeof(err)), -EINVAL);
    plg_client_close(NULL);
}
