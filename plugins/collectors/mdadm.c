/*
 * mdadm: /proc/mdstat -> node_md_{state,disks,disks_required,blocks,
 * blocks_synced}, as node_exporter 1.5's mdadm collector.
 *
 * The parser follows prometheus/procfs 0.8 (what 1.5 uses) rule for rule,
 * since its quirks decide the exported values:
 *  - a device line is any line that is not blank, does not start with a
 *    space, "Personalities" or "unused"; it needs 3 fields (name, ":",
 *    state) and at least 3 more lines after it in the file;
 *  - the next line is the status line: its first field is the size in
 *    blocks; for raid0/linear arrays the disk count is the number of '['
 *    on the device line; inactive arrays have no disk counts; other arrays
 *    need "<n> blocks ... [total/active] [UU_]";
 *  - failed and spare disks are the "(F)" and "(S)" marks on the device line;
 *  - the line after the status line (or after the bitmap line) says whether
 *    a recovery, resync or check runs; then the state becomes "recovering",
 *    "resyncing" or "checking" and blocks_synced comes from "(done/total)",
 *    or is 0 for resync=PENDING/DELAYED. That line must also carry the
 *    percentage, finish time and speed, which 1.5 parses but does not export.
 * Any violation fails the collection with nothing exported, as in 1.5. No
 * /proc/mdstat (no md driver) is "no data": success 0, as 1.5 reports it.
 */
#include "plugins/plugins.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MD_FILE_MAX (4u << 20)

struct md_array {
    char name[64];
    char state[32]; /* "active", "inactive", "recovering", "resyncing",
                       "checking", ... */
    double active, total, failed, spare, size, synced;
};

/* node_md_state's state label values and the parser states that set them. */
static const char *const md_states[][2] = {{"active", "active"},
                                           {"inactive", "inactive"},
                                           {"recovering", "recovering"},
                                           {"resync", "resyncing"},
                                           {"check", "checking"}};

struct md_state {
    struct cn_buf file;
    char **lines;
    size_t lines_cap;
    struct md_array *arrays;
    size_t arrays_cap;
};

static int md_init(const struct plg_config *cfg, void **state)
{
    (void)cfg;
    struct md_state *st = cn_calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    cn_buf_init(&st->file);
    *state = st;
    return 0;
}

static void md_destroy(void *state)
{
    struct md_state *st = state;
    if (!st)
        return;
    cn_buf_free(&st->file);
    free(st->lines);
    free(st->arrays);
    free(st);
}

static bool md_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool md_blank(const char *s)
{
    for (; *s; s++)
        if (!plg_is_space(*s))
            return false;
    return true;
}

