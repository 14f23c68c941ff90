/*
 * The sqlite3 event store: persistence across reopen, the schema version,
 * every query filter against a fixed set of ten events, paging and
 * following, attributes, the failure modes a host really has (a corrupt
 * file, a locked database, a full disk, a path that cannot be written),
 * retention steps with budgets, a reader thread beside the writer, and
 * allocation failures. A second sqlite3 connection opened by the test
 * plays the other process and checks the file's contents directly.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "events/internal.h"

#define BASE INT64_C(1700000000000000000)
#define SEC INT64_C(1000000000)

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-store-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void dbpath(char *out, const char *dir)
{
    cr_assert_not_null(cn_path_join(out, PATH_MAX, dir, "events.db", NULL));
}

static struct evt_store *open_ok(const struct evt_store_opts *o, struct evt_store_open_info *info)
{
    struct evt_store *s = NULL;
    char err[512] = "";
    int rc = evt_store_open(o, &s, info, err, sizeof(err));
    cr_assert_eq(rc, 0, "open: %d %s", rc, err);
    cr_assert_not_null(s);
    return s;
}

static struct evt_store *open_path(const char *path)
{
    struct evt_store_opts o = {.path = path};
    return open_ok(&o, NULL);
}

/* An event; the variadic part is name, value pairs ending in NULL. */
static void mkev(struct evt_event *ev, int64_t ts, enum evt_source src, const char *type,
                 enum evt_severity sev, const char *msg, ...)
{
    evt_event_init(ev);
    ev->ts_ns = ts;
    ev->source = src;
    ev->severity = sev;
    cr_assert_eq(evt_event_set_type(ev, type), 0);
    cr_assert_eq(evt_event_set_message(ev, msg, strlen(msg)), 0);
    va_list ap;
    va_start(ap, msg);
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        cr_assert_eq(evt_event_set_attr(ev, k, v, strlen(v)), 0);
    }
    va_end(ap);
}

static void clear_all(struct evt_event *evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        evt_event_clear(&evs[i]);
}

static void insert_ok(struct evt_store *s, struct evt_event *evs, size_t n)
{
    char err[512] = "";
    int rc = evt_store_insert(s, evs, n, NULL, 0, err, sizeof(err));
    cr_assert_eq(rc, 0, "insert: %d %s", rc, err);
}

static struct evt_query q_all(void)
{
    return (struct evt_query){
        .start_ns = INT64_MIN, .end_ns = INT64_MAX, .source = -1, .limit = 100000};
}

static void query_ok(struct evt_store *s, const struct evt_query *q, struct evt_result *r)
{
    char err[512] = "";
    int rc = evt_store_query(s, q, r, err, sizeof(err));
    cr_assert_eq(rc, 0, "query: %d %s", rc, err);
}

