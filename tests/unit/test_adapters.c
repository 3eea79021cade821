/*
 * test_adapters.c - bridge formats to canonical events: Zigbee2MQTT, Tasmota
 * (Zigbee2Tasmota), Homie 5 and a generic JSON-pointer gateway, with message
 * shapes written by hand from each bridge's documentation; only-changes memory;
 * topic matching; config errors; and hostile payloads.
 *
 * Adapters are where a fleet's quirks meet the rules, so each quirk that decides
 * whether an alarm opens (contact polarity, a repeated full state, a second SOS
 * press) has a test of its own.
 */
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

static struct ch_adapters *make(const char *conf_json)
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
static void expect_conf_error(const char *conf_json, const char *needle)
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

/* Converts through whichever adapter matches topic; returns the new events. */
static json_t *conv(struct ch_adapters *a, const char *topic, const char *payload)
{
	json_t *out = json_array();
	enum ch_reject why = CH_REJ_COUNT;
	char err[256] = "";
	int idx = ch_adapters_match(a, topic);

	assert_true(idx >= 0);
	if (ch_adapters_convert(a, idx, topic, payload, strlen(payload), ARRIVAL, out, &why, err,
				sizeof(err)) != 0)
		fail_msg("convert %s %s: %s", topic, payload, err);
	assert_int_equal(why, CH_REJ_NONE);
	return out;
}

static void expect_reject_len(struct ch_adapters *a, const char *topic, const char *payload,
			      size_t len, enum ch_reject want)
{
	json_t *out = json_array();
	enum ch_reject why = CH_REJ_NONE;
	char err[256] = "";
	int idx = ch_adapters_match(a, topic);

	assert_true(idx >= 0);
	assert_int_equal(ch_adapters_convert(a, idx, topic, payload, len, ARRIVAL, out, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	if (why != want)
		fail_msg("%s: reason %s, want %s (%s)", topic, ch_reject_name(why),
			 ch_reject_name(want), err);
	assert_true(err[0] != '\0');
	assert_int_equal(json_array_size(out), 0); /* nothing half-delivered */
	json_decref(out);
}

static void expect_reject(struct ch_adapters *a, const char *topic, const char *payload,
			  enum ch_reject want)
{
	expect_reject_len(a, topic, payload, strlen(payload), want);
}

/* Event i of evs is {device, type, value} (value as JSON text; NULL: no value). */
static void expect_ev(json_t *evs, size_t i, const char *device, const char *type,
		      const char *value)
{
	json_t *ev = json_array_get(evs, i);
	json_t *want = value ? json_loads(value, JSON_DECODE_ANY, NULL) : NULL;

	if (!ev)
		fail_msg("no event %zu (have %zu)", i, json_array_size(evs));
	assert_string_equal(json_string_value(json_object_get(ev, "device")), device);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), type);
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

static void expect_count(json_t *evs, size_t n)
{
	if (json_array_size(evs) != n) {
		char *s = json_dumps(evs, 0);
		fail_msg("%zu events, want %zu: %s", json_array_size(evs), n, s);
	}
}

/* ---- Zigbee2MQTT ------------------------------------------------------- */

static const char z2m_conf[] = "[{\"name\":\"z2m\",\"kind\":\"zigbee2mqtt\"}]";

static void z2m_fields_to_events(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e;

	(void)state;
	assert_string_equal(ch_adapters_filter(a, 0), "zigbee2mqtt/#");
	assert_string_equal(ch_adapters_name(a, 0), "z2m");
	/* An Aqara RTCGQ11LM PIR: occupancy, battery, illuminance, linkquality. */
	e = conv(a, "zigbee2mqtt/living room/pir",
		 "{\"battery\":15,\"illuminance\":32,\"linkquality\":80,\"occupancy\":true,"
		 "\"voltage\":2985}");
	expect_count(e, 2);
	expect_ev(e, 0, "living room/pir", "motion", "true");
	expect_ev(e, 1, "living room/pir", "battery", "15");
	json_decref(e);
	/* A door contact: true = closed. */
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":\"90\",\"tamper\":false}");
	expect_count(e, 3);
	expect_ev(e, 0, "front door", "door", "\"open\"");
	expect_ev(e, 1, "front door", "tamper", "false");
	expect_ev(e, 2, "front door", "battery", "90");
	json_decref(e);
	/* Smoke, gas, CO, water, temperature, battery_low; unknown keys ignored. */
	e = conv(a, "zigbee2mqtt/厨房 烟感",
		 "{\"smoke\":true,\"gas\":false,\"carbon_monoxide\":true,\"water_leak\":false,"
		 "\"battery_low\":true,\"temperature\":21.5,\"smoke_density\":12,\"test\":false}");
	expect_count(e, 6);
	expect_ev(e, 0, "厨房 烟感", "water_leak", "false");
	expect_ev(e, 1, "厨房 烟感", "smoke", "true");
	expect_ev(e, 2, "厨房 烟感", "gas", "false");
	expect_ev(e, 3, "厨房 烟感", "co", "true");
	expect_ev(e, 4, "厨房 烟感", "battery_low", "true");
	expect_ev(e, 5, "厨房 烟感", "temperature", "21.5");
	json_decref(e);
	/* Presence radars speak "presence"; null means "not known yet": no event. */
	e = conv(a, "zigbee2mqtt/bedroom radar", "{\"presence\":true,\"battery\":null}");
	expect_count(e, 1);
	expect_ev(e, 0, "bedroom radar", "motion", "true");
	json_decref(e);
	/* Nothing mapped: zero events, not an error. */
	e = conv(a, "zigbee2mqtt/plug", "{\"linkquality\":120,\"state\":\"ON\"}");
	expect_count(e, 0);
	json_decref(e);
	ch_adapters_free(a);
}

