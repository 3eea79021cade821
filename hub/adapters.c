/*
 * adapters.c - bridge formats (Zigbee2MQTT, Tasmota Zigbee, Homie 5, generic
 * JSON-pointer gateways) to canonical events; see adapters.h for the contract.
 *
 * Every payload is hostile until proven otherwise: size, UTF-8 and a nesting
 * scan run before jansson sees a byte, duplicate keys are refused, and a message
 * is converted completely into a scratch array before anything reaches the
 * caller, so a bad field rejects the message whole instead of half-delivering it
 * (and the only-changes memory only learns values that were really emitted).
 *
 * Tasmota polarity: Z2T derives "Contact" from the IAS zone alarm bit, set when
 * the magnet is away, so Contact 1 = open and 0 = closed (the opposite of
 * Zigbee2MQTT's contact:true = closed).  That is an assumption from reading the
 * Z2T docs, not a measurement; the generic adapter can invert if a fleet differs.
 */
#include "adapters_int.h"

/* ---- Helpers shared by config and conversion ---------------------------- */

bool ch_adapters__bad_pointer(const char *p)
{
	if (*p && *p != '/')
		return true;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return true;
	return false;
}

/* RFC 6901: resolves p in doc; borrowed result or NULL when absent. */
json_t *ch_adapters__ptr_get(json_t *doc, const char *p)
{
	char tok[AD_MAX_DEVICE];

	while (doc && *p == '/') {
		size_t n = 0;

		for (p++; *p && *p != '/'; p++) {
			char c = *p;
			if (c == '~') {
				c = p[1] == '1' ? '/' : '~';
				p++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = c;
		}
		tok[n] = '\0';
		if (json_is_object(doc)) {
			doc = json_object_get(doc, tok);
		} else if (json_is_array(doc)) {
			long i;
			/* Digits only: "01", "-" and "+1" name no element (RFC 6901 section 4). */
			if (!n || strspn(tok, "0123456789") != n || (n > 1 && tok[0] == '0') ||
			    ch_parse_long(tok, 0, 1L << 30, &i) != 0)
				return NULL;
			doc = json_array_get(doc, (size_t)i);
		} else {
			return NULL;
		}
	}
	return doc;
}

bool ch_adapters__filter_valid(const char *f)
{
	const char *p;

	if (!*f)
		return false;
	for (p = f; *p; p++) {
		if (*p == '#' && ((p != f && p[-1] != '/') || p[1]))
			return false;
		if (*p == '+' && ((p != f && p[-1] != '/') || (p[1] && p[1] != '/')))
			return false;
	}
	return true;
}

bool ch_adapters__topic_matches(const char *f, const char *t)
{
	/* MQTT 4.7.2: wildcards at the first level do not match $SYS-like topics. */
	if (*t == '$' && (*f == '+' || *f == '#'))
		return false;
	for (;;) {
		if (*f == '#')
			return true;
		if (*f == '+') {
			while (*t && *t != '/')
				t++;
			f++;
		} else {
			while (*f && *f != '/' && *f == *t) {
				f++;
				t++;
			}
			if ((*f && *f != '/') || (*t && *t != '/'))
				return false;
		}
		if (!*f && !*t)
			return true;
		if (!*f || !*t)
			/* "a/#" also matches "a" */
			return *t == '\0' && f[0] == '/' && f[1] == '#' && !f[2];
		f++;
		t++;
	}
}

/* ---- Conversion --------------------------------------------------------- */

/* State of one conversion: the scratch events and where a rejection goes. */
struct conv {
	struct ch_adapters *set;
	int idx;
	struct adapter *ad;
	json_t *tmp;
	enum ch_reject *why;
	char *err;
	size_t errlen;
};

static int reject(struct conv *cv, enum ch_reject why, const char *fmt, const char *a)
{
	*cv->why = why;
	(void)ch_fmt(cv->err, cv->errlen, "%s: %s%s", cv->ad->name, fmt, a ? a : "");
	return CH_EINVAL;
}

/* Queues one event; value is stolen (NULL: no "value"). */
static int add_event(struct conv *cv, const char *device, const char *type, json_t *value)
{
	json_t *ev;

	if (!*device || strlen(device) >= AD_MAX_DEVICE || !ch_utf8_valid(device, strlen(device))) {
		json_decref(value);
		return reject(cv, CH_REJ_BAD_FIELD, "bad device name", NULL);
	}
	if (json_array_size(cv->tmp) >= AD_MAX_EVENTS) {
		json_decref(value);
		return reject(cv, CH_REJ_OVERSIZE, "too many events in one message", NULL);
	}
	ev = json_pack("{s:s, s:s}", "device", device, "type", type);
	if (!ev) {
		json_decref(value);
		return reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	}
	/* set_new and append_new release their argument on failure too. */
	if ((value && json_object_set_new(ev, "value", value) != 0) ||
	    json_array_append_new(cv->tmp, ev) != 0) {
		json_decref(ev);
		return reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	}
	return 0;
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

/*
 * true when this (device, type) already showed this value; records it otherwise.
 * On allocation failure the event is let through: a duplicate beats a loss.
 */
static bool memo_same(struct ch_adapters *a, int idx, json_t *ev)
{
	const char *dev = json_string_value(json_object_get(ev, "device"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	char key[AD_MAX_DEVICE + CH_TYPE_MAX + 32];
	char *val;
	struct memo *m, **slot;
	size_t kl, vl;

	if (ch_fmt(key, sizeof(key), "%d\x1f%s\x1f%s", idx, dev, type) != 0)
		return false;
	val = json_dumps(json_object_get(ev, "value") ? json_object_get(ev, "value") : json_null(),
			 JSON_ENCODE_ANY | JSON_COMPACT);
	if (!val)
		return false;
	if (!a->buckets && !(a->buckets = calloc(MEMO_BUCKETS, sizeof(*a->buckets)))) {
		free(val);
		return false;
	}
	slot = &a->buckets[fnv1a(key) % MEMO_BUCKETS];
	for (m = *slot; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			break;
	if (m && strcmp(m->value, val) == 0) {
		free(val);
		return true;
	}
	if (!m && a->memo_count >= MEMO_MAX) {
		ch_adapters__memo_clear(a);
		slot = &a->buckets[fnv1a(key) % MEMO_BUCKETS];
	}
	kl = strlen(key);
	vl = strlen(val);
	/* One allocation per entry; a changed value replaces the entry whole. */
	struct memo *nm = malloc(sizeof(*nm) + kl + 1 + vl + 1);
	if (!nm) {
		free(val);
		return false;
	}
	memcpy(nm->key, key, kl + 1);
	nm->value = nm->key + kl + 1;
	memcpy(nm->value, val, vl + 1);
	free(val);
	if (m) {
		struct memo **pp = slot;
		while (*pp != m)
			pp = &(*pp)->next;
		nm->next = m->next;
		*pp = nm;
		free(m);
	} else {
		nm->next = *slot;
		*slot = nm;
		a->memo_count++;
	}
	return false;
}

/* ---- Payload scanning --------------------------------------------------- */

/* Nesting depth by a byte scan outside strings, so jansson never recurses deep. */
static bool too_deep(const char *p, size_t len)
{
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > AD_MAX_DEPTH)
				return true;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return false;
}

static int check_bytes(struct conv *cv, const char *payload, size_t len)
{
	if (len > AD_MAX_PAYLOAD)
		return reject(cv, CH_REJ_OVERSIZE, "payload too large", NULL);
	if (!ch_utf8_valid(payload, len))
		return reject(cv, CH_REJ_BAD_UTF8, "payload is not valid UTF-8", NULL);
	return 0;
}

static int parse_json(struct conv *cv, const char *payload, size_t len, json_t **root)
{
	json_error_t je;
	int rc;

	*root = NULL;
	if ((rc = check_bytes(cv, payload, len)) != 0)
		return rc;
	if (too_deep(payload, len))
		return reject(cv, CH_REJ_TOO_DEEP, "payload nested too deep", NULL);
	*root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!*root)
		return reject(cv, CH_REJ_NOT_JSON, "not JSON: ", je.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return reject(cv, CH_REJ_NOT_OBJECT, "payload is not a JSON object", NULL);
	}
	return 0;
}

/* A plain-text payload into buf, trimmed; rejects NULs, bad UTF-8 and long text. */
static int plain_text(struct conv *cv, const char *payload, size_t len, char *buf, size_t cap)
{
	int rc;

	if ((rc = check_bytes(cv, payload, len)) != 0)
		return rc;
	while (len && isspace((unsigned char)*payload)) {
		payload++;
		len--;
	}
	while (len && isspace((unsigned char)payload[len - 1]))
		len--;
	if (len >= cap || memchr(payload, '\0', len))
		return reject(cv, CH_REJ_BAD_FIELD, "text payload too long or has NUL", NULL);
	memcpy(buf, payload, len);
	buf[len] = '\0';
	return 0;
}

/* Availability from {"state":"online"} or the plain word; online/offline only. */
static int availability(struct conv *cv, const char *device, const char *payload, size_t len)
{
	char text[AD_MAX_TEXT];
	const char *s = text;
	json_t *root = NULL;
	int rc;

	if ((rc = plain_text(cv, payload, len, text, sizeof(text))) != 0)
		return rc;
	if (text[0] == '{') {
		if ((rc = parse_json(cv, payload, len, &root)) != 0)
			return rc;
		s = json_string_value(json_object_get(root, "state"));
		if (!s) {
			json_decref(root);
			return reject(cv, CH_REJ_BAD_FIELD, "availability without a \"state\" string",
				      NULL);
		}
	}
	if (strcasecmp(s, "online") == 0 || strcasecmp(s, "offline") == 0)
		rc = add_event(cv, device, "availability",
			       json_string(strcasecmp(s, "online") == 0 ? "online" : "offline"));
	else
		rc = reject(cv, CH_REJ_BAD_FIELD, "availability is neither online nor offline", NULL);
	json_decref(root);
	return rc;
}

/* ---- Value conversion --------------------------------------------------- */

static bool text_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "on", "1", "yes"};
	static const char *const no[] = {"false", "off", "0", "no"};

	for (size_t i = 0; i < CH_ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool text_number(const char *s, double *out)
{
	char *end;
	double d;

	if (!*s || isspace((unsigned char)*s))
		return false;
	d = strtod(s, &end);
	if (*end || !isfinite(d))
		return false;
	*out = d;
	return true;
}

/* Number or numeric string ("87", as some Zigbee2MQTT converters send battery). */
static bool as_number(json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return isfinite(*out);
	}
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	       text_number(json_string_value(v), out);
}

/* A number keeps its integer form when it has one, so memo and rules see 87, not 87.0. */
static json_t *number_json(json_t *orig, double d)
{
	if (json_is_integer(orig))
		return json_integer(json_integer_value(orig));
	if (d == floor(d) && fabs(d) < 9e15)
		return json_integer((json_int_t)d);
	return json_real(d);
}

enum conv_as { AS_BOOL, AS_BOOL01, AS_DOOR, AS_DOOR01, AS_NUMBER, AS_SOS_ACTION };

/*
 * One known bridge field to its canonical value: *val is NULL when the field is
 * there but says nothing (null, an unrelated action); false when the form is wrong.
 */
static bool field_value(enum conv_as as, json_t *v, json_t **val)
{
	double d;

	*val = NULL;
	if (json_is_null(v))
		return true;
	switch (as) {
	case AS_BOOL:
	case AS_DOOR:
		if (!json_is_boolean(v))
			return false;
		if (as == AS_BOOL)
			*val = json_boolean(json_is_true(v));
		else
			*val = json_string(json_is_true(v) ? "closed" : "open");
		return true;
	case AS_BOOL01:
	case AS_DOOR01:
		if (json_is_boolean(v))
			d = json_is_true(v);
		else if (json_is_number(v))
			d = json_number_value(v);
		else
			return false;
		if (as == AS_BOOL01)
			*val = json_boolean(d != 0);
		else
			*val = json_string(d != 0 ? "open" : "closed");
		return true;
	case AS_NUMBER:
		if (!as_number(v, &d))
			return false;
		*val = number_json(v, d);
		return true;
	case AS_SOS_ACTION:
		if (json_is_string(v) && (strcmp(json_string_value(v), "emergency") == 0 ||
					  strcmp(json_string_value(v), "sos") == 0))
			*val = json_true();
		return true; /* other actions (single, double, hold...) are not alarms */
	}
	return false;
}

struct fmap {
	const char *key;
	const char *type;
	enum conv_as as;
};

/* Every mapped key of obj to one event each, in table order. */
static int map_fields(struct conv *cv, const char *device, json_t *obj, const struct fmap *m,
		      size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(obj, m[i].key), *val;
		int rc;

		if (!v)
			continue;
		if (!field_value(m[i].as, v, &val))
			return reject(cv, CH_REJ_BAD_FIELD, "wrong type for field ", m[i].key);
		if (val && (rc = add_event(cv, device, m[i].type, val)) != 0)
			return rc;
	}
	return 0;
}

/* ---- Zigbee2MQTT -------------------------------------------------------- */

static const struct fmap z2m_fields[] = {
	{"occupancy", "motion", AS_BOOL},
	{"presence", "motion", AS_BOOL},
	{"contact", "door", AS_DOOR},
	{"water_leak", "water_leak", AS_BOOL},
	{"smoke", "smoke", AS_BOOL},
	{"gas", "gas", AS_BOOL},
	{"carbon_monoxide", "co", AS_BOOL},
	{"tamper", "tamper", AS_BOOL},
	{"battery", "battery", AS_NUMBER},
	{"battery_low", "battery_low", AS_BOOL},
	{"temperature", "temperature", AS_NUMBER},
	{"action", "sos", AS_SOS_ACTION},
};

static bool has_suffix(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);
	return n > k && memcmp(s + n - k, suf, k) == 0 && s[n - k - 1] == '/';
}

