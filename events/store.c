/*
 * The event store: one sqlite3 database in WAL mode, written by one thread,
 * read by any.
 *
 * Schema and encoding. PRAGMA user_version holds the schema version; the
 * `migrations` array below holds one step per version (step i turns version
 * i into i+1; version 1 is the first schema) and evt_store_open applies the
 * missing steps in one transaction. A file of a newer version is refused
 * with -EPROTO: an older cairn must not write rows a newer one would
 * misread. The encoding is chosen for the bytes per event (~120-byte kernel
 * messages dominate; the rest is kept to a few bytes):
 *   events(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,
 *          source TEXT, type TEXT, severity INTEGER, message TEXT,
 *          attrs TEXT)
 * - id is the rowid (no separate key); AUTOINCREMENT so an id is never
 *   handed out twice, even after retention emptied the table: a follower
 *   paging with after_id must not miss events that reuse old ids.
 * - ts is nanoseconds since the epoch as given (8 bytes; milliseconds would
 *   save 2 bytes per row and per index entry but lose the event's time).
 * - severity is its enum value: sqlite stores 0 and 1 in the record header
 *   alone, 2 in one byte. source is its short name ("kernel", 4-8 bytes)
 *   so the file reads well in the sqlite3 shell; type is its CamelCase name.
 * - message is stored as is ("" for none: zero payload bytes); attrs is a
 *   compact JSON object ({"k":"v"}, no spaces, UTF-8 unescaped) written and
 *   read with jansson, or NULL (zero bytes) for an event without attributes.
 * - Indexes: events_ts(ts) for time ranges and retention, events_type_ts
 *   (type, ts) and events_severity_ts(severity, ts); each also holds the
 *   rowid, so "newest first" (ts DESC, id DESC) of one type is read straight
 *   off events_type_ts without a sort. meta(key, value) WITHOUT ROWID holds
 *   the sources' bookmarks.
 * - auto_vacuum=INCREMENTAL is set before the first table exists, so
 *   retention can hand freed pages back a bounded number at a time.
 * Measured (bench/events_store.c, 1,000,000 events with 105-byte messages
 * and 2-3 attributes): 262 bytes per event, of which the table 191 (message
 * 105, attrs 42, type 9, source 6, ts 8, record and cell headers ~15, free
 * space 2%) and the three indexes 70 (type_ts 30, severity_ts 21, ts 19).
 * A source as a number would save 5 bytes (2%); the name was kept for
 * readability.
 * The database runs with journal_mode=WAL and synchronous=NORMAL: a commit
 * is an append to the WAL without fsync (a power cut may lose the last
 * batches, never corrupt the file), readers never wait for the writer.
 *
 * Writing. The writer connection keeps its statements prepared for its
 * lifetime. A batch (evt_store_insert) is BEGIN IMMEDIATE, one INSERT per
 * event and one upsert per meta pair, COMMIT; any failure rolls the whole
 * batch back and leaves every event's id at 0. sqlite's result codes map to
 * errnos in one place (map_rc): BUSY/LOCKED -EBUSY, FULL -ENOSPC, READONLY
 * -EROFS, CANTOPEN/PERM -EACCES, NOMEM -ENOMEM, anything else -EIO.
 *
 * Reading. Queries and stats may come from any thread while the writer
 * writes. Each query borrows a read-only connection from a small pool
 * (a mutex-protected list; a connection is opened when none is idle and
 * kept, up to READER_IDLE_MAX, for the next query), so queries never
 * share the writer's connection or its locks. A query's SQL is built from
 * the filters that are set and prepared on the borrowed connection. A
 * regular expression is compiled once per query, before any SQL runs (a bad
 * pattern is -EINVAL with PCRE2's reason and offset); the connection's
 * `regexp` SQL function (what `message REGEXP ?` calls) matches with that
 * compiled pattern, which the connection holds for the query's duration.
 * Plans: one type over a time range is a range search of events_type_ts
 * read backwards, with no sort (the unit tests pin the plan); only the
 * highest minimum severity becomes an equality, which (severity, ts) serves
 * in order (a lower minimum is served better by the ts index with LIMIT);
 * following (after_id) reads the rowid range after after_id with NOT
 * INDEXED, since the planner would otherwise sort a whole time range by id.
 * The row count and oldest timestamp are kept by the writer under the
 * store's mutex (counted once at open), so stats never touch the database.
 * evt_store_close closes the pooled connections too: no query may be
 * running then.
 *
 * Corruption. At open, a file sqlite cannot read as a database
 * (SQLITE_NOTADB), any SQLITE_CORRUPT, or a PRAGMA quick_check that is not
 * "ok" sets the file aside as <path>.corrupt-<unix seconds>, removes its
 * -wal and -shm, and creates a new database. A file locked by another
 * process is busy, not corrupt (-EBUSY). quick_check reads every page, so
 * opening a large store costs a sequential read of the file (measured in
 * bench/events_store.c).
 *
 * Retention. Each evt_store_retain step deletes at most `budget` of the
 * oldest events (by ts, then id) that are past the age limit or beyond the
 * count limit, in one transaction, then returns at most VACUUM_PAGES free
 * pages to the file system with PRAGMA incremental_vacuum. *more is set
 * while events are still due or free pages are left.
 */
