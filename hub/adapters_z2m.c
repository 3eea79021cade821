/*
 * adapters_z2m.c - Zigbee2MQTT as its devices really speak: the JSON output
 * (zigbee2mqtt/<friendly name>) and the attribute output
 * (zigbee2mqtt/<friendly name>/<attribute> with a bare value), availability,
 * the bridge's state, and the retained bridge/devices document, from which
 * the adapter learns each device's model, IEEE address and exposes.
 *
 * Field names and values follow the converters' exposes (zigbee-herdsman-
 * converters): a button's "action" ("single", "double", "hold"; "emergency" on
 * Tuya TS0215A), Feibit SEB01ZB's "sos": true, HEIMAN HS2FD's "fall_status",
 * Tuya/MultIR MIR-HE200-TY's "fall_down_status", OWON FDS315's "status".
 * What a press means is the registry's business: any action of a device
 * registered as type "sos" is an alarm, because HEIMAN HS1EB and MultIR
 * MIR-SO100 emergency buttons report plain "single" / "double" / "hold".
 */
#include "adapters_int.h"

static const struct fmap z2m_fields[] = {
	{"contact", "door", AS_DOOR},
	{"water_leak", "water_leak", AS_BOOL},
	{"smoke", "smoke", AS_BOOL},
	{"gas", "gas", AS_BOOL},
	{"carbon_monoxide", "co", AS_BOOL},
	{"sos", "sos", AS_BOOL},
	{"vibration", "vibration", AS_BOOL},
	{"tamper", "tamper", AS_BOOL},
	{"battery", "battery", AS_NUMBER},
	{"battery_low", "battery_low", AS_BOOL},
	{"temperature", "temperature", AS_NUMBER},
	{"heart_rate", "heart_rate", AS_NUMBER},
};

/* Keys handled below rather than by the table. */
static const char *const z2m_special[] = {"occupancy", "presence", "action", "fall_status",
					  "fall_down_status", "status", NULL};

/* Diagnostics and readings no rule uses: deliberately not mapped, so not reported. */
static const char *const z2m_ignore[] = {
	"linkquality", "last_seen", "voltage", "update", "update-*", "update_available", "device",
	"device-*", "elapsed", "illuminance", "illuminance_lux", "humidity", "pressure",
	"power_outage_count", "device_temperature", "identify", NULL};

/* What an action that is not a press looks like: a release, a cleared zone. */
static bool not_a_press(const char *a)
{
	size_t n = strlen(a);

	return !n || strcmp(a, "off") == 0 || strcmp(a, "clear") == 0 || strcmp(a, "stop") == 0 ||
	       (n >= 7 && strcmp(a + n - 7, "release") == 0);
}

static int event_with(struct conv *cv, const char *device, const char *type, json_t *value,
		      const char *field, const char *dkey, const char *dval)
{
	json_t *ev;
	int rc = adapters__event(cv, device, type, value, field, &ev);

	if (rc == 0 && ev && dkey)
		json_object_set_new(ev, "data", json_pack("{s:s}", dkey, dval));
	return rc;
}

static int z2m_action(struct conv *cv, const char *device, json_t *v)
{
	const char *a = json_string_value(v), *dtype;

	if (!a) {
		adapters__unmapped(cv, device, "action", v, "bad_value");
		return 0;
	}
	if (!*a)
		return 0; /* the action sensor's reset */
	/* Tuya TS0215A's SOS key, a security remote's panic key: alarms whatever the registry says. */
	if (strcmp(a, "emergency") == 0 || strcmp(a, "sos") == 0 || strcmp(a, "panic") == 0)
		return event_with(cv, device, "sos", json_true(), "action", "action", a);
	dtype = adapters__device_type(cv, device);
	if (dtype && strcmp(dtype, "sos") == 0) {
		if (not_a_press(a))
			return 0;
		return event_with(cv, device, "sos", json_true(), "action", "action", a);
	}
	adapters__unmapped(cv, device, "action", v, "unmapped");
	return 0;
}

