/*
 * Rules: the YAML format and its error messages, matching (first match
 * wins, captures as attributes, files appended in order, arbitrary bytes),
 * and the built-in default rules held against real kernel lines: every
 * default rule is matched by at least one line of the table (each rule is
 * also loaded on its own to prove it), with the exact type, severity,
 * source and attributes; ordinary lines match nothing.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "events/events.h"

#define DEFAULT_RULES_COUNT 31

static struct evt_rules *load(const char *text)
{
    struct evt_rules *r;
    char err[512];
    cr_assert_eq(evt_rules_create(&r), 0);
    int rc = evt_rules_load(r, "t.yml", text, strlen(text), err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    return r;
}

static struct evt_rules *load_defaults(void)
{
    struct evt_rules *r;
    size_t len;
    char err[512];
    const char *text = evt_default_rules(&len);
    cr_assert_eq(evt_rules_create(&r), 0);
    cr_assert_eq(evt_rules_load(r, EVT_DEFAULT_RULES_NAME, text, len, err, sizeof(err)), 0, "%s",
                 err);
    return r;
}

/* Loads text expecting failure: returns the message; the set stays empty. */
static void load_error(const char *text, const char *want)
{
    struct evt_rules *r;
    char err[512];
    cr_assert_eq(evt_rules_create(&r), 0);
    int rc = evt_rules_load(r, "bad.yml", text, strlen(text), err, sizeof(err));
    cr_assert_eq(rc, -EINVAL, "accepted: %s", text);
    cr_assert_str_eq(err, want);
    cr_assert_eq(evt_rules_count(r), 0);
    evt_rules_destroy(r);
}

/* Matches line; returns the rc, the event in ev. */
static int match(const struct evt_rules *r, const char *line, size_t len, struct evt_event *ev)
{
    struct evt_rules_matcher *m;
    cr_assert_eq(evt_rules_matcher_create(r, &m), 0);
    evt_event_init(ev);
    int rc = evt_rules_match(m, line, len, ev);
    evt_rules_matcher_destroy(m);
    return rc;
}

/* Asserts ev's attributes are exactly "k=v;k=v" (any order; "" for none). */
static void assert_attrs(const struct evt_event *ev, const char *want, const char *line)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", want);
    size_t n = 0;
    for (char *save = NULL, *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        cr_assert_not_null(eq);
        *eq = '\0';
        const char *got = evt_event_attr(ev, kv);
        cr_assert_not_null(got, "%s: no attribute %s", line, kv);
        cr_assert_str_eq(got, eq + 1, "%s: attribute %s", line, kv);
        n++;
    }
    cr_assert_eq(ev->nattrs, n, "%s: %zu attributes, want %zu (%s)", line, ev->nattrs, n, want);
}

/* ---- the default rules against real kernel lines ----------------------------------- */

struct kcase {
    const char *line, *type;
    enum evt_severity sev;
    enum evt_source src;
    const char *attrs;
};

#define K EVT_SRC_KERNEL
#define H EVT_SRC_HARDWARE
#define INFO EVT_SEV_INFO
#define WARN EVT_SEV_WARNING
#define CRIT EVT_SEV_CRITICAL