static int conv_z2m(struct conv *cv, const char *rest, const char *payload, size_t len)
{
	size_t n = strlen(rest);
	char dev[AD_MAX_DEVICE];
	json_t *root;
	int rc;

	if (strcmp(rest, "bridge/state") == 0) {
		char name[AD_MAX_DEVICE];
		if (ch_fmt(name, sizeof(name), "bridge:%s", cv->ad->name) != 0)
			return reject(cv, CH_REJ_BAD_FIELD, "adapter name too long", NULL);
		return availability(cv, name, payload, len);
	}
	/* Bridge logs, device lists, requests: chatter, not sensor readings. */
	if (strcmp(rest, "bridge") == 0 || strncmp(rest, "bridge/", 7) == 0)
		return 0;
	/* Commands to devices, published by others on the same tree. */
	if (has_suffix(rest, n, "set") || has_suffix(rest, n, "get") || strstr(rest, "/set/") ||
	    strstr(rest, "/get/"))
		return 0;
	if (has_suffix(rest, n, "availability")) {
		size_t dn = n - strlen("/availability");
		if (dn >= sizeof(dev))
			return reject(cv, CH_REJ_BAD_FIELD, "device name too long", NULL);
		memcpy(dev, rest, dn);
		dev[dn] = '\0';
		return availability(cv, dev, payload, len);
	}
	if ((rc = parse_json(cv, payload, len, &root)) != 0)
		return rc;
	rc = map_fields(cv, rest, root, z2m_fields, CH_ARRAY_LEN(z2m_fields));
	json_decref(root);
	return rc;
}

