/*
 * tz.c - IANA time zones read straight from TZif files (RFC 8536).
 *
 * Why not TZ + localtime(): carehubd runs many threads and serves elders in
 * different zones; setenv("TZ") races with every other thread.  So this file
 * parses the 64-bit (version 2+) block of a TZif file into a sorted transition
 * table and evaluates its POSIX TZ footer for instants past the last
 * transition.  A zone file is input: every count and offset is bounds-checked,
 * and a corrupt file is refused with a reason instead of being half-used.
 *
 * Local-to-UTC mapping (for day windows) is the earliest instant whose local
 * time is >= the wanted local time; that gives "first instant after the gap" for
 * spring-forward and "first occurrence" for fall-back in one rule.
 */
#include "tz.h"

#include "ch.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_FILE_MAX (1024 * 1024) /* real files are < 4 KiB */
#define TZ_OFF_MAX (26 * 3600)	  /* RFC 8536: -24:59:59 .. +25:59:59 */
#define TZ_SPAN_S (TZ_OFF_MAX + 3600)
#define TZ_LIMIT_MS INT64_C(1000000000000000) /* ~ year 33658; inputs are clamped to +-this */
#define DAY_S 86400

struct tz_rule_date {
	char kind; /* 'J': Jn, 1..365 without Feb 29; 'D': n, 0..365; 'M': Mm.w.d */
	int n, m, w, d;
	int32_t time; /* seconds after local midnight, may be negative or > 24 h */
};

struct tz_rule {
	int32_t std_off; /* UTC offsets, seconds east */
	int32_t dst_off;
	bool has_dst;
	struct tz_rule_date start, end;
};

struct ch_tz {
	struct ch_tz *next;
	char name[CH_TZ_NAME_MAX + 1];
	uint32_t timecnt;
	uint32_t typecnt;
	int64_t *trans;	       /* timecnt, strictly ascending, seconds */
	uint8_t *idx;	       /* timecnt, each < typecnt */
	int32_t *utoff;	       /* typecnt; type 0 also applies before trans[0] */
	bool has_rule;	       /* footer parsed: used after the last transition */
	struct tz_rule rule;
};

static int32_t utc_zero_off;
static const struct ch_tz tz_utc = {.name = "UTC", .typecnt = 1, .utoff = &utc_zero_off};
static const struct ch_tz tz_etc_utc = {.name = "Etc/UTC", .typecnt = 1, .utoff = &utc_zero_off};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ch_tz *tz_cache;

/* ------------------------------------------------------------------------ */
/* Calendar arithmetic (proleptic Gregorian, H. Hinnant's algorithms)         */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = floor_div(z, 146097);
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
	static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return md[m - 1] + (m == 2 && is_leap(y));
}

/* ------------------------------------------------------------------------ */
/* POSIX TZ footer: "CST-8", "EST5EDT,M3.2.0,M11.1.0", "<+03>-3", ...          */

static bool parse_abbr(const char **sp)
{
	const char *s = *sp;
	size_t n = 0;

	if (*s == '<') {
		s++;
		while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		       (*s >= '0' && *s <= '9') || *s == '+' || *s == '-') {
			s++;
			n++;
		}
		if (*s != '>' || n < 3)
			return false;
		*sp = s + 1;
		return true;
	}
	while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')) {
		s++;
		n++;
	}
	if (n < 3)
		return false;
	*sp = s;
	return true;
}

static bool parse_num(const char **sp, int min, int max, int *out)
{
	const char *s = *sp;
	int v = 0;

	if (*s < '0' || *s > '9')
		return false;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s - '0');
		if (v > max)
			return false;
		s++;
	}
	if (v < min)
		return false;
	*out = v;
	*sp = s;
	return true;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h; seconds, sign as written. */
