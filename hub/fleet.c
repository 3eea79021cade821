/*
 * fleet.c - the unmapped report's way to /metrics, the log and Redis, and the
 * devices view built from Redis (see fleet.h).
 *
 * Sightings are summed in a small table between writes, so a fleet that
 * repeats an unmapped field with every message costs one HINCRBY a second,
 * not one per message.  The table is bounded; what does not fit until the
 * next write is still counted in /metrics.
 */
#include "fleet.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PEND_SLOTS 2048 /* power of two */
#define PEND_MAX 1024
#define SEEN_MAX 8192
#define FLUSH_MS 1000

struct pend {
	char *key;  /* ["adapter","device","field"], NULL: free slot */
	char *doc;  /* the last sighting */
	long long count;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pend slots[PEND_SLOTS];
	size_t n;
	json_t *bridges;      /* adapter -> device list, pending */
	uint64_t seen[SEEN_MAX]; /* keys already logged, by hash; 0: free */
	size_t nseen;
	bool running;
	pthread_t th;
	struct ch_store_opts opts;
} F = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static uint64_t hash64(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h ? h : 1;
}

/* Under F.mu: true the first time this key is seen (the set is emptied when full). */
static bool first_sighting(uint64_t h)
{
	size_t i = h % SEEN_MAX;

	for (size_t probe = 0; probe < SEEN_MAX; probe++, i = (i + 1) % SEEN_MAX) {
		if (F.seen[i] == h)
			return false;
		if (!F.seen[i])
			break;
	}
	if (F.nseen >= SEEN_MAX / 2) {
		memset(F.seen, 0, sizeof(F.seen));
		F.nseen = 0;
		i = h % SEEN_MAX;
	}
	while (F.seen[i])
		i = (i + 1) % SEEN_MAX;
	F.seen[i] = h;
	F.nseen++;
	return true;
}

/* Under F.mu: adds count sightings of key with its latest doc (both copied). */
static void pend_add(const char *key, const char *doc, long long count)
{
	size_t i = hash64(key) & (PEND_SLOTS - 1);

	while (F.slots[i].key && strcmp(F.slots[i].key, key) != 0)
		i = (i + 1) & (PEND_SLOTS - 1);
	if (!F.slots[i].key) {
		if (F.n >= PEND_MAX || !(F.slots[i].key = strdup(key)))
			return; /* counted in /metrics all the same */
		F.n++;
	}
	char *d = strdup(doc);
	if (d) {
		free(F.slots[i].doc);
		F.slots[i].doc = d;
	}
	F.slots[i].count += count;
}