/* ---- Tasmota (Zigbee2Tasmota) ------------------------------------------- */

static const struct fmap tas_fields[] = {
	{"Occupancy", "motion", AS_BOOL01},
	{"Contact", "door", AS_DOOR01},
	{"Fire", "smoke", AS_BOOL01},
	{"Water", "water_leak", AS_BOOL01},
	{"CO", "co", AS_BOOL01},
	{"PersonalAlarm", "sos", AS_BOOL01},
	{"BatteryPercentage", "battery", AS_NUMBER},
	{"Temperature", "temperature", AS_NUMBER},
};

#define TAS_MAX_DEVICES 64

static int conv_tasmota(struct conv *cv, const char *rest, const char *payload, size_t len)
{
	const char *last = strrchr(rest, '/');
	char topic[AD_MAX_DEVICE];
	json_t *root, *zb, *d;
	const char *key;
	int rc = 0;

	if (!last || last == rest)
		return 0;
	if ((size_t)(last - rest) >= sizeof(topic))
		return reject(cv, CH_REJ_BAD_FIELD, "device topic too long", NULL);
	memcpy(topic, rest, (size_t)(last - rest));
	topic[last - rest] = '\0';
	last++;
	if (strcmp(last, "LWT") == 0)
		return availability(cv, topic, payload, len);
	if (strcmp(last, "SENSOR") != 0 && strcmp(last, "RESULT") != 0)
		return 0; /* STATE, INFO1..3, ...: the bridge itself */
	if ((rc = parse_json(cv, payload, len, &root)) != 0)
		return rc;
	zb = json_object_get(root, "ZbReceived");
	if (!zb) {
		json_decref(root);
		return 0; /* a wired sensor's report or a command result */
	}
	if (!json_is_object(zb) || json_object_size(zb) > TAS_MAX_DEVICES) {
		json_decref(root);
		return reject(cv, CH_REJ_BAD_FIELD, "ZbReceived is not an object of devices", NULL);
	}
	json_object_foreach(zb, key, d) {
		const char *dev;
		if (!json_is_object(d)) {
			rc = reject(cv, CH_REJ_BAD_FIELD, "ZbReceived entry is not an object: ", key);
			break;
		}
		/* The friendly name when one was set with ZbName, else the short address. */
		dev = json_string_value(json_object_get(d, "Name"));
		if (!dev)
			dev = json_string_value(json_object_get(d, "Device"));
		if (!dev)
			dev = key;
		if ((rc = map_fields(cv, dev, d, tas_fields, CH_ARRAY_LEN(tas_fields))) != 0)
			break;
	}
	json_decref(root);
	return rc;
}

