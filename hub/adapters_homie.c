/*
 * adapters_homie.c - the two bridges described by convention rather than by
 * a device list: Homie 5 (homie/5/<device>/<node>/<property> with string
 * payloads, by property name or the configured "properties") and generic
 * vendor gateways (a topic filter, the device from a topic level or a JSON
 * pointer, and fields by JSON pointer with a transform chain).
 */
#include "adapters_int.h"

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
		if (adapters__text_number(text, &d))
			*val = adapters__number_json(NULL, d);
	} else if (adapters__text_number(text, &d)) {
		*val = adapters__number_json(NULL, d);
	} else if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
		*val = json_boolean(text[0] == 't');
	} else {
		*val = json_string(text);
	}
	if (!*val)
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "value does not fit the event type: ", text);
	return 0;
}

int adapters__homie(struct conv *cv, const char *rest, const char *payload, size_t len)
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
		if ((rc = adapters__plain_text(cv, payload, len, text, sizeof(text))) != 0)
			return rc;
		if (!strcmp(text, "ready") || !strcmp(text, "init") || !strcmp(text, "sleeping"))
			return adapters__event(cv, dev, "availability", json_string("online"), "$state", NULL);
		if (!strcmp(text, "disconnected") || !strcmp(text, "lost"))
			return adapters__event(cv, dev, "availability", json_string("offline"), "$state", NULL);
		if (!strcmp(text, "alert") || !text[0])
			return 0;
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "unknown $state: ", text);
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
	if (!type) {
		/* Not a reading the hub knows: reported with a sample, never refused. */
		json_t *v;
		if (!len || adapters__ignored(cv, dev, s1 + 1, NULL) || adapters__ignored(cv, dev, prop, NULL))
			return 0;
		v = len < 64 && ch_utf8_valid(payload, len) && !memchr(payload, '\0', len)
			    ? json_stringn(payload, len)
			    : json_string("(long or binary)");
		adapters__unmapped(cv, dev, s1 + 1, v, "unmapped");
		json_decref(v);
		return 0;
	}
	if ((rc = adapters__plain_text(cv, payload, len, text, sizeof(text))) != 0)
		return rc;
	if (!text[0])
		return 0; /* an empty retained message clears the value: no reading */
	if ((rc = homie_value(cv, type, text, &val)) != 0)
		return rc;
	return adapters__event(cv, dev, type, val, s1 + 1, NULL);
}

/* ---- Generic gateway ---------------------------------------------------- */

static int topic_level(struct conv *cv, const char *topic, int level, char *buf, size_t cap)
{
	const char *p = topic, *end;

	for (int i = 0; i < level; i++) {
		p = strchr(p, '/');
		if (!p)
			return adapters__reject(cv, CH_REJ_BAD_FIELD, "topic has no device level: ", topic);
		p++;
	}
	end = strchr(p, '/');
	if (!end)
		end = p + strlen(p);
	if (end == p || (size_t)(end - p) >= cap)
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "empty or long device level in topic ", topic);
	memcpy(buf, p, (size_t)(end - p));
	buf[end - p] = '\0';
	return 0;
}

static int gen_timestamp(struct conv *cv, json_t *root, json_t **ts)
{
	const struct adapter *ad = cv->ad;
	json_t *v = adapters__ptr_get(root, ad->ts_pointer);
	int64_t ms;
	double d;

	*ts = NULL;
	if (!v || json_is_null(v))
		return 0; /* the hub's arrival time stands in */
	if (ad->ts_format == TS_RFC3339) {
		if (!json_is_string(v) || ch_event_parse_rfc3339(json_string_value(v), &ms) != 0)
			return adapters__reject(cv, CH_REJ_BAD_FIELD, "timestamp is not RFC 3339 at ",
				      ad->ts_pointer);
		*ts = json_string(json_string_value(v));
		return 0;
	}
	if (!adapters__as_number(v, &d))
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "timestamp is not a number at ", ad->ts_pointer);
	if (ad->ts_format == TS_EPOCH_S)
		d *= 1000.0;
	/* Years 1970..2500: anything else is a unit mix-up, not a time. */
	if (d < 0 || d > 16725225600000.0)
		return adapters__reject(cv, CH_REJ_BAD_FIELD, "timestamp out of range at ", ad->ts_pointer);
	*ts = json_integer((json_int_t)llround(d));
	return 0;
}

int adapters__generic(struct conv *cv, const char *topic, const char *payload, size_t len)
{
	const struct adapter *ad = cv->ad;
	char dev[AD_MAX_DEVICE];
	json_t *root, *ts = NULL;
	int rc;

	if ((rc = adapters__parse_json(cv, payload, len, true, &root)) != 0)
		return rc;
	if (ad->dev_level >= 0) {
		rc = topic_level(cv, topic, ad->dev_level, dev, sizeof(dev));
	} else {
		json_t *d = adapters__ptr_get(root, ad->dev_pointer);
		if (json_is_string(d)) {
			/* Too long, or an embedded NUL that would shorten the name. */
			if (ch_strlcpy(dev, json_string_value(d), sizeof(dev)) != 0 ||
			    strlen(dev) != json_string_length(d))
				rc = adapters__reject(cv, CH_REJ_BAD_FIELD, "bad device at ", ad->dev_pointer);
		} else if (json_is_integer(d)) {
			rc = ch_fmt(dev, sizeof(dev), "%" JSON_INTEGER_FORMAT, json_integer_value(d));
		} else {
			rc = adapters__reject(cv, CH_REJ_BAD_FIELD, "no device at ", ad->dev_pointer);
		}
	}
	if (!rc && ad->ts_pointer)
		rc = gen_timestamp(cv, root, &ts);
	for (size_t i = 0; !rc && i < ad->nfields; i++) {
		json_t *v = adapters__ptr_get(root, ad->fields[i].pointer), *val, *ev;
		if (!v || json_is_null(v))
			continue; /* this message does not carry that reading */
		rc = adapters__transform(&ad->fields[i], v, &val);
		if (rc == CH_EINVAL) {
			/* This field is not what the mapping expects; the others still count. */
			adapters__unmapped(cv, dev, ad->fields[i].pointer, v, "bad_value");
			rc = 0;
			continue;
		}
		if (rc || (rc = adapters__event(cv, dev, ad->fields[i].type, val, ad->fields[i].pointer,
						&ev)) != 0)
			break;
		if (ts)
			json_object_set(ev, "ts", ts);
	}
	json_decref(ts);
	json_decref(root);
	return rc;
}

