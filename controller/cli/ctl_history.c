/*
 * attach's history file: $XDG_STATE_HOME/tether/history, else
 * ~/.local/state/tether/history.  Missing directories are made 0700, the
 * file 0600; neither is followed through a symlink, and a file that is
 * not ours or not a regular file is not used.  One line an entry, the
 * last CTL_HISTORY_MAX kept: the file is cut back to them when it has
 * grown to twice as many.  Lines are appended as they are entered, so a
 * killed session keeps what it was told.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

/* A line longer than this is not kept (nor read back). */
#define CTL_HISTORY_LINE 4096

/* mkdir -p of path's directory, each new one 0700 (an existing one may
 * be a symlink to a directory, as $HOME often is; the file itself is
 * never followed). */
static int ctl_history_dirs(char *path)
{
	struct stat st;
	char *slash;

	for (slash = strchr(path + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*slash = '/';
			return -errno;
		}
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			*slash = '/';
			return -ENOTDIR;
		}
		*slash = '/';
	}
	return 0;
}

int ctl_history_path(char *buf, size_t size)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	int n;

	/* The XDG spec: a relative value is invalid, ignore it. */
	if (state && state[0] == '/')
		n = snprintf(buf, size, "%s/tether/history", state);
	else if (home && home[0] == '/')
		n = snprintf(buf, size, "%s/.local/state/tether/history", home);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The file, opened for appending, its lines in h (oldest first).  -errno
 * when there is to be no history (the caller says why once). */
int ctl_history_open(struct ctl_history *h)
{
	char path[PATH_MAX], line[CTL_HISTORY_LINE + 2];
	struct stat st;
	FILE *f;
	int fd, rc;

	memset(h, 0, sizeof(*h));
	h->fd = -1;
	if ((rc = ctl_history_path(path, sizeof(path))) < 0 ||
	    (rc = ctl_history_dirs(path)) < 0)
		return rc;
	fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid()) {
		close(fd);
		return -EPERM;
	}
	/* Ours, but perhaps made by hand: not for other eyes. */
	if (st.st_mode & 077)
		(void)fchmod(fd, st.st_mode & 0600);
	h->fd = fd;
	if ((fd = dup(h->fd)) < 0 || !(f = fdopen(fd, "r"))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			/* too long: skip the rest of it */
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		if (n)
			ctl_history_keep(h, line);
	}
	fclose(f);
	if (h->in_file > 2 * CTL_HISTORY_MAX)
		ctl_history_rewrite(h);
	return 0;
}

/* Remember line in memory (the last CTL_HISTORY_MAX). */
void ctl_history_keep(struct ctl_history *h, const char *line)
{
	char *copy = strdup(line);

	if (!copy)
		return;
	if (h->n == CTL_HISTORY_MAX) {
		free(h->lines[0]);
		memmove(h->lines, h->lines + 1,
			(CTL_HISTORY_MAX - 1) * sizeof(h->lines[0]));
		h->n--;
	}
	h->lines[h->n++] = copy;
	h->in_file++;
}

/* The file holds just what is in memory again. */
void ctl_history_rewrite(struct ctl_history *h)
{
	if (h->fd < 0 || ftruncate(h->fd, 0) < 0)
		return;
	h->in_file = 0;
	for (size_t i = 0; i < h->n; i++) {
		if (dprintf(h->fd, "%s\n", h->lines[i]) < 0)
			return;
		h->in_file++;
	}
}

/* A line entered: kept and appended (one line; none too long). */
void ctl_history_add(struct ctl_history *h, const char *line)
{
	if (!*line || strchr(line, '\n') || strlen(line) > CTL_HISTORY_LINE)
		return;
	if (h->n && !strcmp(h->lines[h->n - 1], line))
		return;
	ctl_history_keep(h, line);
	if (h->fd >= 0 && dprintf(h->fd, "%s\n", line) < 0)
		return;
	if (h->in_file > 2 * CTL_HISTORY_MAX)
		ctl_history_rewrite(h);
}

void ctl_history_close(struct ctl_history *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->lines[i]);
	h->n = 0;
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}
