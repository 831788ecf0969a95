/*
 * Syscall policies: the text format, the decisions, and the libseccomp
 * filter built from them.  policy.c parses and decides, policy_groups.c
 * holds the @groups; filter.c puts a policy on the server itself.
 *
 * A policy is a list of rules, one per line:
 *
 *	# comment
 *	default allow|deny [ERRNO]
 *	allow TARGET [COND [and COND]...]
 *	deny TARGET [ERRNO] [COND [and COND]...]
 *
 * TARGET is a syscall name (resolved with libseccomp for this
 * architecture) or a group (@file-read).  COND is `argN OP VALUE` with
 * OP one of == != < <= > >= (unsigned 64-bit compares, as the kernel's
 * filter does them), or `argN & MASK == VALUE`.  VALUE and MASK are
 * numbers (decimal, 0x hex, 0 octal, negative decimal as its 64-bit
 * two's complement) or constants joined by | (O_RDONLY|O_CLOEXEC).
 * No default line means `default deny EPERM`.
 */
#ifndef TETHERD_POLICY_H
#define TETHERD_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <seccomp.h>

#define TD_POLICY_LINE_MAX 1023
#define TD_POLICY_RULES_MAX 4096
#define TD_POLICY_FILE_MAX (1u << 20)
#define TD_POLICY_CONDS_MAX 6

enum td_cmp {
	TD_CMP_EQ, TD_CMP_NE, TD_CMP_LT, TD_CMP_LE, TD_CMP_GT, TD_CMP_GE,
	TD_CMP_MASKED_EQ,		/* (arg & mask) == value */
};

struct td_cond {
	unsigned arg;			/* 0..5 */
	enum td_cmp op;
	uint64_t mask;			/* TD_CMP_MASKED_EQ only */
	uint64_t value;
};

/* One resolved rule: one syscall.  A group line gives one rule per
 * syscall of the group, all with the same line number. */
struct td_rule {
	int nr;				/* native syscall number */
	char name[48];			/* as libseccomp names it */
	bool allow;
	int err;			/* deny: the errno answered */
	unsigned line;			/* in the policy file */
	const char *group;		/* "@file-read", or NULL if direct */
	struct td_cond conds[TD_POLICY_CONDS_MAX];
	unsigned nconds;		/* all must hold (and) */
};

struct td_policy {
	char *path;			/* as given, for messages */
	bool default_allow;
	int default_err;		/* when !default_allow; EPERM by default */
	unsigned default_line;		/* 0: no default line */
	struct td_rule *rules;		/* sorted by nr, then line */
	size_t nrules;
};

/* A named group of syscalls; the list ends with NULL.  Names a libseccomp
 * does not know on this architecture are skipped. */
struct td_policy_group {
	const char *name;		/* "@file-read" */
	const char *what;		/* one line, for --check-policy */
	const char *const *syscalls;
};
extern const struct td_policy_group td_policy_groups[];	/* ends NULL */
const struct td_policy_group *td_policy_group_find(const char *name);

/*
 * Parse a policy.  Every error is written to errs (if not NULL) as
 * "NAME:LINE: what is wrong\n", all of them, not just the first; then
 * the call fails with -EINVAL.  I/O errors: -errno and one line.
 * td_policy_load opens with O_NOFOLLOW|O_CLOEXEC, refuses anything but
 * a regular file, and files over TD_POLICY_FILE_MAX.
 */
int td_policy_load(const char *path, FILE *errs, struct td_policy **out);
int td_policy_parse(const char *text, size_t len, const char *name,
		    FILE *errs, struct td_policy **out);
void td_policy_free(struct td_policy *p);

/*
 * The decision for one call: true to allow.  On deny *err is the errno to
 * answer.  *rule is the rule that decided, or NULL when the default did.
 * Rules of a syscall are tried in file order; the first whose conditions
 * all hold decides; none holding means the default.
 */
bool td_policy_decide(const struct td_policy *p, int nr,
		      const uint64_t args[6], int *err,
		      const struct td_rule **rule);

/* True if some call of nr could be allowed (any allow rule for it, or the
 * default allows and no unconditional deny).  For the ring's opcodes. */
bool td_policy_may_allow(const struct td_policy *p, int nr);

/* "3: allow openat (257) if arg2 & 0x3 == 0x0 [@file-read]" and
 * "default: deny EPERM" for rule == NULL.  snprintf's return. */
int td_rule_format(const struct td_policy *p, const struct td_rule *rule,
		   char *buf, size_t size);
/* Every resolved rule, one per line, the default first. */
void td_policy_print(const struct td_policy *p, FILE *f);

/*
 * The policy as a libseccomp filter for this architecture: default
 * action SCMP_ACT_ALLOW or SCMP_ACT_ERRNO(default_err), each rule's
 * action with its conditions (seccomp_rule_add_array).  Syscalls listed
 * in extra (native numbers, nextra of them) are always allowed,
 * unconditionally, whatever the policy says: what the process itself
 * needs.  Rules whose action equals the default are not added.  The
 * filter is not loaded.  0 or -errno.
 */
int td_policy_filter(const struct td_policy *p, const int *extra,
		     size_t nextra, scmp_filter_ctx *out);

/* tetherd --check-policy FILE: the resolved rules on stdout and 0, or
 * every error on stderr and 1. */
int td_policy_check_main(const char *path);

#endif
