/*
 * adapters_conf.c - reading mqtt.adapters: each adapter's kind, topics, only-
 * changes switch, field mappings, ignore list, Zigbee2MQTT output mode and
 * occupancy hold, Tasmota RF codes, checked whole before the hub starts;
 * errors name the adapter by index and name.  Conversion is adapters.c and
 * the bridge files.
 */
#include "adapters_int.h"

/* ---- Configuration ------------------------------------------------------ */

static const char *const kind_names[] = {"zigbee2mqtt", "tasmota", "homie", "generic"};

static const char *const keys_z2m[] = {"name", "kind", "base_topic", "only_changes", "output",
				       "occupancy_hold", "fields", "ignore", NULL};
static const char *const keys_tas[] = {"name", "kind", "prefix", "stat_prefix", "only_changes",
				       "rf_codes", "rf_debounce", "fields", "ignore", NULL};
static const char *const keys_homie[] = {"name", "kind", "base_topic", "properties", "only_changes",
					 "ignore", NULL};
static const char *const keys_gen[] = {"name", "kind", "topic", "device", "timestamp", "fields",
				       "only_changes", NULL};

struct cfgctx {
	size_t idx;
	const char *name;
	char *err;
	size_t errlen;
};

/* Every config message names the adapter: mqtt.adapters[i] (name): what. */
static int cfg_fail(struct cfgctx *c, const char *what, const char *a, const char *b)
{
	char msg[256];

	(void)ch_fmt(msg, sizeof(msg), "%s%s%s", what, a ? a : "", b ? b : "");
	(void)ch_fmt(c->err, c->errlen, "mqtt.adapters[%zu] (%s): %s", c->idx,
		     c->name ? c->name : "?", msg);
	return CH_ECONFIG;
}

static int check_keys(struct cfgctx *c, json_t *obj, const char *where,
		      const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i;
		for (i = 0; allowed[i]; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			char what[128], exp[256] = "\", expected ";
			size_t n = strlen(exp);
			for (i = 0; allowed[i]; i++) {
				(void)ch_fmt(exp + n, sizeof(exp) - n, "%s%s", i ? ", " : "", allowed[i]);
				n += strlen(exp + n);
			}
			(void)ch_fmt(what, sizeof(what), "unknown key %s", where);
			return cfg_fail(c, what, k, exp);
		}
	}
	return 0;
}