struct fall_word {
	const char *word;
	const char *type; /* NULL: says nothing */
	bool value;
};

/* HEIMAN HS2FD fall_status, Tuya MIR-HE200-TY fall_down_status. */
static const struct fall_word fall_words[] = {
	{"fall_alarm", "fall", true},	   {"fall", "fall", true},
	{"fall_warning", "fall_suspected", true}, {"maybe_fall", "fall_suspected", true},
	{"normal", "fall", false},	   {"none", "fall", false},
	{"unknown", NULL, false},
};

static int z2m_fall(struct conv *cv, const char *device, const char *field, json_t *v)
{
	const char *s = json_string_value(v);

	for (size_t i = 0; s && i < CH_ARRAY_LEN(fall_words); i++) {
		if (strcmp(s, fall_words[i].word) != 0)
			continue;
		if (!fall_words[i].type)
			return 0;
		return event_with(cv, device, fall_words[i].type, json_boolean(fall_words[i].value), field,
				  "status", s);
	}
	adapters__unmapped(cv, device, field, v, "bad_value");
	return 0;
}

/* OWON FDS315 "status": where the person is, and whether they are falling. */
static int z2m_owon_status(struct conv *cv, const char *device, json_t *v)
{
	static const char *const words[] = {"unoccupied", "occupied", "sitting", "on_the_bed",
					    "low_posture", "falling"};
	const char *s = json_string_value(v);
	size_t i;
	int rc;

	for (i = 0; s && i < CH_ARRAY_LEN(words); i++)
		if (strcmp(s, words[i]) == 0)
			break;
	if (!s || i == CH_ARRAY_LEN(words)) {
		adapters__unmapped(cv, device, "status", v, "unmapped");
		return 0;
	}
	if (strcmp(s, "falling") == 0)
		return event_with(cv, device, "fall", json_true(), "status", "status", s);
	if ((rc = event_with(cv, device, "motion", json_boolean(strcmp(s, "unoccupied") != 0), "status",
			     "status", s)) != 0)
		return rc;
	return event_with(cv, device, "bed", json_boolean(strcmp(s, "on_the_bed") == 0), "status",
			  "status", s);
}

/*
 * occupancy is movement (a PIR, a radar's motion with its hold time); presence
 * is someone being there, still or not.  Both are "motion" for the rules, but
 * when a radar reports both, occupancy speaks: a still person is not a sign of
 * activity (a fallen person breathes too).  A held occupancy: true counts again
 * once occupancy_hold has passed.
 */
static int z2m_motion(struct conv *cv, const char *device, json_t *obj)
{
	json_t *occ = json_object_get(obj, "occupancy"), *pres = json_object_get(obj, "presence");
	const char *field = occ ? "occupancy" : "presence";
	json_t *v = occ ? occ : pres, *val, *ev;
	int rc;

	if (!v || adapters__field_for(cv->ad, field))
		return 0;
	if (!adapters__field_value(AS_BOOL, v, &val)) {
		adapters__unmapped(cv, device, field, v, "bad_value");
		return 0;
	}
	if (!val)
		return 0;
	if ((rc = adapters__event(cv, device, "motion", val, field, &ev)) != 0)
		return rc;
	if (occ && cv->ad->hold_ms > 0 && json_is_true(occ))
		json_object_set_new(ev, "_hold", json_integer(cv->ad->hold_ms));
	return 0;
}

/*
 * The name to report a device by: its friendly name, unless the registry
 * knows it only by the IEEE address the bridge gave for that name; so a device
 * registered by its address keeps working when someone renames it in
 * Zigbee2MQTT.
 */
static const char *z2m_name(struct conv *cv, const char *name)
{
	json_t *dev = cv->ad->learned ? json_object_get(cv->ad->learned, name) : NULL;
	const char *ieee = json_string_value(json_object_get(dev, "ieee"));

	if (!ieee || !*ieee || adapters__device_type(cv, name) || !adapters__device_type(cv, ieee))
		return name;
	return ieee;
}

