/*
 * small_struct.c - test plugin: claims a struct smaller than the fields the
 * host knows, as an older or truncated build would.  The loader must refuse it.
 */
#include "carehub_plugin.h"

#include <stddef.h>

static const struct ch_plugin_option options[] = {{.name = NULL}};

static void small_struct_send(void *ctx, const struct ch_notification *n,
			      struct ch_send_result *res)
{
	(void)ctx;
	(void)n;
	res->status = CH_SEND_OK;
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	/* Stops before the callbacks: the host must not read send/init from it. */
	.struct_size = offsetof(struct ch_plugin, init),
	.name = "small_struct",
	.version = "0",
	.options = options,
	.send = small_struct_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
