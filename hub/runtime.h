/*
 * runtime.h - the configuration a running hub works from, swapped whole on
 * reload, and the counters it exports.
 *
 * A runtime holds the config, rules, registry and open channels.  Threads take
 * a reference for the length of one batch (ch_runtime_acquire) so a SIGHUP
 * never changes the ground under a batch; the last release frees the old one.
 */
#ifndef CH_RUNTIME_H
#define CH_RUNTIME_H

#include "ch.h"
#include "config.h"
#include "event.h"
#include "plugin_host.h"
#include "registry.h"
#include "rules.h"

#include <stdatomic.h>

struct ch_runtime {
	atomic_int refs;
	uint64_t generation;
	struct ch_config *cfg;
	struct ch_ruleset *rules;
	struct ch_registry *reg;
	struct ch_channel **channels; /* same order as cfg->channels */
	size_t nchannels;
	struct ch_adapters *adapters; /* fleet formats; used by the ingest thread only */
};

/* Takes ownership of rt (refs set to 1) and publishes it; releases the previous one. */
void ch_runtime_publish(struct ch_runtime *rt);
/* A reference to the current runtime, or NULL before the first publish. */
struct ch_runtime *ch_runtime_acquire(void);
void ch_runtime_release(struct ch_runtime *rt);
/* Drops the current runtime (at exit). */
void ch_runtime_shutdown(void);

/* Frees a runtime that was never published (a failed reload). */
void ch_runtime_free(struct ch_runtime *rt);

struct ch_channel *ch_runtime_channel(const struct ch_runtime *rt, const char *name);

/* The IANA zone a subject's local times are in: its own, else the config's. */
const char *ch_runtime_zone(const struct ch_runtime *rt, const struct ch_subject *subj);

/* ---- counters (Prometheus names in http.c) ----
 * Only what no labelled family counts: alerts by state, sends by result and
 * callbacks by outcome are carehub_alerts_total, carehub_sends_total and
 * carehub_callbacks_total (metrics.h), never a second series beside them. */
struct ch_metrics {
	atomic_uint_fast64_t events_in;
	atomic_uint_fast64_t events_processed;
	atomic_uint_fast64_t duplicates;
	atomic_uint_fast64_t rejected[CH_REJ_COUNT];
	atomic_uint_fast64_t timers_fired;   /* subjects whose deadline was evaluated */
	atomic_uint_fast64_t state_conflicts; /* compare-and-set lost to another instance */
	atomic_uint_fast64_t redis_round_trips;
	atomic_uint_fast64_t jobs_queued;
	atomic_uint_fast64_t batches;
	atomic_uint_fast64_t redis_errors;
};

extern struct ch_metrics ch_metrics;

#endif