static void assert_ids(const struct evt_result *r, const int64_t *want, size_t n)
{
    char got[512] = "";
    size_t o = 0;
    for (size_t i = 0; i < r->n && o < sizeof(got) - 24; i++)
        o += (size_t)snprintf(got + o, sizeof(got) - o, "%lld ", (long long)r->events[i].id);
    cr_assert_eq(r->n, n, "got %zu events (%s), want %zu", r->n, got, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(r->events[i].id, want[i], "event %zu: id %lld, want %lld (got %s)", i,
                     (long long)r->events[i].id, (long long)want[i], got);
}

#define IDS(...) (const int64_t[]){__VA_ARGS__}, sizeof((const int64_t[]){__VA_ARGS__}) / 8

/* Runs q and checks the ids and `more`. */
static void expect(struct evt_store *s, const struct evt_query *q, bool more, const int64_t *want,
                   size_t n)
{
    struct evt_result r;
    query_ok(s, q, &r);
    assert_ids(&r, want, n);
    cr_assert_eq(r.more, more, "more: %d", r.more);
    evt_result_free(&r);
}

static uint64_t stored(struct evt_store *s)
{
    struct evt_store_stats st;
    evt_store_stats(s, &st);
    return st.events;
}

/* Counts directory entries whose name starts with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            n++;
    closedir(d);
    return n;
}

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "");
}

/* The first column of sql's first row as text, into out. */
static void raw_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", t ? t : "(null)");
    sqlite3_finalize(st);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* ---- persistence and schema ---------------------------------------------- */

Test(events_store, create_and_reopen)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_open_info info;
    struct evt_store_opts o = {.path = path};
    struct evt_store *s = open_ok(&o, &info);
    cr_assert_eq(info.from_version, 0);
    cr_assert_eq(info.recovered, false);
    cr_assert_str_empty(info.moved_to);
    struct evt_store_stats st;
    evt_store_stats(s, &st);
    cr_assert_eq(st.events, 0);
    cr_assert_eq(st.oldest_ns, 0);

    struct evt_event evs[3];
    mkev(&evs[0], BASE + 5 * SEC, EVT_SRC_KERNEL, "OOMKill", EVT_SEV_CRITICAL,
         "Out of memory: Killed process 1234 (java)", "pid", "1234", "process", "java", NULL);
    mkev(&evs[1], BASE + 2 * SEC, EVT_SRC_OS, "Reboot", EVT_SEV_INFO, "booted", NULL);
    mkev(&evs[2], BASE + 9 * SEC, EVT_SRC_HARDWARE, "MceError", EVT_SEV_WARNING, "", NULL);
    struct evt_meta meta[] = {{"kmsg.seq", "42"}, {"boot_id", "b0a7"}, {"kmsg.seq", "43"}};
    char err[256] = "";
    cr_assert_eq(evt_store_insert(s, evs, 3, meta, 3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(evs[0].id, 1);
    cr_assert_eq(evs[1].id, 2);
    cr_assert_eq(evs[2].id, 3);
    evt_store_stats(s, &st);
    cr_assert_eq(st.events, 3);
    cr_assert_eq(st.oldest_ns, BASE + 2 * SEC);
    evt_store_close(s);
    clear_all(evs, 3);

    s = open_ok(&o, &info);
    cr_assert_eq(info.from_version, 1);
    cr_assert_eq(info.recovered, false);
    evt_store_stats(s, &st);
    cr_assert_eq(st.events, 3);
    cr_assert_eq(st.oldest_ns, BASE + 2 * SEC);
    char v[16];
    cr_assert_eq(evt_store_meta_get(s, "kmsg.seq", v, sizeof(v)), 0);
    cr_assert_str_eq(v, "43");
    cr_assert_eq(evt_store_meta_get(s, "boot_id", v, sizeof(v)), 0);
    cr_assert_str_eq(v, "b0a7");
    cr_assert_eq(evt_store_meta_get(s, "nope", v, sizeof(v)), -ENOENT);
    cr_assert_eq(evt_store_meta_get(s, "boot_id", v, 4), -ERANGE);

    struct evt_query q = q_all();
    struct evt_result r;
    query_ok(s, &q, &r);
    assert_ids(&r, IDS(3, 1, 2));
    cr_assert_eq(r.more, false);
    const struct evt_event *e = &r.events[1];
    cr_assert_eq(e->ts_ns, BASE + 5 * SEC);
    cr_assert_eq(e->source, EVT_SRC_KERNEL);
    cr_assert_eq(e->severity, EVT_SEV_CRITICAL);
    cr_assert_str_eq(e->type, "OOMKill");
    cr_assert_str_eq(e->message, "Out of memory: Killed process 1234 (java)");
    cr_assert_eq(e->nattrs, 2);
    cr_assert_str_eq(e->attrs[0].name, "pid");
    cr_assert_str_eq(e->attrs[0].value, "1234");
    cr_assert_str_eq(e->attrs[1].name, "process");
    cr_assert_str_eq(e->attrs[1].value, "java");
    e = &r.events[0];
    cr_assert_eq(e->source, EVT_SRC_HARDWARE);
    cr_assert_eq(e->severity, EVT_SEV_WARNING);
    cr_assert_str_eq(e->type, "MceError");
    cr_assert_str_eq(e->message, "");
    cr_assert_eq(e->nattrs, 0);
    cr_assert_eq(r.events[2].source, EVT_SRC_OS);
    evt_result_free(&r);
    evt_store_close(s);

    /* Closing the last connection checkpoints: no WAL left behind. */
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    cr_assert_eq(access(wal, F_OK), -1);
    cn_remove_all(dir);
}

Test(events_store, schema_version_and_pragmas)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    sqlite3 *db = raw_open(path);
    char v[64];
    raw_text(db, "PRAGMA user_version", v, sizeof(v));
    cr_assert_str_eq(v, "1");
    raw_text(db, "PRAGMA journal_mode", v, sizeof(v));
    cr_assert_str_eq(v, "wal");
    raw_text(db, "PRAGMA auto_vacuum", v, sizeof(v));
    cr_assert_str_eq(v, "2"); /* incremental */
    raw_text(db,
             "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
             " WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name)",
             v, sizeof(v));
    cr_assert_str_eq(v, "events_severity_ts,events_ts,events_type_ts");
    evt_store_close(s);

    /* A newer schema is refused and the file left alone. */
    raw_exec(db, "PRAGMA user_version = 2");
    sqlite3_close(db);
    struct evt_store_opts o = {.path = path};
    struct evt_store_open_info info;
    char err[512];
    s = (struct evt_store *)1;
    cr_assert_eq(evt_store_open(&o, &s, &info, err, sizeof(err)), -EPROTO);
    cr_assert_null(s);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "events store %s: schema version 2 is newer than this cairn's (1); refusing to "
             "open it",
             path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(info.recovered, false);
    cr_assert_eq(info.from_version, 2);
    cr_assert_eq(count_prefixed(dir, "events.db.corrupt"), 0);
    db = raw_open(path);
    raw_text(db, "PRAGMA user_version", v, sizeof(v));
    cr_assert_str_eq(v, "2");
    sqlite3_close(db);
    cn_remove_all(dir);
}

Test(events_store, ids_increase_and_are_never_reused)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path, .retention_count = 1};
    struct evt_store *s = open_ok(&o, NULL);
    struct evt_event evs[4];
    for (int i = 0; i < 4; i++)
        mkev(&evs[i], BASE + i, EVT_SRC_AGENT, "Test", EVT_SEV_INFO, "x", NULL);
    insert_ok(s, evs, 3);
    cr_assert_eq(evs[0].id, 1);
    cr_assert_eq(evs[1].id, 2);
    cr_assert_eq(evs[2].id, 3);
    /* Retention down to one event, then remove that one by hand: the next
     * id still follows the highest ever given. */
    uint64_t deleted;
    bool more;
    cr_assert_eq(evt_store_retain(s, BASE, 100, &deleted, &more), 0);
    cr_assert_eq(deleted, 2);
    cr_assert_eq(more, false);
    sqlite3 *db = raw_open(path);
    raw_exec(db, "DELETE FROM events");
    sqlite3_close(db);
    insert_ok(s, &evs[3], 1);
    cr_assert_eq(evs[3].id, 4);
    clear_all(evs, 4);
    evt_store_close(s);
    cn_remove_all(dir);
}

/* ---- queries ---------------------------------------------------------------- */

