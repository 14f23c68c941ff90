/*
 * The plugin host's gRPC client (contract in internal.h): synchronous unary
 * calls over grpc core's C API to one plugin's Unix socket.
 *
 * Each client owns one channel and one pluck completion queue. A call is a
 * single batch (send metadata, message and close; receive metadata, message
 * and status) whose completion is plucked by its tag, so a client never has
 * more than one event in flight and close only has to shut the queue down.
 * The call carries the deadline; the pluck waits a little longer and, should
 * grpc ever miss it, cancels the call and waits for the cancellation, so a
 * call cannot hang the supervisor.
 *
 * Channel settings: responses are bounded by max_message (grpc fails a larger
 * one with RESOURCE_EXHAUSTED before it is buffered whole), requests by a
 * small limit; no retries (the host has its own restart policy and a retried
 * Collect would only run past its deadline); a local subchannel pool so a
 * closed client really closes its connection, and short reconnect backoffs
 * because the socket is local and a plugin that just printed its handshake
 * is listening. No keepalive: the socket is local, the health check and the
 * Collect deadlines notice a hung plugin.
 *
 * grpc_init()/grpc_shutdown() are reference counted by grpc, so each client
 * takes one reference for its lifetime.
 *
 * Errors map gRPC statuses to errno values: DEADLINE_EXCEEDED -ETIMEDOUT,
 * UNAVAILABLE -ECONNREFUSED, RESOURCE_EXHAUSTED -EMSGSIZE, any other
 * -EIO; a response that does not decode (or is missing with status OK) is
 * -EBADMSG. err gets "STATUS_NAME: details" for status errors.
 */
#include "plugins/host/internal.h"
#include "cairn_version.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "health.pb-c.h"
#include "plugins/sdk/include/cairn/plugin.h"

/* Requests are a few bytes; anything near this is a bug. */
#define CLIENT_MAX_SEND 65536
/* How long past the call's deadline the pluck waits before cancelling. */
#define CLIENT_PLUCK_GRACE_MS 2000

struct plg_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
};

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

static int status_errno(grpc_status_code st)
{
    switch (st) {
    case GRPC_STATUS_DEADLINE_EXCEEDED: return -ETIMEDOUT;
    case GRPC_STATUS_UNAVAILABLE: return -ECONNREFUSED;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return -EMSGSIZE;
    default: return -EIO;
    }
}

int plg_client_connect(const char *socket_path, long max_message, struct plg_client **out,
                       char *err, size_t errcap)
{
    char target[128];
    *out = NULL;
    if (!socket_path || !*socket_path || strlen(socket_path) >= 108) {
        cn_errf(err, errcap, "invalid socket path");
        return -EINVAL;
    }
    snprintf(target, sizeof(target), "unix:%s", socket_path);
    if (max_message <= 0)
        max_message = PLG_HOST_MAX_MESSAGE;
    if (max_message > INT_MAX)
        max_message = INT_MAX;

    struct plg_client *c = cn_calloc(1, sizeof(*c));
    if (!c) {
        cn_errf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    grpc_init();
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = (int)max_message},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
         .value.integer = CLIENT_MAX_SEND},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ENABLE_RETRIES, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 100},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, .value.integer = 100},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, .value.integer = 1000},
        {.type = GRPC_ARG_STRING,
         .key = GRPC_ARG_PRIMARY_USER_AGENT_STRING,
         .value.string = "cairn-plugin-host/" CAIRN_VERSION},
    };
    grpc_channel_args cargs = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    c->channel = grpc_channel_create(target, creds, &cargs);
    grpc_channel_credentials_release(creds);
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    *out = c;
    return 0;
}

void plg_client_close(struct plg_client *c)
{
    if (!c)
        return;
    grpc_channel_destroy(c->channel);
    /* Every batch was plucked: the queue is empty and shuts down at once. */
    grpc_completion_queue_shutdown(c->cq);
    grpc_event ev;
    do
        ev = grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    while (ev.type != GRPC_QUEUE_SHUTDOWN);
    grpc_completion_queue_destroy(c->cq);
    free(c);
    grpc_shutdown();
}

/* Packs msg into a new byte buffer (owned by the caller). */
static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* Decodes bb as desc; NULL when it does not decode. */
static ProtobufCMessage *unpack(grpc_byte_buffer *bb, const ProtobufCMessageDescriptor *desc,
                                size_t *len)
{
    grpc_byte_buffer_reader r;
    *len = 0;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return NULL;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, *len, GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    return m;
}

/*
 * One unary call of method with req, answer decoded as desc into *resp
 * (freed by the caller with protobuf_c_message_free_unpacked). 0 or a
 * negative errno with err filled.
 */
