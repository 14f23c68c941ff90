/*
 * cairn_plugin_serve, end to end: the real plugin binaries built on the SDK
 * (cairn-test-fault, the procstate example) and the Python example are
 * started as the agent starts them, and talked to with gRPC core client
 * calls: the handshake, Health/Check, Info, Collect, errors, and the stop on
 * SIGTERM. The children get PR_SET_PDEATHSIG so that a failed test leaves
 * no process behind. Every wait is bounded (call deadlines, read and exit
 * timeouts), so the tests carry no Criterion .timeout: with --jobs=2 it
 * makes Criterion 2.4's runner leak 48 bytes, which LeakSanitizer reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "cairn/plugin.h"
#include "health.pb-c.h"
#include "plugin.pb-c.h"

#define FAULT_BIN CAIRN_BINARY_DIR "/test-plugins/cairn-test-fault"
#define PROCSTATE_BIN CAIRN_BINARY_DIR "/plugins/cairn-plugin-procstate"
#define PYTHON_EXAMPLE CAIRN_BINARY_DIR "/plugins/python/cairn_example.py"
#define NOT_FOR_HUMANS                                                                             \
    "This binary is a plugin for the cairn agent. It is not meant to be run directly; name it "    \
    "in the agent's configuration (plugins:) or test it with `cairn plugin check PATH`.\n"
/* Generous: the plugins run under AddressSanitizer. */
#define START_TIMEOUT_MS 30000
#define CALL_TIMEOUT_MS 20000

/* ---- plugin processes ----------------------------------------------------- */

struct plugin_proc {
    pid_t pid;
    pid_t parent; /* started through a parent of its own (or -1)... */
    int release;  /* ...which exits when this is closed */
    int out, err; /* read ends of its stdout and stderr */
    char dir[64]; /* its socket directory (made by start_plugin) */
    char sock[128];
    char mode[128]; /* dir/mode, the fault plugin's FAULT_MODE_FILE */
};

static bool plugin_env_var(const char *entry)
{
    const char *const vars[] = {CAIRN_PLUGIN_COOKIE_KEY "=", CAIRN_PLUGIN_SOCKET_DIR_ENV "=",
                                CAIRN_PLUGIN_PROTOCOL_VERSIONS_ENV "=",
                                "FAULT_MODE_FILE=", "CAIRN_PROCFS="};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (strncmp(entry, vars[i], strlen(vars[i])) == 0)
            return true;
    return false;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/*
 * Starts exe with this process' environment minus the plugin variables,
 * plus the cookie (cookie: its value; NULL: none), PLUGIN_UNIX_SOCKET_DIR
 * (when with_dir), FAULT_MODE_FILE naming the file "mode" in a fresh
 * directory (holding the word mode when not NULL), and the "NAME=VALUE"
 * entries of extra (NULL-terminated, may be NULL).
 */
static void start_plugin_how(struct plugin_proc *pp, const char *exe, const char *cookie,
                             bool with_dir, const char *mode, const char *const *extra,
                             bool via_parent)
{
    extern char **environ;
    memset(pp, 0, sizeof(*pp));
    strcpy(pp->dir, "/tmp/cairn-sdk-test-XXXXXX");
    cr_assert_not_null(mkdtemp(pp->dir));
    snprintf(pp->sock, sizeof(pp->sock), "%s/plugin.sock", pp->dir);
    snprintf(pp->mode, sizeof(pp->mode), "%s/mode", pp->dir);
    if (mode)
        write_file(pp->mode, mode);

    size_t n = 0;
    while (environ[n])
        n++;
    size_t nextra = 0;
    while (extra && extra[nextra])
        nextra++;
    char **envp = calloc(n + nextra + 4, sizeof(*envp));
    char cookie_var[128], dir_var[128], mode_var[160];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!plugin_env_var(environ[i]))
            envp[k++] = environ[i];
    if (cookie) {
        snprintf(cookie_var, sizeof(cookie_var), "%s=%s", CAIRN_PLUGIN_COOKIE_KEY, cookie);
        envp[k++] = cookie_var;
    }
    if (with_dir) {
        snprintf(dir_var, sizeof(dir_var), "%s=%s", CAIRN_PLUGIN_SOCKET_DIR_ENV, pp->dir);
        envp[k++] = dir_var;
    }
    snprintf(mode_var, sizeof(mode_var), "FAULT_MODE_FILE=%s", pp->mode);
    envp[k++] = mode_var;
    for (size_t i = 0; i < nextra; i++)
        envp[k++] = (char *)extra[i];
    envp[k] = NULL;

    int out[2], err[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    int ctl[2], pids[2];
    cr_assert_eq(pipe2(ctl, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(pids, O_CLOEXEC), 0);
    char *argv[] = {(char *)exe, NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        if (via_parent) {
            /* Stay as the plugin's parent until the test closes ctl. */
            pid_t plugin = fork();
            if (plugin > 0) {
                char c;
                close(ctl[1]);
                if (write(pids[1], &plugin, sizeof(plugin)) != sizeof(plugin))
                    _exit(126);
                while (read(ctl[0], &c, 1) > 0)
                    ;
                _exit(0);
            }
            if (plugin < 0)
                _exit(126);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
            _exit(126);
        execve(exe, argv, envp);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    close(ctl[0]);
    close(pids[1]);
    free(envp);
    pp->out = out[0];
    pp->err = err[0];
    pp->pid = pid;
    pp->parent = -1;
    pp->release = -1;
    if (via_parent) {
        cr_assert_eq(read(pids[0], &pp->pid, sizeof(pp->pid)), sizeof(pp->pid));
        pp->parent = pid;
        pp->release = ctl[1];
    } else {
        close(ctl[1]);
    }
    close(pids[0]);
}

static void start_plugin(struct plugin_proc *pp, const char *exe, const char *cookie, bool with_dir,
                         const char *mode, const char *const *extra)
{
    start_plugin_how(pp, exe, cookie, with_dir, mode, extra, false);
}

/* Reads one line (without its newline) from fd within timeout_ms; false on
 * EOF or timeout. */
static bool read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t n = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left =
            timeout_ms - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        char ch;
        if (read(fd, &ch, 1) != 1)
            return false;
        if (ch == '\n') {
            buf[n] = '\0';
            return true;
        }
        if (n + 1 < cap)
            buf[n++] = ch;
    }
}

/* Everything left on fd until EOF, NUL-terminated; the caller frees it. */
static char *read_rest(int fd)
{
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    ssize_t r;
    while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)r;
        if (cap - n < 2)
            buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    return buf;
}

/* Waits up to timeout_ms for the process to end; returns its wait status.
 * Kills it and fails the test on timeout. */
static int wait_exit(struct plugin_proc *pp, int timeout_ms)
{
    int status = 0;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pp->pid, &status, WNOHANG);
        if (r == pp->pid) {
            pp->pid = 0;
            return status;
        }
        usleep(10000);
    }
    kill(pp->pid, SIGKILL);
    waitpid(pp->pid, &status, 0);
    pp->pid = 0;
    cr_assert_fail("the plugin did not exit within %d ms", timeout_ms);
    return status;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Closes the pipes and removes the socket directory. */
