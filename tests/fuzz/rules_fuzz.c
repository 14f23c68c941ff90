/*
 * libFuzzer target for the rules loader: evt_rules_load on arbitrary bytes
 * as a YAML rules file, appended to a set that already holds one rule.
 *
 * Beyond "no crash, no leak, no UB": a refused file leaves the set as it
 * was (one rule, still matching) and its message names the file and a
 * position ("f.yml:LINE:COLUMN: ..."); an accepted file adds rules that
 * match a few kernel lines and the input itself (as a line) without
 * failing, each event with a valid type and bounded message and
 * attributes.
 *
 * Seeds: tests/fuzz/corpus/rules/. Run: rules_fuzz -max_total_time=60 corpus/rules
 */
#include "events/events.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] = "rules:\n  - {type: Base, severity: info, pattern: 'cairn-base'}\n";

static void check_line(struct evt_rules_matcher *m, const char *line, size_t len)
{
    struct evt_event ev;
    evt_event_init(&ev);
    int rc = evt_rules_match(m, line, len, &ev);
    if (rc == 1) {
        if (!evt_type_valid(ev.type) || !ev.message || strlen(ev.message) > EVT_MESSAGE_MAX ||
            ev.nattrs > EVT_ATTRS_MAX || (unsigned)ev.source >= EVT_SRC_COUNT ||
            (unsigned)ev.severity >= EVT_SEV_COUNT)
            abort();
        for (size_t i = 0; i < ev.nattrs; i++)
            if (!evt_attr_name_valid(ev.attrs[i].name) ||
                strlen(ev.attrs[i].value) > EVT_ATTR_VALUE_MAX)
                abort();
    } else if (rc != 0) {
        abort();
    }
    evt_event_clear(&ev);
}

/* "f.yml:" then digits ":" digits ": " and a reason. */
static bool positioned(const char *err)
{
    if (strncmp(err, "f.yml:", 6))
        return false;
    const char *p = err + 6;
    for (int field = 0; field < 2; field++) {
        if (!isdigit((unsigned char)*p) || *p == '0')
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p++ != ':')
            return false;
    }
    return *p == ' ' && p[1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evt_rules *r;
    char err[512];
    if (evt_rules_create(&r))
        return 0;
    if (evt_rules_load(r, "base.yml", base, sizeof(base) - 1, err, sizeof(err)))
        abort();
    err[0] = '\0';
    int rc = evt_rules_load(r, "f.yml", (const char *)data, size, err, sizeof(err));
    if (rc == -EINVAL) {
        if (evt_rules_count(r) != 1 || !positioned(err))
            abort();
    } else if (rc != 0) {
        abort(); /* -ENOMEM is not expected without failure injection */
    }
    struct evt_rules_matcher *m;
    if (evt_rules_matcher_create(r, &m))
        abort();
    static const char *const lines[] = {
        "cairn-base",
        "Out of memory: Killed process 4242 (cairn-victim) total-vm:1024kB",
        "e1000e 0000:00:19.0 eth0: NIC Link is Down",
        "",
        "\xff\xfe\xc3 invalid UTF-8",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        check_line(m, lines[i], strlen(lines[i]));
    check_line(m, (const char *)data, size);
    if (rc == -EINVAL) {
        struct evt_event ev;
        evt_event_init(&ev);
        if (evt_rules_match(m, "cairn-base", 10, &ev) != 1 || strcmp(ev.type, "Base"))
            abort();
        evt_event_clear(&ev);
    }
    evt_rules_matcher_destroy(m);
    evt_rules_destroy(r);
    return 0;
}