static const struct kcase cases[] = {
    {"Kernel panic - not syncing: Fatal exception in interrupt", "KernelPanic", CRIT, K,
     "reason=Fatal exception in interrupt"},
    {"Kernel panic - not syncing: Watchdog detected hard LOCKUP on cpu 2", "KernelPanic", CRIT, K,
     "reason=Watchdog detected hard LOCKUP on cpu 2"},
    {"Kernel panic - not syncing: Out of memory and no killable processes...", "KernelPanic", CRIT,
     K, "reason=Out of memory and no killable processes..."},
    {"cairn-test: Out of memory: Killed process 4242 (cairn-victim) total-vm:1024kB, "
     "anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0",
     "OOMKill", WARN, K, "pid=4242;process=cairn-victim"},
    {"Memory cgroup out of memory: Killed process 31337 (python3 worker) total-vm:1223540kB, "
     "anon-rss:524288kB, file-rss:10240kB, shmem-rss:0kB, UID:1000 pgtables:1400kB "
     "oom_score_adj:985",
     "OOMKill", WARN, K, "pid=31337;process=python3 worker"},
    {"Killed process 2592 (mysqld) total-vm:1286636kB, anon-rss:365000kB, file-rss:0kB", "OOMKill",
     WARN, K, "pid=2592;process=mysqld"},
    {"INFO: task kworker/u16:3:2816 blocked for more than 122 seconds.", "TaskHung", WARN, K,
     "process=kworker/u16:3;pid=2816;seconds=122"},
    {"INFO: task jbd2/sda1-8:412 blocked for more than 245 seconds.", "TaskHung", WARN, K,
     "process=jbd2/sda1-8;pid=412;seconds=245"},
    {"watchdog: BUG: soft lockup - CPU#3 stuck for 23s! [kworker/3:1:1234]", "SoftLockup", WARN, K,
     "cpu=3;seconds=23;process=kworker/3:1;pid=1234"},
    {"NMI watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [swapper/0:0]", "SoftLockup", WARN, K,
     "cpu=0;seconds=22;process=swapper/0;pid=0"},
    {"watchdog: CPU3: Watchdog detected hard LOCKUP on cpu 3", "HardLockup", CRIT, K, "cpu=3"},
    {"NMI watchdog: Watchdog detected hard LOCKUP on cpu 0", "HardLockup", CRIT, K, "cpu=0"},
    {"rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "RCUStall", WARN, K,
     "rcu_flavor=rcu_sched"},
    {"rcu: INFO: rcu_preempt self-detected stall on CPU", "RCUStall", WARN, K,
     "rcu_flavor=rcu_preempt"},
    {"rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: { 2-.... } 21 jiffies s: "
     "1237 root: 0x4/.",
     "RCUStall", WARN, K, "rcu_flavor=rcu_preempt"},
    {"BUG: unable to handle kernel NULL pointer dereference at 0000000000000008", "KernelOops",
     CRIT, K, "address=0000000000000008"},
    {"BUG: unable to handle page fault for address: ffffc90000a3c000", "KernelOops", CRIT, K,
     "address=ffffc90000a3c000"},
    {"BUG: kernel NULL pointer dereference, address: 0000000000000000", "KernelOops", CRIT, K,
     "address=0000000000000000"},
    {"Unable to handle kernel paging request at virtual address dead000000000108", "KernelOops",
     CRIT, K, "address=dead000000000108"},
    {"kernel BUG at fs/ext4/inode.c:2718!", "KernelOops", CRIT, K, "location=fs/ext4/inode.c:2718"},
    {"Oops: 0002 [#1] SMP PTI", "KernelOops", CRIT, K, "oops=1"},
    {"general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] "
     "SMP PTI",
     "KernelOops", CRIT, K, "oops=1"},
    {"general protection fault: 0000 [#3] SMP", "KernelOops", CRIT, K, "oops=3"},
    {"Oops: invalid opcode: 0000 [#2] PREEMPT SMP NOPTI", "KernelOops", CRIT, K, "oops=2"},
    {"Internal error: Oops: 0000000096000005 [#1] PREEMPT SMP", "KernelOops", CRIT, K, "oops=1"},
    {"WARNING: CPU: 2 PID: 123 at drivers/net/ethernet/intel/e1000e/netdev.c:4215 "
     "e1000e_reset+0x6ce/0x7c0 [e1000e]",
     "KernelWarning", WARN, K,
     "cpu=2;pid=123;location=drivers/net/ethernet/intel/e1000e/netdev.c:4215"},
    {"nginx[1234]: segfault at 0 ip 000055d0c1a3b139 sp 00007ffd7c4f0e40 error 4 in "
     "nginx[55d0c1a3b000+fb000]",
     "Segfault", WARN, K, "fault=segfault;process=nginx;pid=1234;address=0;object=nginx"},
    {"a.out[5678]: segfault at 18 ip 00007f1e2d8a1b2c sp 00007ffc9b3e1a70 error 4 in "
     "libc.so.6[7f1e2d800000+195000] likely on CPU 3 (core 3, socket 0)",
     "Segfault", WARN, K, "fault=segfault;process=a.out;pid=5678;address=18;object=libc.so.6"},
    {"crash[99]: segfault at 0 ip 0000000000000000 sp 00007ffd1c2b3a48 error 14", "Segfault", WARN,
     K, "fault=segfault;process=crash;pid=99;address=0"},
    {"traps: python3[4321] general protection fault ip:7f3a1c2b3d4e sp:7ffd12345678 error:0 in "
     "libc.so.6[7f3a1c200000+195000]",
     "Segfault", WARN, K,
     "process=python3;pid=4321;fault=general protection fault;object=libc.so.6"},
    {"traps: a.out[77] trap divide error ip:401126 sp:7ffc2e6b1f60 error:0 in a.out[401000+1000]",
     "Segfault", WARN, K, "process=a.out;pid=77;fault=trap divide error;object=a.out"},
    {"EXT4-fs (sda1): Remounting filesystem read-only", "FilesystemReadOnly", CRIT, K,
     "fstype=ext4;device=sda1"},
    {"XFS (dm-0): Corruption of in-memory data (0x8) detected at xfs_trans_cancel+0x12c/0x150 "
     "(fs/xfs/xfs_trans.c:1097).  Shutting down filesystem.",
     "FilesystemReadOnly", CRIT, K, "fstype=xfs;device=dm-0"},
    {"XFS (sdb1): Log I/O Error Detected. Shutting down filesystem", "FilesystemReadOnly", CRIT, K,
     "fstype=xfs;device=sdb1"},
    {"XFS (sdb1): Filesystem has been shut down due to log error (0x2).", "FilesystemReadOnly",
     CRIT, K, "fstype=xfs;device=sdb1"},
    {"BTRFS info (device sda1): forced readonly", "FilesystemReadOnly", CRIT, K,
     "fstype=btrfs;device=sda1"},
    {"BTRFS info (device nvme0n1p3 state EA): forced readonly", "FilesystemReadOnly", CRIT, K,
     "fstype=btrfs;device=nvme0n1p3"},
    {"EXT4-fs error (device sda1): ext4_lookup:1855: inode #2: comm ls: deleted inode referenced: "
     "12",
     "FilesystemError", WARN, K, "fstype=ext4;device=sda1;process=ls"},
    {"EXT4-fs error (device nvme0n1p2) in ext4_reserve_inode_write:5743: IO failure",
     "FilesystemError", WARN, K, "fstype=ext4;device=nvme0n1p2"},
    {"XFS (sdb1): Metadata corruption detected at xfs_dinode_verify+0xa4/0x570 [xfs], inode "
     "0x805 dinode",
     "FilesystemError", WARN, K, "fstype=xfs;device=sdb1"},
    {"XFS (dm-0): metadata I/O error in \"xfs_trans_read_buf_map\" at daddr 0x2 len 1 error 74",
     "FilesystemError", WARN, K, "fstype=xfs;device=dm-0"},
    {"XFS (sda1): Internal error XFS_WANT_CORRUPTED_GOTO at line 1423 of file "
     "fs/xfs/libxfs/xfs_alloc.c.  Caller xfs_free_ag_extent+0x3f6/0x870 [xfs]",
     "FilesystemError", WARN, K, "fstype=xfs;device=sda1"},
    {"BTRFS error (device sda1): bdev /dev/sda1 errs: wr 0, rd 1, flush 0, corrupt 0, gen 0",
     "FilesystemError", WARN, K, "fstype=btrfs;device=sda1"},
    {"BTRFS: error (device sdb1) in btrfs_commit_transaction:2418: errno=-5 IO failure",
     "FilesystemError", WARN, K, "fstype=btrfs;device=sdb1"},
    {"BTRFS critical (device dm-1): corrupt leaf: root=2 block=30425088 slot=4", "FilesystemError",
     WARN, K, "fstype=btrfs;device=dm-1"},
    {"I/O error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", "IOError",
     WARN, K, "error=I/O;device=sda;sector=2048"},
    {"blk_update_request: I/O error, dev sdc, sector 937703088 op 0x1:(WRITE) flags 0x800 "
     "phys_seg 1 prio class 0",
     "IOError", WARN, K, "error=I/O;device=sdc;sector=937703088"},
    {"critical medium error, dev sdb, sector 123456 op 0x0:(READ) flags 0x80700 phys_seg 1 prio "
     "class 0",
     "IOError", WARN, K, "error=critical medium;device=sdb;sector=123456"},
    {"Buffer I/O error on dev sda1, logical block 0, async page read", "IOError", WARN, K,
     "error=buffer I/O;device=sda1;block=0"},
    {"Buffer I/O error on device dm-3, logical block 524287", "IOError", WARN, K,
     "error=buffer I/O;device=dm-3;block=524287"},
    {"sd 0:0:0:0: [sda] tag#17 FAILED Result: hostbyte=DID_OK driverbyte=DRIVER_OK cmd_age=0s",
     "IOError", WARN, K,
     "error=scsi command failed;device=sda;hostbyte=DID_OK;driverbyte=DRIVER_OK"},
    {"sd 2:0:0:0: [sdb] FAILED Result: hostbyte=DID_BAD_TARGET driverbyte=DRIVER_OK", "IOError",
     WARN, K, "error=scsi command failed;device=sdb;hostbyte=DID_BAD_TARGET;driverbyte=DRIVER_OK"},
    {"nvme nvme0: I/O 123 QID 4 timeout, aborting", "IOError", WARN, K,
     "error=timeout;device=nvme0;qid=4"},
    {"nvme nvme1: I/O tag 22 (1016) opcode 0x2 (Read) QID 5 timeout, reset controller", "IOError",
     WARN, K, "error=timeout;device=nvme1;qid=5"},
    {"nvme0n1: Read(0x2) @ LBA 2048, 8 blocks, Unrecovered Read Error (sct 0x2 / sc 0x81) DNR",
     "IOError", WARN, K, "device=nvme0n1;sector=2048;error=Unrecovered Read Error"},
    {"nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", "IOError",
     WARN, K, "error=controller down;device=nvme0"},
    {"mce: [Hardware Error]: CPU 2: Machine Check Exception: 5 Bank 4: b200000000070f0f",
     "MachineCheck", CRIT, H, "cpu=2;bank=4;status=b200000000070f0f"},
    {"mce: [Hardware Error]: CPU 1: Machine Check: 0 Bank 7: cc00008000010090", "MachineCheck",
     CRIT, H, "cpu=1;bank=7;status=cc00008000010090"},
    {"mce: [Hardware Error]: Machine check events logged", "MachineCheck", CRIT, H, ""},
    {"EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 "
     "page:0x4a8c2 offset:0x0 grain:32 syndrome:0x0 - area:DRAM err_code:0001:0090 socket:0 ha:0 "
     "channel_mask:2 rank:0)",
     "EDACCorrectable", WARN, H,
     "controller=MC0;count=1;error=memory read error;label=CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"},
    {"EDAC MC1: 3 CE on DIMM_B2 (channel:0 slot:1 page:0x0 offset:0x0 grain:8 syndrome:0x0)",
     "EDACCorrectable", WARN, H, "controller=MC1;count=3;label=DIMM_B2"},
    {"EDAC MC0: 1 UE memory read error on CPU_SrcID#0_Ha#0_Chan#0_DIMM#0 (channel:0 slot:0 "
     "page:0x12345 offset:0x0 grain:32 - area:DRAM err_code:0001:0090)",
     "EDACUncorrectable", CRIT, H,
     "controller=MC0;count=1;error=memory read error;label=CPU_SrcID#0_Ha#0_Chan#0_DIMM#0"},
    {"CPU3: Core temperature above threshold, cpu clock throttled (total events = 1234)",
     "ThermalThrottle", WARN, H, "scope=core;cpus=3;total_events=1234"},
    {"mce: CPU0: Core temperature above threshold, cpu clock throttled", "ThermalThrottle", WARN, H,
     "scope=core;cpus=0"},
    {"CPU9: Package temperature is above threshold, cpu clock is throttled (total events = 88)",
     "ThermalThrottle", WARN, H, "scope=package;cpus=9;total_events=88"},
    {"e1000e 0000:00:19.0 eth0: NIC Link is Down", "LinkDown", WARN, H, "device=eth0"},
    {"igb 0000:01:00.0 eno1: igb: eno1 NIC Link is Down", "LinkDown", WARN, H, "device=eno1"},
    {"e1000: eth1 NIC Link is Down", "LinkDown", WARN, H, "device=eth1"},
    {"ice 0000:18:00.0 ens1f0: NIC Link is Down", "LinkDown", WARN, H, "device=ens1f0"},
    {"r8169 0000:02:00.0 enp2s0: Link is Down", "LinkDown", WARN, H, "device=enp2s0"},
    {"tg3 0000:02:00.0 eth0: Link is down.", "LinkDown", WARN, H, "device=eth0"},
    {"mlx5_core 0000:5e:00.0 ens1f0np0: Link down", "LinkDown", WARN, H, "device=ens1f0np0"},
    {"ixgbe 0000:03:00.0 eth2: NIC Link is Up 10 Gbps, Flow Control: RX/TX", "LinkUp", INFO, H,
     "device=eth2;speed=10 Gbps"},
    {"i40e 0000:3b:00.0 enp59s0f0: NIC Link is Up, 25 Gbps Full Duplex, Requested FEC: CL108 "
     "RS-FEC, Negotiated FEC: CL108 RS-FEC, Autoneg: False, Flow Control: None",
     "LinkUp", INFO, H, "device=enp59s0f0;speed=25 Gbps"},
    {"e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx",
     "LinkUp", INFO, H, "device=eno1;speed=1000 Mbps"},
    {"ice 0000:18:00.0 ens1f0: NIC Link is up 100 Gbps Full Duplex, Requested FEC: RS-FEC, "
     "Negotiated FEC: RS-FEC, Autoneg Advertised: On, Autoneg Negotiated: False, Flow Control: "
     "None",
     "LinkUp", INFO, H, "device=ens1f0;speed=100 Gbps"},
    {"r8169 0000:02:00.0 enp2s0: Link is Up - 1Gbps/Full - flow control rx/tx", "LinkUp", INFO, H,
     "device=enp2s0;speed=1Gbps"},
    {"tg3 0000:02:00.0 eth0: Link is up at 1000 Mbps, full duplex", "LinkUp", INFO, H,
     "device=eth0;speed=1000 Mbps"},
    {"mlx5_core 0000:5e:00.0 ens1f0np0: Link up", "LinkUp", INFO, H, "device=ens1f0np0"},
};

