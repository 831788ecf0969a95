/* tetherctl put, get, give, take: bytes and fds over the data socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

/* The progress options put and get share (ctl_progress.c). */
#define CTL_XFER_LONGOPTS                                                  \
	{ "progress", optional_argument, NULL, 'P' },                      \
	{ "no-progress", no_argument, NULL, 'N' },                         \
	{ "quiet", no_argument, NULL, 'q' }

/* One of them (getopt's c, optarg): 0, 1 if c is not one, -1 if bad. */
static int ctl_xfer_opt(int c, const char *arg, enum ctl_progress_mode *mode)
{
	switch (c) {
	case 'P':
		return ctl_progress_parse(arg, mode);
	case 'N':
	case 'q':
		*mode = CTL_PROGRESS_NONE;
		return 0;
	default:
		return 1;
	}
}

/* The JSON summary goes to out: stdout, or stderr when stdout carries
 * the file itself (get REMOTE -). */
static int ctl_xfer_report(struct ctl *g, const char *what,
			   const struct tether_xfer *x, struct ctl_progress *p,
			   FILE *out)
{
	ctl_progress_end(p, true);
	if (g->json)
		fprintf(out, "{\"op\":\"%s\",\"bytes\":%llu,\"local_xxh3\":"
		       "\"%016llx\",\"remote_xxh3\":\"%016llx\",\"verified\":%s}\n",
		       what, (unsigned long long)x->bytes,
		       (unsigned long long)x->local_xxh3,
		       (unsigned long long)x->remote_xxh3,
		       x->local_xxh3 == x->remote_xxh3 ? "true" : "false");
	return CTL_EX_OK;
}