#include "events/events.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/common.h"

/* Schema steps: migrations[i] turns version i into version i + 1. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema. */
    "CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
    " source TEXT, type TEXT, severity INTEGER, message TEXT, attrs TEXT);"
    "CREATE INDEX events_ts ON events(ts);"
    "CREATE INDEX events_type_ts ON events(type, ts);"
    "CREATE INDEX events_severity_ts ON events(severity, ts);"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define DEFAULT_BUSY_MS 1000
/* Idle read connections kept for the next query. */
#define READER_IDLE_MAX 4
/* Pages one retention step returns to the file system (1 MiB of 4 KiB). */
#define VACUUM_PAGES 256
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
/* The WAL is truncated to this after a checkpoint (the default checkpoint
 * comes at 1000 pages, about 4 MiB). */
#define WAL_SIZE_LIMIT (4 * 1024 * 1024)
/* evt_store_open's internal result for "the file is corrupt". */
#define OPEN_CORRUPT 1

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_INSERT,
    ST_META_PUT,
    ST_META_GET,
    ST_DEL_AGE,
    ST_DEL_COUNT,
    ST_MIN_TS,
    ST_VACUUM,
    ST_FREELIST,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_INSERT] = "INSERT INTO events(ts, source, type, severity, message, attrs)"
                  " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_META_PUT] = "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
    [ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [ST_DEL_AGE] = "DELETE FROM events WHERE id IN"
                   " (SELECT id FROM events WHERE ts < ?1 ORDER BY ts, id LIMIT ?2)",
    [ST_DEL_COUNT] = "DELETE FROM events WHERE id IN"
                     " (SELECT id FROM events ORDER BY ts, id LIMIT ?1)",
    [ST_MIN_TS] = "SELECT min(ts) FROM events",
    [ST_VACUUM] = "PRAGMA incremental_vacuum(" STRINGIFY(VACUUM_PAGES) ")",
    [ST_FREELIST] = "PRAGMA freelist_count",
};

/* A read-only connection of the pool. re and md are the compiled pattern of
 * the query running on it (NULL between queries); its `regexp` function
 * uses them. */
struct reader {
    sqlite3 *db;
    pcre2_code *re;
    pcre2_match_data *md;
    struct reader *next;
};

struct evt_store {
    sqlite3 *db; /* the writer's connection */
    sqlite3_stmt *st[ST_COUNT];
    char *path, *wal_path;
    int busy_ms;
    int64_t retention_ns;
    uint64_t retention_count;
    uint64_t max_pages;

    pthread_mutex_t lock; /* guards everything below */
    struct reader *idle;  /* idle read connections */
    size_t nidle;
    uint64_t count;    /* rows in events */
    int64_t oldest_ns; /* min(ts), 0 when empty */
};

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH: return -EACCES;
    case SQLITE_NOMEM: return -ENOMEM;
    default: return -EIO;
    }
}

static bool rc_corrupt(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* ---- opening ------------------------------------------------------------ */

/*
 * Checks what can be checked before sqlite tries: an existing path must be
 * a regular file, a new one needs an existing, writable directory. Gives
 * messages that name the path, which sqlite's "unable to open database
 * file" does not.
 */
static int check_location(const char *path, char *err, size_t errcap)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cn_errf(err, errcap, "events store %s: is a directory", path);
            return -EISDIR;
        }
        if (!S_ISREG(st.st_mode)) {
            cn_errf(err, errcap, "events store %s: not a regular file", path);
            return -EINVAL;
        }
        return 0;
    }
    if (errno != ENOENT) {
        int e = errno;
        cn_errf(err, errcap, "events store %s: %s", path, strerror(e));
        return -e;
    }
    char *dir = cn_strdup(path);
    if (!dir)
        return -ENOMEM;
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int rc = 0;
    if (stat(dir, &st) != 0) {
        rc = -errno;
        cn_errf(err, errcap, "events store %s: directory %s: %s", path, dir, strerror(-rc));
    } else if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
        cn_errf(err, errcap, "events store %s: %s is not a directory", path, dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        rc = -errno;
        cn_errf(err, errcap, "events store %s: directory %s: %s", path, dir, strerror(-rc));
    }
    free(dir);
    return rc;
}

/* Runs sql (no rows wanted). sqlite's result code. */
static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* The integer in the first column of sql's first row. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The outcome of a failed step of open: OPEN_CORRUPT with problem filled,
 * or -errno with err filled. */
static int open_fail(sqlite3 *db, int rc, const char *path, const char *what, char *problem,
                     size_t pcap, char *err, size_t errcap)
{
    if (rc_corrupt(rc)) {
        snprintf(problem, pcap, "%s: %s", what, sqlite3_errmsg(db));
        return OPEN_CORRUPT;
    }
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        cn_errf(err, errcap, "events store %s: %s: locked by another process (%s)", path, what,
                sqlite3_errmsg(db));
        return -EBUSY;
    }
    int e = sqlite3_system_errno(db);
    cn_errf(err, errcap, "events store %s: %s: %s%s%s%s", path, what, sqlite3_errmsg(db),
            e ? " (" : "", e ? strerror(e) : "", e ? ")" : "");
    return map_rc(rc);
}

