/*
 * plugins: the collector interface, the built-in collectors (collectors/),
 * and the helpers they share.
 *
 * A collector is a `struct plg_collector`: a name, whether it is on by
 * default, its options, and three functions. The agent calls init once with
 * the paths and option values, collect once per cycle with a builder to fill,
 * and destroy at shutdown or reload. Variation between collectors lives in
 * these descriptors, which are const; a collector's mutable state lives in
 * the `void *` its init returns. The gRPC plugin host adapts external
 * plugins into the same interface.
 *
 * Built-in collectors are registered by file name: plugins/collectors/foo.c
 * defines `const struct plg_collector plg_collector_foo` with .name = "foo";
 * the build generates the registry from the files present.
 *
 * Threads: each collector instance is driven by one thread at a time; init,
 * collect and destroy of one instance never run concurrently. Different
 * collectors run concurrently, so a collector must not touch another's state.
 */
#ifndef CAIRN_PLUGINS_H
#define CAIRN_PLUGINS_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter/exporter.h"

/* A collector option, set by --collector.<collector>.<name>=VALUE or in the
 * YAML `collectors.<collector>.<name>`. `def` is the default (may be NULL:
 * unset). Names use node_exporter's spelling ("mount-points-exclude").
 * An option whose default is "true" or "false" is a boolean flag:
 * --collector.<collector>.<name> alone sets it, --no-collector.<...> clears
 * it; read it with plg_config_bool(). */
struct plg_option {
    const char *name;
    const char *def;
    const char *help;
};

/* Where collectors read from; node_exporter's --path.* flags. */
struct plg_paths {
    const char *procfs;    /* default /proc */
    const char *sysfs;     /* default /sys */
    const char *rootfs;    /* default / */
    const char *udev_data; /* default /run/udev/data */
};

/* What init receives: the paths and this collector's option values. */
struct plg_config {
    const struct plg_paths *paths;
    const struct plg_collector *collector;
    /* values[i] belongs to collector->options[i]; NULL when unset */
    const char *const *values;
    /* Where init explains a failure (plg_config_fail); may be NULL. */
    char *errbuf;
    size_t errcap;
};

/* Reads boolean option `name` as Go's strconv.ParseBool does (1 t T true
 * TRUE True / 0 f F false FALSE False). 0, or -EINVAL recorded with
 * plg_config_fail. */
int plg_config_bool(const struct plg_config *cfg, const char *name, bool *out);

/* Records why init failed (printf-style, e.g. "option device-exclude: bad
 * regular expression ...") and returns err (negative). */