/* ---- Homie 5 ------------------------------------------------------------ */

struct homie_default {
	const char *prop;
	const char *type;
};

static const struct homie_default homie_defaults[] = {
	{"motion", "motion"},           {"occupancy", "motion"},
	{"contact", "door"},            {"smoke", "smoke"},
	{"gas", "gas"},                 {"water-leak", "water_leak"},
	{"water_leak", "water_leak"},   {"leak", "water_leak"},
	{"sos", "sos"},                 {"alarm", "sos"},
	{"battery", "battery"},         {"temperature", "temperature"},
};

static const char *const bool_types[] = {"motion", "water_leak", "smoke", "gas", "co", "sos",
					 "fall", "bed", "tamper", "battery_low"};
static const char *const number_types[] = {"battery", "temperature", "heart_rate", "water_meter"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

/* A Homie property payload (a string by the convention) as the type's value. */
static int homie_value(struct conv *cv, const char *type, const char *text, json_t **val)
{
	double d;

	*val = NULL;
	if (strcmp(type, "door") == 0) {
		if (strcmp(text, "true") == 0 || strcmp(text, "closed") == 0)
			*val = json_string("closed");
		else if (strcmp(text, "false") == 0 || strcmp(text, "open") == 0)
			*val = json_string("open");
	} else if (in_list(type, bool_types, CH_ARRAY_LEN(bool_types))) {
		if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
			*val = json_boolean(text[0] == 't');
	} else if (in_list(type, number_types, CH_ARRAY_LEN(number_types))) {
		if (text_number(text, &d))
			*val = number_json(NULL, d);
	} else if (text_number(text, &d)) {
		*val = number_json(NULL, d);
	} else if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
		*val = json_boolean(text[0] == 't');
	} else {
		*val = json_string(text);
	}
	if (!*val)
		return reject(cv, CH_REJ_BAD_FIELD, "value does not fit the event type: ", text);
	return 0;
}

