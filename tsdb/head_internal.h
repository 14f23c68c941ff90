/*
 * Head internals shared by head.c and head_chunks.c; nothing outside tsdb/
 * includes this header.
 *
 * The head chunk files: the chunks_head/ directory in which a disk-backed
 * head keeps its full chunks, in Prometheus 2.42's head chunk format (see
 * head_chunks.c). It knows files, frames and how many chunks of each file
 * the head still references; which chunk belongs to which series is the
 * head's business. Not thread-safe on its own: the head calls the writing
 * functions (write, release, gc) under its write lock and read and stats
 * under its read lock, so reads may run concurrently with each other.
 */
#ifndef CAIRN_TSDB_HEAD_INTERNAL_H
#define CAIRN_TSDB_HEAD_INTERNAL_H

#include "tsdb/tsdb.h"

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