/* One device's readings: configured fields, the table, the special fields, then the report. */
static int z2m_object(struct conv *cv, const char *device, json_t *obj)
{
	const char *k;
	json_t *v;
	int rc;

	device = z2m_name(cv, device);
	for (size_t i = 0; i < cv->ad->nfields; i++) {
		const struct gfield *f = &cv->ad->fields[i];
		if ((v = json_object_get(obj, f->field)) != NULL &&
		    (rc = adapters__apply_field(cv, device, f, v)) != 0)
			return rc;
	}
	if ((rc = z2m_motion(cv, device, obj)) != 0 ||
	    (rc = adapters__map_table(cv, device, obj, z2m_fields, CH_ARRAY_LEN(z2m_fields))) != 0)
		return rc;
	json_object_foreach(obj, k, v) {
		if (adapters__field_for(cv->ad, k) || json_is_null(v))
			continue;
		if (strcmp(k, "action") == 0)
			rc = z2m_action(cv, device, v);
		else if (strcmp(k, "fall_status") == 0 || strcmp(k, "fall_down_status") == 0)
			rc = z2m_fall(cv, device, k, v);
		else if (strcmp(k, "status") == 0)
			rc = z2m_owon_status(cv, device, v);
		if (rc)
			return rc;
	}
	adapters__report_rest(cv, device, obj, NULL, z2m_ignore, z2m_fields, CH_ARRAY_LEN(z2m_fields),
			      z2m_special);
	return 0;
}

/* <base>/<friendly name>/<attribute> with a bare value: the attribute output. */
static int z2m_attribute(struct conv *cv, const char *rest, const char *payload, size_t len)
{
	const char *slash = strrchr(rest, '/');
	char dev[AD_MAX_DEVICE], text[AD_MAX_TEXT];
	json_t *obj, *v;
	int rc;

	if (!slash || slash == rest || !slash[1])
		return adapters__reject(cv, CH_REJ_NOT_OBJECT,
					"attribute output needs <device>/<attribute>: ", rest);
	if ((size_t)(slash - rest) >= sizeof(dev))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "device name too long", NULL);
	memcpy(dev, rest, (size_t)(slash - rest));
	dev[slash - rest] = '\0';
	if ((rc = adapters__plain_text(cv, payload, len, text, sizeof(text))) != 0)
		return rc;
	if (!(v = adapters__scalar(text)))
		return 0; /* an empty value: Zigbee2MQTT clearing it */
	obj = json_object();
	if (!obj || json_object_set_new(obj, slash + 1, v) != 0) {
		json_decref(obj);
		return adapters__reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	}
	rc = z2m_object(cv, dev, obj);
	json_decref(obj);
	return rc;
}

/* ---- bridge/devices --------------------------------------------------------- */

struct learn {
	json_t *readings; /* array of property names the device publishes */
	json_t *config;   /* property -> true: settings, not readings */
	bool sos_values;  /* an action or status value that is an alarm */
	bool falling;
};

/* Walks one device's exposes (features nest a few levels: a light, a composite). */
static void walk_exposes(json_t *list, struct learn *l, int depth)
{
	size_t i;
	json_t *e;

	if (!json_is_array(list) || depth > 4)
		return;
	json_array_foreach(list, i, e) {
		const char *prop = json_string_value(json_object_get(e, "property"));
		const char *cat = json_string_value(json_object_get(e, "category"));
		json_int_t access = json_integer_value(json_object_get(e, "access"));
		json_t *vals = json_object_get(e, "values"), *x;
		size_t k;

		if (prop && *prop && strlen(prop) < 128) {
			/* access bit 2: settable, a setting; "config": one too. */
			if ((access & 2) || (cat && strcmp(cat, "config") == 0))
				json_object_set_new(l->config, prop, json_true());
			else if ((access & 1) && json_array_size(l->readings) < 64)
				json_array_append_new(l->readings, json_string(prop));
		}
		json_array_foreach(vals, k, x) {
			const char *s = json_string_value(x);
			if (s && (strcmp(s, "emergency") == 0 || strcmp(s, "sos") == 0))
				l->sos_values = true;
			if (s && strcmp(s, "falling") == 0)
				l->falling = true;
		}
		walk_exposes(json_object_get(e, "features"), l, depth + 1);
	}
}

