/*
 * no_entry.c - test plugin: a shared object without carehub_plugin_entry_v1,
 * like a plugin built for an older ABI (it exports a _v0 entry instead) or any
 * stray .so in the plugin directory.  The loader must refuse it.
 */
#include "carehub_plugin.h"

CH_PLUGIN_EXPORT int carehub_plugin_entry_v0(void);

CH_PLUGIN_EXPORT int carehub_plugin_entry_v0(void)
{
	return 0;
}
