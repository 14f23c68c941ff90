/*
 * cairn_plugin_serve: the plugin's side of the handshake and its gRPC server.
 *
 * The handshake is go-plugin's: the agent starts the plugin with the magic
 * cookie and a private socket directory in the environment; the plugin
 * listens on <dir>/plugin.sock and announces it on stdout with one line,
 * "1|1|unix|<path>|grpc". Without the cookie the process was started by
 * hand: it says what it is and exits 1.
 *
 * The server uses gRPC's core C API with one completion queue and three
 * threads of ours:
 *   - the calling thread runs the event loop: it accepts calls, reads their
 *     request and answers Health/Check, Info and unknown methods at once;
 *   - a worker thread runs the plugin's collect callback, one Collect at a
 *     time in arrival order, and starts the sending of its response itself,
 *     so that health checks and Info are answered while a collect runs;
 *   - a signal thread waits for SIGTERM or SIGINT with sigwait (both are
 *     blocked in every other thread, including gRPC's, which inherit the
 *     mask set before grpc_init) and starts the server's shutdown.
 * The loop also wakes up every second to see whether the agent is still its
 * parent; when the agent has gone (without killing the plugin, which it
 * normally does through PR_SET_PDEATHSIG) the loop sends the signal thread
 * SIGTERM, so that every stop takes the same path.
 * Every call is one struct sdk_rpc used as the completion tag; its state
 * says which batch completed. A call is freed by the loop when its final
 * batch (status sent, close received) completes.
 *
 * A Collect still queued when its deadline has passed (behind a slow
 * collect) is answered DEADLINE_EXCEEDED without running the callback.
 *
 * Stopping: in-flight calls get about a second to finish, then all calls
 * are cancelled and the connections dropped (at once when no call is in
 * flight: an idle client would otherwise hold the shutdown up). Queued
 * Collects that have not started are answered UNAVAILABLE. A collect
 * callback still running three seconds after the signal (one that ignores
 * its deadline) cannot be interrupted: the process then removes its socket
 * and exits with status 1 on the spot, as the agent would kill it anyway.
 *
 * Responses are packed straight from the builder's protobuf-c messages into
 * one gRPC slice. The server's send limit is raised to 64 MiB so that an
 * oversized response reaches the agent, which enforces its own limit and
 * reports it as such.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "health.pb-c.h"
#include "internal.h"
#include "plugin.pb-c.h"

#define SOCKET_NAME "plugin.sock"
#define MAX_SEND_BYTES (64 << 20)
#define CANCEL_AFTER_MS 1000
#define GIVE_UP_AFTER_MS 3000
#define PARENT_CHECK_MS 1000

#define METHOD_INFO "/cairn.plugin.v1.Plugin/Info"
#define METHOD_COLLECT "/cairn.plugin.v1.Plugin/Collect"
#define METHOD_HEALTH "/grpc.health.v1.Health/Check"
#define SERVICE_PLUGIN "cairn.plugin.v1.Plugin"

enum rpc_state {
    RPC_REQUESTED, /* waiting for a call to arrive */
    RPC_RECEIVING, /* reading the request message */
    RPC_FINISHING, /* response and status sent; waiting for completion */
};

enum rpc_method { M_OTHER, M_INFO, M_COLLECT, M_HEALTH };

/* One call, from grpc_server_request_call to its final completion. */
struct sdk_rpc {
    struct serve *s;
    enum rpc_state state;
    enum rpc_method method;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *req, *resp;
    grpc_slice status_details;
    int cancelled;
    int64_t timestamp_ms, deadline_ms; /* of a Collect */
    struct sdk_rpc *next;              /* in the worker's queue */
};

/* Name, help and type of one family offered by Info. */
struct family_desc {
    char *name, *help;
    int type;
};

