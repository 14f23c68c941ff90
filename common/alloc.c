/*
 * Allocation wrappers. They add one thing to libc: a test hook that makes an
 * allocation fail on demand, so that every -ENOMEM path can be exercised.
 * The countdown is process-wide and meant for single-threaded tests.
 */
#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static long fail_countdown = -1;

void cn_alloc_fail_after(long n)
{
    fail_countdown = n;
}

static bool should_fail(void)
{
    if (fail_countdown < 0)
        return false;
    if (fail_countdown == 0)
        return true;
    fail_countdown--;
    return false;
}

void *cn_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n ? n : 1);
}

void *cn_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *cn_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n ? n : 1);
}

char *cn_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = cn_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *cn_strdup(const char *s)
{
    return cn_strndup(s, strlen(s));
}

int cn_array_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : (first ? first : 1);
    while (c < need) {
        if (c > SIZE_MAX / 2 / size)
            return -ENOMEM;
        c *= 2;
    }
    void *q = cn_realloc(*p, c * size);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

char **cn_strv_dup(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = cn_calloc(n + 1, sizeof(*out));
    for (size_t i = 0; out && i < n; i++)
        if (!(out[i] = cn_strdup(v[i]))) {
            cn_strv_free(out);
            return NULL;
        }
    return out;
}

void cn_strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}
