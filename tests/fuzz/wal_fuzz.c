/*
 * libFuzzer target for the WAL segment decoder and the record decoders:
 * the input is a segment file. Decode it from an exact-size copy (so ASan
 * sees any read past it); every answer must be 1, 0 or -EBADMSG, and a
 * record returned must lie in the decoder's buffers. Every record is then
 * run through the series, samples and tombstones decoders (whatever its
 * type byte says, with the type byte forced), whose answers must be 1, 0
 * or -EINVAL; series labels must point into the string buffer, which is
 * sized as the header promises is always enough (-ENOSPC is a bug). Damage
 * must be reported at an offset inside the input. The raw input is also fed
 * to the record decoders directly.
 *
 * Seeds: tests/fuzz/corpus/wal/ (segments cairn and prometheus wrote,
 * cut and damaged variants, single records). Run:
 * wal_fuzz -max_total_time=60 corpus/wal
 */
#include "tsdb/tsdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_records(const uint8_t *rec, size_t len)
{
    if (len == 0)
        return;
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, rec, len);
    struct tsdb_record_dec d;
    size_t lcap = len / 2 + 1;
    struct tsdb_label *labels = malloc(lcap * sizeof(*labels));
    char *str = malloc(len);
    if (!labels || !str)
        goto out;

    copy[0] = TSDB_REC_SERIES;
    if (tsdb_record_dec_init(&d, copy, len, TSDB_REC_SERIES) == 0) {
        uint64_t ref;
        size_t nl;
        int rc;
        while ((rc = tsdb_record_next_series(&d, &ref, labels, lcap, &nl, str, len)) == 1)
            for (size_t i = 0; i < nl; i++)
                if (labels[i].name < str || labels[i].value >= str + len ||
                    strlen(labels[i].value) >= len)
                    abort();
        if (rc != 0 && rc != -EINVAL)
            abort();
    }
    copy[0] = TSDB_REC_SAMPLES;
    int rc = tsdb_record_dec_init(&d, copy, len, TSDB_REC_SAMPLES);
    if (rc == 0) {
        struct tsdb_ref_sample s;
        while ((rc = tsdb_record_next_sample(&d, &s)) == 1)
            ;
    }
    if (rc != 0 && rc != -EINVAL)
        abort();
    copy[0] = TSDB_REC_TOMBSTONES;
    if ((rc = tsdb_record_dec_init(&d, copy, len, TSDB_REC_TOMBSTONES)) == 0) {
        struct tsdb_tombstone t;
        while ((rc = tsdb_record_next_tombstone(&d, &t)) == 1)
            ;
    }
    if (rc != 0 && rc != -EINVAL)
        abort();
out:
    free(str);
    free(labels);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct tsdb_wal_seg_reader s;
    tsdb_wal_seg_reader_init(&s, buf, size);
    const uint8_t *rec;
    size_t len;
    char err[160];
    int rc;
    while ((rc = tsdb_wal_seg_reader_next(&s, &rec, &len, err, sizeof(err))) == 1) {
        bool in_rec = rec == s.rec && len <= s.rec_cap;
        bool in_dec = rec == s.dec && len <= s.dec_cap;
        if (!in_rec && !in_dec && len > 0)
            abort();
        decode_records(rec, len);
    }
    if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM)
        abort();
    if (rc == -EBADMSG && (s.rec_off > size || err[0] == '\0'))
        abort();
    tsdb_wal_seg_reader_free(&s);
    decode_records(buf, size);
    free(buf);
    return 0;
}