static bool parse_hms(const char **sp, int max_h, int32_t *out)
{
	const char *s = *sp;
	int sign = 1, h, m = 0, sec = 0;

	if (*s == '+' || *s == '-') {
		sign = *s == '-' ? -1 : 1;
		s++;
	}
	if (!parse_num(&s, 0, max_h, &h))
		return false;
	if (*s == ':') {
		s++;
		if (!parse_num(&s, 0, 59, &m))
			return false;
		if (*s == ':') {
			s++;
			if (!parse_num(&s, 0, 59, &sec))
				return false;
		}
	}
	*out = sign * (h * 3600 + m * 60 + sec);
	*sp = s;
	return true;
}

static bool parse_rule_date(const char **sp, struct tz_rule_date *r)
{
	const char *s = *sp;

	memset(r, 0, sizeof(*r));
	if (*s == 'J') {
		s++;
		r->kind = 'J';
		if (!parse_num(&s, 1, 365, &r->n))
			return false;
	} else if (*s == 'M') {
		s++;
		r->kind = 'M';
		if (!parse_num(&s, 1, 12, &r->m) || *s++ != '.' || !parse_num(&s, 1, 5, &r->w) ||
		    *s++ != '.' || !parse_num(&s, 0, 6, &r->d))
			return false;
	} else {
		r->kind = 'D';
		if (!parse_num(&s, 0, 365, &r->n))
			return false;
	}
	r->time = 2 * 3600;
	if (*s == '/') {
		s++;
		/* RFC 8536 extends the hours to -167..167. */
		if (!parse_hms(&s, 167, &r->time))
			return false;
	}
	*sp = s;
	return true;
}

static bool parse_posix_tz(const char *s, struct tz_rule *r)
{
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (!parse_abbr(&s) || !parse_hms(&s, 24, &off))
		return false;
	r->std_off = -off; /* POSIX counts west of Greenwich as positive */
	r->dst_off = r->std_off;
	if (*s == '\0')
		return true;
	if (!parse_abbr(&s))
		return false;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if (!parse_hms(&s, 24, &off))
			return false;
		r->dst_off = -off;
	}
	/* Without explicit rules POSIX leaves DST dates to the implementation: refuse. */
	if (*s++ != ',' || !parse_rule_date(&s, &r->start) || *s++ != ',' ||
	    !parse_rule_date(&s, &r->end) || *s != '\0')
		return false;
	return true;
}

/* Days since the epoch of the rule's date in year y. */
static int64_t rule_day(const struct tz_rule_date *r, int64_t y)
{
	int64_t jan1 = days_from_civil(y, 1, 1), first, day;
	int dow;

	switch (r->kind) {
	case 'J':
		return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
	case 'D':
		return jan1 + r->n;
	default:
		first = days_from_civil(y, r->m, 1);
		dow = (int)floor_mod(first + 4, 7); /* 1970-01-01 was a Thursday */
		day = first + (r->d - dow + 7) % 7 + (int64_t)(r->w - 1) * 7;
		while (day - first >= month_days(y, r->m))
			day -= 7;
		return day;
	}
}

/* UTC seconds at which DST starts and ends in year y. */
static void rule_bounds(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end)
{
	*start = rule_day(&r->start, y) * DAY_S + r->start.time - r->std_off;
	*end = rule_day(&r->end, y) * DAY_S + r->end.time - r->dst_off;
}

static int64_t rule_year(const struct tz_rule *r, int64_t t)
{
	int64_t y;
	int m, d;

	civil_from_days(floor_div(t + r->std_off, DAY_S), &y, &m, &d);
	return y;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
	int64_t s, e;
	bool dst;

	if (!r->has_dst)
		return r->std_off;
	rule_bounds(r, rule_year(r, t), &s, &e);
	if (s < e)
		dst = t >= s && t < e;
	else /* southern hemisphere: DST spans the new year */
		dst = !(t >= e && t < s);
	return dst ? r->dst_off : r->std_off;
}

