/*
 * init_fails.c - test plugin: init() refuses with a reason, as a plugin whose
 * secret is missing would.  The loader must pass the reason on and unload it.
 */
#include "carehub_plugin.h"

#include <stdio.h>

static const struct ch_plugin_option options[] = {{.name = NULL}};

static int init_fails_init(const struct ch_host *host, void *host_ctx,
			   const struct ch_plugin_config *cfg, void **ctx, char *err, size_t errlen)
{
	(void)host;
	(void)host_ctx;
	(void)cfg;
	(void)ctx;
	snprintf(err, errlen, "the test wants this to fail");
	return -1;
}

static void init_fails_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	(void)ctx;
	(void)n;
	res->status = CH_SEND_FAIL;
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "init_fails",
	.version = "0",
	.options = options,
	.init = init_fails_init,
	.send = init_fails_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
