/*
 * Where a socket lives when nobody says ($TETHER_SOCKET, else the runtime
 * dir, else /tmp/tether-UID), and whether the directories on the way to
 * it can be trusted: /tmp/tether-UID can be made first by anyone.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

/* Symlinks followed in one walk before it gives up, as the kernel does. */
#define TP_LINKS_MAX 40

static int tp_fits(int n, size_t size)
{
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int tp_default_socket_path_in(const char *run, const char *tmp, char *buf,
			      size_t size)
{
	const char *env = getenv("TETHER_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[PATH_MAX];
	struct stat st;

	if (env && *env)
		return tp_fits(snprintf(buf, size, "%s", env), size);
	if (xdg && *xdg == '/')
		return tp_fits(snprintf(buf, size, "%s/tether/tetherd.sock",
					xdg), size);
	snprintf(dir, sizeof(dir), "%s/%u", run, (unsigned)getuid());
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid())
		return tp_fits(snprintf(buf, size, "%s/tether/tetherd.sock",
					dir), size);
	return tp_fits(snprintf(buf, size, "%s/tether-%u/tetherd.sock", tmp,
				(unsigned)getuid()), size);
}

int tp_default_socket_path(char *buf, size_t size)
{
	return tp_default_socket_path_in("/run/user", "/tmp", buf, size);
}

/* ---- the directory chain ------------------------------------------ */

/* One walk: cur is resolved (no symlinks), rest is still to go. */
struct tp_walk {
	char cur[PATH_MAX];
	char rest[PATH_MAX];
	uid_t uid;
	uid_t also;
	int links;
	char *err;
	size_t errsz;
};

static bool tp_walk_trusts(const struct tp_walk *w, uid_t owner)
{
	return owner == 0 || owner == w->uid ||
	       (w->also != TP_UID_NONE && owner == w->also);
}

/* "uid 1000 or root", "uid 1000, uid 2000 or root" */
static const char *tp_walk_who(const struct tp_walk *w, char *buf,
			       size_t size)
{
	if (w->also == TP_UID_NONE || w->also == w->uid)
		snprintf(buf, size, "uid %u or root", (unsigned)w->uid);
	else
		snprintf(buf, size, "uid %u, uid %u or root", (unsigned)w->uid,
			 (unsigned)w->also);
	return buf;
}

static int tp_walk_fail(struct tp_walk *w, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int tp_walk_fail(struct tp_walk *w, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (w->err && w->errsz)
		vsnprintf(w->err, w->errsz, fmt, ap);
	va_end(ap);
	return -err;
}

/* A directory on the way: a trusted owner, and nobody else may write
 * in it unless it is sticky (then only the owner of an entry may
 * replace that entry, and the next step checks that owner). */
static int tp_walk_dir(struct tp_walk *w, const char *path,
		       const struct stat *st)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	char who[64];

	if (!tp_walk_trusts(w, st->st_uid))
		return tp_walk_fail(w, EACCES, "%s belongs to uid %u (mode "
				    "%04o), not to %s", path,
				    (unsigned)st->st_uid, mode,
				    tp_walk_who(w, who, sizeof(who)));
	if ((st->st_mode & S_ISVTX) || !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	return tp_walk_fail(w, EACCES, "%s is %s-writable (mode %04o) "
			    "without the sticky bit", path,
			    st->st_mode & S_IWOTH ? "world" : "group", mode);
}

/* Take the first component of w->rest into comp; false when none is
 * left. */
static bool tp_walk_next(struct tp_walk *w, char *comp, size_t size)
{
	char *p = w->rest;
	size_t n;

	while (*p == '/')
		p++;
	if (!*p)
		return false;
	n = strcspn(p, "/");
	snprintf(comp, size, "%.*s", (int)n, p);
	memmove(w->rest, p + n, strlen(p + n) + 1);
	return true;
}

/* A symlink on the way: its owner could point it elsewhere after we
 * looked, so it must be trusted like a directory; then its target is
 * walked (and checked) in its place. */
static int tp_walk_link(struct tp_walk *w, const char *path,
			const struct stat *st)
{
	char target[PATH_MAX], rest[PATH_MAX], who[64];
	ssize_t n;

	if (!tp_walk_trusts(w, st->st_uid))
		return tp_walk_fail(w, EACCES, "%s is a symlink belonging to "
				    "uid %u, not to %s", path,
				    (unsigned)st->st_uid,
				    tp_walk_who(w, who, sizeof(who)));
	if (++w->links > TP_LINKS_MAX)
		return tp_walk_fail(w, ELOOP, "%s: too many symlinks", path);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return tp_walk_fail(w, errno, "%s: %s", path, strerror(errno));
	target[n] = '\0';
	if (tp_fits(snprintf(rest, sizeof(rest), "%s/%s", target, w->rest),
		    sizeof(rest)) < 0)
		return tp_walk_fail(w, ENAMETOOLONG, "%s: path too long",
				    path);
	memcpy(w->rest, rest, sizeof(rest));
	if (target[0] == '/')
		strcpy(w->cur, "/");
	return 0;
}

/* One component: "." stays, ".." goes up (cur has no symlinks, so
 * that is its parent), anything else must be a trusted directory or a
 * trusted symlink to one. */
static int tp_walk_step(struct tp_walk *w, const char *comp)
{
	char next[PATH_MAX];
	struct stat st;
	char *slash;
	int rc;

	if (!strcmp(comp, "."))
		return 0;
	if (!strcmp(comp, "..")) {
		slash = strrchr(w->cur, '/');
		slash[slash == w->cur] = '\0';
		return 0;
	}
	if (tp_fits(snprintf(next, sizeof(next), "%s%s%s", w->cur,
			     strcmp(w->cur, "/") ? "/" : "", comp),
		    sizeof(next)) < 0)
		return tp_walk_fail(w, ENAMETOOLONG, "%s/%s: path too long",
				    w->cur, comp);
	if (lstat(next, &st) < 0)
		return tp_walk_fail(w, errno, "%s: %s", next, strerror(errno));
	if (S_ISLNK(st.st_mode))
		return tp_walk_link(w, next, &st);
	if (!S_ISDIR(st.st_mode))
		return tp_walk_fail(w, ENOTDIR, "%s is not a directory", next);
	if ((rc = tp_walk_dir(w, next, &st)) < 0)
		return rc;
	memcpy(w->cur, next, sizeof(next));
	return 0;
}

int tp_check_dir_chain(const char *dir, uid_t uid, uid_t also, char *err,
		       size_t errsz)
{
	/* Not an initialiser: that would zero both paths, 8 KiB of stack
	 * every tetherctl would fault in for nothing (each is written
	 * before it is read). */
	struct tp_walk w;
	char comp[PATH_MAX];
	struct stat st;
	int rc;

	w.uid = uid;
	w.also = also;
	w.links = 0;
	w.err = err;
	w.errsz = errsz;
	w.cur[0] = w.rest[0] = '\0';
	if (err && errsz)
		err[0] = '\0';
	/* A relative path starts at the working directory, whose own
	 * chain is walked too. */
	if (dir[0] != '/' && !getcwd(w.cur, sizeof(w.cur)))
		return tp_walk_fail(&w, errno, "getcwd: %s", strerror(errno));
	if (tp_fits(snprintf(w.rest, sizeof(w.rest), "%s/%s",
			     dir[0] == '/' ? "" : w.cur, dir),
		    sizeof(w.rest)) < 0)
		return tp_walk_fail(&w, ENAMETOOLONG, "%s: path too long",
				    dir);
	strcpy(w.cur, "/");
	if (lstat("/", &st) < 0)
		return tp_walk_fail(&w, errno, "/: %s", strerror(errno));
	if ((rc = tp_walk_dir(&w, "/", &st)) < 0)
		return rc;
	while (tp_walk_next(&w, comp, sizeof(comp)))
		if ((rc = tp_walk_step(&w, comp)) < 0)
			return rc;
	return 0;
}
