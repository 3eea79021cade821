/*
 * journal.h - a local append-only journal that makes an MQTT message durable
 * before on_message returns.
 *
 * libmosquitto acknowledges a QoS 1 message before it calls on_message, so the
 * broker forgets the event the moment our callback runs.  One write(2) per
 * message to a file survives a kill -9 of the hub; the journal is replayed at
 * start and segments are deleted once Redis holds every event in them.
 * fdatasync runs at most once a second from the committing thread, which bounds
 * what a power cut can take.
 */
#ifndef CH_JOURNAL_H
#define CH_JOURNAL_H

#include "ch.h"

struct ch_journal;

/* Called for each record at replay; strings borrowed for the call. */
typedef void (*ch_journal_replay_fn)(void *arg, uint64_t seq, const char *topic, const char *payload,
				     size_t len, size_t orig_len, int64_t arrival_ms);

/*
 * Opens (creating) the journal in dir, replays every intact record through fn,
 * and starts a fresh segment for new records.
 */
int ch_journal_open(const char *dir, ch_journal_replay_fn fn, void *arg, struct ch_journal **out,
		    char *err, size_t errlen);
void ch_journal_close(struct ch_journal *j);

/* Appends one record with a single write(2); *seq gets its sequence number. */
int ch_journal_append(struct ch_journal *j, const char *topic, const char *payload, size_t len,
		      size_t orig_len, int64_t arrival_ms, uint64_t *seq);

/* Every record with a sequence number <= seq is in Redis: drop what we can. */
void ch_journal_commit(struct ch_journal *j, uint64_t seq);

/* Bytes held on disk now (for metrics and tests). */
uint64_t ch_journal_bytes(struct ch_journal *j);

#endif