/* Ordinary lines, and lines close to a rule's, that must match nothing. */
static const char *const quiet[] = {
    "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
    "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1",
    "Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0b8d2c1e ro quiet",
    "IPv6: ADDRCONF(NETDEV_CHANGE): eth0: link becomes ready",
    "IPv6: ADDRCONF(NETDEV_UP): eth0: link is not ready",
    "bond0: (slave eth1): link status definitely down, disabling slave",
    "CPU3: Core temperature/speed normal",
    "CPU0: Package temperature/speed normal",
    "mce: CPU0: Thermal monitoring enabled (TM1)",
    "Out of memory: Kill process 1234 (foo) score 900 or sacrifice child",
    "oom_reaper: reaped process 4242 (cairn-victim), now anon-rss:0kB, file-rss:0kB, "
    "shmem-rss:0kB",
    "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,"
    "task_memcg=/user.slice,task=cairn-victim,pid=4242,uid=0",
    "EXT4-fs (sda1): mounted filesystem 0b8d2c1e-1f2a-4b3c-8d4e-5f6a7b8c9d0e ro with ordered data "
    "mode. Quota mode: none.",
    "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro",
    "XFS (sda1): Mounting V5 Filesystem",
    "XFS (sda1): Ending clean mount",
    "BTRFS info (device sda1): disk space caching is enabled",
    "sd 0:0:0:0: [sda] 976773168 512-byte logical blocks: (500 GB/466 GiB)",
    "sd 0:0:0:0: [sda] Write cache: enabled, read cache: enabled, doesn't support DPO or FUA",
    "nvme nvme0: 8/0/0 default/read/poll queues",
    "EDAC MC0: Giving out device to module skx_edac controller Skylake Socket#0 IMC#0: DEV "
    "0000:2e:0a.0 (INTERRUPT)",
    "EDAC sbridge: Seeking for: PCI ID 8086:6fa0",
    "mce: [Hardware Error]: TSC 0 ADDR 1f7c2e000 MISC 140140086",
    "rcu: Hierarchical RCU implementation.",
    "watchdog: Delayed init of the lockup detector failed: -19",
    "usb 1-1: new high-speed USB device number 2 using xhci_hcd",
    "systemd[1]: Started systemd-journald.service - Journal Service.",
    "audit: type=1400 audit(1700000000.123:45): apparmor=\"DENIED\" operation=\"open\" "
    "profile=\"/usr/sbin/cupsd\"",
    "ata1.00: configured for UDMA/133",
    "e1000e: Intel(R) PRO/1000 Network Driver",
    "random: crng init done",
    "",
};

