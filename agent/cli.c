/* The cairn command line: dispatches subcommands. */
#include "agent/agent.h"

#include <stdio.h>
#include <string.h>

int agent_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("cairn, version %s\n", CAIRN_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: cairn agent [flags]\n");
    return 2;
}
