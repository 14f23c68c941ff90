/*
 * The database: commits replayed after a close and after SIGKILL, blocks
 * cut from the head and the WAL checkpointed, compaction and retention by
 * time and size, a corrupt block set aside, a torn WAL tail repaired, a
 * WAL that cannot be written (file size limit) kept in memory and resumed,
 * and the read-only mode tools use.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tsdb/tsdb.h"

void chunktest_rmtree(const char *path); /* test_chunk.c */

static void tmpdir(char *dir)
{
    snprintf(dir, PATH_MAX, "/tmp/cairn-db-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static struct tsdb_db *open_db(const char *dir, int64_t range, int64_t retention, uint64_t bytes)
{
    struct tsdb_db_opts o = {
        .block_range_ms = range, .retention_ms = retention, .retention_bytes = bytes};
    struct tsdb_db *db;
    char err[256] = "";
    cr_assert_eq(tsdb_db_open(dir, &o, &db, err, sizeof(err)), 0, "%s", err);
    return db;
}

/* Appends samples t = from, from + step, ... < to of series job=<job>,
 * value t / 10, committing every `per` samples. */
static void fill(struct tsdb_db *db, const char *job, int64_t from, int64_t to, int64_t step,
                 int per)
{
    struct tsdb_label l[] = {{"__name__", "up"}, {"job", job}};
    struct tsdb_labels ls = {l, 2};
    int n = 0;
    for (int64_t t = from; t < to; t += step) {
        cr_assert_eq(tsdb_db_append(db, &ls, t, (double)t / 10, NULL), 0, "t=%lld", (long long)t);
        if (++n % per == 0)
            cr_assert_eq(tsdb_db_commit(db), 0);
    }
    cr_assert_eq(tsdb_db_commit(db), 0);
}

/* Checks that job=<job> has exactly the samples from..to step by step
 * (value t / 10), each once, over blocks and head. */
static void expect(struct tsdb_db *db, const char *job, int64_t from, int64_t to, int64_t step)
{
    struct tsdb_matcher *m;
    char err[64];
    cr_assert_eq(tsdb_matcher_create(TSDB_MATCH_EQ, "job", job, &m, err, sizeof(err)), 0);
    const struct tsdb_matcher *ms[] = {m};
    struct tsdb_db_querier *q;
    cr_assert_eq(tsdb_db_querier_open(db, INT64_MIN, INT64_MAX, &q), 0);
    size_t nsrc;
    const struct tsdb_source *src = tsdb_db_querier_sources(q, &nsrc);
    struct tsdb_series_set set = {0};
    cr_assert_eq(tsdb_query_select(src, nsrc, ms, 1, INT64_MIN, INT64_MAX, &set), 0);
    cr_assert_eq(set.n, 1, "job %s: %zu series", job, set.n);
    size_t want = (size_t)((to - from + step - 1) / step);
    cr_assert_eq(set.v[0].n, want, "job %s: %zu samples, want %zu", job, set.v[0].n, want);
    for (size_t i = 0; i < set.v[0].n; i++) {
        cr_assert_eq(set.v[0].samples[i].t, from + (int64_t)i * step);
        cr_assert_eq(set.v[0].samples[i].v, (double)(from + (int64_t)i * step) / 10);
    }
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    tsdb_matcher_destroy(m);
}

static size_t count_entries(const char *dir, const char *suffix)
{
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof(cmd), "ls -1 %s | grep -c -- '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = 0;
    cr_assert_eq(fscanf(p, "%zu", &n), 1);
    pclose(p);
    return n;
}

Test(tsdb_db, commit_close_reopen_replays)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 0, 0, 0);
    fill(db, "a", 0, 5000, 10, 7);
    fill(db, "b", 100, 200, 10, 100);
    struct tsdb_label l[] = {{"__name__", "up"}, {"job", "a"}};
    struct tsdb_labels ls = {l, 2};
    uint64_t ref;
    cr_assert_eq(tsdb_db_append(db, &ls, 4990, 499, &ref), 0); /* the same sample again */
    cr_assert_eq(tsdb_db_append(db, &ls, 10, 1, NULL), -ERANGE);
    cr_assert_eq(tsdb_db_close(db), 0);

    db = open_db(dir, 0, 0, 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.head.series, 2);
    /* 500 + 10, and the repeated sample (accepted, so logged too). */
    cr_assert_eq(st.replayed_samples, 511);
    cr_assert_eq(st.blocks, 0);
    expect(db, "a", 0, 5000, 10);
    expect(db, "b", 100, 200, 10);
    /* References survive the restart. */
    cr_assert_eq(tsdb_db_append_ref(db, ref, 5000, 500), 0);
    cr_assert_eq(tsdb_db_close(db), 0);
    db = open_db(dir, 0, 0, 0);
    expect(db, "a", 0, 5010, 10);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, sigkill_keeps_every_commit)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct tsdb_db *db;
        struct tsdb_db_opts o = {0};
        if (tsdb_db_open(dir, &o, &db, NULL, 0))
            _exit(3);
        struct tsdb_label l[] = {{"__name__", "up"}, {"job", "k"}};
        struct tsdb_labels ls = {l, 2};
        for (int64_t t = 0; t < 1000; t += 10) {
            if (tsdb_db_append(db, &ls, t, (double)t / 10, NULL))
                _exit(4);
            if (t % 100 == 90 && tsdb_db_commit(db))
                _exit(5);
        }
        /* Appended, never committed: may be lost, must not be half there. */
        for (int64_t t = 1000; t < 1050; t += 10)
            tsdb_db_append(db, &ls, t, (double)t / 10, NULL);
        raise(SIGKILL);
        _exit(6);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);
    struct tsdb_db *db = open_db(dir, 0, 0, 0);
    expect(db, "k", 0, 1000, 10);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, head_cut_into_blocks_and_wal_checkpointed)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    fill(db, "a", 0, 3500, 100, 5);
    fill(db, "b", 0, 1200, 100, 5); /* ends early: gone from the head after the cuts */
    cr_assert_eq(tsdb_db_maintain(db), 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    /* The head spanned 0..3400: [0,1000) and [1000,2000) became blocks. */
    cr_assert_eq(st.blocks, 2);
    cr_assert_eq(st.head_cuts, 2);
    cr_assert_eq(st.wal_checkpoints, 2);
    cr_assert_eq(st.head.series, 1);
    cr_assert_eq(st.head.mint, 2000);
    cr_assert_eq(st.min_time, 0);
    expect(db, "a", 0, 3500, 100);
    expect(db, "b", 0, 1200, 100);
    char ck[PATH_MAX + 32];
    snprintf(ck, sizeof(ck), "%s/wal", dir);
    cr_assert_eq(count_entries(ck, "checkpoint.[0-9]*"), 1);
    /* Samples the blocks hold are refused by the head. */
    struct tsdb_label l[] = {{"__name__", "up"}, {"job", "c"}};
    struct tsdb_labels ls = {l, 2};
    cr_assert_eq(tsdb_db_append(db, &ls, 1500, 1, NULL), -ERANGE);
    tsdb_db_close(db);

    /* Reopened: blocks plus the replayed checkpoint and WAL, nothing twice. */
    db = open_db(dir, 1000, 0, 0);
    expect(db, "a", 0, 3500, 100);
    expect(db, "b", 0, 1200, 100);
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.blocks, 2);
    cr_assert_eq(st.head.series, 1);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, compaction_merges_ranges)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    size_t nr;
    const int64_t *r = tsdb_db_ranges(db, &nr);
    cr_assert_geq(nr, 3);
    cr_assert_eq(r[0], 1000);
    cr_assert_eq(r[1], 3000);
    cr_assert_eq(r[2], 9000);
    fill(db, "a", 0, 10000, 50, 20);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    /* Nine 1s blocks cut: [0,3000) and [3000,6000) compacted (the newest
     * block is never planned, so [6000,9000) stays as three). */
    cr_assert_eq(st.head_cuts, 9);
    cr_assert_eq(st.compactions, 2);
    cr_assert_eq(st.blocks, 5);
    expect(db, "a", 0, 10000, 50);
    tsdb_db_close(db);
    db = open_db(dir, 1000, 0, 0);
    expect(db, "a", 0, 10000, 50);
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.blocks, 5);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, retention_by_time)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    /* A tenth of 3s is below the block range: no compaction. */
    struct tsdb_db *db = open_db(dir, 1000, 3000, 0);
    size_t nr;
    tsdb_db_ranges(db, &nr);
    cr_assert_eq(nr, 1);
    fill(db, "a", 0, 10000, 100, 10);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    /* Blocks end at 1000..9000; those ending more than 3s before 9000 go. */
    cr_assert_eq(st.head_cuts, 9);
    cr_assert_eq(st.retention_deleted, 5);
    cr_assert_eq(st.blocks, 4);
    cr_assert_eq(st.min_time, 5000);
    expect(db, "a", 5000, 10000, 100);
    cr_assert_eq(count_entries(dir, "tmp-for-deletion"), 0);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, retention_by_size)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    fill(db, "a", 0, 10000, 100, 10);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    uint64_t blocks = st.blocks_bytes, wal = st.wal_bytes;
    cr_assert_gt(blocks, 0);
    tsdb_db_close(db);
    /* Room for the WAL and a little more than half the blocks. */
    db = open_db(dir, 1000, 0, wal + blocks / 2 + 1);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    tsdb_db_stats(db, &st);
    cr_assert_gt(st.size_deleted, 0);
    cr_assert_leq(st.blocks_bytes + st.wal_bytes, wal + blocks / 2 + 1);
    /* The newest data stays. */
    struct tsdb_db_querier *q;
    cr_assert_eq(tsdb_db_querier_open(db, 9000, 9900, &q), 0);
    size_t nsrc;
    const struct tsdb_source *src = tsdb_db_querier_sources(q, &nsrc);
    struct tsdb_series_set set = {0};
    cr_assert_eq(tsdb_query_select(src, nsrc, NULL, 0, 9000, 9900, &set), 0);
    cr_assert_eq(set.n, 1);
    cr_assert_eq(set.v[0].n, 10);
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