static bool safety_type(const char *t)
{
	static const char *const types[] = {"sos", "smoke", "gas", "co", "fall", "water_leak"};

	for (size_t i = 0; t && i < CH_ARRAY_LEN(types); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

static void note_one(const char *adapter, json_t *u, const struct ch_adapter_lookup *lk, int64_t now)
{
	const char *dev = json_string_value(json_object_get(u, "device"));
	const char *field = json_string_value(json_object_get(u, "field"));
	const char *value = json_string_value(json_object_get(u, "value"));
	const char *reason = json_string_value(json_object_get(u, "reason"));
	const char *type = lk && lk->device_type ? lk->device_type(lk->arg, dev) : NULL;
	json_t *kj = json_pack("[s,s,s]", adapter, dev ? dev : "", field ? field : "");
	json_t *dj = json_pack("{s:s, s:s, s:I, s:s?}", "sample", value ? value : "", "reason",
			       reason ? reason : "unmapped", "last_ms", (json_int_t)now, "type", type);
	char *key = kj ? json_dumps(kj, JSON_COMPACT) : NULL, *doc = dj ? json_dumps(dj, JSON_COMPACT) : NULL;
	bool first = false;

	json_decref(kj);
	json_decref(dj);
	if (!dev || !field || !key || !doc) {
		free(key);
		free(doc);
		return;
	}
	ch_metrics_inc(CH_MF_UNMAPPED, adapter, field);
	pthread_mutex_lock(&F.mu);
	pend_add(key, doc, 1);
	first = first_sighting(hash64(key));
	pthread_mutex_unlock(&F.mu);
	if (safety_type(type) && json_is_true(json_object_get(u, "alone")))
		ch_log_rl("adapter-unmapped-alarm", 5000, CH_LOG_WARN,
			  "%s: a message from %s (registered as %s) maps to nothing: %s = \"%s\" (%s); "
			  "it may be an alarm the hub cannot read",
			  adapter, dev, type, field, value ? value : "", reason ? reason : "unmapped");
	else if (first)
		ch_log_rl("adapter-unmapped", 1000, CH_LOG_DEBUG,
			  "%s: %s sends %s = \"%s\", which maps to nothing (%s)%s", adapter, dev, field,
			  value ? value : "", reason ? reason : "unmapped",
			  type ? "" : "; the device is not in the registry");
	free(key);
	free(doc);
}

void ch_fleet_note(const char *adapter, json_t *unmapped, json_t *bridge,
		   const struct ch_adapter_lookup *lk, int64_t now_ms)
{
	size_t i;
	json_t *u;

	if (!adapter)
		return;
	json_array_foreach(unmapped, i, u)
		note_one(adapter, u, lk, now_ms);
	if (json_is_array(bridge)) {
		pthread_mutex_lock(&F.mu);
		if (!F.bridges)
			F.bridges = json_object();
		json_object_set(F.bridges, adapter, bridge);
		pthread_mutex_unlock(&F.mu);
		ch_log(CH_LOG_INFO, "%s: the bridge lists %zu devices", adapter, json_array_size(bridge));
	}
}

/* ---- the writer ------------------------------------------------------------ */

static void flush(struct ch_store *st)
{
	struct ch_fleet_rec *recs;
	struct pend taken[PEND_MAX];
	const char **bn = NULL, **bd = NULL;
	char **docs = NULL;
	size_t n = 0, nb = 0;
	json_t *bridges;
	char err[256];

	pthread_mutex_lock(&F.mu);
	for (size_t i = 0; i < PEND_SLOTS; i++)
		if (F.slots[i].key) {
			taken[n++] = F.slots[i];
			F.slots[i] = (struct pend){0};
		}
	F.n = 0;
	bridges = F.bridges;
	F.bridges = NULL;
	pthread_mutex_unlock(&F.mu);
	if (!n && !bridges)
		return;
	recs = calloc(n + 1, sizeof(*recs));
	bn = calloc(json_object_size(bridges) + 1, sizeof(*bn));
	bd = calloc(json_object_size(bridges) + 1, sizeof(*bd));
	docs = calloc(json_object_size(bridges) + 1, sizeof(*docs));
	if (recs && bn && bd && docs) {
		const char *k;
		json_t *v;
		for (size_t i = 0; i < n; i++)
			recs[i] = (struct ch_fleet_rec){taken[i].key, taken[i].doc ? taken[i].doc : "{}", taken[i].count};
		json_object_foreach(bridges, k, v) {
			if (!(docs[nb] = json_dumps(v, JSON_COMPACT)))
				continue;
			bn[nb] = k;
			bd[nb] = docs[nb];
			nb++;
		}
		if (ch_store_fleet_record(st, recs, n, bn, bd, nb, err, sizeof(err)))
			ch_log_rl("fleet-store", 10000, CH_LOG_WARN,
				  "fleet: cannot record unmapped fields in Redis (%s); /metrics still counts them", err);
	}
	for (size_t i = 0; docs && i < nb; i++)
		free(docs[i]);
	for (size_t i = 0; i < n; i++) {
		free(taken[i].key);
		free(taken[i].doc);
	}
	free(docs);
	free(bn);
	free(bd);
	free(recs);
	json_decref(bridges);
}

static void *writer(void *arg)
{
	struct ch_store *st = arg;

	pthread_mutex_lock(&F.mu);
	while (F.running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += FLUSH_MS / 1000;
		pthread_cond_timedwait(&F.cv, &F.mu, &ts);
		pthread_mutex_unlock(&F.mu);
		/* One write a second, however busy the fleet. */
		flush(st);
		pthread_mutex_lock(&F.mu);
	}
	pthread_mutex_unlock(&F.mu);
	flush(st);
	ch_store_close(st);
	return NULL;
}

int ch_fleet_start(const struct ch_store_opts *o, char *err, size_t errlen)
{
	struct ch_store *st = NULL;
	int rc = ch_store_open(o, &st, err, errlen);

	if (rc && rc != CH_EAGAIN)
		return rc;
	F.opts = *o;
	F.running = true;
	if (pthread_create(&F.th, NULL, writer, st)) {
		F.running = false;
		ch_store_close(st);
		(void)ch_fmt(err, errlen, "fleet: cannot start its thread");
		return CH_ENOMEM;
	}
	return 0;
}

void ch_fleet_stop(void)
{
	pthread_mutex_lock(&F.mu);
	if (!F.running) {
		pthread_mutex_unlock(&F.mu);
		return;
	}
	F.running = false;
	pthread_cond_signal(&F.cv);
	pthread_mutex_unlock(&F.mu);
	pthread_join(F.th, NULL);
}

/* ---- the devices view ---------------------------------------------------------- */

static int by_last_desc(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "last_ms"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "last_ms"));

	return (x < y) - (x > y);
}

