/*
 * UTF-8, strictly: what both ends call text.  tetherctl prints valid
 * UTF-8 as it is and everything else escaped or as hex; tetherd's log
 * escapes the rest too.  One definition, so that both agree on what a
 * label or a path may show raw.
 */
#include "proto.h"

size_t tp_utf8_seq(const unsigned char *b, size_t n)
{
	size_t len, i;
	unsigned cp;

	if (b[0] < 0x80)
		return 1;
	if (b[0] >= 0xc2 && b[0] <= 0xdf) {
		len = 2;
		cp = b[0] & 0x1f;
	} else if (b[0] >= 0xe0 && b[0] <= 0xef) {
		len = 3;
		cp = b[0] & 0x0f;
	} else if (b[0] >= 0xf0 && b[0] <= 0xf4) {
		len = 4;
		cp = b[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((b[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (b[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

bool tp_utf8_valid(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i, len;

	for (i = 0; i < n; i += len)
		if (!(len = tp_utf8_seq(b + i, n - i)))
			return false;
	return true;
}