static int md_count(const char *s, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

/* Copies the i-th whitespace-separated field of s into out (cap bytes);
 * returns the number of fields in s. */
static int md_field(char *s, int i, char *out, size_t cap)
{
    int n = 0;
    size_t len;
    out[0] = '\0';
    for (char *b; (b = plg_next_field(&s, &len)); n++) {
        if (n == i) {
            len = len < cap - 1 ? len : cap - 1;
            memcpy(out, b, len);
            out[len] = '\0';
        }
    }
    return n;
}

/* Parses a base-10 int64 as Go's strconv.ParseInt(s, 10, 64). */
static bool md_int(const char *s, double *out)
{
    int64_t v;
    if (plg_parse_int(s, strlen(s), 10, 64, &v))
        return false;
    *out = (double)v;
    return true;
}

/* Parses [b, e) as strconv.ParseFloat: the whole string must be a number. */
static bool md_float(const char *b, const char *e)
{
    double v;
    return plg_parse_float(b, (size_t)(e - b), &v) == 0;
}

/*
 * Matches `\[(\d+)/(\d+)\] \[([U_]+)\]` at p; on success sets total/active
 * and returns true.
 */
static bool md_disk_counts_at(const char *p, double *total, double *active)
{
    if (*p++ != '[' || !md_digit(*p))
        return false;
    char *e;
    double t = (double)strtoll(p, &e, 10);
    if (*e != '/' || !md_digit(e[1]))
        return false;
    double a = (double)strtoll(e + 1, &e, 10);
    if (e[0] != ']' || e[1] != ' ' || e[2] != '[')
        return false;
    const char *q = e + 3;
    if (*q != 'U' && *q != '_')
        return false;
    while (*q == 'U' || *q == '_')
        q++;
    if (*q != ']')
        return false;
    *total = t;
    *active = a;
    return true;
}

/* evalStatusLine. Returns 0 or -EINVAL with msg set. */
static int md_status(const char *dev_line, char *status, struct md_array *a, char *msg, size_t cap)
{
    char first[64];
    if (md_field(status, 0, first, sizeof(first)) < 1) {
        snprintf(msg, cap, "unexpected statusLine \"%s\"", status);
        return -EINVAL;
    }
    if (!md_int(first, &a->size)) {
        snprintf(msg, cap, "unexpected statusLine \"%s\": invalid size %s", status, first);
        return -EINVAL;
    }
    if (strstr(dev_line, "raid0") || strstr(dev_line, "linear")) {
        a->total = a->active = md_count(dev_line, "[");
        return 0;
    }
    if (strstr(dev_line, "inactive"))
        return 0;
    /* (\d+) blocks .*: the first digits followed by " blocks "; then the
     * greedy .* makes the last disk-count group after it the match. */
    const char *p = status, *after = NULL;
    while ((p = strstr(p, " blocks "))) {
        if (p > status && md_digit(p[-1])) {
            after = p + 8;
            break;
        }
        p++;
    }
    bool found = false;
    for (const char *q = after ? strchr(after, '[') : NULL; q; q = strchr(q + 1, '['))
        if (md_disk_counts_at(q, &a->total, &a->active))
            found = true;
    if (!found) {
        snprintf(msg, cap, "couldn't find all the substring matches: %s", status);
        return -EINVAL;
    }
    return 0;
}

/* evalRecoveryLine: blocks synced from "(done/total)"; the percentage,
 * finish time and speed must parse too. */
static int md_recovery(const char *line, double *synced, char *msg, size_t cap)
{
    const char *p, *e;
    /* \((\d+)/\d+\) */
    bool ok = false;
    for (p = strchr(line, '('); p && !ok; p = strchr(p + 1, '(')) {
        const char *d = p + 1;
        while (md_digit(*d))
            d++;
        if (d == p + 1 || *d != '/' || !md_digit(d[1]))
            continue;
        const char *t = d + 1;
        while (md_digit(*t))
            t++;
        if (*t != ')')
            continue;
        char num[32];
        size_t n = (size_t)(d - p - 1);
        if (n >= sizeof(num))
            break;
        memcpy(num, p + 1, n);
        num[n] = '\0';
        ok = md_int(num, synced);
        if (!ok)
            break;
    }
    if (!ok) {
        snprintf(msg, cap, "unexpected recoveryLine: %s", line);
        return -EINVAL;
    }
    /* = (.+)% : TrimSpace, then ParseFloat */
    ok = false;
    if ((p = strstr(line, "= ")) && (e = strrchr(p + 2, '%')) && e > p + 2) {
        const char *b = p + 2;
        while (b < e && plg_is_space(*b))
            b++;
        const char *f = e;
        while (f > b && plg_is_space(f[-1]))
            f--;
        ok = md_float(b, f);
    }
    if (!ok) {
        snprintf(msg, cap, "unexpected recoveryLine matching percentage: %s", line);
        return -EINVAL;
    }
    /* finish=(.+)min */
    ok = false;
    if ((p = strstr(line, "finish="))) {
        const char *last = NULL;
        for (const char *q = p + 8; (q = strstr(q, "min")); q++)
            last = q;
        ok = last && md_float(p + 7, last);
    }
    if (!ok) {
        snprintf(msg, cap, "unexpected recoveryLine matching est. finish time: %s", line);
        return -EINVAL;
    }
    /* speed=(.+)[A-Z] */
    ok = false;
    if ((p = strstr(line, "speed="))) {
        const char *last = NULL;
        for (const char *q = p + 7; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                last = q;
        ok = last && md_float(p + 6, last);
    }
    if (!ok) {
        snprintf(msg, cap, "unexpected recoveryLine matching speed: %s", line);
        return -EINVAL;
    }
    return 0;
}

static int md_parse(struct md_state *st, size_t nlines, size_t *narrays, char *msg, size_t cap)
{
    char **lines = st->lines;
    size_t n = 0;
    for (size_t i = 0; i < nlines; i++) {
        char *line = lines[i];
        if (md_blank(line) || line[0] == ' ' || strncmp(line, "Personalities", 13) == 0 ||
            strncmp(line, "unused", 6) == 0)
            continue;
        char name[sizeof(st->arrays->name)];
        if (md_field(line, 0, name, sizeof(name)) < 3) {
            snprintf(msg, cap, "not enough fields in mdline (expected at least 3): %s", line);
            return -EINVAL;
        }
        if (nlines <= i + 3) {
            snprintf(msg, cap, "error parsing \"%s\": too few lines for md device", name);
            return -EINVAL;
        }
        if (n == st->arrays_cap) {
            size_t c = st->arrays_cap ? st->arrays_cap * 2 : 8;
            struct md_array *a = cn_realloc(st->arrays, c * sizeof(*a));
            if (!a)
                return -ENOMEM;
            st->arrays = a;
            st->arrays_cap = c;
        }
        struct md_array *a = &st->arrays[n];
        memset(a, 0, sizeof(*a));
        memcpy(a->name, name, sizeof(a->name));
        md_field(line, 2, a->state, sizeof(a->state));
        a->failed = md_count(line, "(F)");
        a->spare = md_count(line, "(S)");
        char why[200];
        if (md_status(line, lines[i + 1], a, why, sizeof(why))) {
            snprintf(msg, cap, "error parsing md device lines: %s", why);
            return -EINVAL;
        }
        const char *sync = strstr(lines[i + 2], "bitmap") ? lines[i + 3] : lines[i + 2];
        a->synced = a->size;
        bool recovering = strstr(sync, "recovery"), resyncing = strstr(sync, "resync"),
             checking = strstr(sync, "check");
        if (recovering || resyncing || checking) {
            snprintf(a->state, sizeof(a->state), "%s",
                     recovering ? "recovering"
                     : checking ? "checking"
                                : "resyncing");
            if (strstr(sync, "PENDING") || strstr(sync, "DELAYED"))
                a->synced = 0;
            else if (md_recovery(sync, &a->synced, why, sizeof(why))) {
                snprintf(msg, cap, "error parsing sync line in md device \"%s\": %s", name, why);
                return -EINVAL;
            }
        }
        n++;
    }
    *narrays = n;
    return 0;
}

static int md_collect(void *state, struct plg_collect *c)
{
    struct md_state *st = state;
    char path[PATH_MAX];
    plg_proc(path, c->paths, "mdstat");
    int rc = plg_read_buf(c, path, &st->file, MD_FILE_MAX);
    if (rc == -ENOENT)
        return plg_nodata(c, "not collecting mdstat, %s does not exist", path);
    if (rc)
        return plg_fail(c, rc, "error parsing mdstatus: couldn't read %s: %s", path, strerror(-rc));

    /* Split into lines as strings.Split(data, "\n") does: n newlines give
     * n+1 lines, the last possibly empty. */
    char *data = st->file.data;
    size_t len = st->file.len, nlines = 1;
    for (size_t i = 0; i < len; i++)
        nlines += data[i] == '\n';
    if (nlines > st->lines_cap) {
        char **l = cn_realloc(st->lines, nlines * sizeof(*l));
        if (!l)
            return plg_fail(c, -ENOMEM, "out of memory");
        st->lines = l;
        st->lines_cap = nlines;
    }
    size_t k = 0;
    st->lines[k++] = data;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n') {
            data[i] = '\0';
            st->lines[k++] = data + i + 1;
        }
    }

    char msg[400];
    size_t narrays;
    rc = md_parse(st, nlines, &narrays, msg, sizeof(msg));
    if (rc == -ENOMEM)
        return plg_fail(c, rc, "out of memory");
    if (rc)
        return plg_fail(c, rc, "error parsing mdstatus: error parsing mdstat %s: %s", path, msg);

    struct exp_family *req =
        exp_family(c->b, "node_md_disks_required", "Total number of disks of device.", EXP_GAUGE);
    struct exp_family *disks = exp_family(
        c->b, "node_md_disks", "Number of active/failed/spare disks of device.", EXP_GAUGE);
    struct exp_family *mstate =
        exp_family(c->b, "node_md_state", "Indicates the state of md-device.", EXP_GAUGE);
    struct exp_family *blocks =
        exp_family(c->b, "node_md_blocks", "Total number of blocks on device.", EXP_GAUGE);
    struct exp_family *synced =
        exp_family(c->b, "node_md_blocks_synced", "Number of blocks synced on device.", EXP_GAUGE);
    for (size_t i = 0; i < narrays; i++) {
        const struct md_array *a = &st->arrays[i];
        exp_add(c->b, req, a->total, 1, "device", a->name);
        exp_add(c->b, disks, a->active, 2, "device", a->name, "state", "active");
        exp_add(c->b, disks, a->failed, 2, "device", a->name, "state", "failed");
        exp_add(c->b, disks, a->spare, 2, "device", a->name, "state", "spare");
        for (size_t s = 0; s < sizeof(md_states) / sizeof(md_states[0]); s++)
            exp_add(c->b, mstate, strcmp(a->state, md_states[s][1]) == 0 ? 1 : 0, 2, "device",
                    a->name, "state", md_states[s][0]);
        exp_add(c->b, blocks, a->size, 1, "device", a->name);
        exp_add(c->b, synced, a->synced, 1, "device", a->name);
    }
    return 0;
}

const struct plg_collector plg_collector_mdadm = {
    .name = "mdadm",
    .default_enabled = true,
    .init = md_init,
    .collect = md_collect,
    .destroy = md_destroy,
};
