/*
 * The kernel log reader: the record parser on valid, escaped, user-written
 * and malformed records, and the follower on files of records (fixtures in
 * tests/fixtures/events/kmsg/ and files written here): growth, partial
 * lines, truncation and rotation, resume points, sequence gaps, garbage,
 * overlong lines and a file of 100,000 records. On /dev/kmsg itself
 * (root) it finds a line it wrote there and resumes right before it.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "events/internal.h"

#define FIXTURES CAIRN_SOURCE_DIR "/tests/fixtures/events/kmsg"

static int parse(const char *s, struct evt_kmsg_record *rec)
{
    return evt_kmsg_parse(s, strlen(s), rec);
}

static void tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/cairn-kmsg-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void write_bytes(const char *path, const char *mode, const char *data, size_t len)
{
    FILE *f = fopen(path, mode);
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void put(const char *path, const char *text)
{
    write_bytes(path, "w", text, strlen(text));
}

static void append(const char *path, const char *text)
{
    write_bytes(path, "a", text, strlen(text));
}

static struct evt_kmsg *follow(const char *path)
{
    struct evt_kmsg *k;
    char err[256];
    int rc = evt_kmsg_open(path, &k, err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    return k;
}

/* The next record must be seq with message msg. */
static void expect(struct evt_kmsg *k, struct evt_kmsg_record *rec, uint64_t seq, const char *msg)
{
    int rc = evt_kmsg_next(k, 0, rec);
    cr_assert_eq(rc, 1, "want record %llu \"%s\", got rc %d", (unsigned long long)seq, msg, rc);
    cr_assert_eq(rec->seq, seq, "want seq %llu, got %llu", (unsigned long long)seq,
                 (unsigned long long)rec->seq);
    cr_assert_str_eq(rec->msg, msg);
    cr_assert_eq(rec->msglen, strlen(msg));
}

static void expect_end(struct evt_kmsg *k, struct evt_kmsg_record *rec)
{
    cr_assert_eq(evt_kmsg_next(k, 0, rec), 0);
}

static void expect_stats(struct evt_kmsg *k, uint64_t records, uint64_t gaps, uint64_t malformed,
                         uint64_t truncated, uint64_t reopened)
{
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    cr_assert_eq(st.records, records, "records %llu", (unsigned long long)st.records);
    cr_assert_eq(st.gaps, gaps, "gaps %llu", (unsigned long long)st.gaps);
    cr_assert_eq(st.malformed, malformed, "malformed %llu", (unsigned long long)st.malformed);
    cr_assert_eq(st.truncated, truncated, "truncated %llu", (unsigned long long)st.truncated);
    cr_assert_eq(st.reopened, reopened, "reopened %llu", (unsigned long long)st.reopened);
}

/* ---- the parser --------------------------------------------------------------------- */

Test(events_kmsg, parse_fields)
{
    struct evt_kmsg_record rec;
    cr_assert_eq(parse("6,339,5140900,-;NET: Registered PF_INET6 protocol family\n", &rec), 0);
    cr_assert_eq(rec.level, 6);
    cr_assert_eq(rec.facility, 0);
    cr_assert_eq(rec.seq, 339);
    cr_assert_eq(rec.ts_usec, 5140900);
    cr_assert_eq(rec.flag, '-');
    cr_assert_str_eq(rec.msg, "NET: Registered PF_INET6 protocol family");
    cr_assert_eq(rec.msglen, 40);
    cr_assert_str_eq(rec.subsystem, "");
    cr_assert_str_eq(rec.device, "");
    cr_assert(!rec.truncated);

    /* No trailing newline, an empty message, fields after FLAG, other flags. */
    cr_assert_eq(parse("0,0,0,c;", &rec), 0);
    cr_assert_eq(rec.level, 0);
    cr_assert_eq(rec.flag, 'c');
    cr_assert_eq(rec.msglen, 0);
    cr_assert_str_eq(rec.msg, "");
    cr_assert_eq(parse("7,12,34,+,caller=T123,more;x;y", &rec), 0);
    cr_assert_eq(rec.level, 7);
    cr_assert_eq(rec.flag, '+');
    cr_assert_eq(rec.seq, 12);
    cr_assert_str_eq(rec.msg, "x;y");
}

