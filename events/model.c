/*
 * The event model: names of sources and severities, and the owned strings
 * of one event.
 *
 * Every string that enters an event is bounded and made valid UTF-8 here,
 * once, so the store, the JSON encoder and the terminal never see a
 * kernel's stray bytes or an unbounded plugin message. Cutting happens on a
 * rune boundary; bytes that are not UTF-8 become U+FFFD, as Go's JSON
 * encoder would show them.
 */
#include "events/events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

static const char *const source_names[EVT_SRC_COUNT] = {"kernel", "os", "hardware", "plugin",
                                                        "agent"};
static const char *const severity_names[EVT_SEV_COUNT] = {"info", "warning", "critical"};

const char *evt_source_name(enum evt_source s)
{
    return (unsigned)s < EVT_SRC_COUNT ? source_names[s] : NULL;
}

int evt_source_parse(const char *s, enum evt_source *out)
{
    for (int i = 0; i < EVT_SRC_COUNT; i++)
        if (!strcmp(s, source_names[i])) {
            *out = (enum evt_source)i;
            return 0;
        }
    return -EINVAL;
}

const char *evt_severity_name(enum evt_severity s)
{
    return (unsigned)s < EVT_SEV_COUNT ? severity_names[s] : NULL;
}

int evt_severity_parse(const char *s, enum evt_severity *out)
{
    for (int i = 0; i < EVT_SEV_COUNT; i++)
        if (!strcmp(s, severity_names[i])) {
            *out = (enum evt_severity)i;
            return 0;
        }
    if (!strcmp(s, "warn")) {
        *out = EVT_SEV_WARNING;
        return 0;
    }
    if (!strcmp(s, "crit")) {
        *out = EVT_SEV_CRITICAL;
        return 0;
    }
    return -EINVAL;
}

bool evt_type_valid(const char *type)
{
    size_t n = strlen(type);
    if (n == 0 || n > EVT_TYPE_MAX || type[0] < 'A' || type[0] > 'Z')
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = type[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

bool evt_attr_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > EVT_ATTR_NAME_MAX || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

void evt_event_init(struct evt_event *ev)
{
    memset(ev, 0, sizeof(*ev));
}

void evt_event_clear(struct evt_event *ev)
{
    if (!ev)
        return;
    free(ev->message);
    for (size_t i = 0; i < ev->nattrs; i++) {
        free(ev->attrs[i].name);
        free(ev->attrs[i].value);
    }
    free(ev->attrs);
    memset(ev, 0, sizeof(*ev));
}

void evt_event_move(struct evt_event *dst, struct evt_event *src)
{
    if (dst == src)
        return;
    evt_event_clear(dst);
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t rune_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned r = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        r = (r << 6) | (s[i] & 0x3f);
    }
    if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff))
        return 0;
    return len;
}

/* A NUL-terminated copy of s[0..len), valid UTF-8, at most max bytes, cut
 * on a rune boundary; NUL bytes become spaces. NULL on allocation failure. */
static char *clean_string(const char *s, size_t len, size_t max)
{
    /* Each input byte may become 3 (U+FFFD); the output stops at max. */
    size_t cap = (len < max / 3 ? len * 3 : max) + 1;
    char *out = cn_malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)s + i;
        size_t rl = rune_len(p, len - i);
        size_t wl = rl ? rl : 3; /* U+FFFD is 3 bytes */
        if (o + wl > max)
            break;
        if (!rl)
            memcpy(out + o, "\xef\xbf\xbd", 3);
        else if (p[0] == 0)
            out[o] = ' ';
        else
            memcpy(out + o, p, rl);
        o += wl;
        i += rl ? rl : 1;
    }
    out[o] = '\0';
    return out;
}

int evt_event_set_type(struct evt_event *ev, const char *type)
{
    if (!evt_type_valid(type))
        return -EINVAL;
    strcpy(ev->type, type);
    return 0;
}

int evt_event_set_message(struct evt_event *ev, const char *msg, size_t len)
{
    char *m = clean_string(msg, len, EVT_MESSAGE_MAX);
    if (!m)
        return -ENOMEM;
    free(ev->message);
    ev->message = m;
    return 0;
}

int evt_event_set_attr(struct evt_event *ev, const char *name, const char *value, size_t vlen)
{
    if (!evt_attr_name_valid(name))
        return -EINVAL;
    char *v = clean_string(value, vlen, EVT_ATTR_VALUE_MAX);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < ev->nattrs; i++)
        if (!strcmp(ev->attrs[i].name, name)) {
            free(ev->attrs[i].value);
            ev->attrs[i].value = v;
            return 0;
        }
    if (ev->nattrs >= EVT_ATTRS_MAX) {
        free(v);
        return -E2BIG;
    }
    char *n = cn_strdup(name);
    struct evt_attr *grown = n ? cn_realloc(ev->attrs, (ev->nattrs + 1) * sizeof(*grown)) : NULL;
    if (!grown) {
        free(n);
        free(v);
        return -ENOMEM;
    }
    ev->attrs = grown;
    ev->attrs[ev->nattrs].name = n;
    ev->attrs[ev->nattrs].value = v;
    ev->nattrs++;
    return 0;
}

const char *evt_event_attr(const struct evt_event *ev, const char *name)
{
    for (size_t i = 0; i < ev->nattrs; i++)
        if (!strcmp(ev->attrs[i].name, name))
            return ev->attrs[i].value;
    return NULL;
}

int evt_event_vfill(struct evt_event *ev, int64_t ts_ns, enum evt_source source,
                    enum evt_severity severity, const char *type, const char *message,
                    va_list attrs)
{
    ev->ts_ns = ts_ns;
    ev->source = source;
    ev->severity = severity;
    int rc = evt_event_set_type(ev, type);
    if (!rc)
        rc = evt_event_set_message(ev, message, strlen(message));
    const char *name;
    while (!rc && (name = va_arg(attrs, const char *))) {
        const char *value = va_arg(attrs, const char *);
        rc = evt_event_set_attr(ev, name, value ? value : "", value ? strlen(value) : 0);
    }
    if (rc)
        evt_event_clear(ev);
    return rc;
}

int evt_event_copy(struct evt_event *dst, const struct evt_event *src)
{
    evt_event_clear(dst);
    dst->id = src->id;
    dst->ts_ns = src->ts_ns;
    dst->source = src->source;
    dst->severity = src->severity;
    memcpy(dst->type, src->type, sizeof(dst->type));
    if (src->message && !(dst->message = cn_strdup(src->message)))
        goto fail;
    if (src->nattrs) {
        dst->attrs = cn_calloc(src->nattrs, sizeof(*dst->attrs));
        if (!dst->attrs)
            goto fail;
        for (size_t i = 0; i < src->nattrs; i++) {
            dst->nattrs++;
            dst->attrs[i].name = cn_strdup(src->attrs[i].name);
            dst->attrs[i].value = cn_strdup(src->attrs[i].value);
            if (!dst->attrs[i].name || !dst->attrs[i].value)
                goto fail;
        }
    }
    return 0;
fail:
    evt_event_clear(dst);
    return -ENOMEM;
}