static void z2m_only_changes(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *e;

	(void)state;
	/* The contact is repeated with every battery report: one door event. */
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":90}");
	expect_count(e, 2);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":89}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "battery", "89");
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false,\"battery\":89}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "zigbee2mqtt/front door", "{\"contact\":true,\"battery\":89}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "door", "\"closed\"");
	json_decref(e);
	/* Same state on another device is news. */
	e = conv(a, "zigbee2mqtt/back door", "{\"contact\":true}");
	expect_count(e, 1);
	json_decref(e);
	/* An SOS button pressed twice: two alarms. */
	for (int i = 0; i < 2; i++) {
		e = conv(a, "zigbee2mqtt/0x00158d0001a2b3c4",
			 "{\"action\":\"emergency\",\"battery\":100,\"linkquality\":60}");
		expect_count(e, i == 0 ? 2 : 1);
		expect_ev(e, i == 0 ? 1 : 0, "0x00158d0001a2b3c4", "sos", "true");
		json_decref(e);
	}
	/* Other actions are not alarms. */
	e = conv(a, "zigbee2mqtt/0x00158d0001a2b3c4", "{\"action\":\"single\"}");
	expect_count(e, 0);
	json_decref(e);
	ch_adapters_free(a);

	/* only_changes off: every report. */
	a = make("[{\"name\":\"z\",\"kind\":\"zigbee2mqtt\",\"only_changes\":false}]");
	for (int i = 0; i < 2; i++) {
		e = conv(a, "zigbee2mqtt/front door", "{\"contact\":false}");
		expect_count(e, 1);
		json_decref(e);
	}
	ch_adapters_free(a);
}

