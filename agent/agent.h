/*
 * agent: the cairn binary's library. main() only calls agent_main(); the
 * subcommands, flags and configuration, the scheduler that drives the
 * collectors, and the HTTP server live here so that tests link them.
 */
#ifndef CAIRN_AGENT_H
#define CAIRN_AGENT_H

/* Runs the cairn command line; returns the process exit status. */
int agent_main(int argc, char **argv);

#endif
