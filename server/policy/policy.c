/*
 * Syscall policies: parsing, decisions, and the libseccomp filter.
 *
 * The format is in policy.h and tetherd(8).  Two properties matter more
 * than the syntax:
 *
 *  - The user-space decision and the kernel's filter must agree.  A
 *    seccomp filter built by libseccomp does not keep rule order, so the
 *    parser refuses what would make order matter: every rule of one
 *    syscall has the same action (and errno).  Then "the first rule whose
 *    conditions hold decides" and "any rule whose conditions hold
 *    decides" are the same thing, and the default decides the rest.
 *  - An operator fixing a policy wants every mistake at once, each with
 *    its line, so the parser keeps going after an error and reports all.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "consts.h"
#include "proto.h"
#include "policy.h"

#define TD_POLICY_TOKENS_MAX 64

struct td_parse {
	const char *name;
	FILE *errs;
	unsigned line;
	unsigned nerrors;
	struct td_policy *p;
	size_t cap;
};

static void td_perr(struct td_parse *ps, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void td_perr(struct td_parse *ps, const char *fmt, ...)
{
	va_list ap;

	ps->nerrors++;
	if (!ps->errs)
		return;
	fprintf(ps->errs, "%s:%u: ", ps->name, ps->line);
	va_start(ap, fmt);
	vfprintf(ps->errs, fmt, ap);
	va_end(ap);
	fputc('\n', ps->errs);
}

/* ---- values ------------------------------------------------------------ */

/* One number: decimal, 0x hex, 0 octal, or negative decimal taken as its
 * 64-bit two's complement (what a sign-extended register holds). */
