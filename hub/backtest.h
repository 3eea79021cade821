/*
 * backtest.h - the correlation engine over recorded events, with a virtual clock.
 *
 * `carehubctl backtest` runs engine.c, the very code carehubd runs, over a
 * file of canonical events (one JSON object a line), driven by event time:
 * before each event every deadline that fell due earlier fires, in time order
 * across subjects, as the hub's timers would.  It is how an administrator sees
 * what a rule pack would have raised on recorded history before switching it
 * on, and how the care-efficacy harness (scripts/carehub-score) measures it.
 *
 * With resolve_after_ms, every alert still open that long after it opened is
 * resolved by a person, as a monitoring centre would: the engine learns of it
 * through ch_engine_resolved, exactly as the daemon applies a resolve from
 * carehub/v1/acks or the API.  Without it a forgotten alert keeps its rule
 * quiet for the rest of the file, which no centre would allow.
 */
#ifndef CH_BACKTEST_H
#define CH_BACKTEST_H

#include "ch.h"

#include <stdio.h>

struct ch_backtest_opts {
	const char *rules_path;    /* rules file; borrowed */
	const char *registry_path; /* registry file; borrowed */
	const char *input;         /* events file, or "-" for stdin; borrowed */
	bool json;                 /* one JSON object per transition and a summary line */
	bool progress;             /* a progress bar on err (only for a regular file) */
	int64_t resolve_after_ms;  /* > 0: a person resolves each alert this long after it opens */
	FILE *out;                 /* transitions and summary; borrowed */
	FILE *err;                 /* diagnostics and the events/s line; borrowed */
};

struct ch_backtest_result {
	size_t events;          /* applied to the engine */
	size_t bad_lines;       /* not a canonical event */
	size_t unknown_events;  /* naming a device not in the registry */
	size_t unknown_devices; /* distinct such device ids */
	size_t transitions, opened;
	double seconds;         /* wall time of the run */
	double cpu_seconds;     /* CPU time of the run: the speed on one core, even on a busy machine */
};

/*
 * Runs one backtest.  Returns 0, or CH_ECONFIG / CH_EIO / CH_ENOMEM with the
 * reason in err (rules or registry refused, input unreadable).  Events the
 * registry does not know are skipped and counted in res; the caller decides
 * what that means (carehubctl exits 1).
 */
int ch_backtest_run(const struct ch_backtest_opts *o, struct ch_backtest_result *res, char *err,
		    size_t errlen);

/*
 * `carehubctl backtest ARGS`: argv[0] is "backtest".  Returns the exit code:
 * 0, 1 when events named devices that are not in the registry (the results are
 * printed all the same), 2 on a usage error or a file that cannot be used.
 */
int ch_backtest_cli(int argc, char **argv);

/* The usage lines of `carehubctl backtest`. */
void ch_backtest_usage(FILE *f);

#endif
