/*
 * Tests of plugins/host/process.c: the handshake line parser (a table), and
 * real plugin processes from the shell scripts in tests/fixtures/plugins/
 * that stand in for good and broken plugins. Each process test makes its own
 * socket root and checks that it is empty at the end, that is, that stop
 * removed the plugin's socket directory. Tests that must see orphaned
 * processes die make the test process a child subreaper, so those processes
 * become its children and their end can be waited for and checked.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "cairn/plugin.h"
#include "common/common.h"
#include "plugins/host/internal.h"

#define FIXTURE(name) CAIRN_SOURCE_DIR "/tests/fixtures/plugins/" name
#define SOCKDIR "/tmp/cairn-plugin-abc"
#define START_MS 10000 /* generous: only a broken implementation waits this long */

/* ---- the handshake line ------------------------------------------------------- */

struct hs_case {
    const char *line;
    int rc;
    const char *msg; /* for errors */
};

static void check_cases(const struct hs_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct plg_handshake hs;
        memset(&hs, 0x5a, sizeof(hs));
        char err[512] = "";
        int rc = plg_handshake_parse(cases[i].line, SOCKDIR, &hs, err, sizeof(err));
        cr_assert_eq(rc, cases[i].rc, "line %s: rc %d (%s)", cases[i].line, rc, err);
        if (rc)
            cr_assert_str_eq(err, cases[i].msg, "line %s", cases[i].line);
    }
}

Test(plugins_process, handshake_good)
{
    const char *lines[] = {
        "1|1|unix|" SOCKDIR "/plugin.sock|grpc",
        "1|1|unix|" SOCKDIR "/plugin.sock|grpc\r",
        "01|0001|unix|" SOCKDIR "/s|grpc",
        /* go-plugin's servers: an empty sixth field, the TLS certificate */
        "1|1|unix|" SOCKDIR "/plugin.sock|grpc|",
    };
    const char *paths[] = {SOCKDIR "/plugin.sock", SOCKDIR "/plugin.sock", SOCKDIR "/s",
                           SOCKDIR "/plugin.sock"};
    for (size_t i = 0; i < 4; i++) {
        struct plg_handshake hs;
        char err[256] = "";
        cr_assert_eq(plg_handshake_parse(lines[i], SOCKDIR, &hs, err, sizeof(err)), 0, "%s: %s",
                     lines[i], err);
        cr_assert_eq(hs.core_version, 1);
        cr_assert_eq(hs.app_version, 1);
        cr_assert_str_eq(hs.socket_path, paths[i]);
    }
}