static void plugin_cleanup(struct plugin_proc *pp)
{
    if (pp->pid > 0) {
        kill(pp->pid, SIGKILL);
        waitpid(pp->pid, NULL, 0);
    }
    if (pp->release >= 0)
        close(pp->release);
    if (pp->parent > 0)
        waitpid(pp->parent, NULL, 0);
    close(pp->out);
    close(pp->err);
    remove_tree(pp->dir);
}

/* Reads the handshake and checks it is exactly the expected line. */
static void expect_handshake(struct plugin_proc *pp)
{
    char line[512], want[256];
    cr_assert(read_line(pp->out, line, sizeof(line), START_TIMEOUT_MS), "no handshake line");
    snprintf(want, sizeof(want), "1|1|unix|%s|grpc", pp->sock);
    cr_assert_str_eq(line, want);
    struct stat st;
    cr_assert_eq(stat(pp->sock, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
}

/* Sends sig and expects a clean exit with the socket removed. */
static void expect_clean_stop(struct plugin_proc *pp, int sig)
{
    cr_assert_eq(kill(pp->pid, sig), 0);
    int status = wait_exit(pp, 20000);
    cr_assert(WIFEXITED(status), "status 0x%x", status);
    cr_assert_eq(WEXITSTATUS(status), 0);
    struct stat st;
    cr_assert_eq(stat(pp->sock, &st), -1);
    cr_assert_eq(errno, ENOENT);
}

/* Runs exe expecting exit status `code` before any handshake, with exactly
 * `message` on stderr and nothing on stdout. */
static void expect_refusal(const char *exe, const char *cookie, bool with_dir,
                           const char *const *extra, int code, const char *message)
{
    struct plugin_proc pp;
    start_plugin(&pp, exe, cookie, with_dir, NULL, extra);
    int status = wait_exit(&pp, START_TIMEOUT_MS);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), code);
    char *out = read_rest(pp.out), *err = read_rest(pp.err);
    cr_assert_str_eq(out, "");
    cr_assert_str_eq(err, message);
    free(out);
    free(err);
    plugin_cleanup(&pp);
}

/* ---- a gRPC client -------------------------------------------------------- */

