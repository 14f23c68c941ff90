/*
 * Internals that several files of the tsdb module share; nothing outside
 * tsdb/ (and its unit tests) includes this header.
 */
#ifndef CAIRN_TSDB_INTERNAL_H
#define CAIRN_TSDB_INTERNAL_H

#include "tsdb/tsdb.h"

/* ---- blocks: block.c, compact.c, querier.c ------------------------------------- */

/*
 * A streaming block writer: the one path by which cairn creates a block
 * directory, whether from series in memory (tsdb_block_write) or from other
 * blocks (tsdb_compact). It owns <parent>/<ULID>.tmp from open until commit
 * renames it to <parent>/<ULID> or abort removes it, and keeps the block's
 * stats as chunks and series go through it.
 */
struct tsdb_blockw;

/* Picks a new ULID, creates <parent>/<ULID>.tmp/chunks and opens the chunk
 * and index writers in it. 0, -ENAMETOOLONG, -ENOMEM or -errno (nothing
 * left behind). */
int tsdb_blockw_open(const char *parent, struct tsdb_blockw **out);
/* The new block's ULID (borrowed from w). */
const char *tsdb_blockw_ulid(const struct tsdb_blockw *w);
/* Every symbol, ascending, before the first series (the index writer's
 * rule). 0 or its errors. */
int tsdb_blockw_add_symbol(struct tsdb_blockw *w, const char *sym);
/* Appends one encoded XOR chunk (copied) holding samples mint..maxt and
 * fills *meta with its range and reference. Counts its samples (from the
 * chunk header) into the stats. -EINVAL for a chunk under 2 bytes. */
int tsdb_blockw_add_chunk(struct tsdb_blockw *w, const uint8_t *data, size_t len, int64_t mint,
                          int64_t maxt, struct tsdb_chunk_meta *meta);
/* Encodes samples (n >= 1, strictly ascending timestamps, not checked)
 * into chunks of up to TSDB_XOR_SAMPLES_PER_CHUNK, appends them and writes
 * their metas to metas[0..*nmetas) (room for ceil(n / 120)). */
int tsdb_blockw_add_samples(struct tsdb_blockw *w, const struct tsdb_sample *samples, size_t n,
                            struct tsdb_chunk_meta *metas, size_t *nmetas);
/* Adds a series to the index (labels and metas borrowed; series in strictly
 * ascending label order, metas in time order). Counts series and chunks. */
int tsdb_blockw_add_series(struct tsdb_blockw *w, const struct tsdb_labels *ls,
                           const struct tsdb_chunk_meta *metas, size_t nmetas);

struct tsdb_blockw_stats {
    uint64_t samples, series, chunks;
    int64_t mint, maxt; /* of the chunks added; maxt exclusive; 0, 0 if none */
};
void tsdb_blockw_stats(const struct tsdb_blockw *w, struct tsdb_blockw_stats *st);

/*
 * Finishes the block: closes the chunk and index writers, writes the empty
 * tombstones file and meta.json (m as given by the caller, with the ULID and
 * the sample, series and chunk counts set from what went through w), fsyncs
 * files and directories and renames <ULID>.tmp to <ULID>. Frees w in all
 * cases; on failure the .tmp directory is removed. 0 or -errno.
 */
int tsdb_blockw_commit(struct tsdb_blockw *w, struct tsdb_block_meta *m);
/* Closes the writers, removes the .tmp directory and frees w (accepts
 * NULL). For any failure between open and commit. */
void tsdb_blockw_abort(struct tsdb_blockw *w);

/* An opened block's chunk files and the directory it was opened from
 * (borrowed from b). */
const struct tsdb_chunk_reader *tsdb_block_chunks(const struct tsdb_block *b);
const char *tsdb_block_dir(const struct tsdb_block *b);

