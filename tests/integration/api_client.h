/*
 * api_client.h - what the API's integration tests need besides the harness:
 * requests with any method and their headers (Set-Cookie, Retry-After), a
 * signed-in session (cookie and CSRF token), carehubctl with stdin, a
 * server-sent-events reader, and deliberately slow connections.
 */
#ifndef CH_TEST_API_CLIENT_H
#define CH_TEST_API_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct t_resp {
	long status; /* 0: no answer within 10 s */
	char body[65536];
	char set_cookie[512];
	char retry_after[32];
	char ctype[128];
	long ms; /* how long the answer took */
};

/* method path on 127.0.0.1:port; headers NULL-terminated "Name: value" (may be NULL); body may be NULL. */
long t_api(int port, const char *method, const char *path, const char *const *headers, const char *body,
	   struct t_resp *r);
/* The same with a bearer token. */
long t_api_token(int port, const char *token, const char *method, const char *path, const char *body,
		 struct t_resp *r);

struct t_session {
	char cookie[160]; /* "ch_session=<64 hex>" */
	char csrf[80];
};

/* POST /v1/session; on 200 fills s.  The status. */
long t_login(int port, const char *name, const char *password, struct t_session *s, struct t_resp *r);
/* A request as the signed-in session: the cookie, and the CSRF token unless csrf is false. */
long t_as(int port, const struct t_session *s, bool csrf, const char *method, const char *path, const char *body,
	  struct t_resp *r);

/* Runs carehubctl with args (a shell word list) and stdin; its exit status, output (and stderr) in out. */
int t_ctl(int port, const char *token, const char *stdin_text, const char *args, char *out, size_t outlen);

/* ---- server-sent events ---- */
struct t_sse;
/* GET /v1/stream in a thread of its own; extra headers (Cookie, Last-Event-ID) NULL-terminated. */
struct t_sse *t_sse_open(int port, const char *const *headers);
/* Waits until what arrived contains needle. */
bool t_sse_wait(struct t_sse *s, const char *needle, int deadline_ms);
/* A copy of everything received so far (malloc'ed). */
char *t_sse_text(struct t_sse *s);
/* The id of the last "id:" line received, into out ("" when none). */
void t_sse_last_id(struct t_sse *s, char *out, size_t len);
void t_sse_close(struct t_sse *s);

/* ---- slow clients ---- */
struct t_slow;
/*
 * n connections from src (a loopback address, e.g. "127.0.0.2") to port,
 * each sending a request line and then one header byte every second: a
 * slowloris.  Connections the server refuses are counted, not fatal.
 */
struct t_slow *t_slow_start(const char *src, int port, int n);
/* How many are still open (the server has not closed them). */
int t_slow_open_count(struct t_slow *s);
void t_slow_stop(struct t_slow *s);

#endif