Test(events_rules, default_rules_load_with_expected_count)
{
    struct evt_rules *r = load_defaults();
    cr_assert_eq(evt_rules_count(r), DEFAULT_RULES_COUNT);
    evt_rules_destroy(r);
}

Test(events_rules, default_rules_on_kernel_lines)
{
    struct evt_rules *r = load_defaults();
    struct evt_rules_matcher *m;
    cr_assert_eq(evt_rules_matcher_create(r, &m), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct kcase *c = &cases[i];
        struct evt_event ev;
        evt_event_init(&ev);
        int rc = evt_rules_match(m, c->line, strlen(c->line), &ev);
        cr_assert_eq(rc, 1, "no match: %s", c->line);
        cr_assert_str_eq(ev.type, c->type, "%s", c->line);
        cr_assert_eq(ev.severity, c->sev, "%s", c->line);
        cr_assert_eq(ev.source, c->src, "%s", c->line);
        cr_assert_str_eq(ev.message, c->line);
        cr_assert_eq(ev.ts_ns, 0);
        assert_attrs(&ev, c->attrs, c->line);
        evt_event_clear(&ev);
    }
    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        struct evt_event ev;
        evt_event_init(&ev);
        int rc = evt_rules_match(m, quiet[i], strlen(quiet[i]), &ev);
        cr_assert_eq(rc, 0, "\"%s\" matched as %s", quiet[i], ev.type);
        cr_assert_null(ev.message);
        evt_event_clear(&ev);
    }
    evt_rules_matcher_destroy(m);
    evt_rules_destroy(r);
}

