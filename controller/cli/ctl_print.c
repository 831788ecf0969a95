/*
 * Show a call's result: strace-like for people, one JSON object per line
 * for scripts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_decode.h"
#include "proto.h"

/* The kernel's convention: -4095..-1 are errors, anything else is a
 * value (lseek and mmap results can be huge but never land there). */
static bool is_error(long ret)
{
	return ret < 0 && ret >= -4095;
}

/* Calls whose success value is an address, shown in hex. */
static bool returns_pointer(const struct ctl_callspec *cs)
{
	static const char *const names[] = { "mmap", "mremap", "brk", "shmat" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(cs->name, names[i], sizeof(cs->name)))
			return true;
	return false;
}

void ctl_print_bytes(FILE *f, const void *p, size_t n, char q)
{
	const unsigned char *b = p;
	size_t i;

	fputc(q, f);
	for (i = 0; i < n; i++) {
		if (b[i] == '\n')
			fputs("\\n", f);
		else if (b[i] == '\t')
			fputs("\\t", f);
		else if (b[i] == '\r')
			fputs("\\r", f);
		else if (b[i] == '\\' || b[i] == (unsigned char)q)
			fprintf(f, "\\%c", b[i]);
		else if (b[i] >= 0x20 && b[i] < 0x7f)
			fputc(b[i], f);
		else
			fprintf(f, "\\x%02x", b[i]);
	}
	fputc(q, f);
}

/* At most CTL_PRINT_MAX bytes, then "..." like strace. */
static void print_trunc(FILE *f, const void *p, size_t n, char q)
{
	if (!p) {
		fputs("NULL", f);
		return;
	}
	ctl_print_bytes(f, p, n > CTL_PRINT_MAX ? CTL_PRINT_MAX : n, q);
	if (n > CTL_PRINT_MAX)
		fputs("...", f);
}

static void print_value(FILE *f, uint64_t v, bool sgn)
{
	if (sgn)
		fprintf(f, "%" PRId64, (int64_t)v);
	else
		fprintf(f, "%" PRIu64, v);
}

/* Bytes that came back in an out or in/out buffer; never more than its
 * capacity, whatever returned claims. */
static size_t out_len(const struct tether_arg *a)
{
	size_t cap = a->kind == TETHER_ARG_INOUT ? a->cap : a->size;

	return a->returned < cap ? a->returned : cap;
}

static void print_arg(FILE *f, const struct ctl_callspec *cs, unsigned i)
{
	const struct tether_arg *a = &cs->call.args[i];
	const char *tok = cs->text[i];
	struct ctl_out o;

	/* by type where the tables know it (ctl_decode.h); a number asked
	 * to be hex stays hex */
	ctl_out_init(&o, f, false);
	if (!cs->raw && cs->disp[i] != CTL_DISP_HEX &&
	    ctl_decode_arg(&o, cs, i))
		return;
	switch (cs->disp[i]) {
	case CTL_DISP_INT:
	case CTL_DISP_SYM:
		if (tok)
			fputs(tok, f);
		else
			print_value(f, a->value, cs->sgn[i]);
		break;
	case CTL_DISP_HEX:
		fprintf(f, "%#" PRIx64, a->value);
		break;
	case CTL_DISP_STR:
		if (a->in)
			ctl_print_bytes(f, a->in, strlen(a->in), '"');
		else
			fputs("NULL", f);
		break;
	case CTL_DISP_IN:
		print_trunc(f, a->in, a->size, '\'');
		break;
	case CTL_DISP_OUT:
	case CTL_DISP_INOUT:
		/* nothing came back from a failed call: show what was asked */
		if (is_error(cs->call.ret) && !a->returned && tok)
			fputs(tok, f);
		else
			print_trunc(f, a->out, out_len(a), '"');
		break;
	default:
		fputs("?", f);
		break;
	}
}