static void z2m_availability_and_bridge(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"home\",\"kind\":\"zigbee2mqtt\","
				     "\"base_topic\":\"z2m/site1\"}]");
	json_t *e;

	(void)state;
	assert_string_equal(ch_adapters_filter(a, 0), "z2m/site1/#");
	e = conv(a, "z2m/site1/front door/availability", "{\"state\":\"offline\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "front door", "availability", "\"offline\"");
	json_decref(e);
	/* Legacy plain payload, same state: remembered. */
	e = conv(a, "z2m/site1/front door/availability", "offline");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/hall/pir/availability", "online");
	expect_count(e, 1);
	expect_ev(e, 0, "hall/pir", "availability", "\"online\"");
	json_decref(e);
	/* The bridge itself. */
	e = conv(a, "z2m/site1/bridge/state", "{\"state\":\"offline\"}");
	expect_count(e, 1);
	expect_ev(e, 0, "bridge:home", "availability", "\"offline\"");
	json_decref(e);
	e = conv(a, "z2m/site1/bridge/state", "online");
	expect_count(e, 1);
	expect_ev(e, 0, "bridge:home", "availability", "\"online\"");
	json_decref(e);
	/* Bridge chatter and commands: nothing. */
	e = conv(a, "z2m/site1/bridge/devices", "[{\"friendly_name\":\"x\"}]");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/bridge/logging", "{\"level\":\"info\",\"message\":\"hi\"}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/lamp/set", "{\"state\":\"ON\"}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/lamp/get", "{\"state\":\"\"}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "z2m/site1/lamp/set/state", "ON");
	expect_count(e, 0);
	json_decref(e);
	expect_reject(a, "z2m/site1/front door/availability", "{\"state\":\"gone\"}",
		      CH_REJ_BAD_FIELD);
	expect_reject(a, "z2m/site1/front door/availability", "maybe", CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

static void z2m_bad_messages(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	char deep[200];
	size_t n = 0;

	(void)state;
	expect_reject(a, "zigbee2mqtt/front door", "{not json", CH_REJ_NOT_JSON);
	expect_reject(a, "zigbee2mqtt/front door", "[1,2]", CH_REJ_NOT_OBJECT);
	expect_reject(a, "zigbee2mqtt/front door", "\"on\"", CH_REJ_NOT_OBJECT);
	expect_reject(a, "zigbee2mqtt/front door", "{\"contact\":false,\"contact\":true}",
		      CH_REJ_NOT_JSON);
	expect_reject_len(a, "zigbee2mqtt/front door", "{\"a\":\"\xc3\x28\"}", 10, CH_REJ_BAD_UTF8);
	expect_reject_len(a, "zigbee2mqtt/front door", "{\"a\":\"\0\"}", 8, CH_REJ_NOT_JSON);
	for (int i = 0; i < 40; i++)
		deep[n++] = '[';
	deep[n++] = '1';
	for (int i = 0; i < 40; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	expect_reject(a, "zigbee2mqtt/front door", deep, CH_REJ_TOO_DEEP);
	/* Brackets inside strings do not count. */
	json_decref(conv(a, "zigbee2mqtt/x", "{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}"));
	/* Wrong types: the whole message is refused, no half of it delivered. */
	expect_reject(a, "zigbee2mqtt/front door", "{\"battery\":50,\"contact\":\"yes\"}",
		      CH_REJ_BAD_FIELD);
	expect_reject(a, "zigbee2mqtt/front door", "{\"occupancy\":1}", CH_REJ_BAD_FIELD);
	expect_reject(a, "zigbee2mqtt/front door", "{\"battery\":\"full\"}", CH_REJ_BAD_FIELD);
	expect_reject(a, "zigbee2mqtt/front door", "{\"temperature\":[21]}", CH_REJ_BAD_FIELD);
	expect_reject(a, "zigbee2mqtt/front door", "", CH_REJ_NOT_JSON);
	/* The refused battery was not remembered: the next one is news. */
	json_t *e = conv(a, "zigbee2mqtt/front door", "{\"battery\":50}");
	expect_count(e, 1);
	json_decref(e);
	ch_adapters_free(a);
}

/* ---- Tasmota ----------------------------------------------------------- */

static const char tas_conf[] = "[{\"name\":\"tasmota\",\"kind\":\"tasmota\"}]";

static void tasmota_zbreceived(void **state)
{
	struct ch_adapters *a = make(tas_conf);
	json_t *e;

	(void)state;
	assert_string_equal(ch_adapters_filter(a, 0), "tele/#");
	e = conv(a, "tele/zbbridge/SENSOR",
		 "{\"ZbReceived\":{\"0x5A1C\":{\"Device\":\"0x5A1C\",\"Name\":\"kitchen_smoke\","
		 "\"Fire\":1,\"BatteryPercentage\":87,\"Endpoint\":1,\"LinkQuality\":70}}}");
	expect_count(e, 2);
	expect_ev(e, 0, "kitchen_smoke", "smoke", "true");
	expect_ev(e, 1, "kitchen_smoke", "battery", "87");
	json_decref(e);
	/* No Name: the short address.  Two devices in one report. */
	e = conv(a, "tele/zbbridge/SENSOR",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":1,\"Endpoint\":1},"
		 "\"0x9F00\":{\"Device\":\"0x9F00\",\"Name\":\"hall pir\",\"Occupancy\":1,"
		 "\"Temperature\":22.25}}}");
	expect_count(e, 3);
	expect_ev(e, 0, "0x1234", "door", "\"open\"");
	expect_ev(e, 1, "hall pir", "motion", "true");
	expect_ev(e, 2, "hall pir", "temperature", "22.25");
	json_decref(e);
	e = conv(a, "tele/zbbridge/RESULT",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":0,\"Water\":1,"
		 "\"CO\":0,\"PersonalAlarm\":1}}}");
	expect_count(e, 4);
	expect_ev(e, 0, "0x1234", "door", "\"closed\"");
	expect_ev(e, 1, "0x1234", "water_leak", "true");
	expect_ev(e, 2, "0x1234", "co", "false");
	expect_ev(e, 3, "0x1234", "sos", "true");
	json_decref(e);
	/* The alarm button again: every press counts; the rest is unchanged. */
	e = conv(a, "tele/zbbridge/RESULT",
		 "{\"ZbReceived\":{\"0x1234\":{\"Device\":\"0x1234\",\"Contact\":0,\"Water\":1,"
		 "\"CO\":0,\"PersonalAlarm\":1}}}");
	expect_count(e, 1);
	expect_ev(e, 0, "0x1234", "sos", "true");
	json_decref(e);
	/* LWT, and the bridge's own telemetry. */
	e = conv(a, "tele/zbbridge/LWT", "Offline");
	expect_count(e, 1);
	expect_ev(e, 0, "zbbridge", "availability", "\"offline\"");
	json_decref(e);
	e = conv(a, "tele/zbbridge/STATE", "{\"Time\":\"2026-11-28T08:00:00\",\"Uptime\":\"0T01\"}");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "tele/plug/SENSOR", "{\"Time\":\"2026-11-28T08:00:00\",\"ENERGY\":{\"Power\":3}}");
	expect_count(e, 0);
	json_decref(e);
	expect_reject(a, "tele/zbbridge/SENSOR", "{\"ZbReceived\":[1]}", CH_REJ_BAD_FIELD);
	expect_reject(a, "tele/zbbridge/SENSOR", "{\"ZbReceived\":{\"0x1\":3}}", CH_REJ_BAD_FIELD);
	expect_reject(a, "tele/zbbridge/SENSOR",
		      "{\"ZbReceived\":{\"0x1\":{\"Device\":\"0x1\",\"Fire\":\"yes\"}}}",
		      CH_REJ_BAD_FIELD);
	expect_reject(a, "tele/zbbridge/LWT", "Sleeping", CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

/* ---- Homie 5 ----------------------------------------------------------- */

static void homie_properties(void **state)
{
	struct ch_adapters *a = make("[{\"name\":\"homie\",\"kind\":\"homie\",\"properties\":"
				     "{\"button/pressed\":\"sos\",\"bed/occupied\":\"bed\"}}]");
	json_t *e;

	(void)state;
	assert_string_equal(ch_adapters_filter(a, 0), "homie/5/#");
	e = conv(a, "homie/5/hallway-sensor/sensor/motion", "true");
	expect_count(e, 1);
	expect_ev(e, 0, "hallway-sensor", "motion", "true");
	json_decref(e);
	e = conv(a, "homie/5/hallway-sensor/sensor/motion", "true");
	expect_count(e, 0);
	json_decref(e);
	e = conv(a, "homie/5/door-1/contact/contact", "false");
	expect_ev(e, 0, "door-1", "door", "\"open\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/alarm/water-leak", "true");
	expect_ev(e, 0, "kitchen", "water_leak", "true");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/power/battery", "76");
	expect_ev(e, 0, "kitchen", "battery", "76");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/climate/temperature", "21.5");
	expect_ev(e, 0, "kitchen", "temperature", "21.5");
	json_decref(e);
	/* Configured mappings win, and sos repeats. */
	for (int i = 0; i < 2; i++) {
		e = conv(a, "homie/5/pendant/button/pressed", "true");
		expect_count(e, 1);
		expect_ev(e, 0, "pendant", "sos", "true");
		json_decref(e);
	}
	e = conv(a, "homie/5/bed-7/bed/occupied", "false");
	expect_ev(e, 0, "bed-7", "bed", "false");
	json_decref(e);
	/* $state. */
	e = conv(a, "homie/5/kitchen/$state", "lost");
	expect_ev(e, 0, "kitchen", "availability", "\"offline\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/$state", "ready");
	expect_ev(e, 0, "kitchen", "availability", "\"online\"");
	json_decref(e);
	e = conv(a, "homie/5/kitchen/$state", "sleeping");
	expect_count(e, 0); /* still online */
	json_decref(e);
	e = conv(a, "homie/5/kitchen/$state", "alert");
	expect_count(e, 0);
	json_decref(e);
	/* Attributes, unmapped properties, commands, cleared values: nothing. */
	static const char *const quiet[][2] = {
		{"homie/5/kitchen/$description", "{\"homie\":\"5.0\",\"name\":\"Kitchen\"}"},
		{"homie/5/kitchen/$log", "boot"},
		{"homie/5/kitchen/climate/humidity", "40"},
		{"homie/5/kitchen/climate/$name", "Climate"},
		{"homie/5/kitchen/sensor/motion/set", "true"},
		{"homie/5/kitchen/sensor/motion/$target", "true"},
		{"homie/5/kitchen/sensor/motion", ""},
		{"homie/5/$broadcast/alert", "fire drill"},
	};
	for (size_t i = 0; i < CH_ARRAY_LEN(quiet); i++) {
		e = conv(a, quiet[i][0], quiet[i][1]);
		expect_count(e, 0);
		json_decref(e);
	}
	expect_reject(a, "homie/5/kitchen/sensor/motion", "maybe", CH_REJ_BAD_FIELD);
	expect_reject(a, "homie/5/kitchen/power/battery", "lots", CH_REJ_BAD_FIELD);
	expect_reject(a, "homie/5/kitchen/$state", "exploded", CH_REJ_BAD_FIELD);
	expect_reject_len(a, "homie/5/kitchen/sensor/motion", "tr\xffue", 5, CH_REJ_BAD_UTF8);
	ch_adapters_free(a);
}

/* ---- Generic ----------------------------------------------------------- */

static void generic_gateway(void **state)
{
	struct ch_adapters *a = make(
		"[{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"vendor/+/up\","
		"\"device\":{\"topic_level\":1},"
		"\"timestamp\":{\"pointer\":\"/t\",\"format\":\"epoch_s\"},"
		"\"fields\":["
		"{\"pointer\":\"/leak\",\"type\":\"water_leak\",\"transform\":{\"map\":{\"ON\":true,"
		"\"OFF\":false}}},"
		"{\"pointer\":\"/pir\",\"type\":\"motion\",\"transform\":{\"bool\":true}},"
		"{\"pointer\":\"/door_open\",\"type\":\"door\",\"transform\":{\"map\":{\"1\":\"open\","
		"\"0\":\"closed\"}}},"
		"{\"pointer\":\"/m~1s/0\",\"type\":\"water_meter\",\"transform\":{\"scale\":0.001}},"
		"{\"pointer\":\"/bat\",\"type\":\"battery\",\"transform\":{\"scale\":100,\"offset\":0}},"
		"{\"pointer\":\"/still\",\"type\":\"motion\",\"transform\":{\"bool\":true,\"invert\":true}}"
		"]},"
		"{\"name\":\"gw2\",\"kind\":\"generic\",\"topic\":\"site/#\","
		"\"device\":{\"pointer\":\"/dev/id\"},"
		"\"timestamp\":{\"pointer\":\"/time\",\"format\":\"rfc3339\"},"
		"\"fields\":[{\"pointer\":\"/v\",\"type\":\"heart_rate\"}]}]");
	json_t *e;

	(void)state;
	assert_string_equal(ch_adapters_filter(a, 0), "vendor/+/up");
	e = conv(a, "vendor/WM0099/up", "{\"leak\":\"ON\",\"rssi\":-70}");
	expect_count(e, 1);
	expect_ev(e, 0, "WM0099", "water_leak", "true");
	assert_null(json_object_get(json_array_get(e, 0), "ts"));
	json_decref(e);
	e = conv(a, "vendor/WM0099/up",
		 "{\"t\":1795824000,\"pir\":\"on\",\"door_open\":1,\"m/s\":[1500],\"bat\":0.87,"
		 "\"still\":0}");
	expect_count(e, 5);
	expect_ev(e, 0, "WM0099", "motion", "true");
	expect_ev(e, 1, "WM0099", "door", "\"open\"");
	expect_ev(e, 2, "WM0099", "water_meter", "1.5");
	expect_ev(e, 3, "WM0099", "battery", "87.0");
	expect_ev(e, 4, "WM0099", "motion", "true");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(e, 0), "ts")),
			 1795824000000LL);
	json_decref(e);
	/* only_changes is off by default for generic: a repeat is delivered. */
	e = conv(a, "vendor/WM0099/up", "{\"leak\":\"ON\"}");
	expect_count(e, 1);
	json_decref(e);
	/* Unmapped values pass through; numbers as bools. */
	e = conv(a, "vendor/7/up", "{\"leak\":\"TEST\",\"pir\":0}");
	expect_ev(e, 0, "7", "water_leak", "\"TEST\"");
	expect_ev(e, 1, "7", "motion", "false");
	json_decref(e);
	expect_reject(a, "vendor/7/up", "{\"pir\":\"maybe\"}", CH_REJ_BAD_FIELD);
	expect_reject(a, "vendor/7/up", "{\"bat\":\"x\"}", CH_REJ_BAD_FIELD);
	expect_reject(a, "vendor/7/up", "{\"t\":\"yesterday\",\"pir\":1}", CH_REJ_BAD_FIELD);
	expect_reject(a, "vendor/7/up", "{\"t\":-5,\"pir\":1}", CH_REJ_BAD_FIELD);

	/* Device by pointer, RFC 3339 time kept as given. */
	e = conv(a, "site/a/b", "{\"dev\":{\"id\":\"hr-1\"},\"time\":\"2026-11-28T08:15:00+08:00\","
				"\"v\":72}");
	expect_count(e, 1);
	expect_ev(e, 0, "hr-1", "heart_rate", "72");
	assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "ts")),
			    "2026-11-28T08:15:00+08:00");
	json_decref(e);
	e = conv(a, "site/x", "{\"dev\":{\"id\":42},\"other\":1}");
	expect_count(e, 0); /* the field is absent: no event, no error */
	json_decref(e);
	expect_reject(a, "site/x", "{\"v\":72}", CH_REJ_BAD_FIELD);
	expect_reject(a, "site/x", "{\"dev\":{\"id\":[1]},\"v\":72}", CH_REJ_BAD_FIELD);
	expect_reject(a, "site/x", "{\"dev\":{\"id\":\"a\"},\"time\":\"08:15\",\"v\":1}",
		      CH_REJ_BAD_FIELD);
	ch_adapters_free(a);
}