/* Each default rule on its own (cut from the built-in text at "  - type:")
 * matches at least one line of the table whose type is its own, so no rule
 * goes untested and no rule is dead behind an earlier one for all of them. */
Test(events_rules, every_default_rule_is_exercised)
{
    size_t len;
    const char *text = evt_default_rules(&len);
    const char *marker = "\n  - type: ";
    const char *p = strstr(text, marker);
    size_t nrules = 0;
    while (p) {
        const char *next = strstr(p + 1, "\n  - ");
        size_t chunk = next ? (size_t)(next - p) : strlen(p);
        char *one = malloc(chunk + 16);
        cr_assert_not_null(one);
        snprintf(one, chunk + 16, "rules:%.*s\n", (int)chunk, p);
        struct evt_rules *r = load(one);
        cr_assert_eq(evt_rules_count(r), 1, "%s", one);
        char type[EVT_TYPE_MAX + 1];
        cr_assert_eq(sscanf(p + strlen(marker), "%64s", type), 1);
        size_t hits = 0;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            struct evt_event ev;
            if (strcmp(cases[i].type, type))
                continue;
            int rc = match(r, cases[i].line, strlen(cases[i].line), &ev);
            cr_assert_geq(rc, 0);
            hits += rc == 1;
            evt_event_clear(&ev);
        }
        cr_assert_gt(hits, 0, "no line of the table exercises this rule:\n%s", one);
        free(one);
        evt_rules_destroy(r);
        nrules++;
        p = next ? strstr(next, marker) : NULL;
    }
    cr_assert_eq(nrules, DEFAULT_RULES_COUNT);
}

