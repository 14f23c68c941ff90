/*
 * The plugin process: starting it, reading its handshake and its output,
 * stopping it.
 *
 * Starting. Everything the child needs (the resolved executable, argv, the
 * environment array, the user's uid, gid and groups, the rlimits, the pipes)
 * is prepared before fork, because between fork and exec only
 * async-signal-safe calls are allowed: another thread of the agent may hold
 * the malloc lock or the logger at the moment of fork. The forking thread
 * blocks every signal around fork so that no handler of the agent runs in
 * the child; the child resets all dispositions to default and unblocks
 * everything just before exec. The child makes its own process group (so
 * stop can signal the plugin and everything it forked), asks for SIGKILL
 * when its parent goes (PR_SET_PDEATHSIG) and exits at once if the agent is
 * already gone, moves the pipes onto 0, 1 and 2, closes every other
 * descriptor, applies the rlimits, switches user and execs. What fails in
 * the child is written as (stage, errno) into a close-on-exec pipe: the
 * parent reads either that or end-of-file (exec succeeded), so an exec
 * failure is an error of plg_proc_start rather than a mysterious exit 127.
 *
 * PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the
 * process. The caller must therefore stop the process (plg_proc_stop) before
 * the thread that called plg_proc_start exits; host.c's supervisor thread,
 * which owns its plugin's whole life, does. Processes the plugin itself
 * forks do not inherit the death signal: if the agent dies abruptly they
 * survive it, though plg_proc_stop kills them with the process group.
 *
 * Output. A pump thread per process reads stdout and stderr with poll. The
 * first stdout line (at most HS_LINE_MAX bytes) is the handshake: the pump
 * hands it to plg_proc_handshake through a mutex and condition variable.
 * Every later line is logged, cut at LOG_LINE_MAX bytes, at most
 * LOG_LINES_PER_SEC per one-second window; the rest are counted as dropped
 * and one warning per window says that dropping started. The pump always
 * keeps reading, also while dropping, so a plugin flooding stderr never
 * blocks on a full pipe. It ends at end-of-file on both pipes, or when stop
 * tells it to through the wake pipe (a process that left the group still
 * holds the pipes open).
 *
 * Exit. The process is reaped by plg_proc_exited, plg_proc_handshake or
 * plg_proc_stop, all called from the caller's thread; the status is kept.
 * plg_proc_handshake polls for the exit every HANDSHAKE_POLL_MS while it
 * waits. Stop signals the group, waits for the leader to exit without
 * reaping it (waitid with WNOWAIT keeps the zombie, so the process group id
 * cannot be reused before the SIGKILL that cleans up the rest of the group),
 * then reaps it. When plg_proc_exited has already reaped the leader, the
 * group id stays reserved only while other members live; host.c stops the
 * process right after seeing it exit, so the id cannot have been recycled.
 *
 * Threads: plg_proc_pid and plg_proc_dropped_lines may be called from any
 * thread; the other functions of one process from one thread at a time.
 */
#include "plugins/host/internal.h"

#include "cairn/plugin.h"
#include "common/common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define HS_LINE_MAX 512       /* longest handshake line */
#define LOG_LINE_MAX 1024     /* output lines are logged cut to this */
#define LOG_LINES_PER_SEC 100 /* per plugin, stdout and stderr together */
#define HANDSHAKE_POLL_MS 20  /* how often the handshake wait checks for an exit */
#define SETTLE_MS 200         /* after an exit or EOF, how long to wait for the other */
#define STOP_POLL_MS 10       /* how often stop checks for the exit in the grace period */
#define PUMP_DRAIN_MS 250     /* after the reap, how long the pump may read on */
#define SOCKET_NAME_ROOM 16   /* room left in sun_path for "/<socket name>" */
#define SUN_PATH_MAX 108      /* sizeof(((struct sockaddr_un *)0)->sun_path) */
#define RMTREE_DEPTH 8        /* deepest directory removed under the socket directory */
#define NS_PER_MS 1000000LL
#define NS_PER_SEC 1000000000LL

enum hs_state {
    HS_WAITING,  /* nothing yet */
    HS_LINE,     /* hs_line holds the first stdout line */
    HS_TOO_LONG, /* the first line went over HS_LINE_MAX; hs_line holds its start */
    HS_EOF,      /* stdout ended (or the pump stopped) without a line */
};

/* One output pipe, as the pump reads it. */
struct stream {
    int fd; /* read end; -1 after EOF */
    const char *name;
    enum cn_log_level level;
    char line[LOG_LINE_MAX + 1];
    size_t len;
    bool cut;  /* the current line went over its limit; the rest is skipped */
    bool skip; /* the current line is not to be logged (the too long handshake) */
};

