/*
 * events: what happened on this host (kernel, OS, hardware, plugins, the
 * agent itself), kept durably in a local sqlite3 database, queryable and
 * counted.
 *
 * Pieces, each in its own file:
 * - the event model (model.c): an event has an id, a time in ns, a source, a
 *   CamelCase type, a severity, a message and a few name/value attributes;
 * - the store (store.c): one sqlite3 database in WAL mode, one writer, any
 *   number of readers, retention by age and count;
 * - the rules (rules.c): YAML files mapping PCRE2 regular expressions on
 *   kernel log lines to events; a default set is built into the binary;
 * - the sources (kmsg.c, checks.c in internal.h): the /dev/kmsg follower and
 *   the periodic checks of state no log line carries;
 * - the service (service.c): owns the store, a bounded queue, the follower
 *   and checker threads and the counters; every event enters through it.
 *
 * Dependencies: events uses common/ and exporter/ (for its metrics) only.
 */
#ifndef CAIRN_EVENTS_H
#define CAIRN_EVENTS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exp_builder;

/* ---- the event model (model.c) ------------------------------------------ */

enum evt_source {
    EVT_SRC_KERNEL = 0,
    EVT_SRC_OS,
    EVT_SRC_HARDWARE,
    EVT_SRC_PLUGIN,
    EVT_SRC_AGENT,
    EVT_SRC_COUNT
};

/* Ordered: a minimum-severity filter keeps severity >= the minimum. */
enum evt_severity { EVT_SEV_INFO = 0, EVT_SEV_WARNING, EVT_SEV_CRITICAL, EVT_SEV_COUNT };

/* "kernel", "os", "hardware", "plugin", "agent"; NULL when out of range. */
const char *evt_source_name(enum evt_source s);
/* The reverse; 0 or -EINVAL. */
int evt_source_parse(const char *s, enum evt_source *out);
/* "info", "warning", "critical"; NULL when out of range. */
const char *evt_severity_name(enum evt_severity s);
/* The reverse, also accepting "warn" and "crit"; 0 or -EINVAL. */
int evt_severity_parse(const char *s, enum evt_severity *out);

/* Limits every event obeys (longer messages and values are cut, on a UTF-8
 * boundary; attributes beyond the count are dropped). */
#define EVT_TYPE_MAX 64      /* bytes of a type, NUL excluded */
#define EVT_MESSAGE_MAX 1024 /* bytes of a message, NUL excluded */
#define EVT_ATTRS_MAX 16
#define EVT_ATTR_NAME_MAX 64
#define EVT_ATTR_VALUE_MAX 256

/* A type is CamelCase: [A-Z][A-Za-z0-9]*, 1..EVT_TYPE_MAX bytes. */
bool evt_type_valid(const char *type);
/* An attribute name is [a-z_][a-z0-9_]*, 1..EVT_ATTR_NAME_MAX bytes. */
bool evt_attr_name_valid(const char *name);

struct evt_attr {
    char *name, *value; /* owned */
};

/*
 * One event. Strings are owned by the event: initialise with
 * evt_event_init, fill with the setters, release with evt_event_clear.
 * A zeroed struct is a valid empty event.
 */
struct evt_event {
    int64_t id; /* assigned by the store; 0 before */
    int64_t ts_ns;
    enum evt_source source;
    enum evt_severity severity;
    char type[EVT_TYPE_MAX + 1];
    char *message; /* owned; NULL reads as "" */
    struct evt_attr *attrs;
    size_t nattrs;
};

void evt_event_init(struct evt_event *ev);
/* Frees the strings and zeroes ev. Accepts NULL. */
void evt_event_clear(struct evt_event *ev);
/* Moves src into dst (dst's old contents are cleared); src is left empty. */
void evt_event_move(struct evt_event *dst, struct evt_event *src);
/* Deep copy into an initialised dst. 0 or -ENOMEM. */
int evt_event_copy(struct evt_event *dst, const struct evt_event *src);
/* Sets the type; -EINVAL when not evt_type_valid. */
int evt_event_set_type(struct evt_event *ev, const char *type);
/* Sets the message from len bytes (cut at EVT_MESSAGE_MAX on a UTF-8
 * boundary; invalid UTF-8 bytes become U+FFFD). 0 or -ENOMEM. */
