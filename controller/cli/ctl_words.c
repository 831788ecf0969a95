/*
 * One line into words, the way a shell splits a command line, for attach
 * and batch files alike: blanks separate words; '...' keeps everything,
 * "..." keeps everything but \" \\ \$ and \`; a backslash outside quotes
 * keeps the next character; quotes are removed ("" is an empty word); a
 * '#' that starts a word comments out the rest of the line.  No
 * expansion of any kind ($0 in a batch file stays $0).
 *
 * The splitting itself is libedit's tokenizer (tok_str, histedit.h,
 * loaded on first use: ctl_libedit.h);
 * this file adds comments, one word limit, and guards its one flaw: a
 * backslash at the very end of a string makes tok_str read past the
 * terminating NUL (libedit 3.1-20221030), so we refuse it first.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_libedit.h"

/* Words one line may have: argv for a verb, not a data channel. */
#define CTL_WORDS_MAX 4096

static bool ctl_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Where the comment starts (or the NUL), scanning quotes as a shell does;
 * *open the quote left open at the end (0 none, '\\' a final backslash). */
static size_t ctl_words_scan(const char *s, char *open)
{
	bool word_start = true;
	char q = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (q == '\'') {
			if (c == '\'')
				q = 0;
		} else if (c == '\\') {
			if (!s[i + 1]) {
				*open = '\\';
				return i + 1;
			}
			i++;
		} else if (q == '"') {
			if (c == '"')
				q = 0;
		} else if (c == '"' || c == '\'') {
			q = c;
		} else if (c == '#' && word_start) {
			break;
		}
		word_start = !q && ctl_is_blank(c);
	}
	*open = q;
	return i;
}

const char *ctl_words_strerror(int rc)
{
	switch (rc) {
	case CTL_WORDS_SQUOTE:
		return "unbalanced quotes: a ' is not closed";
	case CTL_WORDS_DQUOTE:
		return "unbalanced quotes: a \" is not closed";
	case CTL_WORDS_BACKSLASH:
		return "a backslash at the end of the line escapes nothing";
	case -E2BIG:
		return "too many words on one line";
	case -ENOMEM:
		return "out of memory";
	case -ELIBACC:
		return ctl_libedit_why();
	default:
		return "cannot split the line";
	}
}

int ctl_words(const char *line, char ***argv_out, int *argc_out)
{
	Tokenizer *tok = NULL;
	const char **tv;
	char **argv = NULL;
	char *copy = NULL;
	char open = 0;
	int tc, rc, i;
	size_t end;

	*argv_out = NULL;
	*argc_out = 0;
	if (!line)
		return -EINVAL;
	end = ctl_words_scan(line, &open);
	if (open == '\\')
		return CTL_WORDS_BACKSLASH;
	if (open)
		return open == '\'' ? CTL_WORDS_SQUOTE : CTL_WORDS_DQUOTE;
	if ((rc = ctl_libedit_load()) < 0)
		return rc;
	rc = -ENOMEM;
	if (!(copy = strndup(line, end)) || !(tok = ctl_le.tok_init(NULL)))
		goto fail;
	switch (ctl_le.tok_str(tok, copy, &tc, &tv)) {
	case 0:
		break;
	case 1:
		rc = CTL_WORDS_SQUOTE;
		goto fail;
	case 2:
		rc = CTL_WORDS_DQUOTE;
		goto fail;
	case 3:
		rc = CTL_WORDS_BACKSLASH;
		goto fail;
	default:
		goto fail;
	}
	rc = -E2BIG;
	if (tc < 0 || tc > CTL_WORDS_MAX)
		goto fail;
	rc = -ENOMEM;
	if (!(argv = calloc((size_t)tc + 1, sizeof(*argv))))
		goto fail;
	for (i = 0; i < tc; i++)
		if (!(argv[i] = strdup(tv[i]))) {
			ctl_words_free(argv, i);
			argv = NULL;
			goto fail;
		}
	ctl_le.tok_end(tok);
	free(copy);
	*argv_out = argv;
	*argc_out = tc;
	return 0;
fail:
	if (tok)
		ctl_le.tok_end(tok);
	free(copy);
	return rc;
}

void ctl_words_free(char **argv, int argc)
{
	int i;

	if (!argv)
		return;
	for (i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
