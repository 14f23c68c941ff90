/*
 * Test harness for collectors: runs one built-in collector against a fixture
 * tree and returns what it exported, rendered in the text format.
 *
 * Fixture trees live in tests/fixtures/<collector>/<case>/ with proc/, sys/
 * and root/ (and udev/) subfolders standing in for /proc, /sys, / and
 * /run/udev/data.
 *
 * Beyond one-shot runs (harness_run), a test can drive one collector
 * instance over several cycles (struct harness_instance), to test the state a
 * collector keeps between cycles; look at rendered text (harness_count_*,
 * harness_sample); read expected outputs stored next to the fixtures
 * (harness_read_fixture); and build throw-away trees in a temporary directory
 * (harness_tmpdir, harness_write_file, harness_rmtree).
 *
 * Every function fails the calling test (Criterion assertion) on an
 * unexpected error instead of returning it, so tests need no error paths.
 */
#ifndef CAIRN_TEST_HARNESS_H
#define CAIRN_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>

#include "plugins/plugins.h"

struct harness_result {
    int rc;           /* collect's return value (init's if init failed) */
    bool nodata;      /* the failure was plg_nodata */
    char errmsg[256]; /* the collector's failure message */
    char *text;       /* text-format rendering of the families (malloc'd) */
    double ms;        /* how long collect took, in milliseconds */
};

/*
 * Runs collector `name` once with paths under tests/fixtures/<fixture>
 * (e.g. "loadavg/ok"). opts is a NULL-terminated list of "option=value"
 * strings (may be NULL). Fails the test if the collector is unknown.
 */
struct harness_result harness_run(const char *name, const char *fixture, const char *const *opts);
/* As harness_run, with explicit absolute paths (NULL: the fixture's). */
struct harness_result harness_run_paths(const char *name, const struct plg_paths *paths,
                                        const char *const *opts);
void harness_free(struct harness_result *r);

/* ---- one collector instance over several cycles --------------------------- */

struct harness_instance {
    const struct plg_collector *col;
    void *state;
    struct plg_files *files; /* NULL: plain reads (harness_use_files) */
    struct plg_paths paths;  /* point into the buffers below */
    char proc[PATH_MAX + 8], sys[PATH_MAX + 8], root[PATH_MAX + 8], udev[PATH_MAX + 8];
};

/* Initialises collector `name` with opts (as harness_run) and its paths at
 * tests/fixtures/<fixture> (fixture may be NULL: harness_point_dir later).
 * Fails the test if init fails. */
void harness_start(struct harness_instance *h, const char *name, const char *fixture,
                   const char *const *opts);
/* As harness_start, returning init's result (0 or a negative errno) rather
 * than failing the test; on failure the instance needs no harness_stop. */
int harness_try_start(struct harness_instance *h, const char *name, const char *fixture,
                      const char *const *opts);
/* As harness_start, with explicit absolute paths (copied into the
 * instance), such as the live system's {"/proc", "/sys", "/",
 * "/run/udev/data"}. */
void harness_start_paths(struct harness_instance *h, const char *name,
                         const struct plg_paths *paths, const char *const *opts);
/* Gives the instance a cache of at most max_open open files, as the
 * scheduler gives every collector: later cycles read through it and sweep
 * it at their end, as the scheduler does; harness_stop destroys it. Look at
 * it with plg_files_open_count(h->files) and plg_files_opened(h->files). */
void harness_use_files(struct harness_instance *h, size_t max_open);
/* Points the paths at <base>/{proc,sys,root,udev}, base an absolute
 * directory, or at tests/fixtures/<fixture>/... */
void harness_point_dir(struct harness_instance *h, const char *base);
void harness_point(struct harness_instance *h, const char *fixture);
/* Runs one collect cycle on the instance, first pointing it at fixture when
 * that is not NULL. The result is as harness_run's (free with harness_free). */
struct harness_result harness_cycle(struct harness_instance *h, const char *fixture);
/* Destroys the instance's state and its file cache. */
void harness_stop(struct harness_instance *h);

/* ---- looking at rendered text ------------------------------------------------ */

/* Whether text holds exactly this line. */
bool harness_has_line(const char *text, const char *line);
/* How many lines of text start with prefix. */
int harness_count_prefix(const char *text, const char *prefix);
/* How many lines of text contain needle. */
int harness_count_lines(const char *text, const char *needle);
/* How many sample lines text has (lines that are not # comments). */
int harness_count_samples(const char *text);
/* The value of the sample line "<series> <value>" of text, series being the
 * metric name followed by its labels as rendered, if any. Fails the test when
 * there is no such line or its value does not parse. */
double harness_sample(const char *text, const char *series);

/* ---- files -------------------------------------------------------------------- */

/* Path of a fixture folder: CAIRN_SOURCE_DIR/tests/fixtures/<rel>, written
 * into out (PATH_MAX); returns out. */
char *harness_fixture(char *out, const char *rel);
/* The whole content of tests/fixtures/<rel> (an expected output stored next
 * to a fixture tree), malloc'd. */
char *harness_read_fixture(const char *rel);
/* Creates a fresh directory /tmp/cairn-<tag>-XXXXXX; its path goes into out
 * (PATH_MAX), which is returned. Remove it with harness_rmtree. */
char *harness_tmpdir(char *out, const char *tag);
/* Writes content to the file at path, creating its missing parent
 * directories. */
void harness_write_file(const char *path, const char *content);
/* Creates the directory path and its missing parents. */
void harness_mkdirs(const char *path);
/* Removes path and, if it is a directory, everything below it. */
void harness_rmtree(const char *path);

#endif