static int unary(struct plg_client *c, const char *method, gpr_timespec deadline,
                 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
                 ProtobufCMessage **resp, char *err, size_t errcap)
{
    *resp = NULL;
    grpc_call *call =
        grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                 grpc_slice_from_static_string(method), NULL, deadline, NULL);
    if (!call) {
        cn_errf(err, errcap, "cannot create a call for %s", method);
        return -EIO;
    }
    grpc_byte_buffer *out = pack(req), *in = NULL;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = out;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &in;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;

    int rc = 0;
    void *tag = call; /* unique while the call lives */
    grpc_call_error ce = grpc_call_start_batch(call, ops, 6, tag, NULL);
    if (ce != GRPC_CALL_OK) {
        cn_errf(err, errcap, "%s: cannot start the call (error %d)", method, (int)ce);
        rc = -EIO;
        goto done;
    }
    gpr_timespec limit = gpr_time_add(gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC),
                                      gpr_time_from_millis(CLIENT_PLUCK_GRACE_MS, GPR_TIMESPAN));
    grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, limit, NULL);
    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        grpc_call_cancel(call, NULL);
        ev = grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    }
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        cn_errf(err, errcap, "%s: the call failed", method);
        rc = -EIO;
        goto done;
    }
    if (status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(details);
        const char *name = (unsigned)status < sizeof(status_names) / sizeof(status_names[0])
                               ? status_names[status]
                               : "STATUS_UNKNOWN";
        cn_errf(err, errcap, "%s: %s", name, d);
        gpr_free(d);
        rc = status_errno(status);
        goto done;
    }
    if (!in) {
        cn_errf(err, errcap, "%s: status OK without a response message", method);
        rc = -EBADMSG;
        goto done;
    }
    size_t len;
    *resp = unpack(in, desc, &len);
    if (!*resp) {
        cn_errf(err, errcap, "%s: undecodable response (%zu bytes)", method, len);
        rc = -EBADMSG;
    }
done:
    grpc_byte_buffer_destroy(out);
    if (in)
        grpc_byte_buffer_destroy(in);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    return rc;
}

static gpr_timespec deadline_in(int64_t timeout_ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(timeout_ms > 0 ? timeout_ms : 0, GPR_TIMESPAN));
}

int plg_client_health(struct plg_client *c, int64_t timeout_ms, char *err, size_t errcap)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *m;
    int rc = unary(c, "/grpc.health.v1.Health/Check", deadline_in(timeout_ms), &req.base,
                   &grpc__health__v1__health_check_response__descriptor, &m, err, errcap);
    if (rc)
        return rc;
    Grpc__Health__V1__HealthCheckResponse *resp = (Grpc__Health__V1__HealthCheckResponse *)m;
    if (resp->status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &grpc__health__v1__health_check_response__serving_status__descriptor, resp->status);
        if (v)
            cn_errf(err, errcap, "health status %s", v->name);
        else
            cn_errf(err, errcap, "health status %d", (int)resp->status);
        rc = -EAGAIN;
    }
    grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    return rc;
}

int plg_client_info(struct plg_client *c, int64_t timeout_ms, Cairn__Plugin__V1__InfoResponse **out,
                    char *err, size_t errcap)
{
    Cairn__Plugin__V1__InfoRequest req = CAIRN__PLUGIN__V1__INFO_REQUEST__INIT;
    req.protocol_version = CAIRN_PLUGIN_PROTOCOL_VERSION;
    ProtobufCMessage *m;
    int rc = unary(c, "/cairn.plugin.v1.Plugin/Info", deadline_in(timeout_ms), &req.base,
                   &cairn__plugin__v1__info_response__descriptor, &m, err, errcap);
    *out = (Cairn__Plugin__V1__InfoResponse *)m;
    return rc;
}

int plg_client_collect(struct plg_client *c, int64_t ts_ms, int64_t deadline_ms,
                       Cairn__Plugin__V1__CollectResponse **out, char *err, size_t errcap)
{
    Cairn__Plugin__V1__CollectRequest req = CAIRN__PLUGIN__V1__COLLECT_REQUEST__INIT;
    req.timestamp_ms = ts_ms;
    req.deadline_ms = deadline_ms;
    int64_t ms = deadline_ms % 1000;
    int64_t sec = deadline_ms / 1000;
    if (ms < 0) {
        ms += 1000;
        sec--;
    }
    gpr_timespec deadline = {
        .tv_sec = sec, .tv_nsec = (int32_t)(ms * 1000000), .clock_type = GPR_CLOCK_REALTIME};
    ProtobufCMessage *m;
    int rc = unary(c, "/cairn.plugin.v1.Plugin/Collect", deadline, &req.base,
                   &cairn__plugin__v1__collect_response__descriptor, &m, err, errcap);
    *out = (Cairn__Plugin__V1__CollectResponse *)m;
    return rc;
}
