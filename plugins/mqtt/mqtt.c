/*
 * mqtt.c - the "mqtt" dispatcher plugin: publishes the notification document
 * on the hub's own MQTT connection, e.g. to a care console or a family app.
 *
 * The topic may contain {subject}, replaced by the subject's id, so that one
 * channel serves per-resident topics ("care/{subject}/notify").  Publishing
 * goes through the host (host->mqtt_publish): the plugin holds no connection
 * and never blocks.  A publish the host cannot take now is a RETRY; the host
 * owns the backoff.
 *
 * Personal data is masked by default: a broker topic is read by more
 * accounts and tools than the hub's own API, so the subject's and the
 * contact's names, the address and phone numbers are cut down ("王**",
 * "上海市宝山区***", "+861********78") wherever they appear in the document,
 * texts included.  "unmask": true publishes them whole (a console on a broker
 * that only the centre can read).
 */
#include "carehub_plugin.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBJECT_TOKEN "{subject}"

struct mqttplug {
	const struct ch_host *host; /* borrowed for the instance's lifetime */
	void *host_ctx;
	char *topic; /* template, may hold SUBJECT_TOKEN */
	int qos;
	int retain;
	int unmask;
};

static const struct ch_plugin_option options[] = {
	{.name = "topic",
	 .type = CH_OPT_STRING,
	 .required = 1,
	 .help = "topic to publish to; {subject} is replaced by the subject id"},
	{.name = "qos", .type = CH_OPT_INT, .help = "0, 1 or 2 (default 1)"},
	{.name = "retain", .type = CH_OPT_BOOL, .help = "publish retained (default false)"},
	{.name = "unmask", .type = CH_OPT_BOOL, .help = "publish names, addresses and phones whole (default false: masked)"},
	{.name = NULL},
};

static int mqtt_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg,
		     void **ctx, char *err, size_t errlen)
{
	struct mqttplug *m;
	const char *topic = host->opt_string(cfg, "topic");
	long long qos = host->opt_int(cfg, "qos", 1);

	if (!topic || !*topic) {
		snprintf(err, errlen, "option \"topic\" is empty");
		return -1;
	}
	/* Wildcards are for subscribing; a broker drops (or disconnects) a publish to one. */
	if (strpbrk(topic, "+#")) {
		snprintf(err, errlen, "option \"topic\" must not contain the wildcards + or #");
		return -1;
	}
	if (qos < 0 || qos > 2) {
		snprintf(err, errlen, "option \"qos\" must be 0, 1 or 2, got %lld", qos);
		return -1;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->topic = strdup(topic))) {
		free(m);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->host = host;
	m->host_ctx = host_ctx;
	m->qos = (int)qos;
	m->retain = host->opt_bool(cfg, "retain", 0) ? 1 : 0;
	m->unmask = host->opt_bool(cfg, "unmask", 0) ? 1 : 0;
	*ctx = m;
	return 0;
}

static void mqtt_fini(void *ctx)
{
	struct mqttplug *m = ctx;

	if (!m)
		return;
	free(m->topic);
	free(m);
}