static const char *str0(json_t *s)
{
	return json_string_value(s) ? json_string_value(s) : "";
}

/* The bridge's own entry for a device name (a borrowed object) or NULL. */
static json_t *bridge_entry(json_t *bridges, const char *adapter, const char *name)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(bridges, adapter), i, d)
		if (strcmp(str0(json_object_get(d, "name")), name) == 0 ||
		    strcmp(str0(json_object_get(d, "ieee")), name) == 0)
			return d;
	return NULL;
}

static json_t *unmapped_list(json_t *docs, json_t *counts, json_t *bridges, const struct ch_registry *reg)
{
	json_t *arr = json_array(), *doc, **v;
	const char *k;
	size_t n = 0;

	json_object_foreach(docs, k, doc) {
		json_t *key = json_loads(k, 0, NULL), *e;
		const char *ad = json_string_value(json_array_get(key, 0));
		const char *dev = json_string_value(json_array_get(key, 1));
		const struct ch_device *d = NULL;
		long cnt = 0;

		if (!ad || !dev || !json_string_value(json_array_get(key, 2))) {
			json_decref(key);
			continue;
		}
		(void)ch_parse_long(json_string_value(json_object_get(counts, k)) ? json_string_value(json_object_get(counts, k)) : "0", 0, LONG_MAX, &cnt);
		(void)ch_registry_find_device(reg, dev, &d);
		e = json_pack("{s:O, s:O, s:O, s:I, s:O?, s:O?, s:O?, s:s?, s:s?, s:O?}", "adapter",
			      json_array_get(key, 0), "device", json_array_get(key, 1), "field",
			      json_array_get(key, 2), "count", (json_int_t)cnt, "last_ms",
			      json_object_get(doc, "last_ms"), "sample", json_object_get(doc, "sample"),
			      "reason", json_object_get(doc, "reason"), "registered", d ? d->id : NULL,
			      "type", d ? d->type : NULL, "model",
			      json_object_get(bridge_entry(bridges, ad, dev), "model"));
		json_array_append_new(arr, e);
		json_decref(key);
	}
	/* Newest first: what is still arriving is what needs a mapping. */
	n = json_array_size(arr);
	v = calloc(n ? n : 1, sizeof(*v));
	if (v) {
		json_t *sorted = json_array();
		for (size_t i = 0; i < n; i++)
			v[i] = json_array_get(arr, i);
		qsort(v, n, sizeof(*v), by_last_desc);
		for (size_t i = 0; i < n; i++)
			json_array_append(sorted, v[i]);
		free(v);
		json_decref(arr);
		arr = sorted;
	}
	return arr;
}

static json_t *missing_list(json_t *bridges, const struct ch_registry *reg)
{
	json_t *arr = json_array(), *list, *d;
	const char *ad;
	size_t i;

	json_object_foreach(bridges, ad, list) {
		json_array_foreach(list, i, d) {
			const char *name = json_string_value(json_object_get(d, "name"));
			const char *ieee = json_string_value(json_object_get(d, "ieee"));
			if (!name || ch_registry_find_device(reg, name, NULL) ||
			    (ieee && *ieee && ch_registry_find_device(reg, ieee, NULL)))
				continue;
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:O?, s:O?}", "adapter", ad,
							     "name", name, "ieee", ieee ? ieee : "", "model",
							     json_object_get(d, "model"), "vendor",
							     json_object_get(d, "vendor"), "description",
							     json_object_get(d, "description"), "suggest",
							     json_object_get(d, "suggest")));
		}
	}
	return arr;
}

int ch_fleet_view(struct ch_store *st, const struct ch_registry *reg, json_t **out, char *err,
		  size_t errlen)
{
	json_t *docs, *counts, *bridges, *un, *miss;
	int rc = ch_store_fleet_read(st, &docs, &counts, &bridges, err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	un = unmapped_list(docs, counts, bridges, reg);
	miss = missing_list(bridges, reg);
	*out = json_pack("{s:I, s:o, s:I, s:o}", "count_unmapped", (json_int_t)json_array_size(un), "unmapped",
			 un, "count_missing", (json_int_t)json_array_size(miss), "missing", miss);
	json_decref(docs);
	json_decref(counts);
	json_decref(bridges);
	return *out ? 0 : CH_ENOMEM;
}
