/*
 * store_int.h - what store.c, store_notify.c and store_alerts.c share: the
 * handle, the argv builder, keys and reply helpers.  Not for other modules.
 */
#ifndef CH_STORE_INT_H
#define CH_STORE_INT_H

#include "store.h"

#include <hiredis/hiredis.h>

struct ch_store {
	redisContext *c;
	char *host;
	int port;
	char *socket;
	int db;
	char *username;
	char *password;
	char *prefix;
	int timeout_ms;
	char ingest_sha[48];
	char timers_sha[48];
	char esc_sha[48];
};

struct argv {
	const char **v;
	size_t *len;
	char **owned; /* numbers formatted here */
	size_t n, cap, nowned, capowned;
	bool oom;
};

void store__drop(struct ch_store *st);
int store__reply_error(struct ch_store *st, redisReply *r, const char *what, char *err, size_t errlen);
redisReply *store__cmd_argv(struct ch_store *st, int argc, const char **argv, const size_t *lens);
void store__argv_push(struct argv *a, const char *s, size_t len);
void store__argv_str(struct argv *a, const char *s);
void store__argv_i64(struct argv *a, int64_t v);
void store__argv_free(struct argv *a);
char *store__key(const struct ch_store *st, ...);
char *store__alert_key(const struct ch_store *st, const char *alert_id, const char *suffix);
char *store__dup_str(const redisReply *r);
uint8_t *store__dup_bytes(const redisReply *r, size_t *len);
long long store__reply_ll(const redisReply *r);

#endif
