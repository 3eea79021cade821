/*
 * webhook.c - the "webhook" dispatcher plugin: POSTs the notification document
 * as JSON to a configured URL.
 *
 * It does no I/O itself.  send() describes one HTTP request that the host
 * performs with libcurl's multi interface, and http_done() classifies the
 * answer, so a slow receiver holds up nothing and retries stay the host's.
 * The idempotency key travels in an Idempotency-Key header (and as "id" in the
 * body) so that a receiver can drop the duplicates at-least-once delivery
 * brings.  A bearer token, if any, comes from an environment variable named in
 * the config, never from the config itself.
 */
#include "carehub_plugin.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of an error response's body goes into the reason: enough to read, not a page. */
#define BODY_SNIPPET_MAX 120

struct webhook {
	const struct ch_host *host; /* borrowed for the instance's lifetime */
	void *host_ctx;
	char *url;
	char *auth_header; /* "Authorization: Bearer ..." or NULL; a secret */
};

static const struct ch_plugin_option options[] = {
	{.name = "url",
	 .type = CH_OPT_URL,
	 .required = 1,
	 .help = "where to POST the notification"},
	{.name = "auth_env",
	 .type = CH_OPT_ENV,
	 .help = "environment variable holding a bearer token for the Authorization header"},
	{.name = NULL},
};

/* A malloc'ed "<prefix><value>"; NULL when out of memory. */
static char *join(const char *prefix, const char *value)
{
	size_t a = strlen(prefix), b = strlen(value);
	char *s = malloc(a + b + 1);

	if (!s)
		return NULL;
	memcpy(s, prefix, a);
	memcpy(s + a, value, b + 1);
	return s;
}

/* Header values must not carry CR/LF or other controls: that would inject headers. */
static int header_safe(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	}
	return 1;
}

static void wipe_free(char *s)
{
	if (!s)
		return;
	/* The token should not linger in freed heap memory (core dumps). */
	explicit_bzero(s, strlen(s));
	free(s);
}

static int webhook_init(const struct ch_host *host, void *host_ctx,
			const struct ch_plugin_config *cfg, void **ctx, char *err, size_t errlen)
{
	struct webhook *w;
	const char *url, *env, *token;

	url = host->opt_string(cfg, "url");
	if (!url) {
		snprintf(err, errlen, "option \"url\" is missing");
		return -1;
	}
	w = calloc(1, sizeof(*w));
	if (!w || !(w->url = strdup(url))) {
		free(w);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->host = host;
	w->host_ctx = host_ctx;
	env = host->opt_string(cfg, "auth_env");
	if (env) {
		token = getenv(env);
		/* Without its token every request would be refused: better not to start. */
		if (!token || !*token) {
			snprintf(err, errlen,
				 "auth_env names %s, which is not set in the environment", env);
			goto fail;
		}
		if (!header_safe(token)) {
			snprintf(err, errlen, "the token in %s contains control characters", env);
			goto fail;
		}
		w->auth_header = join("Authorization: Bearer ", token);
		if (!w->auth_header) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	*ctx = w;
	return 0;

fail:
	free(w->url);
	free(w);
	return -1;
}

static void webhook_fini(void *ctx)
{
	struct webhook *w = ctx;

	if (!w)
		return;
	free(w->url);
	wipe_free(w->auth_header);
	free(w);
}

static void free_request(struct ch_http_request *r)
{
	if (r->headers) {
		for (char **h = r->headers; *h; h++)
			free(*h);
		free(r->headers);
	}
	free(r->url);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static void webhook_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct webhook *w = ctx;
	struct ch_http_request *r = &res->http;
	size_t h = 0;

	if (!n->document || !n->idempotency_key || !*n->idempotency_key) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without document or key");
		return;
	}
	if (!header_safe(n->idempotency_key)) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason),
			 "idempotency key has control characters");
		return;
	}
	memset(r, 0, sizeof(*r));
	r->method = "POST";
	r->free_fn = free;
	/* Content-Type, Idempotency-Key, Authorization, and the NULL end. */
	r->headers = calloc(4, sizeof(*r->headers));
	r->url = strdup(w->url);
	r->body = strdup(n->document);
	if (!r->headers || !r->url || !r->body)
		goto oom;
	if (!(r->headers[h++] = strdup("Content-Type: application/json")))
		goto oom;
	if (!(r->headers[h++] = join("Idempotency-Key: ", n->idempotency_key)))
		goto oom;
	if (w->auth_header && !(r->headers[h++] = strdup(w->auth_header)))
		goto oom;
	r->body_len = strlen(r->body);
	res->status = CH_SEND_HTTP;
	return;

