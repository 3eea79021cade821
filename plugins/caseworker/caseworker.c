/*
 * caseworker.c - the "caseworker" dispatcher plugin: opens a task for a
 * person (a social worker, a care coordinator) in a case management system,
 * and turns what that person does with the task into an outcome for the alert.
 *
 * Request (one POST per notification, Idempotency-Key header = key):
 *   {"external_id": KEY, "kind": "task" | "all_clear" | "digest",
 *    "alert": {"id": ALERT_ID, "rule": R, "severity": S, "state": STATE,
 *              "summary": TEXT, "opened_at_ms": MS},
 *    "subject": {"id": ID, "name": NAME, "address": ADDR},
 *    "summary": TEXT, "due_at_ms": opened_at_ms + due * 1000,
 *    "assignee": {"name": CONTACT, "role": ROLE}, "callback_url": URL}
 * No phone number travels: the case system keeps its own subject record.
 * "all_clear" comes once the alert is resolved (by anyone): the system closes
 * the tasks it holds for that alert id instead of opening one.  "digest" is
 * the hub's weekly digest for the caseworker (rule "digest"): the people they
 * look after, those with changes first, in "summary"; no alert behind it.
 * The system answers 2xx {"task_id": REF} (or {"id": REF}).  409 means a task
 * with this external_id exists already, which is what a retry after a lost
 * answer looks like, so it counts as sent.  408/429/5xx and no answer are
 * retried by the host; other answers fail and fall back.
 *
 * Callback (POST /v1/callbacks/<channel>, signed, see plugin_http.h):
 *   {"external_id": KEY, "task_id": REF, "status": "accepted" | "closed" |
 *    "rejected", "by": NAME, "outcome": CODE, "note": TEXT}
 * accepted -> ACCEPTED (the alert is acknowledged by NAME), closed -> CLOSED
 * with outcome as the resolution (genuine, false_alarm, accidental,
 * no_response or activity_resumed; genuine when absent), rejected -> FAILED:
 * the caseworker cannot take it and the escalation goes on.
 */
#include "carehub_plugin.h"
#include "plugin_http.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DUE_S 3600
/* A task due later than this is a typo in the config, not a plan. */
#define MAX_DUE_S (30 * 86400)

struct caseworker {
	struct ph_channel ch; /* url, callback_url, token, secret, window */
	int64_t due_s;
};

static const struct ch_plugin_option options[] = {
	PH_PROVIDER_OPTIONS("case management system"),
	{.name = "due", .type = CH_OPT_INT, .help = "seconds after the alert opened that the task is due (default 3600)"},
	{.name = NULL},
};

static const char *const resolutions[] = {"genuine", "false_alarm", "accidental", "no_response", "activity_resumed"};

static void cw_fini(void *ctx)
{
	struct caseworker *c = ctx;

	if (!c)
		return;
	ph_channel_fini(&c->ch);
	free(c);
}

static int cw_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg, void **ctx,
		   char *err, size_t errlen)
{
	struct caseworker *c = calloc(1, sizeof(*c));

	(void)host_ctx;
	if (!c || ph_channel_init(&c->ch, host, cfg, err, errlen)) {
		if (!c)
			snprintf(err, errlen, "out of memory");
		free(c);
		return -1;
	}
	c->due_s = host->opt_int(cfg, "due", DEFAULT_DUE_S);
	if (c->due_s < 0 || c->due_s > MAX_DUE_S) {
		snprintf(err, errlen, "due must be 0..%d seconds, not %lld", MAX_DUE_S, (long long)c->due_s);
		cw_fini(c);
		return -1;
	}
	*ctx = c;
	return 0;
}

static void cw_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	const struct caseworker *c = ctx;
	int64_t opened = n->opened_at_ms;
	json_error_t jerr;
	json_t *body;
	char *enc;

	/* The key is what makes a retried POST one task: without it every retry would open another. */
	if (!n->idempotency_key || !*n->idempotency_key || !ph_header_safe(n->idempotency_key)) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without a usable idempotency key");
		return;
	}
	/* An alert always has an opening time; the guard keeps the sum below from overflowing. */
	if (opened <= 0 || opened > INT64_MAX - MAX_DUE_S * 1000LL) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without a usable opened_at_ms");
		return;
	}
	/* The all clear of an alert names the alert; the system closes that alert's open tasks. */
	int clear = n->state && strcmp(n->state, "resolved") == 0;
	int digest = n->rule && strcmp(n->rule, "digest") == 0;
	body = json_pack_ex(&jerr, 0,
			    "{s:s, s:s, s:{s:s*, s:s*, s:s*, s:s*, s:s*, s:I}, s:{s:s*, s:s*, s:s*}, s:s*, s:I,"
			    " s:{s:s*, s:s*}, s:s*}",
			    "external_id", n->idempotency_key, "kind", clear ? "all_clear" : digest ? "digest" : "task", "alert", "id",
			    n->alert_id, "rule", n->rule, "severity", n->severity, "state", n->state, "summary",
			    n->summary, "opened_at_ms", (json_int_t)opened, "subject", "id",
			    n->subject_id, "name", n->subject_name, "address", n->subject_address, "summary", n->text,
			    "due_at_ms", (json_int_t)(opened + c->due_s * 1000), "assignee", "name", n->contact_name,
			    "role", n->contact_role, "callback_url", c->ch.callback_url);
	if (!body && json_error_code(&jerr) != json_error_out_of_memory) {
		/* Text that is not UTF-8 would be refused the same way on every retry. */
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "cannot encode the task: %s", jerr.text);
		return;
	}
	enc = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	ph_post_json(c->ch.url, n->idempotency_key, c->ch.auth_header, enc, res);
}