void ctl_call_print(FILE *f, const struct ctl_callspec *cs)
{
	long ret = cs->call.ret;
	const char *name;
	char buf[128];
	unsigned i;

	fprintf(f, "%.*s(", (int)sizeof(cs->name), cs->name);
	for (i = 0; i < cs->call.nargs && i < 6; i++) {
		if (i)
			fputs(", ", f);
		print_arg(f, cs, i);
	}
	if (is_error(ret)) {
		name = tp_errno_name((int)-ret);
		if (name)
			fprintf(f, ") = -1 %s", name);
		else
			fprintf(f, ") = -1 E%ld", -ret);
		fprintf(f, " (%s)\n", strerror_r((int)-ret, buf, sizeof(buf)));
	} else if (ret > 0xffff && returns_pointer(cs)) {
		fprintf(f, ") = %#lx\n", ret);
	} else if (!cs->raw && ctl_decode_ret(cs, buf, sizeof(buf))) {
		fprintf(f, ") = %s\n", buf);
	} else {
		fprintf(f, ") = %ld\n", ret);
	}
}

/* s for a table cell: valid UTF-8 as it is; \n \t \r \\ and \xNN for
 * controls and bytes that are not UTF-8, so one argv is one line. */
void ctl_print_escaped(FILE *f, const char *s)
{
	const unsigned char *b = (const unsigned char *)s;
	size_t n = strlen(s), k;

	for (size_t i = 0; i < n; i += k) {
		k = 1;
		if (b[i] == '\n')
			fputs("\\n", f);
		else if (b[i] == '\t')
			fputs("\\t", f);
		else if (b[i] == '\r')
			fputs("\\r", f);
		else if (b[i] == '\\')
			fputs("\\\\", f);
		else if (b[i] < 0x20 || b[i] == 0x7f)
			fprintf(f, "\\x%02x", b[i]);
		else if (b[i] < 0x80)
			fputc(b[i], f);
		else if ((k = tp_utf8_seq(b + i, n - i)))
			fwrite(b + i, 1, k, f);
		else {
			fprintf(f, "\\x%02x", b[i]);
			k = 1;
		}
	}
}

void ctl_escape_cell(const char *s, char *buf, size_t size)
{
	FILE *f = fmemopen(buf, size, "w");

	buf[0] = '\0';
	if (!f)
		return;
	ctl_print_escaped(f, s);
	fclose(f);
}

/* Valid UTF-8 as itself, escaping only what JSON must (and U+2028/9,
 * which JavaScript does not take raw); anything else as {"hex": ...}:
 * JSON strings are text, and bytes that are not cannot be guessed at. */
void ctl_json_string(FILE *f, const char *s, size_t n)
{
	const unsigned char *b = (const unsigned char *)s;
	size_t i;

	if (!s) {
		fputs("null", f);
		return;
	}
	if (!tp_utf8_valid(b, n)) {
		fputs("{\"hex\":", f);
		ctl_json_hex(f, s, n);
		fputc('}', f);
		return;
	}
	fputc('"', f);
	for (i = 0; i < n; i++) {
		if (b[i] == '"' || b[i] == '\\')
			fprintf(f, "\\%c", b[i]);
		else if (b[i] == '\n')
			fputs("\\n", f);
		else if (b[i] == '\t')
			fputs("\\t", f);
		else if (b[i] == '\r')
			fputs("\\r", f);
		else if (b[i] < 0x20 || b[i] == 0x7f)
			fprintf(f, "\\u%04x", b[i]);
		else if (b[i] == 0xe2 && i + 2 < n && b[i + 1] == 0x80 &&
			 (b[i + 2] == 0xa8 || b[i + 2] == 0xa9)) {
			fprintf(f, "\\u%04x", b[i + 2] == 0xa8 ? 0x2028 : 0x2029);
			i += 2;
		} else {
			fputc(b[i], f);
		}
	}
	fputc('"', f);
}

void ctl_json_hex(FILE *f, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	fputc('"', f);
	for (i = 0; b && i < n; i++)
		fprintf(f, "%02x", b[i]);
	fputc('"', f);
}

static bool is_out(const struct ctl_callspec *cs, unsigned i)
{
	return cs->disp[i] == CTL_DISP_OUT || cs->disp[i] == CTL_DISP_INOUT;
}

