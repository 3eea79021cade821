/*
 * adapters.c - what every bridge's conversion shares (see adapters.h for the
 * contract): topic matching, the only-changes memory, payload scanning, value
 * forms, configured field mappings, the unmapped report, and the entry point
 * that runs one bridge's converter.  The bridges themselves are
 * adapters_z2m.c, adapters_tasmota.c and adapters_homie.c (Homie 5 and
 * generic gateways); configuration is adapters_conf.c.
 *
 * Every payload is hostile until proven otherwise: size, UTF-8 and a nesting
 * scan run before jansson sees a byte and duplicate keys are refused.  A
 * message is converted completely into a scratch array before anything
 * reaches the caller, so a malformed message is refused whole.  A field whose
 * value has the wrong form is not a malformed message: it goes to the unmapped
 * report as "bad_value" and the message's other fields still convert, because
 * a smoke alarm's "smoke": true must not be lost to an odd battery reading.
 */
#include "adapters_int.h"

/* ---- Helpers shared by config and conversion ---------------------------- */

bool adapters__bad_pointer(const char *p)
{
	if (*p && *p != '/')
		return true;
	for (; *p; p++)
		if (*p == '~' && p[1] != '0' && p[1] != '1')
			return true;
	return false;
}

/* RFC 6901: resolves p in doc; borrowed result or NULL when absent. */
json_t *adapters__ptr_get(json_t *doc, const char *p)
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

bool adapters__filter_valid(const char *f)
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

bool adapters__topic_matches(const char *f, const char *t)
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

/* ---- Results ------------------------------------------------------------ */

int adapters__reject(struct conv *cv, enum ch_reject why, const char *fmt, const char *a)
{
	*cv->why = why;
	(void)ch_fmt(cv->err, cv->errlen, "%s: %s%s", cv->ad->name, fmt, a ? a : "");
	return CH_EINVAL;
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n < AD_MAX_DEVICE && ch_utf8_valid(s, n);
}

int adapters__event(struct conv *cv, const char *device, const char *type, json_t *value,
		    const char *field, json_t **evp)
{
	json_t *ev;

	if (evp)
		*evp = NULL;
	if (!name_ok(device)) {
		json_decref(value);
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "bad device name", NULL);
	}
	if (json_array_size(cv->tmp) >= AD_MAX_EVENTS) {
		json_decref(value);
		return adapters__reject(cv, CH_REJ_OVERSIZE, "too many events in one message", NULL);
	}
	ev = json_pack("{s:s, s:s, s:s}", "device", device, "type", type, "field", field ? field : type);
	if (!ev) {
		json_decref(value);
		return adapters__reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	}
	/* set_new and append_new release their argument on failure too. */
	if ((value && json_object_set_new(ev, "value", value) != 0) ||
	    json_array_append_new(cv->tmp, ev) != 0)
		return adapters__reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	if (evp)
		*evp = ev;
	return 0;
}