struct client {
    grpc_channel *ch;
    grpc_completion_queue *cq;
};

struct call {
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array imd, tmd;
    grpc_status_code status;
    grpc_slice details;
};

static void client_open(struct client *cl, const char *sock)
{
    grpc_init();
    grpc_arg args[1];
    memset(args, 0, sizeof(args));
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 64 << 20;
    grpc_channel_args ch_args = {.num_args = 1, .args = args};
    char target[160];
    snprintf(target, sizeof(target), "unix:%s", sock);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    cl->ch = grpc_channel_create(target, creds, &ch_args);
    grpc_channel_credentials_release(creds);
    cl->cq = grpc_completion_queue_create_for_pluck(NULL);
}

static void client_close(struct client *cl)
{
    grpc_channel_destroy(cl->ch);
    grpc_completion_queue_shutdown(cl->cq);
    while (
        grpc_completion_queue_pluck(cl->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
        GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cl->cq);
    grpc_shutdown_blocking();
}

/* Starts a unary call of method with the request bytes; c is the tag. */
static void call_start(struct client *cl, struct call *c, const char *method, const void *data,
                       size_t len, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice m = grpc_slice_from_static_string(method);
    c->call = grpc_channel_create_call(cl->ch, NULL, GRPC_PROPAGATE_DEFAULTS, cl->cq, m, NULL,
                                       deadline, NULL);
    grpc_slice payload = grpc_slice_from_copied_buffer(data, len);
    c->req = grpc_raw_byte_buffer_create(&payload, 1);
    grpc_slice_unref(payload);
    grpc_metadata_array_init(&c->imd);
    grpc_metadata_array_init(&c->tmd);
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->imd;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->tmd;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    cr_assert_eq(grpc_call_start_batch(c->call, ops, 6, c, NULL), GRPC_CALL_OK);
}

/* Waits for the call; returns its status and the response bytes (malloc'd,
 * *len of them; NULL when there was no response). */
static grpc_status_code call_wait(struct client *cl, struct call *c, uint8_t **data, size_t *len,
                                  char *details, size_t cap)
{
    grpc_event ev =
        grpc_completion_queue_pluck(cl->cq, c, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    cr_assert_eq(ev.type, GRPC_OP_COMPLETE);
    *data = NULL;
    *len = 0;
    if (c->resp) {
        grpc_byte_buffer_reader r;
        cr_assert(grpc_byte_buffer_reader_init(&r, c->resp));
        grpc_slice s = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        *len = GRPC_SLICE_LENGTH(s);
        *data = malloc(*len ? *len : 1);
        memcpy(*data, GRPC_SLICE_START_PTR(s), *len);
        grpc_slice_unref(s);
        grpc_byte_buffer_destroy(c->resp);
    }
    if (details) {
        size_t n = GRPC_SLICE_LENGTH(c->details);
        if (n >= cap)
            n = cap - 1;
        memcpy(details, GRPC_SLICE_START_PTR(c->details), n);
        details[n] = '\0';
    }
    grpc_status_code status = c->status;
    grpc_slice_unref(c->details);
    grpc_byte_buffer_destroy(c->req);
    grpc_metadata_array_destroy(&c->imd);
    grpc_metadata_array_destroy(&c->tmd);
    grpc_call_unref(c->call);
    return status;
}

/* A unary call with a protobuf request; the response decoded as desc, or
 * NULL (with the status in *status and its message in details). */
static ProtobufCMessage *unary(struct client *cl, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *desc, grpc_status_code *status,
                               char *details, size_t cap)
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    protobuf_c_message_pack(req, buf);
    struct call c;
    call_start(cl, &c, method, buf, n, CALL_TIMEOUT_MS);
    free(buf);
    uint8_t *data;
    size_t len;
    *status = call_wait(cl, &c, &data, &len, details, cap);
    ProtobufCMessage *m = NULL;
    if (*status == GRPC_STATUS_OK) {
        cr_assert_not_null(data);
        m = protobuf_c_message_unpack(desc, NULL, len, data);
        cr_assert_not_null(m);
    }
    free(data);
    return m;
}

static grpc_status_code health(struct client *cl, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    grpc_status_code st;
    Grpc__Health__V1__HealthCheckResponse *resp = (Grpc__Health__V1__HealthCheckResponse *)unary(
        cl, "/grpc.health.v1.Health/Check", &req.base,
        &grpc__health__v1__health_check_response__descriptor, &st, NULL, 0);
    if (resp) {
        cr_assert_eq(resp->status,
                     GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    return st;
}

static Cairn__Plugin__V1__InfoResponse *info(struct client *cl)
{
    Cairn__Plugin__V1__InfoRequest req = CAIRN__PLUGIN__V1__INFO_REQUEST__INIT;
    req.protocol_version = 1;
    grpc_status_code st;
    char details[256];
    ProtobufCMessage *m =
        unary(cl, "/cairn.plugin.v1.Plugin/Info", &req.base,
              &cairn__plugin__v1__info_response__descriptor, &st, details, sizeof(details));
    cr_assert_eq(st, GRPC_STATUS_OK, "Info: status %d %s", st, details);
    return (Cairn__Plugin__V1__InfoResponse *)m;
}

/* Collect; NULL with *status and details when it fails. */
static Cairn__Plugin__V1__CollectResponse *collect(struct client *cl, grpc_status_code *status,
                                                   char *details, size_t cap)
{
    Cairn__Plugin__V1__CollectRequest req = CAIRN__PLUGIN__V1__COLLECT_REQUEST__INIT;
    req.timestamp_ms = 1700000000000;
    req.deadline_ms = (int64_t)time(NULL) * 1000 + CALL_TIMEOUT_MS;
    return (Cairn__Plugin__V1__CollectResponse *)unary(
        cl, "/cairn.plugin.v1.Plugin/Collect", &req.base,
        &cairn__plugin__v1__collect_response__descriptor, status, details, cap);
}

static Cairn__Plugin__V1__CollectResponse *collect_ok(struct client *cl)
{
    grpc_status_code st;
    char details[256];
    Cairn__Plugin__V1__CollectResponse *r = collect(cl, &st, details, sizeof(details));
    cr_assert_eq(st, GRPC_STATUS_OK, "Collect: status %d %s", st, details);
    return r;
}

static const Cairn__Plugin__V1__MetricFamily *
find_family(const Cairn__Plugin__V1__CollectResponse *r, const char *name)
{
    for (size_t i = 0; i < r->n_families; i++)
        if (strcmp(r->families[i]->name, name) == 0)
            return r->families[i];
    cr_assert_fail("no family %s", name);
    return NULL;
}

/* The value of the one series of a gauge or counter family. */
static double single_value(const Cairn__Plugin__V1__CollectResponse *r, const char *name)
{
    const Cairn__Plugin__V1__MetricFamily *f = find_family(r, name);
    cr_assert_eq(f->n_metric, 1, "%s", name);
    cr_assert_eq(f->metric[0]->n_label, 0);
    if (f->type == CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER) {
        cr_assert_not_null(f->metric[0]->counter);
        return f->metric[0]->counter->value;
    }
    cr_assert_eq(f->type, CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE);
    cr_assert_not_null(f->metric[0]->gauge);
    return f->metric[0]->gauge->value;
}

/* The ok series of cairn-test-fault after `collects` Collect calls. */
static void expect_ok_series(const Cairn__Plugin__V1__CollectResponse *r, pid_t pid, int collects)
{
    cr_assert_eq(single_value(r, "fault_test_up"), 1);
    cr_assert_eq(single_value(r, "fault_test_collects_total"), collects);
    cr_assert_eq(single_value(r, "fault_test_pid"), pid);
}

/* ---- the handshake --------------------------------------------------------- */

Test(sdk_serve, refuses_without_cookie)
{
    expect_refusal(FAULT_BIN, NULL, true, NULL, 1, NOT_FOR_HUMANS);
    expect_refusal(FAULT_BIN, "wrong", true, NULL, 1, NOT_FOR_HUMANS);
}

Test(sdk_serve, refuses_other_protocol_versions)
{
    const char *const v2[] = {"PLUGIN_PROTOCOL_VERSIONS=2", NULL};
    expect_refusal(FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, v2, 1,
                   "cairn-plugin: the agent speaks plugin protocol version 2, this plugin "
                   "speaks version 1\n");
    const char *const v23[] = {"PLUGIN_PROTOCOL_VERSIONS=2,3,11", NULL};
    expect_refusal(FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, v23, 1,
                   "cairn-plugin: the agent speaks plugin protocol version 2,3,11, this plugin "
                   "speaks version 1\n");
}

Test(sdk_serve, refuses_without_socket_dir)
{
    expect_refusal(FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, false, NULL, 1,
                   "cairn-plugin: PLUGIN_UNIX_SOCKET_DIR is not set; the agent names the socket "
                   "directory\n");
    char var[200] = "PLUGIN_UNIX_SOCKET_DIR=/tmp/";
    memset(var + strlen(var), 'd', 100);
    const char *const extra[] = {var, NULL};
    char want[300];
    snprintf(want, sizeof(want),
             "cairn-plugin: socket path %s/plugin.sock is longer than 107 bytes\n",
             var + strlen("PLUGIN_UNIX_SOCKET_DIR="));
    expect_refusal(FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, false, extra, 1, want);
}

Test(sdk_serve, exit_at_start)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, "exit_at_start\n", NULL);
    int status = wait_exit(&pp, START_TIMEOUT_MS);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 3);
    char *err = read_rest(pp.err);
    cr_assert_str_eq(err, "fault: exiting at start\n");
    free(err);
    plugin_cleanup(&pp);
}

