/*
 * config.c - loading and validating carehubd's configuration.
 *
 * Overrides are applied to the JSON tree first, then the whole tree is
 * validated in one pass that fills struct ch_config.  Errors carry the
 * position of the offending key or value in its file (jdoc.c), or name the
 * override that set it.  Nothing is clamped quietly: a wrong value refuses to
 * start.
 */
#include "config.h"
#include "care.h"
#include "template.h"
#include "adapters.h"
#include "hass.h"
#include "jdoc.h"

#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cctx {
	const struct ch_jdoc *doc;
	const char *const *over_ptrs; /* JSON pointers set by -o */
	const char *const *over_text; /* the -o texts, same order */
	size_t nover;
	const char *base; /* directory of the config file, for relative paths */
	char *err;
	size_t errlen;
};

static int cerr(const struct cctx *c, const char *ptr, const char *fmt, ...) CH_PRINTF(3, 4);
static int cerr(const struct cctx *c, const char *ptr, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* A value an override set (or made) has no place in the file: name the override. */
	for (size_t i = 0; i < c->nover; i++) {
		const char *o = c->over_ptrs[i];
		size_t n = strlen(o), m = strlen(ptr);
		bool below = strncmp(ptr, o, n) == 0 && (ptr[n] == '\0' || ptr[n] == '/');
		bool above = m > 0 && strncmp(o, ptr, m) == 0 && o[m] == '/';
		if (below || above) {
			ch_fmt(c->err, c->errlen, "-o %s: %s", c->over_text[i], msg);
			return CH_ECONFIG;
		}
	}
	return ch_jdoc_err(c->doc, ptr, c->err, c->errlen, "%s", msg);
}

/* "/mqtt/port" -> "mqtt.port" for messages. */
static void dotted(const char *ptr, char *out, size_t len)
{
	size_t o = 0;

	for (const char *p = *ptr == '/' ? ptr + 1 : ptr; *p && o + 1 < len; p++)
		out[o++] = *p == '/' ? '.' : *p;
	out[o] = '\0';
}

static int only_keys(const struct cctx *c, const char *ptr, json_t *obj, const char *const *allowed, size_t n)
{
	const char *k;
	json_t *v;

	json_object_foreach(obj, k, v) {
		bool ok = false;
		for (size_t i = 0; i < n; i++)
			ok |= strcmp(k, allowed[i]) == 0;
		if (!ok) {
			char p[512], where[256], list[512] = "";
			size_t off = 0;
			for (size_t i = 0; i < n && off < sizeof(list); i++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "", allowed[i]);
			ch_fmt(p, sizeof(p), "%s/%s", ptr, k);
			dotted(ptr, where, sizeof(where));
			return cerr(c, p, "unknown key \"%s\" in %s, expected one of %s", k, *where ? where : "the top level",
				    list);
		}
	}
	return 0;
}

static int need_object(const struct cctx *c, const char *ptr, json_t *v)
{
	char name[256];

	if (json_is_object(v))
		return 0;
	dotted(ptr, name, sizeof(name));
	return cerr(c, ptr, "%s must be an object", *name ? name : "the configuration");
}

static int get_str(const struct cctx *c, const char *ptr, json_t *obj, const char *key, const char *def, char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[512], name[256];

	ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
	if (!v || json_is_null(v)) {
		*out = ch_strdup(def);
		return def && !*out ? CH_ENOMEM : 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 1024) {
		dotted(p, name, sizeof(name));
		return cerr(c, p, "%s is not a usable string, expected a non-empty string", name);
	}
	*out = ch_strdup(json_string_value(v));
	return *out ? 0 : CH_ENOMEM;
}

static int get_int(const struct cctx *c, const char *ptr, json_t *obj, const char *key, long long min,
		   long long max, long long def, long long *out)
{
	json_t *v = json_object_get(obj, key);
	char p[512], name[256];

	ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		char shown[64] = "";
		dotted(p, name, sizeof(name));
		if (json_is_string(v))
			ch_fmt(shown, sizeof(shown), " is \"%.40s\",", json_string_value(v));
		else if (json_is_number(v))
			ch_fmt(shown, sizeof(shown), " is %g,", json_number_value(v));
		return cerr(c, p, "%s%s expected an integer %lld..%lld", name, *shown ? shown : "", min, max);
	}
	*out = json_integer_value(v);
	return 0;
}

static int get_bool(const struct cctx *c, const char *ptr, json_t *obj, const char *key, bool def, bool *out)
{
	json_t *v = json_object_get(obj, key);
	char p[512], name[256];

	ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		dotted(p, name, sizeof(name));
		return cerr(c, p, "%s expected true or false", name);
	}
	*out = json_is_true(v);
	return 0;
}

static int duration_of(const struct cctx *c, const char *p, json_t *v, int64_t *out)
{
	char name[256];

	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 100000000000LL) {
		*out = json_integer_value(v) * 1000;
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) >= 0 && json_real_value(v) < 1e11) {
		*out = (int64_t)(json_real_value(v) * 1000);
		return 0;
	}
	if (json_is_string(v) && ch_parse_duration(json_string_value(v), out) == 0)
		return 0;
	dotted(p, name, sizeof(name));
	return cerr(c, p, "%s is not a duration, expected seconds or a string like \"500ms\", \"3s\", \"10m\", \"12h\"",
		    name);
}

static int get_duration(const struct cctx *c, const char *ptr, json_t *obj, const char *key, int64_t def,
			int64_t min, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char p[512], name[256];
	int rc;

	ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if ((rc = duration_of(c, p, v, out)))
		return rc;
	if (*out < min) {
		dotted(p, name, sizeof(name));
		return cerr(c, p, "%s is too short, expected at least %lld ms", name, (long long)min);
	}
	return 0;
}

