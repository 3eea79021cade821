/*
 * config.h - carehubd's configuration: one JSON file, overridable per value with
 * `-o path=value`, validated as a whole before anything starts.
 *
 * Unknown and duplicate keys are errors; secrets are never in the file, only the
 * names of environment variables that hold them (`*_env` keys) or of files
 * (`*_file` keys, read by secret.c).
 */
#ifndef CH_CONFIG_H
#define CH_CONFIG_H

#include "ch.h"

struct ch_templates;

#include <jansson.h>

struct ch_policy_step {
	int64_t after_ms; /* since the alert opened */
	char **roles;     /* contact roles notified by this step */
	size_t nroles;
	char **channels; /* channel names: each contact is notified on every one of them */
	size_t nchannels;
	char **fallback; /* tried in order for a contact when a send fails for good; may be NULL */
	size_t nfallback;
	bool first_contact; /* "contacts": "first": the first contact in order, the next when all fail */
	bool fallback_when_limited; /* "when_limited": "fallback": a rate-limited send falls back at once */
};

struct ch_policy {
	char *name;
	struct ch_policy_step *steps;
	size_t nsteps;
	int repeat; /* times the whole list runs again after the last step */
	int64_t repeat_after_ms;
};

struct ch_channel_conf {
	char *name;
	char *plugin;     /* plugin name: loads <plugins_dir>/<plugin>.so */
	json_t *options;  /* the channel object less "plugin" and the host's keys; owned */
	int max_attempts; /* host retry policy */
	int64_t backoff_base_ms;
	int64_t backoff_cap_ms;
	int64_t timeout_ms;
	int max_inflight;
	/* The provider does not deduplicate by Idempotency-Key (voice platforms): a send that may
	 * have reached it (no answer after the request went out, a hub killed mid-request) is not
	 * repeated but counts as failed, so the step falls back instead of calling twice. */
	bool at_most_once;
	/* "rate_limit": [[N, window], ...]: at most N sends per contact in each window
	 * (fixed windows aligned to the epoch), e.g. [[1,"1m"],[5,"1h"],[20,"1d"]]. */
	struct {
		int max;
		int64_t window_ms;
	} rate[4];
	size_t nrate;
};

struct ch_config {
	char *file; /* path it was read from */
	char *instance; /* names this hub: status topic, consumer name; default: mqtt.client_id */
	char *state_dir; /* local journal directory */
	char *plugins_dir;
	char *timezone;
	char *language; /* message texts for contacts without their own; default "zh" */
	char *centre_phone; /* the monitoring centre's number families are told to call; NULL: none */
	struct ch_templates *templates; /* owned; the built-ins unless "templates" says otherwise */

	struct {
		char *host;
		int port;
		char *client_id;
		char *username;
		char *password_env;
		char *password_file; /* instead of password_env: mode 0600 or stricter */
		int keepalive_s;
		char *shared_group; /* NULL: plain subscription */
		struct {
			bool enabled;
			char *cafile;
			char *certfile;
			char *keyfile;
			bool insecure;
		} tls;
		json_t *adapters; /* owned; validated by the adapters module */
		json_t *homeassistant; /* owned or NULL; validated by hass.c (discovery out) */
		int64_t reconnect_min_ms;
		int64_t reconnect_max_ms;
	} mqtt;

	struct {
		char *host;
		int port;
		char *socket; /* a unix socket instead of host and port; NULL: TCP */
		int db;
		char *username; /* an ACL user (AUTH user password); NULL: the default user */
		char *password_env;
		char *password_file;
		char *prefix; /* key prefix, default "ch:" */
	} redis;

	struct {
		bool enabled;
		char *listen;
		int port;
		char *token_env; /* the admin service token "service" */
		struct ch_service_token {
			char *name;
			char *role; /* viewer, operator, admin */
			char *token_env;
		} *service_tokens; /* scoped tokens for integrations */
		size_t nservice_tokens;
		int64_t session_ttl_ms;  /* an operator's session ends this long after its last use (12h) */
		int max_connections;     /* at once (512) */
		int max_per_ip;          /* at once from one address (128) */
		int64_t timeout_ms;      /* an idle connection is closed (10s) */
		int max_streams;         /* live feeds at once (64) */
		int64_t sse_keepalive_ms; /* a comment on a quiet live feed this often (15s) */
		char *token_file;
		char *metrics_token_env; /* set: /metrics needs this bearer token too */
		char *metrics_token_file;
		struct {
			char *cert_file; /* PEM; set: HTTPS only */
			char *key_file;
		} tls;
		bool insecure; /* plain HTTP on a non-loopback address (a TLS proxy in front) */
	} http;

	struct {
		char *file;
	} registry;
	struct {
		char *file;
	} rules;

	struct ch_policy *policies;
	size_t npolicies;
	char *severity_policy[5]; /* policy name by severity: info, low, medium, high, critical */

	struct ch_channel_conf *channels;
	size_t nchannels;

	struct {
		size_t max_payload;   /* bytes; larger payloads are dead-lettered */
		int max_depth;        /* JSON nesting */
		int queue_capacity;   /* ingest queue, events */
		int batch_size;       /* events per Redis round trip */
		int64_t future_skew_ms; /* events stamped further ahead are rejected */
		int64_t dedup_ttl_ms;   /* event ids remembered this long */
		size_t deadletter_max;  /* approximate stream length */
	} limits;

	struct {
		char *level;
	} log;

	json_t *care; /* "care": proactive care (care.h, ch_care_conf_parse); checked at load; NULL: defaults */
};

/*
 * Reads path, applies overrides ("a.b.c=value"; value parsed as JSON when it
 * is valid JSON, else taken as a string), fills defaults, validates everything,
 * and loads the policies file if policies names one.  On error returns
 * CH_ECONFIG with "file:line:col: what is wrong, expected what" in err (for
 * overrides: "-o a.b.c: ...").  *out is owned by the caller (ch_config_free).
 */
int ch_config_load(const char *path, const char *const *overrides, size_t noverrides,
		   struct ch_config **out, char *err, size_t errlen);

/* Same from memory (tests, fuzzing); name stands for the file in messages. */
int ch_config_parse(const char *name, const char *text, size_t len, const char *const *overrides,
		    size_t noverrides, struct ch_config **out, char *err, size_t errlen);

void ch_config_free(struct ch_config *cfg);

/* The policy for a severity name (and an optional rule-named policy), or NULL. */
const struct ch_policy *ch_config_policy(const struct ch_config *cfg, const char *rule_policy,
					 const char *severity);
const struct ch_channel_conf *ch_config_channel(const struct ch_config *cfg, const char *name);

#endif