/* ---- serving --------------------------------------------------------------- */

Test(sdk_serve, fault_plugin_serves_and_stops)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, NULL);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);

    cr_assert_eq(health(&cl, ""), GRPC_STATUS_OK);
    cr_assert_eq(health(&cl, "cairn.plugin.v1.Plugin"), GRPC_STATUS_OK);
    cr_assert_eq(health(&cl, "other.Service"), GRPC_STATUS_NOT_FOUND);

    /* Before any collection Info knows no families (the plugin lists none). */
    Cairn__Plugin__V1__InfoResponse *in = info(&cl);
    cr_assert_str_eq(in->name, "fault");
    cr_assert_str_eq(in->version, "1.0");
    cr_assert_eq(in->protocol_version, 1);
    cr_assert_eq(in->interval_ms, 0);
    cr_assert_eq(in->n_families, 0);
    cairn__plugin__v1__info_response__free_unpacked(in, NULL);

    Cairn__Plugin__V1__CollectResponse *r = collect_ok(&cl);
    cr_assert_eq(r->n_families, 3);
    expect_ok_series(r, pp.pid, 1);
    cr_assert_str_eq(r->families[0]->name, "fault_test_up");
    cr_assert_str_eq(r->families[0]->help, "Always 1.");
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    r = collect_ok(&cl);
    expect_ok_series(r, pp.pid, 2);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);

    /* Now Info lists the families of the latest collection. */
    in = info(&cl);
    cr_assert_eq(in->n_families, 3);
    const char *names[] = {"fault_test_up", "fault_test_collects_total", "fault_test_pid"};
    const Cairn__Plugin__V1__MetricType types[] = {CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE,
                                                   CAIRN__PLUGIN__V1__METRIC_TYPE__COUNTER,
                                                   CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(in->families[i]->name, names[i]);
        cr_assert_eq(in->families[i]->type, types[i]);
        cr_assert_eq(in->families[i]->n_metric, 0);
    }
    cr_assert_str_eq(in->families[2]->help, "The plugin's process ID.");
    cairn__plugin__v1__info_response__free_unpacked(in, NULL);

    /* A failing collect: UNKNOWN with the plugin's message. */
    write_file(pp.mode, "fail\n");
    grpc_status_code st;
    char details[256];
    r = collect(&cl, &st, details, sizeof(details));
    cr_assert_null(r);
    cr_assert_eq(st, GRPC_STATUS_UNKNOWN);
    cr_assert_str_eq(details, "fault: failing on purpose");
    write_file(pp.mode, "ok\n");
    r = collect_ok(&cl);
    expect_ok_series(r, pp.pid, 4);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);

    /* A request that does not decode, and a method nobody serves. */
    struct call c;
    uint8_t *data;
    size_t len;
    const uint8_t garbage[] = {0x08, 0xff, 0xff};
    call_start(&cl, &c, "/cairn.plugin.v1.Plugin/Collect", garbage, sizeof(garbage),
               CALL_TIMEOUT_MS);
    cr_assert_eq(call_wait(&cl, &c, &data, &len, details, sizeof(details)),
                 GRPC_STATUS_INVALID_ARGUMENT);
    cr_assert_null(data);
    cr_assert_str_eq(details, "malformed CollectRequest");
    call_start(&cl, &c, "/cairn.plugin.v1.Plugin/Nope", "", 0, CALL_TIMEOUT_MS);
    cr_assert_eq(call_wait(&cl, &c, &data, &len, NULL, 0), GRPC_STATUS_UNIMPLEMENTED);
    cr_assert_null(data);
    cr_assert_eq(health(&cl, ""), GRPC_STATUS_OK);

    expect_clean_stop(&pp, SIGTERM);
    char *out = read_rest(pp.out);
    cr_assert_str_eq(out, ""); /* nothing after the handshake line */
    free(out);
    client_close(&cl);
    plugin_cleanup(&pp);
}

