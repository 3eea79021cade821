/*
 * log.c - the "log" dispatcher plugin: appends one JSON line per notification
 * to a file, for audit trails, drills and installations without a provider.
 *
 * Each line is {"ts","channel","key","step","attempt","notification"} where
 * notification is the notification document with the contact's phone number
 * (and any number in the rendered text) masked: the file is a log, and the
 * hub promises that logs carry no phone numbers.  A line goes out in one
 * write(2) on an O_APPEND descriptor so that lines from several hub instances
 * sharing the file do not interleave in practice.
 *
 * The plugin uses jansson without linking it: the host process already has it
 * loaded, and RTLD_NOW makes a host without it refuse the plugin at start.
 */
#include "carehub_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct logplug {
	const struct ch_host *host; /* borrowed for the instance's lifetime */
	void *host_ctx;
	int fd;
	/* The last write stopped mid-line: start the next with '\n' so lines stay parseable. */
	int torn;
};

static const struct ch_plugin_option options[] = {
	{.name = "path",
	 .type = CH_OPT_STRING,
	 .required = 1,
	 .help = "file to append JSON lines to"},
	{.name = NULL},
};

/* A log file in a directory that does not exist yet (a fresh ./run/): make it, 0700. */
static int make_parents(const char *path)
{
	char dir[4096];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return -1;
	memcpy(dir, path, n + 1);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

static int log_init(const struct ch_host *host, void *host_ctx, const struct ch_plugin_config *cfg,
		    void **ctx, char *err, size_t errlen)
{
	struct logplug *lp;
	const char *path = host->opt_string(cfg, "path");

	if (!path || !*path) {
		snprintf(err, errlen, "option \"path\" is empty");
		return -1;
	}
	lp = calloc(1, sizeof(*lp));
	if (!lp) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* 0600: even masked, the lines name residents and their addresses. */
	lp->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lp->fd < 0 && errno == ENOENT && make_parents(path) == 0)
		lp->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (lp->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		free(lp);
		return -1;
	}
	lp->host = host;
	lp->host_ctx = host_ctx;
	*ctx = lp;
	return 0;
}

static void log_fini(void *ctx)
{
	struct logplug *lp = ctx;

	if (!lp)
		return;
	close(lp->fd);
	free(lp);
}

/* Replaces the string at obj[key], if there is one, by its masked form. */
static int mask_member(const struct logplug *lp, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	const char *s;
	char *masked;
	size_t len;
	int rc;

	if (!json_is_string(v))
		return 0;
	s = json_string_value(v);
	/* Masking keeps the length, so the source's size is enough. */
	len = strlen(s) + 1;
	masked = malloc(len);
	if (!masked)
		return -1;
	lp->host->mask(s, masked, len);
	rc = json_object_set_new(obj, key, json_string(masked));
	free(masked);
	return rc;
}

/* The whole line, '\n'-terminated, malloc'ed; NULL with res filled on failure. */
static char *build_line(const struct logplug *lp, const struct ch_notification *n,
			struct ch_send_result *res, size_t *len)
{
	json_t *doc, *line;
	char *out;
	size_t tl;

	doc = json_loads(n->document, 0, NULL);
	if (!json_is_object(doc)) {
		json_decref(doc);
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason),
			 "notification document is not a JSON object");
		return NULL;
	}
	if (mask_member(lp, json_object_get(doc, "contact"), "phone") ||
	    mask_member(lp, doc, "text")) {
		json_decref(doc);
		goto oom;
	}
	line = json_object();
	/* set_new takes each value's reference whether it succeeds or not. */
	if (!line ||
	    json_object_set_new(line, "ts", json_integer((json_int_t)lp->host->now_ms())) ||
	    json_object_set_new(line, "channel", json_string(n->channel ? n->channel : "")) ||
	    json_object_set_new(line, "key", json_string(n->idempotency_key)) ||
	    json_object_set_new(line, "step", json_integer(n->step)) ||
	    json_object_set_new(line, "attempt", json_integer(n->attempt))) {
		json_decref(line);
		json_decref(doc);
		goto oom;
	}
	if (json_object_set_new(line, "notification", doc)) {
		json_decref(line);
		goto oom;
	}
	/* Sized by jansson first, so the line is ours to free whatever allocator jansson uses. */
	tl = json_dumpb(line, NULL, 0, JSON_COMPACT);
	out = tl ? malloc(tl + 1) : NULL;
	if (!out || json_dumpb(line, out, tl, JSON_COMPACT) != tl) {
		free(out);
		json_decref(line);
		goto oom;
	}
	json_decref(line);
	/* Compact JSON escapes newlines inside strings, so this is the only one. */
	out[tl] = '\n';
	*len = tl + 1;
	return out;

oom:
	/* Out of memory, or a key/channel that is not valid UTF-8 (jansson refuses it). */
	res->status = CH_SEND_RETRY;
	snprintf(res->reason, sizeof(res->reason), "cannot build the log line (out of memory?)");
	return NULL;
}

static void log_send(void *ctx, const struct ch_notification *n, struct ch_send_result *res)
{
	struct logplug *lp = ctx;
	char *line;
	size_t len = 0;
	ssize_t w;
	int e;

	if (!n->document || !n->idempotency_key) {
		res->status = CH_SEND_FAIL;
		snprintf(res->reason, sizeof(res->reason), "notification without document or key");
		return;
	}
	line = build_line(lp, n, res, &len);
	if (!line)
		return;
	if (lp->torn) {
		if (write(lp->fd, "\n", 1) != 1) {
			res->status = CH_SEND_RETRY;
			snprintf(res->reason, sizeof(res->reason), "cannot write: %s",
				 strerror(errno));
			free(line);
			return;
		}
		lp->torn = 0;
	}
	w = write(lp->fd, line, len);
	e = errno;
	free(line);
	if (w == (ssize_t)len) {
		res->status = CH_SEND_OK;
		return;
	}
	if (w >= 0) {
		/* A short write to a file means the disk filled up mid-line. */
		lp->torn = 1;
		res->status = CH_SEND_RETRY;
		snprintf(res->reason, sizeof(res->reason), "short write (%zd of %zu bytes)", w,
			 len);
		return;
	}
	/* A full disk or an interrupted call pass; a bad descriptor or EIO will not. */
	res->status = (e == EAGAIN || e == EINTR || e == ENOSPC) ? CH_SEND_RETRY : CH_SEND_FAIL;
	snprintf(res->reason, sizeof(res->reason), "cannot write: %s", strerror(e));
}

static const struct ch_plugin plugin = {
	.abi_version = CH_PLUGIN_ABI_VERSION,
	.struct_size = sizeof(struct ch_plugin),
	.name = "log",
	.version = "1.0.0",
	.options = options,
	.init = log_init,
	.fini = log_fini,
	.send = log_send,
};

CH_PLUGIN_EXPORT const struct ch_plugin *carehub_plugin_entry_v1(void)
{
	return &plugin;
}
