/*
 * One writer for decoded values, two outputs: strace's text
 * ({st_mode=S_IFREG|0644, st_size=5}) and JSON ({"st_mode":33188,
 * "st_mode_name":"S_IFREG|0644","st_size":5}), so that each struct
 * decoder is written once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <inttypes.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "ctl_decode.h"

#define DEPTH_MAX (sizeof(((struct ctl_out *)0)->count) / sizeof(unsigned))

void ctl_out_init(struct ctl_out *o, FILE *f, bool json)
{
	memset(o, 0, sizeof(*o));
	o->f = f;
	o->json = json;
}

/* The separator before an item, and its key. */
static void item(struct ctl_out *o, const char *key)
{
	unsigned d = o->depth < DEPTH_MAX ? o->depth : DEPTH_MAX - 1;

	if (o->count[d]++)
		fputs(o->json ? "," : ", ", o->f);
	if (!key)
		return;
	if (o->json)
		fprintf(o->f, "\"%s\":", key);
	else
		fprintf(o->f, "%s=", key);
}

void ctl_out_open(struct ctl_out *o, const char *key, char brace)
{
	item(o, key);
	fputc(brace, o->f);
	o->depth++;
	if (o->depth < DEPTH_MAX)
		o->count[o->depth] = 0;
}

void ctl_out_close(struct ctl_out *o, char brace)
{
	fputc(brace == '{' ? '}' : ']', o->f);
	if (o->depth)
		o->depth--;
}

void ctl_out_int(struct ctl_out *o, const char *key, int64_t v)
{
	item(o, key);
	fprintf(o->f, "%" PRId64, v);
}

void ctl_out_uint(struct ctl_out *o, const char *key, uint64_t v)
{
	item(o, key);
	fprintf(o->f, "%" PRIu64, v);
}

void ctl_out_hex(struct ctl_out *o, const char *key, uint64_t v)
{
	item(o, key);
	fprintf(o->f, o->json ? "%" PRIu64 : "%#" PRIx64, v);
}

void ctl_out_word(struct ctl_out *o, const char *key, const char *s)
{
	item(o, key);
	if (o->json)
		ctl_json_string(o->f, s, strlen(s));
	else
		fputs(s, o->f);
}

void ctl_out_sym(struct ctl_out *o, const char *key, enum ctl_xfam fam,
		 uint64_t v)
{
	char names[256], k[64];

	ctl_xlat_format(names, sizeof(names), fam, v);
	if (!o->json || !key) {
		ctl_out_word(o, key, names);
		return;
	}
	ctl_out_uint(o, key, v);
	snprintf(k, sizeof(k), "%s_name", key);
	ctl_out_word(o, k, names);
}

void ctl_out_str(struct ctl_out *o, const char *key, const void *p, size_t n)
{
	item(o, key);
	if (o->json)
		ctl_json_string(o->f, p, n);
	else
		ctl_print_bytes(o->f, p, n, '"');
}

void ctl_out_time(struct ctl_out *o, const char *key, int64_t sec,
		  int64_t nsec)
{
	char when[64], k[64];
	time_t t = (time_t)sec;
	struct tm tm;

	if (o->json) {
		ctl_out_int(o, key, sec);
		snprintf(k, sizeof(k), "%s_nsec", key);
		ctl_out_int(o, k, nsec);
		return;
	}
	item(o, key);
	fprintf(o->f, "%" PRId64, sec);
	/* strace -v: the local date beside the number */
	if (localtime_r(&t, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm)) {
		fprintf(o->f, " /* %s.%09" PRId64, when, nsec);
		if (strftime(when, sizeof(when), "%z", &tm))
			fputs(when, o->f);
		fputs(" */", o->f);
	}
}

void ctl_out_dev(struct ctl_out *o, const char *key, uint64_t dev)
{
	item(o, key);
	if (o->json)
		fprintf(o->f, "%" PRIu64, dev);
	else
		fprintf(o->f, "makedev(%#x, %#x)", major(dev), minor(dev));
}

void ctl_out_more(struct ctl_out *o)
{
	if (o->json)
		return;
	item(o, NULL);
	fputs("...", o->f);
}