/* Ten events, ids 1..10 in this order. */
static struct evt_store *fixture(char *dir, char *path)
{
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    struct evt_event evs[10];
    mkev(&evs[0], BASE, EVT_SRC_KERNEL, "OOMKill", EVT_SEV_CRITICAL,
         "Out of memory: Killed process 1234 (java)", "pid", "1234", "process", "java", NULL);
    mkev(&evs[1], BASE + 10 * SEC, EVT_SRC_KERNEL, "IOError", EVT_SEV_WARNING,
         "blk_update_request: I/O error, dev sda, sector 2048", "device", "sda", NULL);
    mkev(&evs[2], BASE + 20 * SEC, EVT_SRC_OS, "Reboot", EVT_SEV_INFO, "system booted", NULL);
    mkev(&evs[3], BASE + 30 * SEC, EVT_SRC_KERNEL, "LinkDown", EVT_SEV_WARNING,
         "eth0: Link is Down", "interface", "eth0", NULL);
    mkev(&evs[4], BASE + 30 * SEC, EVT_SRC_KERNEL, "LinkUp", EVT_SEV_INFO,
         "eth0: Link is Up 1000Mbps", "interface", "eth0", NULL);
    mkev(&evs[5], BASE + 40 * SEC, EVT_SRC_HARDWARE, "MceError", EVT_SEV_CRITICAL,
         "mce: [Hardware Error]: CPU 0: Machine Check", NULL);
    mkev(&evs[6], BASE + 50 * SEC, EVT_SRC_AGENT, "CollectorFailed", EVT_SEV_WARNING,
         "collector cpu failed: timeout", NULL);
    mkev(&evs[7], BASE + 60 * SEC, EVT_SRC_PLUGIN, "PluginEvent", EVT_SEV_INFO, "plugin says Hello",
         NULL);
    mkev(&evs[8], BASE + 70 * SEC, EVT_SRC_KERNEL, "OOMKill", EVT_SEV_CRITICAL,
         "Out of memory: Killed process 99 (python3)", "pid", "99", NULL);
    mkev(&evs[9], BASE + 80 * SEC, EVT_SRC_KERNEL, "IOError", EVT_SEV_CRITICAL,
         "I/O error, dev nvme0n1, sector 0", NULL);
    insert_ok(s, evs, 10);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(evs[i].id, i + 1);
    clear_all(evs, 10);
    return s;
}

Test(events_store, query_types_severity_source)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    expect(s, &q, false, IDS(10, 9, 8, 7, 6, 5, 4, 3, 2, 1));

    const char *two[] = {"OOMKill", "IOError"};
    q.types = two;
    q.ntypes = 2;
    expect(s, &q, false, IDS(10, 9, 2, 1));
    q.ntypes = 1;
    expect(s, &q, false, IDS(9, 1));
    const char *none[] = {"NoSuchType"};
    q.types = none;
    expect(s, &q, false, NULL, 0);

    q = q_all();
    q.min_severity = EVT_SEV_WARNING;
    expect(s, &q, false, IDS(10, 9, 7, 6, 4, 2, 1));
    q.min_severity = EVT_SEV_CRITICAL;
    expect(s, &q, false, IDS(10, 9, 6, 1));

    q = q_all();
    q.source = EVT_SRC_KERNEL;
    expect(s, &q, false, IDS(10, 9, 5, 4, 2, 1));
    q.source = EVT_SRC_OS;
    expect(s, &q, false, IDS(3));
    q.source = EVT_SRC_COUNT;
    struct evt_result r;
    char err[128];
    cr_assert_eq(evt_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "unknown source 5");

    /* All filters at once. */
    q = q_all();
    q.types = two;
    q.ntypes = 2;
    q.min_severity = EVT_SEV_CRITICAL;
    q.source = EVT_SRC_KERNEL;
    q.start_ns = BASE + 1;
    expect(s, &q, false, IDS(10, 9));
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, query_time_range_is_inclusive)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    q.start_ns = BASE + 30 * SEC;
    q.end_ns = BASE + 60 * SEC;
    expect(s, &q, false, IDS(8, 7, 6, 5, 4));
    q.end_ns = BASE + 30 * SEC;
    expect(s, &q, false, IDS(5, 4));
    q.start_ns = BASE + 30 * SEC + 1;
    q.end_ns = BASE + 60 * SEC - 1;
    expect(s, &q, false, IDS(7, 6));
    q.start_ns = BASE;
    q.end_ns = BASE;
    expect(s, &q, false, IDS(1));
    q.start_ns = BASE - 1;
    q.end_ns = BASE - 1;
    expect(s, &q, false, NULL, 0);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, query_substring_and_regex)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    q.match = "eth0";
    expect(s, &q, false, IDS(5, 4));
    q.match = "link"; /* case sensitive */
    expect(s, &q, false, NULL, 0);
    q.match = "I/O error, dev";
    expect(s, &q, false, IDS(10, 2));
    q.match = "%"; /* no LIKE wildcards */
    expect(s, &q, false, NULL, 0);

    q.match_regex = true;
    q.match = "Killed process \\d+ \\(py";
    expect(s, &q, false, IDS(9));
    q.match = "^eth0: Link is (Up|Down)$";
    expect(s, &q, false, IDS(4));
    q.match = "dev (sda|nvme\\d+n\\d+)";
    expect(s, &q, false, IDS(10, 2));
    q.match = "(?i)^PLUGIN";
    expect(s, &q, false, IDS(8));
    const char *oom[] = {"OOMKill"};
    q.types = oom;
    q.ntypes = 1;
    q.match = "java";
    expect(s, &q, false, IDS(1));

    /* Each query compiles its own pattern: the next one on the same pooled
     * connection does not see the last one's. */
    q = q_all();
    q.match = "Hello";
    expect(s, &q, false, IDS(8));
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, query_bad_regex)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    q.match_regex = true;
    struct evt_result r = {.n = 7};
    char err[256];
    q.match = "Killed (process";
    cr_assert_eq(evt_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "error parsing regexp: missing closing parenthesis at offset 15");
    cr_assert_eq(r.n, 0);
    cr_assert_null(r.events);
    q.match = "a{2,1}";
    cr_assert_eq(evt_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err,
                     "error parsing regexp: numbers out of order in {} quantifier at offset 5");
    q.match = "x**";
    cr_assert_eq(evt_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "error parsing regexp: quantifier does not follow a repeatable item "
                          "at offset 2");
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, query_limit_cursor_follow)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    q.limit = 3;
    expect(s, &q, true, IDS(10, 9, 8));
    q.limit = 9;
    expect(s, &q, true, IDS(10, 9, 8, 7, 6, 5, 4, 3, 2));
    q.limit = 10;
    expect(s, &q, false, IDS(10, 9, 8, 7, 6, 5, 4, 3, 2, 1));
    q.limit = 0;
    struct evt_result r;
    char err[128];
    cr_assert_eq(evt_store_query(s, &q, &r, err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "limit must be positive");

    /* Before (30 s, id 5): id 4 shares the timestamp, then older ones. */
    q = q_all();
    q.has_cursor = true;
    q.cursor_ts_ns = BASE + 30 * SEC;
    q.cursor_id = 5;
    expect(s, &q, false, IDS(4, 3, 2, 1));
    q.cursor_id = 4;
    expect(s, &q, false, IDS(3, 2, 1));
    q.limit = 2;
    expect(s, &q, true, IDS(3, 2));

    /* Following: ascending ids after after_id, other filters still apply. */
    q = q_all();
    q.after_id = 7;
    expect(s, &q, false, IDS(8, 9, 10));
    q.limit = 2;
    expect(s, &q, true, IDS(8, 9));
    const char *oom[] = {"OOMKill"};
    q.types = oom;
    q.ntypes = 1;
    expect(s, &q, false, IDS(9));
    q = q_all();
    q.after_id = 10;
    expect(s, &q, false, NULL, 0);
    evt_store_close(s);
    cn_remove_all(dir);
}