int ctl_put(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		CTL_XFER_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct tether_xfer x = TETHER_XFER_INIT;
	enum ctl_progress_mode pm = CTL_PROGRESS_AUTO;
	struct ctl_progress prog;
	struct stat st;
	int fd, c, rc, mode = 0644;
	char *end;

	optind = 0;
	while ((c = getopt_long(argc, argv, "m:q", opts, NULL)) != -1) {
		if ((rc = ctl_xfer_opt(c, optarg, &pm)) < 0 ||
		    (rc && c != 'm'))
			return CTL_EX_USAGE;
		if (rc == 0)
			continue;
		mode = (int)strtol(optarg, &end, 8);
		if (*end)
			return CTL_EX_USAGE;
	}
	if (optind != argc - 2)
		return CTL_EX_USAGE;
	fd = strcmp(argv[optind], "-") ? open(argv[optind], O_RDONLY | O_CLOEXEC)
				       : 0;
	if (fd < 0) {
		ctl_err_errno(errno, "put: %s: %s",
			      argv[optind], strerror(errno));
		return CTL_EX_FAILED;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		x.size = st.st_size;
	if (ctl_progress_begin(&prog, pm, "put", true)) {
		x.progress = ctl_progress_cb;
		x.progress_arg = &prog;
	}
	rc = tether_put(t, fd, argv[optind + 1], mode, &x);
	if (fd)
		close(fd);
	if (rc < 0) {
		ctl_progress_end(&prog, false);
		ctl_err("put %s: %s", argv[optind + 1], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	return ctl_xfer_report(g, "put", &x, &prog, stdout);
}

/* get's local file appears whole or not at all, like a PUT: it is
 * written unnamed (O_TMPFILE) in LOCAL's directory, linked under a
 * hidden name once complete and renamed over LOCAL, so a get killed
 * midway leaves nothing.  A filesystem without O_TMPFILE gets the
 * hidden name from the start; such a leftover is removed by the next
 * get into that directory once its pid is gone. */
#define CTL_GET_TAG ".tether-get-"

struct ctl_local {
	const char *path;	/* LOCAL */
	char dir[4200];
	char tmp[4200];		/* DIR/.NAME.tether-get-PID */
	int fd;
	bool named;		/* tmp is on disk */
};

static int ctl_local_names(struct ctl_local *l, const char *path)
{
	const char *base = strrchr(path, '/');
	int n;

	l->path = path;
	l->fd = -1;
	l->named = false;
	if (!base)
		n = snprintf(l->dir, sizeof(l->dir), ".");
	else
		n = snprintf(l->dir, sizeof(l->dir), "%.*s",
			     base == path ? 1 : (int)(base - path), path);
	base = base ? base + 1 : path;
	if (n < 0 || (size_t)n >= sizeof(l->dir))
		return -ENAMETOOLONG;
	/* At most 200 bytes of NAME keep the hidden name under NAME_MAX. */
	n = snprintf(l->tmp, sizeof(l->tmp), "%s/.%.200s" CTL_GET_TAG "%d",
		     l->dir, base, (int)getpid());
	return n < 0 || (size_t)n >= sizeof(l->tmp) ? -ENAMETOOLONG : 0;
}

/* The pid a temporary's name ends with, or 0 if it is not one. */
static pid_t ctl_stale_pid(const char *name)
{
	const char *tag = strstr(name, CTL_GET_TAG);
	const char *p;
	long v;
	char *end;

	while (tag && strstr(tag + 1, CTL_GET_TAG))
		tag = strstr(tag + 1, CTL_GET_TAG);
	if (!tag)
		return 0;
	p = tag + strlen(CTL_GET_TAG);
	if (*p < '1' || *p > '9')
		return 0;
	v = strtol(p, &end, 10);
	return *end || v <= 0 || v > INT32_MAX ? 0 : (pid_t)v;
}

/* Remove temporaries of gets that died (ours, regular files, pid no
 * longer running; our own pid's are an earlier process's).  Names
 * NAME.tether-get-PID of older tetherctls included. */
static void ctl_sweep_stale(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	pid_t pid;

	while (d && (de = readdir(d))) {
		if (!(pid = ctl_stale_pid(de->d_name)))
			continue;
		if (pid != getpid() && (kill(pid, 0) == 0 || errno != ESRCH))
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_uid != geteuid())
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
}

/* An unnamed file in LOCAL's directory, or the named fallback. */
static int ctl_local_open(struct ctl_local *l)
{
	mode_t mask = umask(0);

	umask(mask);
	l->fd = open(l->dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644 & ~mask);
	if (l->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		ctl_err_errno(errno, "get: %s: %s", l->dir, strerror(errno));
		return -errno;
	}
	l->fd = open(l->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				     O_NOFOLLOW, 0644);
	if (l->fd < 0) {
		ctl_err_errno(errno, "get: %s: %s", l->tmp, strerror(errno));
		return -errno;
	}
	l->named = true;
	return 0;
}

/* Whole: on disk, then a name, then LOCAL's name in one rename. */
static int ctl_local_commit(struct ctl_local *l)
{
	char self[64];

	if (fsync(l->fd) < 0)
		return -errno;
	if (!l->named) {
		snprintf(self, sizeof(self), "/proc/self/fd/%d", l->fd);
		if (linkat(AT_FDCWD, self, AT_FDCWD, l->tmp,
			   AT_SYMLINK_FOLLOW) < 0)
			return -errno;
		l->named = true;
	}
	return rename(l->tmp, l->path) < 0 ? -errno : 0;
}

/* Done, or given up: close, and remove the hidden name if any. */
static void ctl_local_close(struct ctl_local *l, int rc)
{
	close(l->fd);
	if (rc < 0 && l->named)
		unlink(l->tmp);
}

/* Where the bytes go: stdout, a device (FIFO, socket) written to as it
 * is, or a regular file made whole (l->fd).  -1 after an error was
 * printed. */
static int ctl_get_open(const char *local, struct ctl_local *l, bool *direct)
{
	struct stat st;
	int fd;

	*direct = false;
	l->fd = -1;
	if (!strcmp(local, "-"))
		return 1;
	/* A device, a FIFO or a socket is written to, never replaced: the
	 * rename that makes a regular file appear whole would put a file
	 * where /dev/null was. */
	if (stat(local, &st) == 0 && !S_ISREG(st.st_mode)) {
		*direct = true;
		if (S_ISDIR(st.st_mode)) {
			ctl_err_errno(EISDIR, "get: %s: %s", local,
				      strerror(EISDIR));
			return -1;
		}
		fd = open(local, O_WRONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			ctl_err_errno(errno, "get: %s: %s",
				      local, strerror(errno));
		return fd;
	}
	if (ctl_local_names(l, local) < 0) {
		ctl_err_errno(ENAMETOOLONG, "get: %s: %s", local,
			      strerror(ENAMETOOLONG));
		return -1;
	}
	ctl_sweep_stale(l->dir);
	return ctl_local_open(l) < 0 ? -1 : l->fd;
}

int ctl_get(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		CTL_XFER_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct tether_xfer x = TETHER_XFER_INIT;
	enum ctl_progress_mode pm = CTL_PROGRESS_AUTO;
	struct ctl_progress prog;
	struct ctl_local l;
	const char *remote, *local;
	int fd, rc, c;
	bool to_stdout, direct, bar;

	optind = 0;
	while ((c = getopt_long(argc, argv, "q", opts, NULL)) != -1)
		if (ctl_xfer_opt(c, optarg, &pm))
			return CTL_EX_USAGE;
	if (optind != argc - 2)
		return CTL_EX_USAGE;
	remote = argv[optind];
	local = argv[optind + 1];
	to_stdout = !strcmp(local, "-");
	if ((fd = ctl_get_open(local, &l, &direct)) < 0)
		return CTL_EX_FAILED;
	/* the bar, unasked, not on the terminal the bytes go to */
	bar = ctl_progress_begin(&prog, pm, "get", !(to_stdout && isatty(1)));
	if (bar) {
		x.progress = ctl_progress_cb;
		x.progress_arg = &prog;
	}
	/* Without the bar or the JSON summary nothing reads x: libtether
	 * then skips the hash a same-host copy would only report. */
	rc = tether_get(t, remote, fd, bar || g->json ? &x : NULL);
	if (direct) {
		close(fd);
	} else if (!to_stdout) {
		if (rc == 0)
			rc = ctl_local_commit(&l);
		ctl_local_close(&l, rc);
	}
	if (rc < 0) {
		ctl_progress_end(&prog, false);
		ctl_err("get %s: %s", remote, ctl_why(t, rc));
		rc = ctl_status_of(rc);
		/* stdout holds the bytes that came: the object goes beside
		 * the text, not after them */
		if (g->json && to_stdout)
			ctl_err_json(stderr, rc);
		return rc;
	}
	return ctl_xfer_report(g, "get", &x, &prog,
			       to_stdout ? stderr : stdout);
}

/* give FD [--as N] -- CMD ARGS...: run CMD here with a copy of the
 * server's fd as its stdin, or as fd N. */
/* The received fd as fd `as` of the command, inheritable.  dup2 clears
 * close-on-exec on a copy, but does nothing when the two are the same
 * number: then it is cleared by hand. */
static int ctl_give_place(int fd, int as)
{
	if (fd == as)
		return fcntl(as, F_SETFD, 0);
	if (dup2(fd, as) < 0)
		return -1;
	close(fd);
	return 0;
}

int ctl_give(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int i, fd, as = 0, status, sfd = -1;
	char *end, sig[16];
	pid_t pid;

	/* FD and --as N in any order, then --, then the command. */
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--as") && i + 1 < argc) {
			as = (int)strtol(argv[++i], &end, 10);
			if (*end || as < 0 || as > 1023)
				return CTL_EX_USAGE;
		} else if (sfd < 0) {
			sfd = (int)strtol(argv[i], &end, 10);
			if (*end || sfd < 0)
				return CTL_EX_USAGE;
		} else {
			return CTL_EX_USAGE;
		}
	}
	if (sfd < 0 || i + 1 >= argc)
		return CTL_EX_USAGE;
	i++;
	if ((fd = tether_give(t, sfd)) < 0) {
		ctl_err("give %d: %s", sfd, ctl_why(t, fd));
		return ctl_status_of(fd);
	}
	fflush(NULL);
	/* From the shell, become the command, as s6-fdholder-retrieve does:
	 * no fork, no wait, its status is ours.  Our connection's fds are
	 * close-on-exec, so the server sees us go at the exec.  A session
	 * (attach) must outlive the command: it forks. */
	if (!g->interactive) {
		if (ctl_give_place(fd, as) < 0) {
			ctl_err_errno(errno, "give: fd %d: %s", as,
				      strerror(errno));
			return CTL_EX_FAILED;
		}
		execvp(argv[i], argv + i);
		ctl_err_errno(errno, "give: %s: %s", argv[i], strerror(errno));
		return 127;
	}
	pid = fork();
	if (pid < 0) {
		ctl_err_errno(errno, "fork: %s", strerror(errno));
		close(fd);
		return CTL_EX_FAILED;
	}
	if (pid == 0) {
		if (ctl_give_place(fd, as) < 0)
			_exit(127);
		execvp(argv[i], argv + i);
		fprintf(stderr, "tetherctl: give: %s: %s\n", argv[i],
			strerror(errno));
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* The session's statuses are its own (3: the server is lost, 6:
	 * taken over, 2: usage): a command's is said, and is a failed
	 * line. */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CTL_EX_OK;
	if (WIFEXITED(status))
		ctl_err("give: %s exited with status %d", argv[i],
			WEXITSTATUS(status));
	else
		ctl_err("give: %s killed by %s", argv[i],
			ctl_signal_name(WTERMSIG(status), sig, sizeof(sig)));
	return CTL_EX_FAILED;
}

/* take LOCALPATH [--label L] [--rw]: open it here, read-only unless
 * --rw (the server gets no more than was asked for), pass it to the
 * server, print the fd it got there. */
static int ctl_take_opts(int argc, char **argv, const char **label,
			 int *mode, bool quiet)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "rw", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0;
	opterr = !quiet;
	while ((c = getopt_long(argc, argv, "l:", opts, NULL)) != -1) {
		if (c == 'w')
			*mode = O_RDWR;
		else if (c == 'l')
			*label = optarg;
		else
			break;
	}
	opterr = 1;
	return c == -1 && optind == argc - 1 ? 0 : -EINVAL;
}

int ctl_take(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const char *label = NULL;
	int fd, sfd, mode = O_RDONLY;

	/* getopt's words only once the connect is known to be ours: a
	 * refused pipelined connect is reported as the connect's alone */
	if (ctl_take_opts(argc, argv, &label, &mode, true) < 0) {
		if (!ctl_pipe_refused())
			ctl_take_opts(argc, argv, &label, &mode, false);
		return CTL_EX_USAGE;
	}
	fd = open(argv[optind], mode | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ctl_err_errno(errno, "take: %s: %s",
			      argv[optind], strerror(errno));
		return CTL_EX_FAILED;
	}
	sfd = tether_take(t, fd, label);
	close(fd);
	if (sfd < 0) {
		ctl_err("take %s: %s", argv[optind], ctl_why(t, sfd));
		return ctl_status_of(sfd);
	}
	if (g->json) {
		printf("{\"fd\":%d,\"label\":", sfd);
		if (label)
			ctl_json_string(stdout, label, strlen(label));
		else
			printf("null");
		printf("}\n");
	} else {
		printf("%d\n", sfd);
	}
	return CTL_EX_OK;
}