/* Cuts two blocks in dir and returns their directory names, oldest first. */
static void two_blocks(const char *dir, char names[2][PATH_MAX])
{
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    fill(db, "a", 0, 3600, 100, 10);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    tsdb_db_close(db);
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls -1d %s/0* | sort", dir);
    FILE *p = popen(cmd, "r");
    for (int i = 0; i < 2; i++) {
        cr_assert_not_null(fgets(names[i], PATH_MAX, p));
        names[i][strcspn(names[i], "\n")] = '\0';
    }
    pclose(p);
    /* ULIDs made in the same millisecond sort randomly: order by time. */
    struct tsdb_block_meta m0, m1;
    cr_assert_eq(tsdb_meta_read(names[0], &m0, NULL, 0), 0);
    cr_assert_eq(tsdb_meta_read(names[1], &m1, NULL, 0), 0);
    if (m0.min_time > m1.min_time) {
        char t[PATH_MAX];
        memcpy(t, names[0], PATH_MAX);
        memcpy(names[0], names[1], PATH_MAX);
        memcpy(names[1], t, PATH_MAX);
    }
    tsdb_meta_free(&m0);
    tsdb_meta_free(&m1);
}

Test(tsdb_db, corrupt_meta_block_set_aside)
{
    char dir[PATH_MAX], names[2][PATH_MAX], path[PATH_MAX + 16];
    tmpdir(dir);
    two_blocks(dir, names);
    snprintf(path, sizeof(path), "%s/meta.json", names[0]);
    FILE *f = fopen(path, "w");
    fputs("{not json", f);
    fclose(f);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.blocks, 1);
    snprintf(path, sizeof(path), "%s.corrupt", names[0]);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s was not set aside", names[0]);
    expect(db, "a", 1000, 3600, 100); /* the other block and the head serve */
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, index_with_bad_checksum_set_aside)
{
    char dir[PATH_MAX], names[2][PATH_MAX], path[PATH_MAX + 16];
    tmpdir(dir);
    two_blocks(dir, names);
    snprintf(path, sizeof(path), "%s/index", names[1]);
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t byte;
    cr_assert_eq(pread(fd, &byte, 1, 20), 1); /* inside the symbol table */
    byte ^= 0x40;
    cr_assert_eq(pwrite(fd, &byte, 1, 20), 1);
    close(fd);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.blocks, 1);
    snprintf(path, sizeof(path), "%s.corrupt", names[1]);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

