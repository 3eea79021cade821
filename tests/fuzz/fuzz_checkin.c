/*
 * fuzz_checkin.c - libFuzzer target for what proactive care reads that it did
 * not write itself in that same moment: check-in answer messages (replayed
 * from the journal; made from provider callbacks), check-in keys (a callback
 * names one), the "check_in" and "care" blocks (registry records, config),
 * and the daily aggregates' live record (read back from Redis).
 *
 * The first byte picks the parser; the rest is its input.  Invariants: a
 * refusal leaves nothing behind; an accepted answer moves a slot's state in a
 * way that never calls more than twice and keeps its strings terminated; an
 * accepted key prints back as itself; a live record that decodes encodes to
 * the same bytes.
 */
#include "care.h"
#include "checkin.h"
#include "trends.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void answer(const char *text, size_t len)
{
	static const char conf_json[] = "{\"every\": \"2s\", \"retry_after\": \"1s\", \"answer_within\": \"3s\"}";
	struct ch_checkin_answer a;
	struct ch_checkin_conf c;
	struct ch_checkin_state st = {0};
	struct ch_checkin_result r;
	char err[256], ptr[64], *back, *ev;
	json_t *cj = json_loads(conf_json, 0, NULL);

	if (ch_checkin_conf_parse(cj, &c, ptr, sizeof(ptr), err, sizeof(err)))
		abort();
	json_decref(cj);
	if (ch_checkin_answer_parse(text, len, &a, err, sizeof(err)))
		return;
	/* The same slot in every phase, and the slot before. */
	for (int phase = 0; phase < 3; phase++) {
		for (int tries = 0; tries < 3; tries++) {
			memset(&st, 0, sizeof(st));
			memcpy(st.slot, a.slot, sizeof(st.slot));
			st.phase = phase;
			st.tries = tries;
			st.conf_hash = c.hash;
			memcpy(st.last_slot, a.slot, sizeof(st.last_slot));
			ch_strlcpy(st.last, "missed", sizeof(st.last));
			ch_checkin_apply(&c, NULL, &st, &a, 1795824900000LL, &r);
			if (r.next.tries > 2 || r.next.phase > CH_CI_RETRY || !memchr(r.value, 0, sizeof(r.value)))
				abort();
			if (r.final && (ev = ch_checkin_event_json(&a, &r, 1795824900000LL)) != NULL)
				free(ev);
		}
	}
	back = ch_checkin_answer_json(&a);
	if (back) {
		struct ch_checkin_answer b;
		if (ch_checkin_answer_parse(back, strlen(back), &b, err, sizeof(err)) || memcmp(&a, &b, sizeof(a)) != 0)
			abort(); /* what we write we read back the same */
		free(back);
	}
}

static void key(const char *text, size_t len)
{
	char *k = malloc(len + 1), sid[CH_DEVICE_MAX], slot[CH_CHECKIN_SLOT_LEN], again[CH_CHECKIN_KEY_MAX];
	int try_no;

	if (!k)
		return;
	memcpy(k, text, len);
	k[len] = '\0';
	if (ch_checkin_key_parse(k, sid, sizeof(sid), slot, &try_no)) {
		if (ch_checkin_key(sid, slot, try_no, again, sizeof(again)) == 0 && strcmp(again, k) != 0)
			abort();
	}
	free(k);
}

static void block(const char *text, size_t len, bool care)
{
	json_t *j = json_loadb(text, len, 0, NULL);
	struct ch_checkin_conf c;
	struct ch_care_conf cc;
	char err[256], ptr[64];

	if (!j)
		return;
	if (care)
		ch_care_conf_parse(j, &cc, ptr, sizeof(ptr), err, sizeof(err));
	else if (ch_checkin_conf_parse(j, &c, ptr, sizeof(ptr), err, sizeof(err)) == 0 &&
		 ch_checkin_next_due(&c, NULL, 1795824900000LL) <= 1795824900000LL)
		abort(); /* a due time is always ahead */
	json_decref(j);
}

static void live(const uint8_t *b, size_t len)
{
	struct ch_trend_live l;
	uint8_t again[CH_TREND_LIVE_BYTES];

	if (ch_trend_live_decode(b, len, &l) == 0) {
		ch_trend_live_encode(&l, again);
		struct ch_trend_live l2;
		if (ch_trend_live_decode(again, sizeof(again), &l2) || memcmp(&l, &l2, sizeof(l)) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: answer((const char *)data + 1, size - 1); break;
	case 1: key((const char *)data + 1, size - 1); break;
	case 2: block((const char *)data + 1, size - 1, false); break;
	case 3: block((const char *)data + 1, size - 1, true); break;
	default: live(data + 1, size - 1); break;
	}
	return 0;
}