struct idts {
    int64_t id, ts;
};

static int newest_first(const void *a, const void *b)
{
    const struct idts *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    return x->id > y->id ? -1 : x->id < y->id;
}

Test(events_store, cursor_paging_walks_every_event_once)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    enum { N = 57 };
    struct evt_event evs[N];
    struct idts want[N];
    for (int i = 0; i < N; i++) {
        /* Timestamps out of id order, many shared. */
        mkev(&evs[i], BASE + ((i * 7) % 11) * SEC, EVT_SRC_KERNEL, i % 2 ? "Odd" : "Even",
             EVT_SEV_INFO, "m", NULL);
    }
    insert_ok(s, evs, N);
    for (int i = 0; i < N; i++)
        want[i] = (struct idts){evs[i].id, evs[i].ts_ns};
    clear_all(evs, N);
    qsort(want, N, sizeof(want[0]), newest_first);

    struct evt_query q = q_all();
    q.limit = 5;
    size_t seen = 0, pages = 0;
    for (;;) {
        struct evt_result r;
        query_ok(s, &q, &r);
        pages++;
        for (size_t i = 0; i < r.n; i++, seen++) {
            cr_assert_lt(seen, N);
            cr_assert_eq(r.events[i].id, want[seen].id, "position %zu", seen);
            cr_assert_eq(r.events[i].ts_ns, want[seen].ts);
        }
        bool more = r.more;
        if (r.n) {
            q.has_cursor = true;
            q.cursor_ts_ns = r.events[r.n - 1].ts_ns;
            q.cursor_id = r.events[r.n - 1].id;
        }
        evt_result_free(&r);
        if (!more)
            break;
    }
    cr_assert_eq(seen, N);
    cr_assert_eq(pages, 12); /* 11 full pages of 5, then 2 */
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, query_plans_use_the_indexes)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    struct evt_query q = q_all();
    const char *oom[] = {"OOMKill"};
    q.types = oom;
    q.ntypes = 1;
    q.start_ns = BASE;
    q.end_ns = BASE + 3600 * SEC;
    q.limit = 100;
    char plan[512];
    cr_assert_eq(evt_store_query_plan(s, &q, plan, sizeof(plan)), 0);
    /* A range search on (type, ts) read backwards: no sort step. */
    cr_assert_str_eq(plan, "SEARCH events USING INDEX events_type_ts (type=? AND ts>? AND ts<?)");
    q.has_cursor = true;
    cr_assert_eq(evt_store_query_plan(s, &q, plan, sizeof(plan)), 0);
    cr_assert_str_eq(plan, "SEARCH events USING INDEX events_type_ts (type=? AND ts>? AND ts<?)");
    /* Critical events only: (severity, ts), in order too. */
    q = q_all();
    q.min_severity = EVT_SEV_CRITICAL;
    cr_assert_eq(evt_store_query_plan(s, &q, plan, sizeof(plan)), 0);
    cr_assert_str_eq(plan,
                     "SEARCH events USING INDEX events_severity_ts (severity=? AND ts>? AND ts<?)");
    /* Following reads the ids after after_id, whatever else is asked. */
    q.after_id = 5;
    q.types = oom;
    q.ntypes = 1;
    cr_assert_eq(evt_store_query_plan(s, &q, plan, sizeof(plan)), 0);
    cr_assert_str_eq(plan, "SEARCH events USING INTEGER PRIMARY KEY (rowid>?)");
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, attrs_round_trip)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    struct evt_event evs[2];
    const char *uni = "Grüße, 世界 ✓ \"quoted\" back\\slash\ttab";
    mkev(&evs[0], BASE, EVT_SRC_PLUGIN, "PluginEvent", EVT_SEV_INFO, "héllo wörld ✓", "zeta",
         "last", "device", "sda", "note", uni, "empty", "", NULL);
    mkev(&evs[1], BASE + 1, EVT_SRC_PLUGIN, "PluginEvent", EVT_SEV_INFO, "plain", NULL);
    insert_ok(s, evs, 2);
    clear_all(evs, 2);

    struct evt_query q = q_all();
    struct evt_result r;
    query_ok(s, &q, &r);
    cr_assert_eq(r.n, 2);
    const struct evt_event *e = &r.events[1];
    cr_assert_str_eq(e->message, "héllo wörld ✓");
    cr_assert_eq(e->nattrs, 4);
    cr_assert_str_eq(e->attrs[0].name, "zeta");
    cr_assert_str_eq(e->attrs[0].value, "last");
    cr_assert_str_eq(e->attrs[1].name, "device");
    cr_assert_str_eq(e->attrs[1].value, "sda");
    cr_assert_str_eq(e->attrs[2].name, "note");
    cr_assert_str_eq(e->attrs[2].value, uni);
    cr_assert_str_eq(e->attrs[3].name, "empty");
    cr_assert_str_eq(e->attrs[3].value, "");
    cr_assert_eq(r.events[0].nattrs, 0);
    evt_result_free(&r);

    /* The encoding on disk: compact JSON, UTF-8 as is, NULL without
     * attributes; source as its name, severity as its number. */
    sqlite3 *db = raw_open(path);
    char v[256];
    raw_text(db, "SELECT attrs FROM events WHERE id = 1", v, sizeof(v));
    cr_assert_str_eq(v, "{\"zeta\":\"last\",\"device\":\"sda\",\"note\":\"Grüße, 世界 ✓ "
                        "\\\"quoted\\\" back\\\\slash\\ttab\",\"empty\":\"\"}");
    raw_text(db, "SELECT typeof(attrs) FROM events WHERE id = 2", v, sizeof(v));
    cr_assert_str_eq(v, "null");
    raw_text(db, "SELECT source || '|' || type || '|' || severity FROM events WHERE id = 1", v,
             sizeof(v));
    cr_assert_str_eq(v, "plugin|PluginEvent|0");
    sqlite3_close(db);
    evt_store_close(s);
    cn_remove_all(dir);
}

