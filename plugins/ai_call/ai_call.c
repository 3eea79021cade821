/*
 * ai_call.c - the "ai_call" dispatcher plugin: asks a voice bot platform to
 * call a number and read a script, and turns the platform's report of the
 * call into an outcome for the alert.
 *
 * Request (one POST per notification, Idempotency-Key header = key):
 *   {"id": KEY, "to": "+86...", "caller_id": ID, "language": "zh-CN",
 *    "script": TEXT, "answers": {"1": "confirmed_safe", "2": "needs_help"},
 *    "callback_url": URL, "alert": ALERT_ID, "role": "self"}
 * The platform answers 2xx {"call_id": REF} (or {"id": REF}); 408/429/5xx and
 * no answer are retried by the host (a voice platform does not deduplicate,
 * so the key travels with every retry), other answers fail and fall back.
 *
 * Callback (POST /v1/callbacks/<channel>, signed, see plugin_http.h):
 *   {"id": KEY, "call_id": REF, "status": "answered" | "no_answer" | "busy" |
 *    "failed", "answer": "confirmed_safe" | "needs_help" | "none", "detail": TEXT}
 * answered + confirmed_safe -> CONFIRMED_SAFE ("I am fine": the hub resolves
 * the alert as false_alarm when the callee is the subject), answered +
 * needs_help -> NEEDS_HELP (the next step at once), answered otherwise ->
 * ANSWERED, and NO_ANSWER / BUSY / FAILED: the escalation goes on.
 */
#include "carehub_plugin.h"
#include "plugin_http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ai_call {
	struct ph_channel ch; /* url, callback_url, token, secret, window */
	char *caller_id;
	char *language;
};

static const struct ch_plugin_option options[] = {
	PH_PROVIDER_OPTIONS("voice platform"),
	{.name = "caller_id", .type = CH_OPT_STRING, .help = "the number or name the callee sees"},
	{.name = "language", .type = CH_OPT_STRING, .help = "speech language of the script (default zh-CN)"},
	{.name = NULL},
};

static void ai_fini(void *ctx)
{
	struct ai_call *a = ctx;

	if (!a)
		return;
	ph_channel_fini(&a->ch);
	free(a->caller_id);
	free(a->language);
	free(a);
}

static int ai_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg, void **ctx,
		   char *err, size_t errlen)
{
	struct ai_call *a = calloc(1, sizeof(*a));
	int oom = 0;

	(void)host_ctx;
	if (!a || ph_channel_init(&a->ch, host, cfg, err, errlen)) {
		if (!a)
			snprintf(err, errlen, "out of memory");
		free(a);
		return -1;
	}
	a->caller_id = ph_opt_dup(host, cfg, "caller_id", NULL, &oom);
	a->language = ph_opt_dup(host, cfg, "language", "zh-CN", &oom);
	if (oom) {
		snprintf(err, errlen, "out of memory");
		ai_fini(a);
		return -1;
	}
	*ctx = a;
	return 0;
}

static void ai_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct ai_call *a = ctx;
	json_t *body;
	char *enc;

	if (!n->idempotency_key || !*n->idempotency_key || !ph_header_safe(n->idempotency_key) ||
	    !n->contact_phone || !*n->contact_phone) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without a phone number or a usable key");
		return;
	}
	if (!n->text || !*n->text) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "empty script");
		return;
	}
	body = json_pack("{s:s, s:s, s:s*, s:s, s:s, s:{s:s, s:s}, s:s*, s:s*, s:s*}", "id", n->idempotency_key, "to",
			 n->contact_phone, "caller_id", a->caller_id, "language", a->language, "script", n->text,
			 "answers", "1", "confirmed_safe", "2", "needs_help", "callback_url", a->ch.callback_url, "alert",
			 n->alert_id, "role", n->contact_role);
	enc = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	ph_post_json(a->ch.url, n->idempotency_key, a->ch.auth_header, enc, res);
}

static void ai_http_done(void *ctx, const struct ch_notification *n, const struct ch_http_response *resp,
			 struct ch_send_result *res)
{
	const struct ai_call *a = ctx;
	json_t *doc, *id;

	(void)n;
	ph_classify(a->ch.host, resp, res);
	if (res->status != CH_SEND_OK || res->provider_ref[0] || !resp->body_len)
		return;
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	id = json_object_get(doc, "call_id");
	if (json_is_string(id) && strlen(json_string_value(id)) < sizeof(res->provider_ref))
		snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", json_string_value(id));
	json_decref(doc);
}

static int outcome_of(const char *status, const char *answer, enum ch_callback_outcome *out)
{
	if (strcmp(status, "answered") == 0) {
		if (answer && strcmp(answer, "confirmed_safe") == 0)
			*out = CH_CB_CONFIRMED_SAFE;
		else if (answer && strcmp(answer, "needs_help") == 0)
			*out = CH_CB_NEEDS_HELP;
		else
			*out = CH_CB_ANSWERED;
	} else if (strcmp(status, "no_answer") == 0) {
		*out = CH_CB_NO_ANSWER;
	} else if (strcmp(status, "busy") == 0) {
		*out = CH_CB_BUSY;
	} else if (strcmp(status, "failed") == 0) {
		*out = CH_CB_FAILED;
	} else {
		return -1;
	}
	return 0;
}

static int ai_callback(void *ctx, const struct ch_callback_request *req, struct ch_callback_result *out, char *err,
		       size_t errlen)
{
	const struct ai_call *a = ctx;
	const char *status, *answer;
	char head[64];
	json_t *doc;
	int rc = ph_callback_open(&a->ch, req, "id", "call_id", &doc, out, err, errlen);

	if (rc)
		return rc;
	status = json_string_value(json_object_get(doc, "status"));
	answer = json_string_value(json_object_get(doc, "answer"));
	if (!status || outcome_of(status, answer, &out->outcome)) {
		snprintf(err, errlen, "\"status\" must be answered, no_answer, busy or failed");
		rc = CH_CB_BAD_REQUEST;
	} else {
		/* status and a known answer are short ASCII words (outcome_of checked them). */
		bool said = out->outcome == CH_CB_CONFIRMED_SAFE || out->outcome == CH_CB_NEEDS_HELP;
		snprintf(head, sizeof(head), "call %s%s%s", status, said ? ", answer " : "", said ? answer : "");
		ph_reason(out->reason, sizeof(out->reason), head, json_string_value(json_object_get(doc, "detail")));
	}
	json_decref(doc);
	return rc;
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "ai_call",
	.version = "1.0.0",
	.options = options,
	.init = ai_init,
	.fini = ai_fini,
	.send = ai_send,
	.http_done = ai_http_done,
	.callback = ai_callback,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