Test(events_kmsg, parse_user_written_records)
{
    /* `echo text > /dev/kmsg` without "<N>": LOG_USER, the default level. */
    struct evt_kmsg_record rec;
    cr_assert_eq(parse("12,345,678,-;cairn-test: hello", &rec), 0);
    cr_assert_eq(rec.facility, 1);
    cr_assert_eq(rec.level, 4);
    cr_assert_eq(rec.seq, 345);
    cr_assert_eq(rec.ts_usec, 678);
    cr_assert_str_eq(rec.msg, "cairn-test: hello");
    /* "<14>" written: facility 1, level 6; the top facility the kernel keeps. */
    cr_assert_eq(parse("14,1,2,-;x", &rec), 0);
    cr_assert_eq(rec.facility, 1);
    cr_assert_eq(rec.level, 6);
    cr_assert_eq(parse("2047,1,2,-;x", &rec), 0);
    cr_assert_eq(rec.facility, 255);
    cr_assert_eq(rec.level, 7);
}

Test(events_kmsg, parse_dictionary)
{
    struct evt_kmsg_record rec;
    const char *r = "6,1081,12345678,-;e1000e 0000:00:19.0 eth0: NIC Link is Down\n"
                    " SUBSYSTEM=pci\n"
                    " DEVICE=+pci:0000:00:19.0\n"
                    " OTHER=ignored\n"
                    " no equals sign\n";
    cr_assert_eq(parse(r, &rec), 0);
    cr_assert_str_eq(rec.msg, "e1000e 0000:00:19.0 eth0: NIC Link is Down");
    cr_assert_str_eq(rec.subsystem, "pci");
    cr_assert_str_eq(rec.device, "+pci:0000:00:19.0");
    /* Values are escaped like messages and cut to their buffer. */
    char big[200];
    snprintf(big, sizeof(big), "6,1,2,-;m\n SUBSYSTEM=a\\x3db\n DEVICE=%0100d", 7);
    cr_assert_eq(parse(big, &rec), 0);
    cr_assert_str_eq(rec.subsystem, "a=b");
    cr_assert_eq(strlen(rec.device), sizeof(rec.device) - 1);
    cr_assert(!rec.truncated);
}

Test(events_kmsg, parse_escapes)
{
    struct evt_kmsg_record rec;
    cr_assert_eq(parse("4,5,6,-;a\\x0ab\\x5cc\\x7f\\x1b[0m\\xe2\\x82\\xac\\x00z", &rec), 0);
    static const char want[] = "a\nb\\c\x7f\x1b[0m\xe2\x82\xac\0z";
    cr_assert_eq(rec.msglen, sizeof(want) - 1);
    cr_assert_eq(memcmp(rec.msg, want, sizeof(want)), 0);
    /* What is not a complete escape stays as it is. */
    cr_assert_eq(parse("4,5,6,-;\\x4g \\xZZ \\q \\x4", &rec), 0);
    cr_assert_str_eq(rec.msg, "\\x4g \\xZZ \\q \\x4");
    cr_assert_eq(parse("4,5,6,-;\\X41\\x41", &rec), 0);
    cr_assert_str_eq(rec.msg, "\\X41A");
}

Test(events_kmsg, parse_limits)
{
    struct evt_kmsg_record rec;
    cr_assert_eq(parse("6,18446744073709551615,9223372036854775807,-;max", &rec), 0);
    cr_assert_eq(rec.seq, UINT64_MAX);
    cr_assert_eq(rec.ts_usec, INT64_MAX);
    cr_assert_eq(parse("6,18446744073709551616,0,-;seq too big", &rec), -EINVAL);
    cr_assert_eq(parse("6,0,9223372036854775808,-;ts too big", &rec), -EINVAL);
    cr_assert_eq(parse("2048,0,0,-;priority too big", &rec), -EINVAL);
    cr_assert_eq(parse("99999999999999999999999,0,0,-;x", &rec), -EINVAL);
    /* Leading zeros are still decimal. */
    cr_assert_eq(parse("006,010,0,-;x", &rec), 0);
    cr_assert_eq(rec.seq, 10);
    cr_assert_eq(rec.level, 6);
}

