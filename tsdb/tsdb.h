/*
 * tsdb: cairn's embedded time-series database, in Prometheus' own on-disk
 * format (../shared/reference/prometheus-tsdb-format/): XOR ("TSZ",
 * Gorilla) chunks, chunk segment files, index v2, meta.json, tombstones.
 *
 * This header holds the data model (labels, matchers, samples) and the
 * format codecs the rest of the module is built from. Codecs follow one rule:
 * they write into buffers the caller provides and never allocate, so the
 * head can keep a chunk in a few hundred bytes and a block writer can stream.
 *
 * Threads: unless a function says otherwise, an object is used by one thread
 * at a time; immutable results (an opened block's readers) may be shared.
 */
#ifndef CAIRN_TSDB_H
#define CAIRN_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* ---- data model ------------------------------------------------------------- */

/* The staleness marker: a NaN with this exact bit pattern (Prometheus'
 * value.StaleNaN). Test with tsdb_is_stale_nan(), never with ==. */
#define TSDB_STALE_NAN_BITS 0x7ff0000000000002ULL
double tsdb_stale_nan(void);
bool tsdb_is_stale_nan(double v);

struct tsdb_sample {
    int64_t t; /* milliseconds since the epoch */
    double v;
};

struct tsdb_label {
    const char *name;
    const char *value;
};

/* A label set: sorted by name, names unique, "__name__" included as a label.
 * The arrays and strings belong to whoever built the set. */
struct tsdb_labels {
    const struct tsdb_label *v;
    size_t n;
};

/* Orders label sets as Prometheus does (labels.Compare): pairwise by name,
 * then value; a prefix sorts first. */
int tsdb_labels_cmp(const struct tsdb_labels *a, const struct tsdb_labels *b);
/* The value of label `name`, or NULL. */
const char *tsdb_labels_get(const struct tsdb_labels *ls, const char *name);
/* Prometheus' labels.Hash-compatible 64-bit hash is not needed on disk;
 * this one is for in-memory tables. */
uint64_t tsdb_labels_hash(const struct tsdb_labels *ls);

enum tsdb_match_type { TSDB_MATCH_EQ = 0, TSDB_MATCH_NEQ, TSDB_MATCH_RE, TSDB_MATCH_NRE };

/*
 * A label matcher. Regular expressions are fully anchored (the pattern must
 * match the whole value, as Prometheus anchors "^(?:re)$") and follow RE2
 * syntax as far as PCRE2 can be restricted to it; an unset label matches as
 * the empty string, as in Prometheus.
 */
struct tsdb_matcher;

/* Compiles a matcher (strings are copied). On a bad regex returns -EINVAL
 * and writes the reason into err. A matcher may be matched from several
 * threads at once. */
int tsdb_matcher_create(enum tsdb_match_type type, const char *name, const char *value,
                        struct tsdb_matcher **out, char *err, size_t errcap);
void tsdb_matcher_destroy(struct tsdb_matcher *m); /* accepts NULL */
bool tsdb_matcher_matches(const struct tsdb_matcher *m, const char *value);
const char *tsdb_matcher_name(const struct tsdb_matcher *m);
enum tsdb_match_type tsdb_matcher_type(const struct tsdb_matcher *m);
const char *tsdb_matcher_value(const struct tsdb_matcher *m);

/* ---- XOR chunks --------------------------------------------------------------- */

/* The chunk size Prometheus' head aims at (it cuts at a time predicted
 * when a chunk holds 30 samples, at the latest at 240). */
#define TSDB_XOR_SAMPLES_PER_CHUNK 120
/* Bytes an encoder needs free before any append: a worst-case sample. */
#define TSDB_XOR_MAX_SAMPLE_BYTES 20

/*
 * XOR chunk encoder: produces exactly the bytes Prometheus' chunkenc.XORChunk
 * produces for the same samples (the 2-byte sample count, then the bit
 * stream). The caller owns the buffer; when tsdb_xor_append() answers
 * -ENOSPC nothing was written, and the caller may move the bytes to a larger
 * buffer and call tsdb_xor_set_buffer() before retrying.
 */
struct tsdb_xor_enc {
    uint8_t *buf;
    size_t cap;
    size_t nbits; /* bits written, the 16-bit count included */
    uint16_t n;
    int64_t t;
    int64_t tdelta;
    double v;
    uint8_t leading, trailing;
};

/* Starts an empty chunk in buf (cap >= 2 + TSDB_XOR_MAX_SAMPLE_BYTES, else
 * -EINVAL). */
int tsdb_xor_init(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap);
/* Switches to a buffer that already holds the encoded bytes. */
void tsdb_xor_set_buffer(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap);
/* Appends one sample. 0, or -ENOSPC (buffer too small; nothing written) or
 * -ERANGE (65535 samples). Timestamps are not checked for order here. */