/* Text from a payload for logs and labels: control characters become '?', cut at max bytes, never inside a character. */
static void printable(const char *in, char *out, size_t cap, size_t max)
{
	size_t n = 0;

	for (; *in && n + 1 < cap && n < max; in++)
		out[n++] = (unsigned char)*in < 0x20 || *in == 0x7f ? '?' : *in;
	if (*in && ((unsigned char)*in & 0xC0) == 0x80) {
		while (n && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
			n--;
		if (n)
			n--; /* the lead byte of the cut character */
	}
	out[n] = '\0';
}

/* A value as a short sample for people: strings bare, the rest as JSON, cut at 64 bytes. */
static json_t *sample(json_t *v)
{
	char buf[72];
	char *text = NULL;

	if (!v)
		return json_string("");
	if (!json_is_string(v))
		text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
	printable(json_is_string(v) ? json_string_value(v) : text ? text : "?", buf, sizeof(buf), 64);
	free(text);
	return json_string(ch_utf8_valid(buf, strlen(buf)) ? buf : "?");
}

void adapters__unmapped(struct conv *cv, const char *device, const char *field, json_t *value,
			const char *reason)
{
	char dev[AD_MAX_DEVICE], fld[136];

	if (!cv->unmapped || json_array_size(cv->unmapped) >= AD_MAX_UNMAPPED || !name_ok(device) ||
	    !field || !*field || !ch_utf8_valid(field, strlen(field)))
		return;
	/* Names go to logs and metric labels: nothing in them may forge a line. */
	printable(device, dev, sizeof(dev), sizeof(dev) - 1);
	printable(field, fld, sizeof(fld), 128);
	json_array_append_new(cv->unmapped, json_pack("{s:s, s:s, s:o, s:s}", "device", dev, "field", fld,
						      "value", sample(value), "reason", reason));
}

const char *adapters__device_type(struct conv *cv, const char *name)
{
	if (!cv->lk || !cv->lk->device_type || !name)
		return NULL;
	return cv->lk->device_type(cv->lk->arg, name);
}

bool adapters__ignored(struct conv *cv, const char *device, const char *field,
		       const char *const *builtin)
{
	const struct adapter *ad = cv->ad;
	json_t *dev;

	if (ad->ignore && json_object_get(ad->ignore, field))
		return true;
	for (size_t i = 0; builtin && builtin[i]; i++) {
		size_t n = strlen(builtin[i]);
		/* "update-*": the nested keys attribute output spells as <key>-<sub>. */
		if (n && builtin[i][n - 1] == '*' ? strncmp(field, builtin[i], n - 1) == 0
						  : strcmp(field, builtin[i]) == 0)
			return true;
	}
	/* Read by the converting thread, which is the only one that writes it. */
	dev = ad->learned ? json_object_get(ad->learned, device) : NULL;
	return dev && json_object_get(json_object_get(dev, "config"), field);
}

/* ---- The only-changes memory --------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct memo **memo_slot(struct ch_adapters *a, const char *key, struct memo **found)
{
	struct memo **slot;

	*found = NULL;
	if (!a->buckets && !(a->buckets = calloc(MEMO_BUCKETS, sizeof(*a->buckets))))
		return NULL;
	slot = &a->buckets[fnv1a(key) % MEMO_BUCKETS];
	for (struct memo *m = *slot; m; m = m->next)
		if (strcmp(m->key, key) == 0)
			*found = m;
	return slot;
}

/* Records key -> val at `at`, replacing an entry whole; false when out of memory. */
static bool memo_put(struct ch_adapters *a, const char *key, const char *val, int64_t at)
{
	struct memo *m, **slot = memo_slot(a, key, &m), *nm;
	size_t kl = strlen(key), vl = strlen(val);

	if (!slot)
		return false;
	if (!m && a->memo_count >= MEMO_MAX) {
		adapters__memo_clear(a);
		slot = &a->buckets[fnv1a(key) % MEMO_BUCKETS];
	}
	nm = malloc(sizeof(*nm) + kl + 1 + vl + 1);
	if (!nm)
		return false;
	memcpy(nm->key, key, kl + 1);
	nm->value = nm->key + kl + 1;
	memcpy(nm->value, val, vl + 1);
	nm->at = at;
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
	return true;
}

/*
 * true when this (device, type) already showed this value, less than hold_ms
 * ago when a hold is given; records it otherwise.  On allocation failure the
 * event is let through: a duplicate beats a loss.
 */
static bool memo_same(struct ch_adapters *a, int idx, json_t *ev, int64_t hold_ms, int64_t now)
{
	const char *dev = json_string_value(json_object_get(ev, "device"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	char key[AD_MAX_DEVICE + CH_TYPE_MAX + 32];
	json_t *v = json_object_get(ev, "value");
	struct memo *m;
	bool same;
	char *val;

	if (ch_fmt(key, sizeof(key), "%d\x1f%s\x1f%s", idx, dev, type) != 0)
		return false;
	val = json_dumps(v ? v : json_null(), JSON_ENCODE_ANY | JSON_COMPACT);
	if (!val || !memo_slot(a, key, &m)) {
		free(val);
		return false;
	}
	same = m && strcmp(m->value, val) == 0 && (hold_ms <= 0 || now - m->at < hold_ms);
	if (!same)
		(void)memo_put(a, key, val, now);
	free(val);
	return same;
}

bool adapters__seen_within(struct ch_adapters *a, int idx, const char *key, int64_t now, int64_t within)
{
	char k[AD_MAX_DEVICE + 64];
	struct memo *m;

	if (ch_fmt(k, sizeof(k), "%d\x1e%s", idx, key) != 0 || !memo_slot(a, k, &m))
		return false;
	if (m && now >= m->at && now - m->at < within)
		return true;
	(void)memo_put(a, k, "", now);
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

static int check_bytes(struct conv *cv, const char *payload, size_t len, size_t max)
{
	if (len > max)
		return adapters__reject(cv, CH_REJ_OVERSIZE, "payload too large", NULL);
	if (!ch_utf8_valid(payload, len))
		return adapters__reject(cv, CH_REJ_BAD_UTF8, "payload is not valid UTF-8", NULL);
	return 0;
}

/* object: the payload must be a JSON object; else an array (a bridge document, up to the large limit). */
int adapters__parse_json(struct conv *cv, const char *payload, size_t len, bool object, json_t **root)
{
	json_error_t je;
	int rc;

	*root = NULL;
	if ((rc = check_bytes(cv, payload, len, object ? AD_MAX_PAYLOAD : CH_ADAPTERS_LARGE_MAX)) != 0)
		return rc;
	if (too_deep(payload, len))
		return adapters__reject(cv, CH_REJ_TOO_DEEP, "payload nested too deep", NULL);
	*root = json_loadb(payload, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!*root)
		return adapters__reject(cv, CH_REJ_NOT_JSON, "not JSON: ", je.text);
	if (object ? !json_is_object(*root) : !json_is_array(*root)) {
		json_decref(*root);
		*root = NULL;
		return adapters__reject(cv, CH_REJ_NOT_OBJECT,
					object ? "payload is not a JSON object" : "payload is not a JSON array",
					NULL);
	}
	return 0;
}

/* A plain-text payload into buf, trimmed; rejects NULs, bad UTF-8 and long text. */
int adapters__plain_text(struct conv *cv, const char *payload, size_t len, char *buf, size_t cap)
{
	int rc;

	if ((rc = check_bytes(cv, payload, len, AD_MAX_PAYLOAD)) != 0)
		return rc;
	while (len && isspace((unsigned char)*payload)) {
		payload++;
		len--;
	}
	while (len && isspace((unsigned char)payload[len - 1]))
		len--;
	if (len >= cap || memchr(payload, '\0', len))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "text payload too long or has NUL", NULL);
	memcpy(buf, payload, len);
	buf[len] = '\0';
	return 0;
}

/* Availability from {"state":"online"} or the plain word; online/offline only. */
int adapters__availability(struct conv *cv, const char *device, const char *payload, size_t len)
{
	char text[AD_MAX_TEXT];
	const char *s = text;
	json_t *root = NULL;
	int rc;

	if ((rc = adapters__plain_text(cv, payload, len, text, sizeof(text))) != 0)
		return rc;
	if (text[0] == '{') {
		if ((rc = adapters__parse_json(cv, payload, len, true, &root)) != 0)
			return rc;
		s = json_string_value(json_object_get(root, "state"));
		if (!s) {
			json_decref(root);
			return adapters__reject(cv, CH_REJ_BAD_FIELD,
						"availability without a \"state\" string", NULL);
		}
	}
	if (strcasecmp(s, "online") == 0 || strcasecmp(s, "offline") == 0)
		rc = adapters__event(cv, device, "availability",
				     json_string(strcasecmp(s, "online") == 0 ? "online" : "offline"),
				     NULL, NULL);
	else
		rc = adapters__reject(cv, CH_REJ_BAD_FIELD, "availability is neither online nor offline",
				      NULL);
	json_decref(root);
	return rc;
}

/* ---- Value forms -------------------------------------------------------- */

bool adapters__text_bool(const char *s, bool *out)
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

bool adapters__text_number(const char *s, double *out)
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
bool adapters__as_number(json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return isfinite(*out);
	}
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	       adapters__text_number(json_string_value(v), out);
}

/* A number keeps its integer form when it has one, so memo and rules see 87, not 87.0. */
json_t *adapters__number_json(json_t *orig, double d)
{
	if (json_is_integer(orig))
		return json_integer(json_integer_value(orig));
	if (d == floor(d) && fabs(d) < 9e15)
		return json_integer((json_int_t)d);
	return json_real(d);
}

json_t *adapters__scalar(const char *text)
{
	double d;

	if (!*text)
		return NULL;
	if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)
		return json_boolean(text[0] == 't');
	if (strcmp(text, "null") == 0)
		return NULL;
	if (adapters__text_number(text, &d) && strspn(text, "-+0123456789.eE") == strlen(text))
		return adapters__number_json(NULL, d);
	return json_string(text);
}

bool adapters__field_value(enum conv_as as, json_t *v, json_t **val)
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
		if (!adapters__as_number(v, &d))
			return false;
		*val = adapters__number_json(v, d);
		return true;
	}
	return false;
}