Test(events_kmsg, parse_malformed)
{
    static const char *const bad[] = {
        "",
        "\n",
        "no semicolon at all",
        "6,1,2,-",
        "6,1,2,-\n;semicolon on the next line",
        ";message only",
        "6,1,2;three fields",
        "6,1;two fields",
        "6;one field",
        "6,x,2,-;seq not a number",
        "six,1,2,-;priority not a number",
        "6,1,2.5,-;fraction",
        "-6,1,2,-;negative priority",
        "6,-1,2,-;negative seq",
        "6,1,-2,-;negative timestamp",
        "+6,1,2,-;plus sign",
        " 6,1,2,-;leading blank",
        "6 ,1,2,-;blank",
        "6,,2,-;empty seq",
        ",1,2,-;empty priority",
        "6,1,,-;empty timestamp",
        "6,1,2,;empty flag",
        "6,1,2,--;two-byte flag",
        "6,1,2, ;blank flag",
        "6,1,2,\x01;control flag",
        "6,1,2,-;ok\nnot a dictionary line",
        "6,1,2,-;ok\n\n",
        "6,1,2,-;ok\n SUBSYSTEM=x\n\n",
        "0x6,1,2,-;hex",
        "1e3,1,2,-;exponent",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct evt_kmsg_record rec;
        cr_assert_eq(parse(bad[i], &rec), -EINVAL, "accepted: \"%s\"", bad[i]);
    }
    struct evt_kmsg_record rec;
    static const char bin[] = "\x01\x02\xff;\x00\x80,,;";
    cr_assert_eq(evt_kmsg_parse(bin, sizeof(bin) - 1, &rec), -EINVAL);
    static const char nul[] = "6,1\0,2,-;nul in a number";
    cr_assert_eq(evt_kmsg_parse(nul, sizeof(nul) - 1, &rec), -EINVAL);
}

Test(events_kmsg, parse_long_message_is_cut)
{
    static char data[20000];
    memcpy(data, "6,1,2,-;", 8);
    memset(data + 8, 'm', sizeof(data) - 8);
    struct evt_kmsg_record rec;
    cr_assert_eq(evt_kmsg_parse(data, sizeof(data), &rec), 0);
    cr_assert(rec.truncated);
    cr_assert_eq(rec.msglen, EVT_KMSG_RECORD_MAX - 1);
    cr_assert_eq(rec.msg[EVT_KMSG_RECORD_MAX - 1], '\0');
    cr_assert_eq(rec.msg[EVT_KMSG_RECORD_MAX - 2], 'm');
}

Test(events_kmsg, parse_reads_only_len_bytes)
{
    static const char data[] = "6,1,2,-;abcdef\n SUBSYSTEM=pci";
    struct evt_kmsg_record rec;
    cr_assert_eq(evt_kmsg_parse(data, 10, &rec), 0);
    cr_assert_str_eq(rec.msg, "ab");
    cr_assert_str_eq(rec.subsystem, "");
    cr_assert_eq(evt_kmsg_parse(data, 3, &rec), -EINVAL);
}

/* ---- the follower on files ---------------------------------------------------------------- */

