/*
 * The agent's metrics about itself: HTTP request counts, the process_*
 * families every Prometheus client library exports (same names, so the usual
 * "process" dashboards work), and cairn_build_info.
 */
#include "agent/internal.h"
#include "cairn_version.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HTTP_KEYS 64

struct http_key {
    const char *handler; /* static strings from the server's handler table */
    unsigned code;
    uint64_t count;
};

struct agent_http_stats {
    pthread_mutex_t lock;
    size_t n;
    struct http_key keys[MAX_HTTP_KEYS];
};

struct agent_http_stats *agent_http_stats_create(void)
{
    struct agent_http_stats *s = cn_calloc(1, sizeof(*s));
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

void agent_http_stats_destroy(struct agent_http_stats *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void agent_http_stats_inc(struct agent_http_stats *s, const char *handler, unsigned code)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    size_t i;
    for (i = 0; i < s->n; i++)
        if (s->keys[i].code == code && strcmp(s->keys[i].handler, handler) == 0)
            break;
    if (i == s->n && s->n < MAX_HTTP_KEYS) {
        s->keys[i].handler = handler;
        s->keys[i].code = code;
        s->keys[i].count = 0;
        s->n++;
    }
    if (i < s->n)
        s->keys[i].count++;
    pthread_mutex_unlock(&s->lock);
}

void agent_http_stats_export(struct agent_http_stats *s, struct exp_builder *b)
{
    struct exp_family *f =
        exp_family(b, "cairn_http_requests_total",
                   "Total number of HTTP requests by handler and status code.", EXP_COUNTER);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        char code[16];
        snprintf(code, sizeof(code), "%u", s->keys[i].code);
        exp_add(b, f, (double)s->keys[i].count, 2, "code", code, "handler", s->keys[i].handler);
    }
    pthread_mutex_unlock(&s->lock);
}

double agent_boot_time(void)
{
    char buf[8192];
    if (cn_read_file("/proc/stat", buf, sizeof(buf)) < 0)
        return 0;
    const char *p = strstr(buf, "\nbtime ");
    return p ? strtod(p + 7, NULL) : 0;
}

/* Open descriptors of this process. Since Linux 6.2 the size of
 * /proc/self/fd is the count, for the price of one stat(); older kernels
 * report 0 there and get the directory listed. */
static long count_fds(void)
{
    struct stat st;
    if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
        return (long)st.st_size;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

void agent_process_metrics(struct exp_builder *b, double boot_time)
{
    char buf[1024];
    long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (cn_read_file("/proc/self/stat", buf, sizeof(buf)) > 0) {
        /* Fields after the command name, which may contain spaces. */
        const char *p = strrchr(buf, ')');
        unsigned long long v[22] = {0};
        int n = 0;
        if (p) {
            p += 2; /* ") " then field 3 (state) */
            while (*p && *p != ' ')
                p++;
            for (n = 0; n < 22 && *p; n++) {
                char *end;
                v[n] = strtoull(p, &end, 10);
                if (end == p)
                    break;
                p = end;
            }
        }
        /* v[0] is field 4 (ppid): utime=14, stime=15, starttime=22, vsize=23, rss=24 */
        if (n >= 21) {
            exp_counter(b, "process_cpu_seconds_total",
                        "Total user and system CPU time spent in seconds.",
                        (double)(v[10] + v[11]) / (double)hz, 0);
            exp_gauge(b, "process_start_time_seconds",
                      "Start time of the process since unix epoch in seconds.",
                      boot_time + (double)v[18] / (double)hz, 0);
            exp_gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                      (double)v[19], 0);
            exp_gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.",
                      (double)v[20] * (double)page, 0);
        }
    }
    long nfd = count_fds();
    if (nfd >= 0)
        exp_gauge(b, "process_open_fds", "Number of open file descriptors.", (double)nfd, 0);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        exp_gauge(b, "process_max_fds", "Maximum number of open file descriptors.",
                  rl.rlim_cur == RLIM_INFINITY ? 1.8446744073709552e19 : (double)rl.rlim_cur, 0);
    if (getrlimit(RLIMIT_AS, &rl) == 0)
        exp_gauge(b, "process_virtual_memory_max_bytes",
                  "Maximum amount of virtual memory available in bytes.",
                  rl.rlim_cur == RLIM_INFINITY ? 1.8446744073709552e19 : (double)rl.rlim_cur, 0);
    exp_gauge(b, "cairn_build_info",
              "A metric with a constant '1' value labeled by version and the C compiler cairn "
              "was built with.",
              1, 2, "version", CAIRN_VERSION, "compiler", __VERSION__);
}
