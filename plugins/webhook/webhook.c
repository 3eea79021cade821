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
#include "plugin_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int webhook_init(const struct ch_host *host, void *host_ctx,
			const struct ch_plugin_config *cfg, void **ctx, char *err, size_t errlen)
{
	struct webhook *w;
	const char *url = host->opt_string(cfg, "url");

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
	if (ph_auth_header(host, cfg, &w->auth_header, err, errlen)) {
		free(w->url);
		free(w);
		return -1;
	}
	*ctx = w;
	return 0;
}

static void webhook_fini(void *ctx)
{
	struct webhook *w = ctx;

	if (!w)
		return;
	free(w->url);
	ph_wipe_free(w->auth_header);
	free(w);
}

static void webhook_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct webhook *w = ctx;

	if (!n->document || !n->idempotency_key || !*n->idempotency_key) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without document or key");
		return;
	}
	if (!ph_header_safe(n->idempotency_key)) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason),
			 "idempotency key has control characters");
		return;
	}
	ph_post_json(w->url, n->idempotency_key, w->auth_header, strdup(n->document), res);
}

static void webhook_http_done(void *ctx, const struct ch_notification *n,
			      const struct ch_http_response *resp, struct ch_send_result *res)
{
	const struct webhook *w = ctx;

	(void)n;
	ph_classify(w->host, resp, res);
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
