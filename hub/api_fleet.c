/*
 * api_fleet.c - the API's routes for sensor fleets and reloads:
 *
 *   GET  /v1/devices?unmapped=1  what the fleets send that maps to nothing, and
 *                                bridge devices the registry lacks (fleet.h);
 *                                without ?unmapped, the devices list (api_alerts.c)
 *   POST /v1/reload (admin)      reloads configuration, registry, rules, channels
 *                                and adapters like SIGHUP: 200 {"reloaded":true,
 *                                "message"}, 422 {"error":"reload_failed","message"}
 *
 * The daemon reloads in its main thread on SIGHUP; the route raises one for the
 * process and waits, bounded, for the outcome the daemon records
 * (ch_runtime_reload_done), so a reload through the API takes the very same
 * road as one from the shell.
 */
#include "api_int.h"
#include "fleet.h"
#include "log.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#define RELOAD_WAIT_MS 30000

void api_devices_route(struct api_req *r, const char *arg)
{
	struct ch_store *st;
	char err[256];
	json_t *view;
	int rc;

	if (!r->rq->query(r->rq, "unmapped")) {
		api_devices_list(r, arg);
		return;
	}
	if (!(st = api_store(r)))
		return;
	if ((rc = ch_fleet_view(st, r->rt->reg, &view, err, sizeof(err)))) {
		api_store_error(r, rc, err);
		return;
	}
	api_json(r, 200, view);
}

void api_reload(struct api_req *r, const char *arg)
{
	struct timespec pause = {0, 20 * 1000000L};
	uint64_t before = ch_runtime_reload_status(NULL, NULL, 0);
	char msg[1024] = "";
	bool ok = false;

	(void)arg;
	/* Process-directed: the main thread takes it in sigtimedwait. */
	if (kill(getpid(), SIGHUP) != 0) {
		api_error(r, 500, "internal", "cannot signal the daemon");
		return;
	}
	for (int i = 0; i < RELOAD_WAIT_MS / 20 && ch_runtime_reload_status(&ok, msg, sizeof(msg)) == before; i++)
		nanosleep(&pause, NULL);
	if (ch_runtime_reload_status(&ok, msg, sizeof(msg)) == before) {
		api_error(r, 504, "timeout", "the reload did not finish in %d s", RELOAD_WAIT_MS / 1000);
		return;
	}
	api_audit(r, ok ? "reload" : "reload_failed", "", msg);
	if (!ok)
		api_error(r, 422, "reload_failed", "%s", msg);
	else
		api_json(r, 200, json_pack("{s:b, s:s}", "reloaded", 1, "message", msg));
}
