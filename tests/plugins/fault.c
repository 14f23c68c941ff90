/*
 * cairn-test-fault: a plugin that misbehaves on request, for the tests of
 * the plugin host and the SDK. The behaviour is one word in the file named by
 * FAULT_MODE_FILE, read at start and at every Collect, so that a test can
 * change it while the plugin runs (a missing file or an unknown word: ok):
 *
 *   ok            gauge fault_test_up 1, counter fault_test_collects_total
 *                 (Collect calls so far), gauge fault_test_pid (getpid())
 *   exit_at_start says so on stderr and exits 3 before serving (at start only)
 *   fail          the collect fails with "fault: failing on purpose"
 *   segv          dies of SIGSEGV inside collect
 *   hang          sleeps an hour inside collect, ignoring the deadline
 *   oversized     about 8 MiB: 40,000 series with 180-byte label values
 *   invalid       the ok series plus what the host must reject: a family
 *                 named 1bad_name, a label named bad-label, a NaN counter and
 *                 a gauge with the same label set twice
 *   stderr_flood  the ok series; the first such collect starts a thread that
 *                 writes lines to stderr in a tight loop forever
 *   many_series   gauge fault_test_many{i="0".."14999"} plus the ok series
 *
 * The SDK's builder does not validate, so the invalid output is built with
 * it like the rest.
 */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairn/plugin.h>

enum mode { OK, EXIT_AT_START, FAIL, SEGV, HANG, OVERSIZED, INVALID, STDERR_FLOOD, MANY_SERIES };

static const char *const mode_names[] = {
    [OK] = "ok",
    [EXIT_AT_START] = "exit_at_start",
    [FAIL] = "fail",
    [SEGV] = "segv",
    [HANG] = "hang",
    [OVERSIZED] = "oversized",
    [INVALID] = "invalid",
    [STDERR_FLOOD] = "stderr_flood",
    [MANY_SERIES] = "many_series",
};

struct fault {
    const char *mode_file; /* NULL: always ok */
    double collects;
    int flooding; /* the stderr flood thread runs */
};

static enum mode read_mode(const char *file)
{
    char word[32] = "";
    FILE *f = file ? fopen(file, "r") : NULL;
    if (!f)
        return OK;
    int n = fscanf(f, "%31s", word);
    fclose(f);
    for (size_t i = 0; n == 1 && i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
        if (strcmp(word, mode_names[i]) == 0)
            return (enum mode)i;
    return OK;
}

static void *flood_stderr(void *arg)
{
    (void)arg;
    const char line[] = "fault: flooding stderr with one line after another\n";
    for (;;)
        if (write(STDERR_FILENO, line, sizeof(line) - 1) < 0)
            usleep(1000); /* the reader has gone: do not spin */
    return NULL;
}

static int add_ok(struct cairn_collect *c, const struct fault *f)
{
    if (cairn_gauge(c, "fault_test_up", "Always 1.", 1, NULL) < 0 ||
        cairn_counter(c, "fault_test_collects_total", "Collect calls so far.", f->collects, NULL) <
            0 ||
        cairn_gauge(c, "fault_test_pid", "The plugin's process ID.", (double)getpid(), NULL) < 0)
        return cairn_collect_fail(c, "fault: cannot build the ok series");
    return 0;
}

/* n series of the gauge name, labelled i="0".."n-1" and, when pad is not
 * NULL, pad=pad. */
static int add_many(struct cairn_collect *c, const char *name, int n, const char *pad)
{
    struct cairn_family *fam = cairn_family(c, name, "Many series.", CAIRN_GAUGE);
    for (int i = 0; i < n; i++) {
        char idx[16];
        snprintf(idx, sizeof(idx), "%d", i);
        if (cairn_add(fam, i, "i", idx, pad ? "pad" : NULL, pad, NULL) < 0)
            return cairn_collect_fail(c, "fault: cannot build %s", name);
    }
    return 0;
}

static int add_invalid(struct cairn_collect *c)
{
    struct cairn_family *dup = cairn_family(c, "fault_test_dup", "Twice.", CAIRN_GAUGE);
    if (cairn_gauge(c, "1bad_name", "Invalid metric name.", 1, NULL) < 0 ||
        cairn_gauge(c, "fault_test_badlabel", "Invalid label name.", 1, "bad-label", "x", NULL) <
            0 ||
        cairn_counter(c, "fault_test_nan_total", "NaN counter.", NAN, NULL) < 0 ||
        cairn_add(dup, 1, "a", "1", NULL) < 0 || cairn_add(dup, 2, "a", "1", NULL) < 0)
        return cairn_collect_fail(c, "fault: cannot build the invalid series");
    return 0;
}

static int collect(struct cairn_collect *c, void *user)
{
    struct fault *f = user;
    f->collects++;
    switch (read_mode(f->mode_file)) {
    case FAIL: return cairn_collect_fail(c, "fault: failing on purpose");
    case SEGV:
        /* The default action, whatever handler a sanitizer installed: the
         * host must see a death by signal. */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        return cairn_collect_fail(c, "fault: still alive after SIGSEGV");
    case HANG: sleep(3600); break;
    case OVERSIZED: {
        char pad[181];
        memset(pad, 'x', sizeof(pad) - 1);
        pad[sizeof(pad) - 1] = '\0';
        return add_many(c, "fault_test_oversized", 40000, pad);
    }
    case INVALID:
        if (add_invalid(c) < 0)
            return -1;
        break;
    case STDERR_FLOOD:
        if (!f->flooding) {
            pthread_t t;
            if (pthread_create(&t, NULL, flood_stderr, NULL) == 0) {
                pthread_detach(t);
                f->flooding = 1;
            }
        }
        break;
    case MANY_SERIES:
        if (add_many(c, "fault_test_many", 15000, NULL) < 0)
            return -1;
        break;
    default: break;
    }
    return add_ok(c, f);
}

int main(void)
{
    struct fault f = {.mode_file = getenv("FAULT_MODE_FILE")};
    if (read_mode(f.mode_file) == EXIT_AT_START) {
        fprintf(stderr, "fault: exiting at start\n");
        return 3;
    }
    struct cairn_plugin p = {.name = "fault", .version = "1.0", .collect = collect, .user = &f};
    return cairn_plugin_serve(&p);
}