/* ---- Topics, config ---------------------------------------------------- */

static void topic_matching(void **state)
{
	struct ch_adapters *a = make(
		"[{\"name\":\"gw\",\"kind\":\"generic\",\"topic\":\"vendor/+/up\","
		"\"device\":{\"topic_level\":1},\"fields\":[{\"pointer\":\"/v\",\"type\":\"motion\"}]},"
		"{\"name\":\"z\",\"kind\":\"zigbee2mqtt\"},"
		"{\"name\":\"t\",\"kind\":\"tasmota\",\"prefix\":\"tele\"},"
		"{\"name\":\"h\",\"kind\":\"homie\"},"
		"{\"name\":\"all\",\"kind\":\"generic\",\"topic\":\"#\","
		"\"device\":{\"topic_level\":0},\"fields\":[{\"pointer\":\"/v\",\"type\":\"motion\"}]}]");

	(void)state;
	assert_int_equal(ch_adapters_count(a), 5);
	assert_int_equal(ch_adapters_match(a, "vendor/x/up"), 0);
	assert_int_equal(ch_adapters_match(a, "vendor//up"), 0);
	assert_int_equal(ch_adapters_match(a, "vendor/x/y/up"), 4);
	assert_int_equal(ch_adapters_match(a, "vendor/x/up/more"), 4);
	assert_int_equal(ch_adapters_match(a, "zigbee2mqtt/living room/pir"), 1);
	assert_int_equal(ch_adapters_match(a, "zigbee2mqtt"), 1); /* "a/#" matches "a" */
	assert_int_equal(ch_adapters_match(a, "zigbee2mqttx/a"), 4);
	assert_int_equal(ch_adapters_match(a, "tele/zbbridge/SENSOR"), 2);
	assert_int_equal(ch_adapters_match(a, "homie/5/d/n/p"), 3);
	assert_int_equal(ch_adapters_match(a, "homie/4/d/n/p"), 4);
	assert_int_equal(ch_adapters_match(a, "$SYS/broker/uptime"), -1);
	assert_null(ch_adapters_filter(a, 5));
	assert_null(ch_adapters_name(a, 9));
	ch_adapters_free(a);

	/* No adapters at all. */
	struct ch_adapters *none = NULL;
	char err[64];
	assert_int_equal(ch_adapters_new(NULL, &none, err, sizeof(err)), 0);
	assert_int_equal(ch_adapters_count(none), 0);
	assert_int_equal(ch_adapters_match(none, "zigbee2mqtt/x"), -1);
	ch_adapters_free(none);
	ch_adapters_free(NULL);
}