Test(events_kmsg, open_errors)
{
    struct evt_kmsg *k = (struct evt_kmsg *)1;
    char err[256];
    cr_assert_eq(evt_kmsg_open("/nonexistent/kmsg", &k, err, sizeof(err)), -ENOENT);
    cr_assert_null(k);
    cr_assert_str_eq(err, "/nonexistent/kmsg: No such file or directory");
    char dir[64];
    tmpdir(dir, sizeof(dir));
    cr_assert_eq(evt_kmsg_open(dir, &k, err, sizeof(err)), -EINVAL);
    char want[128];
    snprintf(want, sizeof(want), "%s: not a character device or a regular file", dir);
    cr_assert_str_eq(err, want);
    evt_kmsg_close(NULL);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_fixture_records)
{
    struct evt_kmsg *k = follow(FIXTURES "/basic.txt");
    struct evt_kmsg_record rec;
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    cr_assert(!st.have_seq);
    expect(k, &rec, 0,
           "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian "
           "12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC "
           "Debian 6.1.76-1 (2024-02-01)");
    cr_assert_eq(rec.level, 5);
    expect(k, &rec, 1,
           "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b8d2c1e ro quiet");
    expect(k, &rec, 2,
           "e1000e 0000:00:19.0 eth0: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx");
    cr_assert_eq(rec.ts_usec, 1523341);
    cr_assert_str_eq(rec.subsystem, "pci");
    cr_assert_str_eq(rec.device, "+pci:0000:00:19.0");
    expect(k, &rec, 3,
           "Out of memory: Killed process 4242 (cairn-victim) total-vm:1024kB, anon-rss:0kB, "
           "file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0");
    cr_assert_eq(rec.level, 3);
    cr_assert_str_eq(rec.subsystem, "");
    expect(k, &rec, 4, "tab\tand backslash\\ and \xe2\x82\xac euro, not an escape: \\x4g \\x");
    cr_assert_eq(rec.level, 4);
    expect(k, &rec, 5, "cairn-test: written from user space");
    cr_assert_eq(rec.facility, 1);
    cr_assert_eq(rec.level, 4);
    expect(k, &rec, 6, "continued fragment");
    cr_assert_eq(rec.flag, 'c');
    cr_assert_str_eq(rec.subsystem, "block");
    cr_assert_str_eq(rec.device, "b8:0");
    expect_end(k, &rec);
    cr_assert_eq(evt_kmsg_next(k, -5, &rec), 0);
    expect_stats(k, 7, 0, 0, 0, 0);
    evt_kmsg_stats(k, &st);
    cr_assert(st.have_seq);
    cr_assert_eq(st.last_seq, 6);
    evt_kmsg_close(k);
}

Test(events_kmsg, file_garbage_is_counted_and_skipped)
{
    struct evt_kmsg *k = follow(FIXTURES "/garbage.txt");
    struct evt_kmsg_record rec;
    expect(k, &rec, 0, "first good");
    expect(k, &rec, 1, "second good");
    expect(k, &rec, 2, "third good");
    cr_assert_str_eq(rec.subsystem, "net");
    cr_assert_str_eq(rec.device, "n2");
    expect(k, &rec, 4, "fourth good");
    expect(k, &rec, 6, "fifth good");
    expect_end(k, &rec);
    /* The orphan dictionary line, "this line", "bad sequence", the binary
     * line, the empty line, the negative and the too large priority, the
     * three fields; seq 3 and 5 lost. */
    expect_stats(k, 5, 2, 8, 0, 0);
    evt_kmsg_close(k);
}

Test(events_kmsg, file_grows_and_partial_lines_wait)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    put(path, "");
    struct evt_kmsg *k = follow(path);
    struct evt_kmsg_record rec;
    cr_assert_eq(evt_kmsg_next(k, 60, &rec), 0);
    append(path, "6,1,100,-;one\n");
    expect(k, &rec, 1, "one");
    expect_end(k, &rec);
    /* A record is complete only with its newline. */
    append(path, "6,2,200,-;two, wri");
    expect_end(k, &rec);
    append(path, "tten in pieces");
    expect_end(k, &rec);
    append(path, "\n SUBSYSTEM=net\n");
    expect(k, &rec, 2, "two, written in pieces");
    cr_assert_str_eq(rec.subsystem, "net");
    /* A dictionary line after its record was returned is an orphan. */
    append(path, " DEVICE=n3\n6,3,300,-;three\n");
    expect(k, &rec, 3, "three");
    cr_assert_str_eq(rec.device, "");
    expect_end(k, &rec);
    expect_stats(k, 3, 0, 1, 0, 0);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