static int td_parse_number(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	if (*s == '-') {
		long long n = strtoll(s, &end, 10);

		if (errno || end == s + 1 || *end)
			return -EINVAL;
		*v = (uint64_t)n;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	unsigned long long n = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*v = n;
	return 0;
}

/* VALUE: numbers or constants joined by |, no spaces. */
static int td_parse_value(struct td_parse *ps, const char *s, uint64_t *out)
{
	uint64_t acc = 0;
	const char *part = s;

	for (;;) {
		size_t len = strcspn(part, "|");
		char one[64];
		int64_t k;
		uint64_t n;

		if (len == 0 || len >= sizeof(one)) {
			td_perr(ps, "bad value '%s': empty or overlong part",
				s);
			return -EINVAL;
		}
		memcpy(one, part, len);
		one[len] = '\0';
		if (td_parse_number(one, &n) == 0)
			acc |= n;
		else if (tp_const_lookup(one, len, &k) == 0)
			acc |= (uint64_t)k;
		else {
			td_perr(ps, "unknown constant '%s' (a number, or a "
				"name such as O_RDONLY or SIGTERM)", one);
			return -EINVAL;
		}
		if (!part[len])
			break;
		part += len + 1;
	}
	*out = acc;
	return 0;
}

static int td_parse_errno(const char *s, int *err)
{
	uint64_t n;

	if (tp_errno_lookup(s, strlen(s), err) == 0)
		return 0;
	/* libseccomp takes no errno of 4095 (MAX_ERRNO) */
	if (td_parse_number(s, &n) == 0 && n >= 1 && n <= 4094) {
		*err = (int)n;
		return 0;
	}
	return -EINVAL;
}

static bool td_looks_like_errno(const char *s)
{
	return (s[0] == 'E' && isupper((unsigned char)s[1])) ||
	       isdigit((unsigned char)s[0]);
}

/* ---- conditions -------------------------------------------------------- */

static const struct {
	const char *text;
	enum td_cmp op;
} td_cmps[] = {
	{ "==", TD_CMP_EQ }, { "!=", TD_CMP_NE }, { "<", TD_CMP_LT },
	{ "<=", TD_CMP_LE }, { ">", TD_CMP_GT }, { ">=", TD_CMP_GE },
};

static const char *td_cmp_text(enum td_cmp op)
{
	for (size_t i = 0; i < sizeof(td_cmps) / sizeof(td_cmps[0]); i++)
		if (td_cmps[i].op == op)
			return td_cmps[i].text;
	return "==";
}

/*
 * tok[0..n): COND [and COND]...  Fills r->conds.  Errors are reported
 * here; -EINVAL after the first (the rest of the line is not worth
 * guessing about).
 */
static int td_parse_conds(struct td_parse *ps, char **tok, size_t n,
			  struct td_rule *r)
{
	size_t i = 0;
	unsigned used = 0;		/* bitmap of args already compared */

	while (i < n) {
		struct td_cond c = { 0 };
		const char *a = tok[i];
		size_t need;

		if (strncmp(a, "arg", 3) || !a[3] || a[4] ||
		    a[3] < '0' || a[3] > '5') {
			td_perr(ps, "expected a condition 'argN OP VALUE' "
				"(N 0 to 5), got '%s'", a);
			return -EINVAL;
		}
		c.arg = (unsigned)(a[3] - '0');
		if (used & (1u << c.arg)) {
			/* libseccomp takes one comparison per argument. */
			td_perr(ps, "%s compared twice in one rule; use one "
				"condition per argument (or two rules)", a);
			return -EINVAL;
		}
		used |= 1u << c.arg;
		if (r->nconds >= TD_POLICY_CONDS_MAX) {
			td_perr(ps, "too many conditions (max %d)",
				TD_POLICY_CONDS_MAX);
			return -EINVAL;
		}
		need = i + 1 < n && !strcmp(tok[i + 1], "&") ? 5 : 3;
		if (i + need > n) {
			td_perr(ps, "incomplete condition after '%s': want "
				"'argN OP VALUE' or 'argN & MASK == VALUE'",
				a);
			return -EINVAL;
		}
		if (need == 5) {
			c.op = TD_CMP_MASKED_EQ;
			if (strcmp(tok[i + 3], "==")) {
				td_perr(ps, "masked condition wants '==', got "
					"'%s'", tok[i + 3]);
				return -EINVAL;
			}
			if (td_parse_value(ps, tok[i + 2], &c.mask) < 0 ||
			    td_parse_value(ps, tok[i + 4], &c.value) < 0)
				return -EINVAL;
		} else {
			size_t k;

			for (k = 0; k < sizeof(td_cmps) / sizeof(td_cmps[0]);
			     k++)
				if (!strcmp(tok[i + 1], td_cmps[k].text))
					break;
			if (k == sizeof(td_cmps) / sizeof(td_cmps[0])) {
				td_perr(ps, "unknown comparison '%s' (want == "
					"!= < <= > >= or & MASK ==)",
					tok[i + 1]);
				return -EINVAL;
			}
			c.op = td_cmps[k].op;
			if (td_parse_value(ps, tok[i + 2], &c.value) < 0)
				return -EINVAL;
		}
		r->conds[r->nconds++] = c;
		i += need;
		if (i == n)
			break;
		if (strcmp(tok[i], "and") || i + 1 == n) {
			td_perr(ps, "expected 'and' and another condition, "
				"got '%s'", tok[i]);
			return -EINVAL;
		}
		i++;
	}
	return 0;
}

static bool td_cond_holds(const struct td_cond *c, const uint64_t args[6])
{
	uint64_t v = args[c->arg];

	switch (c->op) {
	case TD_CMP_EQ: return v == c->value;
	case TD_CMP_NE: return v != c->value;
	case TD_CMP_LT: return v < c->value;
	case TD_CMP_LE: return v <= c->value;
	case TD_CMP_GT: return v > c->value;
	case TD_CMP_GE: return v >= c->value;
	case TD_CMP_MASKED_EQ: return (v & c->mask) == c->value;
	}
	return false;
}

/* ---- rules ------------------------------------------------------------- */

static int td_rule_push(struct td_parse *ps, const struct td_rule *r)
{
	struct td_policy *p = ps->p;

	if (p->nrules >= TD_POLICY_RULES_MAX) {
		td_perr(ps, "too many rules (max %d, groups count one per "
			"syscall)", TD_POLICY_RULES_MAX);
		return -E2BIG;
	}
	if (p->nrules == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct td_rule *n = realloc(p->rules, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->rules = n;
		ps->cap = cap;
	}
	p->rules[p->nrules++] = *r;
	return 0;
}

/* NAME as a native syscall: its number, or -1 after an error. */
static int td_resolve(struct td_parse *ps, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR) {
		td_perr(ps, "unknown syscall '%s'", name);
		return -1;
	}
	if (nr < 0) {
		/* libseccomp knows the name, this architecture lacks it */
		td_perr(ps, "syscall '%s' does not exist on this "
			"architecture", name);
		return -1;
	}
	return nr;
}

static int td_split(char *s, char **tok, size_t max)
{
	size_t n = 0;

	for (char *save = NULL, *t = strtok_r(s, " \t\r\v\f", &save); t;
	     t = strtok_r(NULL, " \t\r\v\f", &save)) {
		if (n == max)
			return -E2BIG;
		tok[n++] = t;
	}
	return (int)n;
}

/* A group's rules: each entry is a syscall name, optionally with its own
 * conditions ("openat arg2 & O_ACCMODE|O_CREAT|O_TRUNC == O_RDONLY"). */
static int td_parse_group(struct td_parse *ps, const struct td_policy_group *g,
			  const struct td_rule *base)
{
	for (const char *const *e = g->syscalls; *e; e++) {
		char buf[160], *tok[16];
		struct td_rule r = *base;
		int n, nr, rc;

		snprintf(buf, sizeof(buf), "%s", *e);
		if ((n = td_split(buf, tok, 16)) < 1)
			continue;
		nr = seccomp_syscall_resolve_name(tok[0]);
		if (nr < 0)
			continue;	/* not on this architecture */
		r.nr = nr;
		snprintf(r.name, sizeof(r.name), "%s", tok[0]);
		if (n > 1 && td_parse_conds(ps, tok + 1, (size_t)n - 1, &r) < 0)
			return -EINVAL;
		if ((rc = td_rule_push(ps, &r)) < 0)
			return rc;
	}
	return 0;
}

static int td_parse_line(struct td_parse *ps, char *s)
{
	char *tok[TD_POLICY_TOKENS_MAX], *hash;
	struct td_policy *p = ps->p;
	struct td_rule r = { .line = ps->line };
	size_t i;
	int n;

	if ((hash = strchr(s, '#')))
		*hash = '\0';
	if ((n = td_split(s, tok, TD_POLICY_TOKENS_MAX)) < 0) {
		td_perr(ps, "too many words (max %d)", TD_POLICY_TOKENS_MAX);
		return 0;
	}
	if (n == 0)
		return 0;

	if (!strcmp(tok[0], "default")) {
		bool allow = n == 2 && !strcmp(tok[1], "allow");
		int err = EPERM;

		if (!allow && !(n >= 2 && n <= 3 && !strcmp(tok[1], "deny"))) {
			td_perr(ps, "want 'default allow' or 'default deny "
				"[ERRNO]'");
			return 0;
		}
		if (n == 3 && td_parse_errno(tok[2], &err)) {
			td_perr(ps, "unknown errno '%s' (a name such as EPERM, "
				"or 1 to 4094)", tok[2]);
			return 0;
		}
		if (p->default_line) {
			td_perr(ps, "second default (the first is on line %u)",
				p->default_line);
			return 0;
		}
		p->default_allow = allow;
		p->default_err = err;
		p->default_line = ps->line;
		return 0;
	}
	if (!strcmp(tok[0], "allow"))
		r.allow = true;
	else if (!strcmp(tok[0], "deny"))
		r.err = EPERM;
	else {
		td_perr(ps, "unknown action '%s' (want default, allow or deny)",
			tok[0]);
		return 0;
	}
	if (n < 2) {
		td_perr(ps, "%s what? (a syscall name or a @group)", tok[0]);
		return 0;
	}
	i = 2;
	if (!r.allow && i < (size_t)n && strncmp(tok[i], "arg", 3)) {
		if (!td_looks_like_errno(tok[i]) ||
		    td_parse_errno(tok[i], &r.err)) {
			td_perr(ps, "unknown errno '%s' (a name such as EPERM, "
				"or 1 to 4094)", tok[i]);
			return 0;
		}
		i++;
	}

	if (tok[1][0] == '@') {
		const struct td_policy_group *g = td_policy_group_find(tok[1]);

		if (!g) {
			td_perr(ps, "unknown group '%s' (see tetherd(8) for "
				"the list)", tok[1]);
			return 0;
		}
		if (i < (size_t)n) {
			td_perr(ps, "a group takes no conditions; put them on "
				"a rule of its own for the syscall");
			return 0;
		}
		r.group = g->name;
		return td_parse_group(ps, g, &r);
	}
	if ((r.nr = td_resolve(ps, tok[1])) < 0)
		return 0;
	snprintf(r.name, sizeof(r.name), "%s", tok[1]);
	if (i < (size_t)n && td_parse_conds(ps, tok + i, (size_t)n - i, &r) < 0)
		return 0;
	return td_rule_push(ps, &r);
}

static const char *td_err_text(int err, char *buf, size_t size)
{
	const char *n = tp_errno_name(err);

	if (n)
		return n;
	snprintf(buf, size, "%d", err);
	return buf;
}

static int td_rule_cmp(const void *x, const void *y)
{
	const struct td_rule *a = x, *b = y;

	if (a->nr != b->nr)
		return a->nr < b->nr ? -1 : 1;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	return 0;
}

/*
 * After every line: a direct rule for a syscall replaces what groups say
 * about it; what is left must agree on the action.  Rules are sorted, so
 * one syscall's rules are adjacent, in file order.
 */
static void td_policy_settle(struct td_parse *ps)
{
	struct td_policy *p = ps->p;
	size_t i, j, k, out = 0;

	/* qsort is not stable, but rules that tie on (nr, line) come from
	 * one line, so they share an action and their order is moot. */
	if (p->nrules)
		qsort(p->rules, p->nrules, sizeof(*p->rules), td_rule_cmp);

	for (i = 0; i < p->nrules; i = j) {
		bool direct = false;
		const struct td_rule *first = NULL;

		for (j = i; j < p->nrules && p->rules[j].nr == p->rules[i].nr;
		     j++)
			direct |= !p->rules[j].group;
		for (k = i; k < j; k++) {
			struct td_rule *r = &p->rules[k];

			if (direct && r->group)
				continue;
			if (!first) {
				first = r;
			} else if (r->allow != first->allow ||
				   (!r->allow && r->err != first->err)) {
				char e1[16], e2[16];

				ps->line = r->line;
				td_perr(ps, "%s: %s%s%s here but %s%s%s on line "
					"%u%s%s; the rules of one syscall must "
					"agree (the default covers the rest)",
					r->name, r->allow ? "allow" : "deny",
					r->allow ? "" : " ",
					r->allow ? "" :
					td_err_text(r->err, e1, sizeof(e1)),
					first->allow ? "allow" : "deny",
					first->allow ? "" : " ",
					first->allow ? "" :
					td_err_text(first->err, e2, sizeof(e2)),
					first->line,
					first->group ? " in " : "",
					first->group ? first->group : "");
				continue;
			}
			p->rules[out++] = *r;
		}
	}
	p->nrules = out;
}

int td_policy_parse(const char *text, size_t len, const char *name,
		    FILE *errs, struct td_policy **out)
{
	struct td_parse ps = { .name = name ? name : "policy", .errs = errs };
	struct td_policy *p;
	size_t pos = 0;
	int rc;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return -ENOMEM;
	p->default_err = EPERM;
	if (!(p->path = strdup(ps.name))) {
		rc = -ENOMEM;
		goto fail;
	}
	ps.p = p;
	if (len > TD_POLICY_FILE_MAX) {
		ps.line = 0;
		td_perr(&ps, "too large (%zu bytes, max %u)", len,
			TD_POLICY_FILE_MAX);
		rc = -EINVAL;
		goto fail;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char line[TD_POLICY_LINE_MAX + 1];

		ps.line++;
		if (l > TD_POLICY_LINE_MAX)
			td_perr(&ps, "line too long (%zu bytes, max %d)", l,
				TD_POLICY_LINE_MAX);
		else if (memchr(text + pos, '\0', l))
			td_perr(&ps, "NUL byte in the line");
		else {
			memcpy(line, text + pos, l);
			line[l] = '\0';
			if ((rc = td_parse_line(&ps, line)) == -ENOMEM)
				goto fail;
		}
		pos += l + 1;
	}
	td_policy_settle(&ps);
	if (ps.nerrors) {
		rc = -EINVAL;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	td_policy_free(p);
	return rc;
}

int td_policy_load(const char *path, FILE *errs, struct td_policy **out)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = tp_read_file(path, TD_POLICY_FILE_MAX, &text, &len)) < 0) {
		if (!errs)
			return rc;
		if (rc == -EINVAL)
			fprintf(errs, "%s: not a regular file\n", path);
		else if (rc == -EFBIG)
			fprintf(errs, "%s: too large (max %u bytes)\n", path,
				TD_POLICY_FILE_MAX);
		else
			fprintf(errs, "%s: %s%s\n", path, strerror(-rc),
				rc == -ELOOP ? " (symlinks are refused)" : "");
		return rc;
	}
	rc = td_policy_parse(text, len, path, errs, out);
	free(text);
	return rc;
}

