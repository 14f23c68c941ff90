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

/* ---- index, meta.json and blocks ------------------------------------------------ */

#define TSDB_INDEX_MAGIC 0xBAAAD700u
#define TSDB_INDEX_VERSION 2
#define TSDB_TOMBSTONES_MAGIC 0x0130BA30u
#define TSDB_ULID_LEN 26

/*
 * Index v2 writer (the block's "index" file), streaming as Prometheus 2.42's
 * index.Writer and producing the same bytes for the same input: first every
 * symbol (each label name and value once, in strictly ascending byte order),
 * then every series in strictly ascending label-set order with its chunk
 * metas; close writes label indices, postings, the offset tables and the TOC.
 * Symbols and one (name, value, series) triple per label stay in memory.
 * Functions answer -EINVAL for out-of-order input or unknown symbols, -EFBIG
 * when a series reference passes 32 bits, -errno on I/O; errors stick.
 */
struct tsdb_index_writer;
int tsdb_index_writer_open(const char *path, struct tsdb_index_writer **out);
/* The string is copied. */
int tsdb_index_writer_add_symbol(struct tsdb_index_writer *w, const char *sym);
/* Labels and metas are borrowed for the call; metas in time order. */
int tsdb_index_writer_add_series(struct tsdb_index_writer *w, const struct tsdb_labels *ls,
                                 const struct tsdb_chunk_meta *chunks, size_t nchunks);
/* Finishes the file and fsyncs it (unless an error stuck); frees w in all
 * cases. On error the partial file is left for the caller to remove. */
int tsdb_index_writer_close(struct tsdb_index_writer *w);

/*
 * Index v2 reader over mmap'd (or borrowed) bytes. Opening checks the
 * header, the TOC, the symbol table, the postings offset table and the label
 * offset table (bounds and CRC32-C) and copies symbols and table keys into
 * NUL-terminated strings; series and postings are checked when read, or all
 * at once with tsdb_index_reader_verify(). Truncated or malformed data gives
 * -EINVAL, a checksum mismatch -EBADMSG; err (may be NULL) gets a message.
 * An open reader is immutable: several threads may read it at once.
 */
struct tsdb_index_reader;
int tsdb_index_reader_open(const char *path, struct tsdb_index_reader **out, char *err,
                           size_t errcap);
/* As above over len bytes the caller keeps alive until close. */
int tsdb_index_reader_open_mem(const uint8_t *data, size_t len, struct tsdb_index_reader **out,
                               char *err, size_t errcap);
void tsdb_index_reader_close(struct tsdb_index_reader *r); /* accepts NULL */
/* Reads every postings list and every series: 0, -EINVAL or -EBADMSG. */
int tsdb_index_reader_verify(const struct tsdb_index_reader *r, char *err, size_t errcap);

size_t tsdb_index_symbol_count(const struct tsdb_index_reader *r);
/* Symbol number i (borrowed), or NULL when out of range. */
const char *tsdb_index_symbol(const struct tsdb_index_reader *r, uint32_t i);
/* The label names that have postings, ascending (borrowed array). */
void tsdb_index_label_names(const struct tsdb_index_reader *r, const char *const **names,
                            size_t *n);
/* The values of label `name`, ascending (borrowed; n = 0 for an unknown name). */
void tsdb_index_label_values(const struct tsdb_index_reader *r, const char *name,
                             const char *const **values, size_t *n);
/* The series references holding name=value, ascending, into a malloc'd
 * array the caller frees (NULL, 0 for an unknown pair). The pair ("", "")
 * is every series. 0, -ENOMEM, -EINVAL or -EBADMSG. */
int tsdb_index_postings(const struct tsdb_index_reader *r, const char *name, const char *value,
                        uint32_t **refs, size_t *n);

/* One series as read from the index; strings are borrowed from the reader,
 * the arrays are grown as needed and reused from call to call. */
struct tsdb_index_series {
    struct tsdb_label *labels;
    size_t nlabels, labels_cap;
    struct tsdb_chunk_meta *chunks;
    size_t nchunks, chunks_cap;
};
void tsdb_index_series_free(struct tsdb_index_series *s); /* the arrays only */
/* Reads the series at reference ref (its offset / 16). 0, -ENOMEM, -EINVAL
 * (bad reference or encoding) or -EBADMSG. */
