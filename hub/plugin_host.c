/*
 * plugin_host.c - loads dispatcher plugins and turns them into channels.
 *
 * The order of operations is the safety argument: a .so is opened with
 * RTLD_NOW so that a missing symbol fails here and not on the first alert at
 * 3 a.m.; only the versioned entry symbol is looked up; the plugin struct's
 * abi_version and struct_size are checked before any other field is read;
 * the channel's options are validated against the plugin's own table so that
 * a typo in the config stops the daemon instead of silently dropping a
 * setting; only then does the plugin's init() run.  Each refusal says which
 * channel, which file and what exactly was wrong, goes back in err, and is
 * logged, because an operator reading the log must not have to guess.
 *
 * A channel lends its plugin a struct ch_host whose host_ctx is the
 * channel itself (struct host_channel below), so the plugin's log lines carry
 * the channel's name and its MQTT publishes reach the hub's connection.
 */
#include "plugin_host.h"
#include "clock.h"
#include "http.h"
#include "log.h"

#include <dlfcn.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Plugin file names are limited so that a config value can never reach another directory. */
#define PLUGIN_NAME_MAX 63

/* Room for one refusal: channel, path and reason. */
#define REASON_MAX 1024

/* A plugin's log line before the host prefixes it; longer lines are cut, not dropped. */
#define PLUGIN_LOG_MAX 1024

/*
 * Opaque to plugins: they read it only through opt_string/opt_int/opt_bool, so
 * the host may change how options are stored without touching the ABI.
 */
struct ch_plugin_config {
	json_t *options;     /* owned reference: a JSON object */
	const char *channel; /* borrowed from the channel, which outlives its config */
};

/*
 * What a channel is behind the public struct.  The public part comes first so
 * that a struct ch_channel pointer handed out by ch_channel_open converts back
 * (C11 6.7.2.1p15); callers never see the rest.
 */
struct host_channel {
	struct ch_channel pub;
	struct ch_plugin_config cfg;
	struct ch_host host;                /* lent to the plugin for the channel's lifetime */
	const struct ch_host_services *svc; /* borrowed; may be NULL */
	/* The ABI promises one call at a time per instance: the dispatcher sends
	 * while the HTTP server hands over callbacks. */
	pthread_mutex_t mu;
};

/* ------------------------------------------------------------------------ */
/* Services lent to plugins                                                   */
/* ------------------------------------------------------------------------ */

static enum ch_log_level map_level(int plugin_level)
{
	switch (plugin_level) {
	case CH_PLOG_DEBUG:
		return CH_LOG_DEBUG;
	case CH_PLOG_INFO:
		return CH_LOG_INFO;
	case CH_PLOG_WARN:
		return CH_LOG_WARN;
	default:
		/* An unknown level is a plugin bug; don't let it hide the message. */
		return CH_LOG_ERROR;
	}
}

static void host_log(void *host_ctx, int level, const char *fmt, ...) CH_PRINTF(3, 4);

static void host_log(void *host_ctx, int level, const char *fmt, ...)
{
	const struct host_channel *hc = host_ctx;
	char line[PLUGIN_LOG_MAX], masked[PLUGIN_LOG_MAX];
	va_list ap;

	if (!fmt)
		return;
	va_start(ap, fmt);
	/* Truncation is acceptable here: a cut log line beats a lost one. */
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/*
	 * Plugins promise to mask phone numbers; masking again here means one
	 * careless plugin cannot put a resident's number in the hub's log.
	 */
	ch_log_mask_phone(line, masked, sizeof(masked));
	ch_log(map_level(level), "[channel %s] %s", hc && hc->pub.name ? hc->pub.name : "?",
	       masked);
}

