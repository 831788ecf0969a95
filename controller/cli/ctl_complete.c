/*
 * Tab in attach: the word at the cursor completed from what fits where
 * it stands -- verbs and syscall names first, then the syscall names
 * after `call` and the verbs after `help`, the server's fd numbers (its
 * `fds`) as arguments of a call, label, gc --keep and give, its labels
 * after unlabel, worker pids and labels (`ps`) after kill, stop, wait,
 * logs, ack and respawn.  One match replaces the word, quoted as
 * ctl_words needs it (a label with a blank), and a blank follows;
 * several: their common beginning, and a second Tab lists them.
 * The shell's completion asks the same rules through ctl_complete_cands
 * (tetherctl complete, ctl_complete_cmd.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_libedit.h"

/* Syscall numbers looked up for names: past any there is today. */
/* Candidates shown at once. */
#define CTL_COMPLETE_LIST_MAX 200

struct ctl_cands {
	const char *prefix;
	size_t plen;
	char **v;
	size_t n, cap;
};

static void ctl_cand(struct ctl_cands *c, const char *s)
{
	char **nv;

	if (strncmp(s, c->prefix, c->plen) || !*s)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->v[i], s))
			return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;

		if (!(nv = realloc(c->v, cap * sizeof(*nv))))
			return;
		c->v = nv;
		c->cap = cap;
	}
	if ((c->v[c->n] = strdup(s)))
		c->n++;
}

/* The server to ask: the session's, or (the shell's completion) one
 * connected as an observer on first need; NULL when there is none. */
static struct tether *ctl_cands_server(struct ctl_session *s)
{
	if (s->t || !s->cmdline || s->tried)
		return s->t;
	s->tried = true;
	if (tether_connect_uid(s->g->socket_path, TETHER_CONNECT_OBSERVE,
			       s->g->server_uid, &s->t) < 0)
		s->t = NULL;
	return s->t;
}

static void ctl_cand_verbs(struct ctl_cands *c, const struct ctl_session *s,
			   bool session_words)
{
	const struct ctl_verb *v;

	for (size_t i = 0; (v = ctl_verb_at(i)); i++) {
		if (session_words && ((v->conn == CTL_CONN_NONE &&
				       strcmp(v->name, "help")) ||
				      !strcmp(v->name, "attach")))
			continue;
		if (s->observe && v->conn == CTL_CONN_CONTROL)
			continue;
		ctl_cand(c, v->name);
	}
	if (session_words) {
		ctl_cand(c, "detach");
		ctl_cand(c, "quit");
		ctl_cand(c, "exit");
	}
}

static void ctl_cand_syscalls(struct ctl_cands *c)
{
	for (size_t nr = 0; nr < ctl_sysnames_n; nr++) {
		const char *name = ctl_sysname_of((long)nr);

		if (name)
			ctl_cand(c, name);
	}
}

static void ctl_cand_fds(struct ctl_cands *c, struct ctl_session *s,
			 bool numbers, bool labels)
{
	struct tether *t = ctl_cands_server(s);
	struct tether_fdinfo *v = NULL, *in = NULL;
	size_t n = 0, nin = 0;
	char buf[16];

	/* (interrupted: the prompt sees the Ctrl-C too and starts over) */
	if (!t || tether_list_fds(t, &v, &n, &in, &nin) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%d", v[i].fd);
		if (numbers)
			ctl_cand(c, buf);
		if (labels && v[i].label[0])
			ctl_cand(c, v[i].label);
	}
	tether_free(v);
	tether_free(in);
}