int tsdb_xor_append(struct tsdb_xor_enc *e, int64_t t, double v);
/* The chunk's encoded length in bytes (the last byte may be partial). */
size_t tsdb_xor_len(const struct tsdb_xor_enc *e);

/* Iterates the samples of an encoded XOR chunk (borrowed bytes). */
struct tsdb_xor_iter {
    const uint8_t *buf;
    size_t len;
    size_t pos; /* bit position */
    uint16_t n, read;
    int64_t t, tdelta;
    double v;
    uint8_t leading, trailing;
    int err;
    uint8_t tail[40]; /* the last bytes, zero-padded: reads near the end */
};

/* Starts at the first sample; with len < 2 every call answers -EINVAL. */
void tsdb_xor_iter_init(struct tsdb_xor_iter *it, const uint8_t *buf, size_t len);
/* 1: a sample in *s; 0: end; -EINVAL: corrupt or truncated data. */
int tsdb_xor_next(struct tsdb_xor_iter *it, struct tsdb_sample *s);
/* As tsdb_xor_next for up to cap (>= 1) samples at once, the fast way to
 * read a whole chunk: the number written to out, 0 at the end, or -EINVAL.
 * When corruption stops a batch part-way, the good samples before it are
 * returned and the next call answers -EINVAL. */
int tsdb_xor_next_batch(struct tsdb_xor_iter *it, struct tsdb_sample *out, size_t cap);
/* Sample count from the chunk header (0 if len < 2). */
uint16_t tsdb_xor_count(const uint8_t *buf, size_t len);

/* ---- chunk segment files (chunks/000001 ...) ------------------------------------ */

#define TSDB_CHUNK_ENC_XOR 1
#define TSDB_CHUNKS_MAGIC 0x85BD40DDu
#define TSDB_SEGMENT_MAX_BYTES (512u << 20)

/* A chunk reference in a block: the segment's position among the block's
 * segment files from 0 (000001 is 0) << 32 | the offset of the chunk's frame
 * in that file. */
typedef uint64_t tsdb_chunk_ref;

/* Metadata of one chunk of a series, as the index lists it. */
struct tsdb_chunk_meta {
    int64_t mint, maxt;
    tsdb_chunk_ref ref;
};

/*
 * Writes chunk segment files into dir ("<block>/chunks", created if its
 * parent exists), starting a new segment before one would pass
 * TSDB_SEGMENT_MAX_BYTES, each chunk framed as uvarint length, encoding
 * byte, data, CRC32 (Castagnoli) of encoding+data. As Prometheus' writer it
 * numbers files after any already in dir but counts references from its own
 * first segment, so dir should start empty, as a new block's does.
 */
struct tsdb_chunk_writer;
int tsdb_chunk_writer_open(const char *dir, struct tsdb_chunk_writer **out);
/* As tsdb_chunk_writer_open with another segment size limit (9 bytes to
 * 4 GiB - 1; Prometheus' NewWriterWithSegSize), for tests and tools. */
int tsdb_chunk_writer_open_size(const char *dir, uint64_t segment_size,
                                struct tsdb_chunk_writer **out);
/* Appends one XOR chunk (len >= 1; the bytes are copied); returns its
 * reference in *ref. -EINVAL for len 0, -EFBIG for a chunk no segment offset
 * can reach; after an I/O error every call answers that error. */
int tsdb_chunk_writer_add(struct tsdb_chunk_writer *w, const uint8_t *data, size_t len,
                          tsdb_chunk_ref *ref);
/* Flushes and fsyncs every segment, closes; frees w in all cases. */
int tsdb_chunk_writer_close(struct tsdb_chunk_writer *w);

/*
 * Reads chunk segment files by mmap. Chunks are checked (bounds, CRC) when
 * fetched, so one corrupt chunk is reported without failing the others.
 */
struct tsdb_chunk_reader;
/* Maps every segment file of dir. -EINVAL if one is shorter than its header
 * or has another magic or version, -errno from the file system. Chunks may
 * be fetched from several threads at once. */
int tsdb_chunk_reader_open(const char *dir, struct tsdb_chunk_reader **out);
void tsdb_chunk_reader_close(struct tsdb_chunk_reader *r); /* accepts NULL */
/* Borrowed bytes of the chunk's data (valid until close) and its encoding.
 * -EINVAL for a bad reference, -EBADMSG for a checksum mismatch. */
int tsdb_chunk_reader_get(const struct tsdb_chunk_reader *r, tsdb_chunk_ref ref,
                          const uint8_t **data, size_t *len, uint8_t *encoding);

/* CRC-32 with the Castagnoli polynomial, as the TSDB formats use it, with
 * Go's crc32.Update convention: crc 0 to start, the previous result to
 * continue over more bytes. */
uint32_t tsdb_crc32c(uint32_t crc, const void *data, size_t len);

#endif
