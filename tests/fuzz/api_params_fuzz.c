/*
 * libFuzzer target for the HTTP API's parameter decoding (agent/api.c): the
 * input is a query string or form body for agent_form_parse, and each
 * decoded value also goes through agent_parse_time, agent_parse_duration
 * and the JSON string encoder. Beyond "no crash, no leak, no UB": the
 * decoder keeps every pair it accepts NUL-terminated and never more pairs
 * than '&'-separated parts; a time parsed as Unix seconds or RFC 3339 and
 * written back as seconds parses again to the same millisecond; the JSON
 * encoding of any value is a quoted string with no raw control byte. The
 * same parameters go to GET /api/v1/events (without an event store): the
 * answer is a 400 for bad parameters or the 503 that good ones get.
 *
 * Seeds: tests/fuzz/corpus/api_params/. Run: api_params_fuzz -max_total_time=60 corpus/api_params
 */
#include "agent/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct agent_params p = {0};
    if (agent_form_parse(&p, text, size) != 0)
        abort(); /* no allocation fails here */
    size_t parts = 1;
    for (size_t i = 0; i < size; i++)
        parts += text[i] == '&';
    if (p.n > parts)
        abort();
    struct cn_buf b;
    cn_buf_init(&b);
    for (size_t i = 0; i < p.n; i++) {
        const char *v = p.v[i].value;
        int64_t ms, again, ns;
        if (agent_parse_time(v, &ms) == 0) {
            char back[48];
            snprintf(back, sizeof(back), "%s%lld.%03lld", ms < 0 ? "-" : "",
                     (long long)(ms < 0 ? -(ms / 1000) : ms / 1000),
                     (long long)(ms < 0 ? -(ms % 1000) : ms % 1000));
            if (ms != AGENT_API_MIN_TIME && ms != AGENT_API_MAX_TIME &&
                (agent_parse_time(back, &again) != 0 || again != ms))
                abort();
        }
        agent_parse_duration(v, &ns);
        cn_buf_reset(&b);
        agent_json_string(&b, v);
        const char *j = cn_buf_cstr(&b);
        if (b.len < 2 || j[0] != '"' || j[b.len - 1] != '"')
            abort();
        for (size_t k = 0; k < b.len; k++)
            if ((unsigned char)j[k] < 0x20)
                abort();
    }
    cn_buf_free(&b);
    struct agent_api_reply reply = {0};
    cn_buf_init(&reply.body);
    agent_events_api(NULL, &p, &reply);
    if ((reply.code != 400 && reply.code != 503) || reply.body.err ||
        strncmp(cn_buf_cstr(&reply.body), "{\"status\":\"error\"", 17))
        abort();
    cn_buf_free(&reply.body);
    agent_params_free(&p);
    free(text);
    return 0;
}