Test(sdk_serve, protocol_version_list_and_sigint)
{
    struct plugin_proc pp;
    const char *const versions[] = {"PLUGIN_PROTOCOL_VERSIONS=3, 1", NULL};
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, versions);
    expect_handshake(&pp);
    expect_clean_stop(&pp, SIGINT);
    plugin_cleanup(&pp);
}

Test(sdk_serve, two_stop_signals)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, NULL);
    expect_handshake(&pp);
    /* The second is still pending when serve returns: it must not kill. */
    cr_assert_eq(kill(pp.pid, SIGINT), 0);
    expect_clean_stop(&pp, SIGTERM);
    plugin_cleanup(&pp);
}

Test(sdk_serve, stops_when_the_agent_is_gone)
{
    /* The plugin's parent exits: the plugin is reparented to this process,
     * a subreaper, and must notice and stop. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct plugin_proc pp;
    start_plugin_how(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, NULL, true);
    expect_handshake(&pp);
    char want[128];
    snprintf(want, sizeof(want), "cairn-plugin: the agent (process %ld) has exited; stopping\n",
             (long)pp.parent);
    close(pp.release);
    pp.release = -1;
    int status;
    cr_assert_eq(waitpid(pp.parent, &status, 0), pp.parent);
    pp.parent = -1;
    status = wait_exit(&pp, 20000);
    cr_assert(WIFEXITED(status), "status 0x%x", status);
    cr_assert_eq(WEXITSTATUS(status), 0);
    char *err = read_rest(pp.err);
    cr_assert_str_eq(err, want);
    free(err);
    struct stat st;
    cr_assert_eq(stat(pp.sock, &st), -1);
    plugin_cleanup(&pp);
}

Test(sdk_serve, health_and_info_during_a_hung_collect)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, "hang\n", NULL);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);

    Cairn__Plugin__V1__CollectRequest req = CAIRN__PLUGIN__V1__COLLECT_REQUEST__INIT;
    uint8_t buf[64];
    size_t n = cairn__plugin__v1__collect_request__pack(&req, buf);
    struct call hung;
    call_start(&cl, &hung, "/cairn.plugin.v1.Plugin/Collect", buf, n, 3000);
    usleep(300000); /* let the collect start */
    cr_assert_eq(health(&cl, ""), GRPC_STATUS_OK);
    Cairn__Plugin__V1__InfoResponse *in = info(&cl);
    cr_assert_str_eq(in->name, "fault");
    cairn__plugin__v1__info_response__free_unpacked(in, NULL);
    uint8_t *data;
    size_t len;
    cr_assert_eq(call_wait(&cl, &hung, &data, &len, NULL, 0), GRPC_STATUS_DEADLINE_EXCEEDED);
    cr_assert_null(data);

    /* The collect cannot be interrupted: the plugin gives up on it. */
    cr_assert_eq(kill(pp.pid, SIGTERM), 0);
    int status = wait_exit(&pp, 20000);
    cr_assert(WIFEXITED(status));
    cr_assert_eq(WEXITSTATUS(status), 1);
    char *err = read_rest(pp.err);
    cr_assert_str_eq(err, "cairn-plugin: collect still running 3000 ms after the stop signal; "
                          "exiting without waiting for it\n");
    free(err);
    struct stat st;
    cr_assert_eq(stat(pp.sock, &st), -1);
    client_close(&cl);
    plugin_cleanup(&pp);
}