/* ---- damage and locks ---------------------------------------------------------------- */

/* Checks info names <path>.corrupt-<seconds in [t0, t1]> and that it exists. */
static void assert_moved(const struct evt_store_open_info *info, const char *path, time_t t0,
                         time_t t1)
{
    cr_assert_eq(info->recovered, true);
    size_t pl = strlen(path);
    cr_assert_eq(strncmp(info->moved_to, path, pl), 0, "%s", info->moved_to);
    cr_assert_eq(strncmp(info->moved_to + pl, ".corrupt-", 9), 0, "%s", info->moved_to);
    char *end;
    long long secs = strtoll(info->moved_to + pl + 9, &end, 10);
    cr_assert_eq(*end, '\0', "%s", info->moved_to);
    cr_assert_geq(secs, (long long)t0);
    cr_assert_leq(secs, (long long)t1);
    cr_assert_eq(access(info->moved_to, F_OK), 0);
}

Test(events_store, garbage_file_is_set_aside)
{
    char dir[PATH_MAX], path[PATH_MAX], side[PATH_MAX + 8];
    tmpdir(dir);
    dbpath(path, dir);
    char garbage[10000];
    for (size_t i = 0; i < sizeof(garbage); i++)
        garbage[i] = (char)('a' + i % 26);
    write_file(path, garbage, sizeof(garbage));
    /* The old -wal and -shm are hard links to witnesses: removed, their
     * link count drops to 1 and their bytes stay as they were. */
    char wit_wal[PATH_MAX + 16], wit_shm[PATH_MAX + 16];
    snprintf(wit_wal, sizeof(wit_wal), "%s/wal-witness", dir);
    snprintf(wit_shm, sizeof(wit_shm), "%s/shm-witness", dir);
    write_file(wit_wal, garbage, 5000);
    write_file(wit_shm, garbage, 3000);
    snprintf(side, sizeof(side), "%s-wal", path);
    cr_assert_eq(link(wit_wal, side), 0);
    snprintf(side, sizeof(side), "%s-shm", path);
    cr_assert_eq(link(wit_shm, side), 0);

    time_t t0 = time(NULL);
    struct evt_store_open_info info;
    struct evt_store_opts o = {.path = path};
    struct evt_store *s = open_ok(&o, &info);
    time_t t1 = time(NULL);
    assert_moved(&info, path, t0, t1);
    cr_assert_str_eq(info.problem, "reading the schema version: file is not a database");
    cr_assert_eq(info.from_version, 0);
    /* The bytes moved unchanged; the old -wal and -shm were removed (the
     * new database's are new files). */
    struct stat st;
    cr_assert_eq(stat(info.moved_to, &st), 0);
    cr_assert_eq(st.st_size, (off_t)sizeof(garbage));
    cr_assert_eq(count_prefixed(dir, "events.db.corrupt"), 1);
    cr_assert_eq(stat(wit_wal, &st), 0);
    cr_assert_eq(st.st_nlink, 1);
    cr_assert_eq(st.st_size, 5000);
    /* (sqlite itself maps the old -shm while it looks at the file, which
     * may grow it; only its removal is ours.) */
    cr_assert_eq(stat(wit_shm, &st), 0);
    cr_assert_eq(st.st_nlink, 1);

    /* The new store works. */
    struct evt_event ev;
    mkev(&ev, BASE, EVT_SRC_AGENT, "StoreRecovered", EVT_SEV_WARNING, "new", NULL);
    insert_ok(s, &ev, 1);
    cr_assert_eq(ev.id, 1);
    evt_event_clear(&ev);
    struct evt_query q = q_all();
    expect(s, &q, false, IDS(1));
    evt_store_close(s);

    /* Corrupt again (usually within the same second): a second name. */
    write_file(path, garbage, 100);
    s = open_ok(&o, &info);
    cr_assert_eq(info.recovered, true);
    cr_assert_eq(count_prefixed(dir, "events.db.corrupt"), 2);
    cr_assert_eq(stat(info.moved_to, &st), 0);
    cr_assert_eq(st.st_size, 100);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, corrupt_page_found_by_quick_check)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    enum { N = 500 };
    struct evt_event evs[N];
    for (int i = 0; i < N; i++)
        mkev(&evs[i], BASE + i * SEC, EVT_SRC_KERNEL, "IOError", EVT_SEV_WARNING,
             "blk_update_request: I/O error, dev sda, sector 123456 op 0x0:(READ) flags 0x0",
             "device", "sda", NULL);
    insert_ok(s, evs, N);
    clear_all(evs, N);
    evt_store_close(s);

    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    long pages = (long)(st.st_size / 4096);
    cr_assert_gt(pages, 20, "%ld pages", pages);
    /* Scribble over the middle of a page in the middle of the file. */
    int fd = open(path, O_WRONLY);
    cr_assert_geq(fd, 0);
    char junk[1024];
    memset(junk, 0xa5, sizeof(junk));
    cr_assert_eq(pwrite(fd, junk, sizeof(junk), (off_t)(pages / 2) * 4096 + 1024),
                 (ssize_t)sizeof(junk));
    close(fd);

    time_t t0 = time(NULL);
    struct evt_store_open_info info;
    struct evt_store_opts o = {.path = path};
    s = open_ok(&o, &info);
    assert_moved(&info, path, t0, time(NULL));
    /* The first complaint is about the page written over (1-based). */
    char want[64];
    int wl = snprintf(want, sizeof(want), "quick_check: On tree page %ld cell ", pages / 2 + 1);
    cr_assert_eq(strncmp(info.problem, want, (size_t)wl), 0, "%s", info.problem);
    cr_assert_eq(info.from_version, 0);
    cr_assert_eq(stored(s), 0);
    cr_assert_eq(stat(info.moved_to, &st), 0);
    cr_assert_eq(st.st_size, pages * 4096);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, locked_database_is_busy_not_partial)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path, .busy_timeout_ms = 50};
    struct evt_store *s = open_ok(&o, NULL);
    struct evt_event evs[3];
    for (int i = 0; i < 3; i++)
        mkev(&evs[i], BASE + i, EVT_SRC_KERNEL, "IOError", EVT_SEV_WARNING, "x", NULL);
    insert_ok(s, evs, 1);

    sqlite3 *other = raw_open(path);
    raw_exec(other, "BEGIN EXCLUSIVE");
    struct evt_meta meta = {"kmsg.seq", "7"};
    char err[512] = "";
    cr_assert_eq(evt_store_insert(s, &evs[1], 2, &meta, 1, err, sizeof(err)), -EBUSY);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "events store %s: begin: database is locked", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(evs[1].id, 0);
    cr_assert_eq(evs[2].id, 0);
    cr_assert_eq(stored(s), 1);
    /* Readers are not blocked by the other writer either. */
    struct evt_query q = q_all();
    expect(s, &q, false, IDS(1));
    raw_exec(other, "COMMIT");
    sqlite3_close(other);

    char v[8];
    cr_assert_eq(evt_store_meta_get(s, "kmsg.seq", v, sizeof(v)), -ENOENT);
    insert_ok(s, &evs[1], 2);
    cr_assert_eq(evs[1].id, 2);
    cr_assert_eq(evs[2].id, 3);
    expect(s, &q, false, IDS(3, 2, 1));
    clear_all(evs, 3);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, locked_database_at_open_is_not_corrupt)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path, .busy_timeout_ms = 50};
    struct evt_store *s = open_ok(&o, NULL);
    struct evt_event ev;
    mkev(&ev, BASE, EVT_SRC_KERNEL, "IOError", EVT_SEV_WARNING, "x", NULL);
    insert_ok(s, &ev, 1);
    evt_event_clear(&ev);
    evt_store_close(s);

    /* Another process holding the whole file (exclusive locking mode keeps
     * even WAL readers out). */
    sqlite3 *other = raw_open(path);
    raw_exec(other, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
                    " INSERT INTO meta VALUES('held', 'yes')");
    struct evt_store_open_info info;
    char err[512] = "";
    cr_assert_eq(evt_store_open(&o, &s, &info, err, sizeof(err)), -EBUSY);
    cr_assert_null(s);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof(want),
             "events store %s: reading the schema version: locked by another process "
             "(database is locked)",
             path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(info.recovered, false);
    cr_assert_eq(count_prefixed(dir, "events.db.corrupt"), 0);
    raw_exec(other, "ROLLBACK");
    sqlite3_close(other);

    s = open_ok(&o, &info);
    cr_assert_eq(info.recovered, false);
    cr_assert_eq(info.from_version, 1);
    cr_assert_eq(stored(s), 1);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, full_disk_is_enospc_not_partial)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path, .max_pages = 40};
    struct evt_store *s = open_ok(&o, NULL);
    enum { B = 20 };
    char msg[200];
    memset(msg, 'k', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    int rc = 0;
    size_t batches = 0;
    char err[512] = "";
    struct evt_event evs[B];
    while (batches < 1000) {
        for (int i = 0; i < B; i++)
            mkev(&evs[i], BASE + (int64_t)(batches * B + (size_t)i), EVT_SRC_KERNEL, "Fill",
                 EVT_SEV_INFO, msg, "n", "1", NULL);
        char seq[16];
        snprintf(seq, sizeof(seq), "%zu", batches);
        struct evt_meta meta = {"seq", seq};
        rc = evt_store_insert(s, evs, B, &meta, 1, err, sizeof(err));
        if (rc) {
            for (int i = 0; i < B; i++)
                cr_assert_eq(evs[i].id, 0);
        }
        clear_all(evs, B);
        if (rc)
            break;
        batches++;
    }
    cr_assert_eq(rc, -ENOSPC, "%d %s", rc, err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "events store %s: insert: database or disk is full", path);
    cr_assert_str_eq(err, want);
    cr_assert_gt(batches, 2);
    cr_assert_eq(stored(s), batches * B);
    /* Nothing of the failed batch, its meta included, is in the file. */
    struct evt_query q = q_all();
    struct evt_result r;
    query_ok(s, &q, &r);
    cr_assert_eq(r.n, batches * B);
    cr_assert_eq(r.events[0].id, (int64_t)(batches * B));
    evt_result_free(&r);
    char v[16], wantseq[16];
    cr_assert_eq(evt_store_meta_get(s, "seq", v, sizeof(v)), 0);
    snprintf(wantseq, sizeof(wantseq), "%zu", batches - 1);
    cr_assert_str_eq(v, wantseq);
    evt_store_close(s);

    /* After reopening without the limit it takes events again. */
    s = open_path(path);
    cr_assert_eq(stored(s), batches * B);
    mkev(&evs[0], BASE, EVT_SRC_KERNEL, "Fill", EVT_SEV_INFO, msg, NULL);
    insert_ok(s, evs, 1);
    cr_assert_eq(evs[0].id, (int64_t)(batches * B) + 1);
    evt_event_clear(&evs[0]);
    evt_store_close(s);
    cn_remove_all(dir);
}