/*
 * Reads <dir>/tombstones of an opened block (Prometheus' format: magic,
 * version 1, per deleted interval a uvarint series reference and varint
 * mint and maxt, both inclusive, then the CRC32-C of the intervals): into
 * a malloc'd array sorted by series reference, then mint. A missing file is
 * no tombstones, as in Prometheus. 0, -EINVAL or -EBADMSG (message in err),
 * -ENOMEM or -errno.
 */
int tsdb_block_tombstones(const struct tsdb_block *b, struct tsdb_tombstone **out, size_t *n,
                          char *err, size_t errcap);

/* ---- head chunk files: head.c, head_chunks.c ----------------------------------- */

/*
 * The head chunk files: the chunks_head/ directory in which a disk-backed
 * head keeps its full chunks, in Prometheus 2.42's head chunk format (see
 * head_chunks.c). It knows files, frames and how many chunks of each file
 * the head still references; which chunk belongs to which series is the
 * head's business. Not thread-safe on its own: the head calls the writing
 * functions (write, release, gc) under its write lock and read and stats
 * under its read lock, so reads may run concurrently with each other.
 */
#define TSDB_HCHUNKS_MAGIC 0x0130BC91u
#define TSDB_HCHUNKS_HEADER 8 /* magic, version 1, three zero bytes */
#define TSDB_HCHUNKS_MAX_FILE (128u << 20)

struct tsdb_hchunks;

/* Creates dir if needed and deletes the head chunk files in it (names of
 * decimal digits, with or without .tmp) left by an earlier run, so that
 * numbering starts again at 000001. 0, -ENOMEM or -errno. */
int tsdb_hchunks_open(const char *dir, struct tsdb_hchunks **out);
/* Syncs the file being written and closes every file, leaving them on
 * disk for Prometheus. Accepts NULL. */
void tsdb_hchunks_close(struct tsdb_hchunks *d);

/* Bytes a chunk of len data bytes takes in a file, framing included. */
size_t tsdb_hchunks_frame_size(size_t len);

/* Appends one chunk (data borrowed) of series `series` to the file being
 * written, starting one (after the last) when there is none or the chunk
 * would take it past TSDB_HCHUNKS_MAX_FILE. Its file number and frame
 * offset go to *file, *off (Prometheus' reference is file << 32 | off).
 * On failure nothing is referenced and the file is cut back to its last
 * complete chunk; the failure is counted and logged (once per errno until
 * a write succeeds again). 0, -EINVAL (len 0), -ENOMEM or -errno. */
int tsdb_hchunks_write(struct tsdb_hchunks *d, uint64_t series, int64_t mint, int64_t maxt,
                       const uint8_t *data, size_t len, uint32_t *file, uint32_t *off);

/* Reads the chunk at file, off into frame (tsdb_hchunks_frame_size(len)
 * bytes, the caller's) and points *data at its len data bytes there, after
 * checking that the frame is the one expected (series, mint, maxt, XOR
 * encoding, length) and its CRC. 0, -EINVAL (no such file), -EBADMSG (a
 * different or damaged frame) or -errno. */
int tsdb_hchunks_read(const struct tsdb_hchunks *d, uint32_t file, uint32_t off, uint64_t series,
                      int64_t mint, int64_t maxt, size_t len, uint8_t *frame, const uint8_t **data);

/* The head no longer references a chunk written to file. */
void tsdb_hchunks_release(struct tsdb_hchunks *d, uint32_t file);

/* After a truncation: ends the file being written if it holds a chunk (the
 * next write starts a new one), then deletes files that no chunk
 * references, oldest first, stopping at the first one still referenced:
 * Prometheus refuses to start on a directory whose file numbers have a
 * gap. A deletion that fails is logged and retried next time. */
void tsdb_hchunks_gc(struct tsdb_hchunks *d);

/* Fills disk_chunks, disk_bytes and disk_write_failures. */
void tsdb_hchunks_stats(const struct tsdb_hchunks *d, struct tsdb_head_stats *st);

#endif