struct late_writer {
    const char *path;
};

static void *write_late(void *arg)
{
    const struct late_writer *w = arg;
    usleep(200 * 1000);
    FILE *f = fopen(w->path, "a");
    if (f) {
        fputs("6,9,900,-;arrived while waiting\n", f);
        fclose(f);
    }
    return NULL;
}

Test(events_kmsg, file_record_arriving_during_a_wait)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    put(path, "");
    struct evt_kmsg *k = follow(path);
    struct late_writer w = {path};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, write_late, &w), 0);
    struct evt_kmsg_record rec;
    int rc = evt_kmsg_next(k, 30000, &rec);
    pthread_join(t, NULL);
    cr_assert_eq(rc, 1);
    cr_assert_eq(rec.seq, 9);
    cr_assert_str_eq(rec.msg, "arrived while waiting");
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_truncation_starts_a_new_stream)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    put(path, "6,10,0,-;ten\n6,11,0,-;eleven\n6,12,0,-;twelve\n");
    struct evt_kmsg *k = follow(path);
    evt_kmsg_resume(k, 10);
    struct evt_kmsg_record rec;
    expect(k, &rec, 11, "eleven");
    expect(k, &rec, 12, "twelve");
    append(path, "6,13,0,-;cut short");
    expect_end(k, &rec);
    /* Truncated and rewritten shorter: read from its start, the partial
     * record lost and counted, no gap for the restart. */
    put(path, "6,1,5,-;new one\n");
    expect(k, &rec, 1, "new one");
    append(path, "6,2,6,-;new two\n");
    expect(k, &rec, 2, "new two");
    expect_end(k, &rec);
    expect_stats(k, 4, 0, 1, 0, 1);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_rotation_reads_the_old_file_out_then_the_new_one)
{
    char dir[64], path[96], old[112];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    snprintf(old, sizeof(old), "%s/kmsg.1", dir);
    put(path, "6,500,0,-;a\n6,501,0,-;b\n");
    struct evt_kmsg *k = follow(path);
    struct evt_kmsg_record rec;
    expect(k, &rec, 500, "a");
    expect(k, &rec, 501, "b");
    expect_end(k, &rec);
    /* The writer adds a last record, the file is renamed and a new one
     * starts with lower numbers. */
    append(path, "6,502,0,-;c, the old file's last\n");
    cr_assert_eq(rename(path, old), 0);
    put(path, "6,0,0,-;first of the new file\n6,1,0,-;second of the new file\n");
    expect(k, &rec, 502, "c, the old file's last");
    expect(k, &rec, 0, "first of the new file");
    expect(k, &rec, 1, "second of the new file");
    expect_end(k, &rec);
    expect_stats(k, 5, 0, 0, 0, 1);
    /* Deleted without a successor: the open file stays, nothing happens. */
    cr_assert_eq(unlink(path), 0);
    expect_end(k, &rec);
    expect_stats(k, 5, 0, 0, 0, 1);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_resume_skips_and_counts_the_gap)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    put(path, "6,1,0,-;r1\n6,2,0,-;r2\n6,3,0,-;r3\n6,8,0,-;r8\n6,9,0,-;r9\n");
    struct evt_kmsg_record rec;

    /* Resuming at 2: 3 is next, no gap; then 4..7 are lost. */
    struct evt_kmsg *k = follow(path);
    evt_kmsg_resume(k, 2);
    expect(k, &rec, 3, "r3");
    expect(k, &rec, 8, "r8");
    expect(k, &rec, 9, "r9");
    expect_end(k, &rec);
    expect_stats(k, 3, 4, 0, 0, 0);
    evt_kmsg_close(k);

    /* Resuming at 5: records at or below it skipped silently, 6 and 7 lost. */
    k = follow(path);
    evt_kmsg_resume(k, 5);
    expect(k, &rec, 8, "r8");
    expect(k, &rec, 9, "r9");
    expect_end(k, &rec);
    expect_stats(k, 2, 2, 0, 0, 0);
    evt_kmsg_close(k);

    /* Resuming past everything returns nothing, until a newer record comes. */
    k = follow(path);
    evt_kmsg_resume(k, 100);
    expect_end(k, &rec);
    expect_stats(k, 0, 0, 0, 0, 0);
    append(path, "6,101,0,-;r101\n");
    expect(k, &rec, 101, "r101");
    expect_stats(k, 1, 0, 0, 0, 0);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_sequence_gaps_and_restarts)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    /* The first record counts nothing; 3-4 and 7-9 are lost; then the
     * numbers start over (a new stream: counted, not a gap). */
    put(path, "6,1,0,-;a\n6,2,0,-;b\n6,5,0,-;c\n6,6,0,-;d\n6,10,0,-;e\n"
              "6,2,0,-;f\n6,3,0,-;g\n6,3,0,-;h\n6,5,0,-;i\n");
    struct evt_kmsg *k = follow(path);
    struct evt_kmsg_record rec;
    expect(k, &rec, 1, "a");
    expect(k, &rec, 2, "b");
    expect(k, &rec, 5, "c");
    expect(k, &rec, 6, "d");
    expect(k, &rec, 10, "e");
    expect_stats(k, 5, 5, 0, 0, 0);
    expect(k, &rec, 2, "f");
    expect(k, &rec, 3, "g");
    expect(k, &rec, 3, "h"); /* a repeat is a restart too */
    expect(k, &rec, 5, "i");
    expect_end(k, &rec);
    expect_stats(k, 9, 6, 0, 0, 2);
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    cr_assert_eq(st.last_seq, 5);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_overlong_lines_are_cut)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    struct cn_buf b;
    cn_buf_init(&b);
    /* A 100 KB record, a record, a 100 KB line without ';', a long record
     * whose too long dictionary line is dropped, a record. */
    cn_buf_puts(&b, "6,1,0,-;");
    for (int i = 0; i < 100000; i++)
        cn_buf_putc(&b, 'x');
    cn_buf_puts(&b, "\n6,2,1,-;after\n");
    for (int i = 0; i < 100000; i++)
        cn_buf_putc(&b, 'y');
    cn_buf_puts(&b, "\n6,3,2,-;");
    for (int i = 0; i < 8000; i++)
        cn_buf_putc(&b, 'z');
    cn_buf_puts(&b, "\n SUBSYSTEM=");
    for (int i = 0; i < 500; i++)
        cn_buf_putc(&b, 'q');
    cn_buf_puts(&b, "\n DEVICE=sda\n6,4,3,-;end\n");
    cr_assert_eq(b.err, 0);
    write_bytes(path, "w", b.data, b.len);
    cn_buf_free(&b);

    struct evt_kmsg *k = follow(path);
    static struct evt_kmsg_record rec;
    cr_assert_eq(evt_kmsg_next(k, 0, &rec), 1);
    cr_assert_eq(rec.seq, 1);
    cr_assert(rec.truncated);
    cr_assert_eq(rec.msglen, EVT_KMSG_RECORD_MAX - 1 - 8);
    cr_assert_eq(strspn(rec.msg, "x"), rec.msglen);
    expect(k, &rec, 2, "after");
    cr_assert(!rec.truncated);
    cr_assert_eq(evt_kmsg_next(k, 0, &rec), 1);
    cr_assert_eq(rec.seq, 3);
    cr_assert(rec.truncated);
    cr_assert_eq(rec.msglen, 8000);
    cr_assert_str_eq(rec.subsystem, "");
    cr_assert_str_eq(rec.device, "sda");
    expect(k, &rec, 4, "end");
    cr_assert(!rec.truncated);
    expect_end(k, &rec);
    expect_stats(k, 4, 0, 1, 2, 0);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_kmsg, file_of_100000_records)
{
    char dir[64], path[96];
    tmpdir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 100000; i++) {
        fprintf(f, "%d,%d,%d,-;message number %d\n", i % 8, i, i * 10, i);
        if (i % 10 == 0)
            fprintf(f, " SUBSYSTEM=net\n DEVICE=n%d\n", i);
    }
    cr_assert_eq(fclose(f), 0);

    struct evt_kmsg *k = follow(path);
    static struct evt_kmsg_record rec;
    for (int i = 0; i < 100000; i++) {
        cr_assert_eq(evt_kmsg_next(k, 0, &rec), 1, "record %d", i);
        char want[64];
        snprintf(want, sizeof(want), "message number %d", i);
        if (rec.seq != (uint64_t)i || strcmp(rec.msg, want) || rec.level != i % 8 ||
            rec.ts_usec != i * 10)
            cr_assert_fail("record %d: seq %llu \"%s\"", i, (unsigned long long)rec.seq, rec.msg);
        if (i % 10 == 0) {
            snprintf(want, sizeof(want), "n%d", i);
            cr_assert_str_eq(rec.device, want);
            cr_assert_str_eq(rec.subsystem, "net");
        } else {
            cr_assert_str_eq(rec.device, "");
        }
    }
    expect_end(k, &rec);
    expect_stats(k, 100000, 0, 0, 0, 0);
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    cr_assert_eq(st.last_seq, 99999);
    evt_kmsg_close(k);
    cr_assert_eq(cn_remove_all(dir), 0);
}

