/*
 * Test harness for collectors: runs one built-in collector against a fixture
 * tree and returns what it exported, rendered in the text format.
 *
 * Fixture trees live in tests/fixtures/<collector>/<case>/ with proc/, sys/
 * and root/ (and udev/) subfolders standing in for /proc, /sys, / and
 * /run/udev/data.
 */
#ifndef CAIRN_TEST_HARNESS_H
#define CAIRN_TEST_HARNESS_H

#include <stdbool.h>

#include "plugins/plugins.h"

struct harness_result {
    int rc;           /* collect's return value (init's if init failed) */
    bool nodata;      /* the failure was plg_nodata */
    char errmsg[256]; /* the collector's failure message */
    char *text;       /* text-format rendering of the families (malloc'd) */
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

/* Whether text holds exactly this line. */
bool harness_has_line(const char *text, const char *line);
/* Path of a fixture folder: CAIRN_SOURCE_DIR/tests/fixtures/<rel>. Static buffer per call
 * site is not used: writes into out (PATH_MAX). */
char *harness_fixture(char *out, const char *rel);

#endif
