/*
 * sms_split.h - how an SMS gateway will cut a message, so the plugin can send
 * the parts itself and know what each costs.
 *
 * Text that fits the GSM 7-bit alphabet (here: printable ASCII, CR, LF) goes
 * 160 characters in one SMS, 153 per part when split; anything else (Chinese)
 * is UCS-2: 70 in one, 67 per part (the rest of each part carries the
 * concatenation header).  Characters are counted in UTF-16 units, and a part
 * never ends inside a surrogate pair or a UTF-8 sequence.  Header-only and
 * pure, so the unit tests include it as the plugin does.
 */
#ifndef CH_SMS_SPLIT_H
#define CH_SMS_SPLIT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the UTF-8 sequence starting with byte c (1 for anything malformed). */
static inline size_t sms_seq_len(unsigned char c)
{
	return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

static inline bool sms_is_gsm7(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r'))
			return false;
	}
	return true;
}

/*
 * Splits s[0..len) (UTF-8) into parts; ends[i] is the byte offset where part i
 * ends.  Returns the number of parts (0 for empty text), at most max (the last
 * part then takes the rest).  *units_out gets the length in SMS characters.
 */
static inline size_t sms_split(const char *s, size_t len, size_t *ends, size_t max, size_t *units_out)
{
	bool gsm = sms_is_gsm7(s, len);
	size_t single = gsm ? 160 : 70, per = gsm ? 153 : 67, units = 0, n = 0, in = 0;

	for (size_t i = 0; i < len; i += sms_seq_len((unsigned char)s[i]))
		units += sms_seq_len((unsigned char)s[i]) == 4 ? 2 : 1;
	if (units_out)
		*units_out = units;
	if (len == 0 || max == 0)
		return 0;
	if (units <= single) {
		ends[0] = len;
		return 1;
	}
	for (size_t i = 0; i < len;) {
		size_t w = sms_seq_len((unsigned char)s[i]) == 4 ? 2 : 1;
		size_t next = i + sms_seq_len((unsigned char)s[i]);
		if (next > len)
			next = len;
		if (in + w > per && n + 1 < max) {
			ends[n++] = i;
			in = 0;
		}
		in += w;
		i = next;
	}
	ends[n++] = len;
	return n;
}

#endif