Test(events_rules, arbitrary_bytes_match_and_become_valid_utf8)
{
    struct evt_rules *r = load_defaults();
    static const char line[] = "\xff\xfe eth0: NIC Link is Down \xc3";
    struct evt_event ev;
    cr_assert_eq(match(r, line, sizeof(line) - 1, &ev), 1);
    cr_assert_str_eq(ev.type, "LinkDown");
    cr_assert_str_eq(evt_event_attr(&ev, "device"), "eth0");
    cr_assert_str_eq(ev.message, "\xef\xbf\xbd\xef\xbf\xbd eth0: NIC Link is Down \xef\xbf\xbd");
    evt_event_clear(&ev);
    /* A NUL inside the line does not end it. */
    static const char nul[] = "x\0y e1000e 0000:00:19.0 eth3: NIC Link is Down";
    cr_assert_eq(match(r, nul, sizeof(nul) - 1, &ev), 1);
    cr_assert_str_eq(evt_event_attr(&ev, "device"), "eth3");
    cr_assert_str_eq(ev.message, "x y e1000e 0000:00:19.0 eth3: NIC Link is Down");
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

/* ---- the format ---------------------------------------------------------------------- */

Test(events_rules, full_rule_with_static_attributes_and_source)
{
    struct evt_rules *r = load("rules:\n"
                               "  - type: DiskGone\n"
                               "    severity: crit\n"
                               "    source: hardware\n"
                               "    pattern: 'disk(?: (?<device>\\w+))? vanished'\n"
                               "    attributes: {reason: unplugged, device: unknown}\n");
    struct evt_event ev;
    cr_assert_eq(match(r, "disk sdc vanished", 17, &ev), 1);
    cr_assert_str_eq(ev.type, "DiskGone");
    cr_assert_eq(ev.severity, EVT_SEV_CRITICAL);
    cr_assert_eq(ev.source, EVT_SRC_HARDWARE);
    assert_attrs(&ev, "reason=unplugged;device=sdc", "disk sdc vanished");
    evt_event_clear(&ev);
    /* The group did not take part: the static value stands. */
    cr_assert_eq(match(r, "disk vanished", 13, &ev), 1);
    assert_attrs(&ev, "reason=unplugged;device=unknown", "disk vanished");
    evt_event_clear(&ev);
    cr_assert_eq(match(r, "disk sdc is fine", 16, &ev), 0);
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

Test(events_rules, first_match_wins_in_load_order)
{
    struct evt_rules *r = load("rules:\n"
                               "  - {type: First, severity: info, pattern: 'link'}\n"
                               "  - {type: Second, severity: warning, pattern: 'link (?<d>\\w+)'}\n"
                               "  - {type: Third, severity: critical, pattern: 'disk'}\n");
    struct evt_event ev;
    cr_assert_eq(match(r, "link eth0 and disk", 18, &ev), 1);
    cr_assert_str_eq(ev.type, "First");
    cr_assert_eq(ev.severity, EVT_SEV_INFO);
    cr_assert_eq(ev.source, EVT_SRC_KERNEL);
    cr_assert_eq(ev.nattrs, 0);
    evt_event_clear(&ev);
    cr_assert_eq(match(r, "a disk", 6, &ev), 1);
    cr_assert_str_eq(ev.type, "Third");
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

Test(events_rules, files_append_in_order)
{
    char dir[] = "/tmp/cairn-rules-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/extra.yml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("rules:\n  - {type: Later, severity: warning, pattern: 'alpha|beta'}\n", f);
    cr_assert_eq(fclose(f), 0);

    struct evt_rules *r = load("rules:\n  - {type: Earlier, severity: info, pattern: alpha}\n");
    char err[256];
    cr_assert_eq(evt_rules_load_file(r, path, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(evt_rules_load_file(r, CAIRN_SOURCE_DIR "/tests/fixtures/events/rules/extra.yml",
                                     err, sizeof(err)),
                 0, "%s", err);
    cr_assert_eq(evt_rules_count(r), 4);
    struct evt_event ev;
    cr_assert_eq(match(r, "alpha beta", 10, &ev), 1);
    cr_assert_str_eq(ev.type, "Earlier");
    evt_event_clear(&ev);
    cr_assert_eq(match(r, "beta", 4, &ev), 1);
    cr_assert_str_eq(ev.type, "Later");
    evt_event_clear(&ev);
    /* The fixture's rules come last. */
    static const char dhcp[] = "cairn-dhcp: lease for eth7 lost";
    cr_assert_eq(match(r, dhcp, sizeof(dhcp) - 1, &ev), 1);
    cr_assert_str_eq(ev.type, "DhcpLeaseLost");
    cr_assert_eq(ev.source, EVT_SRC_OS);
    assert_attrs(&ev, "interface=eth7;component=dhcp", dhcp);
    evt_event_clear(&ev);
    evt_rules_destroy(r);
    cr_assert_eq(cn_remove_all(dir), 0);
}

Test(events_rules, empty_files_hold_no_rules)
{
    struct evt_rules *r = load("");
    cr_assert_eq(evt_rules_count(r), 0);
    char err[256];
    cr_assert_eq(evt_rules_load(r, "c.yml", "# only a comment\n", 17, err, sizeof(err)), 0);
    cr_assert_eq(evt_rules_load(r, "n.yml", "rules:\n", 7, err, sizeof(err)), 0);
    cr_assert_eq(evt_rules_load(r, "l.yml", "rules: []\n", 10, err, sizeof(err)), 0);
    cr_assert_eq(evt_rules_count(r), 0);
    struct evt_event ev;
    cr_assert_eq(match(r, "anything", 8, &ev), 0);
    evt_rules_destroy(r);
}

Test(events_rules, load_errors_name_file_line_and_column)
{
    load_error("rules: [\n", "bad.yml:2:1: did not find expected node content while parsing a "
                             "flow node");
    load_error("rules:\n  - type: A\n   severity: info\n",
               "bad.yml:3:4: did not find expected '-' indicator while parsing a block "
               "collection");
    load_error("- type: A\n", "bad.yml:1:1: a rules file must be a mapping with a \"rules\" list");
    load_error("just text\n", "bad.yml:1:1: a rules file must be a mapping with a \"rules\" list");
    load_error("rule: []\n", "bad.yml:1:1: unknown key \"rule\" (expected \"rules\")");
    load_error("rules: {a: b}\n", "bad.yml:1:8: \"rules\" must be a list of rules");
    load_error("rules:\n  - OOMKill\n", "bad.yml:2:5: a rule must be a mapping");
    load_error("rules:\n  - type: A\n    severity: info\n",
               "bad.yml:2:5: the rule has no \"pattern\"");
    load_error("rules:\n  - severity: info\n    pattern: x\n",
               "bad.yml:2:5: the rule has no \"type\"");
    load_error("rules:\n  - type: A\n    pattern: x\n",
               "bad.yml:2:5: the rule has no \"severity\"");
    load_error("rules:\n  - type: oomKill\n    severity: info\n    pattern: x\n",
               "bad.yml:2:11: invalid type \"oomKill\" (expected CamelCase: [A-Z][A-Za-z0-9]*, at "
               "most 64 bytes)");
    load_error("rules:\n  - type: [A]\n    severity: info\n    pattern: x\n",
               "bad.yml:2:11: \"type\" must be a string");
    load_error("rules:\n  - type: A\n    severity: fatal\n    pattern: x\n",
               "bad.yml:3:15: invalid severity \"fatal\" (expected info, warning or critical)");
    load_error("rules:\n  - type: A\n    severity: info\n    source: disk\n    pattern: x\n",
               "bad.yml:4:13: invalid source \"disk\" (expected kernel, os, hardware, plugin or "
               "agent)");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: x\n    level: 3\n",
               "bad.yml:5:5: unknown key \"level\" in a rule (expected type, severity, source, "
               "pattern or attributes)");
    load_error("rules:\n  - type: A\n    type: B\n    severity: info\n    pattern: x\n",
               "bad.yml:3:5: duplicate key \"type\"");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: ''\n",
               "bad.yml:4:14: the pattern is empty");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: 'Killed (process'\n",
               "bad.yml:4:14: invalid pattern: missing closing parenthesis at offset 15");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: 'a{2,1}'\n",
               "bad.yml:4:14: invalid pattern: numbers out of order in {} quantifier at offset 5");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: '(?<Pid>\\d+)'\n",
               "bad.yml:4:14: capture group name \"Pid\" is not a valid attribute name (expected "
               "[a-z_][a-z0-9_]*)");
    load_error("rules:\n  - type: A\n    severity: info\n    pattern: x\n    attributes: [a]\n",
               "bad.yml:5:17: \"attributes\" must be a mapping of names to strings");
    load_error(
        "rules:\n  - type: A\n    severity: info\n    pattern: x\n    attributes: {Bad: 1}\n",
        "bad.yml:5:18: invalid attribute name \"Bad\" (expected [a-z_][a-z0-9_]*)");
    load_error(
        "rules:\n  - type: A\n    severity: info\n    pattern: x\n    attributes: {a: [1]}\n",
        "bad.yml:5:21: the value of attribute \"a\" must be a string");
    load_error("rules: []\n---\nrules: []\n",
               "bad.yml:3:1: only one YAML document is allowed in a rules file");
}