Test(sdk_serve, large_responses)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, NULL);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);

    /* 15,000 series plus the ok ones. */
    write_file(pp.mode, "many_series\n");
    Cairn__Plugin__V1__CollectResponse *r = collect_ok(&cl);
    cr_assert_eq(r->n_families, 4);
    const Cairn__Plugin__V1__MetricFamily *f = find_family(r, "fault_test_many");
    cr_assert_eq(f->n_metric, 15000);
    cr_assert_str_eq(f->metric[14999]->label[0]->name, "i");
    cr_assert_str_eq(f->metric[14999]->label[0]->value, "14999");
    cr_assert_eq(f->metric[14999]->gauge->value, 14999);
    expect_ok_series(r, pp.pid, 1);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);

    /* About 8 MiB, beyond gRPC's default 4 MiB: the plugin sends it. */
    write_file(pp.mode, "oversized\n");
    Cairn__Plugin__V1__CollectRequest req = CAIRN__PLUGIN__V1__COLLECT_REQUEST__INIT;
    uint8_t buf[64];
    size_t n = cairn__plugin__v1__collect_request__pack(&req, buf);
    struct call c;
    call_start(&cl, &c, "/cairn.plugin.v1.Plugin/Collect", buf, n, 60000);
    uint8_t *data;
    size_t len;
    cr_assert_eq(call_wait(&cl, &c, &data, &len, NULL, 0), GRPC_STATUS_OK);
    cr_assert_gt(len, 8u << 20);
    cr_assert_lt(len, 10u << 20);
    r = cairn__plugin__v1__collect_response__unpack(NULL, len, data);
    free(data);
    cr_assert_not_null(r);
    cr_assert_eq(r->n_families, 1);
    f = r->families[0];
    cr_assert_str_eq(f->name, "fault_test_oversized");
    cr_assert_eq(f->n_metric, 40000);
    cr_assert_eq(f->metric[39999]->n_label, 2);
    cr_assert_str_eq(f->metric[39999]->label[0]->value, "39999");
    cr_assert_str_eq(f->metric[39999]->label[1]->name, "pad");
    cr_assert_eq(strlen(f->metric[39999]->label[1]->value), 180);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);

    expect_clean_stop(&pp, SIGTERM);
    client_close(&cl);
    plugin_cleanup(&pp);
}

