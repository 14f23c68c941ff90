/*
 * libFuzzer target for the plugin handshake line (plg_handshake_parse), the
 * first thing the agent reads from a plugin's stdout. Beyond "no crash, no
 * UB": a rejected line always gets a message, and an accepted one names a
 * socket directly inside the directory the plugin was given.
 *
 * Seeds: tests/fuzz/corpus/handshake/. Run: handshake_fuzz -max_total_time=60 corpus/handshake
 */
#include "plugins/host/internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIR "/tmp/cairn-plugin-fuzz01"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char line[1024];
    if (size >= sizeof(line))
        size = sizeof(line) - 1;
    memcpy(line, data, size);
    line[size] = '\0'; /* the pump hands over a NUL-terminated line */
    struct plg_handshake hs;
    char err[256] = "";
    int rc = plg_handshake_parse(line, DIR, &hs, err, sizeof(err));
    if (rc) {
        if (!err[0])
            abort();
        return 0;
    }
    size_t n = strlen(DIR);
    if (strncmp(hs.socket_path, DIR "/", n + 1) != 0 || strchr(hs.socket_path + n + 1, '/'))
        abort();
    return 0;
}
