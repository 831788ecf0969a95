/*
 * tetherctl complete -- WORD...: what the shell's completion scripts
 * (contrib/completion) ask.  The words are the command line after
 * "tetherctl" up to the word being completed, which comes last (empty
 * at a blank).  The answer on stdout: a first line "files" when file
 * names fit there (the shell adds its own), else "words"; then the
 * candidates that start with the last word, one a line.  The global
 * options and each verb's options come from the usage lines of the
 * verb table, the rest from Tab's rules in attach (ctl_complete.c), so
 * the shell and attach never disagree.  Never an error: a server that
 * is not there only means no labels, fds or pids.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* The options before the verb, and whether each takes a word. */
static const struct {
	const char *name;
	bool arg;
} ctl_globals[] = {
	{ "--socket", true }, { "-s", true }, { "--json", false },
	{ "--take-over", false }, { "--server-uid", true },
	{ "--help", false }, { "--version", false },
};

#define CTL_NGLOBALS (sizeof(ctl_globals) / sizeof(ctl_globals[0]))

/* A Tab must not hang on a server that accepts and never answers:
 * SIGALRM (its default action) ends us, and the shell offers nothing. */
#define CTL_COMPLETE_SECONDS 2

/* A placeholder of a usage line that names a local file. */
static bool ctl_is_file_word(const char *ph, size_t n)
{
	static const char *const kinds[] = { "FILE", "PATH", "LOCAL", "DIR",
					     "CMD", "ARGS" };

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (memmem(ph, n, kinds[i], strlen(kinds[i])))
			return true;
	return false;
}

/* An option name of a usage line: -x or --xx, not -SIG (a placeholder). */
static bool ctl_is_opt_word(const char *t, size_t n)
{
	bool lower = false;

	if (n < 2 || t[0] != '-' || (n == 2 && t[1] == '-'))
		return false;
	for (size_t i = 1; i < n; i++)
		lower |= islower((unsigned char)t[i]) != 0;
	return lower;
}

/* One token of a usage line, brackets and "..." aside. */
struct ctl_utok {
	const char *s;
	size_t n;		/* the name: up to [ ] | = or . */
	size_t len;		/* the whole token from s */
	bool opened;		/* began with '[' and did not close it */
};

/* The next token of *p (a usage line), false at its end. */
static bool ctl_utok_next(const char **p, struct ctl_utok *t)
{
	const char *s = *p, *e;

	while (*s == ' ')
		s++;
	if (!*s)
		return false;
	e = s + strcspn(s, " ");
	*p = e;
	t->opened = *s == '[' && !memchr(s, ']', (size_t)(e - s));
	while (s < e && *s == '[')
		s++;
	t->s = s;
	t->len = (size_t)(e - s);
	t->n = strcspn(s, "[]|=.");
	if (t->n > t->len)
		t->n = t->len;
	return true;
}

/* Verb v's option opt (n bytes): known, and does it take a word?
 * (An option that opens a bracket takes the word that follows.)  arg_ph
 * gets that word's placeholder. */
static bool ctl_verb_opt(const struct ctl_verb *v, const char *opt, size_t n,
			 bool *arg, struct ctl_utok *arg_ph)
{
	const char *p = v->usage;
	struct ctl_utok t, next;

	while (ctl_utok_next(&p, &t)) {
		if (!ctl_is_opt_word(t.s, t.n) || t.n != n ||
		    strncmp(t.s, opt, n))
			continue;
		*arg = t.opened && ctl_utok_next(&p, &next) &&
		       next.s[0] != '-';
		if (*arg && arg_ph)
			*arg_ph = next;
		return true;
	}
	*arg = false;
	return false;
}

/* Print verb v's options (and --help) that start with prefix. */
static void ctl_print_verb_opts(const struct ctl_verb *v, const char *prefix)
{
	const char *p = v->usage;
	struct ctl_utok t;
	size_t plen = strlen(prefix);

	while (ctl_utok_next(&p, &t))
		if (ctl_is_opt_word(t.s, t.n) && t.n >= plen &&
		    !strncmp(t.s, prefix, plen))
			printf("%.*s\n", (int)t.n, t.s);
	if (!strncmp("--help", prefix, plen))
		printf("--help\n");
}

/* The k-th positional placeholder of v's usage (the last one repeats
 * when it ends in "..."); false past them. */
static bool ctl_verb_positional(const struct ctl_verb *v, int k,
				struct ctl_utok *ph)
{
	const char *p = v->usage;
	struct ctl_utok t, last = { 0 };
	bool have = false, skip = false, repeats = false;

	ctl_utok_next(&p, &t);	/* the verb's name */
	while (ctl_utok_next(&p, &t)) {
		if (skip) {	/* an option's word */
			skip = false;
			continue;
		}
		if (ctl_is_opt_word(t.s, t.n)) {
			skip = t.opened;
			continue;
		}
		if (t.n == 2 && !strncmp(t.s, "--", 2))
			continue;
		last = t;
		have = true;
		repeats = memmem(t.s, t.len, "...", 3) != NULL;
		if (k-- == 0) {
			*ph = t;
			return true;
		}
	}
	if (have && repeats) {
		*ph = last;
		return true;
	}
	return false;
}

