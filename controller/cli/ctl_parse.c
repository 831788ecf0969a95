/*
 * Parse `tetherctl call NAME ARG...` into a tether_call.
 *
 * Argument grammar (strace-like; a contract: keep tetherctl(1) in step):
 *   42  0x2a  0644  -1          integer, sign-extended to 64 bits
 *   O_RDONLY|O_CREAT|0x40       constants and numbers OR-ed together
 *   "text\n"                    string, no NUL, <= TETHER_STR_MAX bytes
 *   'bytes'  x:deadbeef         in buffer
 *   @N                          out buffer of N bytes (decimal)
 *   @                           out buffer sized by the syscall table:
 *                               the struct the kernel writes there, or
 *                               the count argument (a number) times its
 *                               element size; an error where the table
 *                               cannot tell
 *   @N:'bytes'  @N:x:HEX        in/out buffer: capacity N, pre-filled
 * Buffers hold at most CTL_BUF_MAX bytes each, TETHER_BUF_MAX in all.
 * Escapes in quotes: \n \t \r \a \b \f \v \e \\ \' \" \? , \x with one
 * or two hex digits, \ with one to three octal digits (\0 is NUL).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_decode.h"
#include "systab.h"
#include "tether_proto.h"

_Static_assert(CTL_BUF_MAX <= TETHER_BUF_MAX, "buffers beyond the wire limit");

/* Where error messages go, and which argument we are at (for them). */
struct pctx {
	char *err;
	size_t errsz;
	int argi;			/* 1-based; 0 while at the name */
	unsigned autos;			/* bit i: argument i is bare @ */
};