void td_policy_free(struct td_policy *p)
{
	if (!p)
		return;
	free(p->rules);
	free(p->path);
	free(p);
}

/* ---- decisions --------------------------------------------------------- */

/* The first rule of nr, or NULL. */
static const struct td_rule *td_rules_of(const struct td_policy *p, int nr,
					 size_t *n)
{
	size_t lo = 0, hi = p->nrules, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->rules[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < p->nrules && p->rules[i].nr == nr; i++)
		;
	*n = i - lo;
	return *n ? &p->rules[lo] : NULL;
}

bool td_policy_decide(const struct td_policy *p, int nr,
		      const uint64_t args[6], int *err,
		      const struct td_rule **rule)
{
	size_t n;
	const struct td_rule *r = td_rules_of(p, nr, &n);

	for (size_t i = 0; i < n; i++) {
		bool hold = true;

		for (unsigned c = 0; c < r[i].nconds && hold; c++)
			hold = td_cond_holds(&r[i].conds[c], args);
		if (!hold)
			continue;
		*rule = &r[i];
		*err = r[i].allow ? 0 : r[i].err;
		return r[i].allow;
	}
	*rule = NULL;
	*err = p->default_allow ? 0 : p->default_err;
	return p->default_allow;
}

bool td_policy_may_allow(const struct td_policy *p, int nr)
{
	size_t n;
	const struct td_rule *r = td_rules_of(p, nr, &n);

	for (size_t i = 0; i < n; i++) {
		if (r[i].allow)
			return true;
		if (!r[i].nconds)
			return false;	/* an unconditional deny */
	}
	return p->default_allow;
}