struct plg_proc {
    char *name; /* for the log */
    pid_t pid;  /* also the process group id */
    char sockdir[SUN_PATH_MAX];
    int wake[2]; /* stop -> pump: stop reading */
    pthread_t pump;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* hs or pump_done changed */
    enum hs_state hs;
    char hs_line[HS_LINE_MAX + 1];
    bool pump_done;

    /* The caller's thread only. */
    bool reaped;
    bool status_known; /* false when someone else reaped it */
    int wstatus;

    _Atomic uint64_t dropped;

    /* The pump thread only. */
    struct stream out, err;
    bool hs_pending; /* the next stdout line is the handshake */
    int64_t now_ns;  /* when the current read happened */
    int64_t win_start_ns;
    unsigned win_lines;
    bool win_dropping;
    char buf[16384];
};

/* What failed in the child, sent through the exec pipe. */
enum child_stage {
    STAGE_EXEC = 0,
    STAGE_SETUP,
    STAGE_RLIMIT_AS,
    STAGE_RLIMIT_CPU,
    STAGE_USER,
};

struct child_err {
    int stage;
    int err;
};

/* What the child needs, prepared before fork. */
struct spawn {
    const char *path;
    char *const *argv;
    char **envp;
    pid_t parent;
    int fd_in, fd_out, fd_err, fd_exec;
    long maxfd;
    bool set_as, set_cpu;
    struct rlimit as, cpu;
    bool set_user;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
};

/* Copies s[0..n) for a message: non-printable bytes become '?', and more
 * than 64 bytes are cut with "...". */
static const char *printable(char out[72], const char *s, size_t n)
{
    size_t max = 64, j = 0;
    for (size_t i = 0; i < n && j < max; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n > max) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j] = '\0';
    return out;
}

#define PRINTABLE(s, n) printable((char[72]){0}, (s), (n))

/* ---- the handshake line ----------------------------------------------------- */

/* A plain decimal number of at most 9 digits. */
static bool parse_version(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 9)
        return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool field_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Whether path is a direct child of dir: dir "/" name, name not "." or ".." */
static bool inside_dir(const char *path, size_t n, const char *dir)
{
    size_t dl = strlen(dir);
    if (n <= dl + 1 || memcmp(path, dir, dl) != 0 || path[dl] != '/')
        return false;
    const char *name = path + dl + 1;
    size_t nl = n - dl - 1;
    if (memchr(name, '/', nl) || field_is(name, nl, ".") || field_is(name, nl, ".."))
        return false;
    return true;
}

int plg_handshake_parse(const char *line, const char *sockdir, struct plg_handshake *hs, char *err,
                        size_t errcap)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > HS_LINE_MAX) {
        cn_errf(err, errcap, "malformed handshake line \"%s\": longer than %d bytes",
                PRINTABLE(line, len), HS_LINE_MAX);
        return -EPROTO;
    }
    /* The five fields: core, app, network, path, protocol; go-plugin
     * servers add a sixth, the server certificate, empty without TLS. */
    const char *f[6];
    size_t fl[6];
    int nf = 0;
    const char *s = line, *end = line + len;
    for (;;) {
        const char *bar = memchr(s, '|', (size_t)(end - s));
        const char *fe = bar ? bar : end;
        if (nf < 6) {
            f[nf] = s;
            fl[nf] = (size_t)(fe - s);
        }
        nf++;
        if (!bar)
            break;
        s = bar + 1;
    }
    if (nf == 6 && fl[5] > 0) {
        cn_errf(err, errcap,
                "plugin offers a TLS server certificate in its handshake; this agent speaks plain "
                "gRPC over the private socket only");
        return -EPROTO;
    }
    if (nf != 5 && nf != 6) {
        cn_errf(err, errcap,
                "malformed handshake line \"%s\": %d field%s, want CORE|APP|unix|PATH|grpc",
                PRINTABLE(line, len), nf, nf == 1 ? "" : "s");
        return -EPROTO;
    }
    int core, app;
    if (!parse_version(f[0], fl[0], &core)) {
        cn_errf(err, errcap, "malformed handshake line \"%s\": core version \"%s\" is not a number",
                PRINTABLE(line, len), PRINTABLE(f[0], fl[0]));
        return -EPROTO;
    }
    if (!parse_version(f[1], fl[1], &app)) {
        cn_errf(err, errcap,
                "malformed handshake line \"%s\": protocol version \"%s\" is not a number",
                PRINTABLE(line, len), PRINTABLE(f[1], fl[1]));
        return -EPROTO;
    }
    if (core != CAIRN_PLUGIN_CORE_VERSION) {
        cn_errf(err, errcap, "plugin uses handshake core version %d, this agent uses %d", core,
                CAIRN_PLUGIN_CORE_VERSION);
        return -EPROTO;
    }
    if (app != CAIRN_PLUGIN_PROTOCOL_VERSION) {
        cn_errf(err, errcap, "plugin speaks protocol version %d, this agent speaks %d", app,
                CAIRN_PLUGIN_PROTOCOL_VERSION);
        return -EPROTO;
    }
    if (!field_is(f[2], fl[2], "unix")) {
        cn_errf(err, errcap, "network %s is not supported, only unix", PRINTABLE(f[2], fl[2]));
        return -EPROTO;
    }
    if (!field_is(f[4], fl[4], "grpc")) {
        cn_errf(err, errcap, "protocol %s is not supported, only grpc", PRINTABLE(f[4], fl[4]));
        return -EPROTO;
    }
    if (fl[3] >= SUN_PATH_MAX) {
        cn_errf(err, errcap,
                "plugin announced socket %s of %zu bytes, longer than a Unix socket "
                "path can be (%d)",
                PRINTABLE(f[3], fl[3]), fl[3], SUN_PATH_MAX - 1);
        return -EPROTO;
    }
    if (!inside_dir(f[3], fl[3], sockdir)) {
        cn_errf(err, errcap, "plugin announced socket %s outside its directory %s",
                PRINTABLE(f[3], fl[3]), sockdir);
        return -EPROTO;
    }
    hs->core_version = core;
    hs->app_version = app;
    memcpy(hs->socket_path, f[3], fl[3]);
    hs->socket_path[fl[3]] = '\0';
    return 0;
}

