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
 *
 * Delivery receipt (POST /v1/callbacks/<channel>, signed, see plugin_http.h):
 *   {"id": KEY, "message_id": REF, "status": "delivered" | "failed" |
 *    "undeliverable", "error": TEXT}
 * delivered -> DELIVERED; failed and undeliverable -> FAILED with the
 * gateway's error as the reason (phone numbers masked: gateways echo them).
 * A receipt never acknowledges an alert: the text reached a phone, not a
 * person.
 *
 * An SMS the person sent back (the gateway's inbound callback, signed the
 * same way):
 *   {"type": "inbound", "from": "+86...", "text": "1", "message_id": REF}
 * "1" is "I am on it" (from the person themselves: "I am fine"), "2" is "I
 * need help"; full-width digits and spaces around count the same.  Anything
 * else is noted on the timeline as their words.  The message names no
 * notification, so the key is CH_CB_REPLY_TO + the number: the host finds
 * the latest one it sent there.
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
	struct ph_channel ch; /* url, callback_url, token, secret, window */
	char *sender;
};

static const struct ch_plugin_option options[] = {
	PH_PROVIDER_OPTIONS("SMS gateway"),
	{.name = "sender", .type = CH_OPT_STRING, .help = "sender id or signature the gateway shows"},
	{.name = NULL},
};

static void sms_fini(void *ctx)
{
	struct sms *m = ctx;

	if (!m)
		return;
	ph_channel_fini(&m->ch);
	free(m->sender);
	free(m);
}

static int sms_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg, void **ctx,
		    char *err, size_t errlen)
{
	struct sms *m = calloc(1, sizeof(*m));
	int oom = 0;

	(void)host_ctx;
	if (!m || ph_channel_init(&m->ch, host, cfg, err, errlen)) {
		if (!m)
			snprintf(err, errlen, "out of memory");
		free(m);
		return -1;
	}
	m->sender = ph_opt_dup(host, cfg, "sender", NULL, &oom);
	if (oom) {
		snprintf(err, errlen, "out of memory");
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
			 (json_int_t)units, "callback_url", m->ch.callback_url);
	enc = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	ph_post_json(m->ch.url, n->idempotency_key, m->ch.auth_header, enc, res);
}

static void sms_http_done(void *ctx, const struct ch_notification *n, const struct ch_http_response *resp,
			  struct ch_send_result *res)
{
	const struct sms *m = ctx;

	(void)n;
	ph_classify(m->ch.host, resp, res);
}

/* "1", "１", " 1 " -> 1; "2" likewise -> 2; anything else 0. */
static int reply_digit(const char *t)
{
	while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')
		t++;
	int d = 0;
	if (*t == '1' || *t == '2') {
		d = *t - '0';
		t++;
	} else if ((unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBC &&
		   ((unsigned char)t[2] == 0x91 || (unsigned char)t[2] == 0x92)) {
		d = (unsigned char)t[2] - 0x90; /* U+FF11, U+FF12: full-width 1 and 2 */
		t += 3;
	}
	while (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n' || *t == '.' || *t == '#')
		t++;
	return *t ? 0 : d;
}

/* A reply the person sent: "1" on it, "2" help, else their words. */
static int sms_inbound(const struct sms *m, json_t *doc, struct ch_callback_result *out, char *err, size_t errlen)
{
	const char *from = json_string_value(json_object_get(doc, "from"));
	const char *text = json_string_value(json_object_get(doc, "text"));
	const char *ref = json_string_value(json_object_get(doc, "message_id"));
	char words[200];
	size_t digits = 0, n;
	int d;

	for (n = 0; from && from[n]; n++) {
		if (from[n] >= '0' && from[n] <= '9')
			digits++;
		else if (!(n == 0 && from[n] == '+'))
			break;
	}
	if (!from || from[n] || digits < 5 || digits > 20 || !text) {
		snprintf(err, errlen, "an inbound SMS needs \"from\" (a phone number) and \"text\"");
		return CH_CB_BAD_REQUEST;
	}
	snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s%s", CH_CB_REPLY_TO, from);
	if (ref && strlen(ref) < sizeof(out->provider_ref))
		snprintf(out->provider_ref, sizeof(out->provider_ref), "%s", ref);
	d = reply_digit(text);
	out->outcome = d == 1 ? CH_CB_CONFIRMED_SAFE : d == 2 ? CH_CB_NEEDS_HELP : CH_CB_ANSWERED;
	ph_copy_text(words, sizeof(words), text);
	ph_reason(out->reason, sizeof(out->reason), d ? "sms reply" : "sms reply, not 1 or 2", words);
	(void)m;
	return 0;
}

static int sms_callback(void *ctx, const struct ch_callback_request *req, struct ch_callback_result *out,
			char *err, size_t errlen)
{
	const struct sms *m = ctx;
	const char *status;
	char reason[sizeof(out->reason)], head[32];
	json_t *doc;
	int rc;

	/* A reply names no notification: its own shape, after the same signature check. */
	if (req->body_len > 0 && memmem(req->body, req->body_len, "\"inbound\"", 9)) {
		if (ph_verify_callback(m->ch.host, m->ch.secret, m->ch.window_s, req, err, errlen))
			return CH_CB_UNAUTHORIZED;
		doc = json_loadb(req->body, req->body_len, 0, NULL);
		if (json_is_object(doc) && json_is_string(json_object_get(doc, "type")) &&
		    strcmp(json_string_value(json_object_get(doc, "type")), "inbound") == 0) {
			rc = sms_inbound(m, doc, out, err, errlen);
			json_decref(doc);
			return rc;
		}
		json_decref(doc);
	}
	rc = ph_callback_open(&m->ch, req, "id", "message_id", &doc, out, err, errlen);

	if (rc)
		return rc;
	status = json_string_value(json_object_get(doc, "status"));
	if (status && strcmp(status, "delivered") == 0) {
		out->outcome = CH_CB_DELIVERED;
	} else if (status && (strcmp(status, "failed") == 0 || strcmp(status, "undeliverable") == 0)) {
		out->outcome = CH_CB_FAILED;
	} else {
		snprintf(err, errlen, "\"status\" must be delivered, failed or undeliverable");
		json_decref(doc);
		return CH_CB_BAD_REQUEST;
	}
	snprintf(head, sizeof(head), "sms %s", status);
	ph_reason(reason, sizeof(reason), head, json_string_value(json_object_get(doc, "error")));
	/* Gateways echo the number; masking keeps the length, so the reason stays whole and valid UTF-8. */
	m->ch.host->mask(reason, out->reason, sizeof(out->reason));
	json_decref(doc);
	return 0;
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
	.callback = sms_callback,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