/* ---- printing ---------------------------------------------------------- */

int td_rule_format(const struct td_policy *p, const struct td_rule *rule,
		   char *buf, size_t size)
{
	char e[16];
	size_t len;
	int rc;

	if (!rule)
		return snprintf(buf, size, "default: %s%s%s",
				p->default_allow ? "allow" : "deny",
				p->default_allow ? "" : " ",
				p->default_allow ? "" :
				td_err_text(p->default_err, e, sizeof(e)));
	rc = snprintf(buf, size, "%u: %s %s (%d)%s%s", rule->line,
		      rule->allow ? "allow" : "deny", rule->name, rule->nr,
		      rule->allow ? "" : " ",
		      rule->allow ? "" : td_err_text(rule->err, e, sizeof(e)));
	for (unsigned i = 0; i < rule->nconds; i++) {
		const struct td_cond *c = &rule->conds[i];

		len = rc < 0 ? 0 : (size_t)rc < size ? (size_t)rc : size;
		if (c->op == TD_CMP_MASKED_EQ)
			rc += snprintf(buf + len, size - len,
				       "%s arg%u & 0x%" PRIx64 " == 0x%" PRIx64,
				       i ? " and" : " if", c->arg, c->mask,
				       c->value);
		else
			rc += snprintf(buf + len, size - len,
				       "%s arg%u %s 0x%" PRIx64,
				       i ? " and" : " if", c->arg,
				       td_cmp_text(c->op), c->value);
	}
	if (rule->group) {
		len = (size_t)rc < size ? (size_t)rc : size;
		rc += snprintf(buf + len, size - len, " [%s]", rule->group);
	}
	return rc;
}