/* PRAGMA quick_check: 0 when "ok", OPEN_CORRUPT with the first complaint
 * in problem, or a failure as open_fail. */
static int quick_check(sqlite3 *db, const char *path, char *problem, size_t pcap, char *err,
                       size_t errcap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return open_fail(db, rc, path, "quick_check", problem, pcap, err, errcap);
    rc = sqlite3_step(st);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(st, 0);
        if (!res || strcmp(res, "ok")) {
            /* One line: the first complaints, without sqlite's header. */
            const char *hdr = "*** in database main ***\n";
            if (res && !strncmp(res, hdr, strlen(hdr)))
                res += strlen(hdr);
            snprintf(problem, pcap, "quick_check: %s", res ? res : "(no result)");
            for (char *c = problem; *c; c++)
                if (*c == '\n')
                    *c = ' ';
            ret = OPEN_CORRUPT;
        }
    } else {
        ret = open_fail(db, rc, path, "quick_check", problem, pcap, err, errcap);
    }
    sqlite3_finalize(st);
    return ret;
}

/* Applies the migration steps from version `from` in one transaction. */
static int migrate(sqlite3 *db, int from)
{
    int rc = exec(db, "BEGIN IMMEDIATE");
    if (rc != SQLITE_OK)
        return rc;
    for (int v = from; v < SCHEMA_VERSION && rc == SQLITE_OK; v++)
        rc = exec(db, migrations[v]);
    if (rc == SQLITE_OK) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
        rc = exec(db, sql);
    }
    if (rc == SQLITE_OK)
        rc = exec(db, "COMMIT");
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        exec(db, "ROLLBACK");
    return rc;
}

static void close_writer(struct evt_store *s)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close_v2(s->db);
    s->db = NULL;
}

/*
 * Opens the writer's connection on s->path and brings the schema up to
 * date. 0; OPEN_CORRUPT with problem filled; or -errno with err filled. On
 * anything but 0 the connection is closed again.
 */
static int open_writer(struct evt_store *s, int *version, char *problem, size_t pcap, char *err,
                       size_t errcap)
{
    const char *path = s->path;
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int e = s->db ? sqlite3_system_errno(s->db) : 0;
        cn_errf(err, errcap, "events store %s: %s%s%s%s", path,
                s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc), e ? " (" : "",
                e ? strerror(e) : "", e ? ")" : "");
        close_writer(s);
        return e ? -e : map_rc(rc);
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* sqlite falls back to read-only when the file cannot be opened for
     * writing; a store that cannot be written is unusable. */
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        int e = sqlite3_system_errno(s->db);
        cn_errf(err, errcap, "events store %s: cannot open for writing: %s", path,
                strerror(e ? e : EACCES));
        close_writer(s);
        return -(e ? e : EACCES);
    }
    sqlite3_busy_timeout(s->db, s->busy_ms);

    int64_t v = 0;
    int ret;
    rc = query_int(s->db, "PRAGMA user_version", &v);
    if (rc != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "reading the schema version", problem, pcap, err, errcap);
        goto fail;
    }
    *version = (int)v;
    ret = quick_check(s->db, path, problem, pcap, err, errcap);
    if (ret)
        goto fail;
    if (v > SCHEMA_VERSION || v < 0) {
        cn_errf(err, errcap,
                "events store %s: schema version %lld is newer than this cairn's (%d); "
                "refusing to open it",
                path, (long long)v, SCHEMA_VERSION);
        ret = -EPROTO;
        goto fail;
    }
    /* Must come before the first table is created. */
    if (v == 0 && (rc = exec(s->db, "PRAGMA auto_vacuum = INCREMENTAL")) != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "initialising", problem, pcap, err, errcap);
        goto fail;
    }
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = SQLITE_OK;
            if (!mode || strcmp(mode, "wal")) {
                cn_errf(err, errcap, "events store %s: cannot use WAL mode (journal mode %s)", path,
                        mode ? mode : "unknown");
                sqlite3_finalize(st);
                ret = -EIO;
                goto fail;
            }
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "setting WAL mode", problem, pcap, err, errcap);
        goto fail;
    }
    char sql[96];
    snprintf(sql, sizeof(sql), "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = %d",
             WAL_SIZE_LIMIT);
    if ((rc = exec(s->db, sql)) != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "pragmas", problem, pcap, err, errcap);
        goto fail;
    }
    if (v < SCHEMA_VERSION && (rc = migrate(s->db, (int)v)) != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "creating the schema", problem, pcap, err, errcap);
        goto fail;
    }
    if (s->max_pages) {
        snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %llu",
                 (unsigned long long)s->max_pages);
        if ((rc = exec(s->db, sql)) != SQLITE_OK) {
            ret = open_fail(s->db, rc, path, "max_page_count", problem, pcap, err, errcap);
            goto fail;
        }
    }
    rc = sqlite3_prepare_v2(s->db, "SELECT count(*), min(ts) FROM events", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            s->count = (uint64_t)sqlite3_column_int64(st, 0);
            s->oldest_ns = sqlite3_column_int64(st, 1);
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        ret = open_fail(s->db, rc, path, "counting events", problem, pcap, err, errcap);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc != SQLITE_OK) {
            ret = open_fail(s->db, rc, path, "preparing statements", problem, pcap, err, errcap);
            goto fail;
        }
    }
    return 0;