static void ctl_cand_workers(struct ctl_cands *c, struct ctl_session *s)
{
	struct tether *t = ctl_cands_server(s);
	struct tether_worker *w = NULL;
	size_t n = 0;
	char buf[16];

	if (!t || tether_ps(t, &w, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%d", (int)w[i].pid);
		ctl_cand(c, buf);
		if (w[i].label[0])
			ctl_cand(c, w[i].label);
	}
	tether_free(w);
}

/* Options of `call` before its NAME: how many words they take. */
static int ctl_call_name_at(char **w, int n)
{
	int i = 1;

	while (i < n && !strncmp(w[i], "--", 2)) {
		if (!strcmp(w[i], "--"))
			return i + 1;
		i += strcmp(w[i], "--timeout") ? 1 : 2;
	}
	return i;
}

static bool ctl_is_one_of(const char *s, const char *const *names)
{
	for (; *names; names++)
		if (!strcmp(s, *names))
			return true;
	return false;
}

/* What may stand as word n after w[0..n). */
static void ctl_cands_for(struct ctl_cands *c, struct ctl_session *s,
			  char **w, int n)
{
	static const char *const worker_verbs[] = {
		"kill", "stop", "wait", "logs", "ack", "respawn", NULL
	};
	const struct ctl_verb *v;
	int at;

	if (n == 0) {
		ctl_cand_verbs(c, s, !s->cmdline);
		if (!s->observe && !s->cmdline)
			ctl_cand_syscalls(c);
		return;
	}
	if (!strcmp(w[0], "help")) {
		if (n == 1)
			ctl_cand_verbs(c, s, false);
		return;
	}
	if (ctl_is_one_of(w[0], worker_verbs)) {
		if (c->prefix[0] != '-')
			ctl_cand_workers(c, s);
		return;
	}
	if (!strcmp(w[0], "label")) {
		if (n == 1)
			ctl_cand_fds(c, s, true, false);
		return;
	}
	if (!strcmp(w[0], "unlabel")) {
		if (n == 1)
			ctl_cand_fds(c, s, false, true);
		return;
	}
	if (!strcmp(w[0], "gc") || !strcmp(w[0], "give")) {
		if (!strcmp(w[0], "give") ? n == 1 : !strcmp(w[n - 1], "--keep"))
			ctl_cand_fds(c, s, true, false);
		return;
	}
	if (!strcmp(w[0], "call")) {
		at = ctl_call_name_at(w, n);
		if (n == at)
			ctl_cand_syscalls(c);
		else if (n > at)
			ctl_cand_fds(c, s, true, false);
		return;
	}
	if (!(v = ctl_verb_find(w[0])) && !s->cmdline)
		/* a bare syscall: its arguments (numbers: call takes no
		 * labels) */
		ctl_cand_fds(c, s, true, false);
}

static int ctl_cand_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ctl_complete_cands(struct ctl_session *s, char **w, int n,
		       const char *prefix, char ***out, size_t *nout)
{
	struct ctl_cands c = { .prefix = prefix, .plen = strlen(prefix) };

	ctl_cands_for(&c, s, w, n);
	if (c.n)
		qsort(c.v, c.n, sizeof(*c.v), ctl_cand_cmp);
	*out = c.v;
	*nout = c.n;
	return 0;
}

void ctl_complete_cands_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Several matches: in columns under the line, which is then redrawn. */
static void ctl_cands_list(const struct ctl_cands *c)
{
	size_t width = 0, cols, shown = c->n;

	for (size_t i = 0; i < c->n; i++)
		if (strlen(c->v[i]) > width)
			width = strlen(c->v[i]);
	width += 2;
	cols = width < 80 ? 80 / width : 1;
	if (shown > CTL_COMPLETE_LIST_MAX)
		shown = CTL_COMPLETE_LIST_MAX;
	fputc('\n', stdout);
	for (size_t i = 0; i < shown; i++)
		fprintf(stdout, "%-*s%s", (int)width, c->v[i],
			(i + 1) % cols && i + 1 < shown ? "" : "\n");
	if (shown < c->n)
		fprintf(stdout, "... and %zu more\n", c->n - shown);
	fflush(stdout);
}

/* Where the word being typed starts in buf[0..len): after the last
 * blank outside quotes, as ctl_words would split it. */
static size_t ctl_word_start(const char *buf, size_t len)
{
	size_t i, start = 0;
	char q = 0;

	for (i = 0; i < len; i++) {
		char c = buf[i];

		if (q == '\'') {
			if (c == '\'')
				q = 0;
		} else if (c == '\\') {
			i++;
		} else if (q) {
			if (c == '"')
				q = 0;
		} else if (c == '"' || c == '\'') {
			q = c;
		} else if (c == ' ' || c == '\t') {
			start = i + 1;
		}
	}
	return start;
}

/* The word as typed so far, its quotes and escapes undone (a quote left
 * open is closed for it): what candidates must start with. */
static char *ctl_word_unquote(const char *raw)
{
	static const char *const closers[] = { "", "'", "\"" };
	char *text, **w = NULL, *out = NULL;
	int n = 0;

	for (size_t k = 0; k < 3; k++) {
		if (asprintf(&text, "%s%s", raw, closers[k]) < 0)
			return NULL;
		if (ctl_words(text, &w, &n) == 0) {
			/* one word at most: it starts after the last blank */
			if (n <= 1)
				out = strdup(n == 1 ? w[0] : "");
			ctl_words_free(w, n);
			free(text);
			return out;
		}
		free(text);
	}
	return NULL;
}

/* s with what ctl_words would take apart escaped, to be inserted. */
static char *ctl_word_quote(const char *s, size_t n)
{
	char *out = malloc(2 * n + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (strchr(" \t\n'\"\\", s[i]) || (i == 0 && s[i] == '#'))
			*o++ = '\\';
		*o++ = s[i];
	}
	*o = '\0';
	return out;
}

/* The typed word (raw, n characters on screen) replaced by the first len
 * bytes of cand, quoted, and a blank after it when it is complete. */
static void ctl_word_replace(EditLine *el, const char *raw, const char *cand,
			     size_t len, bool done)
{
	char *q = ctl_word_quote(cand, len);
	size_t chars = mbstowcs(NULL, raw, 0);

	if (!q)
		return;
	ctl_le.el_deletestr(el, (int)(chars == (size_t)-1 ? strlen(raw) : chars));
	ctl_le.el_insertstr(el, q);
	if (done)
		ctl_le.el_insertstr(el, " ");
	free(q);
}

unsigned char ctl_complete(EditLine *el, int ch)
{
	const LineInfo *li = ctl_le.el_line(el);
	struct ctl_session *s = NULL;
	struct ctl_cands c = { 0 };
	char *before = NULL, *raw = NULL, *word = NULL, **w = NULL;
	unsigned char ret = CC_ERROR;
	size_t len = (size_t)(li->cursor - li->buffer), at, common;
	int n = 0;

	(void)ch;
	ctl_le.el_get(el, EL_CLIENTDATA, &s);
	at = ctl_word_start(li->buffer, len);
	if (!s || !(before = strndup(li->buffer, at)) ||
	    !(raw = strndup(li->buffer + at, len - at)) ||
	    !(word = ctl_word_unquote(raw)) || ctl_words(before, &w, &n) < 0)
		goto out;
	c.prefix = word;
	c.plen = strlen(word);
	ctl_cands_for(&c, s, w, n);
	if (c.n == 0)
		goto out;
	qsort(c.v, c.n, sizeof(*c.v), ctl_cand_cmp);
	for (common = strlen(c.v[0]); common > c.plen; common--) {
		size_t i;

		for (i = 1; i < c.n && !strncmp(c.v[i], c.v[0], common); i++)
			;
		if (i == c.n)
			break;
	}
	if (c.n == 1 || common > c.plen) {
		ctl_word_replace(el, raw, c.v[0], c.n == 1 ? strlen(c.v[0])
							   : common,
				 c.n == 1);
		ret = CC_REFRESH;
	} else {
		ctl_cands_list(&c);
		ret = CC_REDISPLAY;
	}
out:
	for (size_t i = 0; i < c.n; i++)
		free(c.v[i]);
	free(c.v);
	ctl_words_free(w, n);
	free(before);
	free(raw);
	free(word);
	return ret;
}
