/*
 * ok_sync.c - test plugin: the smallest plugin that works.  It declares one
 * required string option and one optional integer so tests can exercise option
 * validation, logs its greeting through the host (to check the channel
 * prefix), and answers every send with OK and a provider_ref built from its
 * options (to check the host hands them over).
 */
#include "carehub_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ch_plugin_option options[] = {
	{.name = "greeting", .type = CH_OPT_STRING, .required = 1, .help = "a word to say"},
	{.name = "count", .type = CH_OPT_INT, .help = "a number (default 1)"},
	{.name = NULL},
};

struct ok_sync {
	char *greeting;
	long long count;
};

static int ok_sync_init(const struct ch_host *host, void *host_ctx,
			const struct ch_plugin_config *cfg, void **ctx, char *err, size_t errlen)
{
	struct ok_sync *o = calloc(1, sizeof(*o));

	if (!o || !(o->greeting = strdup(host->opt_string(cfg, "greeting")))) {
		free(o);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->count = host->opt_int(cfg, "count", 1);
	host->log(host_ctx, CH_PLOG_INFO, "ok_sync says %s x%lld", o->greeting, o->count);
	*ctx = o;
	return 0;
}

static void ok_sync_fini(void *ctx)
{
	struct ok_sync *o = ctx;

	free(o->greeting);
	free(o);
}

static void ok_sync_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	const struct ok_sync *o = ctx;

	(void)n;
	res->status = CH_SEND_OK;
	snprintf(res->provider_ref, sizeof(res->provider_ref), "%s:%lld", o->greeting, o->count);
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "ok_sync",
	.version = "1",
	.options = options,
	.init = ok_sync_init,
	.fini = ok_sync_fini,
	.send = ok_sync_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