static const char *host_opt_string(const struct ch_plugin_config *cfg, const char *name)
{
	json_t *v;

	if (!cfg || !name)
		return NULL;
	v = json_object_get(cfg->options, name);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long host_opt_int(const struct ch_plugin_config *cfg, const char *name, long long def)
{
	json_t *v;

	if (!cfg || !name)
		return def;
	v = json_object_get(cfg->options, name);
	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static int host_opt_bool(const struct ch_plugin_config *cfg, const char *name, int def)
{
	json_t *v;

	if (!cfg || !name)
		return def;
	v = json_object_get(cfg->options, name);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

static int host_mqtt_publish(void *host_ctx, const char *topic, const void *payload, size_t len,
			     int qos, int retain)
{
	const struct host_channel *hc = host_ctx;

	/* A hub without MQTT (tests, --check) still loads mqtt channels; they just cannot send. */
	if (!hc || !hc->svc || !hc->svc->publish || !topic || (!payload && len))
		return CH_EIO;
	return hc->svc->publish(hc->svc->publish_arg, topic, payload, len, qos, retain);
}

static int64_t host_now_ms(void)
{
	return ch_clock_now_ms();
}

int ch_channel_verify_hmac(const char *key, const char *timestamp, const char *body, size_t len, const char *sig_hex,
			   int64_t now_s, int64_t window_s)
{
	switch (ch_http_verify_hmac(key, timestamp, body, len, sig_hex, now_s, window_s)) {
	case 0:
		return 0;
	case CH_ETIMEOUT:
		return CH_HMAC_STALE;
	case CH_EPROTO:
		return CH_HMAC_BAD;
	default:
		return CH_HMAC_MALFORMED;
	}
}

static void host_mask(const char *src, char *dst, size_t len)
{
	ch_log_mask_phone(src, dst, len);
}

/* ------------------------------------------------------------------------ */
/* Checks that need nothing loaded                                            */
/* ------------------------------------------------------------------------ */

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown JSON value";
}

static const char *opt_type_name(enum ch_opt_type t)
{
	switch (t) {
	case CH_OPT_STRING:
		return "a string";
	case CH_OPT_INT:
		return "an integer";
	case CH_OPT_BOOL:
		return "true or false";
	case CH_OPT_URL:
		return "an http:// or https:// URL";
	case CH_OPT_ENV:
		return "the name of an environment variable ([A-Z_][A-Z0-9_]*)";
	}
	return "?";
}

static bool is_env_name(const char *s)
{
	if (!s || !((*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (s++; *s; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return true;
}

static bool is_http_url(const char *s)
{
	/* Scheme alone is not enough: "http://" with no host would only fail at send time. */
	if (strncmp(s, "http://", 7) == 0)
		return s[7] != '\0';
	if (strncmp(s, "https://", 8) == 0)
		return s[8] != '\0';
	return false;
}

/* The plugin file name: no '/', no '.', nothing that could leave dir. */
static bool is_plugin_name(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return n >= 1 && n <= PLUGIN_NAME_MAX;
}

static const struct ch_plugin_option *find_option(const struct ch_plugin *p, const char *name)
{
	for (const struct ch_plugin_option *o = p->options; o->name; o++) {
		if (strcmp(o->name, name) == 0)
			return o;
	}
	return NULL;
}

/* "url, auth_env" for messages about unknown keys; cut with "..." if it is very long. */
static void list_options(const struct ch_plugin *p, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const struct ch_plugin_option *o = p->options; o->name; o++) {
		int n = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", o->name);
		if (n < 0 || (size_t)n >= len - off) {
			if (len >= 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		off += (size_t)n;
	}
}

int ch_plugin_check(const struct ch_plugin *p, char *err, size_t errlen)
{
	const size_t known = offsetof(struct ch_plugin, reserved);

	if (!p) {
		ch_fmt(err, errlen, "no plugin struct");
		return CH_EPLUGIN;
	}
	/* Nothing past these two fields may be read until both are checked. */
	if (p->abi_version != CH_PLUGIN_ABI_VERSION) {
		ch_fmt(err, errlen, "ABI version %u, host speaks %d", (unsigned)p->abi_version,
		       CH_PLUGIN_ABI_VERSION);
		return CH_EPLUGIN;
	}
	if (p->struct_size < known) {
		ch_fmt(err, errlen, "struct size %u smaller than the host's %zu",
		       (unsigned)p->struct_size, known);
		return CH_EPLUGIN;
	}
	if (!p->name || !*p->name) {
		ch_fmt(err, errlen, "plugin has no name");
		return CH_EPLUGIN;
	}
	if (!p->send) {
		ch_fmt(err, errlen, "plugin %s has no send()", p->name);
		return CH_EPLUGIN;
	}
	if (!p->options) {
		ch_fmt(err, errlen, "plugin %s has no option table (an empty one ends with {NULL})",
		       p->name);
		return CH_EPLUGIN;
	}
	/* A bad table would make option errors lie to the operator; refuse it up front. */
	for (const struct ch_plugin_option *o = p->options; o->name; o++) {
		if (!*o->name) {
			ch_fmt(err, errlen, "plugin %s declares an option with an empty name",
			       p->name);
			return CH_EPLUGIN;
		}
		if (o->type < CH_OPT_STRING || o->type > CH_OPT_ENV) {
			ch_fmt(err, errlen, "plugin %s declares option \"%s\" with unknown type %d",
			       p->name, o->name, (int)o->type);
			return CH_EPLUGIN;
		}
		if (find_option(p, o->name) != o) {
			ch_fmt(err, errlen, "plugin %s declares option \"%s\" twice", p->name,
			       o->name);
			return CH_EPLUGIN;
		}
	}
	return 0;
}

/*
 * Values are never echoed back: a secret put by mistake where its variable's
 * name belongs (auth_env: "sk-...") must not end up in the log.
 */
static int check_value(const struct ch_plugin *p, const struct ch_plugin_option *o, json_t *v,
		       char *err, size_t errlen)
{
	bool ok;

	switch (o->type) {
	case CH_OPT_STRING:
		ok = json_is_string(v);
		break;
	case CH_OPT_INT:
		ok = json_is_integer(v);
		break;
	case CH_OPT_BOOL:
		ok = json_is_boolean(v);
		break;
	case CH_OPT_URL:
		ok = json_is_string(v) && is_http_url(json_string_value(v));
		break;
	case CH_OPT_ENV:
		ok = json_is_string(v) && is_env_name(json_string_value(v));
		break;
	default:
		ok = false;
		break;
	}
	if (ok)
		return 0;
	if (json_is_string(v) && (o->type == CH_OPT_URL || o->type == CH_OPT_ENV))
		ch_fmt(err, errlen, "option \"%s\" for plugin %s must be %s", o->name, p->name,
		       opt_type_name(o->type));
	else
		ch_fmt(err, errlen, "option \"%s\" for plugin %s must be %s, got %s", o->name,
		       p->name, opt_type_name(o->type), json_type_name(v));
	return CH_EPLUGIN;
}

int ch_plugin_validate_options(const struct ch_plugin *p, json_t *options, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	int rc;

	if (!p || !p->options) {
		ch_fmt(err, errlen, "plugin has no option table");
		return CH_EPLUGIN;
	}
	/* NULL means the channel gave no options at all; required ones are still demanded below. */
	if (options && !json_is_object(options)) {
		ch_fmt(err, errlen, "options for plugin %s must be an object, got %s", p->name,
		       json_type_name(options));
		return CH_EPLUGIN;
	}
	json_object_foreach (options, key, v) {
		const struct ch_plugin_option *o = find_option(p, key);
		if (!o) {
			char names[512];
			list_options(p, names, sizeof(names));
			ch_fmt(err, errlen, "unknown option \"%s\" for plugin %s, %s%s", key,
			       p->name, names[0] ? "expected one of: " : "which takes no options",
			       names);
			return CH_EPLUGIN;
		}
		rc = check_value(p, o, v, err, errlen);
		if (rc)
			return rc;
	}
	for (const struct ch_plugin_option *o = p->options; o->name; o++) {
		if (o->required && !json_object_get(options, o->name)) {
			if (o->help && *o->help)
				ch_fmt(err, errlen,
				       "missing required option \"%s\" for plugin %s (%s)", o->name,
				       p->name, o->help);
			else
				ch_fmt(err, errlen, "missing required option \"%s\" for plugin %s",
				       o->name, p->name);
			return CH_EPLUGIN;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                    */
/* ------------------------------------------------------------------------ */

/* Every refusal goes both ways: to the caller and to the log. */
static int refuse(char *err, size_t errlen, const char *reason)
{
	ch_log(CH_LOG_ERROR, "%s", reason);
	if (err && errlen)
		(void)ch_strlcpy(err, reason, errlen);
	return CH_EPLUGIN;
}

static void channel_free(struct host_channel *hc)
{
	if (!hc)
		return;
	json_decref(hc->cfg.options);
	if (hc->pub.dl)
		dlclose(hc->pub.dl);
	free(hc->pub.name);
	pthread_mutex_destroy(&hc->mu);
	free(hc);
}

int ch_channel_open(const char *dir, const char *name, const char *plugin, json_t *options,
		    const struct ch_host_services *svc, struct ch_channel **out, char *err,
		    size_t errlen)
{
	char reason[REASON_MAX], detail[512], path[PATH_MAX];
	struct host_channel *hc = NULL;
	const struct ch_plugin *p;
	ch_plugin_entry_fn entry;
	const char *dlmsg;
	void *sym;
	int rc;

	if (out)
		*out = NULL;
	if (!dir || !name || !*name || !plugin || !out) {
		ch_fmt(reason, sizeof(reason), "channel %s: bad arguments to open it",
		       name && *name ? name : "(unnamed)");
		return refuse(err, errlen, reason);
	}
	if (!is_plugin_name(plugin)) {
		/* The value is not echoed: it may be a path trick and is not useful in a log. */
		ch_fmt(reason, sizeof(reason),
		       "channel %s: plugin name must be 1 to %d of [a-z0-9_] (a file name in "
		       "the plugin directory, without .so)",
		       name, PLUGIN_NAME_MAX);
		return refuse(err, errlen, reason);
	}
	if (ch_fmt(path, sizeof(path), "%s/%s.so", dir, plugin)) {
		ch_fmt(reason, sizeof(reason), "channel %s: plugin path for %s is too long", name,
		       plugin);
		return refuse(err, errlen, reason);
	}

	hc = calloc(1, sizeof(*hc));
	if (hc)
		pthread_mutex_init(&hc->mu, NULL);
	if (!hc || !(hc->pub.name = ch_strdup(name))) {
		free(hc);
		ch_fmt(reason, sizeof(reason), "channel %s: out of memory", name);
		return refuse(err, errlen, reason);
	}

	/* RTLD_NOW: unresolved symbols fail at start, not at the first send. */
	(void)dlerror();
	hc->pub.dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!hc->pub.dl) {
		dlmsg = dlerror();
		ch_fmt(reason, sizeof(reason), "channel %s: cannot load %s: %s", name, path,
		       dlmsg ? dlmsg : "unknown error");
		goto fail;
	}
	(void)dlerror();
	sym = dlsym(hc->pub.dl, CH_PLUGIN_ENTRY_NAME);
	if (!sym) {
		ch_fmt(reason, sizeof(reason),
		       "channel %s: %s has no entry symbol %s (not a carehub plugin, or built for "
		       "another ABI)",
		       name, path, CH_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	/* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
	entry = (ch_plugin_entry_fn)sym;
	p = entry();
	if (!p) {
		ch_fmt(reason, sizeof(reason), "channel %s: %s: %s returned no plugin", name, path,
		       CH_PLUGIN_ENTRY_NAME);
		goto fail;
	}
	if (ch_plugin_check(p, detail, sizeof(detail))) {
		ch_fmt(reason, sizeof(reason), "channel %s: %s: %s", name, path, detail);
		goto fail;
	}
	if (ch_plugin_validate_options(p, options, detail, sizeof(detail))) {
		ch_fmt(reason, sizeof(reason), "channel %s: %s", name, detail);
		goto fail;
	}

	hc->pub.plugin = p;
	hc->pub.cfg = &hc->cfg;
	hc->cfg.channel = hc->pub.name;
	/* An empty object stands for "no options" so opt_* need no NULL case. */
	hc->cfg.options = options ? json_incref(options) : json_object();
	if (!hc->cfg.options) {
		ch_fmt(reason, sizeof(reason), "channel %s: out of memory", name);
		goto fail;
	}
	hc->svc = svc;
	hc->host = (struct ch_host){
		.abi_version = CH_PLUGIN_ABI_VERSION,
		.struct_size = sizeof(struct ch_host),
		.log = host_log,
		.opt_string = host_opt_string,
		.opt_int = host_opt_int,
		.opt_bool = host_opt_bool,
		.mqtt_publish = host_mqtt_publish,
		.now_ms = host_now_ms,
		.mask = host_mask,
		.verify_hmac = ch_channel_verify_hmac,
	};

	if (p->init) {
		detail[0] = '\0';
		rc = p->init(&hc->host, hc, &hc->cfg, &hc->pub.ctx, detail, sizeof(detail));
		/* The plugin may have filled the buffer to the brim; never trust its terminator. */
		detail[sizeof(detail) - 1] = '\0';
		if (rc) {
			ch_fmt(reason, sizeof(reason), "channel %s: plugin %s init failed: %s",
			       name, p->name, detail[0] ? detail : "(no reason given)");
			/* init failed, so there is no instance to fini. */
			goto fail;
		}
	}
	ch_log(CH_LOG_INFO, "channel %s: plugin %s %s loaded from %s", name, p->name,
	       p->version ? p->version : "(no version)", path);
	*out = &hc->pub;
	return 0;

fail:
	channel_free(hc);
	return refuse(err, errlen, reason);
}

void ch_channel_close(struct ch_channel *ch)
{
	/* Every ch_channel comes from ch_channel_open, so it is the head of a host_channel. */
	struct host_channel *hc = (struct host_channel *)ch;

	if (!hc)
		return;
	if (hc->pub.plugin && hc->pub.plugin->fini)
		hc->pub.plugin->fini(hc->pub.ctx);
	hc->pub.ctx = NULL;
	channel_free(hc);
}

/* ------------------------------------------------------------------------ */
/* Calls into a channel, one at a time                                        */
/* ------------------------------------------------------------------------ */

void ch_channel_send(struct ch_channel *ch, const struct ch_notification *n, struct ch_send_result *res)
{
	struct host_channel *hc = (struct host_channel *)ch;

	pthread_mutex_lock(&hc->mu);
	ch->plugin->send(ch->ctx, n, res);
	pthread_mutex_unlock(&hc->mu);
	res->reason[sizeof(res->reason) - 1] = '\0';
	res->provider_ref[sizeof(res->provider_ref) - 1] = '\0';
}

void ch_channel_http_done(struct ch_channel *ch, const struct ch_notification *n,
			  const struct ch_http_response *resp, struct ch_send_result *res)
{
	struct host_channel *hc = (struct host_channel *)ch;

	pthread_mutex_lock(&hc->mu);
	ch->plugin->http_done(ch->ctx, n, resp, res);
	pthread_mutex_unlock(&hc->mu);
	res->reason[sizeof(res->reason) - 1] = '\0';
	res->provider_ref[sizeof(res->provider_ref) - 1] = '\0';
}

int ch_channel_callback(struct ch_channel *ch, const struct ch_callback_request *req,
			struct ch_callback_result *out, char *err, size_t errlen)
{
	struct host_channel *hc = (struct host_channel *)ch;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!ch->plugin->callback) {
		ch_fmt(err, errlen, "plugin %s takes no callbacks", ch->plugin->name);
		return CH_ENOTFOUND;
	}
	err[0] = '\0';
	pthread_mutex_lock(&hc->mu);
	rc = ch->plugin->callback(ch->ctx, req, out, err, errlen);
	pthread_mutex_unlock(&hc->mu);
	/* The plugin's strings come back to host code: never trust their terminators. */
	if (errlen)
		err[errlen - 1] = '\0';
	out->idempotency_key[sizeof(out->idempotency_key) - 1] = '\0';
	out->provider_ref[sizeof(out->provider_ref) - 1] = '\0';
	out->reason[sizeof(out->reason) - 1] = '\0';
	out->resolution[sizeof(out->resolution) - 1] = '\0';
	out->by[sizeof(out->by) - 1] = '\0';
	if (rc == CH_CB_BAD_REQUEST)
		return CH_EINVAL;
	return rc < 0 ? CH_EPROTO : 0;
}