Test(sdk_serve, invalid_output_is_sent_as_built)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, "invalid\n", NULL);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);
    Cairn__Plugin__V1__CollectResponse *r = collect_ok(&cl);
    cr_assert_eq(r->n_families, 7);
    const char *names[] = {"fault_test_dup", "1bad_name", "fault_test_badlabel",
                           "fault_test_nan_total"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(r->families[i]->name, names[i]);
    const Cairn__Plugin__V1__MetricFamily *dup = r->families[0];
    cr_assert_eq(dup->n_metric, 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_eq(dup->metric[i]->n_label, 1);
        cr_assert_str_eq(dup->metric[i]->label[0]->name, "a");
        cr_assert_str_eq(dup->metric[i]->label[0]->value, "1");
        cr_assert_eq(dup->metric[i]->gauge->value, (double)(i + 1));
    }
    cr_assert_str_eq(r->families[2]->metric[0]->label[0]->name, "bad-label");
    cr_assert(isnan(r->families[3]->metric[0]->counter->value));
    expect_ok_series(r, pp.pid, 1);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    expect_clean_stop(&pp, SIGTERM);
    client_close(&cl);
    plugin_cleanup(&pp);
}

Test(sdk_serve, segv_kills_the_plugin)
{
    struct plugin_proc pp;
    start_plugin(&pp, FAULT_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, "segv\n", NULL);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);
    grpc_status_code st;
    cr_assert_null(collect(&cl, &st, NULL, 0));
    cr_assert_eq(st, GRPC_STATUS_UNAVAILABLE);
    int status = wait_exit(&pp, 20000);
    cr_assert(WIFSIGNALED(status), "status 0x%x", status);
    cr_assert_eq(WTERMSIG(status), SIGSEGV);
    client_close(&cl);
    plugin_cleanup(&pp);
}

/* ---- the examples ---------------------------------------------------------- */

/* A procfs tree: processes 1 (S; threads S and R), 42 (Z, with ") " in its
 * name), 99 (D, no task directory), 100 (gone: no stat) and "self". */
static void make_procfs(const char *root)
{
    const char *const files[][2] = {
        {"1/stat", "1 (init) S 0 1 1 0 -1 4194560 100 0 0 0\n"},
        {"1/task/1/stat", "1 (init) S 0 1 1 0 -1 4194560 100 0 0 0\n"},
        {"1/task/7/stat", "7 (worker) R 0 1 1 0 -1 4194560 100 0 0 0\n"},
        {"42/stat", "42 (odd) name) Z 1 42 42 0 -1 4194560 0 0 0 0\n"},
        {"42/task/42/stat", "42 (odd) name) Z 1 42 42 0 -1 4194560 0 0 0 0\n"},
        {"99/stat", "99 (sleepy) D 1 99 99 0 -1 4194560 0 0 0 0\n"},
        {"self/stat", "5 (self) R 1 5 5 0 -1 4194560 0 0 0 0\n"},
        {"uptime", "12345.67 999.00\n"},
        {"loadavg", "0.42 0.30 0.20 1/100 42\n"},
    };
    const char *const dirs[] = {"1",       "1/task",     "1/task/1", "1/task/7", "42",
                                "42/task", "42/task/42", "99",       "100",      "self"};
    char path[256];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
        cr_assert_eq(mkdir(path, 0755), 0, "%s", path);
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", root, files[i][0]);
        write_file(path, files[i][1]);
    }
}

static void expect_state(const Cairn__Plugin__V1__MetricFamily *f, size_t i, const char *state,
                         double value)
{
    cr_assert_eq(f->metric[i]->n_label, 1);
    cr_assert_str_eq(f->metric[i]->label[0]->name, "state");
    cr_assert_str_eq(f->metric[i]->label[0]->value, state);
    cr_assert_eq(f->metric[i]->gauge->value, value);
}

