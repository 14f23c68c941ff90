/*
 * cairn-plugin-procstate: processes and threads by scheduler state, counted
 * from the state letter of /proc/[pid]/stat and /proc/[pid]/task/[tid]/stat
 * (R running, S sleeping, D disk wait, Z zombie, T stopped, I idle, ...).
 * The example of a complete plugin on libcairn-plugin: one collect callback,
 * one call from main. CAIRN_PROCFS names another procfs root (tests).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairn/plugin.h>

static const struct cairn_family_desc families[] = {
    {"procstate_processes", "Processes by scheduler state.", CAIRN_GAUGE},
    {"procstate_threads", "Threads by scheduler state.", CAIRN_GAUGE},
    {NULL, NULL, 0},
};

/* The state letter of a stat file: the field after the ")" that ends the
 * command name, which may itself contain ")". 0 when unreadable. */
static unsigned char stat_state(const char *path)
{
    char buf[512];
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* the process or thread has exited meanwhile */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && isalpha((unsigned char)p[2]) ? (unsigned char)p[2] : 0;
}

/* Counts the states of the stat files of the numeric entries of dir, and
 * of their tasks into tasks_of (may be NULL). -1 when dir cannot be read. */
static int count_states(const char *dir, unsigned counts[256], unsigned *tasks_of)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d))) {
        if (!isdigit((unsigned char)e->d_name[0]) ||
            snprintf(path, sizeof(path), "%s/%s/stat", dir, e->d_name) >= (int)sizeof(path))
            continue;
        counts[stat_state(path)]++;
        if (tasks_of &&
            snprintf(path, sizeof(path), "%s/%s/task", dir, e->d_name) < (int)sizeof(path))
            count_states(path, tasks_of, NULL);
    }
    closedir(d);
    return 0;
}

static int collect(struct cairn_collect *c, void *procfs)
{
    unsigned procs[256] = {0}, threads[256] = {0};
    if (count_states(procfs, procs, threads) < 0)
        return cairn_collect_fail(c, "cannot read %s", (const char *)procfs);
    for (int s = 'A'; s <= 'z'; s++) {
        const char state[2] = {(char)s, '\0'};
        if (procs[s])
            cairn_gauge(c, families[0].name, families[0].help, procs[s], "state", state, NULL);
        if (threads[s])
            cairn_gauge(c, families[1].name, families[1].help, threads[s], "state", state, NULL);
    }
    return 0;
}

int main(void)
{
    const char *procfs = getenv("CAIRN_PROCFS");
    struct cairn_plugin p = {
        .name = "procstate",
        .version = "1.0",
        .collect = collect,
        .user = (void *)(procfs ? procfs : "/proc"),
        .families = families,
    };
    return cairn_plugin_serve(&p);
}