int evt_event_set_message(struct evt_event *ev, const char *msg, size_t len);
/* Adds (or, for a name already present, replaces) an attribute; the value
 * is cut like a message at EVT_ATTR_VALUE_MAX. -EINVAL for an invalid name,
 * -E2BIG past EVT_ATTRS_MAX, -ENOMEM. */
int evt_event_set_attr(struct evt_event *ev, const char *name, const char *value, size_t vlen);
/* The value of an attribute, or NULL. */
const char *evt_event_attr(const struct evt_event *ev, const char *name);
/*
 * Fills the initialised ev in one go: time, source, severity, type,
 * message, then the attributes from attrs, name and value strings in
 * turn, ending with a NULL name (a NULL value is ""). 0, or the first
 * setter's error (-EINVAL, -E2BIG, -ENOMEM), with ev cleared.
 */
int evt_event_vfill(struct evt_event *ev, int64_t ts_ns, enum evt_source source,
                    enum evt_severity severity, const char *type, const char *message,
                    va_list attrs);

/* ---- the store (store.c) --------------------------------------------------- */

/*
 * The sqlite3 database of events. Schema (version in PRAGMA user_version,
 * migrated forward at open): events(id, ts, source, type, severity,
 * message, attrs as a JSON object) with indexes on ts, (type, ts) and
 * (severity, ts), and meta(key, value) for the sources' bookmarks.
 *
 * Threads: one writer (evt_store_insert, evt_store_retain,
 * evt_store_meta_get) at a time; evt_store_query and evt_store_stats from
 * any thread at any time, on their own connections, never blocked by the
 * writer (WAL).
 */
struct evt_store;

struct evt_store_opts {
    const char *path;         /* the database file; its directory must exist */
    int64_t retention_ns;     /* 0: no age limit */
    uint64_t retention_count; /* 0: no count limit */
    int busy_timeout_ms;      /* how long a write waits for another process's lock; 0: 1000 */
    uint64_t max_pages;       /* 0: no limit; tests use it to simulate a full disk */
};

/* What evt_store_open found and did. */
struct evt_store_open_info {
    bool recovered;      /* the file was corrupt: set aside, a new one created */
    char moved_to[4096]; /* where the corrupt file went */
    char problem[256];   /* what was wrong with it */
    int from_version;    /* schema version found (0: new file) */
};

/*
 * Opens or creates the database. A file that is not a database, or fails
 * sqlite's quick_check, is renamed to "<path>.corrupt-<unix seconds>" (its
 * -wal and -shm files removed) and a new database is created; info says
 * so. A file written by a newer schema is refused (-EPROTO). On failure
 * -errno (-EACCES, -EROFS, -EBUSY, -EIO...) with a message in err.
 */
int evt_store_open(const struct evt_store_opts *o, struct evt_store **out,
                   struct evt_store_open_info *info, char *err, size_t errcap);
void evt_store_close(struct evt_store *s); /* accepts NULL */

/* A key/value pair of the meta table, written with a batch. */
struct evt_meta {
    const char *key, *value;
};

/*
 * Inserts n events and sets meta pairs in one transaction, all or nothing;
 * on success each event's id is set. 0, or -EBUSY (the database is locked
 * by another process past the busy timeout), -ENOSPC (disk or max_pages
 * full), -EIO / -EROFS / -EACCES (anything else), with err filled. Writer
 * thread only.
 */
int evt_store_insert(struct evt_store *s, struct evt_event *evs, size_t n,
                     const struct evt_meta *meta, size_t nmeta, char *err, size_t errcap);

/* A meta value into out (cap bytes). 0, -ENOENT, -EIO. Writer thread only. */
int evt_store_meta_get(struct evt_store *s, const char *key, char *out, size_t cap);

/*
 * One step of retention at time now_ns: deletes at most `budget` events
 * that are older than the retention time or beyond the retention count
 * (oldest first), then frees at most a few hundred pages with
 * incremental vacuum. Each step is one short transaction, so readers and
 * the next insert never wait long. *deleted is how many went; *more says
 * whether another step has work. 0 or -errno. Writer thread only.
 */
int evt_store_retain(struct evt_store *s, int64_t now_ns, size_t budget, uint64_t *deleted,
                     bool *more);

