/*
 * journal.c - segment files "journal-<first seq>.log" of length-prefixed,
 * checksummed records.  A torn record at the end of a segment (the hub died in
 * the middle of a write) ends that segment's replay.
 */
#include "journal.h"
#include "clock.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define JOURNAL_MAGIC 0x314a4843u /* "CHJ1" */
#define SEGMENT_MAX (8u << 20)
#define MAX_RECORD (64u << 20)

struct rec_hdr {
	uint32_t magic;
	uint32_t crc;
	uint64_t seq;
	int64_t arrival_ms;
	uint32_t topic_len;
	uint32_t payload_len;
	uint64_t orig_len;
};

struct segment {
	char *path;
	uint64_t last_seq; /* 0: empty */
};

struct ch_journal {
	pthread_mutex_t mu;
	char *dir;
	int fd;                 /* active segment */
	struct segment active;
	uint64_t active_bytes;
	struct segment *sealed; /* oldest first */
	size_t nsealed;
	uint64_t next_seq;
	uint64_t committed;
	uint64_t bytes;
	int64_t last_sync_ms;
	bool dirty;
};

/* CRC-32 (IEEE), table-driven: it runs in the MQTT thread for every message. */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
		crc_table[i] = c;
	}
}

static uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
	return ~crc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *seg_path(const char *dir, uint64_t first)
{
	char buf[4096];

	if (ch_fmt(buf, sizeof(buf), "%s/journal-%020" PRIu64 ".log", dir, first))
		return NULL;
	return ch_strdup(buf);
}

/* Replays one segment; returns the last good sequence number (0 if none). */
static uint64_t replay_segment(const char *path, ch_journal_replay_fn fn, void *arg, uint64_t *bytes)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	char *buf = NULL;
	uint64_t last = 0;
	size_t off = 0;

	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
		buf = malloc((size_t)sb.st_size);
		if (buf && read(fd, buf, (size_t)sb.st_size) == sb.st_size) {
			*bytes += (uint64_t)sb.st_size;
			while (off + sizeof(struct rec_hdr) <= (size_t)sb.st_size) {
				struct rec_hdr h;
				memcpy(&h, buf + off, sizeof(h));
				size_t body = (size_t)h.topic_len + h.payload_len;
				if (h.magic != JOURNAL_MAGIC || body > MAX_RECORD ||
				    off + sizeof(h) + body > (size_t)sb.st_size)
					break;
				const char *t = buf + off + sizeof(h);
				if (crc32_update(0, t, body) != h.crc)
					break;
				/* Copy out so the callback gets NUL-terminated strings. */
				char *topic = malloc(h.topic_len + 1u);
				char *payload = malloc(h.payload_len + 1u);
				if (topic && payload) {
					memcpy(topic, t, h.topic_len);
					topic[h.topic_len] = '\0';
					memcpy(payload, t + h.topic_len, h.payload_len);
					payload[h.payload_len] = '\0';
					fn(arg, h.seq, topic, payload, h.payload_len, (size_t)h.orig_len, h.arrival_ms);
				}
				free(topic);
				free(payload);
				last = h.seq;
				off += sizeof(h) + body;
			}
			if (off < (size_t)sb.st_size)
				ch_log(CH_LOG_WARN, "journal %s: %zu torn bytes at the end ignored", path,
				       (size_t)sb.st_size - off);
		}
	}
	free(buf);
	close(fd);
	return last;
}

static int open_active(struct ch_journal *j, char *err, size_t errlen)
{
	j->active.path = seg_path(j->dir, j->next_seq);
	if (!j->active.path)
		return CH_ENOMEM;
	j->active.last_seq = 0;
	j->active_bytes = 0;
	j->fd = open(j->active.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_TRUNC, 0600);
	if (j->fd < 0) {
		ch_fmt(err, errlen, "journal %s: %s", j->active.path, strerror(errno));
		return CH_EIO;
	}
	return 0;
}

int ch_journal_open(const char *dir, ch_journal_replay_fn fn, void *arg, struct ch_journal **out,
		    char *err, size_t errlen)
{
	struct ch_journal *j;
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t nnames = 0, cap = 0;
	uint64_t maxseq = 0;
	int rc;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		ch_fmt(err, errlen, "journal directory %s: %s", dir, strerror(errno));
		return CH_EIO;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = ch_strdup(dir))) {
		free(j);
		return CH_ENOMEM;
	}
	pthread_mutex_init(&j->mu, NULL);
	j->fd = -1;
	if (!(d = opendir(dir))) {
		ch_fmt(err, errlen, "journal directory %s: %s", dir, strerror(errno));
		ch_journal_close(j);
		return CH_EIO;
	}
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "journal-", 8) || !strstr(de->d_name, ".log"))
			continue;
		if (nnames == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				break;
			names = nn;
		}
		names[nnames++] = ch_strdup(de->d_name);
	}
	closedir(d);
	if (nnames)
		qsort(names, nnames, sizeof(*names), cmp_names);
	j->sealed = calloc(nnames ? nnames : 1, sizeof(*j->sealed));
	for (size_t i = 0; i < nnames; i++) {
		char path[4096];
		if (!names[i] || ch_fmt(path, sizeof(path), "%s/%s", dir, names[i]))
			continue;
		uint64_t last = replay_segment(path, fn, arg, &j->bytes);
		if (last == 0) {
			unlink(path);
			continue;
		}
		if (j->sealed) {
			j->sealed[j->nsealed].path = ch_strdup(path);
			j->sealed[j->nsealed].last_seq = last;
			j->nsealed++;
		}
		if (last > maxseq)
			maxseq = last;
	}
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	if (!j->sealed) {
		ch_journal_close(j);
		return CH_ENOMEM;
	}
	/* Sequence numbers double as ids for events that carry none, so they must
	 * never repeat, even after every segment was deleted: start past the clock. */
	j->next_seq = (uint64_t)ch_clock_now_ms() * 1000u;
	if (maxseq >= j->next_seq)
		j->next_seq = maxseq + 1;
	j->last_sync_ms = ch_clock_mono_ms();
	if ((rc = open_active(j, err, errlen))) {
		ch_journal_close(j);
		return rc;
	}
	*out = j;
	return 0;
}

