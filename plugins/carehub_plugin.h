/*
 * carehub_plugin.h - the only contract between carehubd and a dispatcher plugin.
 *
 * A plugin is a shared object that exports one function, CH_PLUGIN_ENTRY_NAME,
 * returning a pointer to a static struct ch_plugin.  The host negotiates before it
 * touches anything else: it checks abi_version equals CH_PLUGIN_ABI_VERSION and
 * that struct_size is at least the size of the fields it knows, validates the
 * channel's options against the plugin's option table (unknown keys, missing
 * required keys and bad types are refused), then calls init().
 *
 * Threading: all calls into one plugin instance (init, send, http_done,
 * callback, fini) come from one host thread at a time.  A plugin never sleeps,
 * never retries and never blocks on the network: it either finishes a send at
 * once (log, mqtt) or describes one HTTP request that the host performs with
 * libcurl's multi interface and hands back to http_done().  Retries with capped
 * exponential backoff and full jitter are the host's job.
 *
 * Growth: every struct carries reserved slots; new fields go at the end and the
 * ABI version changes only when an existing field changes meaning.
 */
#ifndef CAREHUB_PLUGIN_H
#define CAREHUB_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define CH_PLUGIN_ABI_VERSION 1
#define CH_PLUGIN_ENTRY_NAME "carehub_plugin_entry_v1"

enum ch_send_status {
	CH_SEND_OK = 0,    /* accepted by the provider */
	CH_SEND_RETRY = 1, /* transient: the host retries (after retry_after_ms if > 0) */
	CH_SEND_FAIL = 2,  /* permanent: the host falls back, never retries */
	CH_SEND_HTTP = 3,  /* not finished: perform res->http, then call http_done() */
};

enum ch_opt_type {
	CH_OPT_STRING = 1,
	CH_OPT_INT = 2,  /* JSON integer */
	CH_OPT_BOOL = 3, /* JSON true/false */
	CH_OPT_URL = 4,  /* string starting http:// or https:// */
	CH_OPT_ENV = 5,  /* name of an environment variable holding a secret */
};

/* One option a plugin accepts; a table of these ends with a {NULL} entry. */
struct ch_plugin_option {
	const char *name;
	enum ch_opt_type type;
	int required;
	const char *help;
};

/* A channel's validated options; read through the host's opt_* functions. */
struct ch_plugin_config;

/* Everything a plugin needs to notify one contact about one alert.  All borrowed. */
struct ch_notification {
	const char *idempotency_key; /* alert:step:contact:channel, stable across retries and restarts */
	const char *channel;         /* the channel's name in the config */
	const char *document;        /* the notification document as JSON (the webhook body) */
	const char *alert_id;
	const char *rule;
	const char *severity;
	const char *state;
	const char *summary;
	int64_t opened_at_ms;
	const char *subject_id;
	const char *subject_name;
	const char *subject_address;
	const char *contact_name;
	const char *contact_phone; /* unmasked: never log it as is */
	const char *contact_role;
	const char *text; /* rendered message text */
	int step;
	int attempt;         /* 1 for the first try */
	int64_t deadline_ms; /* wall-clock ms after which the send is pointless */
	void *reserved[8];
};

/*
 * An HTTP request a plugin asks the host to perform.  Strings are heap memory
 * owned by the plugin until send() returns; from then on the host owns them and
 * frees each with free_fn (the plugin hands over its deallocator).
 */
struct ch_http_request {
	const char *method; /* static string: "POST", "PUT" */
	char *url;
	char **headers; /* NULL-terminated array of "Name: value"; array and strings freed with free_fn */
	char *body;
	size_t body_len;
	long timeout_ms; /* 0: the host default */
	void (*free_fn)(void *);
};

struct ch_http_response {
	long status;              /* HTTP status, 0 when the transfer failed */
	const char *body;         /* borrowed, NUL-terminated, may be empty */
	size_t body_len;
	int transport_error;      /* 0, or non-zero when no HTTP answer came (timeout, refused) */
	const char *transport_msg;
	int64_t retry_after_ms;   /* from a Retry-After header, 0 if none */
};

struct ch_send_result {
	enum ch_send_status status;
	int64_t retry_after_ms;
	char provider_ref[128];
	char reason[256];
	struct ch_http_request http; /* filled when status is CH_SEND_HTTP */
	void *reserved[4];
};

/* A provider's HTTP callback, for plugins that understand one. */
struct ch_callback_request {
	const char *body;
	size_t body_len;
	const char *const *headers; /* NULL-terminated "Name: value" */
	int64_t now_ms;
	void *reserved[4];
};

enum ch_callback_outcome {
	CH_CB_DELIVERED = 1,
	CH_CB_ANSWERED,
	CH_CB_CONFIRMED_SAFE,
	CH_CB_NEEDS_HELP,
	CH_CB_NO_ANSWER,
	CH_CB_FAILED,
	/* Added in 1.1 (same ABI version: new values, old ones unchanged). */
	CH_CB_BUSY,     /* the line was busy: like no_answer, the escalation goes on */
	CH_CB_ACCEPTED, /* a person took the task (caseworker): acknowledges the alert */
	CH_CB_CLOSED,   /* a person closed the task: resolves the alert with `resolution` */
};