/* ---- the pump thread ---------------------------------------------------------- */

static void publish_hs(struct plg_proc *p, enum hs_state st, const char *line, size_t n)
{
    pthread_mutex_lock(&p->lock);
    if (p->hs == HS_WAITING) {
        memcpy(p->hs_line, line, n);
        p->hs_line[n] = '\0';
        p->hs = st;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Logs one finished line of s, within the rate limit. */
static void log_line(struct plg_proc *p, struct stream *s)
{
    if (!cn_log_enabled(s->level))
        return;
    if (p->now_ns - p->win_start_ns >= NS_PER_SEC) {
        p->win_start_ns = p->now_ns;
        p->win_lines = 0;
        p->win_dropping = false;
    }
    if (p->win_lines < LOG_LINES_PER_SEC) {
        p->win_lines++;
        cn_log(s->level, "plugin", "plugin output", "plugin", p->name, "stream", s->name, "line",
               s->line, s->cut ? "truncated" : NULL, "true", NULL);
        return;
    }
    uint64_t dropped = atomic_fetch_add(&p->dropped, 1) + 1;
    if (!p->win_dropping) {
        p->win_dropping = true;
        cn_log(CN_LOG_WARN, "plugin", "plugin output over the rate limit; dropping lines", "plugin",
               p->name, "limit_per_second", CN_LOGINT(LOG_LINES_PER_SEC), "dropped_total",
               CN_LOGINT(dropped), NULL);
    }
}

/* A line of s is complete (newline or EOF). */
static void end_line(struct plg_proc *p, struct stream *s)
{
    size_t n = s->len;
    if (n > 0 && s->line[n - 1] == '\r' && !s->cut)
        n--;
    s->line[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (s->line[i] == '\0')
            s->line[i] = '?';
    if (s->skip) {
        /* the rest of a too long handshake line: already reported */
    } else if (s == &p->out && p->hs_pending) {
        p->hs_pending = false;
        publish_hs(p, HS_LINE, s->line, n);
    } else {
        log_line(p, s);
    }
    s->len = 0;
    s->cut = false;
    s->skip = false;
}

static void feed(struct plg_proc *p, struct stream *s, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        bool hs = s == &p->out && p->hs_pending;
        size_t limit = hs ? HS_LINE_MAX : LOG_LINE_MAX;
        size_t take = chunk;
        if (s->len + take > limit) {
            take = limit - s->len;
            s->cut = true;
        }
        memcpy(s->line + s->len, data, take);
        s->len += take;
        if (hs && s->cut) {
            /* Reported now: the plugin may never end the line. */
            p->hs_pending = false;
            s->skip = true;
            publish_hs(p, HS_TOO_LONG, s->line, s->len);
        }
        if (!nl)
            break;
        end_line(p, s);
        data += chunk + 1;
        n -= chunk + 1;
    }
}

static void stream_eof(struct plg_proc *p, struct stream *s)
{
    if (s->fd < 0)
        return;
    close(s->fd);
    s->fd = -1;
    if (s->len > 0 || s->cut)
        end_line(p, s); /* a last line without a newline */
    if (s == &p->out && p->hs_pending) {
        p->hs_pending = false;
        publish_hs(p, HS_EOF, "", 0);
    }
}

static void *pump_main(void *arg)
{
    struct plg_proc *p = arg;
    struct stream *streams[2] = {&p->out, &p->err};
    while (p->out.fd >= 0 || p->err.fd >= 0) {
        struct pollfd pfd[3] = {
            {.fd = p->out.fd, .events = POLLIN},
            {.fd = p->err.fd, .events = POLLIN},
            {.fd = p->wake[0], .events = POLLIN},
        };
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[2].revents)
            break;
        for (int i = 0; i < 2; i++) {
            if (!pfd[i].revents)
                continue;
            ssize_t n = read(streams[i]->fd, p->buf, sizeof(p->buf));
            if (n > 0) {
                p->now_ns = cn_mono_ns();
                feed(p, streams[i], p->buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                p->now_ns = cn_mono_ns();
                stream_eof(p, streams[i]);
            }
        }
    }
    p->now_ns = cn_mono_ns();
    stream_eof(p, &p->out);
    stream_eof(p, &p->err);
    pthread_mutex_lock(&p->lock);
    if (p->hs == HS_WAITING)
        p->hs = HS_EOF;
    p->pump_done = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* ---- the child, between fork and exec ------------------------------------------ */

static void __attribute__((noreturn)) child_fail(int fd, int stage)
{
    struct child_err e = {.stage = stage, .err = errno};
    ssize_t w = write(fd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* Async-signal-safe calls only: see the comment at the top. */
static void __attribute__((noreturn)) child_run(const struct spawn *s)
{
    int xfd = s->fd_exec;
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail(xfd, STAGE_SETUP);
    if (getppid() != s->parent)
        _exit(127); /* the agent is already gone */

    /* Every disposition back to default, including ignored ones inherited
     * from whoever started the agent. glibc refuses its reserved real-time
     * signals (32, 33), so those go to the kernel directly. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        uint64_t mask;
    } kdfl = {.handler = SIG_DFL};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, &dfl, NULL) != 0)
            syscall(SYS_rt_sigaction, sig, &kdfl, NULL, sizeof(kdfl.mask));
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Copies above 2 first, so that no source is overwritten before it is
     * used, whatever descriptors the pipes got. */
    int in = fcntl(s->fd_in, F_DUPFD, 3);
    int out = fcntl(s->fd_out, F_DUPFD, 3);
    int err = fcntl(s->fd_err, F_DUPFD, 3);
    int x = fcntl(xfd, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0 || err < 0 || x < 0)
        child_fail(xfd, STAGE_SETUP);
    xfd = x;
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
        child_fail(xfd, STAGE_SETUP);
    if (xfd != 3) {
        if (dup3(xfd, 3, O_CLOEXEC) < 0)
            child_fail(xfd, STAGE_SETUP);
        xfd = 3;
    }
    if (close_range(4, ~0U, 0) != 0)
        for (long fd = 4; fd < s->maxfd; fd++)
            close((int)fd);

    if (s->set_as && setrlimit(RLIMIT_AS, &s->as) != 0)
        child_fail(xfd, STAGE_RLIMIT_AS);
    if (s->set_cpu && setrlimit(RLIMIT_CPU, &s->cpu) != 0)
        child_fail(xfd, STAGE_RLIMIT_CPU);
    if (s->set_user) {
        if (setgroups((size_t)s->ngroups, s->groups) != 0 || setgid(s->gid) != 0 ||
            setuid(s->uid) != 0)
            child_fail(xfd, STAGE_USER);
    }
    execve(s->path, s->argv, s->envp);
    child_fail(xfd, STAGE_EXEC);
}

/* ---- starting --------------------------------------------------------------------- */

/* Looks the user up: uid, gid and supplementary groups (*groups malloc'd). */
static int lookup_user(const char *user, struct spawn *s, char *err, size_t errcap)
{
    long bufsz = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t cap = bufsz > 0 ? (size_t)bufsz : 16384;
    struct passwd pw, *res = NULL;
    char *buf = NULL;
    int rc;
    for (;;) {
        buf = cn_malloc(cap);
        if (!buf) {
            cn_errf(err, errcap, "out of memory");
            return -ENOMEM;
        }
        rc = getpwnam_r(user, &pw, buf, cap, &res);
        if (rc != ERANGE || cap >= (1u << 20))
            break;
        free(buf);
        cap *= 2;
    }
    if (rc != 0 || !res) {
        if (rc != 0 && rc != ENOENT && rc != ESRCH)
            cn_errf(err, errcap, "cannot look up user %s: %s", user, strerror(rc));
        else
            cn_errf(err, errcap, "unknown user %s", user);
        free(buf);
        return rc != 0 && rc != ENOENT && rc != ESRCH ? -rc : -ENOENT;
    }
    s->uid = pw.pw_uid;
    s->gid = pw.pw_gid;
    int n = 32;
    for (;;) {
        gid_t *g = cn_malloc((size_t)n * sizeof(gid_t));
        if (!g) {
            cn_errf(err, errcap, "out of memory");
            free(buf);
            return -ENOMEM;
        }
        int want = n;
        if (getgrouplist(user, pw.pw_gid, g, &want) >= 0) {
            s->groups = g;
            s->ngroups = want;
            break;
        }
        free(g);
        if (want <= n || want > 65536) {
            cn_errf(err, errcap, "cannot list the groups of user %s", user);
            free(buf);
            return -EINVAL;
        }
        n = want;
    }
    free(buf);
    return 0;
}

/* argv0 as exec will find it: as is when it has a '/', else along $PATH. */
static int resolve_command(const char *argv0, char *out, size_t cap, char *err, size_t errcap)
{
    if (strchr(argv0, '/')) {
        if (strlen(argv0) >= cap) {
            cn_errf(err, errcap, "cannot run %s: %s", argv0, strerror(ENAMETOOLONG));
            return -ENAMETOOLONG;
        }
        strcpy(out, argv0);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    int found = ENOENT;
    for (const char *d = path;;) {
        const char *colon = strchr(d, ':');
        size_t dl = colon ? (size_t)(colon - d) : strlen(d);
        int n = dl == 0 ? snprintf(out, cap, "%s", argv0)
                        : snprintf(out, cap, "%.*s/%s", (int)dl, d, argv0);
        struct stat st;
        if (n > 0 && (size_t)n < cap && stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0)
                return 0;
            found = EACCES;
        }
        if (!colon)
            break;
        d = colon + 1;
    }
    cn_errf(err, errcap, "cannot run %s: %s", argv0, strerror(found));
    return -found;
}

/* Whether entry ("NAME=VALUE") sets the variable of def ("NAME=..." or "NAME"). */
static bool same_var(const char *entry, const char *def)
{
    size_t n = strcspn(def, "=");
    return strncmp(entry, def, n) == 0 && entry[n] == '=';
}

/* The agent's environment without the variables set by extra or reserved,
 * then extra, then reserved. Pointers are borrowed; the array is malloc'd. */
static int build_env(const char *const *extra, const char *const *reserved, size_t nres,
                     char ***out, char *err, size_t errcap)
{
    size_t nenv = 0, nextra = 0;
    while (environ && environ[nenv])
        nenv++;
    for (; extra && extra[nextra]; nextra++) {
        const char *eq = strchr(extra[nextra], '=');
        if (!eq || eq == extra[nextra]) {
            cn_errf(err, errcap, "invalid environment entry \"%s\", want NAME=VALUE",
                    PRINTABLE(extra[nextra], strlen(extra[nextra])));
            return -EINVAL;
        }
    }
    char **env = cn_calloc(nenv + nextra + nres + 1, sizeof(char *));
    if (!env) {
        cn_errf(err, errcap, "out of memory");
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++) {
        bool drop = false;
        for (size_t j = 0; j < nextra && !drop; j++)
            drop = same_var(environ[i], extra[j]);
        for (size_t j = 0; j < nres && !drop; j++)
            drop = same_var(environ[i], reserved[j]);
        if (!drop)
            env[k++] = environ[i];
    }
    for (size_t i = 0; i < nextra; i++) {
        bool drop = false;
        for (size_t j = 0; j < nres && !drop; j++)
            drop = same_var(extra[i], reserved[j]);
        if (!drop)
            env[k++] = (char *)extra[i];
    }
    for (size_t j = 0; j < nres; j++)
        env[k++] = (char *)reserved[j];
    env[k] = NULL;
    *out = env;
    return 0;
}

/* Makes the private socket directory under root (NULL: $TMPDIR, else /tmp). */
static int make_sockdir(const char *root, char *dir, char *err, size_t errcap)
{
    if (!root || !*root)
        root = getenv("TMPDIR");
    if (!root || !*root)
        root = "/tmp";
    char absroot[PATH_MAX];
    if (root[0] != '/') {
        if (!realpath(root, absroot)) {
            int e = errno;
            cn_errf(err, errcap, "socket directory root %s: %s", root, strerror(e));
            return -e;
        }
        root = absroot;
    }
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    if (rl == 1)
        rl = 0; /* "/" */
    const char *tmpl = "/cairn-plugin-XXXXXX";
    if (rl + strlen(tmpl) + SOCKET_NAME_ROOM >= SUN_PATH_MAX) {
        cn_errf(err, errcap, "socket directory root %s is too long for Unix socket paths", root);
        return -ENAMETOOLONG;
    }
    snprintf(dir, SUN_PATH_MAX, "%.*s%s", (int)rl, root, tmpl);
    if (!mkdtemp(dir)) {
        int e = errno;
        cn_errf(err, errcap, "cannot create a socket directory in %s: %s", root, strerror(e));
        dir[0] = '\0';
        return -e;
    }
    return 0;
}

/* Removes the entries of the directory dfd, subdirectories included, never
 * following symbolic links (the plugin owns the directory). */
static void remove_entries(int dfd, int depth)
{
    int fd = dup(dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (unlinkat(dfd, e->d_name, 0) == 0 || depth >= RMTREE_DEPTH)
            continue;
        int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        remove_entries(sub, depth + 1);
        close(sub);
        unlinkat(dfd, e->d_name, AT_REMOVEDIR);
    }
    closedir(d);
}

static void remove_sockdir(const struct plg_proc *p)
{
    if (!p->sockdir[0])
        return;
    int dfd = open(p->sockdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0) {
        remove_entries(dfd, 0);
        close(dfd);
    }
    if (rmdir(p->sockdir) != 0 && errno != ENOENT)
        cn_log(CN_LOG_WARN, "plugin", "cannot remove the plugin's socket directory", "plugin",
               p->name, "dir", p->sockdir, "err", strerror(errno), NULL);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void proc_free(struct plg_proc *p)
{
    close_fd(&p->out.fd);
    close_fd(&p->err.fd);
    close_fd(&p->wake[0]);
    close_fd(&p->wake[1]);
    remove_sockdir(p);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->name);
    free(p);
}

static int proc_alloc(const struct plg_plugin_cfg *cfg, struct plg_proc **out)
{
    struct plg_proc *p = cn_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->name = cn_strdup(cfg->name ? cfg->name : cfg->argv[0]);
    if (!p->name) {
        free(p);
        return -ENOMEM;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->lock, NULL);
    p->out = (struct stream){.fd = -1, .name = "stdout", .level = CN_LOG_DEBUG};
    p->err = (struct stream){.fd = -1, .name = "stderr", .level = CN_LOG_INFO};
    p->wake[0] = p->wake[1] = -1;
    p->hs = HS_WAITING;
    p->hs_pending = true;
    p->win_start_ns = cn_mono_ns() - NS_PER_SEC;
    atomic_init(&p->dropped, 0);
    *out = p;
    return 0;
}

static void child_error(const struct child_err *e, const struct plg_plugin_cfg *cfg, char *err,
                        size_t errcap)
{
    const char *why = strerror(e->err);
    switch (e->stage) {
    case STAGE_SETUP: cn_errf(err, errcap, "cannot set up the plugin process: %s", why); break;
    case STAGE_RLIMIT_AS:
        cn_errf(err, errcap, "cannot set the memory limit of %llu bytes: %s",
                (unsigned long long)cfg->memory_limit, why);
        break;
    case STAGE_RLIMIT_CPU:
        cn_errf(err, errcap, "cannot set the CPU limit of %llu s: %s",
                (unsigned long long)cfg->cpu_limit, why);
        break;
    case STAGE_USER: cn_errf(err, errcap, "cannot switch to user %s: %s", cfg->user, why); break;
    default: cn_errf(err, errcap, "cannot run %s: %s", cfg->argv[0], why); break;
    }
}

/* Forks and execs; returns 0 once exec succeeded, or the child's error (the
 * child then reaped). */
static int spawn_child(struct plg_proc *p, struct spawn *s, const struct plg_plugin_cfg *cfg,
                       char *err, size_t errcap)
{
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, xp[2] = {-1, -1}, devnull = -1;
    int rc = 0;
    if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || pipe2(xp, O_CLOEXEC) ||
        pipe2(p->wake, O_CLOEXEC) || (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        cn_errf(err, errcap, "cannot make the plugin's pipes: %s", strerror(errno));
        goto out;
    }
    s->fd_in = devnull;
    s->fd_out = outp[1];
    s->fd_err = errp[1];
    s->fd_exec = xp[1];
    s->parent = getpid();

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_run(s);
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        rc = -fork_errno;
        cn_errf(err, errcap, "cannot fork: %s", strerror(fork_errno));
        goto out;
    }
    setpgid(pid, pid); /* also here, so that the group exists when we return */
    close_fd(&outp[1]);
    close_fd(&errp[1]);
    close_fd(&xp[1]);
    close_fd(&devnull);

    struct child_err ce;
    ssize_t n;
    do
        n = read(xp[0], &ce, sizeof(ce));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(ce)) {
        child_error(&ce, cfg, err, errcap);
        rc = ce.err > 0 ? -ce.err : -EIO;
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto out;
    }
    p->pid = pid;
    p->out.fd = outp[0];
    p->err.fd = errp[0];
    outp[0] = errp[0] = -1;
out:
    close_fd(&outp[0]);
    close_fd(&outp[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&xp[0]);
    close_fd(&xp[1]);
    close_fd(&devnull);
    return rc;
}

int plg_proc_start(const struct plg_plugin_cfg *cfg, const char *socket_root, struct plg_proc **out,
                   char *err, size_t errcap)
{
    *out = NULL;
    if (!cfg || !cfg->argv || !cfg->argv[0] || !cfg->argv[0][0]) {
        cn_errf(err, errcap, "no command to run");
        return -EINVAL;
    }
    struct spawn s = {.argv = (char *const *)cfg->argv};
    struct plg_proc *p = NULL;
    char path[PATH_MAX];
    char sockenv[SUN_PATH_MAX + 64], verenv[64];
    int rc = 0;

    if (cfg->user) {
        rc = lookup_user(cfg->user, &s, err, errcap);
        if (rc)
            goto fail;
        if (geteuid() != 0) {
            cn_errf(err, errcap, "running as user %s needs root", cfg->user);
            rc = -EPERM;
            goto fail;
        }
        s.set_user = true;
    }
    rc = resolve_command(cfg->argv[0], path, sizeof(path), err, errcap);
    if (rc)
        goto fail;
    s.path = path;
    if (cfg->memory_limit) {
        s.set_as = true;
        s.as.rlim_cur = s.as.rlim_max = (rlim_t)cfg->memory_limit;
    }
    if (cfg->cpu_limit) {
        /* SIGXCPU at the limit, SIGKILL a second later. */
        s.set_cpu = true;
        s.cpu.rlim_cur = (rlim_t)cfg->cpu_limit;
        s.cpu.rlim_max = (rlim_t)cfg->cpu_limit + 1;
    }
    long maxfd = sysconf(_SC_OPEN_MAX);
    s.maxfd = maxfd > 0 ? maxfd : 1024;

    rc = proc_alloc(cfg, &p);
    if (rc) {
        cn_errf(err, errcap, "out of memory");
        goto fail;
    }
    rc = make_sockdir(socket_root, p->sockdir, err, errcap);
    if (rc)
        goto fail;
    if (s.set_user && chown(p->sockdir, s.uid, s.gid) != 0) {
        rc = -errno;
        cn_errf(err, errcap, "cannot hand the socket directory to user %s: %s", cfg->user,
                strerror(errno));
        goto fail;
    }
    snprintf(sockenv, sizeof(sockenv), "%s=%s", CAIRN_PLUGIN_SOCKET_DIR_ENV, p->sockdir);
    snprintf(verenv, sizeof(verenv), "%s=%d", CAIRN_PLUGIN_PROTOCOL_VERSIONS_ENV,
             CAIRN_PLUGIN_PROTOCOL_VERSION);
    const char *reserved[] = {CAIRN_PLUGIN_COOKIE_KEY "=" CAIRN_PLUGIN_COOKIE_VALUE, sockenv,
                              verenv};
    rc =
        build_env(cfg->env, reserved, sizeof(reserved) / sizeof(reserved[0]), &s.envp, err, errcap);
    if (rc)
        goto fail;

    rc = spawn_child(p, &s, cfg, err, errcap);
    if (rc)
        goto fail;
    int prc = pthread_create(&p->pump, NULL, pump_main, p);
    if (prc != 0) {
        cn_errf(err, errcap, "cannot start the output thread: %s", strerror(prc));
        kill(-p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        rc = -prc;
        goto fail;
    }
    free(s.envp);
    free(s.groups);
    *out = p;
    return 0;

fail:
    free(s.envp);
    free(s.groups);
    if (p)
        proc_free(p);
    return rc;
}

/* ---- exit, handshake, stop --------------------------------------------------------- */

static void describe_exit(const struct plg_proc *p, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    if (!p->status_known) {
        snprintf(out, cap, "exited (status unknown)");
    } else if (WIFEXITED(p->wstatus)) {
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(p->wstatus));
    } else if (WIFSIGNALED(p->wstatus)) {
        int sig = WTERMSIG(p->wstatus);
        const char *d = sigdescr_np(sig);
        snprintf(out, cap, "killed by signal %d (%s)", sig, d ? d : "unknown signal");
    } else {
        snprintf(out, cap, "exited (status 0x%x)", (unsigned)p->wstatus);
    }
}

/* Reaps the process if it has exited (blocking: waits for it). */
static bool reap(struct plg_proc *p, bool block)
{
    if (p->reaped)
        return true;
    int st = 0;
    pid_t r;
    do
        r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == p->pid) {
        p->reaped = p->status_known = true;
        p->wstatus = st;
    } else if (r < 0) {
        p->reaped = true; /* ECHILD: reaped elsewhere, status lost */
    }
    return p->reaped;
}

bool plg_proc_exited(struct plg_proc *p, char *status, size_t cap)
{
    if (!reap(p, false)) {
        if (status && cap)
            snprintf(status, cap, "running");
        return false;
    }
    describe_exit(p, status, cap);
    return true;
}

pid_t plg_proc_pid(const struct plg_proc *p)
{
    return p->pid;
}

uint64_t plg_proc_dropped_lines(const struct plg_proc *p)
{
    return atomic_load(&p->dropped);
}

static struct timespec mono_ts(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / NS_PER_SEC, .tv_nsec = ns % NS_PER_SEC};
}

int plg_proc_handshake(struct plg_proc *p, int64_t timeout_ms, struct plg_handshake *hs, char *err,
                       size_t errcap)
{
    int64_t start = cn_mono_ns();
    int64_t deadline = start + (timeout_ms > 0 ? timeout_ms : 0) * NS_PER_MS;
    int64_t settle = 0; /* set once the process exited or stdout ended */
    char line[HS_LINE_MAX + 1];
    char status[96];
    for (;;) {
        pthread_mutex_lock(&p->lock);
        enum hs_state st = p->hs;
        if (st == HS_LINE || st == HS_TOO_LONG)
            memcpy(line, p->hs_line, sizeof(line));
        pthread_mutex_unlock(&p->lock);
        bool exited = plg_proc_exited(p, status, sizeof(status));
        int64_t now = cn_mono_ns();

        if (st == HS_LINE) {
            int rc = plg_handshake_parse(line, p->sockdir, hs, err, errcap);
            if (rc == 0 && exited) {
                cn_errf(err, errcap, "plugin %s after its handshake", status);
                return -ECHILD;
            }
            return rc;
        }
        if (st == HS_TOO_LONG) {
            cn_errf(err, errcap, "malformed handshake line \"%s\": longer than %d bytes",
                    PRINTABLE(line, strlen(line)), HS_LINE_MAX);
            return -EPROTO;
        }
        if ((exited || st == HS_EOF) && !settle)
            settle = now + SETTLE_MS * NS_PER_MS;
        bool settled = settle && (now >= settle || now >= deadline);
        if (exited && (st == HS_EOF || settled)) {
            cn_errf(err, errcap, "plugin %s before its handshake", status);
            return -ECHILD;
        }
        if (st == HS_EOF && settled) {
            cn_errf(err, errcap, "plugin closed its stdout before its handshake");
            return -EPROTO;
        }
        if (now >= deadline) {
            cn_errf(err, errcap, "no handshake from the plugin within %lld ms",
                    (long long)(timeout_ms > 0 ? timeout_ms : 0));
            return -ETIMEDOUT;
        }
        int64_t wake = now + HANDSHAKE_POLL_MS * NS_PER_MS;
        if (wake > deadline)
            wake = deadline;
        struct timespec ts = mono_ts(wake);
        pthread_mutex_lock(&p->lock);
        if (p->hs == st)
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        pthread_mutex_unlock(&p->lock);
    }
}

void plg_proc_stop(struct plg_proc *p, int64_t grace_ms)
{
    if (!p)
        return;
    if (!p->reaped) {
        kill(-p->pid, SIGTERM);
        int64_t deadline = cn_mono_ns() + (grace_ms > 0 ? grace_ms : 0) * NS_PER_MS;
        for (;;) {
            /* WNOWAIT: the zombie keeps the group id ours until the SIGKILL. */
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            int r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT);
            if ((r == 0 && si.si_pid == p->pid) || (r < 0 && errno != EINTR))
                break;
            int64_t left = deadline - cn_mono_ns();
            if (left <= 0)
                break;
            if (left > STOP_POLL_MS * NS_PER_MS)
                left = STOP_POLL_MS * NS_PER_MS;
            struct timespec ts = mono_ts(left);
            nanosleep(&ts, NULL);
        }
        kill(-p->pid, SIGKILL); /* the leader if it ignored SIGTERM, and what it left */
        reap(p, true);
    } else {
        kill(-p->pid, SIGKILL); /* what the reaped leader left in its group */
    }

    /* The pump sees EOF once the group is gone; a process that left the
     * group may hold the pipes open, so it gets PUMP_DRAIN_MS. */
    struct timespec ts = mono_ts(cn_mono_ns() + PUMP_DRAIN_MS * NS_PER_MS);
    pthread_mutex_lock(&p->lock);
    while (!p->pump_done)
        if (pthread_cond_timedwait(&p->cond, &p->lock, &ts) == ETIMEDOUT)
            break;
    bool done = p->pump_done;
    pthread_mutex_unlock(&p->lock);
    if (!done) {
        char c = 1;
        ssize_t w = write(p->wake[1], &c, 1);
        (void)w;
    }
    pthread_join(p->pump, NULL);
    proc_free(p);
}