/* A query. Newest first (ts then id descending) unless after_id > 0. */
struct evt_query {
    int64_t start_ns, end_ns; /* inclusive range of ts */
    const char *const *types; /* any of these types; ntypes 0: any */
    size_t ntypes;
    enum evt_severity min_severity;
    int source;        /* an enum evt_source, or -1 for any */
    const char *match; /* NULL: any message */
    bool match_regex;  /* match is a PCRE2 pattern, else a substring */
    size_t limit;      /* > 0 */
    /* Paging backwards: only events before (cursor_ts_ns, cursor_id). */
    bool has_cursor;
    int64_t cursor_ts_ns, cursor_id;
    /* Following: only events with id > after_id, oldest (lowest id) first. */
    int64_t after_id;
};

struct evt_result {
    struct evt_event *events; /* owned */
    size_t n;
    bool more; /* more events match beyond limit */
};

/*
 * Runs q. 0 with the events in *out (free with evt_result_free), or
 * -EINVAL with err filled (a bad regex: "error parsing regexp: ... at
 * offset N"), -EIO. Any thread.
 */
int evt_store_query(struct evt_store *s, const struct evt_query *q, struct evt_result *out,
                    char *err, size_t errcap);
void evt_result_free(struct evt_result *r); /* accepts NULL */

struct evt_store_stats {
    uint64_t events;     /* rows stored */
    uint64_t size_bytes; /* database file plus its WAL */
    int64_t oldest_ns;   /* ts of the oldest event; 0 when empty */
};
/* Any thread; cheap (counts are kept by the writer). */
void evt_store_stats(struct evt_store *s, struct evt_store_stats *out);

/* ---- rules (rules.c) ---------------------------------------------------------- */

/*
 * Rules map kernel log lines to events. A rules file is YAML:
 *
 *   rules:
 *     - type: OOMKill
 *       severity: critical
 *       source: kernel                # optional; kernel by default
 *       pattern: 'Killed process (?<pid>\d+) \((?<process>[^)]+)\)'
 *       attributes: {reason: oom}     # optional static attributes
 *
 * The first rule whose pattern matches a line wins; rules are tried in the
 * order the files and their entries come. Named captures become attributes
 * (an unset group is left out). A set is immutable once loaded and may be
 * shared between threads; matching needs a per-thread evt_rules_matcher.
 */
struct evt_rules;

int evt_rules_create(struct evt_rules **out);
void evt_rules_destroy(struct evt_rules *r); /* accepts NULL */

/*
 * Appends the rules of one file (text of len bytes; `file` names it in
 * messages). On error returns -EINVAL with "file:line:column: what" in
 * err (for a bad pattern, the position of the pattern and PCRE2's reason
 * and offset), and r is unchanged; -ENOMEM.
 */
int evt_rules_load(struct evt_rules *r, const char *file, const char *text, size_t len, char *err,
                   size_t errcap);
/* Reads and appends a file. -errno with "file: reason" for an unreadable
 * file. */
int evt_rules_load_file(struct evt_rules *r, const char *path, char *err, size_t errcap);
/* The built-in default rules (packaging/events/rules.yml compiled in). */
const char *evt_default_rules(size_t *len);
#define EVT_DEFAULT_RULES_NAME "<built-in default rules>"
size_t evt_rules_count(const struct evt_rules *r);
/* What rule i (0 <= i < count) makes: its type (valid while r lives),
 * severity and source. */
void evt_rules_kind(const struct evt_rules *r, size_t i, const char **type,
                    enum evt_severity *severity, enum evt_source *source);

/* Per-thread match state for a rule set. */
struct evt_rules_matcher;
int evt_rules_matcher_create(const struct evt_rules *r, struct evt_rules_matcher **out);
void evt_rules_matcher_destroy(struct evt_rules_matcher *m); /* accepts NULL */
/*
 * Matches one line (len bytes) against the rules. On a match fills the
 * initialised ev (type, severity, source, message = the line, attributes
 * from the captures and the rule) and returns 1; 0 when no rule matches;
 * -ENOMEM. ts_ns is left to the caller.
 */
int evt_rules_match(struct evt_rules_matcher *m, const char *line, size_t len,
                    struct evt_event *ev);