/* Where the verb stands in words[0..last): past the global options,
 * whose -s/--server-uid are taken for the server's candidates.  *files
 * when the word being completed is a global option's file. */
static int ctl_skip_globals(struct ctl *g, char **words, int last,
			    bool *files, bool *global_arg)
{
	int i = 0;

	while (i < last && words[i][0] == '-') {
		const char *w = words[i];
		bool arg = false;

		if (!strcmp(w, "--"))
			return i + 1;
		for (size_t k = 0; k < CTL_NGLOBALS; k++)
			if (!strcmp(w, ctl_globals[k].name))
				arg = ctl_globals[k].arg;
		if (!strncmp(w, "--socket=", 9))
			g->socket_path = w + 9;
		else if (!strncmp(w, "-s", 2) && w[2])
			g->socket_path = w + 2;
		if (!arg) {
			i++;
			continue;
		}
		if (i + 1 == last) {
			*files = strcmp(w, "--server-uid") != 0;
			*global_arg = true;
			return last;
		}
		if (!strcmp(w, "-s") || !strcmp(w, "--socket")) {
			g->socket_path = words[i + 1];
		} else {
			char *end;
			unsigned long uid = strtoul(words[i + 1], &end, 10);

			/* a uid that does not parse trusts no one more */
			if (!*end && end != words[i + 1] && uid < (uid_t)-1)
				g->server_uid = (uid_t)uid;
		}
		i += 2;
	}
	return i;
}

/* After the verb v = w[0], word n: a file?  An option's word (no
 * candidates, unless a file) sets *opt_arg. */
static bool ctl_verb_wants_file(const struct ctl_verb *v, char **w, int n,
				bool *opt_arg)
{
	struct ctl_utok ph;
	bool arg;
	int k = 0;

	*opt_arg = false;
	for (int i = 1; i < n; i++) {
		if (!strcmp(w[i], "--"))
			return true;	/* -- CMD [ARGS...] */
		if (w[i][0] == '-' && w[i][1] &&
		    ctl_verb_opt(v, w[i], strlen(w[i]), &arg, &ph)) {
			if (arg && i + 1 == n) {
				*opt_arg = true;
				return ctl_is_file_word(ph.s, ph.n);
			}
			i += arg;
			continue;
		}
		k++;
	}
	return ctl_verb_positional(v, k, &ph) && ctl_is_file_word(ph.s, ph.n);
}

int ctl_complete_cmd(struct ctl *g, int argc, char **argv)
{
	struct ctl_session s = { .g = g, .cmdline = true };
	const struct ctl_verb *v;
	char **words = argv + 1, **cands = NULL;
	const char *prefix;
	bool files = false, global_arg = false, opt_arg = false;
	size_t n = 0;
	int nw = argc - 1, at;

	if (nw > 0 && !strcmp(words[0], "--")) {
		words++;
		nw--;
	}
	if (nw < 1) {
		fprintf(stderr, "usage: tetherctl complete -- WORD...\n");
		return CTL_EX_USAGE;
	}
	prefix = words[nw - 1];
	at = ctl_skip_globals(g, words, nw - 1, &files, &global_arg);
	if (global_arg) {
		printf("%s\n", files ? "files" : "words");
		return CTL_EX_OK;
	}
	if (at == nw - 1 && prefix[0] == '-') {
		printf("words\n");
		for (size_t k = 0; k < CTL_NGLOBALS; k++)
			if (!strncmp(ctl_globals[k].name, prefix,
				     strlen(prefix)))
				printf("%s\n", ctl_globals[k].name);
		return CTL_EX_OK;
	}
	v = at < nw - 1 ? ctl_verb_find(words[at]) : NULL;
	if (at < nw - 1 && !v) {
		printf("words\n");	/* an unknown verb: nothing fits */
		return CTL_EX_OK;
	}
	if (v && ctl_verb_wants_file(v, words + at, nw - 1 - at, &opt_arg))
		files = true;
	printf("%s\n", files ? "files" : "words");
	if (v && prefix[0] == '-' && !opt_arg) {
		ctl_print_verb_opts(v, prefix);
		return CTL_EX_OK;
	}
	/* an option's word: only gc --keep's are the server's (fds) */
	if (files || (opt_arg && strcmp(words[nw - 2], "--keep")))
		return CTL_EX_OK;
	alarm(CTL_COMPLETE_SECONDS);
	ctl_complete_cands(&s, words + at, nw - 1 - at, prefix, &cands, &n);
	for (size_t i = 0; i < n; i++)
		printf("%s\n", cands[i]);
	ctl_complete_cands_free(cands, n);
	tether_disconnect(s.t);
	return CTL_EX_OK;
}