static void open_fails(const char *path, int want_rc, const char *want_err)
{
    struct evt_store_opts o = {.path = path};
    struct evt_store *s = (struct evt_store *)1;
    char err[512] = "";
    int rc = evt_store_open(&o, &s, NULL, err, sizeof(err));
    cr_assert_eq(rc, want_rc, "%s: %d (%s) %s", path, rc, strerror(-rc), err);
    cr_assert_null(s);
    cr_assert_str_eq(err, want_err);
}

Test(events_store, unwritable_paths)
{
    char dir[PATH_MAX], file[PATH_MAX], under[PATH_MAX + 16], want[3 * PATH_MAX];
    tmpdir(dir);
    open_fails("/nonexistent-cairn-dir/sub/events.db", -ENOENT,
               "events store /nonexistent-cairn-dir/sub/events.db: directory "
               "/nonexistent-cairn-dir/sub: No such file or directory");
    snprintf(want, sizeof(want), "events store %s: is a directory", dir);
    open_fails(dir, -EISDIR, want);
    cr_assert_not_null(cn_path_join(file, sizeof(file), dir, "plain", NULL));
    write_file(file, "x", 1);
    snprintf(under, sizeof(under), "%s/events.db", file);
    snprintf(want, sizeof(want), "events store %s: Not a directory", under);
    open_fails(under, -ENOTDIR, want);
    /* procfs refuses new files even to root. */
    open_fails("/proc/cairn-events.db", -ENOENT,
               "events store /proc/cairn-events.db: unable to open database file (No such file "
               "or directory)");
    /* An existing file that cannot be written is refused, not set aside. */
    open_fails("/proc/version", -EACCES,
               "events store /proc/version: initialising: unable to open database file (No "
               "such file or directory)");
    cr_assert_eq(access("/proc/version", F_OK), 0);
    cn_remove_all(dir);
}

