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
    bool pad; /* the chunk ends with the empty byte Go's encoder leaves */
};

/* Starts an empty chunk in buf (cap >= 2 + TSDB_XOR_MAX_SAMPLE_BYTES, else
 * -EINVAL). */
int tsdb_xor_init(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap);
/* Switches to a buffer that already holds the encoded bytes. */
void tsdb_xor_set_buffer(struct tsdb_xor_enc *e, uint8_t *buf, size_t cap);
/* Appends one sample. 0, or -ENOSPC (buffer too small; nothing written) or
 * -ERANGE (65535 samples). Timestamps are not checked for order here. */
int tsdb_xor_append(struct tsdb_xor_enc *e, int64_t t, double v);
/* The chunk's encoded length in bytes, as Prometheus stores it (the last
 * byte may be partial, or an empty byte Go's bit writer leaves). */
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

/* A block's meta.json (Prometheus' BlockMeta, version 1). A compacted
 * block lists its sources (the level-1 blocks it holds) and its parents
 * (the blocks compacted into it: compaction.parents); a level-1 block has
 * no parents. tsdb_meta_read allocates sources and parents, tsdb_meta_free
 * frees both. */
struct tsdb_block_parent {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t min_time, max_time;
};
struct tsdb_block_meta {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t min_time, max_time; /* max_time is exclusive: last sample + 1 */
    uint64_t num_samples, num_series, num_chunks, num_tombstones;
    int level;
    char (*sources)[TSDB_ULID_LEN + 1]; /* malloc'd, nsources entries */
    size_t nsources;
    struct tsdb_block_parent *parents; /* malloc'd, nparents entries */
    size_t nparents;
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
void tsdb_meta_free(struct tsdb_block_meta *m); /* frees sources, parents; accepts NULL */

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
/* As tsdb_block_write for a block that covers [mint, maxt) whatever its
 * samples' times, as Prometheus writes the blocks it cuts from its head
 * (meta.json's minTime/maxTime are the range; compaction plans on them).
 * -EINVAL when a sample lies outside. INT64_MIN as mint: tsdb_block_write. */
int tsdb_block_write_range(const char *parent, const struct tsdb_block_series *series, size_t n,
                           int64_t mint, int64_t maxt, char *ulid_out);

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

/* ---- compaction ---------------------------------------------------------------- */

/*
 * Compacts opened blocks (n >= 1, any order; borrowed) into one new block
 * under parent, as Prometheus' LeveledCompactor.Compact: series merged by
 * label set in label order; within a series, chunks whose time ranges
 * overlap no other chunk (or only byte-identical copies of themselves) are
 * copied byte for byte, overlapping ones are decoded, merged (a timestamp
 * present twice kept once, with the value of the block given first) and
 * re-encoded in chunks of TSDB_XOR_SAMPLES_PER_CHUNK. The inputs'
 * tombstones are applied (deleted samples dropped; a series left empty is
 * dropped) and the new block has none. The new meta.json has the union of
 * the inputs' time ranges, level = highest input level + 1, sources = the
 * union of the inputs' sources (sorted), parents = the inputs in the order
 * given (ULID, minTime, maxTime), and the stats of what was written.
 * Streams series by series: memory is what the index writer keeps, each
 * input's series references and tombstones, and one series' chunks and
 * samples. The ULID goes to ulid_out (may be NULL). 0; -ENODATA when the
 * inputs hold no sample (nothing written); -EINVAL or -EBADMSG for a
 * corrupt input (bad chunk checksum or encoding, bad series, bad
 * tombstones); -ENOMEM or -errno. On failure err (may be NULL) names the
 * block and what is wrong, and nothing is left under parent. Inputs may
 * be read by other threads meanwhile.
 */
int tsdb_compact(const char *parent, struct tsdb_block *const *blocks, size_t n, char *ulid_out,
                 char *err, size_t errcap);

/*
 * Which blocks to compact next, as Prometheus' LeveledCompactor.Plan with
 * the given ranges (ascending milliseconds, each > 0, e.g. 2h, 6h, 18h,
 * ...). metas (n of them, any order) are considered sorted by min_time
 * (ties in the order given). First, the first run of blocks that overlap
 * in time, the newest block included. Otherwise, leaving out the newest
 * block (by min_time: it may be fresh from the head), for each range from
 * the second on, the first group of two or more blocks that lie within one
 * range-aligned interval and either fill it or end no later than the start
 * of the newest block left. Otherwise, from the newest block left down to
 * the first smaller than the middle range: a block over 5% tombstones
 * (numTombstones / (numSeries + 1)), or, for that small block, one whose
 * every series has a tombstone. The chosen blocks' indices into metas go
 * to out (room for n) in time order, their count to *nout (0: nothing to
 * do). 0, -EINVAL (no range, or one <= 0) or -ENOMEM.
 */
int tsdb_compact_plan(const struct tsdb_block_meta *metas, size_t n, const int64_t *ranges,
                      size_t nranges, size_t *out, size_t *nout);

/* ---- head and querier ------------------------------------------------------------ */

/*
 * The head: the in-memory part of the database that takes appends. Series
 * are keyed by label set, get a stable reference (1, 2, ... in creation
 * order; never reused) and live until a truncation finds them without
 * chunks. Label strings
 * are interned (each distinct string stored once), postings (sorted series
 * references) are kept per label pair, and each series holds one open XOR
 * chunk in a small buffer that grows on demand plus its closed chunks
 * (TSDB_XOR_SAMPLES_PER_CHUNK samples each): as exact-size byte arrays, or,
 * in a disk-backed head, in files in Prometheus' chunks_head format with
 * only their time range and position kept in memory.
 *
 * Appends follow Prometheus' head: a sample older than the series' last one
 * is refused with -ERANGE (counted as out of order), one at the last
 * timestamp with a different value (bit for bit) with -EEXIST (counted as a
 * duplicate); the same timestamp and value again is accepted and ignored.
 * Staleness markers (tsdb_stale_nan()) are ordinary samples.
 *
 * Threads: one rwlock per head. Any number of threads may call the reading
 * functions (tsdb_head_stats, tsdb_head_source's operations,
 * tsdb_head_write_block) while one thread appends; appends take the lock
 * exclusively for one sample at a time (in a disk-backed head, an append
 * that fills a chunk also writes it: one pwrite). Several appending threads
 * are safe too but serialise.
 */
struct tsdb_head;
/* A head that keeps every chunk in memory. */
int tsdb_head_create(struct tsdb_head **out);
/* A head that writes each full chunk to <dir>/chunks_head/ (dir: the
 * database directory, as Prometheus' ChunkDirRoot) in Prometheus 2.42's
 * head chunk format and reads it back from there, so Prometheus started on
 * the directory finds them. The directory is created if needed and files
 * an earlier run left in it are deleted: the head starts empty (the WAL is
 * what rebuilds it). A chunk that cannot be written (full disk) stays in
 * memory, is counted in disk_write_failures and logged, and is written
 * again with the series' next full chunk. Destroying the head leaves the
 * files. 0, -ENAMETOOLONG, -ENOMEM or -errno. */
#define TSDB_HEAD_CHUNKS_DIR "chunks_head"
int tsdb_head_create_disk(const char *dir, struct tsdb_head **out);
void tsdb_head_destroy(struct tsdb_head *h); /* accepts NULL */

/* Appends a sample to the series with labels ls (borrowed; sorted by name,
 * names unique and non-empty, at least one label), creating the series if
 * needed; its reference goes to *ref (may be NULL). 0, -EINVAL (bad label
 * set), -ERANGE (out of order), -EEXIST (duplicate), -ENOMEM. */
int tsdb_head_append(struct tsdb_head *h, const struct tsdb_labels *ls, int64_t t, double v,
                     uint64_t *ref);
/* The fast path: appends to an existing series by reference. As above, and
 * -ENOENT for an unknown reference. */
int tsdb_head_append_ref(struct tsdb_head *h, uint64_t ref, int64_t t, double v);
/* Creates the series ls (borrowed) with reference ref (0: the next free
 * one) without a sample, for WAL replay: references are kept so records
 * written before and after a restart agree, and later new series get
 * references above every one seen. The series' reference goes to *got
 * (may be NULL). 1: created; 0: ls exists already (with its own reference,
 * nothing changed); -EINVAL (bad labels), -EEXIST (ref belongs to another
 * series), -ENOSPC, -ENOMEM. */
int tsdb_head_create_series(struct tsdb_head *h, const struct tsdb_labels *ls, uint64_t ref,
                            uint64_t *got);
/* Whether a series with this reference is in the head. */
bool tsdb_head_has_series(struct tsdb_head *h, uint64_t ref);
/* Calls fn for every series, in reference order, with the read lock held
 * (fn must not call into the head; the labels are valid during the call).
 * Stops at fn's first non-zero answer and returns it; else 0. */
int tsdb_head_foreach(struct tsdb_head *h,
                      int (*fn)(void *ctx, uint64_t ref, const struct tsdb_labels *ls), void *ctx);

struct tsdb_head_stats {
    uint64_t series, chunks, samples;
    uint64_t out_of_order, duplicates; /* refused samples */
    int64_t mint, maxt;                /* INT64_MAX, INT64_MIN when empty */
    uint64_t symbols, chunk_bytes;     /* interned strings; encoded chunk bytes in memory */
    /* Disk-backed heads: chunks in chunks_head files, those files' bytes,
     * chunk writes that failed (the chunk stayed in memory). */
    uint64_t disk_chunks, disk_bytes, disk_write_failures;
};
void tsdb_head_stats(struct tsdb_head *h, struct tsdb_head_stats *st);

/*
 * Cuts a block from the head: every series' samples with mint <= t < maxt
 * are written by tsdb_block_write_range into a new block [mint, maxt) under
 * parent (its ULID to
 * ulid_out, may be NULL). The head is unchanged (dropping written data is
 * the caller's business). Appends may go on meanwhile; samples are copied
 * under the read lock, the files written without it. 0, -ENODATA when no
 * sample is in range (nothing written), -ENOMEM or tsdb_block_write's
 * errors.
 */
int tsdb_head_write_block(struct tsdb_head *h, const char *parent, int64_t mint, int64_t maxt,
                          char *ulid_out);

/*
 * After a block holding everything before mint was written: drops every
 * chunk that ends before mint, removes series left without chunks (their
 * references are not reused) and frees strings no series uses any more. A
 * disk-backed head ends its chunks_head file (the next chunk starts a new
 * one) and deletes the files no chunk references any more, oldest first up
 * to the first one still in use (Prometheus refuses gaps in the numbers).
 * From then on appends before mint are refused as out of order (they would
 * overlap the block). Counts go to *st (may be NULL). Must not run while
 * tsdb_head_write_block is writing (its label strings are borrowed); the
 * database calls both from its one maintenance thread. 0 or -ENOMEM (the
 * chunks are dropped anyway; empty series stay until the next call).
 */
struct tsdb_head_truncation {
    uint64_t chunks, series; /* removed */
};
int tsdb_head_truncate(struct tsdb_head *h, int64_t mint, struct tsdb_head_truncation *st);

/*
 * The querier. Data sources (the head, opened blocks, later anything else)
 * are reached only through struct tsdb_source, a small vtable, so the query
 * side never sees their internals. Results are self-contained: labels and
 * samples are copied and owned by the result, valid after the source goes.
 */
struct tsdb_series {
    struct tsdb_labels labels;   /* owned: one allocation with the strings */
    struct tsdb_sample *samples; /* owned, strictly ascending timestamps */
    size_t n;
};
struct tsdb_series_set {
    struct tsdb_series *v; /* sorted by labels (tsdb_labels_cmp) */
    size_t n, cap;
};
void tsdb_series_set_free(struct tsdb_series_set *s); /* contents; accepts NULL */

struct tsdb_strings {
    char **v; /* owned, sorted ascending, unique */
    size_t n, cap;
};
void tsdb_strings_free(struct tsdb_strings *s); /* contents; accepts NULL */

/* For sources: appends a series, copying the labels (borrowed) and n >= 1
 * samples. 0 or -ENOMEM. */
int tsdb_series_set_add(struct tsdb_series_set *s, const struct tsdb_labels *ls,
                        const struct tsdb_sample *samples, size_t n);
/* For sources: appends a copy of str. 0 or -ENOMEM. */
int tsdb_strings_add(struct tsdb_strings *s, const char *str);

/* A data source. Each operation adds to *out (zero-initialised by the
 * caller) in any order (the query functions sort and deduplicate), returns
 * 0 or -errno, and leaves *out freeable on error. Matchers
 * follow Prometheus (a matcher that matches "" also selects series without
 * the label; no matchers select every series). */
struct tsdb_source_ops {
    /* Series matching every matcher with at least one sample in
     * mint <= t <= maxt (only those samples). */
    int (*select)(void *ctx, const struct tsdb_matcher *const *ms, size_t nms, int64_t mint,
                  int64_t maxt, struct tsdb_series_set *out);
    /* Label names of the matching series (all names without matchers). */
    int (*label_names)(void *ctx, const struct tsdb_matcher *const *ms, size_t nms,
                       struct tsdb_strings *out);
    /* Non-empty values of label `name` in the matching series. */
    int (*label_values)(void *ctx, const char *name, const struct tsdb_matcher *const *ms,
                        size_t nms, struct tsdb_strings *out);
};
struct tsdb_source {
    const struct tsdb_source_ops *ops;
    void *ctx; /* borrowed: the head or block must outlive the source's use */
};
/* Sources over a head (safe during appends) and an opened block. */
struct tsdb_source tsdb_head_source(struct tsdb_head *h);
struct tsdb_source tsdb_block_source(struct tsdb_block *b);

/* Select over several sources: series with equal label sets are merged into
 * one, samples in time order, a timestamp present in several sources kept
 * once (the first source's value). Sorted by labels. 0 or -errno. */
int tsdb_query_select(const struct tsdb_source *src, size_t nsrc,
                      const struct tsdb_matcher *const *ms, size_t nms, int64_t mint, int64_t maxt,
                      struct tsdb_series_set *out);
/* The union of the sources' label names / values, sorted, unique. */
int tsdb_query_label_names(const struct tsdb_source *src, size_t nsrc,
                           const struct tsdb_matcher *const *ms, size_t nms,
                           struct tsdb_strings *out);
int tsdb_query_label_values(const struct tsdb_source *src, size_t nsrc, const char *name,
                            const struct tsdb_matcher *const *ms, size_t nms,
                            struct tsdb_strings *out);

/* ---- the database --------------------------------------------------------------- */

/*
 * A database directory: blocks, the WAL and the head, with block cutting,
 * compaction and retention (see db.c for the layout and the policies).
 *
 * Durability: tsdb_db_commit() writes the batch appended since the last
 * commit to the WAL and fdatasyncs it before returning 0; everything
 * committed is replayed by the next open, whatever ended the process.
 *
 * Threads: one thread appends and commits; any number query (through
 * tsdb_db_querier_open) and read statistics meanwhile. With background set,
 * a maintenance thread cuts blocks, compacts and applies retention;
 * otherwise the caller runs tsdb_db_maintain().
 */
struct tsdb_db_opts {
    int64_t block_range_ms;    /* the head's block length; 0: 2h */
    int64_t retention_ms;      /* 0: keep blocks regardless of age */
    uint64_t retention_bytes;  /* 0: no size limit */
    uint64_t wal_segment_size; /* 0: TSDB_WAL_SEGMENT_SIZE */
    bool background;           /* run maintenance on a thread */
    bool read_only;            /* replay and query only: no WAL writer, no
                                * repair, nothing renamed or deleted */
};
struct tsdb_db;

/*
 * Opens (creating, unless read-only) the directory: loads every block
 * (one that fails validation is renamed <ULID>.corrupt and logged; the
 * others serve), removes leftovers of interrupted writes, replays the WAL
 * into the head (a damaged tail is logged and cut off, never fatal) and
 * opens a new WAL segment. -errno with a message in err on failure (the
 * directory cannot be created or read, out of memory).
 */
int tsdb_db_open(const char *dir, const struct tsdb_db_opts *opts, struct tsdb_db **out, char *err,
                 size_t errcap);
/* Stops maintenance, commits what is pending, closes. Accepts NULL. The
 * result of the last commit and WAL close. */
int tsdb_db_close(struct tsdb_db *db);

/* Appends by label set (borrowed), the series' reference to *ref (may be
 * NULL), or by reference; as tsdb_head_append. -EROFS when read-only. */
int tsdb_db_append(struct tsdb_db *db, const struct tsdb_labels *ls, int64_t t, double v,
                   uint64_t *ref);
int tsdb_db_append_ref(struct tsdb_db *db, uint64_t ref, int64_t t, double v);
/* Logs and syncs the pending batch (see Durability). When the WAL cannot
 * be written the error is logged and returned, the samples stay in the
 * head, and the next commit tries a fresh segment. */
int tsdb_db_commit(struct tsdb_db *db);
/* One maintenance pass: block cutting, compaction, retention. 0 or the
 * first error (logged; the pass goes on where it can). */
int tsdb_db_maintain(struct tsdb_db *db);

/* The head (for tools and tests; owned by the database). */
struct tsdb_head *tsdb_db_head(struct tsdb_db *db);
/* The compaction ranges in use, ascending. */
const int64_t *tsdb_db_ranges(const struct tsdb_db *db, size_t *n);

/* A consistent set of sources for one query: the blocks overlapping
 * [mint, maxt] (oldest first) and the head. Blocks stay readable until the
 * querier is closed, even if retention deletes them meanwhile. */
struct tsdb_db_querier;
int tsdb_db_querier_open(struct tsdb_db *db, int64_t mint, int64_t maxt,
                         struct tsdb_db_querier **out);
const struct tsdb_source *tsdb_db_querier_sources(const struct tsdb_db_querier *q, size_t *n);
void tsdb_db_querier_close(struct tsdb_db_querier *q); /* accepts NULL */

struct tsdb_db_stats {
    struct tsdb_head_stats head;
    uint64_t blocks, blocks_bytes, wal_bytes;
    int64_t min_time; /* oldest sample time held; INT64_MAX when empty */
    uint64_t head_cuts, head_cuts_failed, compactions, compactions_failed;
    uint64_t retention_deleted, size_deleted, corrupt_blocks;
    uint64_t wal_fsyncs, wal_failures, wal_corruptions, wal_checkpoints;
    double wal_fsync_seconds; /* total */
    uint64_t replayed_samples;
    bool wal_ok;
};
void tsdb_db_stats(struct tsdb_db *db, struct tsdb_db_stats *st);

/* ---- write-ahead log ------------------------------------------------------------ */

/*
 * The WAL in Prometheus' format (wal.md; tsdb/wlog in Prometheus 2.42): a
 * directory of segments named 00000000, 00000001, ... written in 32 KiB
 * pages. A record is split into fragments (full, or first/middle/last) that
 * never cross a page; each fragment has a 7-byte header: type byte (bit 3:
 * snappy-compressed), big-endian uint16 length, big-endian CRC32-C of the
 * fragment's bytes. When fewer than 7 bytes are left in a page, or when a
 * segment ends, the rest of the page is zeros. A record never spans
 * segments.
 */
#define TSDB_WAL_PAGE_SIZE 32768u
#define TSDB_WAL_HEADER_SIZE 7u
#define TSDB_WAL_SEGMENT_SIZE (128u << 20)

/*
 * WAL writer. Opening creates dir if needed and starts a new segment after
 * the highest one present (as Prometheus does, so a torn tail of an old
 * segment is never appended to). Records are written uncompressed.
 *
 * Durability policy: tsdb_wal_log() hands each record to the kernel
 * (write(2)) before it returns, so it survives a crash of the process; it
 * reaches the disk when the segment is cut (the finished segment is padded
 * and fsync'd), on tsdb_wal_sync() and on tsdb_wal_close(). How often to
 * call tsdb_wal_sync() is the caller's choice (the database syncs once per
 * commit). After an I/O error every call answers that error, and the
 * segment is cut back to the end of its last complete record, so a full
 * disk leaves a log that replays cleanly up to there.
 */
struct tsdb_wal;
/* segment_size 0 means TSDB_WAL_SEGMENT_SIZE; otherwise a multiple of
 * TSDB_WAL_PAGE_SIZE (else -EINVAL). 0 or -errno. */
int tsdb_wal_open(const char *dir, uint64_t segment_size, struct tsdb_wal **out);
/* Appends one record (borrowed, len >= 1; -EINVAL for 0). A record that does
 * not fit in what is left of the segment starts a new one; a record larger
 * than a whole segment gets a segment of its own, as in Prometheus. */
int tsdb_wal_log(struct tsdb_wal *w, const uint8_t *rec, size_t len);
/* Writes the page in progress to the kernel (no-op when already written). */
int tsdb_wal_flush(struct tsdb_wal *w);
/* Flushes and fdatasyncs the active segment. */
int tsdb_wal_sync(struct tsdb_wal *w);
/* Ends the active segment (pads its page, fsyncs) and starts the next. */
int tsdb_wal_cut(struct tsdb_wal *w);
/* The active segment's number. */
int tsdb_wal_segment(const struct tsdb_wal *w);
/* Pads the last page, fsyncs, closes; frees w in all cases (accepts NULL). */
int tsdb_wal_close(struct tsdb_wal *w);

/* Segment numbers in dir (names of 8 decimal digits, other names ignored),
 * ascending, into a malloc'd array. 0, -ENOMEM or -errno. */
int tsdb_wal_segments(const char *dir, int **segs, size_t *n);

/* Where and why reading stopped on damage. */
struct tsdb_wal_corruption {
    int segment;     /* segment number */
    uint64_t offset; /* byte offset in the segment of the damaged record */
    char msg[160];
};

/*
 * Decoder of one segment's bytes (borrowed; the reader below maps files and
 * feeds them here, the fuzzer feeds it directly). Reassembles fragments,
 * checks CRCs, fragment order, page bounds and zero padding, decompresses
 * snappy fragments. Nothing it is given can make it read out of bounds.
 */
struct tsdb_wal_seg_reader {
    const uint8_t *data;
    size_t len, off;
    size_t rec_off; /* offset of the record last returned or refused */
    uint8_t *rec, *dec;
    size_t rec_cap, dec_cap;
};
void tsdb_wal_seg_reader_init(struct tsdb_wal_seg_reader *s, const uint8_t *data, size_t len);
/* 1 and the next record in *rec, *len (valid until the next call), 0 at a
 * clean end, -EBADMSG for damage (reason in err; s->rec_off is where the
 * damaged record starts, i.e. where a repair truncates), -ENOMEM. */
int tsdb_wal_seg_reader_next(struct tsdb_wal_seg_reader *s, const uint8_t **rec, size_t *len,
                             char *err, size_t errcap);
void tsdb_wal_seg_reader_free(struct tsdb_wal_seg_reader *s); /* buffers only */

/*
 * Reads every record of a WAL directory in replay order: the segments of
 * the newest checkpoint.N (see tsdb_wal_checkpoint) if there is one, then
 * the WAL's segments after N (older ones still present are skipped). Segment
 * numbers must be consecutive (else open answers -EINVAL). Damage anywhere
 * (torn tail, bad CRC, non-zero padding) stops reading with -EBADMSG and a
 * position that tsdb_wal_repair() accepts; damage inside a checkpoint is
 * reported with segment -1, which repair refuses, as Prometheus does.
 */
struct tsdb_wal_reader;
/* 0, -ENOENT (no such directory), -ENOMEM, -errno. */
int tsdb_wal_reader_open(const char *dir, struct tsdb_wal_reader **out);
/* 1 and a record (borrowed until the next call), 0 at the end, -EBADMSG
 * (see tsdb_wal_reader_corruption), -ENOMEM, -errno. */
int tsdb_wal_reader_next(struct tsdb_wal_reader *r, const uint8_t **rec, size_t *len);
/* Segment (-1 inside the checkpoint) and offset of the record last returned. */
void tsdb_wal_reader_pos(const struct tsdb_wal_reader *r, int *segment, uint64_t *offset);
/* Filled in when next answered -EBADMSG. */
const struct tsdb_wal_corruption *tsdb_wal_reader_corruption(const struct tsdb_wal_reader *r);
void tsdb_wal_reader_close(struct tsdb_wal_reader *r); /* accepts NULL */

/*
 * Prometheus' Repair: deletes every segment after c->segment, truncates
 * that one at c->offset (the end of its last good record) and pads it with
 * zeros to a page boundary, then fsyncs. Records before the damage stay
 * readable. Must not run while a writer has dir open. 0 or -errno
 * (-EINVAL for an offset past the segment's end).
 */
int tsdb_wal_repair(const char *dir, const struct tsdb_wal_corruption *c);

/*
 * Checkpoints (Prometheus' wlog.Checkpoint): the records of segments
 * from..to (and of the previous checkpoint, if any; then from becomes the
 * segment after it) that are still needed, written as the WAL directory
 * <dir>/checkpoint.<to, 8 digits>/ (via checkpoint.N.tmp, renamed when
 * complete). Kept: series for which keep(ctx, ref) is true, samples with
 * t >= mint, tombstones with maxt >= mint. Other record types (exemplars,
 * histograms, metadata, which cairn does not write) are dropped.
 * tsdb_wal_reader_open() replays the newest checkpoint first, then the
 * segments after it. 0, -EINVAL (bad range or a malformed record),
 * -ENOENT (segment `to` missing), -EBADMSG (damage, see the reader),
 * -ENOMEM or -errno; on failure the .tmp directory is removed.
 */
struct tsdb_wal_checkpoint_stats {
    size_t series, dropped_series;
    size_t samples, dropped_samples;
    size_t tombstones, dropped_tombstones;
};
typedef bool (*tsdb_wal_keep_fn)(void *ctx, uint64_t ref);
int tsdb_wal_checkpoint(const char *dir, int from, int to, tsdb_wal_keep_fn keep, void *ctx,
                        int64_t mint, struct tsdb_wal_checkpoint_stats *st);
/* After a checkpoint up to segment first - 1: deletes segments before
 * first and checkpoints older than first - 1 (Prometheus' Truncate and
 * DeleteCheckpoints). Must not run while a reader is open. 0 or -errno. */
int tsdb_wal_truncate(const char *dir, int first);
/* The checkpoint an open reader replays first, or -1. */
int tsdb_wal_reader_checkpoint(const struct tsdb_wal_reader *r);

/* ---- WAL records (tsdb/record in Prometheus) ---------------------------------- */

enum tsdb_record_type {
    TSDB_REC_SERIES = 1,
    TSDB_REC_SAMPLES = 2,
    TSDB_REC_TOMBSTONES = 3,
    TSDB_REC_EXEMPLARS = 4,
    TSDB_REC_MMAP_MARKERS = 5,
    TSDB_REC_METADATA = 6,
    TSDB_REC_HISTOGRAMS = 7,
    TSDB_REC_FLOAT_HISTOGRAMS = 8,
    TSDB_REC_UNKNOWN = 255,
};

struct tsdb_ref_series {
    uint64_t ref;
    struct tsdb_labels labels;
};
struct tsdb_ref_sample {
    uint64_t ref;
    int64_t t;
    double v;
};
struct tsdb_tombstone {
    uint64_t ref;
    int64_t mint, maxt;
};

/* The record's type: one of the above, TSDB_REC_UNKNOWN for anything else. */
enum tsdb_record_type tsdb_record_type(const uint8_t *rec, size_t len);

/*
 * Encoders: write the record Prometheus' record.Encoder writes for the same
 * input into buf (cap bytes). 0 and the length in *len, or -ENOSPC with the
 * length needed in *len (nothing useful written). Series: type 1, per series
 * a big-endian 64-bit ref, uvarint label count, uvarint-prefixed name and
 * value strings. Samples: type 2, the first sample's ref and time as
 * big-endian 64-bit, then per sample the signed varint deltas of ref and
 * time from those and the value's 64 bits big-endian. Tombstones: type 3,
 * per interval a big-endian ref and signed varint mint, maxt.
 */
int tsdb_record_encode_series(const struct tsdb_ref_series *s, size_t n, uint8_t *buf, size_t cap,
                              size_t *len);
int tsdb_record_encode_samples(const struct tsdb_ref_sample *s, size_t n, uint8_t *buf, size_t cap,
                               size_t *len);
int tsdb_record_encode_tombstones(const struct tsdb_tombstone *t, size_t n, uint8_t *buf,
                                  size_t cap, size_t *len);

/*
 * Decoders iterate one record (borrowed) without allocating. Start with
 * tsdb_record_dec_init (-EINVAL if the record is not of the type asked or
 * is too short for its header), then call next until it answers 0 (end) or
 * -EINVAL (malformed: truncated, overlong varint, trailing bytes).
 */
struct tsdb_record_dec {
    const uint8_t *p;
    size_t len, off;
    uint64_t base_ref;
    int64_t base_t;
};
int tsdb_record_dec_init(struct tsdb_record_dec *d, const uint8_t *rec, size_t len,
                         enum tsdb_record_type type);
/* One series: labels into lcap entries, their strings NUL-terminated into
 * strbuf (scap bytes). A strbuf as long as the record and len/2 labels are
 * always enough; less gives -ENOSPC. 1, 0, -EINVAL or -ENOSPC. */
int tsdb_record_next_series(struct tsdb_record_dec *d, uint64_t *ref, struct tsdb_label *labels,
                            size_t lcap, size_t *nlabels, char *strbuf, size_t scap);
int tsdb_record_next_sample(struct tsdb_record_dec *d, struct tsdb_ref_sample *s);
int tsdb_record_next_tombstone(struct tsdb_record_dec *d, struct tsdb_tombstone *t);

#endif