static int conv_homie(struct conv *cv, const char *rest, const char *payload, size_t len)
{
	const char *s1 = strchr(rest, '/'), *s2, *prop, *type = NULL;
	char dev[AD_MAX_DEVICE], text[AD_MAX_TEXT];
	json_t *val;
	int rc;

	/* "$broadcast/..." and other reserved ids are not devices. */
	if (!s1 || s1 == rest || rest[0] == '$' || (size_t)(s1 - rest) >= sizeof(dev))
		return 0;
	memcpy(dev, rest, (size_t)(s1 - rest));
	dev[s1 - rest] = '\0';
	if (strcmp(s1 + 1, "$state") == 0) {
		if ((rc = plain_text(cv, payload, len, text, sizeof(text))) != 0)
			return rc;
		if (!strcmp(text, "ready") || !strcmp(text, "init") || !strcmp(text, "sleeping"))
			return add_event(cv, dev, "availability", json_string("online"));
		if (!strcmp(text, "disconnected") || !strcmp(text, "lost"))
			return add_event(cv, dev, "availability", json_string("offline"));
		if (!strcmp(text, "alert") || !text[0])
			return 0;
		return reject(cv, CH_REJ_BAD_FIELD, "unknown $state: ", text);
	}
	/* Device and node attributes ($name, $description, ...), and /set commands. */
	s2 = strchr(s1 + 1, '/');
	if (s1[1] == '$' || !s2 || s2 == s1 + 1 || s2[1] == '$' || !s2[1] || strchr(s2 + 1, '/'))
		return 0;
	prop = s2 + 1;
	if (cv->ad->props)
		type = json_string_value(json_object_get(cv->ad->props, s1 + 1));
	for (size_t i = 0; !type && i < CH_ARRAY_LEN(homie_defaults); i++)
		if (strcmp(prop, homie_defaults[i].prop) == 0)
			type = homie_defaults[i].type;
	if (!type)
		return 0;
	if ((rc = plain_text(cv, payload, len, text, sizeof(text))) != 0)
		return rc;
	if (!text[0])
		return 0; /* an empty retained message clears the value: no reading */
	if ((rc = homie_value(cv, type, text, &val)) != 0)
		return rc;
	return add_event(cv, dev, type, val);
}