static bool has_reading(const struct learn *l, const char *prop)
{
	size_t i;
	json_t *r;

	json_array_foreach(l->readings, i, r)
		if (strcmp(json_string_value(r), prop) == 0)
			return true;
	return false;
}

static bool mentions_alarm(const char *s)
{
	static const char *const words[] = {"emergency", "sos", "panic", "alarm button"};

	for (size_t i = 0; s && i < CH_ARRAY_LEN(words); i++)
		if (strcasestr(s, words[i]))
			return true;
	return false;
}

/* The canonical type a device most likely is, from what it exposes; "unknown" when nothing fits. */
static const char *guess_type(const struct learn *l, const char *model, const char *desc)
{
	static const struct {
		const char *prop, *type;
	} order[] = {
		{"sos", "sos"},       {"fall_status", "fall"},	   {"fall_down_status", "fall"},
		{"smoke", "smoke"},   {"gas", "gas"},		   {"carbon_monoxide", "co"},
		{"water_leak", "water_leak"},
	};

	for (size_t i = 0; i < CH_ARRAY_LEN(order); i++)
		if (has_reading(l, order[i].prop))
			return order[i].type;
	if (l->falling)
		return "fall";
	if (has_reading(l, "action") && (l->sos_values || mentions_alarm(model) || mentions_alarm(desc)))
		return "sos";
	if (has_reading(l, "contact"))
		return "door";
	if (has_reading(l, "occupancy") || has_reading(l, "presence"))
		return "motion";
	if (has_reading(l, "vibration"))
		return "vibration";
	if (has_reading(l, "temperature"))
		return "temperature";
	return "unknown";
}

/* A registry id from a friendly name: a-z 0-9 and '-'; the IEEE address when nothing is left. */
static void slug(const char *name, const char *ieee, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = name; *p && n + 1 < cap && n < 64; p++) {
		char c = (char)tolower((unsigned char)*p);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			out[n++] = c;
		else if (n && out[n - 1] != '-')
			out[n++] = '-';
	}
	while (n && out[n - 1] == '-')
		n--;
	out[n] = '\0';
	if (!n)
		(void)ch_strlcpy(out, *ieee ? ieee : "device", cap);
}

static const char *str_or(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && strlen(s) < 200 ? s : "";
}

/* One device of the list to its summary; NULL for the coordinator and unusable entries. */
static json_t *bridge_device(json_t *d, json_t *learned)
{
	json_t *def = json_object_get(d, "definition"), *sum, *aliases;
	const char *name = json_string_value(json_object_get(d, "friendly_name"));
	const char *ieee = str_or(d, "ieee_address");
	struct learn l = {json_array(), json_object(), false, false};
	char id[80];

	if (!json_is_object(d) || !name || !*name || strlen(name) >= AD_MAX_DEVICE ||
	    strcmp(str_or(d, "type"), "Coordinator") == 0 || !l.readings || !l.config) {
		json_decref(l.readings);
		json_decref(l.config);
		return NULL;
	}
	walk_exposes(json_object_get(def, "exposes"), &l, 0);
	slug(name, ieee, id, sizeof(id));
	aliases = json_pack("[s]", name);
	if (*ieee && strcmp(ieee, name) != 0)
		json_array_append_new(aliases, json_string(ieee));
	sum = json_pack("{s:s, s:s, s:s, s:s, s:s, s:O, s:{s:s, s:s, s:s, s:o}}", "ieee", ieee, "name",
			name, "model", str_or(def, "model"), "vendor", str_or(def, "vendor"), "description",
			str_or(def, "description"), "readings", l.readings, "suggest", "id", id, "type",
			guess_type(&l, str_or(def, "model"), str_or(def, "description")), "location",
			"", "aliases", aliases);
	json_object_set_new(learned, name, json_pack("{s:o, s:s}", "config", l.config, "ieee", ieee));
	json_decref(l.readings);
	return sum;
}