fail:
    close_writer(s);
    return ret;
}

/* Renames the corrupt file aside and removes its -wal and -shm. A name
 * already taken (two recoveries in one second) gets ".1", ".2" ... */
static int set_aside(const struct evt_store *s, char *moved, size_t mcap, char *err, size_t errcap)
{
    long long now = (long long)time(NULL);
    int n = snprintf(moved, mcap, "%s.corrupt-%lld", s->path, now);
    for (int i = 1; n > 0 && (size_t)n < mcap && access(moved, F_OK) == 0 && i < 100; i++)
        n = snprintf(moved, mcap, "%s.corrupt-%lld.%d", s->path, now, i);
    if (n < 0 || (size_t)n >= mcap) {
        cn_errf(err, errcap, "events store %s: path too long", s->path);
        return -ENAMETOOLONG;
    }
    if (rename(s->path, moved) != 0) {
        int e = errno;
        cn_errf(err, errcap, "events store %s: corrupt, and cannot move it to %s: %s", s->path,
                moved, strerror(e));
        return -e;
    }
    char side[4096];
    const char *sfx[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++) {
        n = snprintf(side, sizeof(side), "%s%s", s->path, sfx[i]);
        if (n > 0 && (size_t)n < sizeof(side) && unlink(side) != 0 && errno != ENOENT) {
            int e = errno;
            cn_errf(err, errcap, "events store %s: cannot remove %s: %s", s->path, side,
                    strerror(e));
            return -e;
        }
    }
    return 0;
}

static void free_readers(struct reader *r)
{
    while (r) {
        struct reader *next = r->next;
        sqlite3_close_v2(r->db);
        free(r);
        r = next;
    }
}

void evt_store_close(struct evt_store *s)
{
    if (!s)
        return;
    /* Readers first: the last connection to close checkpoints the WAL and
     * removes it. */
    free_readers(s->idle);
    close_writer(s);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s->wal_path);
    free(s);
}

int evt_store_open(const struct evt_store_opts *o, struct evt_store **out,
                   struct evt_store_open_info *info, char *err, size_t errcap)
{
    struct evt_store_open_info scratch;
    if (!info)
        info = &scratch;
    memset(info, 0, sizeof(*info));
    *out = NULL;
    if (!o || !o->path || !*o->path) {
        cn_errf(err, errcap, "events store: no path");
        return -EINVAL;
    }
    int rc = check_location(o->path, err, errcap);
    if (rc == -ENOMEM)
        cn_errf(err, errcap, "events store %s: out of memory", o->path);
    if (rc)
        return rc;
    struct evt_store *s = cn_calloc(1, sizeof(*s));
    if (!s) {
        cn_errf(err, errcap, "events store %s: out of memory", o->path);
        return -ENOMEM;
    }
    size_t plen = strlen(o->path);
    s->path = cn_strdup(o->path);
    s->wal_path = cn_malloc(plen + 5);
    if (!s->path || !s->wal_path) {
        free(s->path);
        free(s->wal_path);
        free(s);
        cn_errf(err, errcap, "events store %s: out of memory", o->path);
        return -ENOMEM;
    }
    memcpy(s->wal_path, o->path, plen);
    memcpy(s->wal_path + plen, "-wal", 5);
    pthread_mutex_init(&s->lock, NULL);
    s->busy_ms = o->busy_timeout_ms > 0 ? o->busy_timeout_ms : DEFAULT_BUSY_MS;
    s->retention_ns = o->retention_ns;
    s->retention_count = o->retention_count;
    s->max_pages = o->max_pages;