static int64_t rule_next_transition(const struct tz_rule *r, int64_t t)
{
	int64_t y, best = INT64_MAX, s, e;

	if (!r->has_dst)
		return INT64_MAX;
	y = rule_year(r, t);
	for (int64_t yy = y - 1; yy <= y + 1; yy++) {
		rule_bounds(r, yy, &s, &e);
		if (s > t && s < best)
			best = s;
		if (e > t && e < best)
			best = e;
	}
	return best;
}

/* ------------------------------------------------------------------------ */
/* Offsets and transitions                                                   */

static const struct ch_tz *zone_or_utc(const struct ch_tz *tz)
{
	return tz ? tz : &tz_utc;
}

static int64_t clamp_ms(int64_t ms)
{
	if (ms > TZ_LIMIT_MS)
		return TZ_LIMIT_MS;
	if (ms < -TZ_LIMIT_MS)
		return -TZ_LIMIT_MS;
	return ms;
}

static bool past_table(const struct ch_tz *tz, int64_t t)
{
	return tz->timecnt == 0 || t >= tz->trans[tz->timecnt - 1];
}

/* UTC offset at t (seconds). */
static int32_t offset_at(const struct ch_tz *tz, int64_t t)
{
	uint32_t lo = 0, hi;

	if (tz->has_rule && past_table(tz, t))
		return rule_offset(&tz->rule, t);
	if (tz->timecnt == 0 || t < tz->trans[0])
		return tz->utoff[0];
	/* Largest i with trans[i] <= t. */
	hi = tz->timecnt;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->utoff[tz->idx[lo]];
}

/* The first transition strictly after t, or INT64_MAX. */
static int64_t next_transition(const struct ch_tz *tz, int64_t t)
{
	uint32_t lo = 0, hi;

	if (past_table(tz, t))
		return tz->has_rule ? rule_next_transition(&tz->rule, t) : INT64_MAX;
	/* Smallest i with trans[i] > t; one exists. */
	hi = tz->timecnt - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (tz->trans[mid] > t)
			hi = mid;
		else
			lo = mid + 1;
	}
	return tz->trans[lo];
}

/*
 * The earliest UTC second whose local time is >= the local second w: an
 * existing local time gets its first occurrence, one in a gap the end of the gap.
 */
static int64_t local_to_utc(const struct ch_tz *tz, int64_t w)
{
	int64_t a = w - TZ_SPAN_S, b;
	int32_t off = offset_at(tz, a);

	for (;;) {
		if (a + off >= w) /* the clock jumped over w at a */
			return a;
		b = next_transition(tz, a);
		if (b == INT64_MAX || w - off < b)
			return w - off;
		a = b;
		off = offset_at(tz, a);
	}
}

static int64_t local_seconds(const struct ch_tz *tz, int64_t utc_ms)
{
	int64_t t = floor_div(clamp_ms(utc_ms), 1000);

	return t + offset_at(tz, t);
}

/* ------------------------------------------------------------------------ */
/* TZif parsing                                                              */

struct rd {
	const uint8_t *p;
	size_t left;
};

static bool rd_take(struct rd *r, uint64_t n, const uint8_t **out)
{
	if (n > r->left)
		return false;
	*out = r->p;
	r->p += n;
	r->left -= (size_t)n;
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
	int version; /* 1, 2, 3, 4 */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static bool read_header(struct rd *r, struct tzif_hdr *h, const char **why)
{
	const uint8_t *p;

	if (!rd_take(r, 44, &p)) {
		*why = "truncated header";
		return false;
	}
	if (memcmp(p, "TZif", 4) != 0) {
		*why = "not a TZif file";
		return false;
	}
	if (p[4] == 0)
		h->version = 1;
	else if (p[4] >= '2' && p[4] <= '9')
		h->version = p[4] - '0';
	else {
		*why = "unknown TZif version";
		return false;
	}
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt)) {
		*why = "inconsistent counts in header";
		return false;
	}
	return true;
}

