/*
 * mqtt.c - the "mqtt" dispatcher plugin: publishes the notification document
 * on the hub's own MQTT connection, e.g. to a care console or a family app.
 *
 * The topic may contain {subject}, replaced by the subject's id, so that one
 * channel serves per-resident topics ("care/{subject}/notify").  Publishing
 * goes through the host (host->mqtt_publish): the plugin holds no connection
 * and never blocks.  A publish the host cannot take now is a RETRY; the host
 * owns the backoff.
 */
#include "carehub_plugin.h"

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
};

static const struct ch_plugin_option options[] = {
	{.name = "topic",
	 .type = CH_OPT_STRING,
	 .required = 1,
	 .help = "topic to publish to; {subject} is replaced by the subject id"},
	{.name = "qos", .type = CH_OPT_INT, .help = "0, 1 or 2 (default 1)"},
	{.name = "retain", .type = CH_OPT_BOOL, .help = "publish retained (default false)"},
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

static void mqtt_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct mqttplug *m = ctx;
	const char *subject = n->subject_id ? n->subject_id : "";
	char *topic;
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
	if (!topic) {
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		return;
	}
	rc = m->host->mqtt_publish(m->host_ctx, topic, n->document, strlen(n->document), m->qos,
				   m->retain);
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
