/*
 * fuzz_callback.h - the body of a libFuzzer target for one channel plugin's
 * callback() (provider callbacks arrive from the network).  The target file
 * includes the plugin's source, then this header.
 *
 * The first byte picks how the body is signed: with the right secret and a
 * fresh timestamp (so the parser behind the signature check is reached),
 * with another secret, or not at all.  Invariants: a refusal is one of the
 * two the ABI allows; an accepted callback has a key and strings that are
 * NUL-terminated UTF-8 (they go into JSON documents and logs); and what the
 * hub makes of it (ch_control_from_callback, or ch_checkin_from_callback for
 * a check-in call) is a message its own parser accepts.
 */
#ifndef FUZZ_CALLBACK_H
#define FUZZ_CALLBACK_H

#include "alerts.h"
#include "checkin.h"
#include "control.h"
#include "http.h"
#include "plugin_host.h"
#include "registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The host's side of the opaque options handle, for this harness only. */
struct ch_plugin_config {
	const char *const *kv; /* name, value, ..., NULL */
};

static const char *fz_opt_string(const struct ch_plugin_config *cfg, const char *name)
{
	for (const char *const *p = cfg->kv; *p; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

static long long fz_opt_int(const struct ch_plugin_config *cfg, const char *name, long long def)
{
	(void)cfg;
	(void)name;
	return def;
}

static int fz_opt_bool(const struct ch_plugin_config *cfg, const char *name, int def)
{
	(void)cfg;
	(void)name;
	return def;
}

static void fz_log(void *ctx, int level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

static int64_t fz_now(void)
{
	return 1795824900000LL;
}

static void fz_mask(const char *src, char *dst, size_t len)
{
	snprintf(dst, len, "%s", src);
}

static const char fz_registry[] =
	"{\"subjects\":[{\"id\":\"s-001\",\"name\":\"n\",\"address\":\"a\",\"phone\":\"+8613800000000\","
	"\"timezone\":\"Asia/Shanghai\",\"check_in\":{\"at\":\"09:30\",\"channel\":\"chan\"},"
	"\"devices\":[{\"id\":\"pir\",\"type\":\"motion\",\"location\":\"hall\"}],"
	"\"contacts\":[{\"name\":\"n\",\"phone\":\"+8613800000000\",\"role\":\"self\",\"order\":0},"
	"{\"name\":\"f\",\"phone\":\"+8613800000001\",\"role\":\"family\",\"order\":1}]}]}";

static int fz_run(const struct ch_plugin *p, const uint8_t *data, size_t size)
{
	static const char *const kv[] = {"url", "http://127.0.0.1:1/x", "secret_env", "FUZZ_CALLBACK_SECRET",
					 "callback_url", "http://127.0.0.1:1/cb", NULL};
	static const struct ch_plugin_config cfg = {kv};
	static const struct ch_host host = {
		.abi_version = CH_PLUGIN_ABI_VERSION, .struct_size = sizeof(struct ch_host), .log = fz_log,
		.opt_string = fz_opt_string, .opt_int = fz_opt_int, .opt_bool = fz_opt_bool, .now_ms = fz_now,
		.mask = fz_mask, .verify_hmac = ch_channel_verify_hmac};
	static void *ctx;
	static struct ch_registry *reg;
	char err[256], sig[65], ts[32], h1[64], h2[128], *body, *doc = NULL;
	const char *headers[3] = {h1, h2, NULL};
	struct ch_callback_result out;
	enum ch_ack_action act;
	int rc;

	if (!ctx) {
		setenv("FUZZ_CALLBACK_SECRET", "fuzz-secret", 1);
		if (p->init(&host, NULL, &cfg, &ctx, err, sizeof(err)) ||
		    ch_registry_parse("fuzz", fz_registry, strlen(fz_registry), &reg, err, sizeof(err)))
			abort();
	}
	if (size < 1)
		return 0;
	body = malloc(size);
	if (!body)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	snprintf(ts, sizeof(ts), "%lld", (long long)(fz_now() / 1000));
	ch_http_sign_hmac((data[0] & 3) == 1 ? "another-secret" : "fuzz-secret", ts, body, size - 1, sig);
	snprintf(h1, sizeof(h1), "X-Carehub-Timestamp: %s", ts);
	snprintf(h2, sizeof(h2), "X-Carehub-Signature: %s", (data[0] & 3) == 2 ? "" : sig);
	struct ch_callback_request req = {.body = body, .body_len = size - 1, .headers = headers, .now_ms = fz_now()};
	memset(&out, 0, sizeof(out));
	rc = p->callback(ctx, &req, &out, err, sizeof(err));
	if (rc != 0 && rc != CH_CB_UNAUTHORIZED && rc != CH_CB_BAD_REQUEST)
		abort();
	if (rc == 0) {
		if (!memchr(out.idempotency_key, 0, sizeof(out.idempotency_key)) || !out.idempotency_key[0] ||
		    !memchr(out.reason, 0, sizeof(out.reason)) || !ch_utf8_valid(out.reason, strlen(out.reason)) ||
		    !memchr(out.by, 0, sizeof(out.by)) || !ch_utf8_valid(out.by, strlen(out.by)) ||
		    !memchr(out.resolution, 0, sizeof(out.resolution)))
			abort();
		/* A reply names a number: it must be one; the host then takes the latest notification to it. */
		if (strncmp(out.idempotency_key, CH_CB_REPLY_TO, strlen(CH_CB_REPLY_TO)) == 0) {
			const char *num = out.idempotency_key + strlen(CH_CB_REPLY_TO);
			size_t d = strspn(num + (*num == '+'), "0123456789");
			char cid[9];
			if (d < 5 || d > 20 || num[(*num == '+') + d])
				abort();
			ch_alert_contact_id("family", "+8613800000001", cid);
			snprintf(out.idempotency_key, sizeof(out.idempotency_key), "s-001:1:0:%s:chan", cid);
		}
		/* A check-in call's answer ("s-001:checkin:<slot>") goes to the schedule; it must parse back. */
		if (ch_checkin_from_callback(reg, "chan", &out, &doc, err, sizeof(err)) == 0) {
			struct ch_checkin_answer a;
			if (ch_checkin_answer_parse(doc, strlen(doc), &a, err, sizeof(err)) != 0)
				abort();
			free(doc);
			doc = NULL;
		} else if (ch_control_from_callback(reg, "chan", &out, &doc, &act, err, sizeof(err)) == 0) {
			struct ch_ack_req q;
			enum ch_reject why;
			/* What the hub queues for itself must pass its own parser. */
			if (ch_control_ack(doc, strlen(doc), reg, &q, &why, err, sizeof(err)) != 0 || q.action != act)
				abort();
			free(doc);
		}
	}
	free(body);
	return 0;
}

#define FUZZ_CALLBACK(plugin_struct)                                                 \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                 \
	{                                                                            \
		return fz_run(&(plugin_struct), data, size);                         \
	}

#endif
