/*
 * sms.c - the "sms" dispatcher plugin: sends the rendered text through an HTTP
 * SMS gateway.
 *
 * The plugin cuts the text itself (sms_split.h: Chinese 70 characters in one
 * SMS, 67 per part; GSM-7 160/153) and POSTs one JSON request per
 * notification:
 *   {"id": IDEMPOTENCY_KEY, "to": "+86...", "sender": SENDER, "text": TEXT,
 *    "parts": [PART, ...], "units": N, "callback_url": URL}
 * with the key also in an Idempotency-Key header and, with auth_env, a bearer
 * token.  The gateway answers 2xx {"id": PROVIDER_REF}; 408/429/5xx and no
 * answer are retried by the host, other answers fail (and fall back).  Like
 * every plugin it does no I/O: the host performs the request.
 */
#include "carehub_plugin.h"
#include "plugin_http.h"
#include "sms_split.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A longer text is cut at this many parts; gateways refuse more than about ten. */
#define MAX_PARTS 10

struct sms {
	const struct ch_host *host;
	char *url;
	char *sender;
	char *callback_url;
	char *auth_header;
};

static const struct ch_plugin_option options[] = {
	{.name = "url", .type = CH_OPT_URL, .required = 1, .help = "the gateway's send endpoint"},
	{.name = "auth_env", .type = CH_OPT_ENV, .help = "environment variable holding the gateway's bearer token"},
	{.name = "sender", .type = CH_OPT_STRING, .help = "sender id or signature the gateway shows"},
	{.name = "callback_url", .type = CH_OPT_URL, .help = "where the gateway posts delivery receipts"},
	{.name = NULL},
};

static char *dup_opt(const struct ch_host *host, const struct ch_plugin_config *cfg, const char *name, int *oom)
{
	const char *v = host->opt_string(cfg, name);
	char *s = v ? strdup(v) : NULL;

	if (v && !s)
		*oom = 1;
	return s;
}

static void sms_fini(void *ctx)
{
	struct sms *m = ctx;

	if (!m)
		return;
	free(m->url);
	free(m->sender);
	free(m->callback_url);
	ph_wipe_free(m->auth_header);
	free(m);
}

static int sms_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg, void **ctx,
		    char *err, size_t errlen)
{
	struct sms *m = calloc(1, sizeof(*m));
	int oom = 0;

	(void)host_ctx;
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->host = host;
	m->url = dup_opt(host, cfg, "url", &oom);
	m->sender = dup_opt(host, cfg, "sender", &oom);
	m->callback_url = dup_opt(host, cfg, "callback_url", &oom);
	if (oom || !m->url) {
		snprintf(err, errlen, oom ? "out of memory" : "option \"url\" is missing");
		sms_fini(m);
		return -1;
	}
	if (ph_auth_header(host, cfg, &m->auth_header, err, errlen)) {
		sms_fini(m);
		return -1;
	}
	*ctx = m;
	return 0;
}

static void sms_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct sms *m = ctx;
	size_t ends[MAX_PARTS], units = 0, np, from = 0;
	const char *text = n->text ? n->text : "";
	json_t *body, *parts;
	char *enc;

	if (!n->idempotency_key || !*n->idempotency_key || !ph_header_safe(n->idempotency_key) ||
	    !n->contact_phone || !*n->contact_phone) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without a phone number or a usable key");
		return;
	}
	if (!*text) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "empty message text");
		return;
	}
	np = sms_split(text, strlen(text), ends, MAX_PARTS, &units);
	parts = json_array();
	for (size_t i = 0; parts && i < np; i++) {
		json_array_append_new(parts, json_stringn(text + from, ends[i] - from));
		from = ends[i];
	}
	body = json_pack("{s:s, s:s, s:s*, s:s, s:o, s:I, s:s*}", "id", n->idempotency_key, "to", n->contact_phone,
			 "sender", m->sender, "text", text, "parts", parts ? parts : json_array(), "units",
			 (json_int_t)units, "callback_url", m->callback_url);
	enc = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	ph_post_json(m->url, n->idempotency_key, m->auth_header, enc, res);
}

static void sms_http_done(void *ctx, const struct ch_notification *n, const struct ch_http_response *resp,
			  struct ch_send_result *res)
{
	const struct sms *m = ctx;

	(void)n;
	ph_classify(m->host, resp, res);
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "sms",
	.version = "1.0.0",
	.options = options,
	.init = sms_init,
	.fini = sms_fini,
	.send = sms_send,
	.http_done = sms_http_done,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