/* {"task_id": REF} from the system's answer, whole or not at all; leaves res alone otherwise. */
static void take_task_id(const struct ch_http_response *resp, struct ch_send_result *res)
{
	json_t *doc, *id;

	if (!resp->body || !resp->body_len)
		return;
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	id = json_object_get(doc, "task_id");
	if (json_is_string(id) && strlen(json_string_value(id)) < sizeof(res->provider_ref))
		snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", json_string_value(id));
	json_decref(doc);
}

static void cw_http_done(void *ctx, const struct ch_notification *n, const struct ch_http_response *resp,
			 struct ch_send_result *res)
{
	const struct caseworker *c = ctx;

	(void)n;
	ph_classify(c->ch.host, resp, res);
	if (!resp->transport_error && resp->status == 409) {
		/* The first POST made the task and its answer was lost: the job is done. */
		res->status = CH_SEND_OK;
		res->retry_after_ms = 0;
		snprintf(res->reason, sizeof(res->reason), "task exists");
		ph_take_provider_ref(resp, res);
	}
	if (res->status == CH_SEND_OK)
		take_task_id(resp, res);
}

/* The resolution a "closed" task carries; -1 when the outcome is not one the hub knows. */
static int take_resolution(const json_t *outcome, struct ch_callback_result *out)
{
	const char *v = json_string_value(outcome);

	if (!outcome || json_is_null(outcome)) {
		snprintf(out->resolution, sizeof(out->resolution), "genuine");
		return 0;
	}
	for (size_t i = 0; v && i < sizeof(resolutions) / sizeof(resolutions[0]); i++) {
		if (strcmp(v, resolutions[i]) == 0) {
			snprintf(out->resolution, sizeof(out->resolution), "%s", v);
			return 0;
		}
	}
	return -1;
}

static int cw_callback(void *ctx, const struct ch_callback_request *req, struct ch_callback_result *out,
		       char *err, size_t errlen)
{
	const struct caseworker *c = ctx;
	const char *status, *by;
	char head[64];
	json_t *doc;
	int rc = ph_callback_open(&c->ch, req, "external_id", "task_id", &doc, out, err, errlen);

	if (rc)
		return rc;
	status = json_string_value(json_object_get(doc, "status"));
	by = json_string_value(json_object_get(doc, "by"));
	rc = CH_CB_BAD_REQUEST;
	if (status && strcmp(status, "accepted") == 0) {
		out->outcome = CH_CB_ACCEPTED;
	} else if (status && strcmp(status, "closed") == 0) {
		out->outcome = CH_CB_CLOSED;
		if (take_resolution(json_object_get(doc, "outcome"), out)) {
			snprintf(err, errlen, "\"outcome\" of a closed task must be genuine, false_alarm, accidental, "
					      "no_response or activity_resumed");
			goto out;
		}
	} else if (status && strcmp(status, "rejected") == 0) {
		out->outcome = CH_CB_FAILED;
	} else {
		snprintf(err, errlen, "\"status\" must be accepted, closed or rejected");
		goto out;
	}
	if (by)
		ph_copy_text(out->by, sizeof(out->by), by);
	if (out->outcome == CH_CB_CLOSED)
		snprintf(head, sizeof(head), "task closed (%s)", out->resolution);
	else
		snprintf(head, sizeof(head), "task %s", status);
	ph_reason(out->reason, sizeof(out->reason), head, json_string_value(json_object_get(doc, "note")));
	rc = 0;
out:
	json_decref(doc);
	return rc;
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "caseworker",
	.version = "1.0.0",
	.options = options,
	.init = cw_init,
	.fini = cw_fini,
	.send = cw_send,
	.http_done = cw_http_done,
	.callback = cw_callback,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
