/*
 * fuzz_adapter.h - the body every adapter fuzz target shares; each target
 * defines AD_CONF (its adapter config), AD_PREFIX (the topic prefix) and
 * AD_DEFAULT_TOPIC, then includes this file.
 *
 * Input: an optional first line is the topic (after AD_PREFIX), the rest is the
 * payload.  Each input gets a fresh adapter set (runs stay reproducible) and is
 * converted twice, so the only-changes memory is exercised on its "same value"
 * path too.  The registry lookup answers a type chosen by the name's first
 * byte, so the type-dependent paths (an sos button's press, a switch on a
 * door) are reached too.  Invariants: a rejection names a reason and appends
 * nothing (no event, no unmapped field, no bridge list); every event is an
 * object with string "device", "type" and "field"; every unmapped entry has
 * string "device", "field", "value", "reason" and a boolean "alone"; a bridge
 * list is an array of objects each with a "suggest" object.
 */
#include "adapters.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lookup_type(void *arg, const char *name)
{
	static const char *const types[] = {NULL, "sos", "door", "motion", "smoke", "water_leak", "bed"};

	(void)arg;
	return types[(unsigned char)name[0] % (sizeof(types) / sizeof(types[0]))];
}

static void check(struct ch_adapters *a, int idx, const char *topic, const char *payload, size_t len)
{
	struct ch_adapter_lookup lk = {lookup_type, NULL};
	json_t *out = json_array(), *unmapped = json_array(), *bridge = NULL;
	struct ch_adapter_out ao = {out, unmapped, &bridge};
	enum ch_reject why = CH_REJ_COUNT;
	char err[256];
	size_t i;
	json_t *ev;

	if (!out || !unmapped)
		abort();
	if (ch_adapters_convert(a, idx, topic, payload, len, 1795824900000LL, &lk, &ao, &why, err, sizeof(err)) != 0) {
		if (why == CH_REJ_NONE || why >= CH_REJ_COUNT || !err[0] || json_array_size(out) ||
		    json_array_size(unmapped) || bridge)
			abort();
	} else if (why != CH_REJ_NONE) {
		abort();
	}
	json_array_foreach(out, i, ev) {
		if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "device")) ||
		    !json_is_string(json_object_get(ev, "type")) || !json_is_string(json_object_get(ev, "field")))
			abort();
	}
	json_array_foreach(unmapped, i, ev) {
		if (!json_is_string(json_object_get(ev, "device")) || !json_is_string(json_object_get(ev, "field")) ||
		    !json_is_string(json_object_get(ev, "value")) || !json_is_string(json_object_get(ev, "reason")) ||
		    !json_is_boolean(json_object_get(ev, "alone")))
			abort();
	}
	if (bridge && !json_is_array(bridge))
		abort();
	json_array_foreach(bridge, i, ev) {
		if (!json_is_object(json_object_get(ev, "suggest")) || !json_is_string(json_object_get(ev, "name")))
			abort();
	}
	json_decref(bridge);
	json_decref(unmapped);
	json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *nl = memchr(in, '\n', size < 300 ? size : 300);
	struct ch_adapters *a;
	json_t *conf;
	char topic[512], err[256];
	int idx = -1;

	conf = json_loads(AD_CONF, 0, NULL);
	if (!conf || ch_adapters_new(conf, &a, err, sizeof(err)) != 0)
		abort(); /* the fixed config must load, or the target tests nothing */
	json_decref(conf);
	if (nl && (size_t)(nl - in) < sizeof(topic) - sizeof(AD_PREFIX) && !memchr(in, '\0', (size_t)(nl - in)) &&
	    ch_fmt(topic, sizeof(topic), AD_PREFIX "%.*s", (int)(nl - in), in) == 0) {
		idx = ch_adapters_match(a, topic);
		size -= (size_t)(nl - in) + 1;
		in = nl + 1;
	}
	if (idx < 0) {
		(void)ch_strlcpy(topic, AD_DEFAULT_TOPIC, sizeof(topic));
		idx = ch_adapters_match(a, topic);
	}
	if (idx < 0)
		abort();
	check(a, idx, topic, in, size);
	check(a, idx, topic, in, size);
	ch_adapters_free(a);
	return 0;
}