/* ---- the service (service.c) ----------------------------------------------------- */

/*
 * Everything that produces, keeps and counts events, started once with the
 * agent. Threads: a writer (flushes the queue into the store once per flush
 * interval, one transaction, then a retention step), the kmsg follower, and
 * the checker (periodic checks). Producers never block: the queue is
 * bounded and a full queue drops and counts.
 */
struct evt_service;

struct evt_service_opts {
    const char *db_path; /* the store; NULL: no store (events are counted only) */
    int64_t retention_ns;
    uint64_t retention_count;
    const char *kmsg_path;      /* /dev/kmsg or a file of records; NULL or "": none */
    const char *procfs, *sysfs; /* for the boot id and the periodic checks */
    struct evt_rules *rules;    /* ownership taken (also on failure); NULL: none */
    int64_t flush_interval_ms;  /* 0: 1000 */
    int64_t check_interval_ms;  /* 0: no periodic checks */
    size_t queue_size;          /* 0: 65536 */
    uint64_t max_pages;         /* passed to the store (tests) */
};

/*
 * Opens the store (recovering a corrupt one, which then becomes an agent
 * event), records a Reboot event if the boot id changed since the store
 * last saw one, and starts the threads. A store that cannot be opened is
 * logged and retried every flush interval; meanwhile events are counted
 * and dropped. 0 or -ENOMEM / -errno from pthread_create.
 */
int evt_service_start(const struct evt_service_opts *o, struct evt_service **out);
/* Stops the threads, flushes what is queued, closes the store. Accepts NULL. */
void evt_service_stop(struct evt_service *s);

/*
 * The generic intake: queues an event from any source (the agent, plugins).
 * Takes ownership of ev's contents (ev is left empty) whether or not it is
 * queued. A ts_ns of 0 means now. Counted in node_events_total at once.
 * Returns false when the queue is full (the event is dropped and counted).
 * Any thread; never blocks on the store.
 */
bool evt_service_submit(struct evt_service *s, struct evt_event *ev);

/* A convenience for the agent's own events: source agent, type, severity,
 * message and attribute pairs (name, value, ..., NULL), at the time of the
 * call. */
bool evt_service_agent_event(struct evt_service *s, const char *type, enum evt_severity sev,
                             const char *message, ...);

/* Replaces the rules the kmsg follower uses (on reload); takes ownership. */
void evt_service_set_rules(struct evt_service *s, struct evt_rules *rules);

/*
 * Waits until every event submitted before the call has been written (or
 * dropped) and the kmsg source has been read to its current end, at most
 * timeout_ms. 0, or -ETIMEDOUT. Tests and shutdown use it.
 */
int evt_service_flush(struct evt_service *s, int64_t timeout_ms);

/* Runs q against the store. -EAGAIN with err filled when the store is not
 * open; otherwise as evt_store_query. Any thread. */
int evt_service_query(struct evt_service *s, const struct evt_query *q, struct evt_result *out,
                      char *err, size_t errcap);

/* Adds node_events_total{source,type,severity} and the cairn_events_*
 * self-metrics to b. Every kind of event the rules, the checks and the
 * agent can make is there from the start, at 0, so that increase() sees
 * the first one. Any thread. */
void evt_service_export(struct evt_service *s, struct exp_builder *b);

/* Counters, for tests and the self-metrics. */
struct evt_service_stats {
    uint64_t submitted;      /* events that entered the intake */
    uint64_t stored;         /* written to the store */
    uint64_t dropped_queue;  /* the queue was full */
    uint64_t dropped_store;  /* the store failed (full disk, unavailable) */
    uint64_t store_errors;   /* failed store operations */
    uint64_t kmsg_records;   /* kernel log records read */
    uint64_t kmsg_gaps;      /* records lost (overwritten before they were read) */
    uint64_t kmsg_malformed; /* records that could not be parsed */
    uint64_t kmsg_truncated; /* records cut because they were too long */
    uint64_t kmsg_reopened;  /* the source was rotated or truncated and reopened */
    uint64_t queue_length;   /* events waiting now */
    bool store_ok;           /* the store is open */
};
void evt_service_stats(struct evt_service *s, struct evt_service_stats *out);

#endif