    rc = open_writer(s, &info->from_version, info->problem, sizeof(info->problem), err, errcap);
    if (rc == OPEN_CORRUPT) {
        rc = set_aside(s, info->moved_to, sizeof(info->moved_to), err, errcap);
        if (rc == 0) {
            /* Not logged here: info tells the caller, who logs and records
             * it as an event. */
            info->recovered = true;
            char problem2[256];
            rc = open_writer(s, &info->from_version, problem2, sizeof(problem2), err, errcap);
            if (rc == OPEN_CORRUPT) {
                cn_errf(err, errcap, "events store %s: new database is corrupt: %s", s->path,
                        problem2);
                rc = -EIO;
            }
        }
    }
    if (rc) {
        evt_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

/* Steps a statement that returns no rows and resets it. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* The attributes as a compact JSON object (free with free()), NULL in *out
 * for none. 0, -ENOMEM, or -EINVAL for a value that is not UTF-8 (only an
 * event filled without the evt_event setters has one; jansson cannot tell
 * that from running out of memory, which reads the same). */
static int encode_attrs(const struct evt_event *ev, char **out)
{
    *out = NULL;
    if (!ev->nattrs)
        return 0;
    json_t *obj = json_object();
    if (!obj)
        return -ENOMEM;
    for (size_t i = 0; i < ev->nattrs; i++) {
        const char *v = ev->attrs[i].value ? ev->attrs[i].value : "";
        size_t len = strlen(v);
        json_t *str = json_stringn(v, len);
        if (!str || json_object_set_new(obj, ev->attrs[i].name, str)) {
            json_decref(obj);
            return str ? -ENOMEM : -EINVAL;
        }
    }
    *out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return *out ? 0 : -ENOMEM;
}

static void rollback(struct evt_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        step_done(s->st[ST_ROLLBACK]);
}

/* Fills err with what failed and sqlite's message; returns the errno. */
static int write_fail(struct evt_store *s, int rc, const char *what, char *err, size_t errcap)
{
    cn_errf(err, errcap, "events store %s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
    int e = map_rc(rc);
    rollback(s);
    return e;
}

int evt_store_insert(struct evt_store *s, struct evt_event *evs, size_t n,
                     const struct evt_meta *meta, size_t nmeta, char *err, size_t errcap)
{
    if (!n && !nmeta)
        return 0;
    int rc = step_done(s->st[ST_BEGIN]);
    if (rc != SQLITE_OK)
        return write_fail(s, rc, "begin", err, errcap);
    int64_t oldest = 0;
    sqlite3_stmt *ins = s->st[ST_INSERT];
    int ret = 0;
    for (size_t i = 0; i < n; i++) {
        struct evt_event *ev = &evs[i];
        char *attrs;
        if ((ret = encode_attrs(ev, &attrs))) {
            cn_errf(err, errcap, "events store %s: insert: %s", s->path,
                    ret == -ENOMEM ? "out of memory" : "an attribute value is not UTF-8");
            rollback(s);
            goto fail;
        }
        const char *src = evt_source_name(ev->source);
        sqlite3_bind_int64(ins, 1, ev->ts_ns);
        if (src)
            sqlite3_bind_text(ins, 2, src, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, ev->type, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, (int)ev->severity);
        sqlite3_bind_text(ins, 5, ev->message ? ev->message : "", -1, SQLITE_STATIC);
        if (attrs)
            sqlite3_bind_text(ins, 6, attrs, -1, SQLITE_STATIC);
        rc = step_done(ins);
        free(attrs);
        if (rc != SQLITE_OK) {
            ret = write_fail(s, rc, "insert", err, errcap);
            goto fail;
        }
        ev->id = sqlite3_last_insert_rowid(s->db);
        if (i == 0 || ev->ts_ns < oldest)
            oldest = ev->ts_ns;
    }
    for (size_t i = 0; i < nmeta; i++) {
        sqlite3_bind_text(s->st[ST_META_PUT], 1, meta[i].key, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->st[ST_META_PUT], 2, meta[i].value, -1, SQLITE_STATIC);
        rc = step_done(s->st[ST_META_PUT]);
        if (rc != SQLITE_OK) {
            ret = write_fail(s, rc, "meta", err, errcap);
            goto fail;
        }
    }
    rc = step_done(s->st[ST_COMMIT]);
    if (rc != SQLITE_OK) {
        ret = write_fail(s, rc, "commit", err, errcap);
        goto fail;
    }
    pthread_mutex_lock(&s->lock);
    if (n && (s->count == 0 || oldest < s->oldest_ns))
        s->oldest_ns = oldest;
    s->count += n;
    pthread_mutex_unlock(&s->lock);
    return 0;
fail:
    for (size_t i = 0; i < n; i++)
        evs[i].id = 0;
    return ret;
}

int evt_store_meta_get(struct evt_store *s, const char *key, char *out, size_t cap)
{
    sqlite3_stmt *st = s->st[ST_META_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), ret;
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        if (len >= cap) {
            ret = -ERANGE;
        } else {
            memcpy(out, v ? v : "", len);
            out[len] = '\0';
            ret = 0;
        }
    } else {
        ret = rc == SQLITE_DONE ? -ENOENT : map_rc(rc);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return ret;
}

/* ---- retention ---------------------------------------------------------- */

/* The deleting half of a retention step: one transaction. */
static int retain_delete(struct evt_store *s, int64_t cutoff, size_t budget, uint64_t *deleted)
{
    pthread_mutex_lock(&s->lock);
    uint64_t count = s->count;
    pthread_mutex_unlock(&s->lock);
    int rc = step_done(s->st[ST_BEGIN]);
    if (rc != SQLITE_OK)
        return map_rc(rc);
    uint64_t gone = 0;
    if (s->retention_ns > 0) {
        sqlite3_bind_int64(s->st[ST_DEL_AGE], 1, cutoff);
        sqlite3_bind_int64(s->st[ST_DEL_AGE], 2, (int64_t)budget);
        if ((rc = step_done(s->st[ST_DEL_AGE])) != SQLITE_OK)
            goto fail;
        gone = (uint64_t)sqlite3_changes(s->db);
    }
    uint64_t left = count - gone;
    if (s->retention_count > 0 && left > s->retention_count && gone < budget) {
        uint64_t excess = left - s->retention_count;
        uint64_t want = budget - gone < excess ? budget - gone : excess;
        sqlite3_bind_int64(s->st[ST_DEL_COUNT], 1, (int64_t)want);
        if ((rc = step_done(s->st[ST_DEL_COUNT])) != SQLITE_OK)
            goto fail;
        gone += (uint64_t)sqlite3_changes(s->db);
    }
    int64_t oldest = 0;
    sqlite3_stmt *st = s->st[ST_MIN_TS];
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        oldest = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_OK || (rc = step_done(s->st[ST_COMMIT])) != SQLITE_OK)
        goto fail;
    pthread_mutex_lock(&s->lock);
    s->count -= gone;
    s->oldest_ns = oldest;
    pthread_mutex_unlock(&s->lock);
    *deleted = gone;
    return 0;
fail:
    rollback(s);
    return map_rc(rc);
}

int evt_store_retain(struct evt_store *s, int64_t now_ns, size_t budget, uint64_t *deleted,
                     bool *more)
{
    *deleted = 0;
    *more = false;
    int64_t cutoff = s->retention_ns > 0 ? now_ns - s->retention_ns : INT64_MIN;
    struct evt_store_stats before;
    evt_store_stats(s, &before);
    bool due = (s->retention_ns > 0 && before.events && before.oldest_ns < cutoff) ||
               (s->retention_count > 0 && before.events > s->retention_count);
    if (due && budget) {
        int rc = retain_delete(s, cutoff, budget, deleted);
        if (rc)
            return rc;
    }
    struct evt_store_stats after;
    evt_store_stats(s, &after);
    *more = (s->retention_ns > 0 && after.events && after.oldest_ns < cutoff) ||
            (s->retention_count > 0 && after.events > s->retention_count);

    /* Hand back up to VACUUM_PAGES free pages; more are another step's. */
    sqlite3_stmt *st = s->st[ST_VACUUM];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ; /* a row per page freed */
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return map_rc(rc);
    st = s->st[ST_FREELIST];
    rc = sqlite3_step(st);
    int64_t freelist = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return map_rc(rc);
    if (freelist > 0)
        *more = true;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* regexp(pattern, message), what `message REGEXP ?` calls: matches with
 * the pattern the query compiled (the connection's r->re). */
static void regexp_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    struct reader *r = sqlite3_user_data(ctx);
    if (!r->re || !r->md) {
        sqlite3_result_error(ctx, "regexp: no compiled pattern", -1);
        return;
    }
    const unsigned char *text = sqlite3_value_text(argv[1]);
    if (!text) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    size_t len = (size_t)sqlite3_value_bytes(argv[1]);
    int rc = pcre2_match(r->re, text, len, 0, 0, r->md, NULL);
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) {
        sqlite3_result_int(ctx, rc >= 0);
        return;
    }
    char msg[160] = "regexp: ";
    pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg + 8, sizeof(msg) - 8);
    sqlite3_result_error(ctx, msg, -1);
}

/* Borrows a read connection: an idle one, or a new one. */
static int reader_get(struct evt_store *s, struct reader **out, char *err, size_t errcap)
{
    pthread_mutex_lock(&s->lock);
    struct reader *r = s->idle;
    if (r) {
        s->idle = r->next;
        s->nidle--;
    }
    pthread_mutex_unlock(&s->lock);
    if (r) {
        *out = r;
        return 0;
    }
    r = cn_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    int rc = sqlite3_open_v2(s->path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_create_function(r->db, "regexp", 2, SQLITE_UTF8, r, regexp_fn, NULL, NULL);
    if (rc != SQLITE_OK) {
        cn_errf(err, errcap, "events store %s: opening a reader: %s", s->path,
                r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(r->db);
        free(r);
        return map_rc(rc);
    }
    sqlite3_extended_result_codes(r->db, 1);
    sqlite3_busy_timeout(r->db, s->busy_ms);
    *out = r;
    return 0;
}

static void reader_put(struct evt_store *s, struct reader *r)
{
    r->re = NULL;
    r->md = NULL;
    pthread_mutex_lock(&s->lock);
    if (s->nidle < READER_IDLE_MAX) {
        r->next = s->idle;
        s->idle = r;
        s->nidle++;
        r = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    if (r) {
        sqlite3_close_v2(r->db);
        free(r);
    }
}

/* Fills an initialised ev from the current row. 0 or -ENOMEM. */
static int decode_row(sqlite3_stmt *st, struct evt_event *ev)
{
    ev->id = sqlite3_column_int64(st, 0);
    ev->ts_ns = sqlite3_column_int64(st, 1);
    /* A name this cairn does not know (a newer writer's) reads as 0. */
    const char *src = (const char *)sqlite3_column_text(st, 2);
    enum evt_source source = EVT_SRC_KERNEL;
    if (src && evt_source_parse(src, &source) == 0)
        ev->source = source;
    const char *type = (const char *)sqlite3_column_text(st, 3);
    if (type) {
        size_t tl = (size_t)sqlite3_column_bytes(st, 3);
        if (tl > EVT_TYPE_MAX)
            tl = EVT_TYPE_MAX;
        memcpy(ev->type, type, tl);
        ev->type[tl] = '\0';
    }
    int sev = sqlite3_column_int(st, 4);
    ev->severity = sev < 0                ? EVT_SEV_INFO
                   : sev >= EVT_SEV_COUNT ? EVT_SEV_CRITICAL
                                          : (enum evt_severity)sev;
    const char *msg = (const char *)sqlite3_column_text(st, 5);
    if (msg && evt_event_set_message(ev, msg, (size_t)sqlite3_column_bytes(st, 5)))
        return -ENOMEM;
    const char *attrs = (const char *)sqlite3_column_text(st, 6);
    if (!attrs)
        return 0;
    /* Attributes that do not parse (the file was edited by hand) are left
     * out rather than failing the query. */
    json_t *obj = json_loadb(attrs, (size_t)sqlite3_column_bytes(st, 6), 0, NULL);
    if (!obj)
        return 0;
    const char *name;
    json_t *val;
    int ret = 0;
    json_object_foreach(obj, name, val)
    {
        if (!json_is_string(val))
            continue;
        int rc = evt_event_set_attr(ev, name, json_string_value(val), json_string_length(val));
        if (rc == -ENOMEM) {
            ret = rc;
            break;
        }
    }
    json_decref(obj);
    return ret;
}

/* The query's SQL, its parameters numbered in the order bind_query binds
 * them. */
static void build_sql(const struct evt_query *q, struct cn_buf *b)
{
    int p = 3; /* ?1 and ?2 are the time range */
    /* Following reads the rowid range after after_id in order (a few new
     * rows, usually); left to itself the planner would take a time or type
     * index and sort the whole range by id. */
    cn_buf_puts(b, "SELECT id, ts, source, type, severity, message, attrs FROM events");
    if (q->after_id > 0)
        cn_buf_puts(b, " NOT INDEXED");
    cn_buf_puts(b, " WHERE ts >= ?1 AND ts <= ?2");
    if (q->ntypes == 1) {
        cn_buf_printf(b, " AND type = ?%d", p++);
    } else if (q->ntypes > 1) {
        cn_buf_puts(b, " AND type IN (");
        for (size_t i = 0; i < q->ntypes; i++)
            cn_buf_printf(b, "%s?%d", i ? ", " : "", p++);
        cn_buf_putc(b, ')');
    }
    /* The highest severity as an equality, so (severity, ts) serves it in
     * order; a lower minimum is better served by the ts index. */
    if (q->min_severity == EVT_SEV_COUNT - 1)
        cn_buf_printf(b, " AND severity = ?%d", p++);
    else if (q->min_severity > EVT_SEV_INFO)
        cn_buf_printf(b, " AND severity >= ?%d", p++);
    if (q->source >= 0)
        cn_buf_printf(b, " AND source = ?%d", p++);
    if (q->match && q->match_regex)
        cn_buf_printf(b, " AND message REGEXP ?%d", p++);
    else if (q->match)
        cn_buf_printf(b, " AND instr(message, ?%d) > 0", p++);
    if (q->has_cursor) {
        cn_buf_printf(b, " AND ts <= ?%d AND (ts < ?%d OR id < ?%d)", p, p, p + 1);
        p += 2;
    }
    if (q->after_id > 0)
        cn_buf_printf(b, " AND id > ?%d ORDER BY id", p++);
    else
        cn_buf_puts(b, " ORDER BY ts DESC, id DESC");
    cn_buf_printf(b, " LIMIT ?%d", p);
}

static void bind_query(sqlite3_stmt *st, const struct evt_query *q)
{
    int p = 1;
    sqlite3_bind_int64(st, p++, q->start_ns);
    sqlite3_bind_int64(st, p++, q->end_ns);
    for (size_t i = 0; i < q->ntypes; i++)
        sqlite3_bind_text(st, p++, q->types[i], -1, SQLITE_STATIC);
    if (q->min_severity > EVT_SEV_INFO)
        sqlite3_bind_int(st, p++, (int)q->min_severity);
    if (q->source >= 0)
        sqlite3_bind_text(st, p++, evt_source_name((enum evt_source)q->source), -1, SQLITE_STATIC);
    if (q->match)
        sqlite3_bind_text(st, p++, q->match, -1, SQLITE_STATIC);
    if (q->has_cursor) {
        sqlite3_bind_int64(st, p++, q->cursor_ts_ns);
        sqlite3_bind_int64(st, p++, q->cursor_id);
    }
    if (q->after_id > 0)
        sqlite3_bind_int64(st, p++, q->after_id);
    /* One row past the limit tells whether there are more. */
    sqlite3_bind_int64(st, p, q->limit >= (size_t)INT64_MAX ? INT64_MAX : (int64_t)q->limit + 1);
}

void evt_result_free(struct evt_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        evt_event_clear(&r->events[i]);
    free(r->events);
    memset(r, 0, sizeof(*r));
}

int evt_store_query(struct evt_store *s, const struct evt_query *q, struct evt_result *out,
                    char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    if (!q->limit) {
        cn_errf(err, errcap, "limit must be positive");
        return -EINVAL;
    }
    if (q->ntypes && !q->types) {
        cn_errf(err, errcap, "no types given");
        return -EINVAL;
    }
    if (q->source < -1 || q->source >= EVT_SRC_COUNT) {
        cn_errf(err, errcap, "unknown source %d", q->source);
        return -EINVAL;
    }
    if ((unsigned)q->min_severity >= EVT_SEV_COUNT) {
        cn_errf(err, errcap, "unknown severity %d", (int)q->min_severity);
        return -EINVAL;
    }

    pcre2_code *re = NULL;
    pcre2_match_data *md = NULL;
    struct reader *r = NULL;
    sqlite3_stmt *st = NULL;
    struct cn_buf sql;
    cn_buf_init(&sql);
    size_t cap = 0;
    int ret = 0;
    if (q->match && q->match_regex) {
        int ecode;
        PCRE2_SIZE eoff;
        re = pcre2_compile((PCRE2_SPTR)q->match, PCRE2_ZERO_TERMINATED,
                           PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
        if (!re) {
            char msg[128];
            pcre2_get_error_message(ecode, (PCRE2_UCHAR *)msg, sizeof(msg));
            cn_errf(err, errcap, "error parsing regexp: %s at offset %zu", msg, (size_t)eoff);
            return ecode == PCRE2_ERROR_HEAPLIMIT ? -ENOMEM : -EINVAL;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
        md = pcre2_match_data_create_from_pattern(re, NULL);
        if (!md) {
            ret = -ENOMEM;
            goto out;
        }
    }
    build_sql(q, &sql);
    if (sql.err) {
        ret = -ENOMEM;
        goto out;
    }
    if ((ret = reader_get(s, &r, err, errcap)))
        goto out;
    r->re = re;
    r->md = md;
    int rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_query(st, q);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (out->n == q->limit) {
                out->more = true;
                continue; /* the extra row; the statement ends after it */
            }
            if (cn_array_grow((void **)&out->events, &cap, out->n + 1, sizeof(*out->events), 16)) {
                ret = -ENOMEM;
                break;
            }
            struct evt_event *ev = &out->events[out->n++];
            evt_event_init(ev);
            if ((ret = decode_row(st, ev)))
                break;
        }
    }
    if (!ret && rc != SQLITE_DONE) {
        cn_errf(err, errcap, "events store %s: query: %s", s->path, sqlite3_errmsg(r->db));
        ret = map_rc(rc);
    }
out:
    sqlite3_finalize(st);
    if (r)
        reader_put(s, r);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    cn_buf_free(&sql);
    if (ret) {
        if (ret == -ENOMEM)
            cn_errf(err, errcap, "events store: query: out of memory");
        evt_result_free(out);
    }
    return ret;
}

void evt_store_stats(struct evt_store *s, struct evt_store_stats *out)
{
    pthread_mutex_lock(&s->lock);
    out->events = s->count;
    out->oldest_ns = s->count ? s->oldest_ns : 0;
    pthread_mutex_unlock(&s->lock);
    out->size_bytes = 0;
    struct stat st;
    if (stat(s->path, &st) == 0)
        out->size_bytes += (uint64_t)st.st_size;
    if (stat(s->wal_path, &st) == 0)
        out->size_bytes += (uint64_t)st.st_size;
}

int evt_store_query_plan(struct evt_store *s, const struct evt_query *q, char *out, size_t cap)
{
    struct cn_buf sql;
    cn_buf_init(&sql);
    cn_buf_puts(&sql, "EXPLAIN QUERY PLAN ");
    build_sql(q, &sql);
    struct reader *r = NULL;
    int ret = sql.err ? -ENOMEM : reader_get(s, &r, out, cap);
    sqlite3_stmt *st = NULL;
    if (!ret) {
        int rc = sqlite3_prepare_v2(r->db, sql.data, (int)sql.len, &st, NULL);
        if (rc == SQLITE_OK) {
            bind_query(st, q);
            size_t o = 0;
            out[0] = '\0';
            while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int n = snprintf(out + o, cap - o, "%s%s", o ? "; " : "",
                                 (const char *)sqlite3_column_text(st, 3));
                o = n < 0 || (size_t)n >= cap - o ? cap - 1 : o + (size_t)n;
            }
        }
        if (rc != SQLITE_DONE) {
            cn_errf(out, cap, "%s", sqlite3_errmsg(r->db));
            ret = map_rc(rc);
        }
    }
    sqlite3_finalize(st);
    if (r)
        reader_put(s, r);
    cn_buf_free(&sql);
    return ret;
}
