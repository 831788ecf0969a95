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
#include <poll.h>
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

/* What a script has sent that is not a line yet. */
static struct {
	char *buf;
	size_t len, cap;
	bool eof;
} ctl_script;

/* The first line of what is buffered (all of it at EOF), newline off. */
static char *ctl_script_take(void)
{
	char *nl = memchr(ctl_script.buf, '\n', ctl_script.len);
	size_t n = nl ? (size_t)(nl - ctl_script.buf) : ctl_script.len;
	char *line = strndup(ctl_script.buf, n);

	n += nl != NULL;
	memmove(ctl_script.buf, ctl_script.buf + n, ctl_script.len - n);
	ctl_script.len -= n;
	return line;
}

/* A line from a script, without its newline; NULL at EOF, or once the
 * server closed the session (s->lost), which is watched meanwhile:
 * a script fed slowly (a FIFO) ends at a take-over, not at its next
 * line. */
static char *ctl_attach_getline(struct ctl_session *s)
{
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
			       { .fd = ctl_session_fd(s),
				 .events = POLLRDHUP } };
	char *line = NULL;
	ssize_t n;

	/* SIGINT while the script's next line is awaited: the handler
	 * ends the script itself (130) */
	ctl_intr_set_fatal(true);
	for (;;) {
		/* (buf is NULL before the first read: no memchr of it) */
		if ((ctl_script.len &&
		     memchr(ctl_script.buf, '\n', ctl_script.len)) ||
		    (ctl_script.eof && ctl_script.len)) {
			line = ctl_script_take();
			break;
		}
		if (ctl_script.eof)
			break;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ctl_session_hup(p[1].revents)) {
			s->lost = true;
			break;
		}
		if (!p[0].revents)
			continue;
		if (ctl_script.cap - ctl_script.len < 4096) {
			char *b = realloc(ctl_script.buf, ctl_script.cap + 65536);

			if (!b)
				break;
			ctl_script.buf = b;
			ctl_script.cap += 65536;
		}
		n = read(STDIN_FILENO, ctl_script.buf + ctl_script.len,
			 ctl_script.cap - ctl_script.len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			ctl_script.eof = true;
		else
			ctl_script.len += (size_t)n;
	}
	ctl_intr_set_fatal(false);
	return line;
}

/* The server closed the session while a line was awaited: what a
 * request now finds out -- a take-over (6, who took it) or a lost
 * server (3) -- ends it, as it would have at the next line. */
static int ctl_attach_lost(struct ctl_session *s)
{
	struct tether_status st;
	int rc = tether_status(s->t, &st);
	int status;

	if (rc == 0)
		return CTL_EX_OK;	/* not closed after all */
	ctl_err_reset();
	ctl_err("%s", ctl_why(s->t, rc));
	status = ctl_status_of(rc);
	if (status == CTL_EX_CONFLICT)
		ctl_err("session ended: another controller took over");
	return status == CTL_EX_CONFLICT ? status : CTL_EX_UNREACHABLE;
}

/* Is the command a syscall for the server (call, batch or a bare name):
 * what an interrupt leaves running there is to be cancelled. */
static bool ctl_attach_is_call(const struct ctl_verb *v)
{
	return !v || v->fn == ctl_call || v->fn == ctl_batch;
}

/* One command: a verb, or a syscall for `call`.  Its exit status. */
/* A line the session refuses itself: said, and under --json its one
 * object, as a verb's failure would be. */
static int ctl_attach_refuse(struct ctl_session *s, int status)
{
	if (s->g->json)
		ctl_err_json(stdout, status);
	return status;
}

static int ctl_attach_run(struct ctl_session *s, char **w, int n)
{
	const struct ctl_verb *v = ctl_verb_find(w[0]);
	char **cw;
	int rc;

	if (v && v->fn != ctl_help &&
	    (v->conn == CTL_CONN_NONE || v->fn == ctl_attach)) {
		ctl_err_reset();
		ctl_err("%s: not inside attach", w[0]);
		return ctl_attach_refuse(s, CTL_EX_USAGE);
	}
	if (s->observe && (!v || v->conn == CTL_CONN_CONTROL)) {
		ctl_err_reset();
		ctl_err_cause(TETHER_CAUSE_ROLE);
		ctl_err("%s: refused: this session only observes (attach "
			"--observe); status, fds, ps, logs, pending, policy, "
			"wait and help work here", v ? w[0] : "call");
		return ctl_attach_refuse(s, CTL_EX_DENIED);
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
		ctl_err_reset();
		ctl_err("%s", ctl_words_strerror(rc));
		ctl_attach_refuse(s, CTL_EX_USAGE);
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
	ctl_stdin_is_session = true;
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
		line = s.edit ? ctl_edit_read(s.edit) : ctl_attach_getline(&s);
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
	if (s.lost) {
		int st = ctl_attach_lost(&s);

		if (st != CTL_EX_OK) {
			status = st;
			if (g->json)
				ctl_err_json(stdout, st);
		}
	}
	/* --json: each failed line printed its object; the session's
	 * status adds none */
	if (g->json)
		ctl_err_printed();
	ctl_edit_close(s.edit);
	free(ctl_script.buf);
	ctl_script.buf = NULL;
	ctl_script.len = ctl_script.cap = 0;
	return status;
}