static uint64_t block_len(const struct tzif_hdr *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * tsize + h->timecnt + (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Parses one data block (tsize 4 for version 1, 8 otherwise) into tz. */
static int read_block(struct rd *r, const struct tzif_hdr *h, unsigned tsize, struct ch_tz *tz,
		      const char **why)
{
	const uint8_t *times, *idx, *types, *chars, *rest;

	if (h->leapcnt) {
		*why = "leap-second (\"right/\") zones are not supported";
		return CH_EINVAL;
	}
	if (!rd_take(r, (uint64_t)h->timecnt * tsize, &times) || !rd_take(r, h->timecnt, &idx) ||
	    !rd_take(r, (uint64_t)h->typecnt * 6, &types) || !rd_take(r, h->charcnt, &chars) ||
	    !rd_take(r, (uint64_t)h->isstdcnt + h->isutcnt, &rest)) {
		*why = "truncated data block";
		return CH_EINVAL;
	}
	tz->timecnt = h->timecnt;
	tz->typecnt = h->typecnt;
	tz->trans = malloc(sizeof(*tz->trans) * (h->timecnt ? h->timecnt : 1));
	tz->idx = malloc(h->timecnt ? h->timecnt : 1);
	tz->utoff = malloc(sizeof(*tz->utoff) * h->typecnt);
	if (!tz->trans || !tz->idx || !tz->utoff)
		return CH_ENOMEM;
	for (uint32_t i = 0; i < h->timecnt; i++) {
		int64_t t = tsize == 8 ? be64(times + (size_t)i * 8)
				       : (int64_t)(int32_t)be32(times + (size_t)i * 4);

		if (i > 0 && t <= tz->trans[i - 1]) {
			*why = "transition times out of order";
			return CH_EINVAL;
		}
		if (idx[i] >= h->typecnt) {
			*why = "transition type index out of range";
			return CH_EINVAL;
		}
		tz->trans[i] = t;
		tz->idx[i] = idx[i];
	}
	for (uint32_t i = 0; i < h->typecnt; i++) {
		const uint8_t *ti = types + (size_t)i * 6;
		int32_t off = (int32_t)be32(ti);

		if (off < -TZ_OFF_MAX || off > TZ_OFF_MAX) {
			*why = "UTC offset out of range";
			return CH_EINVAL;
		}
		if (ti[4] > 1 || ti[5] >= h->charcnt) {
			*why = "bad local time type";
			return CH_EINVAL;
		}
		tz->utoff[i] = off;
	}
	/* Transition times of the first table must stay clear of the clamp. */
	if (h->timecnt && (tz->trans[0] < -TZ_LIMIT_MS / 1000 ||
			   tz->trans[h->timecnt - 1] > TZ_LIMIT_MS / 1000)) {
		*why = "transition time out of range";
		return CH_EINVAL;
	}
	return 0;
}

/* "\n<POSIX TZ>\n" and nothing after it. */
static int read_footer(struct rd *r, struct ch_tz *tz, const char **why)
{
	const uint8_t *nl;
	char buf[128];
	size_t n;

	if (r->left < 2 || r->p[0] != '\n') {
		*why = "missing footer";
		return CH_EINVAL;
	}
	nl = memchr(r->p + 1, '\n', r->left - 1);
	if (!nl) {
		*why = "unterminated footer";
		return CH_EINVAL;
	}
	n = (size_t)(nl - (r->p + 1));
	if ((size_t)(nl - r->p) + 1 != r->left) {
		*why = "trailing bytes after footer";
		return CH_EINVAL;
	}
	if (n >= sizeof(buf) || memchr(r->p + 1, '\0', n)) {
		*why = "bad footer";
		return CH_EINVAL;
	}
	memcpy(buf, r->p + 1, n);
	buf[n] = '\0';
	/* An unparseable (or empty) rule keeps the last transition's offset. */
	tz->has_rule = n > 0 && parse_posix_tz(buf, &tz->rule);
	return 0;
}

static int parse_tzif(const uint8_t *data, size_t len, struct ch_tz *tz, const char **why)
{
	struct rd r = {data, len};
	struct tzif_hdr h;
	const uint8_t *skip;
	int rc;

	if (!read_header(&r, &h, why))
		return CH_EINVAL;
	if (h.version == 1) {
		/* No footer: the last transition's offset holds forever. */
		rc = read_block(&r, &h, 4, tz, why);
		if (rc == 0 && r.left) {
			*why = "trailing bytes after data";
			rc = CH_EINVAL;
		}
		return rc;
	}
	if (!rd_take(&r, block_len(&h, 4), &skip)) {
		*why = "truncated version 1 block";
		return CH_EINVAL;
	}
	if (!read_header(&r, &h, why))
		return CH_EINVAL;
	rc = read_block(&r, &h, 8, tz, why);
	if (rc)
		return rc;
	return read_footer(&r, tz, why);
}

/* ------------------------------------------------------------------------ */
/* Loading and the cache                                                     */

static void zone_free(struct ch_tz *tz)
{
	if (!tz)
		return;
	free(tz->trans);
	free(tz->idx);
	free(tz->utoff);
	free(tz);
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (n == 0 || n > CH_TZ_NAME_MAX || name[0] == '/' || strstr(name, "..")) {
		if (err)
			ch_fmt(err, errlen, "bad time zone name \"%.*s\": %s", CH_TZ_NAME_MAX, name,
			       n == 0 ? "empty" : n > CH_TZ_NAME_MAX ? "too long" : "not a relative zone path");
		return CH_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-' || c == '/')) {
			if (err)
				ch_fmt(err, errlen,
				       "bad time zone name \"%.*s...\": character %zu is not [A-Za-z0-9_+-/]",
				       (int)i, name, i + 1);
			return CH_EINVAL;
		}
	}
	return 0;
}

static int read_file(const char *path, uint8_t **out, size_t *outlen, const char **why)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return errno == ENOENT || errno == ENOTDIR ? CH_ENOTFOUND : CH_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		*why = "not a regular file";
		return CH_ENOTFOUND;
	}
	if (st.st_size > TZ_FILE_MAX) {
		close(fd);
		*why = "file too large for a zone";
		return CH_EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return CH_ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = strerror(errno);
			rc = CH_EIO;
			break;
		}
		if (n == 0)
			break; /* shrank under us: parse what is there */
		got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

