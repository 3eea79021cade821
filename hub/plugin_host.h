/*
 * plugin_host.h - loads dispatcher plugins and creates channel instances.
 *
 * dlopen()s <dir>/<plugin>.so, resolves the one versioned entry symbol, checks
 * ABI version and struct size before using anything else, validates a channel's
 * options against the plugin's declared option table, then calls init().  Each
 * refusal comes back as CH_EPLUGIN with the exact reason in err, and is logged.
 */
#ifndef CH_PLUGIN_HOST_H
#define CH_PLUGIN_HOST_H

#include "ch.h"
#include "../plugins/carehub_plugin.h"

#include <jansson.h>

/* A live channel: a plugin instance with its options. */
struct ch_channel {
	char *name;
	const struct ch_plugin *plugin; /* borrowed from the loaded .so */
	void *ctx;                      /* the plugin's instance */
	struct ch_plugin_config *cfg;   /* owned */
	void *dl;                       /* dlopen handle, owned */
};

/*
 * Host services a channel may use.  publish may be NULL (then mqtt_publish
 * answers CH_EIO).  Borrowed: must outlive every channel opened with it.
 */
struct ch_host_services {
	int (*publish)(void *arg, const char *topic, const void *payload, size_t len, int qos, int retain);
	void *publish_arg;
};

/*
 * Opens channel `name` with plugin `plugin` from directory dir and the channel's
 * options (a JSON object, borrowed; keys the host consumes must already be
 * removed).  On success *out is owned by the caller (ch_channel_close).
 */
int ch_channel_open(const char *dir, const char *name, const char *plugin, json_t *options,
		    const struct ch_host_services *svc, struct ch_channel **out, char *err, size_t errlen);

/*
 * The plugin's send / http_done / callback, under the channel's lock (the ABI
 * promises a plugin one call at a time; the dispatcher and the HTTP server
 * are two threads).  Strings the plugin filled come back NUL-terminated.
 * ch_channel_callback: 0 with *out filled, CH_ENOTFOUND when the plugin takes
 * no callbacks, CH_EPROTO when it refused the request as unauthenticated
 * (unsigned, forged, replayed), CH_EINVAL when signed but not understood;
 * err says why.
 */
void ch_channel_send(struct ch_channel *ch, const struct ch_notification *n, struct ch_send_result *res);
void ch_channel_http_done(struct ch_channel *ch, const struct ch_notification *n,
			  const struct ch_http_response *resp, struct ch_send_result *res);
int ch_channel_callback(struct ch_channel *ch, const struct ch_callback_request *req,
			struct ch_callback_result *out, char *err, size_t errlen);

/* struct ch_host.verify_hmac: ch_http_verify_hmac's answer in the ABI's terms (0, CH_HMAC_*). */
int ch_channel_verify_hmac(const char *key, const char *timestamp, const char *body, size_t len, const char *sig_hex,
			   int64_t now_s, int64_t window_s);

/* fini()s the plugin instance and unloads the shared object. */
void ch_channel_close(struct ch_channel *ch);

/*
 * Validates options against a plugin's option table without loading anything
 * (used by --check and by ch_channel_open).  err names the offending key.
 */
int ch_plugin_validate_options(const struct ch_plugin *p, json_t *options, char *err, size_t errlen);

/* Checks the plugin struct a .so handed back: abi version, struct size, required callbacks. */
int ch_plugin_check(const struct ch_plugin *p, char *err, size_t errlen);

#endif
