/*
 * A file of calls, one per line in the `call` syntax: what batch runs in
 * order and submit starts side by side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_libedit.h"

void ctl_calls_free(struct ctl_calls *b)
{
	for (size_t i = 0; i < b->n; i++)
		ctl_callspec_free(&b->cs[i]);
	free(b->cs);
	b->cs = NULL;
	b->n = b->cap = 0;
}

/* One line (with or without the word call): 0, or -errno said. */
static int ctl_calls_line(struct ctl_calls *b, const char *verb,
			  const char *line, int lineno)
{
	char err[256], **w;
	int n, rc, skip;

	/* Words as attach and a shell split them: a string for `call`
	 * keeps its double quotes inside single ones ('"/etc/hostname"'). */
	if ((rc = ctl_words(line, &w, &n)) < 0) {
		ctl_err("%s line %d: %s", verb, lineno,
			ctl_words_strerror(rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	if (n == 0) {
		ctl_words_free(w, n);
		return 0;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 16;
		struct ctl_callspec *nv = realloc(b->cs, cap * sizeof(*nv));

		if (!nv) {
			ctl_words_free(w, n);
			return -ENOMEM;
		}
		b->cs = nv;
		b->cap = cap;
	}
	skip = !strcmp(w[0], "call");
	if (n - skip <= 0) {
		rc = -EINVAL;
		snprintf(err, sizeof(err), "empty call");
	} else if ((rc = ctl_call_parse(n - skip, w + skip, &b->cs[b->n], err,
					sizeof(err))) == 0 &&
		   ((rc = ctl_call_check(&b->cs[b->n], err, sizeof(err))) < 0 ||
		    (b->check &&
		     (rc = b->check(&b->cs[b->n], err, sizeof(err))) < 0))) {
		ctl_callspec_free(&b->cs[b->n]);
	}
	if (rc < 0)
		ctl_err("%s line %d: %s", verb, lineno, err);
	else
		b->n++;
	ctl_words_free(w, n);
	return rc;
}

int ctl_calls_read(struct ctl_calls *b, const char *verb, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;
	FILE *f;

	/* Its lines are split by libedit's tokenizer: say so up front. */
	if (ctl_libedit_load() < 0) {
		ctl_err("%s: %s", verb, ctl_libedit_why());
		return CTL_EX_FAILED;
	}
	/* In attach the session reads stdin, ahead of stdio's buffer */
	if (!strcmp(path, "-") && ctl_stdin_is_session) {
		ctl_err("%s: -: the session reads the standard input; give "
			"the calls in a file", verb);
		return CTL_EX_USAGE;
	}
	f = strcmp(path, "-") ? fopen(path, "re") : stdin;
	if (!f) {
		ctl_err_errno(errno, "%s: %s: %s", verb, path, strerror(errno));
		return CTL_EX_FAILED;
	}
	while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (len && line[len - 1] == '\n')
			line[len - 1] = '\0';
		rc = ctl_calls_line(b, verb, line, lineno);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	if (rc == 0 && b->n == 0) {
		ctl_err("%s: no calls", verb);
		rc = -EINVAL;
	}
	if (rc < 0) {
		ctl_calls_free(b);
		return CTL_EX_USAGE;
	}
	return CTL_EX_OK;
}

struct tether_call *ctl_calls_array(const struct ctl_calls *b)
{
	struct tether_call *calls = calloc(b->n, sizeof(*calls));

	for (size_t i = 0; calls && i < b->n; i++)
		calls[i] = b->cs[i].call;
	return calls;
}
