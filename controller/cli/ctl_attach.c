/*
 * tetherctl attach: stay attached and read commands, one per line, in
 * the verbs' syntax (a bare syscall name means `call`), words quoted as a
 * shell quotes them (ctl_words.c).
 *
 * On a terminal: a prompt, line editing, history and Tab completion
 * (ctl_edit.c); Ctrl-C interrupts the verb that runs -- a blocking call
 * is cancelled in the server -- and comes back to the prompt; Ctrl-D
 * leaves with status 0.  From a pipe or a file: no prompt and no
 * banner, so the same verb runs recovery scripts
 * (tetherctl attach < recovery.txt); the status is that of the first
 * line that failed, and SIGINT ends the script with 130.
 *
 * Both ways, a verb that reports the server lost (3) or the session taken
 * over (6) ends the session with that status.  attach --observe connects
 * as an observer, beside a controller, and refuses what would change
 * anything (5).
 */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_libedit.h"

static bool ctl_has_observe(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--observe"))
			return true;
	return false;
}

enum ctl_conn ctl_attach_conn(int argc, char **argv)
{
	return ctl_has_observe(argc, argv) ? CTL_CONN_OBSERVE
					   : CTL_CONN_CONTROL;
}

/* A line from a script, without its newline; NULL at EOF. */
static char *ctl_attach_getline(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	/* SIGINT while the script's next line is awaited: stdio restarts
	 * the read, so the handler ends the script itself (130) */
	ctl_intr_set_fatal(true);
	n = getline(&line, &cap, stdin);
	ctl_intr_set_fatal(false);

	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

/* Is the command a syscall for the server (call, batch or a bare name):
 * what an interrupt leaves running there is to be cancelled. */
static bool ctl_attach_is_call(const struct ctl_verb *v)
{
	return !v || v->fn == ctl_call || v->fn == ctl_batch;
}

/* One command: a verb, or a syscall for `call`.  Its exit status. */
static int ctl_attach_run(struct ctl_session *s, char **w, int n)
{
	const struct ctl_verb *v = ctl_verb_find(w[0]);
	char **cw;
	int rc;

	if (v && v->fn != ctl_help &&
	    (v->conn == CTL_CONN_NONE || v->fn == ctl_attach)) {
		ctl_err("%s: not inside attach", w[0]);
		return CTL_EX_USAGE;
	}
	if (s->observe && (!v || v->conn == CTL_CONN_CONTROL)) {
		ctl_err("%s: refused: this session only observes (attach "
			"--observe); status, fds, ps, logs, pending, policy, "
			"wait and help work here", v ? w[0] : "call");
		return CTL_EX_DENIED;
	}
	if (v)
		return ctl_verb_call(s->g, s->t, n, w);
	if (!(cw = calloc((size_t)n + 2, sizeof(char *))))
		return CTL_EX_FAILED;
	cw[0] = (char *)"call";
	memcpy(cw + 1, w, (size_t)n * sizeof(char *));
	rc = ctl_verb_call(s->g, s->t, n + 1, cw);
	free(cw);
	return rc;
}

/* The line's words run; the session's status updated.  false: the
 * session ends. */
static bool ctl_attach_line(struct ctl_session *s, const char *line,
			    int *status)
{
	const struct ctl_verb *v;
	bool go_on = true;
	char **w;
	int n, rc;

	if ((rc = ctl_words(line, &w, &n)) < 0) {
		ctl_err("%s", ctl_words_strerror(rc));
		if (!*status && !s->tty)
			*status = CTL_EX_USAGE;
		return true;
	}
	if (n == 0) {
		ctl_words_free(w, n);
		return true;
	}
	if (!strcmp(w[0], "detach") || !strcmp(w[0], "quit") ||
	    !strcmp(w[0], "exit")) {
		ctl_words_free(w, n);
		return false;
	}
	v = ctl_verb_find(w[0]);
	ctl_intr_clear();
	rc = ctl_attach_run(s, w, n);
	fflush(stdout);
	/* quotes are the splitter's, not call's: "hello" for a buffer
	 * reached call as a bare word */
	if (rc == CTL_EX_USAGE && ctl_attach_is_call(v) && strchr(line, '"'))
		ctl_err("hint: words are quoted as in a shell; call's own "
			"quotes go inside the other kind: write 1 \"'hi'\" 2 "
			"(a string argument may be a bare word: openat "
			"AT_FDCWD /etc/hostname O_RDONLY)");
	if (ctl_intr_taken()) {
		if (ctl_attach_is_call(v))
			ctl_intr_cancel(s->t);
		ctl_intr_clear();
		ctl_err("interrupted");
		rc = CTL_EX_INTERRUPTED;
		/* a script stops; a person gets the prompt back */
		if (!s->tty)
			go_on = false;
	}
	if (rc == CTL_EX_CONFLICT) {
		ctl_err("session ended: another controller took over");
		go_on = false;
	} else if (rc == CTL_EX_UNREACHABLE) {
		go_on = false;
	} else if (v && v->fn == ctl_shutdown && rc == CTL_EX_OK) {
		go_on = false;
	}
	if (rc != CTL_EX_OK && !*status)
		*status = rc;
	/* Only what ends the session counts on a terminal. */
	if (s->tty && go_on && rc != CTL_EX_OK)
		*status = CTL_EX_OK;
	if (!go_on && rc != CTL_EX_OK)
		*status = rc;
	ctl_words_free(w, n);
	return go_on;
}

int ctl_attach(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "observe", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const struct tether_status *info = tether_info(t);
	struct ctl_session s = { .g = g, .t = t };
	int c, status = CTL_EX_OK;
	char *line;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c != 'o')
			return CTL_EX_USAGE;
		s.observe = true;
	}
	if (optind != argc)
		return CTL_EX_USAGE;
	/* Line editing and word splitting are libedit's: say so up front. */
	if (ctl_libedit_load() < 0) {
		ctl_err("attach: %s", ctl_libedit_why());
		return CTL_EX_FAILED;
	}
	g->interactive = true;
	s.tty = isatty(STDIN_FILENO);
	if (ctl_intr_install() == 0)
		tether_set_interrupt_fd(t, ctl_intr_fd());
	if (s.tty) {
		setlocale(LC_CTYPE, "");
		if (!ctl_edit_open(&s))
			ctl_err("no line editing: out of memory");
		printf("attached to tetherd pid %d (generation %llu)%s; "
		       "help lists the commands, Ctrl-D leaves\n",
		       (int)info->pid, (unsigned long long)info->generation,
		       s.observe ? " as an observer" : "");
		fflush(stdout);
	}
	for (;;) {
		ctl_intr_clear();
		line = s.edit ? ctl_edit_read(s.edit) : ctl_attach_getline();
		if (!line) {
			if (!s.tty && ctl_intr_taken())
				status = CTL_EX_INTERRUPTED;
			break;
		}
		if (s.edit)
			ctl_edit_remember(s.edit, line);
		if (!ctl_attach_line(&s, line, &status)) {
			free(line);
			break;
		}
		free(line);
	}
	if (s.tty && !line) {
		/* Ctrl-D: end the prompt's line */
		fputc('\n', stdout);
		fflush(stdout);
	}
	ctl_edit_close(s.edit);
	return status;
}