Test(sdk_serve, procstate_example)
{
    char root[] = "/tmp/cairn-sdk-procfs-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    make_procfs(root);
    char var[64];
    snprintf(var, sizeof(var), "CAIRN_PROCFS=%s", root);
    const char *const extra[] = {var, NULL};
    struct plugin_proc pp;
    start_plugin(&pp, PROCSTATE_BIN, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, extra);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);

    /* The plugin declares its families: Info lists them before any collect. */
    Cairn__Plugin__V1__InfoResponse *in = info(&cl);
    cr_assert_str_eq(in->name, "procstate");
    cr_assert_eq(in->n_families, 2);
    cr_assert_str_eq(in->families[0]->name, "procstate_processes");
    cr_assert_str_eq(in->families[0]->help, "Processes by scheduler state.");
    cr_assert_eq(in->families[0]->type, CAIRN__PLUGIN__V1__METRIC_TYPE__GAUGE);
    cr_assert_str_eq(in->families[1]->name, "procstate_threads");
    cairn__plugin__v1__info_response__free_unpacked(in, NULL);

    Cairn__Plugin__V1__CollectResponse *r = collect_ok(&cl);
    cr_assert_eq(r->n_families, 2);
    const Cairn__Plugin__V1__MetricFamily *f = r->families[0];
    cr_assert_str_eq(f->name, "procstate_processes");
    cr_assert_eq(f->n_metric, 3);
    expect_state(f, 0, "D", 1);
    expect_state(f, 1, "S", 1);
    expect_state(f, 2, "Z", 1);
    f = r->families[1];
    cr_assert_str_eq(f->name, "procstate_threads");
    cr_assert_eq(f->n_metric, 3);
    expect_state(f, 0, "R", 1);
    expect_state(f, 1, "S", 1);
    expect_state(f, 2, "Z", 1);
    cairn__plugin__v1__collect_response__free_unpacked(r, NULL);

    /* An unreadable root fails the collect. */
    remove_tree(root);
    grpc_status_code st;
    char details[256];
    cr_assert_null(collect(&cl, &st, details, sizeof(details)));
    cr_assert_eq(st, GRPC_STATUS_UNKNOWN);
    char want[128];
    snprintf(want, sizeof(want), "cannot read %s", root);
    cr_assert_str_eq(details, want);

    expect_clean_stop(&pp, SIGTERM);
    client_close(&cl);
    plugin_cleanup(&pp);
}

/* Whether the interpreter named by the script's #! line exists. */
static bool python_available(void)
{
    char line[256];
    FILE *f = fopen(PYTHON_EXAMPLE, "r");
    if (!f)
        return false;
    bool ok = fgets(line, sizeof(line), f) && strncmp(line, "#!", 2) == 0;
    fclose(f);
    if (!ok)
        return false;
    line[strcspn(line, " \n")] = '\0';
    return access(line + 2, X_OK) == 0 && access(PYTHON_EXAMPLE, X_OK) == 0;
}

Test(sdk_serve, python_example)
{
    if (!python_available())
        cr_skip_test("no Python interpreter for %s", PYTHON_EXAMPLE);
    expect_refusal(PYTHON_EXAMPLE, NULL, true, NULL, 1, NOT_FOR_HUMANS);

    char root[] = "/tmp/cairn-sdk-procfs-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    make_procfs(root);
    char var[64];
    snprintf(var, sizeof(var), "CAIRN_PROCFS=%s", root);
    const char *const extra[] = {var, NULL};
    struct plugin_proc pp;
    start_plugin(&pp, PYTHON_EXAMPLE, CAIRN_PLUGIN_COOKIE_VALUE, true, NULL, extra);
    expect_handshake(&pp);
    struct client cl;
    client_open(&cl, pp.sock);
    cr_assert_eq(health(&cl, ""), GRPC_STATUS_OK);
    cr_assert_eq(health(&cl, "other.Service"), GRPC_STATUS_NOT_FOUND);

    Cairn__Plugin__V1__InfoResponse *in = info(&cl);
    cr_assert_str_eq(in->name, "example_py");
    cr_assert_eq(in->protocol_version, 1);
    cr_assert_eq(in->n_families, 3);
    cairn__plugin__v1__info_response__free_unpacked(in, NULL);

    for (int i = 1; i <= 2; i++) {
        Cairn__Plugin__V1__CollectResponse *r = collect_ok(&cl);
        cr_assert_eq(r->n_families, 3);
        cr_assert_eq(single_value(r, "example_py_uptime_seconds"), 12345.67);
        cr_assert_eq(single_value(r, "example_py_load1"), 0.42);
        cr_assert_eq(single_value(r, "example_py_collects_total"), i);
        cairn__plugin__v1__collect_response__free_unpacked(r, NULL);
    }

    expect_clean_stop(&pp, SIGTERM);
    client_close(&cl);
    plugin_cleanup(&pp);
    remove_tree(root);
}
