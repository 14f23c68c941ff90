/*
 * libFuzzer target for the kernel log reader: evt_kmsg_parse on the input
 * (one record), the parsed message matched against the built-in default
 * rules, and the file follower on the input as a file of records, given in
 * two pieces (the file grows between reads).
 *
 * Beyond "no crash, no leak, no UB": a parsed record has a level 0..7, a
 * facility 0..255, a NUL-terminated message of msglen bytes within the
 * record buffer and NUL-terminated dictionary values; a matched event has a
 * valid type, a message of at most EVT_MESSAGE_MAX bytes and at most
 * EVT_ATTRS_MAX attributes; the follower returns only such records, never
 * more than the lines given, and its counters add up.
 *
 * The default rules are compiled once (LLVMFuzzerInitialize) and kept in
 * statics: compiling 30 patterns per input would drown the fuzzing.
 *
 * Seeds: tests/fuzz/corpus/kmsg/. Run: kmsg_fuzz -max_total_time=60 corpus/kmsg
 */
#include "events/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct evt_rules *rules;
static struct evt_rules_matcher *matcher;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    size_t len;
    char err[512];
    const char *text = evt_default_rules(&len);
    if (evt_rules_create(&rules) ||
        evt_rules_load(rules, EVT_DEFAULT_RULES_NAME, text, len, err, sizeof(err)) ||
        evt_rules_matcher_create(rules, &matcher)) {
        fprintf(stderr, "default rules: %s\n", err);
        abort();
    }
    return 0;
}

static void check_record(const struct evt_kmsg_record *rec)
{
    if (rec->level < 0 || rec->level > 7 || rec->facility < 0 || rec->facility > 255)
        abort();
    if (rec->msglen >= sizeof(rec->msg) || rec->msg[rec->msglen] != '\0')
        abort();
    if (!memchr(rec->subsystem, '\0', sizeof(rec->subsystem)) ||
        !memchr(rec->device, '\0', sizeof(rec->device)))
        abort();
    if (rec->flag <= ' ' || rec->flag > '~')
        abort();
}

static void check_match(const struct evt_kmsg_record *rec)
{
    struct evt_event ev;
    evt_event_init(&ev);
    int rc = evt_rules_match(matcher, rec->msg, rec->msglen, &ev);
    if (rc == 1) {
        if (!evt_type_valid(ev.type) || !ev.message || strlen(ev.message) > EVT_MESSAGE_MAX ||
            ev.nattrs > EVT_ATTRS_MAX || (unsigned)ev.source >= EVT_SRC_COUNT ||
            (unsigned)ev.severity >= EVT_SEV_COUNT)
            abort();
        for (size_t i = 0; i < ev.nattrs; i++)
            if (!evt_attr_name_valid(ev.attrs[i].name) ||
                strlen(ev.attrs[i].value) > EVT_ATTR_VALUE_MAX)
                abort();
    } else if (rc != 0 || ev.message || ev.nattrs) {
        abort();
    }
    evt_event_clear(&ev);
}

/* The input as a file of records, written in two pieces. */
static void follow(const uint8_t *data, size_t size, struct evt_kmsg_record *rec)
{
    int fd = memfd_create("kmsg_fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    size_t half = size / 2;
    if (write(fd, data, half) != (ssize_t)half) {
        close(fd);
        return;
    }
    struct evt_kmsg *k;
    char err[256];
    if (evt_kmsg_open(path, &k, err, sizeof(err))) {
        close(fd);
        return;
    }
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    uint64_t got = 0;
    int rc;
    while ((rc = evt_kmsg_next(k, 0, rec)) == 1) {
        check_record(rec);
        got++;
    }
    if (rc != 0 || write(fd, data + half, size - half) != (ssize_t)(size - half))
        abort();
    while ((rc = evt_kmsg_next(k, 0, rec)) == 1) {
        check_record(rec);
        got++;
    }
    if (rc != 0)
        abort();
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    if (st.records != got || got > lines || st.malformed > lines || st.truncated > got ||
        st.reopened > got || st.have_seq != (got > 0))
        abort();
    evt_kmsg_close(k);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evt_kmsg_record *rec = malloc(sizeof(*rec)); /* 8 KiB: off the stack */
    if (!rec)
        return 0;
    int rc = evt_kmsg_parse((const char *)data, size, rec);
    if (rc == 0) {
        check_record(rec);
        check_match(rec);
    } else if (rc != -EINVAL) {
        abort();
    }
    /* The raw input as a line too: the rules see whatever bytes come. */
    struct evt_event ev;
    evt_event_init(&ev);
    if (evt_rules_match(matcher, (const char *)data, size, &ev) < 0)
        abort();
    evt_event_clear(&ev);
    follow(data, size, rec);
    free(rec);
    return 0;
}
