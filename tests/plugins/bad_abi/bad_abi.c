/*
 * bad_abi.c - test plugin: a plugin built for an ABI the host does not speak.
 * The loader must refuse it before reading anything past struct_size.
 */
#include "carehub_plugin.h"

static const struct ch_plugin_option options[] = {{.name = NULL}};

static void bad_abi_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	(void)ctx;
	(void)n;
	res->status = CH_SEND_OK;
}

static const struct ch_plugin plugin = {
	.abi_version = 999,
	.struct_size = sizeof(struct ch_plugin),
	.name = "bad_abi",
	.version = "0",
	.options = options,
	.send = bad_abi_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