void td_policy_print(const struct td_policy *p, FILE *f)
{
	char line[512];

	td_rule_format(p, NULL, line, sizeof(line));
	fprintf(f, "%s%s\n", line, p->default_line ? "" : " (implied)");
	for (size_t i = 0; i < p->nrules; i++) {
		td_rule_format(p, &p->rules[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

/* ---- the kernel filter ------------------------------------------------- */

static enum scmp_compare td_scmp_op(enum td_cmp op)
{
	switch (op) {
	case TD_CMP_EQ: return SCMP_CMP_EQ;
	case TD_CMP_NE: return SCMP_CMP_NE;
	case TD_CMP_LT: return SCMP_CMP_LT;
	case TD_CMP_LE: return SCMP_CMP_LE;
	case TD_CMP_GT: return SCMP_CMP_GT;
	case TD_CMP_GE: return SCMP_CMP_GE;
	case TD_CMP_MASKED_EQ: return SCMP_CMP_MASKED_EQ;
	}
	return SCMP_CMP_EQ;
}

static bool td_in(const int *v, size_t n, int x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return true;
	return false;
}

int td_policy_filter(const struct td_policy *p, const int *extra,
		     size_t nextra, scmp_filter_ctx *out)
{
	uint32_t def = p->default_allow ? SCMP_ACT_ALLOW :
			SCMP_ACT_ERRNO((uint32_t)p->default_err);
	scmp_filter_ctx ctx;
	int rc;

	*out = NULL;
	if (!(ctx = seccomp_init(def)))
		return -ENOMEM;
	/* Under a deny default what the process needs is allowed outright;
	 * under an allow default it already is. */
	for (size_t i = 0; i < nextra && !p->default_allow; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, extra[i], 0);
		if (rc < 0 && rc != -EEXIST)
			goto fail;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct td_rule *r = &p->rules[i];
		struct scmp_arg_cmp cmp[TD_POLICY_CONDS_MAX];
		uint32_t act;

		if (td_in(extra, nextra, r->nr))
			continue;	/* the process's own need wins */
		if (r->allow == p->default_allow &&
		    (r->allow || r->err == p->default_err))
			continue;	/* libseccomp refuses those */
		act = r->allow ? SCMP_ACT_ALLOW :
			SCMP_ACT_ERRNO((uint32_t)r->err);
		for (unsigned c = 0; c < r->nconds; c++) {
			cmp[c].arg = r->conds[c].arg;
			cmp[c].op = td_scmp_op(r->conds[c].op);
			cmp[c].datum_a = r->conds[c].op == TD_CMP_MASKED_EQ ?
				r->conds[c].mask : r->conds[c].value;
			cmp[c].datum_b = r->conds[c].value;
		}
		rc = seccomp_rule_add_array(ctx, act, r->nr, r->nconds, cmp);
		if (rc < 0 && rc != -EEXIST)
			goto fail;
	}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return rc;
}

int td_policy_check_main(const char *path)
{
	struct td_policy *p;
	scmp_filter_ctx ctx;
	int rc;

	if (td_policy_load(path, stderr, &p) < 0)
		return 1;
	printf("%s: %zu rules, %s\n", path, p->nrules,
	       p->default_allow ? "default allow" : "default deny");
	td_policy_print(p, stdout);
	/* What the kernel would be given, without the server's own needs:
	 * libseccomp must accept the policy as written. */
	if ((rc = td_policy_filter(p, NULL, 0, &ctx)) < 0) {
		fprintf(stderr, "%s: libseccomp refuses the filter: %s\n",
			path, strerror(-rc));
		td_policy_free(p);
		return 1;
	}
	seccomp_release(ctx);
	td_policy_free(p);
	return 0;
}