/* An optional non-empty string key; *out is a copy (def when absent). */
static int cfg_str(struct cfgctx *c, json_t *obj, const char *key, const char *def, char **out)
{
	json_t *v = json_object_get(obj, key);
	const char *s = def;

	if (v) {
		if (!json_is_string(v) || !json_string_length(v) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cfg_fail(c, key, ": expected a non-empty string", NULL);
		s = json_string_value(v);
	}
	*out = NULL;
	if (!s)
		return 0;
	*out = ch_strdup(s);
	return *out ? 0 : CH_ENOMEM;
}

/* A base topic: no wildcards, no leading or trailing '/'. */
static int cfg_base(struct cfgctx *c, json_t *obj, const char *key, const char *def, char **out)
{
	int rc = cfg_str(c, obj, key, def, out);
	size_t n;

	if (rc)
		return rc;
	n = strlen(*out);
	if (strpbrk(*out, "+#") || (*out)[0] == '/' || (*out)[n - 1] == '/')
		return cfg_fail(c, key, ": expected a topic without wildcards or leading/trailing '/'",
				NULL);
	return 0;
}

static int cfg_bool(struct cfgctx *c, json_t *obj, const char *key, bool def, bool *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return cfg_fail(c, key, ": expected true or false", NULL);
	*out = json_is_true(v);
	return 0;
}

static int cfg_pointer(struct cfgctx *c, json_t *v, const char *where, char **out)
{
	if (!json_is_string(v) || adapters__bad_pointer(json_string_value(v)) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return cfg_fail(c, where, ": expected a JSON pointer (RFC 6901) like \"/a/0/b\"", NULL);
	*out = ch_strdup(json_string_value(v));
	return *out ? 0 : CH_ENOMEM;
}

static bool valid_type(json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 &&
	       json_string_length(v) < CH_TYPE_MAX &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

static int cfg_homie(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	json_t *p = json_object_get(obj, "properties");
	const char *k;
	json_t *v;

	if (!p)
		return 0;
	if (!json_is_object(p))
		return cfg_fail(c, "properties: expected an object {\"<node>/<property>\": \"<type>\"}",
				NULL, NULL);
	json_object_foreach(p, k, v) {
		const char *slash = strchr(k, '/');
		if (!slash || slash == k || !slash[1] || strchr(slash + 1, '/'))
			return cfg_fail(c, "properties: key \"", k,
					"\" is not of the form <node>/<property>");
		if (!valid_type(v))
			return cfg_fail(c, "properties.", k, ": expected an event type string");
	}
	ad->props = json_deep_copy(p);
	return ad->props ? 0 : CH_ENOMEM;
}

static const char *const keys_field[] = {"pointer", "type", "transform", NULL};
static const char *const keys_bfield[] = {"field", "type", "transform", NULL};
static const char *const keys_transform[] = {"bool", "invert", "scale", "offset", "map", NULL};

static int cfg_transform(struct cfgctx *c, struct gfield *f, json_t *t, const char *where)
{
	json_t *v;
	int rc;

	if (!json_is_object(t))
		return cfg_fail(c, where, ".transform: expected an object", NULL);
	if ((rc = check_keys(c, t, "in fields[].transform: \"", keys_transform)) != 0)
		return rc;
	if ((rc = cfg_bool(c, t, "bool", false, &f->to_bool)) != 0 ||
	    (rc = cfg_bool(c, t, "invert", false, &f->invert)) != 0)
		return rc;
	if ((v = json_object_get(t, "scale")) != NULL) {
		if (!json_is_number(v))
			return cfg_fail(c, where, ".transform.scale: expected a number", NULL);
		f->scale = json_number_value(v);
		f->has_lin = true;
	}
	if ((v = json_object_get(t, "offset")) != NULL) {
		if (!json_is_number(v))
			return cfg_fail(c, where, ".transform.offset: expected a number", NULL);
		f->offset = json_number_value(v);
		f->has_lin = true;
	}
	if ((v = json_object_get(t, "map")) != NULL) {
		if (!json_is_object(v))
			return cfg_fail(c, where, ".transform.map: expected an object", NULL);
		if (!(f->map = json_deep_copy(v)))
			return CH_ENOMEM;
	}
	return 0;
}

/* One mapping: {"pointer": "/a/b", ...} for generic gateways, {"field": "fall_status", ...} for bridges. */
static int cfg_field(struct cfgctx *c, struct gfield *f, json_t *fo, size_t i, bool by_pointer)
{
	const char *key = by_pointer ? "pointer" : "field";
	char where[64];
	json_t *v;
	int rc;

	(void)ch_fmt(where, sizeof(where), "fields[%zu]", i);
	if (!json_is_object(fo))
		return cfg_fail(c, where, by_pointer ? ": expected an object {\"pointer\",\"type\",\"transform\"}"
						     : ": expected an object {\"field\",\"type\",\"transform\"}",
				NULL);
	if ((rc = check_keys(c, fo, "in fields[]: \"", by_pointer ? keys_field : keys_bfield)) != 0)
		return rc;
	if (!(v = json_object_get(fo, key)))
		return cfg_fail(c, where, ": missing \"", by_pointer ? "pointer\"" : "field\"");
	if (by_pointer) {
		if ((rc = cfg_pointer(c, v, where, &f->pointer)) != 0)
			return rc;
	} else {
		if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 128 ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cfg_fail(c, where, ".field: expected the bridge's field name", NULL);
		if (!(f->field = ch_strdup(json_string_value(v))))
			return CH_ENOMEM;
	}
	if (!valid_type(json_object_get(fo, "type")))
		return cfg_fail(c, where, ": \"type\" must be an event type string", NULL);
	if (!(f->type = ch_strdup(json_string_value(json_object_get(fo, "type")))))
		return CH_ENOMEM;
	f->scale = 1.0;
	v = json_object_get(fo, "transform");
	return v ? cfg_transform(c, f, v, where) : 0;
}

static int cfg_fields(struct cfgctx *c, struct adapter *ad, json_t *fs, bool by_pointer)
{
	int rc;

	if (!fs)
		return 0;
	if (!json_is_array(fs) || json_array_size(fs) > 64)
		return cfg_fail(c, by_pointer ? "\"fields\": expected an array of 1..64 {\"pointer\",\"type\",\"transform\"}"
					      : "\"fields\": expected an array of up to 64 {\"field\",\"type\",\"transform\"}",
				NULL, NULL);
	ad->fields = calloc(json_array_size(fs) + 1, sizeof(*ad->fields));
	if (!ad->fields)
		return CH_ENOMEM;
	for (size_t i = 0; i < json_array_size(fs); i++) {
		ad->nfields++;
		if ((rc = cfg_field(c, &ad->fields[i], json_array_get(fs, i), i, by_pointer)) != 0)
			return rc;
		for (size_t j = 0; !by_pointer && j < i; j++)
			if (strcmp(ad->fields[j].field, ad->fields[i].field) == 0)
				return cfg_fail(c, "fields: \"", ad->fields[i].field, "\" is mapped twice");
	}
	return 0;
}

/* "ignore": ["illuminance", ...]: fields deliberately not mapped and not reported. */
static int cfg_ignore(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	json_t *ig = json_object_get(obj, "ignore"), *v;
	size_t i;

	if (!ig)
		return 0;
	if (!json_is_array(ig) || json_array_size(ig) > 256)
		return cfg_fail(c, "ignore: expected an array of field names", NULL, NULL);
	if (!(ad->ignore = json_object()))
		return CH_ENOMEM;
	json_array_foreach(ig, i, v) {
		if (!json_is_string(v) || !json_string_length(v) ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cfg_fail(c, "ignore: expected an array of field names", NULL, NULL);
		json_object_set_new(ad->ignore, json_string_value(v), json_true());
	}
	return 0;
}

static int cfg_duration(struct cfgctx *c, json_t *obj, const char *key, int64_t def, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	*out = def;
	if (!v)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 86400)
		*out = json_integer_value(v) * 1000;
	else if (!json_is_string(v) || ch_parse_duration(json_string_value(v), out) != 0 || *out > 86400000)
		return cfg_fail(c, key, ": expected a duration up to a day, e.g. \"5m\" or seconds", NULL);
	return 0;
}

static int cfg_z2m(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	static const char *const outputs[] = {"json", "attribute", "attribute_and_json"};
	json_t *o = json_object_get(obj, "output");
	int rc;

	if (o) {
		size_t k;
		for (k = 0; json_is_string(o) && k < CH_ARRAY_LEN(outputs); k++)
			if (strcmp(json_string_value(o), outputs[k]) == 0)
				break;
		if (!json_is_string(o) || k == CH_ARRAY_LEN(outputs))
			return cfg_fail(c, "output: expected \"json\", \"attribute\" or \"attribute_and_json\" "
					   "(Zigbee2MQTT's advanced.output)", NULL, NULL);
		ad->output = (enum z2m_output)k;
	}
	if ((rc = cfg_duration(c, obj, "occupancy_hold", 0, &ad->hold_ms)) != 0)
		return rc;
	return cfg_fields(c, ad, json_object_get(obj, "fields"), false);
}

/* RF codes as Tasmota prints them ("E8329E", "0x7028D2"): upper-case hex without the prefix. */
static bool rf_key(const char *s, char *out, size_t cap)
{
	size_t n;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	n = strlen(s);
	if (!n || n >= cap || strspn(s, "0123456789abcdefABCDEF") != n)
		return false;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)toupper((unsigned char)s[i]);
	return true;
}

static int cfg_rf(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	static const char *const keys_code[] = {"device", "type", "value", NULL};
	json_t *codes = json_object_get(obj, "rf_codes"), *v;
	const char *k;
	int rc;

	if ((rc = cfg_duration(c, obj, "rf_debounce", 3000, &ad->rf_debounce_ms)) != 0 || !codes)
		return rc;
	if (!json_is_object(codes))
		return cfg_fail(c, "rf_codes: expected an object {\"<hex code>\": \"<device>\" | "
				   "{\"device\",\"type\",\"value\"}}", NULL, NULL);
	if (!(ad->rf = json_object()))
		return CH_ENOMEM;
	json_object_foreach(codes, k, v) {
		char code[40];
		json_t *e;
		if (!rf_key(k, code, sizeof(code)))
			return cfg_fail(c, "rf_codes: \"", k, "\" is not a hexadecimal code");
		if (json_object_get(ad->rf, code))
			return cfg_fail(c, "rf_codes: \"", k, "\" appears twice");
		if (json_is_string(v))
			e = json_pack("{s:O}", "device", v);
		else if (json_is_object(v))
			e = json_deep_copy(v);
		else
			return cfg_fail(c, "rf_codes.", k, ": expected a device name or {\"device\",\"type\",\"value\"}");
		json_object_set_new(ad->rf, code, e);
		if ((rc = check_keys(c, e, "in rf_codes: \"", keys_code)) != 0)
			return rc;
		v = json_object_get(e, "device");
		if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= AD_MAX_DEVICE ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cfg_fail(c, "rf_codes.", k, ".device: expected a device name");
		if (json_object_get(e, "type") && !valid_type(json_object_get(e, "type")))
			return cfg_fail(c, "rf_codes.", k, ".type: expected an event type string");
	}
	return 0;
}

static int cfg_generic(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	static const char *const keys_dev[] = {"topic_level", "pointer", NULL};
	static const char *const keys_ts[] = {"pointer", "format", NULL};
	json_t *d = json_object_get(obj, "device"), *ts = json_object_get(obj, "timestamp");
	json_t *fs = json_object_get(obj, "fields"), *v;
	int rc;

	if (!json_object_get(obj, "topic"))
		return cfg_fail(c, "missing \"topic\" (the MQTT filter, e.g. \"vendor/+/up\")", NULL,
				NULL);
	if ((rc = cfg_str(c, obj, "topic", NULL, &ad->filters[0])) != 0)
		return rc;
	ad->nfilters = 1;
	ad->shared[0] = true;
	if (!adapters__filter_valid(ad->filters[0]))
		return cfg_fail(c, "topic \"", ad->filters[0], "\" is not a valid MQTT topic filter");
	if (!json_is_object(d))
		return cfg_fail(c, "missing \"device\": expected {\"topic_level\":N} or "
				   "{\"pointer\":\"/json/pointer\"}", NULL, NULL);
	if ((rc = check_keys(c, d, "in device: \"", keys_dev)) != 0)
		return rc;
	ad->dev_level = -1;
	if ((v = json_object_get(d, "topic_level")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 64 ||
		    json_object_get(d, "pointer"))
			return cfg_fail(c, "device.topic_level: expected an integer 0..64 "
					   "(and no pointer)", NULL, NULL);
		ad->dev_level = (int)json_integer_value(v);
	} else if ((v = json_object_get(d, "pointer")) != NULL) {
		if ((rc = cfg_pointer(c, v, "device.pointer", &ad->dev_pointer)) != 0)
			return rc;
	} else {
		return cfg_fail(c, "device: expected topic_level or pointer", NULL, NULL);
	}
	if (ts) {
		const char *fmt;
		if (!json_is_object(ts))
			return cfg_fail(c, "timestamp: expected {\"pointer\",\"format\"}", NULL, NULL);
		if ((rc = check_keys(c, ts, "in timestamp: \"", keys_ts)) != 0)
			return rc;
		if ((rc = cfg_pointer(c, json_object_get(ts, "pointer"), "timestamp.pointer",
				      &ad->ts_pointer)) != 0)
			return rc;
		fmt = json_string_value(json_object_get(ts, "format"));
		if (!fmt || strcmp(fmt, "epoch_ms") == 0)
			ad->ts_format = TS_EPOCH_MS;
		else if (strcmp(fmt, "epoch_s") == 0)
			ad->ts_format = TS_EPOCH_S;
		else if (strcmp(fmt, "rfc3339") == 0)
			ad->ts_format = TS_RFC3339;
		else
			return cfg_fail(c, "timestamp.format: expected epoch_ms, epoch_s or rfc3339",
					NULL, NULL);
		if (!fmt && json_object_get(ts, "format"))
			return cfg_fail(c, "timestamp.format: expected a string", NULL, NULL);
	}
	if (!json_is_array(fs) || json_array_size(fs) == 0)
		return cfg_fail(c, "\"fields\": expected an array of 1..64 "
				   "{\"pointer\",\"type\",\"transform\"}", NULL, NULL);
	return cfg_fields(c, ad, fs, true);
}

static int add_filter(struct cfgctx *c, struct adapter *ad, const char *base, const char *suffix,
		      bool shared)
{
	char fbuf[512];

	if (ch_fmt(fbuf, sizeof(fbuf), "%s%s", base, suffix) != 0)
		return cfg_fail(c, "base topic too long", NULL, NULL);
	if (!(ad->filters[ad->nfilters] = ch_strdup(fbuf)))
		return CH_ENOMEM;
	ad->shared[ad->nfilters++] = shared;
	return 0;
}

static int cfg_kind(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	int rc;

	switch (ad->kind) {
	case AD_Z2M:
		if ((rc = cfg_base(c, obj, "base_topic", "zigbee2mqtt", &ad->base)) != 0 ||
		    (rc = cfg_z2m(c, ad, obj)) != 0 || (rc = add_filter(c, ad, ad->base, "/#", true)) != 0)
			return rc;
		/* Retained, and brokers give retained messages to no $share subscriber. */
		return add_filter(c, ad, ad->base, "/bridge/devices", false);
	case AD_TASMOTA:
		if ((rc = cfg_base(c, obj, "prefix", "tele", &ad->base)) != 0 ||
		    (rc = cfg_base(c, obj, "stat_prefix", "stat", &ad->stat)) != 0 ||
		    (rc = cfg_rf(c, ad, obj)) != 0 ||
		    (rc = cfg_fields(c, ad, json_object_get(obj, "fields"), false)) != 0)
			return rc;
		if (strcmp(ad->base, ad->stat) == 0)
			return cfg_fail(c, "prefix and stat_prefix must differ", NULL, NULL);
		if ((rc = add_filter(c, ad, ad->base, "/#", true)) != 0)
			return rc;
		return add_filter(c, ad, ad->stat, "/#", true);
	case AD_HOMIE:
		if ((rc = cfg_base(c, obj, "base_topic", "homie/5", &ad->base)) != 0 ||
		    (rc = cfg_homie(c, ad, obj)) != 0)
			return rc;
		return add_filter(c, ad, ad->base, "/#", true);
	case AD_GENERIC:
		return cfg_generic(c, ad, obj);
	}
	return 0;
}

static int cfg_one(struct cfgctx *c, struct adapter *ad, json_t *obj)
{
	static const char *const *const keys[] = {keys_z2m, keys_tas, keys_homie, keys_gen};
	const char *kind;
	size_t k;
	int rc;

	if (!json_is_object(obj))
		return cfg_fail(c, "expected an object with \"kind\"", NULL, NULL);
	kind = json_string_value(json_object_get(obj, "kind"));
	if (json_is_string(json_object_get(obj, "name")))
		c->name = json_string_value(json_object_get(obj, "name"));
	if (!kind)
		return cfg_fail(c, "missing \"kind\", expected zigbee2mqtt, tasmota, homie or generic",
				NULL, NULL);
	for (k = 0; k < CH_ARRAY_LEN(kind_names); k++)
		if (strcmp(kind, kind_names[k]) == 0)
			break;
	if (k == CH_ARRAY_LEN(kind_names))
		return cfg_fail(c, "unknown kind \"", kind,
				"\", expected zigbee2mqtt, tasmota, homie or generic");
	ad->kind = (enum ad_kind)k;
	if ((rc = check_keys(c, obj, "\"", keys[k])) != 0)
		return rc;
	if ((rc = cfg_str(c, obj, "name", kind, &ad->name)) != 0)
		return rc;
	c->name = ad->name;
	if ((rc = cfg_bool(c, obj, "only_changes", ad->kind != AD_GENERIC, &ad->only_changes)) != 0 ||
	    (rc = cfg_ignore(c, ad, obj)) != 0)
		return rc;
	return cfg_kind(c, ad, obj);
}

void adapters__memo_clear(struct ch_adapters *a)
{
	if (!a->buckets)
		return;
	for (size_t i = 0; i < MEMO_BUCKETS; i++) {
		struct memo *m = a->buckets[i];
		while (m) {
			struct memo *next = m->next;
			free(m);
			m = next;
		}
		a->buckets[i] = NULL;
	}
	a->memo_count = 0;
}

void ch_adapters_free(struct ch_adapters *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		struct adapter *ad = &a->v[i];
		free(ad->name);
		free(ad->base);
		free(ad->stat);
		for (size_t k = 0; k < ad->nfilters; k++)
			free(ad->filters[k]);
		json_decref(ad->props);
		json_decref(ad->rf);
		json_decref(ad->ignore);
		json_decref(ad->learned);
		free(ad->dev_pointer);
		free(ad->ts_pointer);
		for (size_t k = 0; k < ad->nfields; k++) {
			free(ad->fields[k].pointer);
			free(ad->fields[k].field);
			free(ad->fields[k].type);
			json_decref(ad->fields[k].map);
		}
		free(ad->fields);
	}
	adapters__memo_clear(a);
	free(a->buckets);
	free(a->v);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int ch_adapters_new(json_t *conf, struct ch_adapters **out, char *err, size_t errlen)
{
	struct ch_adapters *a;
	size_t n = json_array_size(conf);
	int rc = 0;

	*out = NULL;
	if (conf && !json_is_array(conf)) {
		(void)ch_fmt(err, errlen, "mqtt.adapters: expected an array of adapters");
		return CH_ECONFIG;
	}
	if (!(a = calloc(1, sizeof(*a))) || (n && !(a->v = calloc(n, sizeof(*a->v))))) {
		free(a);
		return CH_ENOMEM;
	}
	pthread_mutex_init(&a->mu, NULL);
	for (size_t i = 0; i < n && !rc; i++) {
		struct cfgctx c = {i, NULL, err, errlen};
		a->n++;
		rc = cfg_one(&c, &a->v[i], json_array_get(conf, i));
		for (size_t j = 0; !rc && j < i; j++)
			if (strcmp(a->v[j].name, a->v[i].name) == 0)
				rc = cfg_fail(&c, "duplicate adapter name", NULL, NULL);
	}
	if (rc) {
		if (rc == CH_ENOMEM)
			(void)ch_fmt(err, errlen, "mqtt.adapters: out of memory");
		ch_adapters_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void ch_adapters_inherit(struct ch_adapters *to, struct ch_adapters *from)
{
	if (!to || !from || to == from)
		return;
	pthread_mutex_lock(&from->mu);
	for (size_t i = 0; i < to->n; i++) {
		for (size_t j = 0; j < from->n; j++) {
			if (to->v[i].kind != from->v[j].kind || strcmp(to->v[i].name, from->v[j].name) != 0 ||
			    !from->v[j].learned)
				continue;
			/* to is not converting yet: nobody else reads its learned. */
			json_decref(to->v[i].learned);
			to->v[i].learned = json_deep_copy(from->v[j].learned);
		}
	}
	pthread_mutex_unlock(&from->mu);
}

size_t ch_adapters_count(const struct ch_adapters *a)
{
	return a ? a->n : 0;
}

const char *ch_adapters_name(const struct ch_adapters *a, size_t i)
{
	return a && i < a->n ? a->v[i].name : NULL;
}

size_t ch_adapters_nsubs(const struct ch_adapters *a)
{
	size_t n = 0;

	for (size_t i = 0; a && i < a->n; i++)
		n += a->v[i].nfilters;
	return n;
}

const char *ch_adapters_sub(const struct ch_adapters *a, size_t k, bool *shared)
{
	for (size_t i = 0; a && i < a->n; i++) {
		if (k < a->v[i].nfilters) {
			if (shared)
				*shared = a->v[i].shared[k];
			return a->v[i].filters[k];
		}
		k -= a->v[i].nfilters;
	}
	return NULL;
}

int ch_adapters_match(const struct ch_adapters *a, const char *topic)
{
	if (!a || !topic)
		return -1;
	for (size_t i = 0; i < a->n; i++)
		for (size_t k = 0; k < a->v[i].nfilters; k++)
			if (adapters__topic_matches(a->v[i].filters[k], topic))
				return (int)i;
	return -1;
}

bool ch_adapters_large(const struct ch_adapters *a, const char *topic)
{
	int i = ch_adapters_match(a, topic);
	size_t bl;

	if (i < 0 || a->v[i].kind != AD_Z2M)
		return false;
	bl = strlen(a->v[i].base);
	return strncmp(topic, a->v[i].base, bl) == 0 && strcmp(topic + bl, "/bridge/devices") == 0;
}