/* The transform chain of a configured field: map, then bool, invert, scale/offset.  *val is new. */
int adapters__transform(const struct gfield *f, json_t *v, json_t **val)
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
		else if (!json_is_string(cur) || !adapters__text_bool(json_string_value(cur), &b))
			return CH_EINVAL;
		*val = json_boolean(b);
	} else if (f->has_lin) {
		if (!adapters__as_number(cur, &d))
			return CH_EINVAL;
		d = d * f->scale + f->offset;
		if (!isfinite(d))
			return CH_EINVAL;
		*val = json_is_integer(cur) && f->scale == 1.0 && f->offset == floor(f->offset)
			       ? adapters__number_json(NULL, d)
			       : json_real(d);
	} else {
		*val = json_deep_copy(cur);
	}
	if (f->invert && *val) {
		if (!json_is_boolean(*val)) {
			json_decref(*val);
			*val = NULL;
			return CH_EINVAL;
		}
		b = json_is_false(*val);
		json_decref(*val);
		*val = json_boolean(b);
	}
	return *val ? 0 : CH_ENOMEM;
}

/* ---- Mapping an object of fields ----------------------------------------- */

const struct gfield *adapters__field_for(const struct adapter *ad, const char *field)
{
	for (size_t i = 0; field && i < ad->nfields; i++)
		if (ad->fields[i].field && strcmp(ad->fields[i].field, field) == 0)
			return &ad->fields[i];
	return NULL;
}

