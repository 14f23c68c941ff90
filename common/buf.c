/*
 * Growable byte buffers with a sticky error. Appends after a failed one are
 * ignored, so encoders append freely and check b->err once at the end.
 * Capacity doubles, so appending n bytes costs amortised O(n).
 */
#include "common/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cn_buf_init(struct cn_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void cn_buf_free(struct cn_buf *b)
{
    free(b->data);
    cn_buf_init(b);
}

void cn_buf_reset(struct cn_buf *b)
{
    b->len = 0;
    b->err = 0;
    if (b->data)
        b->data[0] = '\0';
}

int cn_buf_reserve(struct cn_buf *b, size_t extra)
{
    if (b->err)
        return b->err;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) {
            b->err = -ENOMEM;
            return b->err;
        }
        cap *= 2;
    }
    char *d = cn_realloc(b->data, cap);
    if (!d) {
        b->err = -ENOMEM;
        return b->err;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void cn_buf_append(struct cn_buf *b, const void *data, size_t n)
{
    if (cn_buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void cn_buf_puts(struct cn_buf *b, const char *s)
{
    cn_buf_append(b, s, strlen(s));
}

void cn_buf_putc(struct cn_buf *b, char c)
{
    if (cn_buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void cn_buf_printf(struct cn_buf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->err)
        return;
    size_t room = b->cap > b->len ? b->cap - b->len : 0;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->err = -EINVAL;
        return;
    }
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return;
    }
    if (cn_buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *cn_buf_cstr(struct cn_buf *b)
{
    if (b->err || !b->data)
        return "";
    return b->data;
}

char *cn_buf_steal(struct cn_buf *b, size_t *len)
{
    char *d = b->data;
    if (len)
        *len = b->len;
    cn_buf_init(b);
    return d;
}

void cn_errf(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

int cn_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t cn_utf8_encode(char *out, uint32_t r)
{
    if ((r >= 0xD800 && r <= 0xDFFF) || r > 0x10FFFF)
        r = 0xFFFD;
    if (r < 0x80) {
        out[0] = (char)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (char)(0xC0 | (r >> 6));
        out[1] = (char)(0x80 | (r & 0x3F));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (char)(0xE0 | (r >> 12));
        out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        out[2] = (char)(0x80 | (r & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (r >> 18));
    out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
    out[3] = (char)(0x80 | (r & 0x3F));
    return 4;
}
