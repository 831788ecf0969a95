/*
 * tetherctl attach: stay attached and read commands, one per line, in
 * the verbs' syntax (a bare syscall name means `call`).  On a terminal
 * with line editing and history; from a pipe, plainly, so the same verb
 * runs recovery scripts: tetherctl attach < recovery.txt
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <editline/readline.h>

#include "ctl.h"

static char *ctl_attach_read(bool tty)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty)
		return readline("tether> ");
	n = getline(&line, &cap, stdin);
	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

static void ctl_attach_help(void)
{
	printf("commands: a syscall as for `call` (e.g. openat AT_FDCWD "
	       "\"/etc/hostname\" O_RDONLY),\n"
	       "  call NAME ARG..., status, fds, label FD NAME, unlabel NAME,\n"
	       "  gc [--keep FD,...] [--dry-run], shutdown, help, detach "
	       "(or EOF)\n");
}

/* One line: a verb, or a syscall for `call`.  Returns its exit status. */
static int ctl_attach_line(struct ctl *g, struct tether *t, char **w, int n)
{
	const struct ctl_verb *v = ctl_verb_find(w[0]);
	char **cw;
	int rc;

	if (v && (v->conn == CTL_CONN_NONE || !strcmp(w[0], "attach"))) {
		ctl_err("%s: not inside attach", w[0]);
		return CTL_EX_USAGE;
	}
	if (v)
		return ctl_verb_call(g, t, n, w);
	if (!(cw = calloc((size_t)n + 2, sizeof(char *))))
		return CTL_EX_FAILED;
	cw[0] = (char *)"call";
	memcpy(cw + 1, w, (size_t)n * sizeof(char *));
	rc = ctl_verb_call(g, t, n + 1, cw);
	free(cw);
	return rc;
}

int ctl_attach(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const struct tether_status *info = tether_info(t);
	bool tty = isatty(0);
	int worst = CTL_EX_OK;
	char *line, **w;
	int n, rc;

	(void)argv;
	if (argc != 1)
		return CTL_EX_USAGE;
	g->interactive = true;
	if (tty)
		printf("attached to tetherd pid %d (generation %llu); "
		       "help for commands, EOF to detach\n",
		       (int)info->pid, (unsigned long long)info->generation);
	while ((line = ctl_attach_read(tty))) {
		if (tty && *line)
			add_history(line);
		if (ctl_split_line(line, &w, &n) < 0) {
			ctl_err("unbalanced quotes: %s", line);
			worst = worst ? worst : CTL_EX_FAILED;
			free(line);
			continue;
		}
		free(line);
		if (n == 0) {
			rc = CTL_EX_OK;
		} else if (!strcmp(w[0], "help")) {
			ctl_attach_help();
			rc = CTL_EX_OK;
		} else if (!strcmp(w[0], "detach") || !strcmp(w[0], "quit") ||
			   !strcmp(w[0], "exit")) {
			ctl_split_free(w, n);
			break;
		} else {
			rc = ctl_attach_line(g, t, w, n);
		}
		fflush(stdout);
		/* The session's status: 1 if anything failed, 3 if the
		 * server was lost. */
		if (rc == CTL_EX_UNREACHABLE)
			worst = rc;
		else if (rc != CTL_EX_OK && worst == CTL_EX_OK)
			worst = CTL_EX_FAILED;
		if (n && (rc == CTL_EX_UNREACHABLE || !strcmp(w[0], "shutdown"))) {
			ctl_split_free(w, n);
			break;
		}
		ctl_split_free(w, n);
	}
	return worst;
}