int adapters__apply_field(struct conv *cv, const char *device, const struct gfield *f, json_t *v)
{
	json_t *val;
	int rc;

	if (json_is_null(v))
		return 0;
	rc = adapters__transform(f, v, &val);
	if (rc == CH_EINVAL) {
		adapters__unmapped(cv, device, f->field ? f->field : f->pointer, v, "bad_value");
		return 0;
	}
	if (rc)
		return adapters__reject(cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	return adapters__event(cv, device, f->type, val, f->field ? f->field : f->pointer, NULL);
}

int adapters__map_table(struct conv *cv, const char *device, json_t *obj, const struct fmap *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_object_get(obj, m[i].key), *val;
		int rc;

		if (!v || adapters__field_for(cv->ad, m[i].key))
			continue;
		if (!adapters__field_value(m[i].as, v, &val)) {
			adapters__unmapped(cv, device, m[i].key, v, "bad_value");
			continue;
		}
		if (val && (rc = adapters__event(cv, device, m[i].type, val, m[i].key, NULL)) != 0)
			return rc;
	}
	return 0;
}

void adapters__report_rest(struct conv *cv, const char *device, json_t *obj, const char *prefix,
			   const char *const *builtin_ignore, const struct fmap *m, size_t n,
			   const char *const *handled)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		char field[160];
		bool known = false;

		for (size_t i = 0; i < n && !known; i++)
			known = strcmp(k, m[i].key) == 0;
		for (size_t i = 0; handled && handled[i] && !known; i++)
			known = strcmp(k, handled[i]) == 0;
		if (known || json_is_null(v))
			continue;
		if (ch_fmt(field, sizeof(field), "%s%s", prefix ? prefix : "", k) != 0)
			continue;
		if (adapters__field_for(cv->ad, field) || adapters__ignored(cv, device, field, builtin_ignore))
			continue;
		adapters__unmapped(cv, device, field, v, "unmapped");
	}
}

/* ---- Entry point -------------------------------------------------------- */

/* A press or a fall is news every time; their "false" (cleared) is a state like any other. */
static bool is_press(json_t *ev)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_t *v = json_object_get(ev, "value");

	if (strcmp(type, "sos") != 0 && strcmp(type, "fall") != 0)
		return false;
	return !v || !(json_is_false(v) || (json_is_number(v) && json_number_value(v) == 0));
}

/* "alone": nothing else of that device's message mapped (before only-changes drops repeats). */
static void mark_alone(struct conv *cv, size_t from)
{
	for (size_t i = from; i < json_array_size(cv->unmapped); i++) {
		json_t *u = json_array_get(cv->unmapped, i), *ev;
		const char *dev = json_string_value(json_object_get(u, "device"));
		bool alone = true;
		size_t k;

		json_array_foreach(cv->tmp, k, ev)
			if (strcmp(json_string_value(json_object_get(ev, "device")), dev) == 0)
				alone = false;
		json_object_set_new(u, "alone", json_boolean(alone));
	}
}