int tsdb_index_series(const struct tsdb_index_reader *r, uint32_t ref,
                      struct tsdb_index_series *out);

/* A block's meta.json (Prometheus' BlockMeta, version 1). */
struct tsdb_block_meta {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t min_time, max_time; /* max_time is exclusive: last sample + 1 */
    uint64_t num_samples, num_series, num_chunks, num_tombstones;
    int level;
    char (*sources)[TSDB_ULID_LEN + 1]; /* malloc'd, nsources entries */
    size_t nsources;
    int version;
};

/* A ULID (Crockford base32, 26 characters) from a millisecond time and 10
 * random bytes. */
void tsdb_ulid_format(int64_t ms, const uint8_t rnd[10], char out[TSDB_ULID_LEN + 1]);
/* A new ULID from the wall clock and getrandom(2): 0 or -errno. */
int tsdb_ulid_new(char out[TSDB_ULID_LEN + 1]);
/* Whether s is a 26-character ULID (first character 0-7). */
bool tsdb_ulid_valid(const char *s);

/* Writes <dir>/meta.json (via meta.json.tmp, fsync and rename). 0 or -errno. */
int tsdb_meta_write(const char *dir, const struct tsdb_block_meta *m);
/* Reads <dir>/meta.json into *m (free with tsdb_meta_free). -EINVAL with a
 * message for text that is not JSON or not a version-1 BlockMeta. */
int tsdb_meta_read(const char *dir, struct tsdb_block_meta *m, char *err, size_t errcap);
void tsdb_meta_free(struct tsdb_block_meta *m); /* frees sources; accepts NULL */

/* Input for tsdb_block_write: a series with either samples (strictly
 * ascending timestamps; cut into XOR chunks of TSDB_XOR_SAMPLES_PER_CHUNK)
 * or, when nchunks > 0, XOR chunks already encoded. All borrowed. */
struct tsdb_block_chunk {
    int64_t mint, maxt;
    const uint8_t *data;
    size_t len;
};
struct tsdb_block_series {
    struct tsdb_labels labels;
    const struct tsdb_sample *samples;
    size_t nsamples;
    const struct tsdb_block_chunk *chunks;
    size_t nchunks;
};

/*
 * Writes a level-1 block of n series (any order; label sets unique, at
 * least one sample in all) as <parent>/<ULID>.tmp/{chunks/000001, index,
 * meta.json, tombstones}, fsyncs files and directories and renames it to
 * <parent>/<ULID>. The ULID goes to ulid_out (may be NULL). 0, -EINVAL for
 * bad input, -ENOMEM or -errno; on failure the .tmp directory is removed.
 */
int tsdb_block_write(const char *parent, const struct tsdb_block_series *series, size_t n,
                     char *ulid_out);

/*
 * An opened block: meta.json, the index (verified completely on open) and
 * the chunk files. -EINVAL/-EBADMSG/-ENOENT with a message in err. An open
 * block is immutable and may be read from several threads.
 */
struct tsdb_block;
int tsdb_block_open(const char *dir, struct tsdb_block **out, char *err, size_t errcap);
void tsdb_block_close(struct tsdb_block *b); /* accepts NULL */
const struct tsdb_block_meta *tsdb_block_meta(const struct tsdb_block *b);
const struct tsdb_index_reader *tsdb_block_index(const struct tsdb_block *b);
/* The references of the series matching every matcher (Prometheus'
 * semantics: a matcher that matches "" also selects series without the
 * label; no matchers select all), ascending, in a malloc'd array. */
int tsdb_block_select(const struct tsdb_block *b, const struct tsdb_matcher *const *ms, size_t nms,
                      uint32_t **refs, size_t *n);
/* Reads series ref: its labels and chunk metas into s, and its samples with
 * mint <= t <= maxt into *samples (malloc'd, grown as needed; *cap tracks
 * its size), count in *n. 0, -ENOMEM, -EINVAL or -EBADMSG. */
int tsdb_block_series(const struct tsdb_block *b, uint32_t ref, int64_t mint, int64_t maxt,
                      struct tsdb_index_series *s, struct tsdb_sample **samples, size_t *n,
                      size_t *cap);

#endif
