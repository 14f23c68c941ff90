/*
 * common: the small set of services every cairn module uses.
 *
 * - Logging: one logfmt (or JSON) logger writing whole lines to stderr. Every
 *   line carries a module; callers add key/value pairs. The logger's level and
 *   format are the one piece of process-wide state in cairn: they are set once
 *   by the agent before any thread starts and only read afterwards.
 * - Allocation: cn_malloc() and friends. Storage and query code never aborts on
 *   allocation failure; it returns -ENOMEM. Tests can make the n-th allocation
 *   fail (cn_alloc_fail_after) to prove those paths.
 * - Buffers (struct cn_buf): growable byte strings with a sticky error, so a
 *   chain of appends is checked once at the end.
 * - Arenas (struct cn_arena): bump allocation for data that dies together
 *   (one collection cycle's metric families).
 * - Time and small parsing helpers.
 */
#ifndef CAIRN_COMMON_H
#define CAIRN_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---- logging ---------------------------------------------------------- */

enum cn_log_level { CN_LOG_DEBUG = 0, CN_LOG_INFO, CN_LOG_WARN, CN_LOG_ERROR };
enum cn_log_format { CN_LOG_LOGFMT = 0, CN_LOG_JSON };

/* Sets the minimum level and the line format. Call before threads start. */
void cn_log_setup(enum cn_log_level level, enum cn_log_format format);

/* Redirects log lines to fd (default 2). Tests use it to capture lines. */
void cn_log_set_fd(int fd);

/* Parses "debug", "info", "warn", "error"; returns 0 or -EINVAL. */
int cn_log_level_parse(const char *s, enum cn_log_level *out);
/* Parses "logfmt", "json"; returns 0 or -EINVAL. */
int cn_log_format_parse(const char *s, enum cn_log_format *out);

/* Whether a line at this level would be written. */
bool cn_log_enabled(enum cn_log_level level);

/*
 * Writes one line: ts, level, module, msg, then the NULL-terminated list of
 * key, value string pairs (a NULL value is written as an empty string). The
 * line is written with a single write(2), so lines from threads never mix.
 * Example: cn_log(CN_LOG_WARN, "collector", "collect failed",
 *                 "collector", "cpu", "err", msg, NULL);
 */
void cn_log(enum cn_log_level level, const char *module, const char *msg, ...);
void cn_logv(enum cn_log_level level, const char *module, const char *msg, va_list ap);

/* Formats a number for a log value into buf (>= 32 bytes); returns buf.
 * Use with a compound literal: CN_LOGNUM(x). */
const char *cn_fmt_num(char *buf, double v);
#define CN_LOGNUM(v) cn_fmt_num((char[32]){0}, (double)(v))
/* The same for a whole number, exactly (timestamps in ms): CN_LOGINT(x). */
const char *cn_fmt_int(char *buf, int64_t v);
#define CN_LOGINT(v) cn_fmt_int((char[24]){0}, (int64_t)(v))

/* ---- allocation ------------------------------------------------------- */

/* malloc/calloc/realloc/strdup that may be made to fail by tests. They never
 * abort; callers handle NULL. Free with free(). */
void *cn_malloc(size_t n);
void *cn_calloc(size_t n, size_t size);
void *cn_realloc(void *p, size_t n);
char *cn_strdup(const char *s);
char *cn_strndup(const char *s, size_t n);

/* NULL-terminated string arrays (argv, envp): a deep copy (v may be NULL:
 * an empty array), NULL on allocation failure; and its free, which accepts
 * NULL. */
char **cn_strv_dup(const char *const *v);
void cn_strv_free(char **v);

/* Grows the array *p (capacity *cap elements of `size` bytes) to hold at
 * least `need`, doubling from `first`. On failure *p and *cap are unchanged
 * and -ENOMEM is returned; 0 otherwise. */
int cn_array_grow(void **p, size_t *cap, size_t need, size_t size, size_t first);

/* Test hook: the allocation after `n` more successful ones fails; -1 turns
 * failure injection off. Not thread-safe; for single-threaded tests only. */
void cn_alloc_fail_after(long n);

/* ---- buffers ---------------------------------------------------------- */

struct cn_buf {
    char *data; /* owned; always NUL-terminated when len > 0 or after cn_buf_cstr */
    size_t len;
    size_t cap;
    int err; /* sticky: first error (-ENOMEM) of any append */
};

