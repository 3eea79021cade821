/*
 * adapters_tasmota.c - Tasmota as its documentation shows it: Zigbee2Tasmota's
 * ZbReceived, switches and buttons (Switch<x> states, SetOption73/114
 * actions), relays (POWER), the RF bridge's RfReceived with a code-to-device
 * map, wired sensor telemetry (tele/<topic>/SENSOR) and the LWT.
 *
 * Topics are %prefix%/%topic%/<what> with the tele and stat prefixes.  A
 * device is named by its Tasmota topic; a second switch, button or relay of
 * the same Tasmota is "<topic>/Switch2", "<topic>/Button2", "<topic>/POWER2".
 *
 * What a switch or a button means depends on what is wired to it, which only
 * the registry knows: a reed contact on a "door" (ON = circuit closed = door
 * closed), a PIR on "motion", a pull cord on "sos" (any press is an alarm).
 * A relay's POWER is "appliance" (ON = in use), a sign of life for the rules.
 * Cheap 433 MHz door and PIR sensors send one code per event; rf_codes names
 * the device (and optionally type and value) of each code, and a code seen
 * again within rf_debounce is the same press repeated by the sender.
 *
 * Tasmota polarity: Z2T derives "Contact" from the IAS zone alarm bit, set when
 * the magnet is away, so Contact 1 = open and 0 = closed (the opposite of
 * Zigbee2MQTT's contact:true = closed).  That is an assumption from reading the
 * Z2T docs, not a measurement; fields can remap it if a fleet differs.
 */
#include "adapters_int.h"

static const struct fmap zb_fields[] = {
	{"Occupancy", "motion", AS_BOOL01},
	{"Contact", "door", AS_DOOR01},
	{"Fire", "smoke", AS_BOOL01},
	{"Water", "water_leak", AS_BOOL01},
	{"CO", "co", AS_BOOL01},
	{"PersonalAlarm", "sos", AS_BOOL01},
	{"BatteryPercentage", "battery", AS_NUMBER},
	{"Temperature", "temperature", AS_NUMBER},
};

static const char *const zb_ignore[] = {"Device", "Name", "Endpoint", "LinkQuality", "Manufacturer",
					"ModelId", "BatteryVoltage", "Voltage", "Humidity",
					"Illuminance", "Pressure", NULL};

/* Keys of a sensor object no rule uses (an energy meter's totals and electrics among them). */
static const char *const sensor_ignore[] = {"Id", "Humidity", "DewPoint", "Pressure", "SeaPressure",
					    "Illuminance", "TotalStartTime", "Total", "Yesterday",
					    "Today", "Period", "ApparentPower", "ReactivePower",
					    "Factor", "Voltage", "Current", NULL};

#define TAS_MAX_DEVICES 64

/* The device a numbered input belongs to: "<topic>" for the first, "<topic>/<Key>" for others. */
static int input_device(struct conv *cv, const char *topic, const char *key, char *dev, size_t cap)
{
	const char *num = key + strcspn(key, "0123456789");
	bool first = !*num || strcmp(num, "1") == 0;

	if (first ? ch_strlcpy(dev, topic, cap) : ch_fmt(dev, cap, "%s/%s", topic, key))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "device topic too long", NULL);
	return 0;
}

/* POWER, POWER1..8: a relay; ON means the appliance on it is in use. */
static int power(struct conv *cv, const char *topic, const char *key, json_t *v)
{
	char dev[AD_MAX_DEVICE];
	const char *s = json_string_value(v);
	int rc;

	if ((rc = input_device(cv, topic, key, dev, sizeof(dev))) != 0)
		return rc;
	if (!s || (strcasecmp(s, "ON") != 0 && strcasecmp(s, "OFF") != 0)) {
		adapters__unmapped(cv, dev, key, v, "bad_value");
		return 0;
	}
	return adapters__event(cv, dev, "appliance", json_boolean(strcasecmp(s, "ON") == 0), key, NULL);
}