/* Flips a byte in the data of the last chunk of dir's block [0, 1000). */
static void damage_last_chunk(const char *dir)
{
    char path[PATH_MAX + 64], meta[PATH_MAX];
    snprintf(path, sizeof(path), "grep -l '\"minTime\": 0,' %s/0*/meta.json", dir);
    FILE *p = popen(path, "r");
    cr_assert_not_null(fgets(meta, sizeof(meta), p));
    pclose(p);
    meta[strcspn(meta, "\n")] = '\0';
    snprintf(path, sizeof(path), "%.*s/chunks/000001", (int)(strlen(meta) - 10), meta);
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    cr_assert_eq(pread(fd, &byte, 1, sb.st_size - 6), 1);
    byte ^= 0x01;
    cr_assert_eq(pwrite(fd, &byte, 1, sb.st_size - 6), 1);
    close(fd);
}

Test(tsdb_db, flipped_chunk_byte_is_a_query_error)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 1000, 0, 0);
    fill(db, "a", 0, 3600, 100, 10);
    fill(db, "b", 0, 3600, 100, 10);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    tsdb_db_close(db);
    /* In the block [0,1000), flip a byte of the last chunk (b's; opening
     * checks the first one, so this damage is found only when read). */
    damage_last_chunk(dir);

    db = open_db(dir, 1000, 0, 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.blocks, 2);
    struct tsdb_db_querier *q;
    size_t nsrc;
    struct tsdb_series_set set = {0};
    /* Over the damaged chunk: a checksum error, not wrong samples. */
    cr_assert_eq(tsdb_db_querier_open(db, 0, 999, &q), 0);
    const struct tsdb_source *src = tsdb_db_querier_sources(q, &nsrc);
    cr_assert_eq(tsdb_query_select(src, nsrc, NULL, 0, 0, 999, &set), -EBADMSG);
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    /* Everything else serves. */
    expect(db, "a", 0, 3600, 100);
    set = (struct tsdb_series_set){0};
    cr_assert_eq(tsdb_db_querier_open(db, 1000, 3600, &q), 0);
    src = tsdb_db_querier_sources(q, &nsrc);
    cr_assert_eq(tsdb_query_select(src, nsrc, NULL, 0, 1000, 3600, &set), 0);
    cr_assert_eq(set.n, 2);
    cr_assert_eq(set.v[1].n, 26);
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, torn_wal_tail_repaired)
{
    char dir[PATH_MAX], seg[PATH_MAX + 32];
    tmpdir(dir);
    struct tsdb_db *db = open_db(dir, 0, 0, 0);
    fill(db, "a", 0, 1000, 10, 10);
    tsdb_db_close(db);
    /* The segment holds ten samples records after the series record; cut
     * the file in the middle of the last one. */
    snprintf(seg, sizeof(seg), "%s/wal/00000000", dir);
    /* The end of the records: the padding after them is zeros. */
    static uint8_t data[1 << 16];
    int fd = open(seg, O_RDONLY);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, data, sizeof(data));
    close(fd);
    cr_assert_gt(n, 0);
    long used = (long)n;
    while (used > 0 && data[used - 1] == 0)
        used--;
    cr_assert_gt(used, 100);
    cr_assert_eq(truncate(seg, used - 20), 0);

    db = open_db(dir, 0, 0, 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.wal_corruptions, 1);
    expect(db, "a", 0, 900, 10); /* the last commit's 10 samples were torn */
    fill(db, "a", 900, 1100, 10, 5);
    tsdb_db_close(db);
    db = open_db(dir, 0, 0, 0);
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.wal_corruptions, 0);
    expect(db, "a", 0, 1100, 10);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, unwritable_wal_keeps_serving_and_resumes)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* A file size limit makes every write past 64 KiB fail with EFBIG,
         * as a full disk fails with ENOSPC. */
        signal(SIGXFSZ, SIG_IGN);
        struct tsdb_db *db;
        struct tsdb_db_opts o = {0};
        if (tsdb_db_open(dir, &o, &db, NULL, 0))
            _exit(10);
        struct rlimit rl = {65536, RLIM_INFINITY};
        setrlimit(RLIMIT_FSIZE, &rl);
        struct tsdb_label l[] = {{"__name__", "up"}, {"job", "f"}};
        struct tsdb_labels ls = {l, 2};
        int64_t t = 0, failed_at = -1;
        for (; t < 200000 && failed_at < 0; t += 10) {
            if (tsdb_db_append(db, &ls, t, (double)t / 10, NULL))
                _exit(11);
            int rc = tsdb_db_commit(db);
            if (rc == -EFBIG)
                failed_at = t;
            else if (rc)
                _exit(12);
        }
        if (failed_at < 0)
            _exit(13);
        struct tsdb_db_stats st;
        tsdb_db_stats(db, &st);
        if (st.wal_ok || st.wal_failures != 1)
            _exit(14);
        /* The next commits start a fresh segment (a new file is empty, so
         * the limit lets it grow again) and resume logging. */
        for (int i = 0; i < 5; i++, t += 10)
            if (tsdb_db_append(db, &ls, t, (double)t / 10, NULL) || tsdb_db_commit(db))
                _exit(15);
        tsdb_db_stats(db, &st);
        if (!st.wal_ok || st.head.samples != (uint64_t)(t / 10))
            _exit(16);
        tsdb_db_close(db);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "child died: %d", status);
    cr_assert_eq(WEXITSTATUS(status), 0, "child step %d failed", WEXITSTATUS(status));
    /* After restart: everything but the one failed commit's sample. */
    struct tsdb_db *db = open_db(dir, 0, 0, 0);
    struct tsdb_db_querier *q;
    cr_assert_eq(tsdb_db_querier_open(db, INT64_MIN, INT64_MAX, &q), 0);
    size_t nsrc;
    const struct tsdb_source *src = tsdb_db_querier_sources(q, &nsrc);
    struct tsdb_series_set set = {0};
    cr_assert_eq(tsdb_query_select(src, nsrc, NULL, 0, INT64_MIN, INT64_MAX, &set), 0);
    cr_assert_eq(set.n, 1);
    size_t gaps = 0;
    for (size_t i = 1; i < set.v[0].n; i++) {
        cr_assert_gt(set.v[0].samples[i].t, set.v[0].samples[i - 1].t);
        gaps += set.v[0].samples[i].t - set.v[0].samples[i - 1].t != 10;
    }
    cr_assert_eq(gaps, 1, "exactly the failed commit is missing");
    tsdb_series_set_free(&set);
    tsdb_db_querier_close(q);
    tsdb_db_close(db);
    chunktest_rmtree(dir);
}