static int load_zone(const char *name, struct ch_tz **out, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR"), *why = "out of memory";
	char path[4096];
	uint8_t *data = NULL;
	size_t len = 0;
	struct ch_tz *tz;
	int rc;

	if (!dir || !*dir)
		dir = TZ_DEFAULT_DIR;
	if (ch_fmt(path, sizeof(path), "%s/%s", dir, name)) {
		if (err)
			ch_fmt(err, errlen, "time zone \"%s\": path too long", name);
		return CH_EINVAL;
	}
	rc = read_file(path, &data, &len, &why);
	if (rc) {
		if (err)
			ch_fmt(err, errlen, "time zone \"%s\": %s: %s", name, path,
			       rc == CH_ENOTFOUND ? "no such zone" : why);
		return rc;
	}
	tz = calloc(1, sizeof(*tz));
	if (!tz) {
		free(data);
		return CH_ENOMEM;
	}
	ch_strlcpy(tz->name, name, sizeof(tz->name));
	why = "out of memory";
	rc = parse_tzif(data, len, tz, &why);
	free(data);
	if (rc) {
		if (err)
			ch_fmt(err, errlen, "time zone \"%s\": %s: corrupt TZif file: %s", name, path,
			       why);
		zone_free(tz);
		return rc;
	}
	*out = tz;
	return 0;
}

