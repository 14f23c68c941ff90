/*
 * libFuzzer target for the text exposition parser: exp_parse_text on
 * arbitrary bytes into a fresh builder, then both encoders over whatever it
 * accepted. Beyond "no crash, no leak, no UB", two properties are checked:
 * a rejection always names a line and a reason, and an accepted input that
 * is encoded to text and parsed again (when that succeeds: suffix-named
 * families such as an untyped foo_sum next to a summary foo are ambiguous in
 * the format itself) encodes to the same bytes.
 *
 * Seeds: tests/fuzz/corpus/parse/. Run: parse_fuzz -max_total_time=60 corpus/parse
 */
#include "exporter/exporter.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parses data into a new finished builder; NULL if the parser refused it. */
static struct exp_builder *parse(const char *data, size_t size)
{
    struct exp_builder *b = exp_builder_create();
    if (!b)
        return NULL;
    struct exp_parse_error err;
    int rc = exp_parse_text(data, size, b, &err);
    if (rc) {
        if (rc == -EINVAL && (err.line < 1 || err.msg[0] == '\0'))
            abort(); /* an error must say where and why */
        exp_builder_unref(b);
        return NULL;
    }
    exp_builder_finish(b);
    return b;
}

static void encode(struct cn_buf *out, struct exp_builder *b, enum exp_format fmt)
{
    size_t n;
    struct exp_family *const *fams = exp_builder_families(b, &n);
    exp_encode(out, fams, n, fmt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct exp_builder *b = parse((const char *)data, size);
    if (!b)
        return 0;
    struct cn_buf text, again, om;
    cn_buf_init(&text);
    cn_buf_init(&again);
    cn_buf_init(&om);
    encode(&text, b, EXP_FMT_TEXT);
    encode(&om, b, EXP_FMT_OPENMETRICS);
    if (!text.err && text.len) {
        struct exp_builder *b2 = parse(text.data, text.len);
        if (b2) {
            encode(&again, b2, EXP_FMT_TEXT);
            if (again.len != text.len || memcmp(again.data, text.data, text.len) != 0)
                abort(); /* the text encoding must be a fixed point */
            exp_builder_unref(b2);
        }
    }
    cn_buf_free(&text);
    cn_buf_free(&again);
    cn_buf_free(&om);
    exp_builder_unref(b);
    return 0;
}
