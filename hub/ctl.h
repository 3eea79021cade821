/*
 * ctl.h - carehubctl's commands, split by what they need: the backtest runs
 * the engine locally (ctl.c); everything else is the hub's HTTP API on the
 * command line (ctl_cli.c, which holds main and the command table).
 */
#ifndef CH_CTL_H
#define CH_CTL_H

#include <stdio.h>

/* carehubctl backtest ARGS (argv[0] is "backtest"); its exit status. */
int ch_ctl_backtest(int argc, char **argv);
void ch_ctl_backtest_usage(FILE *f);

#endif