struct ch_callback_result {
	enum ch_callback_outcome outcome;
	/*
	 * Which dispatch it is about.  Since 1.2 it may instead be
	 * CH_CB_REPLY_TO "<phone number>" when the provider names no dispatch (an
	 * SMS the person sent back): the host takes the latest notification it
	 * sent to that number on the channel.  An older host refuses it (400).
	 */
	char idempotency_key[256];
	char provider_ref[128];
	char reason[256]; /* free text for the timeline: what the person said, why it failed */
	void *reserved[4];
	/* Added in 1.1; the host zeroes the struct, so a plugin built earlier leaves them empty. */
	char resolution[32]; /* CH_CB_CLOSED: genuine, false_alarm, accidental, no_response, activity_resumed */
	char by[101];        /* who answered, when the provider says (a caseworker's name); else empty */
};

#define CH_CB_REPLY_TO "reply-to:"

/* What callback() answers besides 0. */
enum ch_callback_refusal { CH_CB_UNAUTHORIZED = -1, CH_CB_BAD_REQUEST = -2 };

/* What ch_host.verify_hmac answers besides 0. */
enum ch_hmac_result { CH_HMAC_MALFORMED = -1, CH_HMAC_BAD = -2, CH_HMAC_STALE = -3 };

/* What the host lends a plugin.  host_ctx is passed back on every call. */
struct ch_host {
	uint32_t abi_version;
	uint32_t struct_size;
	/* Logs with the channel's name as prefix; never pass a phone number unmasked. */
	void (*log)(void *host_ctx, int level, const char *fmt, ...)
#if defined(__GNUC__)
		__attribute__((format(printf, 3, 4)))
#endif
		;
	/* Option values; NULL / def when the option was not given. */
	const char *(*opt_string)(const struct ch_plugin_config *cfg, const char *name);
	long long (*opt_int)(const struct ch_plugin_config *cfg, const char *name, long long def);
	int (*opt_bool)(const struct ch_plugin_config *cfg, const char *name, int def);
	/* Publishes on the hub's MQTT connection; 0 or a negative code. */
	int (*mqtt_publish)(void *host_ctx, const char *topic, const void *payload, size_t len, int qos,
			    int retain);
	int64_t (*now_ms)(void);
	/* Masks phone numbers in src for logging (see log.h). */
	void (*mask)(const char *src, char *dst, size_t len);
	/*
	 * Added in 1.1 in what was a reserved slot, so NULL from an older host:
	 * check before calling.  Verifies sig_hex == hex(HMAC-SHA256(key,
	 * "<timestamp>.<body>")) with timestamp (unix seconds) within window_s of
	 * now: 0, CH_HMAC_MALFORMED, CH_HMAC_BAD or CH_HMAC_STALE.
	 */
	int (*verify_hmac)(const char *key, const char *timestamp, const char *body, size_t len, const char *sig_hex,
			   int64_t now_s, int64_t window_s);
	void *reserved[7];
};

enum ch_plugin_log_level { CH_PLOG_DEBUG = 0, CH_PLOG_INFO, CH_PLOG_WARN, CH_PLOG_ERROR };

struct ch_plugin {
	uint32_t abi_version; /* CH_PLUGIN_ABI_VERSION */
	uint32_t struct_size; /* sizeof(struct ch_plugin) as the plugin was built */
	const char *name;
	const char *version;
	const struct ch_plugin_option *options; /* terminated by {NULL} */

	/* Creates one channel instance.  0 or negative with a reason in err. */
	int (*init)(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg,
		    void **ctx, char *err, size_t errlen);
	void (*fini)(void *ctx);
	/* Required.  Fills res; never blocks. */
	void (*send)(void *ctx, const struct ch_notification *n, struct ch_send_result *res);
	/* Required when send() can return CH_SEND_HTTP: classifies the answer. */
	void (*http_done)(void *ctx, const struct ch_notification *n, const struct ch_http_response *resp,
			  struct ch_send_result *res);
	/*
	 * Optional: verifies and parses a provider callback.  0 with out filled;
	 * CH_CB_UNAUTHORIZED (the host answers 401: unsigned, forged, replayed) or
	 * CH_CB_BAD_REQUEST (400: signed but not understood), reason in err.
	 */
	int (*callback)(void *ctx, const struct ch_callback_request *req, struct ch_callback_result *out,
			char *err, size_t errlen);
	void *reserved[8];
};

/* The type of the one exported entry symbol. */
typedef const struct ch_plugin *(*ch_plugin_entry_fn)(void);

/* Plugins use this to export the entry symbol. */
#define CH_PLUGIN_EXPORT __attribute__((visibility("default")))

/*
 * The entry symbol every plugin defines (named by CH_PLUGIN_ENTRY_NAME).  Declared
 * here so the compiler checks each plugin's definition against ch_plugin_entry_fn.
 */
CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void);

#endif