int plg_config_fail(const struct plg_config *cfg, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Returns the value of option `name` (configured or default), NULL if the
 * option is unset or unknown. Borrowed: valid during init only. */
const char *plg_config_get(const struct plg_config *cfg, const char *name);

/* The value option `name` was given on the command line or in the YAML,
 * NULL when it was left at its default (or is unknown). Borrowed, as
 * plg_config_get. */
const char *plg_config_explicit(const struct plg_config *cfg, const char *name);

/*
 * An option with a deprecated spelling, as node_exporter 1.5 handles its
 * renamed flags (filesystem's ignored-mount-points, now mount-points-exclude;
 * diskstats' ignored-devices, now device-exclude): when `old` is set to a
 * non-empty value it replaces `name`, and setting both is an error. Sets
 * *out to the value to use (the default of `name` when neither is set).
 * Returns 0, or -EINVAL recorded with plg_config_fail.
 */
int plg_config_renamed(const struct plg_config *cfg, const char *name, const char *old,
                       const char **out);

/*
 * What collect receives. `b` is the builder for this cycle; `paths` are the
 * same as at init. A collector reports failure by returning plg_fail(...),
 * which records a message for the log and returns the error code; series
 * added before a failure are still exported, and
 * node_scrape_collector_success is 0 for the cycle.
 */
struct plg_files;

struct plg_collect {
    struct exp_builder *b;
    const struct plg_paths *paths;
    struct plg_files *files; /* this collector's open files; may be NULL */
    char errmsg[256];
    bool nodata; /* the failure means "this host has no such device" */
};

/* Records a failure message (printf-style) and returns err (negative). */
int plg_fail(struct plg_collect *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As plg_fail, for "nothing to collect on this host" (no /proc/mdstat, no
 * nvme class): success is 0 as node_exporter reports it, logged at debug. */
int plg_nodata(struct plg_collect *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct plg_collector {
    const char *name;
    bool default_enabled;
    const struct plg_option *options; /* terminated by {NULL}; may be NULL */
    /* Sets *state (may stay NULL). Returns 0 or a negative errno; a failing
     * init is reported like a failing collect and retried on reload. */
    int (*init)(const struct plg_config *cfg, void **state);
    /* Fills c->b. Returns 0, or the result of plg_fail()/plg_nodata(). */
    int (*collect)(void *state, struct plg_collect *c);
    /* Frees state (may be NULL). May be NULL when there is no state. */
    void (*destroy)(void *state);
    /* The NAME in --collector.NAME.OPTION when it is not the collector's
     * name (node_exporter's powersupplyclass takes
     * --collector.powersupply.*). NULL: the collector's name. */
    const char *option_prefix;
};

/* For a collector whose only state is one buffer, reused from cycle to
 * cycle for a file that grows with the host (per-CPU or per-socket tables):
 * use these as .init and .destroy; the state is then a struct cn_buf *. */
int plg_buf_state_init(const struct plg_config *cfg, void **state);
void plg_buf_state_destroy(void *state);

/* The built-in collectors, NULL-terminated, sorted by name. */
const struct plg_collector *const *plg_builtin_collectors(void);
/* Looks a built-in collector up by name; NULL if unknown. */
const struct plg_collector *plg_find_collector(const char *name);

/* ---- helpers shared by collectors --------------------------------------- */

/*
 * Most collectors reproduce what node_exporter 1.5 and prometheus/procfs do
 * in Go, so these helpers are small C equivalents of the Go functions the
 * collectors would otherwise each copy: strconv.ParseBool/ParseUint/
 * ParseInt/ParseFloat, strings.Fields, strings.ToValidUTF8, procfs'
 * util.SysReadFile and ReadUintFromFile. They follow Go's rules exactly,
 * including the corner cases (base prefixes, underscores, hexadecimal
 * floats), because a value Go rejects makes node_exporter fail or skip
 * something and cairn must do the same. They work in caller-provided
 * buffers and never allocate, except plg_parse_float for numbers longer
 * than 127 bytes. All are safe to call from any thread.
 */

/* Builds "<root>/<rel>" into out (PATH_MAX-sized); returns out or NULL. */
char *plg_proc(char *out, const struct plg_paths *p, const char *rel);
char *plg_sys(char *out, const struct plg_paths *p, const char *rel);
char *plg_root(char *out, const struct plg_paths *p, const char *rel);

/* The mount point as node_exporter labels it: path with the --path.rootfs
 * prefix removed ("/" when nothing is left); path itself when rootfs is
 * NULL or "/" or not a prefix. Returns a pointer into path or "/". */
const char *plg_strip_rootfs(const char *path, const char *rootfs);

/* Reads the mount table as node_exporter does: <procfs>/1/mounts (the
 * host's view from a container), or <procfs>/mounts when that does not
 * exist (hidepid), under c->paths and through c->files (plg_read_buf).
 * buf receives the content, NUL-terminated; path (PATH_MAX bytes) the file
 * that was read or tried last. 0 or a negative errno. */
int plg_read_mounts(struct plg_collect *c, struct cn_buf *buf, size_t max, char *path);

/* Undoes, in place, the fstab(5) escapes of a mount point that node_exporter
 * undoes: "\040" (space) and "\011" (tab). */
void plg_unescape_mount(char *s);

/* ---- text ---- */

/* ASCII white space: ' ', \t, \n, \v, \f, \r -- what Go's unicode.IsSpace
 * accepts below 0x80 and C's isspace in the C locale. */
static inline bool plg_is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Go's strings.TrimSpace for ASCII: the bytes of PLG_SPACE. */
#define PLG_SPACE " \t\n\v\f\r"

/*
 * Line iterator over the buffer [*pos, end), where *end is a NUL byte (as
 * cn_read_file and cn_read_file_buf leave it). Returns the line at *pos with
 * its '\n' replaced by NUL, stores its length in *len (if len is not NULL)
 * and advances *pos past it; NULL once *pos reaches end. A last line without
 * '\n' is returned too; a trailing '\n' does not make an empty last line
 * (unlike Go's strings.Split, like bufio.Scanner). A '\r' is kept.
 *
 *     for (char *p = buf, *line; (line = plg_next_line(&p, buf + n, NULL));)
 */
char *plg_next_line(char **pos, char *end, size_t *len);

/* Field iterator, as Go's strings.Fields for ASCII white space: returns the
 * next run of non-space bytes of the NUL-terminated string at *pos (NULL when
 * only white space is left), stores its length in *len and advances *pos to
 * the byte after it. Does not modify the string. */
char *plg_next_field(char **pos, size_t *len);

/* Go's strings.Fields, in place: NUL-terminates every field of s and stores
 * pointers to the first max of them in fields. Returns how many fields s has
 * (which may be more than max). */
int plg_fields(char *s, char **fields, int max);

/* Whether name matches the glob "<prefix>[0-9]*" (mc0, cpu12, csrow3x...). */
bool plg_glob_num(const char *name, const char *prefix);

/* Writes v in decimal, for a label value, into buf (at least
 * PLG_U64_LEN bytes); returns buf. */
#define PLG_U64_LEN 21
char *plg_fmt_u64(char *buf, uint64_t v);

/* Length of the valid UTF-8 sequence at s (n > 0 bytes available), 0 if the
 * bytes there are not one (as Go's utf8.DecodeRune returning RuneError, 1). */
size_t plg_utf8_len(const char *s, size_t n);
/* Go's strings.ToValidUTF8(in, "\uFFFD"): each run of invalid bytes becomes
 * one U+FFFD. out (cap bytes, NUL-terminated) may be up to 3 times as long
 * as in; what does not fit is cut at a character boundary. */
void plg_valid_utf8(const char *in, char *out, size_t cap);

/* ---- numbers ---- */

/*
 * Go's strconv.ParseUint(s[0..n), base, bits): the whole string, no sign, no
 * surrounding blanks. base 0 takes the prefix into account ("0x1f", "0o17",
 * "0b11", a leading "0" for octal) and allows underscores between digits
 * ("1_000"); base 2..36 takes plain digits. bits (0 = 64) limits the range.
 * Returns 0, -EINVAL (not a number, bad base or bits) or -ERANGE (too
 * large); *out is set only on success.
 */
int plg_parse_uint(const char *s, size_t n, int base, int bits, uint64_t *out);
/* Go's strconv.ParseInt: as plg_parse_uint with an optional sign. */
int plg_parse_int(const char *s, size_t n, int base, int bits, int64_t *out);
/* Go's strconv.ParseFloat(s[0..n), 64): decimal or hexadecimal (with a 'p'
 * exponent) floating point, "inf"/"infinity"/"nan" in any case (no sign on
 * nan), underscores between digits; no surrounding blanks. Returns 0,
 * -EINVAL, -ERANGE (overflow; underflow gives 0 or a denormal, as in Go) or
 * -ENOMEM (a number longer than 127 bytes could not be copied). */
int plg_parse_float(const char *s, size_t n, double *out);

/* ---- files ---- */

/*
 * A collector's cache of open files (see files.c): procfs and sysfs files
 * read every cycle stay open and are re-read from offset 0, which the kernel
 * answers with fresh content, saving the path walk of an open. The
 * scheduler owns one per collector and sweeps it after every cycle; files
 * not read in a cycle are closed then. Not thread-safe: one collector's.
 */
struct plg_files;

/* At most max_open descriptors are kept; further files are read plainly. */
struct plg_files *plg_files_create(size_t max_open);
void plg_files_destroy(struct plg_files *f); /* accepts NULL */
/* Closes the files not read since the last sweep. Accepts NULL. */
void plg_files_sweep(struct plg_files *f);
size_t plg_files_open_count(const struct plg_files *f);
/* How many files were opened through f since it was created, kept or not
 * (0 for NULL): a cycle that finds all its files cached adds none. */
size_t plg_files_opened(const struct plg_files *f);

/*
 * cn_read_file() and cn_read_file_buf() through c->files (plain reads when
 * c or c->files is NULL): same results and errors. A cached descriptor that
 * fails as a vanished file does (ENODEV, ESTALE, ENOENT, EBADF) is reopened
 * once, so a device re-created under the same name is read afresh.
 */
long plg_read(struct plg_collect *c, const char *path, char *buf, size_t cap);
int plg_read_buf(struct plg_collect *c, const char *path, struct cn_buf *out, size_t max);

/*
 * Read a small file holding one number as prometheus/procfs's
 * util.ReadUintFromFile / ReadIntFromFile do: the whole file (at most 63
 * bytes), surrounding white space trimmed, then Go's ParseUint/ParseInt(s,
 * 10, 64) (plg_read_double: ParseFloat). The file is read with plg_read(c,
 * ...): through c->files during collect, plainly when c is NULL (init).
 * Return 0; -EBADMSG when the file was read but does not hold such a number
 * (too long, not a number, out of range); or the negative errno of opening
 * or reading it.
 */
int plg_read_u64(struct plg_collect *c, const char *path, uint64_t *out);
int plg_read_i64(struct plg_collect *c, const char *path, int64_t *out);
int plg_read_double(struct plg_collect *c, const char *path, double *out);
/* plg_read_u64 during collect, for callers that report a bad file as
 * node_exporter's "<what>: ..." errors: returns 0; -ENOENT, not recorded, so
 * that the caller decides what a missing file means; or, recorded with
 * plg_fail, -EINVAL ("<what>: invalid number in <path>") or the error of
 * reading ("<what>: <path>: <error>"). */
int plg_collect_u64(struct plg_collect *c, const char *path, const char *what, uint64_t *out);

/*
 * sysfs attributes as procfs's util.SysReadFile reads them: a single read(2)
 * of at most PLG_SYSFS_MAX bytes (some drivers misbehave on a second read,
 * others return EAGAIN forever, which os.ReadFile would poll).
 *
 * plg_sysfs_pread reads the open file fd from offset 0 -- sysfs regenerates
 * the value on every such read, so a kept-open fd can be read each cycle --
 * into out (PLG_SYSFS_MAX + 1 bytes), trims the bytes of cutset from both
 * ends (PLG_SPACE as procfs's TrimSpace, "\n" as node_exporter's hwmon, NULL
 * for none) and NUL-terminates.
 *
 * plg_sysfs_read_at reads the attribute at path so, with a descriptor kept
 * in c->files (see plg_read; opened, read once and closed when c or
 * c->files is NULL). When dirfd is not AT_FDCWD it is an open directory
 * holding the attribute, and path's last component is opened relative to it
 * when the file is not cached, sparing the walk of the whole path; path
 * still names the file (in the cache and for a reopen). at_open (may be
 * NULL) is set to whether a failure came from open(2) rather than read(2).
 * plg_sysfs_read is plg_sysfs_read_at(c, AT_FDCWD, path, PLG_SPACE, out,
 * NULL).
 *
 * All return the length of the result, or the negative errno of open(2) or
 * read(2) (out is then "").
 */
#define PLG_SYSFS_MAX 128
long plg_sysfs_pread(int fd, char *out, const char *cutset);
long plg_sysfs_read_at(struct plg_collect *c, int dirfd, const char *path, const char *cutset,
                       char *out, bool *at_open);
long plg_sysfs_read(struct plg_collect *c, const char *path, char *out);

/*
 * A compiled include/exclude filter, as node_exporter's device filters: an
 * item is ignored when `exclude` matches it, or when `include` is set and
 * does not match it. Patterns are PCRE2 and match anywhere in the item, as
 * Go's regexp.MatchString does; anchor them with ^ and $ as node_exporter's
 * defaults do.
 */
struct plg_filter;
/* Either pattern may be NULL or "". On a bad pattern returns -EINVAL and
 * writes the reason into err (size errcap). */
int plg_filter_create(const char *include, const char *exclude, struct plg_filter **out, char *err,
                      size_t errcap);
bool plg_filter_ignored(const struct plg_filter *f, const char *item);
void plg_filter_destroy(struct plg_filter *f);

/* Iterates directory entries (skipping "." and ".."), sorted by name. Returns
 * the number of names (caller frees with plg_dir_free) or a negative errno. */
int plg_dir_list(const char *path, char ***names);
void plg_dir_free(char **names, int n);

#endif