/* ---- the follower on /dev/kmsg --------------------------------------------------------------- */

Test(events_kmsg, device_finds_a_line_written_to_it)
{
    if (access("/dev/kmsg", R_OK))
        cr_skip_test("/dev/kmsg is not readable here (needs root or CAP_SYSLOG): %s",
                     strerror(errno));
    char token[96];
    snprintf(token, sizeof(token), "cairn-test: kmsg follower %d-%lld", (int)getpid(),
             (long long)cn_mono_ns());
    bool wrote = false;
    int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        char line[128];
        int n = snprintf(line, sizeof(line), "<6>%s\n", token);
        wrote = write(fd, line, (size_t)n) == n;
        close(fd);
    }

    struct evt_kmsg *k = follow("/dev/kmsg");
    static struct evt_kmsg_record rec;
    uint64_t prev = 0, found = 0, n = 0;
    bool have_prev = false, have_found = false;
    for (;;) {
        int rc = evt_kmsg_next(k, have_found || !wrote ? 0 : 2000, &rec);
        cr_assert_geq(rc, 0, "%s", strerror(-rc));
        if (rc == 0)
            break;
        n++;
        if (have_prev)
            cr_assert_gt(rec.seq, prev);
        cr_assert_geq(rec.ts_usec, 0);
        cr_assert_leq(rec.level, 7);
        prev = rec.seq;
        have_prev = true;
        if (!have_found && !strcmp(rec.msg, token)) {
            have_found = true;
            found = rec.seq;
            cr_assert_eq(rec.facility, 1);
            cr_assert_eq(rec.level, 6);
            cr_assert_eq(rec.flag, '-');
        }
    }
    cr_assert_gt(n, 0);
    struct evt_kmsg_stats st;
    evt_kmsg_stats(k, &st);
    cr_assert_eq(st.records, n);
    cr_assert(st.have_seq);
    cr_assert_eq(st.last_seq, prev);
    cr_assert_eq(st.malformed, 0);
    evt_kmsg_close(k);
    if (!wrote)
        cr_skip_test("read %llu records, but /dev/kmsg is not writable here: no line to look for",
                     (unsigned long long)n);
    cr_assert(have_found, "\"%s\" not found in %llu records", token, (unsigned long long)n);
    cr_assert_gt(found, 0);

    /* Resuming right before it: that record comes first, no gap. */
    k = follow("/dev/kmsg");
    evt_kmsg_resume(k, found - 1);
    cr_assert_eq(evt_kmsg_next(k, 2000, &rec), 1);
    cr_assert_eq(rec.seq, found);
    cr_assert_str_eq(rec.msg, token);
    evt_kmsg_stats(k, &st);
    cr_assert_eq(st.gaps, 0);
    cr_assert_eq(st.records, 1);
    evt_kmsg_close(k);
}