Test(tsdb_db, read_only_changes_nothing)
{
    char dir[PATH_MAX], names[2][PATH_MAX], path[PATH_MAX + 16];
    tmpdir(dir);
    two_blocks(dir, names);
    snprintf(path, sizeof(path), "%s/meta.json", names[0]);
    FILE *f = fopen(path, "w");
    fputs("[]", f);
    fclose(f);
    struct tsdb_db_opts o = {.read_only = true};
    struct tsdb_db *db;
    cr_assert_eq(tsdb_db_open(dir, &o, &db, NULL, 0), 0);
    struct tsdb_label l[] = {{"__name__", "x"}};
    struct tsdb_labels ls = {l, 1};
    cr_assert_eq(tsdb_db_append(db, &ls, 1, 1, NULL), -EROFS);
    cr_assert_eq(tsdb_db_commit(db), -EROFS);
    cr_assert_eq(tsdb_db_maintain(db), -EROFS);
    expect(db, "a", 1000, 3600, 100);
    tsdb_db_close(db);
    struct stat sb;
    cr_assert_eq(stat(names[0], &sb), 0, "read-only open renamed a block");
    chunktest_rmtree(dir);
}

Test(tsdb_db, failed_compaction_not_retried)
{
    char dir[PATH_MAX];
    tmpdir(dir);
    /* A tenth of the retention is under 3 s: only 1 s blocks, no compaction. */
    struct tsdb_db *db = open_db(dir, 1000, 29999, 0);
    fill(db, "a", 0, 5000, 100, 10);
    fill(db, "b", 0, 5000, 100, 10);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    struct tsdb_db_stats st;
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.blocks, 4);
    cr_assert_eq(st.compactions, 0);
    tsdb_db_close(db);
    damage_last_chunk(dir);

    /* With the 3 s range the first three blocks are planned; compacting
     * them fails on the damaged chunk, and they are not tried again. */
    db = open_db(dir, 1000, 0, 0);
    cr_assert_neq(tsdb_db_maintain(db), 0);
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.compactions_failed, 1);
    cr_assert_eq(st.blocks, 4);
    cr_assert_eq(tsdb_db_maintain(db), 0);
    tsdb_db_stats(db, &st);
    cr_assert_eq(st.compactions_failed, 1);
    cr_assert_eq(st.compactions, 0);
    expect(db, "a", 0, 5000, 100);
    tsdb_db_close(db);
    cr_assert_eq(count_entries(dir, ".tmp"), 0);
    chunktest_rmtree(dir);
}
