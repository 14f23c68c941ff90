/*
 * libFuzzer target for the YAML configuration: agent_config_apply_yaml on
 * arbitrary bytes over the defaults. Beyond "no crash, no leak, no UB": a
 * rejected file always gets a "file:line:column: reason" message, and an
 * accepted one leaves a configuration that passes the same checks the agent
 * makes at start-up (positive interval, timeout at most the interval).
 *
 * Seeds: tests/fuzz/corpus/config/. Run: config_fuzz -max_total_time=60 corpus/config
 */
#include "agent/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_config cfg;
    char err[512] = "";
    char *argv[] = {"agent", NULL};
    if (agent_config_load(&cfg, 1, argv, err, sizeof(err)) != 0)
        abort();
    int rc = agent_config_apply_yaml(&cfg, "f.yml", (const char *)data, size, err, sizeof(err));
    if (rc) {
        if (strncmp(err, "f.yml:", 6) != 0)
            abort(); /* every error names the file and a position */
    } else {
        if (cfg.interval_ms <= 0 || cfg.timeout_ms < 0 || cfg.timeout_ms > cfg.interval_ms)
            abort();
        if (!cfg.listen_address || !cfg.telemetry_path || cfg.telemetry_path[0] != '/')
            abort();
    }
    agent_config_free(&cfg);
    return 0;
}