int ch_tz_get(const char *name, const struct ch_tz **out, char *err, size_t errlen)
{
	struct ch_tz *tz;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	else
		err = NULL;
	if (!name || !out) {
		if (err)
			ch_fmt(err, errlen, "time zone: missing name");
		return CH_EINVAL;
	}
	rc = check_name(name, err, errlen);
	if (rc)
		return rc;
	if (strcmp(name, "UTC") == 0) {
		*out = &tz_utc;
		return 0;
	}
	if (strcmp(name, "Etc/UTC") == 0) {
		*out = &tz_etc_utc;
		return 0;
	}
	pthread_mutex_lock(&tz_lock);
	for (tz = tz_cache; tz; tz = tz->next) {
		if (strcmp(tz->name, name) == 0)
			break;
	}
	/* Loading under the lock: rare, and no thread loads the same zone twice. */
	if (!tz) {
		rc = load_zone(name, &tz, err, errlen);
		if (rc == 0) {
			tz->next = tz_cache;
			tz_cache = tz;
		}
	}
	pthread_mutex_unlock(&tz_lock);
	if (rc)
		return rc;
	*out = tz;
	return 0;
}

const char *ch_tz_name(const struct ch_tz *tz)
{
	return zone_or_utc(tz)->name;
}

void ch_tz_cache_clear(void)
{
	struct ch_tz *tz, *next;

	pthread_mutex_lock(&tz_lock);
	tz = tz_cache;
	tz_cache = NULL;
	pthread_mutex_unlock(&tz_lock);
	for (; tz; tz = next) {
		next = tz->next;
		zone_free(tz);
	}
}

/* ------------------------------------------------------------------------ */
/* Local time                                                                */

int32_t ch_tz_offset_s(const struct ch_tz *tz, int64_t utc_ms)
{
	return offset_at(zone_or_utc(tz), floor_div(clamp_ms(utc_ms), 1000));
}

int ch_tz_minute_of_day(const struct ch_tz *tz, int64_t utc_ms)
{
	return (int)(floor_mod(local_seconds(zone_or_utc(tz), utc_ms), DAY_S) / 60);
}