static bool env_name_ok(const char *s)
{
	if (!s || !*s || !((*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	for (; *s; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	}
	return true;
}

static int get_env(const struct cctx *c, const char *ptr, json_t *obj, const char *key, char **out)
{
	char p[512], name[256];
	int rc = get_str(c, ptr, obj, key, NULL, out);

	if (rc || !*out)
		return rc;
	if (!env_name_ok(*out)) {
		ch_fmt(p, sizeof(p), "%s/%s", ptr, key);
		dotted(p, name, sizeof(name));
		free(*out);
		*out = NULL;
		return cerr(c, p, "%s is not an environment variable name, expected [A-Z_][A-Z0-9_]*", name);
	}
	return 0;
}

/* Relative paths are relative to the config file's directory. */
static int get_path(const struct cctx *c, const char *ptr, json_t *obj, const char *key, const char *def,
		    char **out)
{
	char *v = NULL, buf[4096];
	int rc = get_str(c, ptr, obj, key, def, &v);

	if (rc || !v) {
		*out = v;
		return rc;
	}
	if (v[0] == '/' || !c->base) {
		*out = v;
		return 0;
	}
	if (ch_fmt(buf, sizeof(buf), "%s/%s", c->base, v)) {
		free(v);
		return cerr(c, ptr, "path too long");
	}
	free(v);
	*out = ch_strdup(buf);
	return *out ? 0 : CH_ENOMEM;
}

/* Secrets never live in the file: refuse keys that look like one, anywhere. */
static int no_secrets(const struct cctx *c, const char *ptr, json_t *v)
{
	static const char *const banned[] = {"password", "token", "secret", "api_key", "apikey"};
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			char p[1024];
			int rc;
			ch_fmt(p, sizeof(p), "%s/%s", ptr, k);
			for (size_t b = 0; b < CH_ARRAY_LEN(banned); b++) {
				if (strcmp(k, banned[b]) == 0)
					return cerr(c, p, "\"%s\" in the file: secrets must come from the environment, use %s_env "
							  "naming a variable",
						    k, k);
			}
			if ((rc = no_secrets(c, p, x)))
				return rc;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x) {
			char p[1024];
			int rc;
			ch_fmt(p, sizeof(p), "%s/%zu", ptr, i);
			if ((rc = no_secrets(c, p, x)))
				return rc;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- sections */

static int parse_mqtt(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	static const char *const keys[] = {"host",	   "port",	   "client_id",	"username",
					   "password_env",  "password_file", "keepalive",	"shared_group",
					   "tls",	   "adapters",	   "reconnect_min", "reconnect_max",
					   "homeassistant"};
	static const char *const tkeys[] = {"enabled", "cafile", "certfile", "keyfile", "insecure"};
	json_t *m = json_object_get(root, "mqtt"), *empty = NULL, *tls;
	long long v;
	int rc = 0;

	if (!m)
		m = empty = json_object();
	if ((rc = need_object(c, "/mqtt", m)) || (rc = only_keys(c, "/mqtt", m, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = get_str(c, "/mqtt", m, "host", "127.0.0.1", &cfg->mqtt.host)) ||
	    (rc = get_int(c, "/mqtt", m, "port", 1, 65535, 1883, &v)))
		goto out;
	cfg->mqtt.port = (int)v;
	if ((rc = get_str(c, "/mqtt", m, "client_id", "carehubd", &cfg->mqtt.client_id)) ||
	    (rc = get_str(c, "/mqtt", m, "username", NULL, &cfg->mqtt.username)) ||
	    (rc = get_env(c, "/mqtt", m, "password_env", &cfg->mqtt.password_env)) ||
	    (rc = get_path(c, "/mqtt", m, "password_file", NULL, &cfg->mqtt.password_file)) ||
	    (rc = get_int(c, "/mqtt", m, "keepalive", 5, 3600, 30, &v)))
		goto out;
	cfg->mqtt.keepalive_s = (int)v;
	if ((rc = get_str(c, "/mqtt", m, "shared_group", NULL, &cfg->mqtt.shared_group)) ||
	    (rc = get_duration(c, "/mqtt", m, "reconnect_min", 500, 10, &cfg->mqtt.reconnect_min_ms)) ||
	    (rc = get_duration(c, "/mqtt", m, "reconnect_max", 30000, 10, &cfg->mqtt.reconnect_max_ms)))
		goto out;
	if (cfg->mqtt.shared_group && strpbrk(cfg->mqtt.shared_group, "/+#")) {
		rc = cerr(c, "/mqtt/shared_group", "mqtt.shared_group must not contain / + or #");
		goto out;
	}
	if (cfg->mqtt.reconnect_max_ms < cfg->mqtt.reconnect_min_ms) {
		rc = cerr(c, "/mqtt/reconnect_max", "mqtt.reconnect_max is below reconnect_min");
		goto out;
	}
	tls = json_object_get(m, "tls");
	if (tls) {
		if ((rc = need_object(c, "/mqtt/tls", tls)) ||
		    (rc = only_keys(c, "/mqtt/tls", tls, tkeys, CH_ARRAY_LEN(tkeys))) ||
		    (rc = get_bool(c, "/mqtt/tls", tls, "enabled", true, &cfg->mqtt.tls.enabled)) ||
		    (rc = get_path(c, "/mqtt/tls", tls, "cafile", NULL, &cfg->mqtt.tls.cafile)) ||
		    (rc = get_path(c, "/mqtt/tls", tls, "certfile", NULL, &cfg->mqtt.tls.certfile)) ||
		    (rc = get_path(c, "/mqtt/tls", tls, "keyfile", NULL, &cfg->mqtt.tls.keyfile)) ||
		    (rc = get_bool(c, "/mqtt/tls", tls, "insecure", false, &cfg->mqtt.tls.insecure)))
			goto out;
		if (cfg->mqtt.tls.enabled && !cfg->mqtt.tls.cafile) {
			rc = cerr(c, "/mqtt/tls", "mqtt.tls is enabled without cafile, expected the CA certificate's path");
			goto out;
		}
	}
	json_t *ad = json_object_get(m, "adapters");
	if (ad) {
		if (!json_is_array(ad)) {
			rc = cerr(c, "/mqtt/adapters", "mqtt.adapters must be an array");
			goto out;
		}
		/* Compiled here once so a mistake gets the file position of its adapter. */
		struct ch_adapters *tmp = NULL;
		char msg[512];
		if (ch_adapters_new(ad, &tmp, msg, sizeof(msg))) {
			char p[64] = "/mqtt/adapters";
			const char *br = strchr(msg, '[');
			long idx;
			char num[16] = "";
			for (size_t k = 0; br && k + 1 < sizeof(num) && br[k + 1] >= '0' && br[k + 1] <= '9'; k++)
				num[k] = br[k + 1];
			if (num[0] && ch_parse_long(num, 0, 100000, &idx) == 0)
				ch_fmt(p, sizeof(p), "/mqtt/adapters/%ld", idx);
			rc = cerr(c, p, "%s", msg);
			goto out;
		}
		ch_adapters_free(tmp);
		cfg->mqtt.adapters = json_incref(ad);
	}
	json_t *ha = json_object_get(m, "homeassistant");
	if (ha) {
		struct ch_hass_conf hc;
		char msg[256];
		if (ch_hass_conf_parse(ha, &hc, msg, sizeof(msg))) {
			rc = cerr(c, "/mqtt/homeassistant", "%s", msg);
			goto out;
		}
		cfg->mqtt.homeassistant = json_incref(ha);
	}
out:
	json_decref(empty);
	return rc;
}

static int parse_redis(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	static const char *const keys[] = {"host", "port", "socket", "db", "username", "password_env", "password_file",
					   "prefix"};
	json_t *r = json_object_get(root, "redis"), *empty = NULL;
	long long v;
	int rc;

	if (!r)
		r = empty = json_object();
	if ((rc = need_object(c, "/redis", r)) || (rc = only_keys(c, "/redis", r, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = get_str(c, "/redis", r, "host", "127.0.0.1", &cfg->redis.host)) ||
	    (rc = get_int(c, "/redis", r, "port", 1, 65535, 6379, &v)))
		goto out;
	cfg->redis.port = (int)v;
	if ((rc = get_int(c, "/redis", r, "db", 0, 15, 0, &v)))
		goto out;
	cfg->redis.db = (int)v;
	if ((rc = get_env(c, "/redis", r, "password_env", &cfg->redis.password_env)) ||
	    (rc = get_path(c, "/redis", r, "password_file", NULL, &cfg->redis.password_file)) ||
	    (rc = get_str(c, "/redis", r, "username", NULL, &cfg->redis.username)) ||
	    (rc = get_path(c, "/redis", r, "socket", NULL, &cfg->redis.socket)) ||
	    (rc = get_str(c, "/redis", r, "prefix", "ch:", &cfg->redis.prefix)))
		goto out;
	if (strpbrk(cfg->redis.prefix, "{} \t\r\n")) {
		rc = cerr(c, "/redis/prefix", "redis.prefix must not contain braces or spaces");
		goto out;
	}
out:
	json_decref(empty);
	return rc;
}

static bool name_ok(const char *s);

/* http.service_tokens: [{"name", "role", "token_env"}, ...]. */
static int parse_service_tokens(const struct cctx *c, json_t *h, struct ch_config *cfg)
{
	static const char *const keys[] = {"name", "role", "token_env"};
	json_t *arr = json_object_get(h, "service_tokens"), *t;
	char ptr[128];
	size_t i;
	int rc;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 64)
		return cerr(c, "/http/service_tokens", "http.service_tokens must be an array (at most 64) of "
						       "{\"name\", \"role\", \"token_env\"}");
	cfg->http.service_tokens = calloc(json_array_size(arr) + 1, sizeof(*cfg->http.service_tokens));
	if (!cfg->http.service_tokens)
		return CH_ENOMEM;
	json_array_foreach(arr, i, t) {
		struct ch_service_token *st = &cfg->http.service_tokens[i];
		ch_fmt(ptr, sizeof(ptr), "/http/service_tokens/%zu", i);
		cfg->http.nservice_tokens = i + 1;
		if ((rc = need_object(c, ptr, t)) || (rc = only_keys(c, ptr, t, keys, CH_ARRAY_LEN(keys))) ||
		    (rc = get_str(c, ptr, t, "name", NULL, &st->name)) || (rc = get_str(c, ptr, t, "role", NULL, &st->role)) ||
		    (rc = get_env(c, ptr, t, "token_env", &st->token_env)))
			return rc;
		if (!st->name || !name_ok(st->name) || strcmp(st->name, "service") == 0)
			return cerr(c, ptr, "a service token needs a \"name\" of 1-63 of A-Z a-z 0-9 _ - (not \"service\", "
					    "which is http.token_env's)");
		if (!st->role || (strcmp(st->role, "viewer") && strcmp(st->role, "operator") && strcmp(st->role, "admin")))
			return cerr(c, ptr, "a service token's \"role\" is viewer, operator or admin");
		if (!st->token_env)
			return cerr(c, ptr, "a service token needs \"token_env\": the environment variable holding it");
		for (size_t k = 0; k < i; k++)
			if (strcmp(cfg->http.service_tokens[k].name, st->name) == 0)
				return cerr(c, ptr, "service token \"%s\" is named twice", st->name);
	}
	return 0;
}

/* Only these addresses may serve plain HTTP without http.insecure. */
static bool loopback(const char *addr)
{
	return strcmp(addr, "localhost") == 0 || strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0;
}

/* http.tls {cert_file, key_file}: HTTPS; both or neither. */
static int parse_http_tls(const struct cctx *c, json_t *h, struct ch_config *cfg)
{
	static const char *const keys[] = {"cert_file", "key_file"};
	json_t *t = json_object_get(h, "tls");
	int rc;

	if (!t)
		return 0;
	if ((rc = need_object(c, "/http/tls", t)) || (rc = only_keys(c, "/http/tls", t, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = get_path(c, "/http/tls", t, "cert_file", NULL, &cfg->http.tls.cert_file)) ||
	    (rc = get_path(c, "/http/tls", t, "key_file", NULL, &cfg->http.tls.key_file)))
		return rc;
	if (!cfg->http.tls.cert_file || !cfg->http.tls.key_file)
		return cerr(c, "/http/tls", "http.tls needs both cert_file and key_file (PEM)");
	return 0;
}

static int parse_http(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	static const char *const keys[] = {"enabled",	      "listen",		"port",		"token_env",
					   "token_file",      "service_tokens",	"session_ttl",	"max_connections",
					   "max_connections_per_ip", "timeout", "max_streams",	"sse_keepalive",
					   "tls",	      "insecure",	"metrics_token_env", "metrics_token_file"};
	json_t *h = json_object_get(root, "http"), *empty = NULL;
	long long v, conns, per_ip, streams;
	int rc;

	if (!h)
		h = empty = json_object();
	if ((rc = need_object(c, "/http", h)) || (rc = only_keys(c, "/http", h, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = get_bool(c, "/http", h, "enabled", false, &cfg->http.enabled)) ||
	    (rc = get_str(c, "/http", h, "listen", "127.0.0.1", &cfg->http.listen)) ||
	    (rc = get_int(c, "/http", h, "port", 1, 65535, 8370, &v)) ||
	    (rc = get_duration(c, "/http", h, "session_ttl", 12LL * 3600 * 1000, 60000, &cfg->http.session_ttl_ms)) ||
	    (rc = get_int(c, "/http", h, "max_connections", 16, 10000, 512, &conns)) ||
	    (rc = get_int(c, "/http", h, "max_connections_per_ip", 4, 10000, 128, &per_ip)) ||
	    (rc = get_duration(c, "/http", h, "timeout", 10000, 1000, &cfg->http.timeout_ms)) ||
	    (rc = get_int(c, "/http", h, "max_streams", 1, 10000, 64, &streams)) ||
	    (rc = get_duration(c, "/http", h, "sse_keepalive", 15000, 100, &cfg->http.sse_keepalive_ms)))
		goto out;
	cfg->http.port = (int)v;
	cfg->http.max_connections = (int)conns;
	cfg->http.max_per_ip = (int)per_ip;
	cfg->http.max_streams = (int)streams;
	if (streams >= conns) {
		rc = cerr(c, "/http/max_streams", "http.max_streams (%lld) must be below http.max_connections (%lld): "
						  "live feeds must leave room for everything else", streams, conns);
		goto out;
	}
	if ((rc = get_env(c, "/http", h, "token_env", &cfg->http.token_env)) ||
	    (rc = get_path(c, "/http", h, "token_file", NULL, &cfg->http.token_file)) ||
	    (rc = get_env(c, "/http", h, "metrics_token_env", &cfg->http.metrics_token_env)) ||
	    (rc = get_path(c, "/http", h, "metrics_token_file", NULL, &cfg->http.metrics_token_file)) ||
	    (rc = get_bool(c, "/http", h, "insecure", false, &cfg->http.insecure)) ||
	    (rc = parse_http_tls(c, h, cfg)) || (rc = parse_service_tokens(c, h, cfg)))
		goto out;
	/* Names, addresses and phone numbers must not cross a network in clear text by accident. */
	if (cfg->http.enabled && !loopback(cfg->http.listen) && !cfg->http.tls.cert_file && !cfg->http.insecure)
		rc = cerr(c, json_object_get(h, "listen") ? "/http/listen" : "/http",
			  "http.listen \"%.64s\" is not a loopback address and http.tls is not set, expected http.tls "
			  "{\"cert_file\", \"key_file\"}, or \"insecure\": true behind a TLS proxy",
			  cfg->http.listen);
out:
	json_decref(empty);
	return rc;
}

static int parse_file_ref(const struct cctx *c, json_t *root, const char *key, const char *def, char **out)
{
	static const char *const keys[] = {"file"};
	char ptr[64];
	json_t *o = json_object_get(root, key), *empty = NULL;
	int rc;

	ch_fmt(ptr, sizeof(ptr), "/%s", key);
	if (!o)
		o = empty = json_object();
	if (!(rc = need_object(c, ptr, o)) && !(rc = only_keys(c, ptr, o, keys, 1)))
		rc = get_path(c, ptr, o, "file", def, out);
	json_decref(empty);
	return rc;
}

static int parse_limits(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	static const char *const keys[] = {"max_payload", "max_depth", "queue_capacity", "batch_size",
					   "future_skew", "dedup_ttl", "deadletter_max"};
	json_t *l = json_object_get(root, "limits"), *empty = NULL;
	long long v;
	int rc;

	if (!l)
		l = empty = json_object();
	if ((rc = need_object(c, "/limits", l)) || (rc = only_keys(c, "/limits", l, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = get_int(c, "/limits", l, "max_payload", 256, 16 << 20, 65536, &v)))
		goto out;
	cfg->limits.max_payload = (size_t)v;
	if ((rc = get_int(c, "/limits", l, "max_depth", 2, 64, 16, &v)))
		goto out;
	cfg->limits.max_depth = (int)v;
	if ((rc = get_int(c, "/limits", l, "queue_capacity", 16, 10000000, 10000, &v)))
		goto out;
	cfg->limits.queue_capacity = (int)v;
	if ((rc = get_int(c, "/limits", l, "batch_size", 1, 10000, 256, &v)))
		goto out;
	cfg->limits.batch_size = (int)v;
	if ((rc = get_duration(c, "/limits", l, "future_skew", 300000, 0, &cfg->limits.future_skew_ms)) ||
	    (rc = get_duration(c, "/limits", l, "dedup_ttl", 86400000, 1000, &cfg->limits.dedup_ttl_ms)) ||
	    (rc = get_int(c, "/limits", l, "deadletter_max", 100, 100000000, 100000, &v)))
		goto out;
	cfg->limits.deadletter_max = (size_t)v;
out:
	json_decref(empty);
	return rc;
}

static bool name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char ch = s[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '-'))
			return false;
	}
	return n >= 1 && n <= 63;
}

/* "rate_limit": [[N, window], ...] per contact and channel; up to four windows. */
static int parse_rate(const struct cctx *c, const char *ptr, json_t *ch, struct ch_channel_conf *cc)
{
	json_t *v = json_object_get(ch, "rate_limit"), *e;
	char p[300];
	size_t i;
	int rc;

	if (!v)
		return 0;
	ch_fmt(p, sizeof(p), "%s/rate_limit", ptr);
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CH_ARRAY_LEN(cc->rate))
		return cerr(c, p, "rate_limit is not valid, expected 1-4 pairs [count, window], e.g. [[1, \"1m\"], "
				  "[5, \"1h\"], [20, \"1d\"]]");
	json_array_foreach(v, i, e) {
		char ep[320];
		ch_fmt(ep, sizeof(ep), "%s/%zu", p, i);
		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(json_array_get(e, 0)) ||
		    json_integer_value(json_array_get(e, 0)) < 1 || json_integer_value(json_array_get(e, 0)) > 100000)
			return cerr(c, ep, "rate limit is not valid, expected [count 1-100000, window]");
		cc->rate[i].max = (int)json_integer_value(json_array_get(e, 0));
		ch_fmt(ep, sizeof(ep), "%s/%zu/1", p, i);
		if ((rc = duration_of(c, ep, json_array_get(e, 1), &cc->rate[i].window_ms)))
			return rc;
		if (cc->rate[i].window_ms < 1000)
			return cerr(c, ep, "rate limit window is too short, expected at least 1s");
		cc->nrate = i + 1;
	}
	return 0;
}

static int parse_channels(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	json_t *chs = json_object_get(root, "channels"), *ch;
	const char *name;
	size_t i = 0;
	int rc;

	if (!chs)
		return 0;
	if ((rc = need_object(c, "/channels", chs)))
		return rc;
	cfg->channels = calloc(json_object_size(chs) + 1, sizeof(*cfg->channels));
	if (!cfg->channels)
		return CH_ENOMEM;
	json_object_foreach(chs, name, ch) {
		struct ch_channel_conf *cc = &cfg->channels[i];
		char ptr[256];
		long long v;

		ch_fmt(ptr, sizeof(ptr), "/channels/%s", name);
		if (!name_ok(name))
			return cerr(c, ptr, "channel name \"%.64s\" is not valid, expected 1-63 of A-Z a-z 0-9 _ -", name);
		if ((rc = need_object(c, ptr, ch)))
			return rc;
		cc->name = ch_strdup(name);
		cfg->nchannels = ++i;
		if (!cc->name)
			return CH_ENOMEM;
		if (!json_object_get(ch, "plugin"))
			return cerr(c, ptr, "channel %s has no \"plugin\", expected the plugin's name (webhook, log, mqtt, ...)",
				    name);
		if ((rc = get_str(c, ptr, ch, "plugin", NULL, &cc->plugin)) ||
		    (rc = get_duration(c, ptr, ch, "timeout", 10000, 10, &cc->timeout_ms)) ||
		    (rc = get_int(c, ptr, ch, "max_attempts", 1, 100, 6, &v)))
			return rc;
		cc->max_attempts = (int)v;
		if ((rc = get_duration(c, ptr, ch, "backoff_base", 500, 1, &cc->backoff_base_ms)) ||
		    (rc = get_duration(c, ptr, ch, "backoff_cap", 30000, 1, &cc->backoff_cap_ms)) ||
		    (rc = get_int(c, ptr, ch, "max_inflight", 1, 10000, 16, &v)))
			return rc;
		cc->max_inflight = (int)v;
		if ((rc = parse_rate(c, ptr, ch, cc)) ||
		    (rc = get_bool(c, ptr, ch, "at_most_once", false, &cc->at_most_once)))
			return rc;
		/* What is left belongs to the plugin; the plugin host checks it. */
		cc->options = json_deep_copy(ch);
		if (!cc->options)
			return CH_ENOMEM;
		static const char *const host_keys[] = {"plugin",      "timeout",      "max_attempts", "backoff_base",
							"backoff_cap", "max_inflight", "rate_limit",   "at_most_once"};
		for (size_t k = 0; k < CH_ARRAY_LEN(host_keys); k++)
			json_object_del(cc->options, host_keys[k]);
	}
	return 0;
}

static const char *const roles[] = {"self", "family", "caregiver", "neighbour", "caseworker", "centre", "maintenance"};

static int str_list(const struct cctx *c, const char *ptr, json_t *arr, const char *what, char ***out, size_t *n)
{
	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return cerr(c, ptr, "%s must be a non-empty array of strings", what);
	*out = calloc(json_array_size(arr) + 1, sizeof(**out));
	if (!*out)
		return CH_ENOMEM;
	for (size_t i = 0; i < json_array_size(arr); i++) {
		json_t *v = json_array_get(arr, i);
		char p[512];
		ch_fmt(p, sizeof(p), "%s/%zu", ptr, i);
		if (!json_is_string(v))
			return cerr(c, p, "%s must hold strings", what);
		(*out)[i] = ch_strdup(json_string_value(v));
		*n = i + 1;
		if (!(*out)[i])
			return CH_ENOMEM;
	}
	return 0;
}

static int known_channels(const struct cctx *c, const char *ptr, const struct ch_config *cfg, char **names, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (!ch_config_channel(cfg, names[k])) {
			char x[700];
			ch_fmt(x, sizeof(x), "%s/%zu", ptr, k);
			return cerr(c, x, "channel \"%.64s\" is not configured, expected one of the names under channels",
				    names[k]);
		}
	}
	return 0;
}

static int parse_policy(const struct cctx *c, const char *ptr, const char *name, json_t *o, struct ch_config *cfg,
			struct ch_policy *pol)
{
	static const char *const keys[] = {"steps", "repeat", "repeat_after", "description"};
	static const char *const skeys[] = {"after", "roles", "channels", "fallback", "contacts", "when_limited"};
	json_t *steps;
	long long v;
	int rc;

	if ((rc = need_object(c, ptr, o)) || (rc = only_keys(c, ptr, o, keys, CH_ARRAY_LEN(keys))))
		return rc;
	pol->name = ch_strdup(name);
	if (!pol->name)
		return CH_ENOMEM;
	if ((rc = get_int(c, ptr, o, "repeat", 0, 100, 0, &v)))
		return rc;
	pol->repeat = (int)v;
	if ((rc = get_duration(c, ptr, o, "repeat_after", 600000, 1000, &pol->repeat_after_ms)))
		return rc;
	char sp[512];
	ch_fmt(sp, sizeof(sp), "%s/steps", ptr);
	steps = json_object_get(o, "steps");
	if (!json_is_array(steps) || json_array_size(steps) == 0)
		return cerr(c, steps ? sp : ptr, "policy %s needs \"steps\", expected a non-empty array", name);
	pol->steps = calloc(json_array_size(steps), sizeof(*pol->steps));
	if (!pol->steps)
		return CH_ENOMEM;
	for (size_t i = 0; i < json_array_size(steps); i++) {
		struct ch_policy_step *st = &pol->steps[i];
		json_t *s = json_array_get(steps, i);
		char p[512], q[600];

		ch_fmt(p, sizeof(p), "%s/%zu", sp, i);
		if ((rc = need_object(c, p, s)) || (rc = only_keys(c, p, s, skeys, CH_ARRAY_LEN(skeys))) ||
		    (rc = get_duration(c, p, s, "after", 0, 0, &st->after_ms)))
			return rc;
		pol->nsteps = i + 1;
		if (i > 0 && st->after_ms < pol->steps[i - 1].after_ms) {
			ch_fmt(q, sizeof(q), "%s/after", p);
			return cerr(c, q, "steps must not go back in time: this step's \"after\" is before the previous one's");
		}
		ch_fmt(q, sizeof(q), "%s/roles", p);
		if ((rc = str_list(c, q, json_object_get(s, "roles"), "roles", &st->roles, &st->nroles)))
			return rc;
		for (size_t r = 0; r < st->nroles; r++) {
			bool ok = false;
			for (size_t k = 0; k < CH_ARRAY_LEN(roles); k++)
				ok |= strcmp(st->roles[r], roles[k]) == 0;
			if (!ok) {
				char x[700];
				ch_fmt(x, sizeof(x), "%s/%zu", q, r);
				return cerr(c, x, "role \"%.32s\" is unknown, expected self, family, caregiver, neighbour, "
						  "caseworker, centre or maintenance",
					    st->roles[r]);
			}
		}
		ch_fmt(q, sizeof(q), "%s/channels", p);
		if ((rc = str_list(c, q, json_object_get(s, "channels"), "channels", &st->channels, &st->nchannels)) ||
		    (rc = known_channels(c, q, cfg, st->channels, st->nchannels)))
			return rc;
		ch_fmt(q, sizeof(q), "%s/fallback", p);
		if (json_object_get(s, "fallback") &&
		    ((rc = str_list(c, q, json_object_get(s, "fallback"), "fallback", &st->fallback, &st->nfallback)) ||
		     (rc = known_channels(c, q, cfg, st->fallback, st->nfallback))))
			return rc;
		json_t *who = json_object_get(s, "contacts");
		ch_fmt(q, sizeof(q), "%s/contacts", p);
		if (who && (!json_is_string(who) || (strcmp(json_string_value(who), "all") != 0 &&
						     strcmp(json_string_value(who), "first") != 0)))
			return cerr(c, q, "\"contacts\" must be \"all\" (every contact of the roles at once) or \"first\" "
					  "(the first in order; the next one if every channel to it fails)");
		st->first_contact = who && strcmp(json_string_value(who), "first") == 0;
		json_t *wl = json_object_get(s, "when_limited");
		ch_fmt(q, sizeof(q), "%s/when_limited", p);
		if (wl && (!json_is_string(wl) || (strcmp(json_string_value(wl), "wait") != 0 &&
						   strcmp(json_string_value(wl), "fallback") != 0)))
			return cerr(c, q, "\"when_limited\" must be \"wait\" (send when the number's rate limit allows) or "
					  "\"fallback\" (try the step's fallback channel or next contact now)");
		st->fallback_when_limited = wl && strcmp(json_string_value(wl), "fallback") == 0;
	}
	return 0;
}

static int parse_policies_obj(const struct cctx *c, const char *ptr, json_t *o, struct ch_config *cfg)
{
	static const char *const keys[] = {"by_severity", "policies"};
	json_t *pols, *bys, *v;
	const char *k;
	char p[512];
	size_t i = 0;
	int rc;

	if ((rc = need_object(c, ptr, o)) || (rc = only_keys(c, ptr, o, keys, CH_ARRAY_LEN(keys))))
		return rc;
	ch_fmt(p, sizeof(p), "%s/policies", ptr);
	pols = json_object_get(o, "policies");
	if (!json_is_object(pols) || json_object_size(pols) == 0)
		return cerr(c, pols ? p : ptr, "\"policies\" must be an object of named policies");
	cfg->policies = calloc(json_object_size(pols), sizeof(*cfg->policies));
	if (!cfg->policies)
		return CH_ENOMEM;
	json_object_foreach(pols, k, v) {
		char q[600];
		ch_fmt(q, sizeof(q), "%s/%s", p, k);
		/* Counted before parsing so a half-built policy is freed with the rest. */
		cfg->npolicies = i + 1;
		if ((rc = parse_policy(c, q, k, v, cfg, &cfg->policies[i])))
			return rc;
		i++;
	}
	ch_fmt(p, sizeof(p), "%s/by_severity", ptr);
	bys = json_object_get(o, "by_severity");
	if (bys && !json_is_object(bys))
		return cerr(c, p, "by_severity must be an object");
	json_object_foreach(bys, k, v) {
		enum ch_severity sev;
		char q[600];
		ch_fmt(q, sizeof(q), "%s/%s", p, k);
		if (ch_severity_parse(k, &sev))
			return cerr(c, q, "\"%.32s\" is not a severity, expected info, low, medium, high or critical", k);
		if (!json_is_string(v) || !ch_config_policy(cfg, json_string_value(v), NULL))
			return cerr(c, q, "by_severity.%s names no policy, expected one of the names under policies", k);
		cfg->severity_policy[sev] = ch_strdup(json_string_value(v));
	}
	/* Every severity must lead somewhere: "default" fills the gaps, else it is an error. */
	for (int s = 0; s < CH_SEV_COUNT; s++) {
		if (cfg->severity_policy[s])
			continue;
		if (!ch_config_policy(cfg, "default", NULL))
			return cerr(c, bys ? p : ptr, "no policy for severity %s, expected an entry in by_severity or a policy "
						     "named \"default\"",
				    ch_severity_name((enum ch_severity)s));
		cfg->severity_policy[s] = ch_strdup("default");
	}
	return 0;
}

static int parse_policies(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	json_t *p = json_object_get(root, "policies");
	int rc;

	if (!p)
		return cerr(c, "", "missing \"policies\", expected {\"file\": \"policies.json\"} or the policies inline");
	if ((rc = need_object(c, "/policies", p)))
		return rc;
	if (json_object_get(p, "file")) {
		static const char *const keys[] = {"file"};
		char *path = NULL;
		struct ch_jdoc *doc;
		if ((rc = only_keys(c, "/policies", p, keys, 1)) || (rc = get_path(c, "/policies", p, "file", NULL, &path)))
			return rc;
		rc = ch_jdoc_load(path, &doc, c->err, c->errlen);
		free(path);
		if (rc)
			return rc;
		/* Errors in the policies file point into that file. */
		struct cctx fc = *c;
		fc.doc = doc;
		fc.nover = 0;
		rc = parse_policies_obj(&fc, "", ch_jdoc_root(doc), cfg);
		ch_jdoc_free(doc);
		return rc;
	}
	return parse_policies_obj(c, "/policies", p, cfg);
}

/*
 * "templates": {"file": "templates.json"} or the texts inline; absent: the
 * built-in zh and en texts.  Either way they are loaded here, so --check finds
 * a misspelt placeholder.
 */
static int parse_templates(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	json_t *t = json_object_get(root, "templates"), *doc = NULL;
	char why[512];
	int rc;

	if (t && (rc = need_object(c, "/templates", t)))
		return rc;
	if (t && json_object_get(t, "file")) {
		static const char *const keys[] = {"file"};
		char *path = NULL;
		json_error_t je;
		if ((rc = only_keys(c, "/templates", t, keys, 1)) || (rc = get_path(c, "/templates", t, "file", NULL, &path)))
			return rc;
		doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!doc) {
			rc = je.line > 0 ? cerr(c, "/templates/file", "%s:%d:%d: %s", path, je.line, je.column, je.text)
					 : cerr(c, "/templates/file", "%s", je.text);
			free(path);
			return rc;
		}
		rc = ch_templates_load(doc, &cfg->templates, why, sizeof(why));
		if (rc)
			rc = cerr(c, "/templates/file", "%s: %s", path, why);
		free(path);
		json_decref(doc);
		return rc;
	}
	if ((rc = ch_templates_load(t, &cfg->templates, why, sizeof(why))))
		return rc == CH_ENOMEM ? rc : cerr(c, "/templates", "%s", why);
	return 0;
}

/* "care": check-in digests and reports (care.h); its own parser, the error where it is. */
static int parse_care(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	json_t *v = json_object_get(root, "care");
	struct ch_care_conf cc;
	char ptr[64], p[80], why[256];

	if (!v)
		return 0;
	if (ch_care_conf_parse(v, &cc, ptr, sizeof(ptr), why, sizeof(why))) {
		ch_fmt(p, sizeof(p), "/care%s", ptr);
		return cerr(c, p, "%s", why);
	}
	if (cc.digest && cc.channel[0] && !ch_config_channel(cfg, cc.channel))
		return cerr(c, "/care/digest/channel", "channel \"%s\" is not configured, expected one of the names under "
						       "channels",
			    cc.channel);
	cfg->care = json_incref(v);
	return 0;
}

static int parse_all(const struct cctx *c, json_t *root, struct ch_config *cfg)
{
	static const char *const keys[] = {"instance", "state_dir", "plugins_dir", "timezone",  "language",
					   "mqtt",     "redis",     "http",	"registry",  "rules",
					   "policies", "channels",  "templates", "limits",    "log",
					   "centre_phone", "care"};
	json_t *log;
	int rc;

	if ((rc = need_object(c, "", root)) || (rc = only_keys(c, "", root, keys, CH_ARRAY_LEN(keys))) ||
	    (rc = no_secrets(c, "", root)) || (rc = parse_mqtt(c, root, cfg)) || (rc = parse_redis(c, root, cfg)) ||
	    (rc = parse_http(c, root, cfg)) || (rc = get_str(c, "", root, "instance", cfg->mqtt.client_id, &cfg->instance)) ||
	    (rc = get_path(c, "", root, "state_dir", "state", &cfg->state_dir)) ||
	    (rc = get_path(c, "", root, "plugins_dir", "plugins", &cfg->plugins_dir)) ||
	    (rc = get_str(c, "", root, "timezone", "UTC", &cfg->timezone)) ||
	    (rc = parse_file_ref(c, root, "registry", "registry.json", &cfg->registry.file)) ||
	    (rc = parse_file_ref(c, root, "rules", "rules.json", &cfg->rules.file)) ||
	    (rc = parse_limits(c, root, cfg)) || (rc = parse_channels(c, root, cfg)) ||
	    (rc = parse_policies(c, root, cfg)) || (rc = get_str(c, "", root, "language", "zh", &cfg->language)) ||
	    (rc = parse_templates(c, root, cfg)) || (rc = parse_care(c, root, cfg)))
		return rc;
	if ((rc = get_str(c, "", root, "centre_phone", NULL, &cfg->centre_phone)))
		return rc;
	if (cfg->centre_phone && (strlen(cfg->centre_phone) > 32 || strspn(cfg->centre_phone, "+0123456789- ") !=
									       strlen(cfg->centre_phone)))
		return cerr(c, "/centre_phone", "centre_phone \"%.40s\" is not a phone number, expected digits, '+', '-' "
						 "and spaces, e.g. \"021-12345678\"", cfg->centre_phone);
	if (!ch_template_lang_ok(cfg->language))
		return cerr(c, "/language", "language \"%.16s\" is not a code, expected e.g. \"zh\", \"en\" or \"zh-CN\"",
			    cfg->language);
	if (!name_ok(cfg->instance))
		return cerr(c, "/instance", "instance \"%.64s\" is not valid, expected 1-63 of A-Z a-z 0-9 _ -", cfg->instance);
	log = json_object_get(root, "log");
	if (log) {
		static const char *const lkeys[] = {"level"};
		if ((rc = need_object(c, "/log", log)) || (rc = only_keys(c, "/log", log, lkeys, 1)))
			return rc;
	}
	if ((rc = get_str(c, "/log", log, "level", "info", &cfg->log.level)))
		return rc;
	if (strcmp(cfg->log.level, "debug") && strcmp(cfg->log.level, "info") && strcmp(cfg->log.level, "warn") &&
	    strcmp(cfg->log.level, "error"))
		return cerr(c, "/log/level", "log.level \"%.16s\" is unknown, expected debug, info, warn or error",
			    cfg->log.level);
	return 0;
}

/* ---------------------------------------------------------------- overrides */

static int apply_override(json_t *root, const char *text, char *ptr, size_t ptrlen, char *err, size_t errlen)
{
	const char *eq = strchr(text, '=');
	const char *seg = text;
	json_t *node = root, *val;
	size_t off = 0;

	if (!eq || eq == text) {
		ch_fmt(err, errlen, "-o %s: expected path=value, e.g. -o mqtt.port=18830", text);
		return CH_ECONFIG;
	}
	if (!json_is_object(root)) {
		ch_fmt(err, errlen, "-o %s: the configuration is not a JSON object, expected {...}", text);
		return CH_ECONFIG;
	}
	ptr[0] = '\0';
	for (;;) {
		const char *dot = memchr(seg, '.', (size_t)(eq - seg));
		const char *end = dot ? dot : eq;
		char key[256];
		size_t n = (size_t)(end - seg);

		if (n == 0 || n >= sizeof(key)) {
			ch_fmt(err, errlen, "-o %s: empty or overlong path segment", text);
			return CH_ECONFIG;
		}
		memcpy(key, seg, n);
		key[n] = '\0';
		off += (size_t)snprintf(ptr + off, off < ptrlen ? ptrlen - off : 0, "/%s", key);
		if (!dot) {
			val = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
			if (!val)
				val = json_string(eq + 1);
			if (!val || json_object_set_new(node, key, val))
				return CH_ENOMEM;
			return 0;
		}
		json_t *child = json_object_get(node, key);
		if (!child) {
			child = json_object();
			if (!child || json_object_set_new(node, key, child))
				return CH_ENOMEM;
		}
		if (!json_is_object(child)) {
			ch_fmt(err, errlen, "-o %s: %s is not an object, cannot set a key inside it", text, key);
			return CH_ECONFIG;
		}
		node = child;
		seg = dot + 1;
	}
}

static int load(const char *name, struct ch_jdoc *doc, const char *const *overrides, size_t nover,
		struct ch_config **out, char *err, size_t errlen)
{
	struct ch_config *cfg = calloc(1, sizeof(*cfg));
	char **ptrs = calloc(nover + 1, sizeof(*ptrs));
	char *dir = NULL;
	int rc = 0;

	if (!cfg || !ptrs) {
		free(cfg);
		free(ptrs);
		return CH_ENOMEM;
	}
	for (size_t i = 0; i < nover && !rc; i++) {
		ptrs[i] = malloc(512);
		if (!ptrs[i]) {
			rc = CH_ENOMEM;
			break;
		}
		rc = apply_override(ch_jdoc_root(doc), overrides[i], ptrs[i], 512, err, errlen);
	}
	if (!rc) {
		char *copy = ch_strdup(name);
		dir = copy ? ch_strdup(dirname(copy)) : NULL;
		free(copy);
		struct cctx c = {doc, (const char *const *)ptrs, overrides, nover, dir, err, errlen};
		cfg->file = ch_strdup(name);
		rc = parse_all(&c, ch_jdoc_root(doc), cfg);
	}
	for (size_t i = 0; i < nover; i++)
		free(ptrs[i]);
	free(ptrs);
	free(dir);
	if (rc) {
		ch_config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

int ch_config_load(const char *path, const char *const *overrides, size_t noverrides, struct ch_config **out,
		   char *err, size_t errlen)
{
	struct ch_jdoc *doc;
	int rc = ch_jdoc_load(path, &doc, err, errlen);

	if (rc)
		return rc;
	rc = load(path, doc, overrides, noverrides, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

int ch_config_parse(const char *name, const char *text, size_t len, const char *const *overrides, size_t noverrides,
		    struct ch_config **out, char *err, size_t errlen)
{
	struct ch_jdoc *doc;
	int rc = ch_jdoc_parse(name, text, len, &doc, err, errlen);

	if (rc)
		return rc;
	rc = load(name, doc, overrides, noverrides, out, err, errlen);
	ch_jdoc_free(doc);
	return rc;
}

void ch_config_free(struct ch_config *cfg)
{
	if (!cfg)
		return;
	json_decref(cfg->care);
	for (size_t i = 0; i < cfg->npolicies; i++) {
		struct ch_policy *p = &cfg->policies[i];
		for (size_t s = 0; s < p->nsteps; s++) {
			for (size_t k = 0; k < p->steps[s].nroles; k++)
				free(p->steps[s].roles[k]);
			for (size_t k = 0; k < p->steps[s].nchannels; k++)
				free(p->steps[s].channels[k]);
			for (size_t k = 0; k < p->steps[s].nfallback; k++)
				free(p->steps[s].fallback[k]);
			free(p->steps[s].roles);
			free(p->steps[s].channels);
			free(p->steps[s].fallback);
		}
		free(p->steps);
		free(p->name);
	}
	free(cfg->policies);
	for (int s = 0; s < CH_SEV_COUNT; s++)
		free(cfg->severity_policy[s]);
	for (size_t i = 0; i < cfg->nchannels; i++) {
		free(cfg->channels[i].name);
		free(cfg->channels[i].plugin);
		json_decref(cfg->channels[i].options);
	}
	free(cfg->channels);
	free(cfg->file);
	free(cfg->instance);
	free(cfg->state_dir);
	free(cfg->plugins_dir);
	free(cfg->timezone);
	free(cfg->language);
	free(cfg->centre_phone);
	ch_templates_free(cfg->templates);
	free(cfg->mqtt.host);
	free(cfg->mqtt.client_id);
	free(cfg->mqtt.username);
	free(cfg->mqtt.password_env);
	free(cfg->mqtt.password_file);
	free(cfg->mqtt.shared_group);
	free(cfg->mqtt.tls.cafile);
	free(cfg->mqtt.tls.certfile);
	free(cfg->mqtt.tls.keyfile);
	json_decref(cfg->mqtt.adapters);
	json_decref(cfg->mqtt.homeassistant);
	free(cfg->redis.host);
	free(cfg->redis.password_env);
	free(cfg->redis.password_file);
	free(cfg->redis.username);
	free(cfg->redis.socket);
	free(cfg->redis.prefix);
	free(cfg->http.listen);
	free(cfg->http.token_env);
	for (size_t i = 0; i < cfg->http.nservice_tokens; i++) {
		free(cfg->http.service_tokens[i].name);
		free(cfg->http.service_tokens[i].role);
		free(cfg->http.service_tokens[i].token_env);
	}
	free(cfg->http.service_tokens);
	free(cfg->http.token_file);
	free(cfg->http.metrics_token_env);
	free(cfg->http.metrics_token_file);
	free(cfg->http.tls.cert_file);
	free(cfg->http.tls.key_file);
	free(cfg->registry.file);
	free(cfg->rules.file);
	free(cfg->log.level);
	free(cfg);
}

const struct ch_policy *ch_config_policy(const struct ch_config *cfg, const char *rule_policy, const char *severity)
{
	enum ch_severity sev;

	for (size_t i = 0; rule_policy && i < cfg->npolicies; i++) {
		if (strcmp(cfg->policies[i].name, rule_policy) == 0)
			return &cfg->policies[i];
	}
	if (severity && ch_severity_parse(severity, &sev) == 0 && cfg->severity_policy[sev])
		return ch_config_policy(cfg, cfg->severity_policy[sev], NULL);
	return NULL;
}

const struct ch_channel_conf *ch_config_channel(const struct ch_config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->nchannels; i++) {
		if (strcmp(cfg->channels[i].name, name) == 0)
			return &cfg->channels[i];
	}
	return NULL;
}
