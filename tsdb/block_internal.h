/*
 * Block internals shared by block.c and compact.c; nothing outside tsdb/
 * includes this header.
 *
 * A streaming block writer: the one path by which cairn creates a block
 * directory, whether from series in memory (tsdb_block_write) or from other
 * blocks (tsdb_compact). It owns <parent>/<ULID>.tmp from open until commit
 * renames it to <parent>/<ULID> or abort removes it, and keeps the block's
 * stats as chunks and series go through it.
 */
#ifndef CAIRN_TSDB_BLOCK_INTERNAL_H
#define CAIRN_TSDB_BLOCK_INTERNAL_H

#include "tsdb/tsdb.h"

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

#endif