void ch_tz_local_date(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len)
{
	int64_t y;
	int m, d;

	civil_from_days(floor_div(local_seconds(zone_or_utc(tz), utc_ms), DAY_S), &y, &m, &d);
	ch_fmt(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
}

void ch_tz_local_hhmm(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len)
{
	int min = ch_tz_minute_of_day(tz, utc_ms);

	ch_fmt(buf, len, "%02d:%02d", min / 60, min % 60);
}

void ch_tz_format(const struct ch_tz *tz, int64_t utc_ms, char *buf, size_t len)
{
	int64_t t = floor_div(clamp_ms(utc_ms), 1000), local, y;
	int32_t off = offset_at(zone_or_utc(tz), t);
	int32_t aoff;
	int m, d, sod;

	off = off / 60 * 60; /* RFC 3339 offsets have no seconds */
	aoff = off < 0 ? -off : off;
	local = t + off;
	civil_from_days(floor_div(local, DAY_S), &y, &m, &d);
	sod = (int)floor_mod(local, DAY_S);
	ch_fmt(buf, len, "%04lld-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", (long long)y, m, d,
	       sod / 3600, sod / 60 % 60, sod % 60, off < 0 ? '-' : '+', (int)(aoff / 3600),
	       (int)(aoff / 60 % 60));
}

/* ------------------------------------------------------------------------ */
/* Day windows                                                               */

static bool window_valid(int start_min, int end_min)
{
	return start_min >= 0 && start_min <= 1440 && end_min >= 0 && end_min <= 1440 &&
	       start_min != end_min;
}

/* The window that opens on local day `day` (days since the epoch), in UTC ms. */
static void window_on_day(const struct ch_tz *tz, int start_min, int end_min, int64_t day,
			  int64_t *a, int64_t *b)
{
	int64_t ws = day * DAY_S + start_min * 60;
	int64_t we = (start_min < end_min ? day : day + 1) * DAY_S + end_min * 60;

	*a = local_to_utc(tz, ws) * 1000;
	*b = local_to_utc(tz, we) * 1000;
}

static int64_t local_day(const struct ch_tz *tz, int64_t utc_ms)
{
	return floor_div(local_seconds(tz, utc_ms), DAY_S);
}

static bool in_window(const struct ch_tz *tz, int start_min, int end_min, int64_t t)
{
	int64_t day = local_day(tz, t), a, b;

	for (int64_t d = day - 1; d <= day + 1; d++) {
		window_on_day(tz, start_min, end_min, d, &a, &b);
		if (t >= a && t < b)
			return true;
	}
	return false;
}

bool ch_tz_in_window(const struct ch_tz *tz, int start_min, int end_min, int64_t utc_ms)
{
	if (!window_valid(start_min, end_min))
		return false;
	return in_window(zone_or_utc(tz), start_min, end_min, clamp_ms(utc_ms));
}

int64_t ch_tz_window_overlap_ms(const struct ch_tz *tz, int start_min, int end_min,
				int64_t from_ms, int64_t to_ms)
{
	int64_t sum = 0, a, b, last;

	from_ms = clamp_ms(from_ms);
	to_ms = clamp_ms(to_ms);
	if (!window_valid(start_min, end_min) || to_ms <= from_ms)
		return 0;
	tz = zone_or_utc(tz);
	last = local_day(tz, to_ms) + 1;
	for (int64_t d = local_day(tz, from_ms) - 1; d <= last; d++) {
		window_on_day(tz, start_min, end_min, d, &a, &b);
		if (a < from_ms)
			a = from_ms;
		if (b > to_ms)
			b = to_ms;
		if (b > a)
			sum += b - a;
	}
	return sum;
}

int64_t ch_tz_window_advance(const struct ch_tz *tz, int start_min, int end_min,
			     int64_t from_ms, int64_t amount_ms)
{
	int64_t left = amount_ms > 0 ? amount_ms : 0, a, b, d, max_days;

	if (!window_valid(start_min, end_min))
		return INT64_MAX;
	tz = zone_or_utc(tz);
	from_ms = clamp_ms(from_ms);
	/*
	 * Every day holds at least a minute of window, except a day whose whole
	 * window falls in a DST gap; twice the minutes plus slack is a safe bound.
	 */
	max_days = left / 60000 * 2 + 16;
	d = local_day(tz, from_ms) - 1;
	for (int64_t i = 0; i < max_days; i++, d++) {
		window_on_day(tz, start_min, end_min, d, &a, &b);
		if (a >= TZ_LIMIT_MS)
			break;
		if (a < from_ms)
			a = from_ms;
		if (b <= a)
			continue;
		if (amount_ms <= 0)
			return a;
		if (left <= b - a)
			return a + left;
		left -= b - a;
	}
	return INT64_MAX;
}

int64_t ch_tz_next_window_edge(const struct ch_tz *tz, int start_min, int end_min, int64_t utc_ms)
{
	int64_t a, b, d;

	if (!window_valid(start_min, end_min))
		return INT64_MAX;
	tz = zone_or_utc(tz);
	utc_ms = clamp_ms(utc_ms);
	d = local_day(tz, utc_ms) - 1;
	for (int i = 0; i < 16; i++, d++) {
		window_on_day(tz, start_min, end_min, d, &a, &b);
		if (b <= a)
			continue;
		/* Touching windows (00:00-24:00) meet without an edge. */
		if (a > utc_ms && !in_window(tz, start_min, end_min, a - 1))
			return a;
		if (b > utc_ms && !in_window(tz, start_min, end_min, b))
			return b;
	}
	return INT64_MAX;
}
