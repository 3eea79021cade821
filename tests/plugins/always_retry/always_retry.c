/*
 * always_retry.c - test plugin: every send is a transient failure with a
 * retry-after, so tests can watch the host's backoff, deadline and fallback.
 * It counts its sends so a test can tell how often the host tried.
 */
#include "carehub_plugin.h"

#include <stdio.h>

static const struct ch_plugin_option options[] = {
	{.name = "retry_after_ms",
	 .type = CH_OPT_INT,
	 .help = "retry-after to ask for (default 0)"},
	{.name = NULL},
};

struct always_retry {
	long long retry_after_ms;
	unsigned long sends;
};

/* One instance at a time is all the tests need; no heap keeps leak checks quiet. */
static struct always_retry instance;

static int always_retry_init(const struct ch_host *host, void *host_ctx,
			     const struct ch_plugin_config *cfg, void **ctx, char *err,
			     size_t errlen)
{
	(void)host_ctx;
	(void)err;
	(void)errlen;
	instance.retry_after_ms = host->opt_int(cfg, "retry_after_ms", 0);
	instance.sends = 0;
	*ctx = &instance;
	return 0;
}

static void always_retry_send(void *ctx, const struct ch_notification *n,
			      struct ch_send_result *res)
{
	struct always_retry *a = ctx;

	a->sends++;
	res->status = CH_SEND_RETRY;
	res->retry_after_ms = a->retry_after_ms;
	snprintf(res->reason, sizeof(res->reason), "always_retry: attempt %d (send %lu)",
		 n->attempt, a->sends);
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "always_retry",
	.version = "0",
	.options = options,
	.init = always_retry_init,
	.send = always_retry_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