Test(events_rules, too_many_attributes)
{
    /* 10 static + 7 captured (one of them twice) = 17 distinct names. */
    const char *text = "rules:\n"
                       "  - type: Many\n"
                       "    severity: info\n"
                       "    attributes: {a0: x, a1: x, a2: x, a3: x, a4: x, a5: x, a6: x, a7: x, "
                       "a8: x, a9: x}\n"
                       "    pattern: '(?<c0>a)(?<c1>b)(?<c2>c)(?<c3>d)(?<c4>e)(?<c5>f)(?<c6>g)|"
                       "(?<c0>h)'\n";
    load_error(text, "bad.yml:2:5: too many attributes: 17 (at most 16, static and captured)");
    /* A capture named like a static attribute does not count twice: 16. */
    struct evt_rules *r = load("rules:\n"
                               "  - type: Many\n"
                               "    severity: info\n"
                               "    attributes: {a0: x, a1: x, a2: x, a3: x, a4: x, a5: x, a6: x, "
                               "a7: x, a8: x, a9: x}\n"
                               "    pattern: '(?<c0>a)(?<c1>b)(?<c2>c)(?<c3>d)(?<c4>e)(?<a9>f)|"
                               "(?<c5>h)'\n");
    struct evt_event ev;
    cr_assert_eq(match(r, "abcdef", 6, &ev), 1);
    cr_assert_eq(ev.nattrs, 15);
    cr_assert_str_eq(evt_event_attr(&ev, "a9"), "f");
    cr_assert_null(evt_event_attr(&ev, "c5"));
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

Test(events_rules, error_leaves_the_set_unchanged)
{
    struct evt_rules *r = load("rules:\n  - {type: Kept, severity: info, pattern: kept}\n");
    const char *bad = "rules:\n"
                      "  - {type: Fine, severity: info, pattern: fine}\n"
                      "  - {type: Broken, severity: info, pattern: '(('}\n";
    char err[256];
    cr_assert_eq(evt_rules_load(r, "x.yml", bad, strlen(bad), err, sizeof(err)), -EINVAL);
    cr_assert_str_eq(err, "x.yml:3:45: invalid pattern: missing closing parenthesis at offset 2");
    cr_assert_eq(evt_rules_count(r), 1);
    struct evt_event ev;
    cr_assert_eq(match(r, "fine", 4, &ev), 0);
    cr_assert_eq(match(r, "kept", 4, &ev), 1);
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

Test(events_rules, load_file_errors)
{
    struct evt_rules *r;
    cr_assert_eq(evt_rules_create(&r), 0);
    char err[256];
    cr_assert_eq(evt_rules_load_file(r, "/nonexistent/rules.yml", err, sizeof(err)), -ENOENT);
    cr_assert_str_eq(err, "/nonexistent/rules.yml: No such file or directory");

    char dir[] = "/tmp/cairn-rules-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/big.yml", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("rules:\n", f);
    char pad[1024];
    memset(pad, 'x', sizeof(pad));
    pad[0] = '#';
    pad[sizeof(pad) - 1] = '\n';
    for (int i = 0; i < 4 * 1024 + 1; i++)
        cr_assert_eq(fwrite(pad, 1, sizeof(pad), f), sizeof(pad));
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(evt_rules_load_file(r, path, err, sizeof(err)), -EFBIG);
    char want[256];
    snprintf(want, sizeof(want), "%s: file too large (more than 4 MiB)", path);
    cr_assert_str_eq(err, want);

    snprintf(path, sizeof(path), "%s/bad.yml", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("rules:\n  - {type: A, severity: loud, pattern: a}\n", f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(evt_rules_load_file(r, path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s:2:25: invalid severity \"loud\" (expected info, warning or "
             "critical)",
             path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(evt_rules_count(r), 0);
    evt_rules_destroy(r);
    cr_assert_eq(cn_remove_all(dir), 0);
}

/* A pattern that backtracks without end stops at the match limit and counts
 * as no match; the next rule still gets the line. */
Test(events_rules, match_limit_falls_through)
{
    struct evt_rules *r = load("rules:\n"
                               "  - {type: Slow, severity: info, pattern: '^(a|aa)+$'}\n"
                               "  - {type: Fallback, severity: info, pattern: 'a+b$'}\n");
    char line[4001];
    memset(line, 'a', 3999);
    line[3999] = 'b';
    line[4000] = '\0';
    struct evt_event ev;
    cr_assert_eq(match(r, line, 4000, &ev), 1);
    cr_assert_str_eq(ev.type, "Fallback");
    cr_assert_eq(strlen(ev.message), EVT_MESSAGE_MAX);
    evt_event_clear(&ev);
    evt_rules_destroy(r);
}

/* Every allocation of a load and a match may fail: -ENOMEM, nothing
 * leaked (ASan), the set unchanged. */
Test(events_rules, allocation_failures)
{
    size_t len;
    const char *text = evt_default_rules(&len);
    static const char line[] = "Out of memory: Killed process 7 (x) total-vm:1kB";
    bool loaded = false, matched = false;
    for (long n = 0; n < 100000 && !(loaded && matched); n++) {
        struct evt_rules *r;
        cr_assert_eq(evt_rules_create(&r), 0);
        char err[256];
        cn_alloc_fail_after(n);
        int rc = evt_rules_load(r, "d.yml", text, len, err, sizeof(err));
        cn_alloc_fail_after(-1);
        if (rc) {
            cr_assert_eq(rc, -ENOMEM, "%s", err);
            cr_assert_eq(evt_rules_count(r), 0);
            cr_assert_str_eq(err, "d.yml: Cannot allocate memory");
        } else {
            loaded = true;
            cr_assert_eq(evt_rules_count(r), DEFAULT_RULES_COUNT);
            struct evt_rules_matcher *m = NULL;
            struct evt_event ev;
            evt_event_init(&ev);
            cn_alloc_fail_after(n);
            int mrc = evt_rules_matcher_create(r, &m);
            if (!mrc)
                mrc = evt_rules_match(m, line, sizeof(line) - 1, &ev);
            cn_alloc_fail_after(-1);
            if (mrc == 1) {
                matched = true;
                cr_assert_str_eq(ev.type, "OOMKill");
                assert_attrs(&ev, "pid=7;process=x", line);
            } else {
                cr_assert_eq(mrc, -ENOMEM);
                cr_assert_eq(ev.nattrs, 0);
                cr_assert_null(ev.message);
            }
            evt_event_clear(&ev);
            evt_rules_matcher_destroy(m);
        }
        evt_rules_destroy(r);
    }
    cr_assert(loaded && matched);
}