struct serve {
    const struct cairn_plugin *p;
    char sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    grpc_server *srv;
    grpc_completion_queue *cq;
    char shutdown_tag; /* its address tags the shutdown notification */
    sigset_t stop_signals;
    pthread_t worker, signals;
    pid_t ppid; /* the agent */

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;
    struct sdk_rpc *queue, **queue_tail; /* Collects waiting for the worker */
    size_t live;                         /* rpcs allocated and not freed */
    bool stopping;                       /* a stop signal arrived */
    int64_t stop_ms;                     /* when, monotonic */
    /* The families of the latest collection, for Info when p->families is
     * NULL. */
    struct family_desc *descs;
    size_t ndescs;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the environment ------------------------------------------------------ */

/* Whether the comma-separated list of versions contains v. */
static bool versions_include(const char *list, long v)
{
    const char *s = list;
    while (*s) {
        char *end;
        errno = 0;
        long x = strtol(s, &end, 10);
        if (end != s && errno == 0 && x == v) {
            while (*end == ' ')
                end++;
            if (*end == ',' || *end == '\0')
                return true;
        }
        s = strchr(s, ',');
        if (!s)
            break;
        s++;
    }
    return false;
}

/* Checks what the agent put in the environment and fills s->sock. On error
 * prints why on stderr and returns -1. */
static int check_environment(struct serve *s)
{
    const char *cookie = getenv(CAIRN_PLUGIN_COOKIE_KEY);
    if (!cookie || strcmp(cookie, CAIRN_PLUGIN_COOKIE_VALUE) != 0) {
        fprintf(stderr, "This binary is a plugin for the cairn agent. It is not meant to be run "
                        "directly; name it in the agent's configuration (plugins:) or test it "
                        "with `cairn plugin check PATH`.\n");
        return -1;
    }
    const char *dir = getenv(CAIRN_PLUGIN_SOCKET_DIR_ENV);
    if (!dir || !*dir) {
        fprintf(stderr, "cairn-plugin: %s is not set; the agent names the socket directory\n",
                CAIRN_PLUGIN_SOCKET_DIR_ENV);
        return -1;
    }
    int n = snprintf(s->sock, sizeof(s->sock), "%s/%s", dir, SOCKET_NAME);
    if (n < 0 || (size_t)n >= sizeof(s->sock)) {
        fprintf(stderr, "cairn-plugin: socket path %s/%s is longer than %zu bytes\n", dir,
                SOCKET_NAME, sizeof(s->sock) - 1);
        return -1;
    }
    const char *versions = getenv(CAIRN_PLUGIN_PROTOCOL_VERSIONS_ENV);
    if (versions && !versions_include(versions, CAIRN_PLUGIN_PROTOCOL_VERSION)) {
        fprintf(stderr,
                "cairn-plugin: the agent speaks plugin protocol version %s, this plugin "
                "speaks version %d\n",
                versions, CAIRN_PLUGIN_PROTOCOL_VERSION);
        return -1;
    }
    return 0;
}

/* ---- calls ----------------------------------------------------------------- */

static void rpc_free(struct sdk_rpc *r)
{
    if (r->call)
        grpc_call_unref(r->call);
    grpc_call_details_destroy(&r->details);
    grpc_metadata_array_destroy(&r->md);
    if (r->req)
        grpc_byte_buffer_destroy(r->req);
    if (r->resp)
        grpc_byte_buffer_destroy(r->resp);
    grpc_slice_unref(r->status_details);
    free(r);
}

/* Frees r and forgets it (from any thread). */
static void rpc_release(struct sdk_rpc *r)
{
    struct serve *s = r->s;
    rpc_free(r);
    pthread_mutex_lock(&s->mu);
    s->live--;
    pthread_mutex_unlock(&s->mu);
}

/* Asks the server for the next call. */
static void rpc_request(struct serve *s)
{
    struct sdk_rpc *r = calloc(1, sizeof(*r));
    if (!r) {
        fprintf(stderr, "cairn-plugin: out of memory accepting a call\n");
        return;
    }
    r->s = s;
    r->state = RPC_REQUESTED;
    r->status_details = grpc_empty_slice();
    grpc_call_details_init(&r->details);
    grpc_metadata_array_init(&r->md);
    pthread_mutex_lock(&s->mu);
    s->live++;
    pthread_mutex_unlock(&s->mu);
    if (grpc_server_request_call(s->srv, &r->call, &r->details, &r->md, s->cq, s->cq, r) !=
        GRPC_CALL_OK)
        rpc_release(r);
}

/*
 * Answers the call: initial metadata, the response (NULL: none), the status
 * with msg (NULL: none), and waits for the close. Takes resp. May be called
 * from the worker thread; r belongs to the loop again afterwards.
 */
static void rpc_finish(struct sdk_rpc *r, grpc_byte_buffer *resp, grpc_status_code status,
                       const char *msg)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof(ops));
    r->resp = resp;
    if (msg) {
        grpc_slice_unref(r->status_details);
        r->status_details = grpc_slice_from_copied_string(msg);
    }
    grpc_call *call = r->call;
    /* Hand r over to the loop (which takes it from the completion queue)
     * through the mutex as well: gRPC's own synchronisation is invisible to
     * ThreadSanitizer. r is not touched after the unlock. */
    pthread_mutex_lock(&r->s->mu);
    r->state = RPC_FINISHING;
    pthread_mutex_unlock(&r->s->mu);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (resp) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    ops[n++].data.send_status_from_server.status_details = msg ? &r->status_details : NULL;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &r->cancelled;
    grpc_call_error e = grpc_call_start_batch(call, ops, n, r, NULL);
    if (e != GRPC_CALL_OK) {
        fprintf(stderr, "cairn-plugin: cannot answer a call (grpc error %d)\n", (int)e);
        rpc_release(r); /* no completion will come: r is still ours */
    }
}

