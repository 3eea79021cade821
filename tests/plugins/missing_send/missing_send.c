/*
 * missing_send.c - test plugin: a struct without the one required callback.
 * The loader must refuse it rather than crash on the first alert.
 */
#include "carehub_plugin.h"

static const struct ch_plugin_option options[] = {{.name = NULL}};

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "missing_send",
	.version = "0",
	.options = options,
	.send = NULL,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
