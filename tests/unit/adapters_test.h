/*
 * adapters_test.h - what the adapters' unit tests share (test_adapters.c for
 * Zigbee2MQTT and the common machinery, test_adapters_bridges.c for Tasmota,
 * Homie, generic gateways and configuration): building a set, converting with
 * a registry lookup, and checking events and unmapped reports.
 *
 * Included once per test binary, so its functions are static (and may go unused).
 */
#ifndef ADAPTERS_TEST_H
#define ADAPTERS_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters.h"

#define ARRIVAL 1795824900000LL

/* The registry as a test sees it: device names (ids or aliases) and their types. */
struct reg_entry {
	const char *name, *type;
};

CH_UNUSED static const char *reg_type(void *arg, const char *name)
{
	for (const struct reg_entry *e = arg; e && e->name; e++)
		if (strcmp(e->name, name) == 0)
			return e->type;
	return NULL;
}

CH_UNUSED static struct ch_adapters *make(const char *conf_json)
{
	json_error_t je;
	json_t *conf = json_loads(conf_json, 0, &je);
	struct ch_adapters *a = NULL;
	char err[256] = "";

	if (!conf)
		fail_msg("test config: %s", je.text);
	if (ch_adapters_new(conf, &a, err, sizeof(err)) != 0)
		fail_msg("ch_adapters_new: %s", err);
	json_decref(conf);
	return a;
}

/* The config error for conf_json; asserts that there is one. */
CH_UNUSED static void expect_conf_error(const char *conf_json, const char *needle)
{
	json_t *conf = json_loads(conf_json, 0, NULL);
	struct ch_adapters *a = (struct ch_adapters *)1;
	char err[256] = "";

	assert_non_null(conf);
	assert_int_equal(ch_adapters_new(conf, &a, err, sizeof(err)), CH_ECONFIG);
	assert_null(a);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
	json_decref(conf);
}

/*
 * Converts through whichever adapter matches topic at time `at` with the
 * registry reg (may be NULL); returns the events; *unmapped and *bridge (may be
 * NULL) get the report and the learned device list (new references).
 */
CH_UNUSED static json_t *convx(struct ch_adapters *a, const char *topic, const char *payload,
		     const struct reg_entry *reg, int64_t at, json_t **unmapped, json_t **bridge)
{
	struct ch_adapter_lookup lk = {reg_type, (void *)reg};
	json_t *out = json_array(), *un = json_array(), *br = NULL;
	struct ch_adapter_out ao = {out, un, &br};
	enum ch_reject why = CH_REJ_COUNT;
	char err[256] = "";
	int idx = ch_adapters_match(a, topic);

	if (idx < 0)
		fail_msg("no adapter for %s", topic);
	if (ch_adapters_convert(a, idx, topic, payload, strlen(payload), at, &lk, &ao, &why, err,
				sizeof(err)) != 0)
		fail_msg("convert %s %s: %s", topic, payload, err);
	assert_int_equal(why, CH_REJ_NONE);
	if (unmapped)
		*unmapped = un;
	else
		json_decref(un);
	if (bridge)
		*bridge = br;
	else
		json_decref(br);
	return out;
}

CH_UNUSED static json_t *conv(struct ch_adapters *a, const char *topic, const char *payload)
{
	return convx(a, topic, payload, NULL, ARRIVAL, NULL, NULL);
}

CH_UNUSED static json_t *convr(struct ch_adapters *a, const char *topic, const char *payload,
		     const struct reg_entry *reg)
{
	return convx(a, topic, payload, reg, ARRIVAL, NULL, NULL);
}

CH_UNUSED static void expect_reject_len(struct ch_adapters *a, const char *topic, const char *payload,
			      size_t len, enum ch_reject want)
{
	json_t *out = json_array(), *un = json_array(), *br = NULL;
	struct ch_adapter_out ao = {out, un, &br};
	enum ch_reject why = CH_REJ_NONE;
	char err[256] = "";
	int idx = ch_adapters_match(a, topic);

	assert_true(idx >= 0);
	assert_int_equal(ch_adapters_convert(a, idx, topic, payload, len, ARRIVAL, NULL, &ao, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	if (why != want)
		fail_msg("%s: reason %s, want %s (%s)", topic, ch_reject_name(why),
			 ch_reject_name(want), err);
	assert_true(err[0] != '\0');
	/* nothing half-delivered */
	assert_int_equal(json_array_size(out), 0);
	assert_int_equal(json_array_size(un), 0);
	assert_null(br);
	json_decref(out);
	json_decref(un);
}

CH_UNUSED static void expect_reject(struct ch_adapters *a, const char *topic, const char *payload,
			  enum ch_reject want)
{
	expect_reject_len(a, topic, payload, strlen(payload), want);
}

/* Event i of evs is {device, type, value} (value as JSON text; NULL: no value). */
CH_UNUSED static void expect_ev(json_t *evs, size_t i, const char *device, const char *type,
		      const char *value)
{
	json_t *ev = json_array_get(evs, i);
	json_t *want = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;

	if (!ev) {
		char *s = json_dumps(evs, 0);
		fail_msg("no event %zu (have %zu: %s)", i, json_array_size(evs), s);
	}
	if (strcmp(json_string_value(json_object_get(ev, "device")), device) != 0 ||
	    strcmp(json_string_value(json_object_get(ev, "type")), type) != 0) {
		char *s = json_dumps(ev, 0);
		fail_msg("event %zu: %s, want %s %s", i, s, device, type);
	}
	if (value) {
		assert_non_null(want);
		if (!json_equal(json_object_get(ev, "value"), want)) {
			char *got = json_dumps(ev, JSON_ENCODE_ANY);
			fail_msg("event %zu: %s, want value %s", i, got, value);
		}
	} else {
		assert_null(json_object_get(ev, "value"));
	}
	json_decref(want);
}

/* Event i's data.<key> is the string want. */
CH_UNUSED static void expect_data(json_t *evs, size_t i, const char *key, const char *want)
{
	const char *got = json_string_value(json_object_get(json_object_get(json_array_get(evs, i), "data"), key));

	if (!got || strcmp(got, want) != 0)
		fail_msg("event %zu: data.%s is %s, want %s", i, key, got ? got : "(none)", want);
}

CH_UNUSED static void expect_count(json_t *evs, size_t n)
{
	if (json_array_size(evs) != n) {
		char *s = json_dumps(evs, 0);
		fail_msg("%zu, want %zu: %s", json_array_size(evs), n, s);
	}
}

/* The unmapped report has (device, field) with reason; sample when not NULL. */
CH_UNUSED static void expect_unmapped(json_t *un, const char *device, const char *field, const char *reason,
			    const char *sample)
{
	size_t i;
	json_t *u;

	json_array_foreach(un, i, u) {
		if (strcmp(json_string_value(json_object_get(u, "device")), device) != 0 ||
		    strcmp(json_string_value(json_object_get(u, "field")), field) != 0)
			continue;
		assert_string_equal(json_string_value(json_object_get(u, "reason")), reason);
		if (sample)
			assert_string_equal(json_string_value(json_object_get(u, "value")), sample);
		return;
	}
	char *s = json_dumps(un, 0);
	fail_msg("unmapped report lacks %s %s: %s", device, field, s);
}

#endif
