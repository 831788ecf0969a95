/*
 * help: every verb with what it does, or one verb's usage.  Also what
 * `tetherctl VERB --help` (or -h) prints: it needs no server, so it is
 * answered before anything connects.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* -h or --help among the verb's own words (not after --, which starts a
 * command's: spawn -- grep -h). */
bool ctl_help_wanted(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

void ctl_help_verb(FILE *f, const struct ctl_verb *v)
{
	const char *about = v->about;

	fprintf(f, "usage: tetherctl %s\n", v->usage);
	if (about)
		fprintf(f, "  %s\n", about);
	if (!strcmp(v->name, "call"))
		fprintf(f, "  arguments: 42 0x2a -1, O_RDONLY|O_CREAT, "
			   "'\"string\"', \"'bytes'\", x:HEX, @N (out "
			   "buffer), @ (sized by the table), @N:'bytes'\n"
			   "  (a string keeps its double quotes: quote them "
			   "as a shell would)\n");
	else if (!strcmp(v->name, "attach"))
		fprintf(f, "  --observe: read-only (status, fds, ps, logs, "
			   "pending, policy, wait, help)\n"
			   "  keys: Ctrl-C interrupts the verb, Ctrl-D "
			   "leaves, Tab completes; see tetherctl(1)\n");
}

void ctl_help_all(FILE *f, bool session)
{
	const struct ctl_verb *v;

	fprintf(f, "%s", session ? "commands (help VERB for its usage):\n"
				 : "verbs (tetherctl help VERB for its usage):\n");
	for (size_t i = 0; (v = ctl_verb_at(i)); i++) {
		const char *about = v->about;
		bool outside = session && v->fn != ctl_help &&
			       (v->conn == CTL_CONN_NONE || v->fn == ctl_attach);

		fprintf(f, "  %-10s %s%s\n", v->name, about ? about : "",
			outside ? " (not inside attach)" : "");
	}
	if (session)
		fprintf(f, "  %-10s %s\n"
			   "A syscall name alone runs it as `call` does: "
			   "getpid, read 3 @64 64.\n"
			   "Words are quoted as in a shell: label 3 'my log', "
			   "openat AT_FDCWD '\"/etc/hostname\"' O_RDONLY.\n"
			   "Ctrl-C interrupts the running verb, Ctrl-D "
			   "leaves, Tab completes.\n",
			"detach", "leave (also quit, exit, Ctrl-D)");
}

/* help [VERB] */
int ctl_help(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const struct ctl_verb *v;

	(void)t;
	if (argc == 1) {
		ctl_help_all(stdout, g->interactive);
		return CTL_EX_OK;
	}
	if (argc != 2 || argv[1][0] == '-')
		return CTL_EX_USAGE;
	if (!(v = ctl_verb_find(argv[1]))) {
		ctl_err("help: unknown verb '%s'", argv[1]);
		return CTL_EX_USAGE;
	}
	ctl_help_verb(stdout, v);
	return CTL_EX_OK;
}