static void json_arg(FILE *f, const struct ctl_callspec *cs, unsigned i)
{
	const struct tether_arg *a = &cs->call.args[i];

	switch (cs->disp[i]) {
	case CTL_DISP_STR:
		ctl_json_string(f, a->in, a->in ? strlen(a->in) : 0);
		break;
	case CTL_DISP_IN:
		fputs("{\"in\":", f);
		ctl_json_string(f, a->in, a->size);
		fputs(",\"hex\":", f);
		ctl_json_hex(f, a->in, a->size);
		fprintf(f, ",\"size\":%zu}", a->size);
		break;
	case CTL_DISP_OUT:
	case CTL_DISP_INOUT:
		fputs("{\"out\":", f);
		ctl_json_string(f, a->out, a->out ? out_len(a) : 0);
		fprintf(f, ",\"returned\":%zu,\"size\":%zu", a->returned,
			cs->disp[i] == CTL_DISP_INOUT ? a->cap : a->size);
		if (cs->disp[i] == CTL_DISP_INOUT)
			fprintf(f, ",\"in_size\":%zu", a->size);
		fputc('}', f);
		break;
	default:
		print_value(f, a->value, cs->sgn[i]);
		break;
	}
}

/* "outs" or "outs_hex": the returned bytes of each out buffer. */
static void json_outs(FILE *f, const struct ctl_callspec *cs, bool hex)
{
	const struct tether_arg *a;
	bool first = true;
	unsigned i;

	fputs(hex ? ",\"outs_hex\":[" : ",\"outs\":[", f);
	for (i = 0; i < cs->call.nargs && i < 6; i++) {
		if (!is_out(cs, i))
			continue;
		a = &cs->call.args[i];
		if (!first)
			fputc(',', f);
		first = false;
		if (hex)
			ctl_json_hex(f, a->out, out_len(a));
		else
			ctl_json_string(f, a->out, a->out ? out_len(a) : 0);
	}
	fputc(']', f);
}

/* "decoded": per argument, what the text output shows by type (names
 * of flags, a struct's fields), or null; left out when no argument has
 * any.  "fds" for pipe2 and the like.  Added beside the fields scripts
 * already read, never instead. */
static void json_decoded(FILE *f, const struct ctl_callspec *cs)
{
	struct ctl_out o;
	char *buf = NULL;
	size_t len = 0;
	FILE *m;
	int fds[2];
	unsigned i;
	bool any = false;

	/* built aside first: only written if some argument has something */
	m = open_memstream(&buf, &len);
	for (i = 0; m && i < cs->call.nargs && i < 6; i++) {
		fputc(i ? ',' : '[', m);
		ctl_out_init(&o, m, true);
		if (ctl_decode_arg(&o, cs, i))
			any = true;
		else
			fputs("null", m);
	}
	if (m && !fclose(m) && any)
		fprintf(f, ",\"decoded\":%s]", buf);
	free(buf);
	if (ctl_decode_fdpair(cs, fds))
		fprintf(f, ",\"fds\":[%d,%d]", fds[0], fds[1]);
}

void ctl_call_print_json(FILE *f, const struct ctl_callspec *cs)
{
	ctl_call_print_json_lead(f, cs, "");
}

void ctl_call_print_json_lead(FILE *f, const struct ctl_callspec *cs,
			      const char *lead)
{
	long ret = cs->call.ret;
	const char *name;
	char buf[128];
	unsigned i;

	fprintf(f, "{%s\"syscall\":", lead);
	ctl_json_string(f, cs->name, strnlen(cs->name, sizeof(cs->name)));
	fprintf(f, ",\"nr\":%ld", cs->call.nr);
	if (is_error(ret)) {
		name = tp_errno_name((int)-ret);
		if (name)
			fprintf(f, ",\"ret\":-1,\"errno\":\"%s\"", name);
		else
			fprintf(f, ",\"ret\":-1,\"errno\":\"E%ld\"", -ret);
		fprintf(f, ",\"errno_num\":%ld,\"error\":", -ret);
		name = strerror_r((int)-ret, buf, sizeof(buf));
		ctl_json_string(f, name, strlen(name));
	} else {
		fprintf(f, ",\"ret\":%ld,\"errno\":null,\"errno_num\":null"
			",\"error\":null", ret);
	}
	fputs(",\"args\":[", f);
	for (i = 0; i < cs->call.nargs && i < 6; i++) {
		if (i)
			fputc(',', f);
		json_arg(f, cs, i);
	}
	fputc(']', f);
	json_outs(f, cs, false);
	json_outs(f, cs, true);
	if (!cs->raw)
		json_decoded(f, cs);
	fputs("}\n", f);
}