static int perr(struct pctx *p, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "argument N: <message>" to err and hand rc back. */
static int perr(struct pctx *p, int rc, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!p->err || !p->errsz)
		return rc;
	if (p->argi > 0)
		n = snprintf(p->err, p->errsz, "argument %d: ", p->argi);
	if (n < 0 || (size_t)n >= p->errsz)
		return rc;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One numeric term of an expression, ending at '|' or NUL.  strtoull
 * alone would accept spaces, '+' and a second '-', so check first. */
static int parse_number(struct pctx *p, const char *tok, const char *s,
			const char **end, uint64_t *v, bool *neg)
{
	unsigned long long u;
	bool minus = *s == '-';
	char *e;

	if (minus)
		s++;
	if (!is_digit(*s))
		return perr(p, -EINVAL, "bad number in \"%s\"", tok);
	errno = 0;
	u = strtoull(s, &e, 0);
	if (*e != '\0' && *e != '|')
		return perr(p, -EINVAL, "bad number in \"%s\"", tok);
	if (errno == ERANGE || (minus && u > (1ULL << 63)))
		return perr(p, -EINVAL, "number out of range in \"%s\"", tok);
	*v = minus ? 0 - (uint64_t)u : (uint64_t)u;
	*neg = minus && u;
	*end = e;
	return 0;
}

/* NAME|NAME|number...: OR of the terms.  A lone negative term keeps
 * the value signed, so JSON shows AT_FDCWD as -100. */
static int parse_expr(struct pctx *p, const char *tok, uint64_t *val,
		      bool *sgn, bool *sym)
{
	/* initialised only because gcc cannot see that perr() != 0 */
	const char *s = tok, *e = tok;
	uint64_t acc = 0, v = 0;
	bool neg = false, any_neg = false;
	int64_t k;
	int rc;

	*sym = false;
	for (;;) {
		if (*s == '-' || is_digit(*s)) {
			rc = parse_number(p, tok, s, &e, &v, &neg);
			if (rc)
				return rc;
		} else if (*s == '_' || (*s >= 'A' && *s <= 'Z') ||
			   (*s >= 'a' && *s <= 'z')) {
			e = s + strcspn(s, "|");
			if (tp_const_lookup(s, (size_t)(e - s), &k) &&
			    ctl_xlat_lookup(s, (size_t)(e - s), (uint64_t *)&k))
				return perr(p, -EINVAL,
					    "unknown symbol \"%.*s\"",
					    (int)(e - s), s);
			v = (uint64_t)k;
			neg = k < 0;
			*sym = true;
		} else if (*s == '|' || *s == '\0') {
			return perr(p, -EINVAL, "empty term in \"%s\"", tok);
		} else {
			return perr(p, -EINVAL, "cannot parse \"%s\"", tok);
		}
		acc |= v;
		any_neg |= neg;
		if (*e == '\0')
			break;
		s = e + 1;
	}
	*val = acc;
	*sgn = any_neg && (int64_t)acc < 0;
	return 0;
}

/* A \x or octal escape's digits at s[*i..n); the value, or -1. */
static int escape_num(const char *s, size_t n, size_t *i, char kind)
{
	int val = 0, d, k;

	if (kind == 'x') {
		for (k = 0; k < 2 && *i < n && (d = hexval(s[*i])) >= 0; k++) {
			val = val * 16 + d;
			(*i)++;
		}
		return k ? val : -1;
	}
	val = kind - '0';
	for (k = 1; k < 3 && *i < n && s[*i] >= '0' && s[*i] <= '7'; k++)
		val = val * 8 + (s[(*i)++] - '0');
	return val <= 0xff ? val : -1;
}

/* Decode the C escapes of s[0..n) into out (room for n bytes).  q is
 * the quote around s: unescaped inside, it means a malformed token. */
static int unescape(struct pctx *p, const char *s, size_t n, char q,
		    unsigned char *out, size_t *outn)
{
	static const char from[] = "ntrabfve\\'\"?";
	static const char to[] = "\n\t\r\a\b\f\v\033\\'\"?";
	size_t i = 0, o = 0;
	const char *m;
	int val;
	char c;

	while (i < n) {
		c = s[i++];
		if (c == q)
			return perr(p, -EINVAL, "unescaped %c inside quotes",
				    q);
		if (c != '\\') {
			out[o++] = (unsigned char)c;
			continue;
		}
		if (i == n)
			return perr(p, -EINVAL, "backslash at end of quotes");
		c = s[i++];
		if (c != '\0' && (m = strchr(from, c))) {
			out[o++] = (unsigned char)to[m - from];
			continue;
		}
		if (c == 'x' || (c >= '0' && c <= '7')) {
			val = escape_num(s, n, &i, c);
			if (val < 0)
				return perr(p, -EINVAL, "bad escape \\%c", c);
			out[o++] = (unsigned char)val;
			continue;
		}
		if (c > ' ' && c < 0x7f)
			return perr(p, -EINVAL, "unknown escape \\%c", c);
		return perr(p, -EINVAL, "unknown escape: backslash, "
			    "byte 0x%02x", (unsigned char)c);
	}
	*outn = o;
	return 0;
}

/* tok is q...q: its decoded bytes in a new buffer, NUL-terminated. */
static int parse_quoted(struct pctx *p, const char *tok, char q,
			unsigned char **buf, size_t *n)
{
	size_t len = strlen(tok);
	int rc;

	if (len < 2 || tok[len - 1] != q)
		return perr(p, -EINVAL, "unterminated %c in %s", q, tok);
	*buf = malloc(len - 1);
	if (!*buf)
		return perr(p, -ENOMEM, "out of memory");
	rc = unescape(p, tok + 1, len - 2, q, *buf, n);
	if (rc) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	(*buf)[*n] = '\0';
	return 0;
}

/* HEX digits, an even number of them, into a new buffer. */
static int parse_hex(struct pctx *p, const char *s, unsigned char **buf,
		     size_t *n)
{
	size_t len = strlen(s), i;
	int hi, lo;

	if (len % 2)
		return perr(p, -EINVAL, "odd number of hex digits");
	*buf = malloc(len / 2 + 1);
	if (!*buf)
		return perr(p, -ENOMEM, "out of memory");
	for (i = 0; i < len; i += 2) {
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0) {
			free(*buf);
			*buf = NULL;
			return perr(p, -EINVAL, "bad hex digit in \"%s\"", s);
		}
		(*buf)[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

/* 'bytes' or x:HEX. */
static int parse_bytes(struct pctx *p, const char *s, unsigned char **buf,
		       size_t *n)
{
	int rc;

	if (s[0] == '\'')
		rc = parse_quoted(p, s, '\'', buf, n);
	else if (s[0] == 'x' && s[1] == ':')
		rc = parse_hex(p, s + 2, buf, n);
	else
		return perr(p, -EINVAL, "expected 'bytes' or x:HEX, not %s", s);
	if (!rc && *n > CTL_BUF_MAX) {
		free(*buf);
		*buf = NULL;
		return perr(p, -E2BIG, "%zu bytes, at most %u", *n,
			    CTL_BUF_MAX);
	}
	return rc;
}

/* "string": no NUL inside (it could not reach the server as one). */
static int parse_str(struct pctx *p, const char *tok, struct tether_arg *a,
		     void **bufp)
{
	unsigned char *buf;
	size_t n;
	int rc;

	rc = parse_quoted(p, tok, '"', &buf, &n);
	if (rc)
		return rc;
	*bufp = buf;
	if (memchr(buf, '\0', n))
		return perr(p, -EINVAL, "string contains a NUL byte");
	if (n > TETHER_STR_MAX)
		return perr(p, -E2BIG, "string of %zu bytes, at most %u", n,
			    TETHER_STR_MAX);
	*a = TETHER_STR((char *)buf);
	return 0;
}

/* @N or @N:BYTES.  N is decimal only: "@0644" meaning 420 would
 * surprise; the digits saturate so a long N is E2BIG, not a wrap. */
static int parse_at(struct pctx *p, const char *tok, struct tether_arg *a,
		    void **bufp, int *disp)
{
	const char *s = tok + 1;
	unsigned char *in = NULL, *buf;
	size_t cap = 0, n = 0;
	int rc;

	/* its size may hang on a later argument: size_autos sets it */
	if (*s == '\0') {
		*a = TETHER_OUT(NULL, 0);
		*disp = CTL_DISP_OUT;
		p->autos |= 1u << (p->argi - 1);
		return 0;
	}
	if (!is_digit(*s))
		return perr(p, -EINVAL, "expected a size after @ in %s", tok);
	for (; is_digit(*s); s++)
		if (cap <= CTL_BUF_MAX)
			cap = cap * 10 + (size_t)(*s - '0');
	if (*s != '\0' && *s != ':')
		return perr(p, -EINVAL, "bad size in %s", tok);
	if (cap > CTL_BUF_MAX)
		return perr(p, -E2BIG, "buffer %s larger than %u bytes", tok,
			    CTL_BUF_MAX);
	if (*s == ':') {
		rc = parse_bytes(p, s + 1, &in, &n);
		if (rc)
			return rc;
		if (n > cap) {
			free(in);
			return perr(p, -EINVAL, "%zu bytes do not fit in @%zu",
				    n, cap);
		}
	}
	/* zeroed: an out buffer never shows stale heap, even if misused */
	buf = calloc(cap ? cap : 1, 1);
	if (!buf) {
		free(in);
		return perr(p, -ENOMEM, "out of memory");
	}
	*bufp = buf;
	if (in) {
		memcpy(buf, in, n);
		free(in);
		*a = TETHER_INOUT(buf, n, cap);
		*disp = CTL_DISP_INOUT;
	} else {
		*a = TETHER_OUT(buf, cap);
		*disp = CTL_DISP_OUT;
	}
	return 0;
}

/* A bare word where the syscall table says the kernel reads a string
 * (openat AT_FDCWD /etc/hostname O_RDONLY): the word is the string, as
 * a shell would pass it -- so a line split by attach or a batch file,
 * whose quotes are gone, means what it says.  A number there is still a
 * number (0 for NULL); quote a path made of digits. */
static bool bare_string(const struct ctl_callspec *cs, int i, const char *tok)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(cs->call.nr);

	if (!sc || sc->arg[i].kind != TP_ARG_STR || !*tok)
		return false;
	if (tok[0] == '-' || is_digit(tok[0]))
		return false;
	return true;
}

static int parse_bare_str(struct pctx *p, const char *tok,
			  struct tether_arg *a, void **bufp)
{
	size_t n = strlen(tok);
	char *buf;

	if (n > TETHER_STR_MAX)
		return perr(p, -E2BIG, "string of %zu bytes, at most %u", n,
			    TETHER_STR_MAX);
	buf = strdup(tok);
	if (!buf)
		return perr(p, -ENOMEM, "out of memory");
	*bufp = buf;
	*a = TETHER_STR(buf);
	return 0;
}

/* Argument i from its token; what it allocates hangs off cs at once, so
 * the caller's cleanup frees it on any failure. */
static int parse_arg(struct pctx *p, const char *tok,
		     struct ctl_callspec *cs, int i)
{
	struct tether_arg *a = &cs->call.args[i];
	unsigned char *buf;
	uint64_t v = 0;
	bool sym;
	size_t n;
	int rc;

	cs->text[i] = strdup(tok);
	if (!cs->text[i])
		return perr(p, -ENOMEM, "out of memory");
	if (tok[0] == '"') {
		cs->disp[i] = CTL_DISP_STR;
		return parse_str(p, tok, a, &cs->bufs[i]);
	}
	if (tok[0] == '@')
		return parse_at(p, tok, a, &cs->bufs[i], &cs->disp[i]);
	/* $K: in a batch, the result of entry K (from 0). */
	if (tok[0] == '$') {
		char *end;
		unsigned long k = strtoul(tok + 1, &end, 10);

		if (end == tok + 1 || *end || k >= 4096)
			return perr(p, -EINVAL, "bad result reference %s", tok);
		*a = (struct tether_arg){ .kind = TETHER_ARG_RESULT,
					  .value = k };
		cs->disp[i] = CTL_DISP_SYM;
		return 0;
	}
	if (tok[0] == '\'' || (tok[0] == 'x' && tok[1] == ':')) {
		rc = parse_bytes(p, tok, &buf, &n);
		if (rc)
			return rc;
		cs->bufs[i] = buf;
		*a = TETHER_IN(buf, n);
		cs->disp[i] = CTL_DISP_IN;
		return 0;
	}
	if (bare_string(cs, i, tok)) {
		cs->disp[i] = CTL_DISP_STR;
		return parse_bare_str(p, tok, a, &cs->bufs[i]);
	}
	rc = parse_expr(p, tok, &v, &cs->sgn[i], &sym);
	if (rc)
		return rc;
	*a = TETHER_INT(v);
	cs->disp[i] = sym ? CTL_DISP_SYM : CTL_DISP_INT;
	return 0;
}

/* A name this architecture has (libseccomp's, from the table made at
 * build time), or a number. */
static int parse_name(struct pctx *p, const char *s, struct ctl_callspec *cs)
{
	unsigned long long u;
	const char *known;
	char *e;
	long nr;

	if (is_digit(s[0])) {
		errno = 0;
		u = strtoull(s, &e, 10);
		if (*e || errno || u > INT_MAX)
			return perr(p, -ENOSYS, "unknown syscall \"%s\"", s);
		cs->call.nr = (long)u;
		/* print "getpid()" rather than "39()" when we can */
		known = ctl_sysname_of((long)u);
		snprintf(cs->name, sizeof(cs->name), "%s", known ? known : s);
		return 0;
	}
	if (strlen(s) >= sizeof(cs->name))
		return perr(p, -ENOSYS, "unknown syscall \"%s\"", s);
	/* this architecture's calls only (another's has no number here) */
	nr = ctl_sysnr_of(s);
	if (nr < 0)
		return perr(p, -ENOSYS, "unknown syscall \"%s\"", s);
	cs->call.nr = nr;
	snprintf(cs->name, sizeof(cs->name), "%s", s);
	return 0;
}

/* The server takes at most TETHER_BUF_MAX buffer bytes per call; say so
 * here rather than after connecting.  An in/out buffer counts once, at
 * its capacity, so we never refuse what the server would take. */
static int check_total(struct pctx *p, const struct ctl_callspec *cs)
{
	const struct tether_arg *a;
	size_t total = 0;
	unsigned i;

	for (i = 0; i < cs->call.nargs; i++) {
		a = &cs->call.args[i];
		if (a->kind == TETHER_ARG_IN || a->kind == TETHER_ARG_OUT)
			total += a->size;
		else if (a->kind == TETHER_ARG_INOUT)
			total += a->cap;
	}
	if (total > TETHER_BUF_MAX)
		return perr(p, -E2BIG, "buffers total %zu bytes, at most %u",
			    total, TETHER_BUF_MAX);
	return 0;
}

/* Argument i is a plain number now, not a batch's $K. */
static bool known_number(const struct ctl_callspec *cs, unsigned i)
{
	return i < cs->call.nargs && cs->call.args[i].kind == TETHER_ARG_INT;
}

/* A bare @ at argument i: as many bytes as the table says the kernel
 * may write there, given the numbers among the other arguments. */
static int size_auto(struct pctx *p, struct ctl_callspec *cs, unsigned i)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(cs->call.nr);
	const struct tp_arg_spec *s = sc ? &sc->arg[i] : NULL;
	uint64_t regs[6] = { 0 }, need;
	unsigned char *buf;
	bool over;
	unsigned k;

	if (!s || (s->kind != TP_ARG_OUT && s->kind != TP_ARG_INOUT) ||
	    (s->len_arg == TP_NOLEN && !s->min) ||
	    (s->len_arg != TP_NOLEN && !known_number(cs, s->len_arg)))
		return perr(p, -EINVAL, "@ needs a size here: write @N");
	for (k = 0; k < cs->call.nargs; k++)
		if (known_number(cs, k))
			regs[k] = cs->call.args[k].value;
	need = tp_syscall_buf_need(sc, i, regs, &over);
	if (over || need > CTL_BUF_MAX)
		return perr(p, -E2BIG, "@ would be larger than %u bytes",
			    CTL_BUF_MAX);
	/* zeroed, as parse_at's */
	buf = calloc(need ? (size_t)need : 1, 1);
	if (!buf)
		return perr(p, -ENOMEM, "out of memory");
	cs->bufs[i] = buf;
	cs->call.args[i] = TETHER_OUT(buf, (size_t)need);
	return 0;
}

/* Once every argument is parsed, the bare @s get their sizes. */
static int size_autos(struct pctx *p, struct ctl_callspec *cs)
{
	unsigned i;
	int rc;

	for (i = 0; i < cs->call.nargs; i++) {
		if (!(p->autos & (1u << i)))
			continue;
		p->argi = (int)i + 1;
		if ((rc = size_auto(p, cs, i)))
			return rc;
	}
	p->argi = 0;
	return 0;
}

int ctl_call_parse(int argc, char *const argv[], struct ctl_callspec *cs,
		   char *err, size_t errsz)
{
	struct pctx p = { .err = err, .errsz = errsz };
	int i, rc;

	memset(cs, 0, sizeof(*cs));
	if (err && errsz)
		err[0] = '\0';
	if (argc < 1 || !argv || !argv[0])
		return perr(&p, -EINVAL, "missing syscall name");
	rc = parse_name(&p, argv[0], cs);
	if (rc)
		goto fail;
	if (argc - 1 > (int)TETHER_NARGS_MAX) {
		rc = perr(&p, -E2BIG, "%d arguments, at most %u", argc - 1,
			  TETHER_NARGS_MAX);
		goto fail;
	}
	for (i = 1; i < argc; i++) {
		p.argi = i;
		if (!argv[i]) {
			rc = perr(&p, -EINVAL, "missing");
			goto fail;
		}
		rc = parse_arg(&p, argv[i], cs, i - 1);
		if (rc)
			goto fail;
		cs->call.nargs++;
	}
	rc = size_autos(&p, cs);
	if (rc)
		goto fail;
	p.argi = 0;
	rc = check_total(&p, cs);
	if (rc)
		goto fail;
	return 0;
fail:
	ctl_callspec_free(cs);
	return rc;
}

void ctl_callspec_free(struct ctl_callspec *cs)
{
	int i;

	if (!cs)
		return;
	for (i = 0; i < 6; i++) {
		free(cs->bufs[i]);
		free(cs->text[i]);
	}
	memset(cs, 0, sizeof(*cs));
}

/* ---- the checks against the syscall table --------------------------- */

static bool is_buffer_kind(unsigned kind)
{
	return kind == TP_ARG_IN || kind == TP_ARG_OUT || kind == TP_ARG_INOUT;
}

/* The bytes the buffer a holds (its capacity); false if a is not one. */
static bool buf_cap(const struct tether_arg *a, size_t *cap)
{
	if (a->kind == TETHER_ARG_IN || a->kind == TETHER_ARG_OUT)
		*cap = a->size;
	else if (a->kind == TETHER_ARG_INOUT)
		*cap = a->cap;
	else
		return false;
	return true;
}

/* Fewer arguments than the kernel reads would hand it zeros nobody
 * chose; more would be ignored, and were surely meant for something. */
static int check_arity(struct pctx *p, const struct ctl_callspec *cs,
		       const struct tp_syscall *sc)
{
	unsigned n = cs->call.nargs;
	bool var = sc->flags & TP_SC_NOARGS_OK;

	if (n >= sc->min_args && (var || n <= sc->max_args))
		return 0;
	if (var)
		return perr(p, -EINVAL,
			    "%s takes at least %u argument%s, got %u",
			    cs->name, sc->min_args,
			    sc->min_args == 1 ? "" : "s", n);
	if (sc->min_args == sc->max_args)
		return perr(p, -EINVAL, "%s takes %u argument%s, got %u",
			    cs->name, sc->max_args,
			    sc->max_args == 1 ? "" : "s", n);
	return perr(p, -EINVAL, "%s takes %u to %u arguments, got %u",
		    cs->name, sc->min_args, sc->max_args, n);
}

/* The kernel fills a struct whole, whatever buffer it was given: a
 * smaller one would be overrun in the server. */
static int check_struct(struct pctx *p, const struct ctl_callspec *cs,
			const struct tp_syscall *sc, unsigned i)
{
	const struct tp_arg_spec *s = &sc->arg[i];
	const struct tether_arg *a = &cs->call.args[i];
	char what[48];
	size_t cap;

	if (!s->min || !is_buffer_kind(s->kind) || !buf_cap(a, &cap) ||
	    cap >= s->min)
		return 0;
	/* name it as typed when that is short: @1, not 'a very long ...' */
	if (a->kind == TETHER_ARG_OUT && cs->text[i])
		snprintf(what, sizeof(what), "%.40s", cs->text[i]);
	else
		snprintf(what, sizeof(what), "a %zu-byte buffer", cap);
	if (s->kind == TP_ARG_OUT)
		return perr(p, -EINVAL, "%s: argument %u is a struct the "
			    "kernel writes in full (%u bytes); %s is too small "
			    "(use @%u, or @ for that size)", cs->name, i + 1,
			    s->min, what, s->min);
	if (s->kind == TP_ARG_INOUT)
		return perr(p, -EINVAL, "%s: argument %u is a struct the "
			    "kernel reads and writes in full (%u bytes); %s is "
			    "too small (use @%u:BYTES)", cs->name, i + 1,
			    s->min, what, s->min);
	return perr(p, -EINVAL, "%s: argument %u is a struct the kernel reads "
		    "in full (%u bytes); %s is too small", cs->name, i + 1,
		    s->min, what);
}

/* A count beyond its buffer lets the kernel run past it. */
static int check_count(struct pctx *p, const struct ctl_callspec *cs,
		       const struct tp_syscall *sc, unsigned i)
{
	const struct tp_arg_spec *s = &sc->arg[i];
	const struct tether_arg *n;
	char val[64];
	uint64_t bytes;
	size_t cap;

	if (!is_buffer_kind(s->kind) || s->len_arg == TP_NOLEN ||
	    !buf_cap(&cs->call.args[i], &cap) ||
	    !known_number(cs, s->len_arg))
		return 0;
	n = &cs->call.args[s->len_arg];
	if (!__builtin_mul_overflow(n->value, (uint64_t)s->elem, &bytes) &&
	    bytes <= cap)
		return 0;
	if (cs->sgn[s->len_arg])
		snprintf(val, sizeof(val), "%lld", (long long)n->value);
	else
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)n->value);
	if (s->elem > 1)
		snprintf(val + strlen(val), sizeof(val) - strlen(val),
			 " of %u bytes each", s->elem);
	return perr(p, -EINVAL, "%s: argument %u (%s) exceeds the %zu-byte "
		    "buffer of argument %u", cs->name, s->len_arg + 1u, val,
		    cap, i + 1);
}

int ctl_call_check(const struct ctl_callspec *cs, char *err, size_t errsz)
{
	struct pctx p = { .err = err, .errsz = errsz };
	const struct tp_syscall *sc;
	unsigned i;
	int rc;

	if (err && errsz)
		err[0] = '\0';
	/* unknown calls run unchecked: the server guards their buffers */
	sc = tp_syscall_by_nr(cs->call.nr);
	if (!sc)
		return 0;
	if ((rc = check_arity(&p, cs, sc)))
		return rc;
	for (i = 0; i < cs->call.nargs && i < 6; i++) {
		if ((rc = check_struct(&p, cs, sc, i)))
			return rc;
		if ((rc = check_count(&p, cs, sc, i)))
			return rc;
	}
	return 0;
}
