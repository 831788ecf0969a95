/*
 * Split a script line into words for the interactive and script modes.
 *
 * Words are separated by blanks.  Quotes ("..." or '...') may start
 * anywhere in a word (@64:'a b' is one word) and run to the matching
 * unescaped quote; a backslash inside them escapes the next character.
 * Everything is kept verbatim, quotes and escapes included, so that
 * ctl_call_parse can still tell "a string" from a SYMBOL and decode the
 * escapes once.  Outside quotes a backslash keeps the next character in
 * the word (it cannot start a quote or end the word).  A '#' at the start
 * of a word comments out the rest of the line.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Where the word at s ends; -EINVAL if a quote is left open. */
static int word_end(const char *s, const char **end)
{
	char q = 0;

	for (; *s; s++) {
		if (*s == '\\') {
			/* a backslash at the very end escapes nothing */
			if (!s[1])
				break;
			s++;
		} else if (q) {
			if (*s == q)
				q = 0;
		} else if (*s == '"' || *s == '\'') {
			q = *s;
		} else if (is_blank(*s)) {
			break;
		}
	}
	if (q)
		return -EINVAL;
	*end = s + (*s == '\\');
	return 0;
}

/* Append a copy of s[0..n) to *argv, keeping room for the final NULL. */
static int push_word(char ***argv, int *argc, size_t *cap, const char *s,
		     size_t n)
{
	size_t ncap;
	char **a;

	if ((size_t)*argc + 2 > *cap) {
		if (*argc >= INT_MAX / 2)
			return -E2BIG;
		ncap = *cap ? *cap * 2 : 8;
		a = realloc(*argv, ncap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		*argv = a;
		*cap = ncap;
	}
	(*argv)[*argc] = strndup(s, n);
	if (!(*argv)[*argc])
		return -ENOMEM;
	(*argc)++;
	(*argv)[*argc] = NULL;
	return 0;
}

int ctl_split_line(const char *line, char ***argv_out, int *argc_out)
{
	const char *s = line, *end;
	char **argv = NULL;
	size_t cap = 0;
	int argc = 0, rc;

	*argv_out = NULL;
	*argc_out = 0;
	if (!line)
		return -EINVAL;
	/* an empty line still yields a NULL-terminated, freeable argv */
	argv = calloc(1, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	cap = 1;
	for (;;) {
		while (is_blank(*s))
			s++;
		if (!*s || *s == '#')
			break;
		rc = word_end(s, &end);
		if (rc)
			goto fail;
		rc = push_word(&argv, &argc, &cap, s, (size_t)(end - s));
		if (rc)
			goto fail;
		s = end;
	}
	*argv_out = argv;
	*argc_out = argc;
	return 0;
fail:
	ctl_split_free(argv, argc);
	return rc;
}

void ctl_split_free(char **argv, int argc)
{
	int i;

	if (!argv)
		return;
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