oom:
	/* Memory pressure passes; the host retries with backoff. */
	free_request(r);
	res->status = CH_SEND_RETRY;
	snprintf(res->reason, sizeof(res->reason), "out of memory building the request");
}

/* The receiver's own id for the delivery, when it answers {"id":"..."}: helps tracing. */
static void take_provider_ref(const struct ch_http_response *resp, struct ch_send_result *res)
{
	json_t *doc, *id;

	if (!resp->body || !resp->body_len)
		return;
	doc = json_loadb(resp->body, resp->body_len, 0, NULL);
	id = json_object_get(doc, "id");
	/* A reference cut short would point at the wrong thing; keep it whole or not at all. */
	if (json_is_string(id) && strlen(json_string_value(id)) < sizeof(res->provider_ref))
		snprintf(res->provider_ref, sizeof(res->provider_ref), "%s", json_string_value(id));
	json_decref(doc);
}

/* "HTTP 503: <start of body>", one line, phone numbers masked (receivers echo input). */
static void describe_status(const struct webhook *w, const struct ch_http_response *resp,
			    struct ch_send_result *res)
{
	char snippet[BODY_SNIPPET_MAX + 1], masked[BODY_SNIPPET_MAX + 1];
	size_t n = 0;

	if (resp->body) {
		for (; n < resp->body_len && n < BODY_SNIPPET_MAX && resp->body[n]; n++) {
			unsigned char c = (unsigned char)resp->body[n];
			snippet[n] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
		}
	}
	snippet[n] = '\0';
	if (!n) {
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", resp->status);
		return;
	}
	w->host->mask(snippet, masked, sizeof(masked));
	snprintf(res->reason, sizeof(res->reason), "HTTP %ld: %s", resp->status, masked);
}

static void webhook_http_done(void *ctx, const struct ch_notification *n,
			      const struct ch_http_response *resp, struct ch_send_result *res)
{
	const struct webhook *w = ctx;
	long st = resp->status;

	(void)n;
	res->retry_after_ms = 0;
	res->provider_ref[0] = '\0';
	if (resp->transport_error || st == 0) {
		/* No answer at all (refused, reset, timed out): the receiver may be back soon. */
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "transport error: %s",
			 resp->transport_msg ? resp->transport_msg : "no HTTP answer");
		return;
	}
	if (st >= 200 && st < 300) {
		res->status = CH_SEND_OK;
		snprintf(res->reason, sizeof(res->reason), "HTTP %ld", st);
		take_provider_ref(resp, res);
		return;
	}
	describe_status(w, resp, res);
	/* Timeouts, rate limits and server errors pass; other answers would come again. */
	if (st == 408 || st == 429 || (st >= 500 && st < 600)) {
		res->status = CH_SEND_RETRY;
		res->retry_after_ms = resp->retry_after_ms > 0 ? resp->retry_after_ms : 0;
		return;
	}
	res->status = CH_SEND_FAIL;
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "webhook",
	.version = "1.0.0",
	.options = options,
	.init = webhook_init,
	.fini = webhook_fini,
	.send = webhook_send,
	.http_done = webhook_http_done,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