/* A Switch<x> state or a Button<x> action, meaning what the registry's type of the device says. */
static int input(struct conv *cv, const char *topic, const char *key, json_t *v, bool button)
{
	static const char *const on_is_true[] = {"motion", "water_leak", "smoke", "gas", "co",
						 "bed", "vibration", "appliance"};
	char dev[AD_MAX_DEVICE];
	const char *s = json_string_value(json_is_object(v) ? json_object_get(v, "Action") : v);
	const char *type;
	json_t *ev;
	int rc;

	if ((rc = input_device(cv, topic, key, dev, sizeof(dev))) != 0)
		return rc;
	if (!s) {
		adapters__unmapped(cv, dev, key, v, "bad_value");
		return 0;
	}
	type = adapters__device_type(cv, dev);
	if (type && strcmp(type, "sos") == 0) {
		/* A pull cord or a push button: every press, never the release. */
		if (strcasecmp(s, "OFF") == 0 || strcasecmp(s, "CLEAR") == 0)
			return 0;
		if ((rc = adapters__event(cv, dev, "sos", json_true(), key, &ev)) == 0)
			json_object_set_new(ev, "data", json_pack("{s:s}", "action", s));
		return rc;
	}
	if (!button && type && (strcasecmp(s, "ON") == 0 || strcasecmp(s, "OFF") == 0)) {
		bool on = strcasecmp(s, "ON") == 0;
		if (strcmp(type, "door") == 0)
			return adapters__event(cv, dev, "door", json_string(on ? "closed" : "open"), key,
					       NULL);
		for (size_t i = 0; i < CH_ARRAY_LEN(on_is_true); i++)
			if (strcmp(type, on_is_true[i]) == 0)
				return adapters__event(cv, dev, type, json_boolean(on), key, NULL);
	}
	adapters__unmapped(cv, dev, key, v, "unmapped");
	return 0;
}

static bool key_is(const char *k, const char *word)
{
	size_t n = strlen(word);
	return strncmp(k, word, n) == 0 && strspn(k + n, "0123456789") == strlen(k + n) &&
	       strlen(k + n) <= 2;
}

/* POWER/Switch/Button keys of a RESULT, STATE or SENSOR object; *took: one of them. */
static int inputs(struct conv *cv, const char *topic, const char *k, json_t *v, bool *took)
{
	*took = true;
	if (key_is(k, "POWER"))
		return power(cv, topic, k, v);
	if (key_is(k, "Switch") && k[6])
		return input(cv, topic, k, v, false);
	if (key_is(k, "Button") && k[6])
		return input(cv, topic, k, v, true);
	*took = false;
	return 0;
}

/* ---- RF bridge ------------------------------------------------------------- */

