/*
 * Internals of the events module shared by its files (and its unit tests,
 * fuzzers and benchmarks): the kernel log reader and the periodic checks.
 * Nothing outside events/, tests/ and bench/ includes this header.
 */
#ifndef CAIRN_EVENTS_INTERNAL_H
#define CAIRN_EVENTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "events/events.h"

/* ---- the store (store.c) ---------------------------------------------------- */

/* The plan sqlite chooses for q (its EXPLAIN QUERY PLAN lines' details
 * joined with "; ") into out, for tests and the benchmark. 0 or -errno. */
int evt_store_query_plan(struct evt_store *s, const struct evt_query *q, char *out, size_t cap);

/* ---- kernel log records (kmsg.c) ------------------------------------------ */

/* The longest record read; the rest of a longer one is skipped and the
 * record counted as truncated. The kernel's own limit is about 1 KiB of
 * text plus its dictionary. */
#define EVT_KMSG_RECORD_MAX 8192

/*
 * One /dev/kmsg record: "PRI,SEQ,TS_USEC,FLAG[,...];MESSAGE\n" followed by
 * continuation lines " KEY=VALUE\n" (the record's dictionary). PRI is
 * facility * 8 + level. The message's \xNN escapes are decoded.
 */
struct evt_kmsg_record {
    int level;    /* 0 (emerg) .. 7 (debug) */
    int facility; /* 0 kernel, 1 user, ... */
    uint64_t seq;
    int64_t ts_usec; /* since boot */
    char flag;       /* '-', 'c' (continuation fragment), '+' */
    char msg[EVT_KMSG_RECORD_MAX];
    size_t msglen;
    char subsystem[64]; /* SUBSYSTEM= from the dictionary, or "" */
    char device[64];    /* DEVICE= from the dictionary, or "" */
    bool truncated;     /* the record was longer than EVT_KMSG_RECORD_MAX */
};

/*
 * Parses one record of len bytes (the header line, optionally its
 * continuation lines; a trailing newline is optional). 0, or -EINVAL for a
 * malformed record (no ';', a field that is not a number, a priority out
 * of range).
 */
int evt_kmsg_parse(const char *data, size_t len, struct evt_kmsg_record *rec);

/*
 * The follower. On a character device (/dev/kmsg) each read(2) returns one
 * record and EPIPE says records were overwritten before they were read; on
 * a regular file (tests, saved logs) records are lines, read as the file
 * grows, and a file that shrinks or is replaced (another inode at the
 * path) is reopened and read from its start as a new stream.
 *
 * Sequence numbers: a jump forward counts the records skipped as a gap;
 * evt_kmsg_resume makes the follower skip records at or below a sequence
 * number already processed (after a restart in the same boot), and counts
 * a gap between that number and the first record it still finds.
 * Not thread-safe: one thread reads.
 */
struct evt_kmsg;

struct evt_kmsg_stats {
    uint64_t records;   /* records returned */
    uint64_t gaps;      /* records lost */
    uint64_t malformed; /* records skipped as malformed */
    uint64_t truncated; /* records cut at EVT_KMSG_RECORD_MAX */
    uint64_t reopened;  /* the file was rotated or truncated */
    uint64_t last_seq;  /* the last record's sequence number */
    bool have_seq;      /* whether last_seq is set */
};

/* Opens path (non-blocking). -errno with "path: reason" in err. */
int evt_kmsg_open(const char *path, struct evt_kmsg **out, char *err, size_t errcap);
void evt_kmsg_close(struct evt_kmsg *k); /* accepts NULL */
void evt_kmsg_resume(struct evt_kmsg *k, uint64_t last_seq);
/*
 * The next record: 1 with rec filled; 0 when none arrived within
 * timeout_ms (the reader is at the end of the source); -errno on a read
 * error other than EPIPE/EAGAIN/EINTR (the caller closes and reopens
 * later). Malformed records and gaps are counted and skipped.
 */
int evt_kmsg_next(struct evt_kmsg *k, int timeout_ms, struct evt_kmsg_record *rec);
void evt_kmsg_stats(const struct evt_kmsg *k, struct evt_kmsg_stats *out);

/* ---- periodic checks (checks.c) ---------------------------------------------- */

/* Receives an event a check produced; takes ownership of its contents. */
typedef void (*evt_emit_fn)(void *ctx, struct evt_event *ev);

/* The boot id (procfs/sys/kernel/random/boot_id, trimmed) into out. 0 or
 * -errno. */
int evt_read_boot_id(const char *procfs, char *out, size_t cap);

/*
 * At start: when prev_boot_id is set and differs from boot_id, emits a
 * Reboot event (source os, severity warning, at the boot time from
 * procfs/stat, attributes boot_id and previous_boot_id) and, when
 * sysfs/fs/pstore holds a dmesg record that mentions a panic, a
 * KernelPanicPrevious event (source kernel, critical, attribute file).
 */
void evt_check_reboot(const char *procfs, const char *sysfs, const char *prev_boot_id,
                      const char *boot_id, int64_t now_ns, evt_emit_fn emit, void *ctx);

/*
 * The checks of state no log line carries, each comparing with what it saw
 * the run before (the first run only records):
 * - OOM kills counted in procfs/vmstat (oom_kill) that the kernel log did
 *   not report (kernel_ooms: OOMKill events from the log so far), given one
 *   run to arrive, as OOMKill (source os, warning, attribute count);
 * - EDAC memory controllers' ce_count / ue_count rising
 *   (sysfs/devices/system/edac/mc/mcN): EDACCorrectable (hardware,
 *   warning) / EDACUncorrectable (hardware, critical), attributes
 *   controller and count;
 * - CPU thermal throttle counts rising
 *   (sysfs/devices/system/cpu/cpuN/thermal_throttle/{core,package}_throttle_count):
 *   ThermalThrottle (hardware, warning), one per scope, attributes scope,
 *   cpus and count;
 * - network interfaces' carrier (sysfs/class/net/IF/carrier,
 *   carrier_changes): LinkDown (hardware, warning) / LinkUp (hardware,
 *   info), attribute device; a flap between two runs gives both;
 * - filesystems (procfs/1/mounts, else procfs/mounts) that went from rw to
 *   ro: FilesystemReadOnly (os, critical), attributes mountpoint, device,
 *   fstype.
 * A file that is missing or unreadable skips its check quietly.
 * Not thread-safe: one thread runs the checks.
 */
struct evt_checks;
int evt_checks_create(const char *procfs, const char *sysfs, struct evt_checks **out);
void evt_checks_destroy(struct evt_checks *c); /* accepts NULL */
void evt_checks_run(struct evt_checks *c, int64_t now_ns, uint64_t kernel_ooms, evt_emit_fn emit,
                    void *ctx);

#endif