static int z2m_bridge_devices(struct conv *cv, const char *payload, size_t len)
{
	json_t *root, *d, *learned, *list;
	size_t i;
	int rc;

	if ((rc = adapters__parse_json(cv, payload, len, false, &root)) != 0)
		return rc;
	learned = json_object();
	list = json_array();
	if (!learned || !list) {
		json_decref(root);
		json_decref(learned);
		json_decref(list);
		return adapters__reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	}
	json_array_foreach(root, i, d) {
		json_t *sum;
		if (i >= AD_MAX_BRIDGE_DEVICES)
			break;
		if ((sum = bridge_device(d, learned)) != NULL)
			json_array_append_new(list, sum);
	}
	json_decref(root);
	pthread_mutex_lock(&cv->set->mu);
	json_decref(cv->ad->learned);
	cv->ad->learned = learned;
	pthread_mutex_unlock(&cv->set->mu);
	if (cv->bridge)
		*cv->bridge = list;
	else
		json_decref(list);
	return 0;
}

/* ---- Routing ------------------------------------------------------------------ */

static bool has_suffix(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n > k && memcmp(s + n - k, suf, k) == 0 && s[n - k - 1] == '/';
}

static bool looks_json(const char *p, size_t len)
{
	while (len && isspace((unsigned char)*p)) {
		p++;
		len--;
	}
	return len && (*p == '{' || *p == '[');
}

int adapters__z2m(struct conv *cv, const char *rest, const char *payload, size_t len)
{
	size_t n = strlen(rest);
	char dev[AD_MAX_DEVICE];
	json_t *root;
	int rc;

	if (strcmp(rest, "bridge/state") == 0) {
		if (ch_fmt(dev, sizeof(dev), "bridge:%s", cv->ad->name) != 0)
			return adapters__reject(cv, CH_REJ_BAD_FIELD, "adapter name too long", NULL);
		return adapters__availability(cv, dev, payload, len);
	}
	if (strcmp(rest, "bridge/devices") == 0)
		return z2m_bridge_devices(cv, payload, len);
	/* Bridge logs, info, requests and responses: chatter, not sensor readings. */
	if (strcmp(rest, "bridge") == 0 || strncmp(rest, "bridge/", 7) == 0)
		return 0;
	/* Commands to devices, published by others on the same tree. */
	if (has_suffix(rest, n, "set") || has_suffix(rest, n, "get") || strstr(rest, "/set/") ||
	    strstr(rest, "/get/"))
		return 0;
	if (has_suffix(rest, n, "availability")) {
		size_t dn = n - strlen("/availability");
		if (dn >= sizeof(dev))
			return adapters__reject(cv, CH_REJ_BAD_FIELD, "device name too long", NULL);
		memcpy(dev, rest, dn);
		dev[dn] = '\0';
		return adapters__availability(cv, dev, payload, len);
	}
	if (cv->ad->output != OUT_JSON && !looks_json(payload, len)) {
		/* attribute_and_json: the JSON message carries the same reading. */
		return cv->ad->output == OUT_BOTH ? 0 : z2m_attribute(cv, rest, payload, len);
	}
	if ((rc = adapters__parse_json(cv, payload, len, true, &root)) != 0) {
		if (*cv->why == CH_REJ_NOT_OBJECT && strchr(rest, '/'))
			(void)ch_fmt(cv->err, cv->errlen,
				     "%s: payload is not a JSON object (Zigbee2MQTT's attribute output "
				     "needs \"output\": \"attribute\")",
				     cv->ad->name);
		return rc;
	}
	rc = z2m_object(cv, rest, root);
	json_decref(root);
	return rc;
}