/* The topic with every {subject} replaced; malloc'ed, NULL when out of memory. */
static char *expand_topic(const char *tmpl, const char *subject)
{
	const size_t tok = strlen(SUBJECT_TOKEN), sl = strlen(subject);
	size_t count = 0, len, o = 0;
	const char *p;
	char *out;

	for (p = strstr(tmpl, SUBJECT_TOKEN); p; p = strstr(p + tok, SUBJECT_TOKEN))
		count++;
	len = strlen(tmpl) - count * tok + count * sl;
	out = malloc(len + 1);
	if (!out)
		return NULL;
	for (p = tmpl; *p;) {
		if (strncmp(p, SUBJECT_TOKEN, tok) == 0) {
			memcpy(out + o, subject, sl);
			o += sl;
			p += tok;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

/* ---------------------------------------------------------------- masking */

/* Bytes of the first `chars` UTF-8 characters of s. */
static size_t utf8_prefix(const char *s, size_t chars)
{
	size_t i = 0;

	while (s[i] && chars) {
		i++;
		while (((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		chars--;
	}
	return i;
}

static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A name keeps its first character ("王秀英" -> "王**"); an address its first third, at most 6 ("上海市宝山区***"). */
static char *masked(const char *v, int address)
{
	size_t n = utf8_len(v), keep = address ? (n / 3 < 6 ? n / 3 : 6) : 1;
	size_t head = utf8_prefix(v, keep), stars = address ? 3 : (n > keep ? n - keep : 1);
	char *out = malloc(head + stars + 1);

	if (!out)
		return NULL;
	memcpy(out, v, head);
	memset(out + head, '*', stars);
	out[head + stars] = '\0';
	return out;
}

struct pair {
	const char *from;
	char *to;
};

/* s with every occurrence of each pair's `from` replaced by its `to`, then (phones) phone numbers masked; malloc'ed. */
static char *scrub(const struct mqttplug *m, const char *s, const struct pair *pairs, size_t np, int phones)
{
	char *cur = strdup(s), *out;
	size_t len;

	for (size_t i = 0; cur && i < np; i++) {
		size_t fl = strlen(pairs[i].from), tl = strlen(pairs[i].to), count = 0, o = 0;
		const char *p;
		char *next;
		if (!fl)
			continue;
		for (p = strstr(cur, pairs[i].from); p; p = strstr(p + fl, pairs[i].from))
			count++;
		if (!count)
			continue;
		next = malloc(strlen(cur) - count * fl + count * tl + 1);
		if (!next) {
			free(cur);
			return NULL;
		}
		for (p = cur; *p;) {
			if (strncmp(p, pairs[i].from, fl) == 0) {
				memcpy(next + o, pairs[i].to, tl);
				o += tl;
				p += fl;
			} else {
				next[o++] = *p++;
			}
		}
		next[o] = '\0';
		free(cur);
		cur = next;
	}
	if (!cur || !phones)
		return cur;
	len = strlen(cur) + 1;
	out = malloc(len);
	if (out)
		m->host->mask(cur, out, len);
	free(cur);
	return out;
}

/* Free text may quote any number; ids and timestamps are digits too, so only these fields are read for phones. */
static int free_text(const char *key)
{
	static const char *const keys[] = {"text", "summary", "note", "reason", "phone", "detail"};

	for (size_t i = 0; key && i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return 1;
	return 0;
}

static int scrub_all(const struct mqttplug *m, json_t *v, const char *key, const struct pair *pairs, size_t np)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v)) {
		char *t = scrub(m, json_string_value(v), pairs, np, free_text(key));
		int rc = t ? json_string_set(v, t) : -1;
		free(t);
		return rc;
	}
	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			if (scrub_all(m, x, k, pairs, np))
				return -1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			if (scrub_all(m, x, key, pairs, np))
				return -1;
		}
	}
	return 0;
}

/* The document with personal data masked everywhere in it; malloc'ed, NULL when it cannot be (no publish then). */
static char *mask_document(const struct mqttplug *m, const struct ch_notification *n)
{
	const char *vals[4] = {n->subject_address, n->subject_name, n->contact_name, n->contact_phone};
	struct pair pairs[4];
	size_t np = 0;
	json_t *doc = json_loads(n->document, 0, NULL);
	char *out = NULL;

	/* Longest first, so an address holding a name is replaced whole. */
	for (size_t i = 0; i < 4; i++) {
		if (!vals[i] || !*vals[i])
			continue;
		pairs[np].from = vals[i];
		if (i == 3 && (pairs[np].to = malloc(strlen(vals[i]) + 1)))
			m->host->mask(vals[i], pairs[np].to, strlen(vals[i]) + 1);
		else if (i != 3)
			pairs[np].to = masked(vals[i], i == 0);
		if (!pairs[np].to)
			goto out;
		np++;
	}
	for (size_t i = 1; i < np; i++)
		for (size_t j = i; j > 0 && strlen(pairs[j].from) > strlen(pairs[j - 1].from); j--) {
			struct pair t = pairs[j];
			pairs[j] = pairs[j - 1];
			pairs[j - 1] = t;
		}
	if (doc && scrub_all(m, doc, NULL, pairs, np) == 0)
		out = json_dumps(doc, JSON_COMPACT);
out:
	for (size_t i = 0; i < np; i++)
		free(pairs[i].to);
	json_decref(doc);
	return out;
}

static void mqtt_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct mqttplug *m = ctx;
	const char *subject = n->subject_id ? n->subject_id : "";
	char *topic, *body;
	int rc;

	if (!n->document) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without document");
		return;
	}
	if (strstr(m->topic, SUBJECT_TOKEN) && (!*subject || strpbrk(subject, "+#"))) {
		/* An id like "a+b" would make the topic a wildcard; no retry can fix that. */
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "subject id cannot be used in a topic");
		return;
	}
	topic = expand_topic(m->topic, subject);
	body = m->unmask ? NULL : mask_document(m, n);
	if (!topic || (!m->unmask && !body)) {
		free(topic);
		free(body);
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		return;
	}
	rc = m->host->mqtt_publish(m->host_ctx, topic, body ? body : n->document, strlen(body ? body : n->document),
				   m->qos, m->retain);
	free(body);
	if (rc == 0) {
		res->status = CH_SEND_OK;
	} else {
		/* The hub's connection is down or its queue full: both pass. */
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "publish to %s failed (code %d)", topic,
			 rc);
	}
	free(topic);
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "mqtt",
	.version = "1.0.0",
	.options = options,
	.init = mqtt_init,
	.fini = mqtt_fini,
	.send = mqtt_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