/* ---- Generic gateway ---------------------------------------------------- */

static int topic_level(struct conv *cv, const char *topic, int level, char *buf, size_t cap)
{
	const char *p = topic, *end;

	for (int i = 0; i < level; i++) {
		p = strchr(p, '/');
		if (!p)
			return reject(cv, CH_REJ_BAD_FIELD, "topic has no device level: ", topic);
		p++;
	}
	end = strchr(p, '/');
	if (!end)
		end = p + strlen(p);
	if (end == p || (size_t)(end - p) >= cap)
		return reject(cv, CH_REJ_BAD_FIELD, "empty or long device level in topic ", topic);
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return 0;
}

/* The transform chain: map, then bool, invert, scale/offset.  *val is new. */
static int transform(struct conv *cv, const struct gfield *f, json_t *v, json_t **val)
{
	json_t *cur = v;
	char key[64];
	double d;
	bool b;

	*val = NULL;
	if (f->map) {
		json_t *hit = NULL;
		if (json_is_string(v))
			hit = json_object_get(f->map, json_string_value(v));
		else if (json_is_integer(v) &&
			 ch_fmt(key, sizeof(key), "%" JSON_INTEGER_FORMAT, json_integer_value(v)) == 0)
			hit = json_object_get(f->map, key);
		else if (json_is_real(v) && ch_fmt(key, sizeof(key), "%.17g", json_real_value(v)) == 0)
			hit = json_object_get(f->map, key);
		else if (json_is_boolean(v))
			hit = json_object_get(f->map, json_is_true(v) ? "true" : "false");
		if (hit)
			cur = hit;
	}
	if (f->to_bool) {
		if (json_is_boolean(cur))
			b = json_is_true(cur);
		else if (json_is_number(cur))
			b = json_number_value(cur) != 0;
		else if (!json_is_string(cur) || !text_bool(json_string_value(cur), &b))
			return reject(cv, CH_REJ_BAD_FIELD, "not a boolean at ", f->pointer);
		*val = json_boolean(b);
	} else if (f->has_lin) {
		if (!as_number(cur, &d))
			return reject(cv, CH_REJ_BAD_FIELD, "not a number at ", f->pointer);
		d = d * f->scale + f->offset;
		if (!isfinite(d))
			return reject(cv, CH_REJ_BAD_FIELD, "number out of range at ", f->pointer);
		*val = json_is_integer(cur) && f->scale == 1.0 && f->offset == floor(f->offset)
			       ? number_json(NULL, d)
			       : json_real(d);
	} else {
		*val = json_deep_copy(cur);
	}
	if (f->invert) {
		if (!json_is_boolean(*val)) {
			json_decref(*val);
			*val = NULL;
			return reject(cv, CH_REJ_BAD_FIELD, "invert needs a boolean at ", f->pointer);
		}
		b = json_is_false(*val);
		json_decref(*val);
		*val = json_boolean(b);
	}
	if (!*val)
		return reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	return 0;
}