void ch_journal_close(struct ch_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0) {
		fdatasync(j->fd);
		close(j->fd);
	}
	free(j->active.path);
	for (size_t i = 0; i < j->nsealed; i++)
		free(j->sealed[i].path);
	free(j->sealed);
	free(j->dir);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

static void rotate(struct ch_journal *j)
{
	struct segment *s = realloc(j->sealed, (j->nsealed + 1) * sizeof(*s));
	char err[256];

	if (!s)
		return; /* keep appending to the big segment; nothing is lost */
	j->sealed = s;
	fdatasync(j->fd);
	close(j->fd);
	j->sealed[j->nsealed++] = j->active;
	if (open_active(j, err, sizeof(err))) {
		ch_log(CH_LOG_ERROR, "%s", err);
		/* Fall back to the segment we just sealed. */
		j->nsealed--;
		free(j->active.path);
		j->active = j->sealed[j->nsealed];
		j->fd = open(j->active.path, O_WRONLY | O_APPEND | O_CLOEXEC);
	}
}

int ch_journal_append(struct ch_journal *j, const char *topic, const char *payload, size_t len,
		      size_t orig_len, int64_t arrival_ms, uint64_t *seq)
{
	struct rec_hdr h = {0};
	size_t tl = strlen(topic);
	struct iovec iov[3];
	ssize_t want, got;
	int rc = 0;

	if (tl > 65535 || len > MAX_RECORD)
		return CH_EINVAL;
	h.magic = JOURNAL_MAGIC;
	h.topic_len = (uint32_t)tl;
	h.payload_len = (uint32_t)len;
	h.orig_len = orig_len;
	h.arrival_ms = arrival_ms;
	h.crc = crc32_update(crc32_update(0, topic, tl), payload, len);
	iov[0] = (struct iovec){&h, sizeof(h)};
	iov[1] = (struct iovec){(void *)topic, tl};
	iov[2] = (struct iovec){(void *)payload, len};
	want = (ssize_t)(sizeof(h) + tl + len);

	pthread_mutex_lock(&j->mu);
	h.seq = j->next_seq++;
	do {
		got = writev(j->fd, iov, 3);
	} while (got < 0 && errno == EINTR);
	if (got != want) {
		ch_log_rl("journal-write", 10000, CH_LOG_ERROR, "journal %s: write failed: %s",
			  j->active.path, got < 0 ? strerror(errno) : "short write");
		/* A short write leaves a torn record that replay skips; cut it off. */
		if (got > 0 && ftruncate(j->fd, (off_t)j->active_bytes) != 0)
			ch_log(CH_LOG_ERROR, "journal: cannot cut a torn record: %s", strerror(errno));
		rc = CH_EIO;
	} else {
		j->active.last_seq = h.seq;
		j->active_bytes += (uint64_t)want;
		j->bytes += (uint64_t)want;
		j->dirty = true;
		*seq = h.seq;
		if (j->active_bytes >= SEGMENT_MAX)
			rotate(j);
	}
	pthread_mutex_unlock(&j->mu);
	return rc;
}

void ch_journal_commit(struct ch_journal *j, uint64_t seq)
{
	size_t keep = 0;
	int64_t now = ch_clock_mono_ms();

	pthread_mutex_lock(&j->mu);
	if (seq > j->committed)
		j->committed = seq;
	for (size_t i = 0; i < j->nsealed; i++) {
		if (j->sealed[i].last_seq <= j->committed) {
			struct stat sb;
			if (stat(j->sealed[i].path, &sb) == 0)
				j->bytes -= (uint64_t)sb.st_size < j->bytes ? (uint64_t)sb.st_size : j->bytes;
			unlink(j->sealed[i].path);
			free(j->sealed[i].path);
		} else {
			j->sealed[keep++] = j->sealed[i];
		}
	}
	j->nsealed = keep;
	/* Everything in the active segment is in Redis: start it over. */
	if (j->active_bytes && j->active.last_seq <= j->committed && ftruncate(j->fd, 0) == 0) {
		j->bytes -= j->active_bytes < j->bytes ? j->active_bytes : j->bytes;
		j->active_bytes = 0;
		j->active.last_seq = 0;
		j->dirty = false;
	}
	if (j->dirty && now - j->last_sync_ms >= 1000) {
		fdatasync(j->fd);
		j->dirty = false;
		j->last_sync_ms = now;
	}
	pthread_mutex_unlock(&j->mu);
}

uint64_t ch_journal_bytes(struct ch_journal *j)
{
	uint64_t b;

	pthread_mutex_lock(&j->mu);
	b = j->bytes;
	pthread_mutex_unlock(&j->mu);
	return b;
}