void cn_buf_init(struct cn_buf *b);
void cn_buf_free(struct cn_buf *b);
void cn_buf_reset(struct cn_buf *b); /* keeps the allocation, clears err */
int cn_buf_reserve(struct cn_buf *b, size_t extra);
void cn_buf_append(struct cn_buf *b, const void *data, size_t n);
void cn_buf_puts(struct cn_buf *b, const char *s);
void cn_buf_putc(struct cn_buf *b, char c);
void cn_buf_printf(struct cn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the contents as a C string ("" when empty, or on error). */
const char *cn_buf_cstr(struct cn_buf *b);
/* Hands the data to the caller (who frees it) and reinitialises b. */
char *cn_buf_steal(struct cn_buf *b, size_t *len);

/* Formats a message into err (cap bytes) as snprintf does; nothing
 * happens when err is NULL or cap is 0. For functions that report why
 * they failed through a caller's buffer. */
void cn_errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- arenas ----------------------------------------------------------- */

/* A bump allocator: allocations live until cn_arena_destroy(). Not
 * thread-safe. Allocations are 16-byte aligned. */
struct cn_arena;

struct cn_arena *cn_arena_create(size_t block_size);
void cn_arena_destroy(struct cn_arena *a); /* accepts NULL */
void *cn_arena_alloc(struct cn_arena *a, size_t n);
char *cn_arena_strdup(struct cn_arena *a, const char *s);
char *cn_arena_strndup(struct cn_arena *a, const char *s, size_t n);
/* Bytes obtained from the system for this arena. */
size_t cn_arena_size(const struct cn_arena *a);

/* ---- time ------------------------------------------------------------- */

int64_t cn_now_ms(void);             /* wall clock, ms since the epoch */
double cn_now_seconds(void);         /* wall clock, seconds since the epoch */
int64_t cn_mono_ns(void);            /* monotonic clock, ns */
double cn_thread_cpu_seconds(void);  /* CPU time of the calling thread */
double cn_process_cpu_seconds(void); /* CPU time of the process (user+system) */
/* The CLOCK_REALTIME moment ns from now (a negative ns: now), the deadline
 * pthread_cond_timedwait takes. */
struct timespec cn_realtime_after_ns(int64_t ns);

/* Parses a Prometheus duration ("15s", "1h30m", "2d", "500ms") into ms.
 * Returns 0 or -EINVAL. */
int cn_duration_parse(const char *s, int64_t *ms);

/* ---- files and parsing ------------------------------------------------ */

/*
 * Reads a whole (small, procfs/sysfs) file into buf, NUL-terminated. Returns
 * the number of bytes read, or a negative errno (-ENOENT, -EACCES, -EFBIG
 * when the file does not fit in cap-1 bytes, ...).
 */
long cn_read_file(const char *path, char *buf, size_t cap);

/* Reads a file into a growable buffer (any size up to max). 0 or -errno. */
int cn_read_file_buf(const char *path, struct cn_buf *out, size_t max);

/* Joins path parts with '/' into out (size cap); returns out, or NULL if the
 * result does not fit. Parts that are NULL end the list. */
char *cn_path_join(char *out, size_t cap, const char *first, ...);

/* Removes path and, for a directory, everything under it (symlinks are
 * removed, not followed). 0 (also when path does not exist) or -errno. */
int cn_remove_all(const char *path);
/* Bytes of the regular files at or under path (symlinks not followed); 0
 * when it does not exist. */
uint64_t cn_disk_usage(const char *path);
/* fsync(2) of a file or (dir true) a directory by name. 0 or -errno. */
int cn_fsync_path(const char *path, bool dir);

/* Strict number parsing of a whole (trimmed of surrounding whitespace)
 * string. Return 0 or -EINVAL / -ERANGE. */
int cn_parse_u64(const char *s, uint64_t *out);
int cn_parse_i64(const char *s, int64_t *out);
int cn_parse_double(const char *s, double *out);

/* Removes leading and trailing whitespace in place; returns s. */
char *cn_trim(char *s);

/* The value of a hexadecimal digit (0-9, a-f, A-F), or -1. */
int cn_hex_digit(int c);

/* Writes rune r as UTF-8 into out (room for 4 bytes) and returns the
 * length, as Go's utf8.EncodeRune: surrogates and values past U+10FFFF
 * become U+FFFD. */
size_t cn_utf8_encode(char *out, uint32_t r);

#endif