/* ---- retention ------------------------------------------------------------------- */

/* n events, one per second from BASE, ids 1..n. */
static struct evt_store *retention_store(char *dir, char *path, const struct evt_store_opts *base,
                                         int n)
{
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = *base;
    o.path = path;
    struct evt_store *s = open_ok(&o, NULL);
    struct evt_event *evs = calloc((size_t)n, sizeof(*evs));
    cr_assert_not_null(evs);
    for (int i = 0; i < n; i++)
        mkev(&evs[i], BASE + i * SEC, EVT_SRC_KERNEL, "IOError", EVT_SEV_WARNING,
             "blk_update_request: I/O error, dev sda, sector 2048", "device", "sda", NULL);
    insert_ok(s, evs, (size_t)n);
    clear_all(evs, (size_t)n);
    free(evs);
    return s;
}

static void retain(struct evt_store *s, int64_t now, size_t budget, uint64_t want_deleted,
                   bool want_more, uint64_t want_left, int64_t want_oldest)
{
    uint64_t deleted = 99;
    bool more = !want_more;
    cr_assert_eq(evt_store_retain(s, now, budget, &deleted, &more), 0);
    cr_assert_eq(deleted, want_deleted);
    cr_assert_eq(more, want_more);
    struct evt_store_stats st;
    evt_store_stats(s, &st);
    cr_assert_eq(st.events, want_left);
    cr_assert_eq(st.oldest_ns, want_oldest);
    /* The counts kept match the table. */
    struct evt_query q = q_all();
    struct evt_result r;
    query_ok(s, &q, &r);
    cr_assert_eq(r.n, want_left);
    if (r.n)
        cr_assert_eq(r.events[r.n - 1].ts_ns, want_oldest);
    evt_result_free(&r);
}

Test(events_store, retention_by_age)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store_opts o = {.retention_ns = 50 * SEC};
    struct evt_store *s = retention_store(dir, path, &o, 100);
    int64_t now = BASE + 80 * SEC; /* older than BASE + 30 s goes: 30 events */
    retain(s, now, 20, 20, true, 80, BASE + 20 * SEC);
    retain(s, now, 20, 10, false, 70, BASE + 30 * SEC);
    retain(s, now, 20, 0, false, 70, BASE + 30 * SEC);
    /* An event exactly at the cutoff stays; one ns later it goes. */
    retain(s, now + 1, 20, 1, false, 69, BASE + 31 * SEC);
    struct evt_query q = q_all();
    q.limit = 1;
    q.after_id = 1;
    expect(s, &q, true, IDS(32));
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, retention_by_count)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store_opts o = {.retention_count = 60};
    struct evt_store *s = retention_store(dir, path, &o, 100);
    retain(s, BASE, 25, 25, true, 75, BASE + 25 * SEC);
    retain(s, BASE, 25, 15, false, 60, BASE + 40 * SEC);
    retain(s, BASE, 25, 0, false, 60, BASE + 40 * SEC);
    retain(s, BASE, 0, 0, false, 60, BASE + 40 * SEC);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, retention_age_then_count_oldest_by_time)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path, .retention_ns = 100 * SEC, .retention_count = 2};
    struct evt_store *s = open_ok(&o, NULL);
    /* ids 1..6 with times 50, 10, 300, 200, 250, 5 s: oldest first is
     * 6, 2, 1, 4, 5, 3. */
    const int secs[] = {50, 10, 300, 200, 250, 5};
    struct evt_event evs[6];
    for (int i = 0; i < 6; i++)
        mkev(&evs[i], BASE + secs[i] * SEC, EVT_SRC_OS, "Test", EVT_SEV_INFO, "m", NULL);
    insert_ok(s, evs, 6);
    clear_all(evs, 6);
    int64_t now = BASE + 160 * SEC; /* age limit: before 60 s: ids 6, 2, 1 */
    retain(s, now, 2, 2, true, 4, BASE + 50 * SEC);
    /* One more by age, then one by count (3 left > 2): id 4. */
    retain(s, now, 2, 2, false, 2, BASE + 250 * SEC);
    struct evt_query q = q_all();
    expect(s, &q, false, IDS(3, 5));
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, retention_frees_pages)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store_opts o = {.retention_count = 10};
    struct evt_store *s = retention_store(dir, path, &o, 3000);
    struct evt_store_stats before, after;
    evt_store_stats(s, &before);
    uint64_t deleted, total = 0;
    bool more = true;
    int steps = 0;
    while (more) {
        cr_assert_eq(evt_store_retain(s, BASE, 1000, &deleted, &more), 0);
        total += deleted;
        steps++;
        cr_assert_leq(steps, 10);
    }
    cr_assert_eq(total, 2990);
    cr_assert_eq(stored(s), 10);
    sqlite3 *db = raw_open(path);
    char v[32];
    raw_text(db, "PRAGMA freelist_count", v, sizeof(v));
    cr_assert_str_eq(v, "0");
    raw_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    evt_store_stats(s, &after);
    cr_assert_lt(after.size_bytes * 4, before.size_bytes, "%llu -> %llu",
                 (unsigned long long)before.size_bytes, (unsigned long long)after.size_bytes);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, stats_size_is_file_plus_wal)
{
    char dir[PATH_MAX], path[PATH_MAX];
    struct evt_store *s = fixture(dir, path);
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    struct stat a, b;
    cr_assert_eq(stat(path, &a), 0);
    cr_assert_eq(stat(wal, &b), 0);
    cr_assert_gt(b.st_size, 0);
    struct evt_store_stats st;
    evt_store_stats(s, &st);
    cr_assert_eq(st.size_bytes, (uint64_t)(a.st_size + b.st_size));
    cr_assert_eq(st.events, 10);
    cr_assert_eq(st.oldest_ns, BASE);
    evt_store_close(s);
    cn_remove_all(dir);
}