/* "0x7028d2", "E8329E" or 7350482: upper-case hex without a prefix. */
static bool rf_code(json_t *data, char *code, size_t cap)
{
	const char *s = json_string_value(data);
	size_t n;

	if (json_is_integer(data) && json_integer_value(data) >= 0)
		return ch_fmt(code, cap, "%llX", (unsigned long long)json_integer_value(data)) == 0;
	if (!s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	n = strlen(s);
	if (!n || n >= cap || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	for (size_t i = 0; i <= n; i++)
		code[i] = (char)toupper((unsigned char)s[i]);
	return true;
}

/* What a code means when rf_codes names only the device: the usual signal of its type. */
static json_t *rf_default(const char *type)
{
	static const char *const true_types[] = {"motion", "sos", "water_leak", "smoke", "gas", "co",
						 "bed", "vibration", "fall"};

	if (!type)
		return NULL;
	if (strcmp(type, "door") == 0)
		return json_string("open"); /* one code, sent when the magnet moves away */
	for (size_t i = 0; i < CH_ARRAY_LEN(true_types); i++)
		if (strcmp(type, true_types[i]) == 0)
			return json_true();
	return NULL;
}

static int rf_received(struct conv *cv, const char *topic, json_t *rf)
{
	char code[40], key[AD_MAX_DEVICE + 48];
	json_t *map, *data = json_object_get(rf, "Data"), *val;
	const char *dev, *type;
	int rc;

	if (!json_is_object(rf) || !rf_code(data, code, sizeof(code))) {
		adapters__unmapped(cv, topic, "RfReceived", data ? data : rf, "bad_value");
		return 0;
	}
	/* A sender repeats its code several times per press: one event. */
	if (ch_fmt(key, sizeof(key), "rf\x1f%s\x1f%s", topic, code) == 0 &&
	    adapters__seen_within(cv->set, cv->idx, key, cv->now, cv->ad->rf_debounce_ms))
		return 0;
	map = cv->ad->rf ? json_object_get(cv->ad->rf, code) : NULL;
	if (!map) {
		json_t *c = json_string(code);
		adapters__unmapped(cv, topic, "RfReceived", c, "unknown_code");
		json_decref(c);
		return 0;
	}
	dev = json_string_value(json_object_get(map, "device"));
	type = json_string_value(json_object_get(map, "type"));
	if (!type)
		type = adapters__device_type(cv, dev);
	val = json_object_get(map, "value") ? json_deep_copy(json_object_get(map, "value"))
					    : rf_default(type);
	if (!type || !val) {
		json_t *c = json_string(code);
		adapters__unmapped(cv, dev, "RfReceived", c, "unmapped");
		json_decref(c);
		json_decref(val);
		return 0;
	}
	json_t *ev;
	if ((rc = adapters__event(cv, dev, type, val, "RfReceived", &ev)) == 0) {
		json_object_set_new(ev, "data", json_pack("{s:s, s:s}", "code", code, "bridge", topic));
		/* One code per opening and no code for closing: each one is news, never a repeat. */
		json_object_set_new(ev, "_pulse", json_true());
	}
	return rc;
}

/* ---- Zigbee2Tasmota ---------------------------------------------------------- */

static int zb_device(struct conv *cv, const char *key, json_t *d)
{
	const char *dev;
	int rc;

	if (!json_is_object(d))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "ZbReceived entry is not an object: ", key);
	/* The friendly name when one was set with ZbName, else the short address. */
	dev = json_string_value(json_object_get(d, "Name"));
	if (!dev)
		dev = json_string_value(json_object_get(d, "Device"));
	if (!dev)
		dev = key;
	for (size_t i = 0; i < cv->ad->nfields; i++) {
		const struct gfield *f = &cv->ad->fields[i];
		json_t *v = json_object_get(d, f->field);
		if (v && (rc = adapters__apply_field(cv, dev, f, v)) != 0)
			return rc;
	}
	if ((rc = adapters__map_table(cv, dev, d, zb_fields, CH_ARRAY_LEN(zb_fields))) != 0)
		return rc;
	adapters__report_rest(cv, dev, d, NULL, zb_ignore, zb_fields, CH_ARRAY_LEN(zb_fields), NULL);
	return 0;
}

static int zb_received(struct conv *cv, json_t *zb)
{
	const char *key;
	json_t *d;
	int rc;

	if (!json_is_object(zb) || json_object_size(zb) > TAS_MAX_DEVICES)
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "ZbReceived is not an object of devices",
					NULL);
	json_object_foreach(zb, key, d)
		if ((rc = zb_device(cv, key, d)) != 0)
			return rc;
	return 0;
}

/* ---- Telemetry and results ------------------------------------------------------ */

