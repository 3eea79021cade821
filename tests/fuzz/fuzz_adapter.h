/*
 * fuzz_adapter.h - the body every adapter fuzz target shares; each target
 * defines AD_CONF (its adapter config), AD_PREFIX (the topic prefix) and
 * AD_DEFAULT_TOPIC, then includes this file.
 *
 * Input: an optional first line is the topic (after AD_PREFIX), the rest is the
 * payload.  Each input gets a fresh adapter set (runs stay reproducible) and is
 * converted twice, so the only-changes memory is exercised on its "same value"
 * path too.  Invariants: a rejection names a reason and appends nothing; every
 * event is an object with string "device" and "type".
 */
#include "adapters.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct ch_adapters *a, int idx, const char *topic, const char *payload, size_t len)
{
	json_t *out = json_array();
	enum ch_reject why = CH_REJ_COUNT;
	char err[256];
	size_t i;
	json_t *ev;

	if (!out)
		abort();
	if (ch_adapters_convert(a, idx, topic, payload, len, 1795824900000LL, out, &why, err, sizeof(err)) != 0) {
		if (why == CH_REJ_NONE || why >= CH_REJ_COUNT || !err[0] || json_array_size(out))
			abort();
	} else if (why != CH_REJ_NONE) {
		abort();
	}
	json_array_foreach(out, i, ev) {
		if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "device")) ||
		    !json_is_string(json_object_get(ev, "type")))
			abort();
	}
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
