/*
 * fleet.h - nothing dropped in silence: what the hub receives from its sensor
 * fleets but maps to nothing, and what the bridges have that the registry
 * lacks.
 *
 * The correlator hands over each adapter message's unmapped report and any
 * bridge device list it carried (ch_fleet_note).  Each unmapped field is
 * counted in /metrics (carehub_adapter_unmapped_total{adapter,field}), logged
 * at debug level the first time it is seen (rate-limited), and logged as a
 * warning when a message from a device registered as a safety device (sos,
 * smoke, gas, co, fall, water_leak) maps to nothing at all: it may be an alarm
 * the hub cannot read.  A thread of this module adds the sightings up in Redis
 * (store_fleet.c) about once a second, so every hub instance and the API see
 * the same list; ch_fleet_view builds the devices view from it:
 *
 *   {"unmapped": [{"adapter","device","field","count","last_ms","sample","reason",
 *                  "registered": device id or null, "type": its registry type or null,
 *                  "model": the bridge's model or null}, ...]   newest first,
 *    "missing":  [{"adapter","name","ieee","model","vendor","description",
 *                  "suggest": a registry device entry}, ...]}
 *
 * Process-wide like the metrics: any thread may note; the state survives a
 * reload.
 */
#ifndef CH_FLEET_H
#define CH_FLEET_H

#include "adapters.h"
#include "ch.h"
#include "registry.h"
#include "store.h"

#include <jansson.h>

/* Starts the writer thread with its own Redis connection (o and its strings outlive it). */
int ch_fleet_start(const struct ch_store_opts *o, char *err, size_t errlen);
/* Writes what is pending (as far as Redis lets it) and joins the thread. */
void ch_fleet_stop(void);

/*
 * One adapter message's report: unmapped (the adapter's array, borrowed; each
 * {"device","field","value","reason","alone"}) and bridge (a device list, or
 * NULL; borrowed).  lk tells the registry type of a device.
 */
void ch_fleet_note(const char *adapter, json_t *unmapped, json_t *bridge,
		   const struct ch_adapter_lookup *lk, int64_t now_ms);

/* The devices view for the API (a new object in *out); CH_EAGAIN while Redis is away. */
int ch_fleet_view(struct ch_store *st, const struct ch_registry *reg, json_t **out, char *err,
		  size_t errlen);

#endif