Test(plugins_process, handshake_fields)
{
    const struct hs_case cases[] = {
        {"garbage", -EPROTO,
         "malformed handshake line \"garbage\": 1 field, want CORE|APP|unix|PATH|grpc"},
        {"", -EPROTO, "malformed handshake line \"\": 1 field, want CORE|APP|unix|PATH|grpc"},
        {"1|1|unix|" SOCKDIR "/p.sock", -EPROTO,
         "malformed handshake line \"1|1|unix|" SOCKDIR
         "/p.sock\": 4 fields, want CORE|APP|unix|PATH|grpc"},
        {"1|1|unix|" SOCKDIR "/p.sock|grpc|cert", -EPROTO,
         "plugin offers a TLS server certificate in its handshake; this agent speaks plain gRPC "
         "over the private socket only"},
        {"1|1|unix|" SOCKDIR "/p.sock|grpc||", -EPROTO,
         "malformed handshake line \"1|1|unix|" SOCKDIR
         "/p.sock|grpc||\": 7 fields, want CORE|APP|unix|PATH|grpc"},
        {"\x01\x7f|\tx", -EPROTO,
         "malformed handshake line \"??|?x\": 2 fields, want CORE|APP|unix|PATH|grpc"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(plugins_process, handshake_numbers)
{
    const struct hs_case cases[] = {
        {"x|1|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"x|1|unix|" SOCKDIR
         "/p|grpc\": core version \"x\" is not a number"},
        {"-1|1|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"-1|1|unix|" SOCKDIR
         "/p|grpc\": core version \"-1\" is not a number"},
        {"+1|1|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"+1|1|unix|" SOCKDIR
         "/p|grpc\": core version \"+1\" is not a number"},
        {" 1|1|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \" 1|1|unix|" SOCKDIR
         "/p|grpc\": core version \" 1\" is not a number"},
        {"|1|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"|1|unix|" SOCKDIR
         "/p|grpc\": core version \"\" is not a number"},
        {"1|1.0|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"1|1.0|unix|" SOCKDIR
         "/p|grpc\": protocol version \"1.0\" is not a number"},
        {"1|1234567890|unix|" SOCKDIR "/p|grpc", -EPROTO,
         "malformed handshake line \"1|1234567890|unix|" SOCKDIR
         "/p|grpc\": protocol version \"1234567890\" is not a number"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(plugins_process, handshake_versions)
{
    char line[256], want[256], err[256];
    struct plg_handshake hs;
    snprintf(line, sizeof(line), "%d|%d|unix|%s/p|grpc", CAIRN_PLUGIN_CORE_VERSION,
             CAIRN_PLUGIN_PROTOCOL_VERSION + 1, SOCKDIR);
    snprintf(want, sizeof(want), "plugin speaks protocol version %d, this agent speaks %d",
             CAIRN_PLUGIN_PROTOCOL_VERSION + 1, CAIRN_PLUGIN_PROTOCOL_VERSION);
    cr_assert_eq(plg_handshake_parse(line, SOCKDIR, &hs, err, sizeof(err)), -EPROTO);
    cr_assert_str_eq(err, want);

    snprintf(line, sizeof(line), "%d|%d|unix|%s/p|grpc", CAIRN_PLUGIN_CORE_VERSION + 1,
             CAIRN_PLUGIN_PROTOCOL_VERSION, SOCKDIR);
    snprintf(want, sizeof(want), "plugin uses handshake core version %d, this agent uses %d",
             CAIRN_PLUGIN_CORE_VERSION + 1, CAIRN_PLUGIN_CORE_VERSION);
    cr_assert_eq(plg_handshake_parse(line, SOCKDIR, &hs, err, sizeof(err)), -EPROTO);
    cr_assert_str_eq(err, want);

    /* Version 1 of both is what this agent speaks, as the table tests assume. */
    cr_assert_eq(CAIRN_PLUGIN_CORE_VERSION, 1);
    cr_assert_eq(CAIRN_PLUGIN_PROTOCOL_VERSION, 1);
}

Test(plugins_process, handshake_network_protocol)
{
    const struct hs_case cases[] = {
        {"1|1|tcp|127.0.0.1:1234|grpc", -EPROTO, "network tcp is not supported, only unix"},
        {"1|1|UNIX|" SOCKDIR "/p|grpc", -EPROTO, "network UNIX is not supported, only unix"},
        {"1|1|unix|" SOCKDIR "/p|netrpc", -EPROTO, "protocol netrpc is not supported, only grpc"},
        {"1|1|unix|" SOCKDIR "/p|", -EPROTO, "protocol  is not supported, only grpc"},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(plugins_process, handshake_paths)
{
    const struct hs_case cases[] = {
        {"1|1|unix|/x/y|grpc", -EPROTO,
         "plugin announced socket /x/y outside its directory " SOCKDIR},
        {"1|1|unix|/tmp/elsewhere.sock|grpc", -EPROTO,
         "plugin announced socket /tmp/elsewhere.sock outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "/../x.sock|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "/../x.sock outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "/..|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "/.. outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "/.|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "/. outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "/|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "/ outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR " outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "d/x.sock|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "d/x.sock outside its directory " SOCKDIR},
        {"1|1|unix|" SOCKDIR "/sub/x.sock|grpc", -EPROTO,
         "plugin announced socket " SOCKDIR "/sub/x.sock outside its directory " SOCKDIR},
        {"1|1|unix|plugin.sock|grpc", -EPROTO,
         "plugin announced socket plugin.sock outside its directory " SOCKDIR},
        {"1|1|unix|tmp/cairn-plugin-abc/plugin.sock|grpc", -EPROTO,
         "plugin announced socket tmp/cairn-plugin-abc/plugin.sock outside its directory " SOCKDIR},
        {"1|1|unix||grpc", -EPROTO, "plugin announced socket  outside its directory " SOCKDIR},
    };
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(plugins_process, handshake_too_long)
{
    /* A path that does not fit sockaddr_un: 21 + 1 + 86 = 108 bytes. */
    char name[87];
    memset(name, 'n', 86);
    name[86] = '\0';
    char line[256], want[256], err[256];
    struct plg_handshake hs;
    snprintf(line, sizeof(line), "1|1|unix|%s/%s|grpc", SOCKDIR, name);
    snprintf(want, sizeof(want),
             "plugin announced socket %s/%.42s... of 108 bytes, longer than a Unix socket path "
             "can be (107)",
             SOCKDIR, name);
    cr_assert_eq(plg_handshake_parse(line, SOCKDIR, &hs, err, sizeof(err)), -EPROTO);
    cr_assert_str_eq(err, want);
    /* One byte less fits. */
    name[85] = '\0';
    snprintf(line, sizeof(line), "1|1|unix|%s/%s|grpc", SOCKDIR, name);
    cr_assert_eq(plg_handshake_parse(line, SOCKDIR, &hs, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(strlen(hs.socket_path), 107);

    /* A line over 512 bytes. */
    char longline[600];
    memset(longline, 'z', 599);
    longline[599] = '\0';
    memset(want, 0, sizeof(want));
    snprintf(want, sizeof(want), "malformed handshake line \"%.64s...\": longer than 512 bytes",
             longline);
    cr_assert_eq(plg_handshake_parse(longline, SOCKDIR, &hs, err, sizeof(err)), -EPROTO);
    cr_assert_str_eq(err, want);
}

/* ---- helpers for real processes ------------------------------------------------ */

/* A fresh socket root for one test. */
static void make_root(char root[64])
{
    snprintf(root, 64, "/tmp/cairn-proc-test-XXXXXX");
    cr_assert_not_null(mkdtemp(root), "mkdtemp: %s", strerror(errno));
}

/* The root must be empty: every socket directory was removed. */
static void remove_root(const char *root)
{
    cr_assert_eq(rmdir(root), 0, "socket root %s: %s", root, strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* For the test whose plugin was never stopped. */
static void rm_tree(const char *root)
{
    cr_assert_eq(nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static struct plg_proc *start_ok(const struct plg_plugin_cfg *cfg, const char *root)
{
    struct plg_proc *p = NULL;
    char err[256] = "";
    int rc = plg_proc_start(cfg, root, &p, err, sizeof(err));
    cr_assert_eq(rc, 0, "start %s: %d %s", cfg->argv[0], rc, err);
    cr_assert_not_null(p);
    return p;
}

/* The process was reaped by us: no zombie, nothing left of it. */
static void assert_gone(pid_t pid)
{
    cr_assert_eq(kill(pid, 0), -1, "pid %d still exists", (int)pid);
    cr_assert_eq(errno, ESRCH);
    cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
}

/* Waits for a child of ours (a subreaper's orphan) to end; its wait status.
 * The 10 s bound only keeps a broken implementation from hanging the test. */
static int wait_child(pid_t pid)
{
    int st = 0;
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        cr_assert_eq(r, 0, "waitpid %d: %s", (int)pid, strerror(errno));
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    cr_assert_fail("pid %d did not end", (int)pid);
    return st;
}

static char *read_file(const char *path)
{
    struct cn_buf b;
    cn_buf_init(&b);
    cr_assert_eq(cn_read_file_buf(path, &b, 1 << 24), 0, "%s", path);
    char *s = cn_buf_steal(&b, NULL);
    cn_buf_free(&b);
    return s ? s : strdup("");
}

/* Waits until the script of process pid has exec'd sleep, that is, has
 * written all its output (bounded at 10 s). */
static void wait_sleeping(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    for (int i = 0; i < 1000; i++) {
        char *comm = read_file(path);
        bool asleep = strcmp(comm, "sleep\n") == 0;
        free(comm);
        if (asleep)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    cr_assert_fail("pid %d never exec'd sleep", (int)pid);
}

/* The socket directory of a handshake: its path without the last part. */
static void sockdir_of(const struct plg_handshake *hs, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", hs->socket_path);
    char *slash = strrchr(dir, '/');
    cr_assert_not_null(slash);
    *slash = '\0';
}

/* ---- processes ------------------------------------------------------------------- */

Test(plugins_process, good_plugin)
{
    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("good.sh"), CAIRN_PLUGIN_COOKIE_KEY, CAIRN_PLUGIN_COOKIE_VALUE,
                          NULL};
    struct plg_plugin_cfg cfg = {.name = "good", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    cr_assert_gt(pid, 0);
    cr_assert_eq(getpgid(pid), pid, "the plugin leads its own process group");

    struct plg_handshake hs;
    char err[256] = "";
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(hs.core_version, 1);
    cr_assert_eq(hs.app_version, 1);
    char dir[128], want[160];
    sockdir_of(&hs, dir, sizeof(dir));
    cr_assert_eq(strncmp(dir, root, strlen(root)), 0, "%s", dir);
    cr_assert_eq(strncmp(dir + strlen(root), "/cairn-plugin-", 14), 0, "%s", dir);
    cr_assert_eq(strlen(dir), strlen(root) + 20);
    snprintf(want, sizeof(want), "%s/plugin.sock", dir);
    cr_assert_str_eq(hs.socket_path, want);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0700);
    cr_assert_eq(st.st_uid, geteuid());
    cr_assert_eq(stat(hs.socket_path, &st), 0);

    char status[128];
    cr_assert_not(plg_proc_exited(p, status, sizeof(status)));
    cr_assert_str_eq(status, "running");
    cr_assert_eq(plg_proc_dropped_lines(p), 0);

    plg_proc_stop(p, 2000);
    assert_gone(pid);
    cr_assert_eq(stat(dir, &st), -1, "socket directory %s left behind", dir);
    cr_assert_eq(errno, ENOENT);
    remove_root(root);
}

Test(plugins_process, environment_and_limits)
{
    /* What the agent does to itself must not reach the plugin. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    int leak = open("/dev/null", O_RDONLY); /* not close-on-exec */
    cr_assert_eq(dup2(leak, 50), 50);
    close(leak);
    setenv("CAIRN_TEST_VAR", "agent", 1);
    setenv(CAIRN_PLUGIN_SOCKET_DIR_ENV, "/agent/value/must/not/win", 1);

    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("facts.sh"), NULL};
    const char *env[] = {"CAIRN_TEST_VAR=cfg", "CAIRN_TEST_EXTRA=yes",
                         CAIRN_PLUGIN_PROTOCOL_VERSIONS_ENV "=99", NULL};
    struct plg_plugin_cfg cfg = {
        .name = "facts", .argv = argv, .env = env, .memory_limit = 64 << 20, .cpu_limit = 7};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    struct plg_handshake hs;
    char err[256] = "";
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    char dir[128], path[160], want[512];
    sockdir_of(&hs, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/facts", dir);
    char *facts = read_file(path);
    snprintf(want, sizeof(want),
             "var=cfg\n"
             "extra=yes\n"
             "versions=1\n"
             "as=65536\n"
             "cpu=7\n"
             "uid=%d gid=%d\n",
             (int)geteuid(), (int)getegid());
    cr_assert_str_eq(facts, want);
    free(facts);

    /* The process itself, now sleep: descriptors 0, 1, 2 only, stdin from
     * /dev/null, nothing blocked or ignored. */
    wait_sleeping(pid);
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int fds = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            fds |= 1 << atoi(e->d_name);
    closedir(d);
    cr_assert_eq(fds, 07, "descriptors 0x%x", fds);
    char link[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pid);
    cr_assert_gt(readlink(path, link, sizeof(link) - 1), 0);
    cr_assert_str_eq(link, "/dev/null");
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    char *status = read_file(path);
    cr_assert(strstr(status, "\nSigBlk:\t0000000000000000\n") != NULL, "%s", status);
    cr_assert(strstr(status, "\nSigIgn:\t0000000000000000\n") != NULL, "%s", status);
    free(status);
    plg_proc_stop(p, 2000);
    assert_gone(pid);
    remove_root(root);
}

Test(plugins_process, run_as_user)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    char root[64];
    make_root(root);
    chmod(root, 0755); /* nobody must reach its socket directory */
    const char *argv[] = {FIXTURE("facts.sh"), NULL};
    struct plg_plugin_cfg cfg = {.name = "facts", .argv = argv, .user = "nobody"};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    struct plg_handshake hs;
    char err[256] = "";
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    char dir[128], path[160];
    sockdir_of(&hs, dir, sizeof(dir));
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_uid, 65534);
    cr_assert_eq(st.st_gid, 65534);
    cr_assert_eq(st.st_mode & 07777, 0700);
    snprintf(path, sizeof(path), "%s/facts", dir);
    char *facts = read_file(path);
    cr_assert(strstr(facts, "\nuid=65534 gid=65534\n") != NULL, "%s", facts);
    cr_assert(strstr(facts, "\nas=unlimited\ncpu=unlimited\n") != NULL, "%s", facts);
    free(facts);
    plg_proc_stop(p, 2000);
    assert_gone(pid);
    remove_root(root);
}

/* plg_proc_start with a user, by an agent that does not run as root. The
 * refusal comes before anything is made, so the socket root is not used. */
static int start_as_nonroot(const char *user, char *err, size_t cap)
{
    const char *argv[] = {FIXTURE("good.sh"), NULL};
    struct plg_plugin_cfg cfg = {.name = "good", .argv = argv, .user = user};
    struct plg_proc *p = NULL;
    int rc = plg_proc_start(&cfg, "/nonexistent", &p, err, cap);
    plg_proc_stop(p, 0);
    return rc;
}

Test(plugins_process, user_needs_root)
{
    char err[256] = "";
    if (geteuid() != 0) {
        cr_assert_eq(start_as_nonroot("root", err, sizeof(err)), -EPERM);
        cr_assert_str_eq(err, "running as user root needs root");
        return;
    }
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int rc = -1;
        if (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0)
            rc = start_as_nonroot("root", err, sizeof(err));
        ssize_t w = write(pfd[1], &rc, sizeof(rc));
        w += write(pfd[1], err, strlen(err));
        _exit(w > 0 ? 0 : 1);
    }
    close(pfd[1]);
    int rc = 0;
    cr_assert_eq(read(pfd[0], &rc, sizeof(rc)), (ssize_t)sizeof(rc));
    ssize_t n = read(pfd[0], err, sizeof(err) - 1);
    err[n > 0 ? n : 0] = '\0';
    close(pfd[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(rc, -EPERM, "%s", err);
    cr_assert_str_eq(err, "running as user root needs root");
}

Test(plugins_process, start_errors)
{
    char root[64];
    make_root(root);
    struct {
        const char *argv0, *user, *env, *msg;
        int rc;
    } cases[] = {
        /* exec fails in the child: reported through the exec pipe */
        {"/nonexistent/cairn-plugin", NULL, NULL,
         "cannot run /nonexistent/cairn-plugin: No such file or directory", -ENOENT},
        {FIXTURE("not-executable"), NULL, NULL,
         "cannot run " FIXTURE("not-executable") ": Permission denied", -EACCES},
        /* looked up along $PATH before fork */
        {"cairn-no-such-command", NULL, NULL,
         "cannot run cairn-no-such-command: No such file or directory", -ENOENT},
        {"", NULL, NULL, "no command to run", -EINVAL},
        {"/bin/true", "cairn-no-such-user", NULL, "unknown user cairn-no-such-user", -ENOENT},
        {"/bin/true", NULL, "NOEQUALS", "invalid environment entry \"NOEQUALS\", want NAME=VALUE",
         -EINVAL},
        {"/bin/true", NULL, "=x", "invalid environment entry \"=x\", want NAME=VALUE", -EINVAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {cases[i].argv0, NULL};
        const char *env[] = {cases[i].env, NULL};
        struct plg_plugin_cfg cfg = {
            .name = "bad", .argv = argv, .user = cases[i].user, .env = env};
        struct plg_proc *p = (struct plg_proc *)&cfg; /* must be reset to NULL */
        char err[256] = "";
        cr_assert_eq(plg_proc_start(&cfg, root, &p, err, sizeof(err)), cases[i].rc, "%s: %s",
                     cases[i].argv0, err);
        cr_assert_null(p);
        cr_assert_str_eq(err, cases[i].msg);
    }
    /* No child was left unreaped. */
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
    cr_assert_eq(errno, ECHILD);
    remove_root(root);
}

Test(plugins_process, socket_root_errors)
{
    const char *argv[] = {"/bin/true", NULL};
    struct plg_plugin_cfg cfg = {.name = "x", .argv = argv};
    struct plg_proc *p = NULL;
    char err[256] = "", root[128];
    memset(root, 'r', sizeof(root) - 1);
    root[0] = '/';
    root[80] = '\0'; /* 80 + 20 + 16 > 107 */
    cr_assert_eq(plg_proc_start(&cfg, root, &p, err, sizeof(err)), -ENAMETOOLONG);
    char want[200];
    snprintf(want, sizeof(want), "socket directory root %s is too long for Unix socket paths",
             root);
    cr_assert_str_eq(err, want);
    cr_assert_eq(plg_proc_start(&cfg, "/nonexistent/dir", &p, err, sizeof(err)), -ENOENT);
    cr_assert_str_eq(err, "cannot create a socket directory in /nonexistent/dir: No such file or "
                          "directory");
    cr_assert_null(p);
}

/* Starts a fixture and runs its handshake; returns the handshake's rc. */
static int handshake_of(const char *script, int64_t timeout_ms, char *err, size_t cap, char *status,
                        size_t scap)
{
    char root[64];
    make_root(root);
    const char *argv[] = {script, NULL};
    struct plg_plugin_cfg cfg = {.name = "broken", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    struct plg_handshake hs;
    int rc = plg_proc_handshake(p, timeout_ms, &hs, err, cap);
    plg_proc_exited(p, status, scap);
    plg_proc_stop(p, 2000);
    assert_gone(pid);
    remove_root(root);
    return rc;
}

Test(plugins_process, handshake_exit)
{
    char err[256], status[128];
    cr_assert_eq(
        handshake_of(FIXTURE("exit3.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -ECHILD);
    cr_assert_str_eq(err, "plugin exited with status 3 before its handshake");
    cr_assert_str_eq(status, "exited with status 3");
}

Test(plugins_process, handshake_crash)
{
    char err[256], status[128];
    cr_assert_eq(
        handshake_of(FIXTURE("segv.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -ECHILD);
    cr_assert_str_eq(err, "plugin killed by signal 11 (Segmentation fault) before its handshake");
    cr_assert_str_eq(status, "killed by signal 11 (Segmentation fault)");
}

Test(plugins_process, handshake_timeout)
{
    char err[256], status[128];
    cr_assert_eq(handshake_of(FIXTURE("silent.sh"), 300, err, sizeof(err), status, sizeof(status)),
                 -ETIMEDOUT);
    cr_assert_str_eq(err, "no handshake from the plugin within 300 ms");
    cr_assert_str_eq(status, "running");
}

Test(plugins_process, handshake_garbage)
{
    char err[256], status[128];
    cr_assert_eq(
        handshake_of(FIXTURE("garbage.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -EPROTO);
    cr_assert_str_eq(err, "malformed handshake line \"this is not a handshake\": 1 field, want "
                          "CORE|APP|unix|PATH|grpc");
}

Test(plugins_process, handshake_elsewhere)
{
    char err[256], status[128];
    cr_assert_eq(
        handshake_of(FIXTURE("elsewhere.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -EPROTO);
    cr_assert(strstr(err, "plugin announced socket /tmp/elsewhere.sock outside its directory "
                          "/tmp/cairn-proc-test-") == err,
              "%s", err);
}

Test(plugins_process, handshake_long_line)
{
    char err[256], status[128], want[256];
    char ys[65];
    memset(ys, 'y', 64);
    ys[64] = '\0';
    cr_assert_eq(
        handshake_of(FIXTURE("longline.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -EPROTO);
    snprintf(want, sizeof(want), "malformed handshake line \"%s...\": longer than 512 bytes", ys);
    cr_assert_str_eq(err, want);
}

Test(plugins_process, handshake_stdout_closed)
{
    char err[256], status[128];
    cr_assert_eq(
        handshake_of(FIXTURE("closed.sh"), START_MS, err, sizeof(err), status, sizeof(status)),
        -EPROTO);
    cr_assert_str_eq(err, "plugin closed its stdout before its handshake");
    cr_assert_str_eq(status, "running");
}

Test(plugins_process, exit_by_signal)
{
    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("good.sh"), CAIRN_PLUGIN_COOKIE_KEY, CAIRN_PLUGIN_COOKIE_VALUE,
                          NULL};
    struct plg_plugin_cfg cfg = {.name = "good", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    struct plg_handshake hs;
    char err[256] = "", status[128] = "";
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    for (int i = 0; i < 1000 && !plg_proc_exited(p, status, sizeof(status)); i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    cr_assert_str_eq(status, "killed by signal 15 (Terminated)");
    /* Asked again, the kept status. */
    cr_assert(plg_proc_exited(p, NULL, 0));
    cr_assert(plg_proc_exited(p, status, sizeof(status)));
    cr_assert_str_eq(status, "killed by signal 15 (Terminated)");
    plg_proc_stop(p, 2000);
    assert_gone(pid);
    remove_root(root);
}

Test(plugins_process, stop_stubborn)
{
    /* The plugin's child, orphaned by the kill, becomes ours to wait for. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("stubborn.sh"), NULL};
    struct plg_plugin_cfg cfg = {.name = "stubborn", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    struct plg_handshake hs;
    char err[256] = "", dir[128], path[160];
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    sockdir_of(&hs, dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/child", dir);
    char *s = read_file(path);
    pid_t child = (pid_t)atoi(s);
    free(s);
    cr_assert_gt(child, 0);
    cr_assert_eq(getpgid(child), pid);

    plg_proc_stop(p, 200);
    assert_gone(pid);
    int st = wait_child(child);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x", st);
    struct stat sst;
    cr_assert_eq(stat(dir, &sst), -1);
    cr_assert_eq(errno, ENOENT);
    remove_root(root);
}

Test(plugins_process, dies_with_the_agent)
{
    /* The plugin, orphaned when the "agent" exits, becomes ours. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    char root[64];
    make_root(root);
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    pid_t agent = fork();
    cr_assert_geq(agent, 0);
    if (agent == 0) {
        /* The agent: starts the plugin and exits without stopping it. */
        const char *argv[] = {FIXTURE("silent.sh"), NULL};
        struct plg_plugin_cfg cfg = {.name = "orphan", .argv = argv};
        struct plg_proc *p = NULL;
        char err[256];
        pid_t pid = -1;
        if (plg_proc_start(&cfg, root, &p, err, sizeof(err)) == 0)
            pid = plg_proc_pid(p);
        ssize_t w = write(pfd[1], &pid, sizeof(pid));
        _exit(w == (ssize_t)sizeof(pid) ? 0 : 1);
    }
    close(pfd[1]);
    pid_t pid = -1;
    cr_assert_eq(read(pfd[0], &pid, sizeof(pid)), (ssize_t)sizeof(pid));
    close(pfd[0]);
    cr_assert_gt(pid, 0);
    int st;
    cr_assert_eq(waitpid(agent, &st, 0), agent);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = wait_child(pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "plugin status 0x%x", st);
    rm_tree(root); /* the socket directory nobody stopped */
}

/* ---- output --------------------------------------------------------------------- */

/* Sends the log to a fresh file; returns its path in path. */
static void log_to_file(char path[64])
{
    snprintf(path, 64, "/tmp/cairn-proc-log-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cn_log_set_fd(fd);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s++)
        n++;
    return n;
}

Test(plugins_process, output_logged)
{
    char logpath[64];
    log_to_file(logpath);
    cn_log_setup(CN_LOG_DEBUG, CN_LOG_LOGFMT);
    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("chatty.sh"), NULL};
    struct plg_plugin_cfg cfg = {.name = "chatty", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    struct plg_handshake hs;
    char err[256] = "";
    cr_assert_eq(plg_proc_handshake(p, START_MS, &hs, err, sizeof(err)), 0, "%s", err);
    wait_sleeping(plg_proc_pid(p));
    plg_proc_stop(p, 2000); /* the pump has read everything when stop returns */
    remove_root(root);

    char *log = read_file(logpath);
    unlink(logpath);
    const char *pre = " level=info module=plugin msg=\"plugin output\" plugin=chatty stream=stderr";
    char want[1400];
    snprintf(want, sizeof(want), "%s line=\"hello world\"\n", pre);
    cr_assert_eq(count(log, want), 1, "%s", log);
    snprintf(want, sizeof(want), "%s line=crlf\n", pre);
    cr_assert_eq(count(log, want), 1, "%s", log);
    snprintf(want, sizeof(want), "%s line=\"no newline\"\n", pre);
    cr_assert_eq(count(log, want), 1, "%s", log);
    char xs[1025];
    memset(xs, 'x', 1024);
    xs[1024] = '\0';
    snprintf(want, sizeof(want), "%s line=%s truncated=true\n", pre, xs);
    cr_assert_eq(count(log, want), 1, "%s", log);
    cr_assert_eq(count(log, " level=debug module=plugin msg=\"plugin output\" plugin=chatty "
                            "stream=stdout line=\"after the handshake\"\n"),
                 1, "%s", log);
    /* The handshake line itself is not logged; nothing else is. */
    cr_assert_eq(count(log, "unix|"), 0, "%s", log);
    cr_assert_eq(count(log, "\n"), 5, "%s", log);
    free(log);
}

Test(plugins_process, output_rate_limited)
{
    char logpath[64];
    log_to_file(logpath);
    char root[64];
    make_root(root);
    const char *argv[] = {FIXTURE("burst.sh"), NULL};
    struct plg_plugin_cfg cfg = {.name = "burst", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    /* 150 lines in well under a second: 100 logged, 50 dropped. */
    for (int i = 0; i < 1000 && plg_proc_dropped_lines(p) < 50; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    cr_assert_eq(plg_proc_dropped_lines(p), 50);
    plg_proc_stop(p, 2000);
    remove_root(root);

    char *log = read_file(logpath);
    unlink(logpath);
    cr_assert_eq(count(log, " stream=stderr line=\"burst "), 100, "%s", log);
    cr_assert_eq(count(log, " stream=stderr line=\"burst 100\"\n"), 1, "%s", log);
    cr_assert_eq(count(log, " stream=stderr line=\"burst 101\"\n"), 0, "%s", log);
    cr_assert_eq(count(log, " level=warn module=plugin msg=\"plugin output over the rate limit; "
                            "dropping lines\" plugin=burst limit_per_second=100 "
                            "dropped_total=1\n"),
                 1, "%s", log);
    cr_assert_eq(count(log, "\n"), 101, "%s", log);
    free(log);
}

Test(plugins_process, stderr_flood)
{
    char logpath[64];
    log_to_file(logpath);
    char root[64];
    make_root(root);
    const char *argv[] = {"sh", FIXTURE("flood.sh"), NULL}; /* sh found along $PATH */
    struct plg_plugin_cfg cfg = {.name = "flood", .argv = argv};
    struct plg_proc *p = start_ok(&cfg, root);
    pid_t pid = plg_proc_pid(p);
    for (int i = 0; i < 1000 && plg_proc_dropped_lines(p) == 0; i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    cr_assert_gt(plg_proc_dropped_lines(p), 0);
    char status[128];
    cr_assert_not(plg_proc_exited(p, status, sizeof(status)), "%s", status);
    plg_proc_stop(p, 2000);
    assert_gone(pid);
    remove_root(root);

    char *log = read_file(logpath);
    unlink(logpath);
    cr_assert(count(log, " level=info module=plugin msg=\"plugin output\" plugin=flood "
                         "stream=stderr line=flood\n") >= 100,
              "%s", log);
    cr_assert(count(log, " level=warn module=plugin msg=\"plugin output over the rate limit; "
                         "dropping lines\" plugin=flood limit_per_second=100 "
                         "dropped_total=1\n") == 1,
              "%s", log);
    free(log);
}