static int gen_timestamp(struct conv *cv, json_t *root, json_t **ts)
{
	const struct adapter *ad = cv->ad;
	json_t *v = ch_adapters__ptr_get(root, ad->ts_pointer);
	int64_t ms;
	double d;

	*ts = NULL;
	if (!v || json_is_null(v))
		return 0; /* the hub's arrival time stands in */
	if (ad->ts_format == TS_RFC3339) {
		if (!json_is_string(v) || ch_event_parse_rfc3339(json_string_value(v), &ms) != 0)
			return reject(cv, CH_REJ_BAD_FIELD, "timestamp is not RFC 3339 at ",
				      ad->ts_pointer);
		*ts = json_string(json_string_value(v));
		return 0;
	}
	if (!as_number(v, &d))
		return reject(cv, CH_REJ_BAD_FIELD, "timestamp is not a number at ", ad->ts_pointer);
	if (ad->ts_format == TS_EPOCH_S)
		d *= 1000.0;
	/* Years 1970..2500: anything else is a unit mix-up, not a time. */
	if (d < 0 || d > 16725225600000.0)
		return reject(cv, CH_REJ_BAD_FIELD, "timestamp out of range at ", ad->ts_pointer);
	*ts = json_integer((json_int_t)llround(d));
	return 0;
}

