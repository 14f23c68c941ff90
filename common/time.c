/* Clocks and Prometheus-style durations. */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <time.h>

int64_t cn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double cn_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t cn_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct timespec cn_realtime_after_ns(int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ns < 0)
        ns = 0;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec += ns % 1000000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cn_thread_cpu_seconds(void)
{
    return clock_seconds(CLOCK_THREAD_CPUTIME_ID);
}

double cn_process_cpu_seconds(void)
{
    return clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * Prometheus durations: one or more <number><unit> with units in descending
 * order, each at most once: y w d h m s ms. "0" alone is allowed.
 */
int cn_duration_parse(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"y", 365LL * 24 * 3600 * 1000},
                 {"w", 7LL * 24 * 3600 * 1000},
                 {"d", 24LL * 3600 * 1000},
                 {"h", 3600LL * 1000},
                 {"m", 60LL * 1000},
                 {"s", 1000},
                 {"ms", 1}};
    if (!s || !*s)
        return -EINVAL;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    int64_t total = 0;
    int last = -1;
    const char *p = s;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            if (n > (INT64_MAX - 9) / 10)
                return -ERANGE;
            n = n * 10 + (*p++ - '0');
        }
        int u = -1;
        /* "ms" must be tried before "m". */
        if (p[0] == 'm' && p[1] == 's')
            u = 6;
        else
            for (int i = 0; i < 6; i++)
                if (*p == units[i].unit[0]) {
                    u = i;
                    break;
                }
        if (u < 0 || u <= last)
            return -EINVAL;
        p += strlen(units[u].unit);
        if (n > 0 && units[u].ms > INT64_MAX / n)
            return -ERANGE;
        if (total > INT64_MAX - n * units[u].ms)
            return -ERANGE;
        total += n * units[u].ms;
        last = u;
    }
    *ms = total;
    return 0;
}