static int run(struct conv *cv, const char *topic, const char *payload, size_t len)
{
	struct adapter *ad = cv->ad;

	if (ad->kind == AD_GENERIC)
		return adapters__generic(cv, topic, payload, len);
	for (size_t k = 0; k < ad->nfilters; k++) {
		/* The prefix filters are "<prefix>/#"; the others (a bridge document's own
		 * topic) lie under the first one anyway. */
		const char *f = ad->filters[k];
		size_t fl = strlen(f);
		if (fl < 2 || strcmp(f + fl - 2, "/#") != 0 || strncmp(topic, f, fl - 1) != 0)
			continue;
		if (!topic[fl - 1])
			return 0; /* the prefix alone */
		if (ad->kind == AD_Z2M)
			return adapters__z2m(cv, topic + fl - 1, payload, len);
		if (ad->kind == AD_HOMIE)
			return adapters__homie(cv, topic + fl - 1, payload, len);
		/* Tasmota: whether it came under the tele or the stat prefix matters. */
		return adapters__tasmota(cv, k > 0, topic + fl - 1, payload, len);
	}
	return 0; /* "<base>" alone matches "<base>/#" */
}

int ch_adapters_convert(struct ch_adapters *a, int idx, const char *topic, const char *payload,
			size_t len, int64_t arrival_ms, const struct ch_adapter_lookup *lookup,
			const struct ch_adapter_out *out, enum ch_reject *why, char *err,
			size_t errlen)
{
	struct conv cv = {a, idx, NULL, NULL, NULL, NULL, lookup, arrival_ms, why, err, errlen};
	size_t i, nun;
	bool match = false;
	json_t *ev;
	int rc;

	*why = CH_REJ_NONE;
	if (errlen)
		err[0] = '\0';
	if (!a || idx < 0 || (size_t)idx >= a->n || !topic || !out || !json_is_array(out->events) ||
	    (out->unmapped && !json_is_array(out->unmapped)) || (!payload && len)) {
		*why = CH_REJ_TOPIC_MISMATCH;
		(void)ch_fmt(err, errlen, "adapters: bad arguments (adapter index %d)", idx);
		return CH_EINVAL;
	}
	if (!payload)
		payload = "";
	cv.ad = &a->v[idx];
	cv.unmapped = out->unmapped;
	cv.bridge = out->bridge;
	if (out->bridge)
		*out->bridge = NULL;
	nun = out->unmapped ? json_array_size(out->unmapped) : 0;
	if (!ch_utf8_valid(topic, strlen(topic)))
		return adapters__reject(&cv, CH_REJ_BAD_UTF8, "topic is not valid UTF-8", NULL);
	for (size_t k = 0; k < cv.ad->nfilters && !match; k++)
		match = adapters__topic_matches(cv.ad->filters[k], topic);
	if (!match)
		return adapters__reject(&cv, CH_REJ_TOPIC_MISMATCH, "topic outside the adapter's filter: ",
					topic);
	if (!(cv.tmp = json_array()))
		return adapters__reject(&cv, CH_REJ_OVERSIZE, "out of memory", NULL);
	rc = run(&cv, topic, payload, len);
	if (rc == 0)
		mark_alone(&cv, nun);
	if (rc == 0) {
		json_array_foreach(cv.tmp, i, ev) {
			/* occupancy_hold: a held state counts again once the hold has passed. */
			json_t *hold = json_object_get(ev, "_hold");
			int64_t hold_ms = hold ? json_integer_value(hold) : 0;
			/* "_pulse": a signal, not a state (an RF code): every one counts. */
			bool pulse = json_object_get(ev, "_pulse") != NULL;
			json_object_del(ev, "_hold");
			json_object_del(ev, "_pulse");
			if (cv.ad->only_changes && !pulse && !is_press(ev) &&
			    memo_same(a, idx, ev, hold_ms, arrival_ms))
				continue;
			json_array_append(out->events, ev);
		}
	} else {
		/* Nothing of a refused message reaches the caller. */
		while (out->unmapped && json_array_size(out->unmapped) > nun)
			json_array_remove(out->unmapped, json_array_size(out->unmapped) - 1);
		if (out->bridge) {
			json_decref(*out->bridge);
			*out->bridge = NULL;
		}
	}
	json_decref(cv.tmp);
	return rc;
}