static int conv_generic(struct conv *cv, const char *topic, const char *payload, size_t len)
{
	const struct adapter *ad = cv->ad;
	char dev[AD_MAX_DEVICE];
	json_t *root, *ts = NULL;
	int rc;

	if ((rc = parse_json(cv, payload, len, &root)) != 0)
		return rc;
	if (ad->dev_level >= 0) {
		rc = topic_level(cv, topic, ad->dev_level, dev, sizeof(dev));
	} else {
		json_t *d = ch_adapters__ptr_get(root, ad->dev_pointer);
		if (json_is_string(d)) {
			/* Too long, or an embedded NUL that would shorten the name. */
			if (ch_strlcpy(dev, json_string_value(d), sizeof(dev)) != 0 ||
			    strlen(dev) != json_string_length(d))
				rc = reject(cv, CH_REJ_BAD_FIELD, "bad device at ", ad->dev_pointer);
		} else if (json_is_integer(d)) {
			rc = ch_fmt(dev, sizeof(dev), "%" JSON_INTEGER_FORMAT, json_integer_value(d));
		} else {
			rc = reject(cv, CH_REJ_BAD_FIELD, "no device at ", ad->dev_pointer);
		}
	}
	if (!rc && ad->ts_pointer)
		rc = gen_timestamp(cv, root, &ts);
	for (size_t i = 0; !rc && i < ad->nfields; i++) {
		json_t *v = ch_adapters__ptr_get(root, ad->fields[i].pointer), *val;
		if (!v || json_is_null(v))
			continue; /* this message does not carry that reading */
		if ((rc = transform(cv, &ad->fields[i], v, &val)) != 0)
			break;
		if ((rc = add_event(cv, dev, ad->fields[i].type, val)) != 0)
			break;
		if (ts)
			json_object_set(json_array_get(cv->tmp, json_array_size(cv->tmp) - 1), "ts",
					ts);
	}
	json_decref(ts);
	json_decref(root);
	return rc;
}

/* ---- Entry point -------------------------------------------------------- */

int ch_adapters_convert(struct ch_adapters *a, int idx, const char *topic, const char *payload,
			size_t len, int64_t arrival_ms, json_t *out, enum ch_reject *why, char *err,
			size_t errlen)
{
	struct conv cv = {a, idx, NULL, NULL, why, err, errlen};
	size_t bl, i;
	json_t *ev;
	int rc;

	(void)arrival_ms; /* events without "ts" take the arrival time downstream */
	*why = CH_REJ_NONE;
	if (errlen)
		err[0] = '\0';
	if (!a || idx < 0 || (size_t)idx >= a->n || !topic || !json_is_array(out) ||
	    (!payload && len)) {
		*why = CH_REJ_TOPIC_MISMATCH;
		(void)ch_fmt(err, errlen, "adapters: bad arguments (adapter index %d)", idx);
		return CH_EINVAL;
	}
	if (!payload)
		payload = "";
	cv.ad = &a->v[idx];
	if (!ch_utf8_valid(topic, strlen(topic)))
		return reject(&cv, CH_REJ_BAD_UTF8, "topic is not valid UTF-8", NULL);
	if (!ch_adapters__topic_matches(cv.ad->filter, topic))
		return reject(&cv, CH_REJ_TOPIC_MISMATCH, "topic outside the adapter's filter: ",
			      topic);
	if (!(cv.tmp = json_array()))
		return reject(&cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	bl = cv.ad->base ? strlen(cv.ad->base) : 0;
	switch (cv.ad->kind) {
	case AD_Z2M:
	case AD_TASMOTA:
	case AD_HOMIE:
		/* The filter is "<base>/#", so the topic is "<base>" or "<base>/...". */
		if (topic[bl] != '/' || !topic[bl + 1]) {
			rc = 0;
			break;
		}
		if (cv.ad->kind == AD_Z2M)
			rc = conv_z2m(&cv, topic + bl + 1, payload, len);
		else if (cv.ad->kind == AD_TASMOTA)
			rc = conv_tasmota(&cv, topic + bl + 1, payload, len);
		else
			rc = conv_homie(&cv, topic + bl + 1, payload, len);
		break;
	default:
		rc = conv_generic(&cv, topic, payload, len);
		break;
	}
	if (rc == 0) {
		json_array_foreach(cv.tmp, i, ev) {
			const char *type = json_string_value(json_object_get(ev, "type"));
			/* Every press and every fall matters, repeated or not. */
			if (cv.ad->only_changes && strcmp(type, "sos") != 0 && strcmp(type, "fall") != 0 &&
			    memo_same(a, idx, ev))
				continue;
			json_array_append(out, ev);
		}
	}
	json_decref(cv.tmp);
	return rc;
}