/* ---- threads and allocation --------------------------------------------------------------- */

struct reader_arg {
    struct evt_store *s;
    atomic_bool stop;
    int queries, errors, disorder;
    size_t last_seen;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    while (!atomic_load(&a->stop) || a->queries < 5) {
        struct evt_query q = q_all();
        const char *types[] = {"Even", "Odd"};
        q.types = types;
        q.ntypes = a->queries % 3 == 2 ? 2 : 0;
        q.match = a->queries % 2 ? "process" : NULL;
        q.match_regex = a->queries % 4 == 1;
        struct evt_result r;
        char err[256];
        if (evt_store_query(a->s, &q, &r, err, sizeof(err))) {
            a->errors++;
        } else {
            for (size_t i = 1; i < r.n; i++)
                if (r.events[i].id >= r.events[i - 1].id)
                    a->disorder++;
            /* Committed batches only: a multiple of the batch size. */
            if (r.n % 20)
                a->disorder++;
            if (r.n < a->last_seen)
                a->disorder++;
            a->last_seen = r.n;
            evt_result_free(&r);
        }
        struct evt_store_stats st;
        evt_store_stats(a->s, &st);
        a->queries++;
    }
    return NULL;
}

Test(events_store, reader_thread_beside_writer)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store *s = open_path(path);
    struct reader_arg a = {.s = s};
    atomic_init(&a.stop, false);
    pthread_t th[2];
    struct reader_arg b = {.s = s};
    atomic_init(&b.stop, false);
    cr_assert_eq(pthread_create(&th[0], NULL, reader_main, &a), 0);
    cr_assert_eq(pthread_create(&th[1], NULL, reader_main, &b), 0);
    int64_t id = 0;
    for (int batch = 0; batch < 100; batch++) {
        struct evt_event evs[20];
        for (int i = 0; i < 20; i++)
            mkev(&evs[i], BASE + batch * 20 + i, EVT_SRC_KERNEL, i % 2 ? "Odd" : "Even",
                 EVT_SEV_INFO, "process 1 killed", "i", "1", NULL);
        insert_ok(s, evs, 20);
        for (int i = 0; i < 20; i++)
            cr_assert_eq(evs[i].id, ++id);
        clear_all(evs, 20);
    }
    atomic_store(&a.stop, true);
    atomic_store(&b.stop, true);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    cr_assert_eq(a.errors, 0);
    cr_assert_eq(b.errors, 0);
    cr_assert_eq(a.disorder, 0);
    cr_assert_eq(b.disorder, 0);
    cr_assert_geq(a.queries, 5);
    struct evt_query q = q_all();
    struct evt_result r;
    query_ok(s, &q, &r);
    cr_assert_eq(r.n, 2000);
    evt_result_free(&r);
    evt_store_close(s);
    cn_remove_all(dir);
}

Test(events_store, allocation_failures_are_enomem)
{
    char dir[PATH_MAX], path[PATH_MAX];
    tmpdir(dir);
    dbpath(path, dir);
    struct evt_store_opts o = {.path = path};
    struct evt_store *s = NULL;
    char err[256];
    int failures = 0, rc;
    for (long k = 0;; k++) {
        cn_alloc_fail_after(k);
        rc = evt_store_open(&o, &s, NULL, err, sizeof(err));
        cn_alloc_fail_after(-1);
        if (rc == 0)
            break;
        cr_assert_eq(rc, -ENOMEM, "k=%ld: %d %s", k, rc, err);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof(want), "events store %s: out of memory", path);
        cr_assert_str_eq(err, want);
        cr_assert_null(s);
        failures++;
    }
    /* The directory's name (checked for a new file), the store, its path
     * and its WAL's path. */
    cr_assert_eq(failures, 4);
    struct evt_event evs[3];
    for (int i = 0; i < 3; i++)
        mkev(&evs[i], BASE + i, EVT_SRC_KERNEL, "OOMKill", EVT_SEV_CRITICAL, "Killed process 1 (x)",
             "pid", "1", "process", "x", NULL);
    insert_ok(s, evs, 3);
    clear_all(evs, 3);

    struct evt_query q = q_all();
    q.match = "Killed";
    failures = 0;
    for (long k = 0;; k++) {
        struct evt_result r = {.n = 5};
        cn_alloc_fail_after(k);
        rc = evt_store_query(s, &q, &r, err, sizeof(err));
        cn_alloc_fail_after(-1);
        if (rc == 0) {
            cr_assert_eq(r.n, 3);
            cr_assert_eq(r.events[2].nattrs, 2);
            evt_result_free(&r);
            break;
        }
        cr_assert_eq(rc, -ENOMEM, "k=%ld: %d %s", k, rc, err);
        cr_assert_str_eq(err, "events store: query: out of memory");
        cr_assert_eq(r.n, 0);
        cr_assert_null(r.events);
        failures++;
    }
    /* The pooled connection, the SQL, the array, and per event the message
     * and two attributes' names and values. */
    cr_assert_geq(failures, 10, "%d", failures);
    evt_store_close(s);
    cn_remove_all(dir);
}