static void convert_outside_filter(void **state)
{
	struct ch_adapters *a = make(z2m_conf);
	json_t *out = json_array();
	enum ch_reject why;
	char err[128];

	(void)state;
	assert_int_equal(ch_adapters_convert(a, 0, "tele/x/SENSOR", "{}", 2, ARRIVAL, out, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(why, CH_REJ_TOPIC_MISMATCH);
	assert_int_equal(ch_adapters_convert(a, 3, "zigbee2mqtt/x", "{}", 2, ARRIVAL, out, &why, err,
					     sizeof(err)),
			 CH_EINVAL);
	assert_int_equal(json_array_size(out), 0);
	json_decref(out);
	ch_adapters_free(a);
}

static void config_errors(void **state)
{
	(void)state;
	expect_conf_error("[{\"name\":\"z2m\",\"kind\":\"zigbee\"}]",
			  "mqtt.adapters[0] (z2m): unknown kind \"zigbee\", expected zigbee2mqtt, "
			  "tasmota, homie or generic");
	expect_conf_error("[{\"name\":\"a\",\"kind\":\"tasmota\"},{\"name\":\"z2m\",\"kind\":"
			  "\"zigbee2mqtt\",\"base\":\"x\"}]",
			  "mqtt.adapters[1] (z2m): unknown key \"base\"");
	expect_conf_error("[{\"name\":\"z\"}]", "missing \"kind\"");
	expect_conf_error("{}", "expected an array");
	expect_conf_error("[3]", "mqtt.adapters[0]");
	expect_conf_error("[{\"kind\":\"tasmota\"},{\"kind\":\"tasmota\"}]", "duplicate adapter name");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"base_topic\":\"a/#\"}]", "base_topic");
	expect_conf_error("[{\"kind\":\"zigbee2mqtt\",\"only_changes\":\"yes\"}]", "only_changes");
	expect_conf_error("[{\"kind\":\"homie\",\"properties\":{\"motion\":\"motion\"}}]",
			  "<node>/<property>");
	expect_conf_error("[{\"kind\":\"homie\",\"properties\":{\"a/b\":7}}]", "event type");
	expect_conf_error("[{\"name\":\"gw\",\"kind\":\"generic\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "mqtt.adapters[0] (gw): missing \"topic\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/#/b\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "not a valid MQTT topic filter");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\","
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "missing \"device\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"pointer\":\"id\"},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "device.pointer: expected a JSON pointer");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a~2\",\"type\":\"motion\"}]}]",
			  "fields[0]: expected a JSON pointer");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\",\"transform\":"
			  "{\"negate\":true}}]}]",
			  "unknown key in fields[].transform: \"negate\"");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"fields\":[]}]",
			  "fields");
	expect_conf_error("[{\"kind\":\"generic\",\"topic\":\"a/+\",\"device\":{\"topic_level\":1},"
			  "\"timestamp\":{\"pointer\":\"/t\",\"format\":\"iso\"},"
			  "\"fields\":[{\"pointer\":\"/a\",\"type\":\"motion\"}]}]",
			  "timestamp.format");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(z2m_fields_to_events),
		cmocka_unit_test(z2m_only_changes),
		cmocka_unit_test(z2m_availability_and_bridge),
		cmocka_unit_test(z2m_bad_messages),
		cmocka_unit_test(tasmota_zbreceived),
		cmocka_unit_test(homie_properties),
		cmocka_unit_test(generic_gateway),
		cmocka_unit_test(topic_matching),
		cmocka_unit_test(convert_outside_filter),
		cmocka_unit_test(config_errors),
	};
	return cmocka_run_group_tests_name("adapters", tests, NULL, NULL);
}
