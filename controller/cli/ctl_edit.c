/*
 * attach on a terminal: libedit's line editor with the history file
 * (ctl_history.c) and Tab completion (ctl_complete.c).  Characters come
 * through our own reader, which also watches the SIGINT self-pipe: Ctrl-C
 * at the prompt drops the line and gives a fresh prompt, and never runs
 * what was half typed.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "ctl.h"
#include "ctl_libedit.h"

struct ctl_edit {
	EditLine *el;
	History *hist;
	struct ctl_history file;
	struct ctl_session *s;
	mbstate_t mb;
	int in;		/* the terminal, our own non-blocking open of it */
};

static char *ctl_edit_prompt(EditLine *el)
{
	struct ctl_session *s = NULL;

	ctl_le.el_get(el, EL_CLIENTDATA, &s);
	return (char *)(s && s->observe ? "tether(observe)> " : "tether> ");
}

/* The keys are read from a file description of our own, non-blocking:
 * a Ctrl-C between our poll and our read makes the terminal drop what
 * was typed (ISIG without NOFLSH), and a blocking read of stdin would
 * then wait, restarted past the signal by SA_RESTART, for a key nobody
 * types (seen under load in test_attach).  O_NONBLOCK on stdin itself
 * would be set on the shell's file description too.  -1 if the terminal
 * cannot be opened again: stdin then, with that window open. */
static int ctl_edit_open_keys(void)
{
	return open("/proc/self/fd/0",
		    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

/* One character for libedit: -1 with EINTR once SIGINT came (or the
 * terminal's interrupt character, should ISIG be off), 0 at EOF. */
static int ctl_edit_getc(EditLine *el, wchar_t *wc)
{
	struct ctl_session *s = NULL;
	struct ctl_edit *e;
	struct pollfd p[3] = { { .events = POLLIN },
			       { .fd = ctl_intr_fd(), .events = POLLIN },
			       { .fd = -1, .events = POLLRDHUP } };
	unsigned char c;
	char ch;
	ssize_t n;
	size_t r;

	ctl_le.el_get(el, EL_CLIENTDATA, &s);
	e = s->edit;
	p[0].fd = e->in >= 0 ? e->in : STDIN_FILENO;
	p[2].fd = ctl_session_fd(s);	/* a take-over ends the prompt */
	for (;;) {
		if (ctl_intr_taken()) {
			errno = EINTR;
			return -1;
		}
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (ctl_session_hup(p[2].revents)) {
			s->lost = true;
			errno = EPIPE;
			return -1;
		}
		if (p[1].revents)
			continue;	/* ctl_intr_taken() says so now */
		n = read(p[0].fd, &c, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return (int)n;
		if (c == 0x03) {
			raise(SIGINT);
			continue;
		}
		ch = (char)c;
		r = mbrtowc(wc, &ch, 1, &e->mb);
		if (r == (size_t)-2)
			continue;	/* more bytes of one character */
		if (r == (size_t)-1) {
			memset(&e->mb, 0, sizeof(e->mb));
			*wc = (wchar_t)c;
		}
		return 1;
	}
}

struct ctl_edit *ctl_edit_open(struct ctl_session *s)
{
	struct ctl_edit *e;
	HistEvent ev;
	int rc;

	if (ctl_libedit_load() < 0 || !(e = calloc(1, sizeof(*e))))
		return NULL;
	e->s = s;
	e->in = ctl_edit_open_keys();
	s->edit = e;
	if (!(e->el = ctl_le.el_init("tetherctl", stdin, stdout, stderr)) ||
	    !(e->hist = ctl_le.history_init())) {
		ctl_edit_close(e);
		s->edit = NULL;
		return NULL;
	}
	ctl_le.history(e->hist, &ev, H_SETSIZE, CTL_HISTORY_MAX);
	if ((rc = ctl_history_open(&e->file)) < 0)
		ctl_err("no history kept: %s", strerror(-rc));
	for (size_t i = 0; i < e->file.n; i++)
		ctl_le.history(e->hist, &ev, H_ENTER, e->file.lines[i]);
	ctl_le.el_set(e->el, EL_CLIENTDATA, s);
	ctl_le.el_set(e->el, EL_EDITOR, "emacs");
	ctl_le.el_set(e->el, EL_PROMPT, ctl_edit_prompt);
	ctl_le.el_set(e->el, EL_HIST, ctl_le.history, e->hist);
	ctl_le.el_set(e->el, EL_GETCFN, ctl_edit_getc);
	/* the wide call: the narrow one leaks copies of both strings
	 * (libedit's eln.c says so) */
	ctl_le.el_wset(e->el, EL_ADDFN, L"tether-complete", L"complete a word",
		ctl_complete);
	ctl_le.el_set(e->el, EL_BIND, "^I", "tether-complete", NULL);
	/* ~/.editrc (or $EDITRC) may rebind keys, as for other libedit
	 * programs. */
	ctl_le.el_source(e->el, NULL);
	return e;
}

/* The next line without its newline (the caller frees it); "" after
 * Ctrl-C (ctl_intr_taken() says so); NULL at EOF (Ctrl-D). */
char *ctl_edit_read(struct ctl_edit *e)
{
	const char *line;
	size_t n;
	int count = 0;

	line = ctl_le.el_gets(e->el, &count);
	if (ctl_intr_taken()) {
		/* whatever was typed is dropped, as shells do */
		ctl_le.el_reset(e->el);
		fputc('\n', stdout);
		fflush(stdout);
		return strdup("");
	}
	if (!line || count <= 0)
		return NULL;
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		n--;
	return strndup(line, n);
}

void ctl_edit_remember(struct ctl_edit *e, const char *line)
{
	HistEvent ev;

	if (!*line || strspn(line, " \t") == strlen(line))
		return;
	ctl_le.history(e->hist, &ev, H_ENTER, line);
	ctl_history_add(&e->file, line);
}

void ctl_edit_close(struct ctl_edit *e)
{
	if (!e)
		return;
	if (e->el)
		ctl_le.el_end(e->el);
	if (e->hist)
		ctl_le.history_end(e->hist);
	ctl_history_close(&e->file);
	if (e->in >= 0)
		close(e->in);
	free(e);
}