/* A wired sensor's object in SENSOR ("AM2301": {"Temperature": 21.5, ...}); fields are "<Sensor>.<Key>". */
static int sensor(struct conv *cv, const char *topic, const char *name, json_t *obj, bool *temp_done)
{
	char field[160];
	const char *k;
	json_t *v, *val;
	int rc;

	json_object_foreach(obj, k, v) {
		const struct gfield *f;
		if (ch_fmt(field, sizeof(field), "%s.%s", name, k) != 0 || json_is_null(v))
			continue;
		if ((f = adapters__field_for(cv->ad, field)) != NULL) {
			if ((rc = adapters__apply_field(cv, topic, f, v)) != 0)
				return rc;
		} else if (strcmp(k, "Temperature") == 0 && !*temp_done) {
			/* One temperature per Tasmota: the first sensor's; fields name the others. */
			*temp_done = true;
			if (!adapters__field_value(AS_NUMBER, v, &val))
				adapters__unmapped(cv, topic, field, v, "bad_value");
			else if (val && (rc = adapters__event(cv, topic, "temperature", val, field, NULL)) != 0)
				return rc;
		} else if (!adapters__ignored(cv, topic, field, NULL) &&
			   !adapters__ignored(cv, topic, k, sensor_ignore)) {
			adapters__unmapped(cv, topic, field, v, "unmapped");
		}
	}
	return 0;
}

static const char *const top_ignore[] = {"Time", "TempUnit", "PressureUnit", "SpeedUnit", "Epoch", NULL};

/* tele/<topic>/SENSOR, tele/<topic>/RESULT and stat/<topic>/RESULT, STATE. */
static int tas_json(struct conv *cv, const char *topic, const char *what, const char *payload, size_t len)
{
	bool sensor_msg = strcmp(what, "SENSOR") == 0, temp_done = false;
	json_t *root, *v;
	const char *k;
	int rc = 0;

	if ((rc = adapters__parse_json(cv, payload, len, true, &root)) != 0)
		return rc;
	json_object_foreach(root, k, v) {
		bool took;
		if (strcmp(k, "ZbReceived") == 0)
			rc = zb_received(cv, v);
		else if (strcmp(k, "RfReceived") == 0)
			rc = rf_received(cv, topic, v);
		else if ((rc = inputs(cv, topic, k, v, &took)) != 0 || took)
			;
		else if (!sensor_msg || adapters__ignored(cv, topic, k, top_ignore))
			; /* command results and the device's own state: not readings */
		else if (json_is_object(v))
			rc = sensor(cv, topic, k, v, &temp_done);
		else if (!adapters__field_for(cv->ad, k))
			adapters__unmapped(cv, topic, k, v, "unmapped");
		else
			rc = adapters__apply_field(cv, topic, adapters__field_for(cv->ad, k), v);
		if (rc)
			break;
	}
	json_decref(root);
	return rc;
}

int adapters__tasmota(struct conv *cv, bool stat, const char *rest, const char *payload, size_t len)
{
	const char *last = strrchr(rest, '/');
	char topic[AD_MAX_DEVICE], text[AD_MAX_TEXT];

	if (!last || last == rest)
		return 0;
	if ((size_t)(last - rest) >= sizeof(topic))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "device topic too long", NULL);
	memcpy(topic, rest, (size_t)(last - rest));
	topic[last - rest] = '\0';
	last++;
	if (!stat && strcmp(last, "LWT") == 0)
		return adapters__availability(cv, topic, payload, len);
	if ((!stat && (strcmp(last, "SENSOR") == 0 || strcmp(last, "STATE") == 0)) ||
	    strcmp(last, "RESULT") == 0)
		return tas_json(cv, topic, last, payload, len);
	if (stat && key_is(last, "POWER")) {
		/* stat/<topic>/POWER = ON: the relay's state as plain text. */
		int rc = adapters__plain_text(cv, payload, len, text, sizeof(text));
		json_t *v = rc ? NULL : json_string(text);
		if (!rc)
			rc = power(cv, topic, last, v);
		json_decref(v);
		return rc;
	}
	return 0; /* INFO1..3, STATUS*, UPTIME, MARGINS...: the Tasmota itself */
}