/* A byte buffer holding m serialized. */
static grpc_byte_buffer *message_buffer(const ProtobufCMessage *m)
{
    size_t size = protobuf_c_message_get_packed_size(m);
    grpc_slice slice = grpc_slice_malloc(size);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(slice));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* The request of r decoded as a desc message, or NULL when it is missing
 * or does not decode. Free with protobuf_c_message_free_unpacked. */
static ProtobufCMessage *request_message(struct sdk_rpc *r, const ProtobufCMessageDescriptor *desc)
{
    grpc_byte_buffer_reader reader;
    if (!r->req || !grpc_byte_buffer_reader_init(&reader, r->req))
        return NULL;
    grpc_slice slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
                                                    GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    return m;
}

static void answer_health(struct sdk_rpc *r)
{
    Grpc__Health__V1__HealthCheckRequest *req =
        (Grpc__Health__V1__HealthCheckRequest *)request_message(
            r, &grpc__health__v1__health_check_request__descriptor);
    if (!req) {
        rpc_finish(r, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed HealthCheckRequest");
        return;
    }
    bool known = strcmp(req->service, "") == 0 || strcmp(req->service, SERVICE_PLUGIN) == 0;
    protobuf_c_message_free_unpacked(&req->base, NULL);
    if (!known) {
        rpc_finish(r, NULL, GRPC_STATUS_NOT_FOUND, "unknown service");
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    rpc_finish(r, message_buffer(&resp.base), GRPC_STATUS_OK, NULL);
}

static void answer_info(struct sdk_rpc *r)
{
    struct serve *s = r->s;
    const struct cairn_plugin *p = s->p;
    ProtobufCMessage *req = request_message(r, &cairn__plugin__v1__info_request__descriptor);
    if (!req) {
        rpc_finish(r, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed InfoRequest");
        return;
    }
    protobuf_c_message_free_unpacked(req, NULL);

    Cairn__Plugin__V1__InfoResponse resp = CAIRN__PLUGIN__V1__INFO_RESPONSE__INIT;
    resp.name = (char *)p->name;
    resp.version = (char *)(p->version ? p->version : "");
    resp.protocol_version = CAIRN_PLUGIN_PROTOCOL_VERSION;
    resp.interval_ms = p->interval_ms;

    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    if (p->families)
        while (p->families[n].name)
            n++;
    else
        n = s->ndescs;
    Cairn__Plugin__V1__MetricFamily *fams = calloc(n ? n : 1, sizeof(*fams));
    Cairn__Plugin__V1__MetricFamily **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    grpc_byte_buffer *bb = NULL;
    if (fams && ptrs) {
        for (size_t i = 0; i < n; i++) {
            fams[i] = (Cairn__Plugin__V1__MetricFamily)CAIRN__PLUGIN__V1__METRIC_FAMILY__INIT;
            fams[i].name = (char *)(p->families ? p->families[i].name : s->descs[i].name);
            fams[i].help = (char *)(p->families ? p->families[i].help : s->descs[i].help);
            fams[i].has_type = 1;
            fams[i].type = (Cairn__Plugin__V1__MetricType)(p->families ? (int)p->families[i].type
                                                                       : s->descs[i].type);
            ptrs[i] = &fams[i];
        }
        resp.families = ptrs;
        resp.n_families = n;
        bb = message_buffer(&resp.base);
    }
    pthread_mutex_unlock(&s->mu);
    free(fams);
    free(ptrs);
    if (bb)
        rpc_finish(r, bb, GRPC_STATUS_OK, NULL);
    else
        rpc_finish(r, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

static void queue_collect(struct sdk_rpc *r)
{
    struct serve *s = r->s;
    Cairn__Plugin__V1__CollectRequest *req = (Cairn__Plugin__V1__CollectRequest *)request_message(
        r, &cairn__plugin__v1__collect_request__descriptor);
    if (!req) {
        rpc_finish(r, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed CollectRequest");
        return;
    }
    r->timestamp_ms = req->timestamp_ms;
    r->deadline_ms = req->deadline_ms;
    protobuf_c_message_free_unpacked(&req->base, NULL);
    pthread_mutex_lock(&s->mu);
    bool stopping = s->stopping;
    if (!stopping) {
        r->next = NULL;
        *s->queue_tail = r;
        s->queue_tail = &r->next;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (stopping)
        rpc_finish(r, NULL, GRPC_STATUS_UNAVAILABLE, "plugin is stopping");
}

/* A call arrived: asks for the next one and starts reading the request. */
static void on_call(struct sdk_rpc *r)
{
    rpc_request(r->s);
    if (grpc_slice_str_cmp(r->details.method, METHOD_HEALTH) == 0)
        r->method = M_HEALTH;
    else if (grpc_slice_str_cmp(r->details.method, METHOD_INFO) == 0)
        r->method = M_INFO;
    else if (grpc_slice_str_cmp(r->details.method, METHOD_COLLECT) == 0)
        r->method = M_COLLECT;
    else {
        rpc_finish(r, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
        return;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &r->req;
    r->state = RPC_RECEIVING;
    if (grpc_call_start_batch(r->call, &op, 1, r, NULL) != GRPC_CALL_OK)
        rpc_release(r);
}

/* The request of r has been read (or the call failed). */
static void on_request(struct sdk_rpc *r, bool ok)
{
    if (!ok || !r->req) {
        rpc_finish(r, NULL, GRPC_STATUS_INVALID_ARGUMENT, "no request message");
        return;
    }
    switch (r->method) {
    case M_HEALTH: answer_health(r); break;
    case M_INFO: answer_info(r); break;
    case M_COLLECT: queue_collect(r); break;
    default: rpc_finish(r, NULL, GRPC_STATUS_UNIMPLEMENTED, "unknown method"); break;
    }
}

/* ---- the worker: collects ------------------------------------------------- */

static void free_descs(struct family_desc *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(d[i].name);
        free(d[i].help);
    }
    free(d);
}

static bool same_help(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Remembers name, help and type of fams for Info, unless they are the ones
 * already remembered. */
static void remember_families(struct serve *s, Cairn__Plugin__V1__MetricFamily **fams, size_t n)
{
    bool same = n == s->ndescs; /* only this thread writes descs */
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(fams[i]->name, s->descs[i].name) == 0 &&
               same_help(fams[i]->help, s->descs[i].help) && (int)fams[i]->type == s->descs[i].type;
    if (same)
        return;
    struct family_desc *d = calloc(n ? n : 1, sizeof(*d));
    if (!d)
        return;
    for (size_t i = 0; i < n; i++) {
        d[i].name = strdup(fams[i]->name);
        d[i].help = fams[i]->help ? strdup(fams[i]->help) : NULL;
        d[i].type = (int)fams[i]->type;
        if (!d[i].name || (fams[i]->help && !d[i].help)) {
            free_descs(d, i + 1);
            return;
        }
    }
    pthread_mutex_lock(&s->mu);
    struct family_desc *old = s->descs;
    size_t nold = s->ndescs;
    s->descs = d;
    s->ndescs = n;
    pthread_mutex_unlock(&s->mu);
    free_descs(old, nold);
}

/* Runs one collect in *cp (the worker's context, made on first use and
 * emptied after each collect) and answers r. */
static void run_collect(struct serve *s, struct sdk_rpc *r, struct cairn_collect **cp)
{
    const struct cairn_plugin *p = s->p;
    if (*cp)
        sdk_collect_reset(*cp, r->timestamp_ms, r->deadline_ms);
    else
        *cp = sdk_collect_create(r->timestamp_ms, r->deadline_ms);
    struct cairn_collect *c = *cp;
    if (!c) {
        rpc_finish(r, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    int rc = p->collect(c, p->user);
    const char *err = sdk_collect_error(c);
    if (rc != 0 || err) {
        char msg[600];
        if (err)
            snprintf(msg, sizeof(msg), "%s", err);
        else
            snprintf(msg, sizeof(msg), "collect failed (returned %d)", rc);
        sdk_collect_reset(c, 0, 0);
        rpc_finish(r, NULL, GRPC_STATUS_UNKNOWN, msg);
        return;
    }
    Cairn__Plugin__V1__CollectResponse resp = CAIRN__PLUGIN__V1__COLLECT_RESPONSE__INIT;
    resp.families = sdk_collect_families(c, &resp.n_families);
    grpc_byte_buffer *bb = message_buffer(&resp.base);
    if (!p->families)
        remember_families(s, resp.families, resp.n_families);
    sdk_collect_reset(c, 0, 0); /* drop the messages now, not at the next collect */
    rpc_finish(r, bb, GRPC_STATUS_OK, NULL);
}

static void *worker_main(void *arg)
{
    struct serve *s = arg;
    struct cairn_collect *c = NULL;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->queue && !s->stopping)
            pthread_cond_wait(&s->cv, &s->mu);
        struct sdk_rpc *r = s->queue;
        if (!r)
            break; /* stopping and nothing queued */
        s->queue = r->next;
        if (!s->queue)
            s->queue_tail = &s->queue;
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping)
            rpc_finish(r, NULL, GRPC_STATUS_UNAVAILABLE, "plugin is stopping");
        else if (r->deadline_ms > 0 && real_ms() >= r->deadline_ms)
            /* Queued behind a slow collect: the agent has given up on it. */
            rpc_finish(r, NULL, GRPC_STATUS_DEADLINE_EXCEEDED,
                       "deadline passed before the collect started");
        else
            run_collect(s, r, &c);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    sdk_collect_destroy(c);
    return NULL;
}

/* ---- stopping ------------------------------------------------------------- */

static void *signal_main(void *arg)
{
    struct serve *s = arg;
    int sig = 0;
    while (sigwait(&s->stop_signals, &sig) != 0)
        ;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->stop_ms = mono_ms();
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    grpc_server_shutdown_and_notify(s->srv, s->cq, &s->shutdown_tag);
    return NULL;
}

/* Runs the event loop until the server has shut down and every call is
 * finished. */
static void event_loop(struct serve *s)
{
    bool shut_down = false, cancelled = false, parent_gone = false;
    rpc_request(s);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping, idle = s->live == 0;
        int64_t since = stopping ? mono_ms() - s->stop_ms : 0;
        pthread_mutex_unlock(&s->mu);
        if (shut_down && idle)
            return;
        /* Without calls in flight there is nothing to wait for but the
         * clients' idle connections: drop them at once. */
        if (stopping && !cancelled && (idle || since >= CANCEL_AFTER_MS)) {
            grpc_server_cancel_all_calls(s->srv);
            cancelled = true;
        }
        if (stopping && since >= GIVE_UP_AFTER_MS) {
            fprintf(stderr,
                    "cairn-plugin: collect still running %d ms after the stop signal; exiting "
                    "without waiting for it\n",
                    GIVE_UP_AFTER_MS);
            unlink(s->sock);
            _exit(1);
        }
        if (!stopping && !parent_gone && getppid() != s->ppid) {
            /* The agent is gone: stop as if it had said so. */
            fprintf(stderr, "cairn-plugin: the agent (process %ld) has exited; stopping\n",
                    (long)s->ppid);
            pthread_kill(s->signals, SIGTERM);
            parent_gone = true;
        }
        /* Wake up regularly: to keep the timeouts above while stopping, to
         * look for the agent otherwise. */
        gpr_timespec deadline =
            gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                         gpr_time_from_millis(stopping ? 100 : PARENT_CHECK_MS, GPR_TIMESPAN));
        grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            continue;
        if (ev.type != GRPC_OP_COMPLETE)
            return; /* the queue was shut down: cannot happen before we do it */
        if (ev.tag == &s->shutdown_tag) {
            shut_down = true;
            continue;
        }
        struct sdk_rpc *r = ev.tag;
        pthread_mutex_lock(&s->mu); /* pairs with the hand-over in rpc_finish */
        enum rpc_state state = r->state;
        pthread_mutex_unlock(&s->mu);
        switch (state) {
        case RPC_REQUESTED:
            if (ev.success)
                on_call(r);
            else
                rpc_release(r); /* the server is shutting down */
            break;
        case RPC_RECEIVING: on_request(r, ev.success); break;
        case RPC_FINISHING: rpc_release(r); break;
        }
    }
}

/* ---- setup ---------------------------------------------------------------- */

/* Creates, binds and starts the server on s->sock. */
static int server_start(struct serve *s)
{
    grpc_arg args[1];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[0].value.integer = MAX_SEND_BYTES;
    grpc_channel_args ch_args = {.num_args = 1, .args = args};
    s->srv = grpc_server_create(&ch_args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->srv, s->cq, NULL);
    if (unlink(s->sock) < 0 && errno != ENOENT) {
        fprintf(stderr, "cairn-plugin: cannot remove the old socket %s: %s\n", s->sock,
                strerror(errno));
        return -1;
    }
    char addr[sizeof(s->sock) + 8];
    snprintf(addr, sizeof(addr), "unix:%s", s->sock);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(s->srv, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        fprintf(stderr, "cairn-plugin: cannot listen on %s\n", s->sock);
        return -1;
    }
    grpc_server_start(s->srv);
    return 0;
}

/* Shuts down and destroys the server and its queue (after the loop, or
 * when setup fails). */
static void server_destroy(struct serve *s, bool started)
{
    if (!s->srv)
        return;
    if (started) {
        grpc_server_shutdown_and_notify(s->srv, s->cq, &s->shutdown_tag);
        grpc_server_cancel_all_calls(s->srv);
        for (;;) {
            grpc_event ev =
                grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE || ev.tag == &s->shutdown_tag)
                break;
            rpc_free(ev.tag); /* only requested calls can be pending here */
        }
    }
    grpc_server_destroy(s->srv);
    grpc_completion_queue_shutdown(s->cq);
    while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(s->cq);
    s->srv = NULL;
}

/* Runs the server with the threads started; returns the exit status. */
static int serve_running(struct serve *s)
{
    if (printf("%d|%d|unix|%s|grpc\n", CAIRN_PLUGIN_CORE_VERSION, CAIRN_PLUGIN_PROTOCOL_VERSION,
               s->sock) < 0 ||
        fflush(stdout) != 0) {
        fprintf(stderr, "cairn-plugin: cannot write the handshake line: %s\n", strerror(errno));
        return 1;
    }
    if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
        fprintf(stderr, "cairn-plugin: cannot start the collect thread\n");
        return 1;
    }
    if (pthread_create(&s->signals, NULL, signal_main, s) != 0) {
        fprintf(stderr, "cairn-plugin: cannot start the signal thread\n");
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->worker, NULL);
        return 1;
    }
    event_loop(s);
    pthread_join(s->signals, NULL);
    pthread_join(s->worker, NULL);
    return 0;
}

int cairn_plugin_serve(const struct cairn_plugin *p)
{
    if (!p || !p->name || !*p->name || !p->collect) {
        fprintf(stderr, "cairn-plugin: invalid plugin: a name and a collect function are "
                        "required\n");
        return 1;
    }
    struct serve s;
    memset(&s, 0, sizeof(s));
    s.p = p;
    if (check_environment(&s) < 0)
        return 1;
    s.ppid = getppid();
    s.queue_tail = &s.queue;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);

    /* Block the stop signals before gRPC starts threads, which inherit the
     * mask: only the signal thread receives them. A closed agent pipe must
     * give EPIPE, not kill the process. */
    sigset_t old;
    sigemptyset(&s.stop_signals);
    sigaddset(&s.stop_signals, SIGTERM);
    sigaddset(&s.stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &s.stop_signals, &old);
    signal(SIGPIPE, SIG_IGN);
    grpc_init();

    int status = 1;
    bool started = server_start(&s) == 0;
    if (started)
        status = serve_running(&s);
    server_destroy(&s, started && status != 0);
    unlink(s.sock);
    grpc_shutdown_blocking();
    /* A second stop signal may be pending: consume it rather than be killed
     * by it when the mask is restored. */
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&s.stop_signals, NULL, &zero) > 0)
        ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free_descs(s.descs, s.ndescs);
    pthread_cond_destroy(&s.cv);
    pthread_mutex_destroy(&s.mu);
    return status;
}
