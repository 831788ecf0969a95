/*
 * The same-host fast paths (issue 17): GET, PUT and LOGS hand the
 * controller an fd and it copies locally; TETHER_NO_FDPASS=1 forces the
 * data-socket stream.  Real files, real fds, a real tetherd: both ways
 * give the same bytes and hashes, a passed fd cannot write, a file
 * swapped or replaced under the server is refused or read as the inode
 * that was checked, the server keeps no fd, and a controller killed
 * mid-copy leaves nothing behind.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "kit.h"

#define MiB (1024 * 1024)
#define ARGV(...) ((const char *const[]){ __VA_ARGS__, NULL })

TestSuite(fast, .init = fx_init_server, .fini = fx_fini, .timeout = 60);

/* ---- helpers ------------------------------------------------------------ */

/* The next call streams (true) or may pass fds (false). */
static void stream(bool on)
{
	if (on)
		cr_assert_eq(setenv("TETHER_NO_FDPASS", "1", 1), 0);
	else
		cr_assert_eq(unsetenv("TETHER_NO_FDPASS"), 0);
}

/* n bytes of a pattern seeded by seed (no two files alike). */
static char *pattern(size_t n, unsigned seed)
{
	char *p = malloc(n);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)((i * 2654435761u + seed) >> 7);
	return p;
}

static void write_file(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(tp_write_all(fd, p, n), 0);
	close(fd);
}

static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *p;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(fstat(fd, &st), 0);
	p = malloc((size_t)st.st_size + 1);
	cr_assert_not_null(p);
	cr_assert_eq(tp_read_all(fd, p, (size_t)st.st_size), 0);
	close(fd);
	*len = (size_t)st.st_size;
	return p;
}

/* GET remote into a fresh local file; its bytes back in *out. */
static int get_to(const char *remote, const char *local,
		  struct tether_xfer *x)
{
	int fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	cr_assert_geq(fd, 0);
	rc = tether_get(fx.t, remote, fd, x);
	close(fd);
	return rc;
}

/* The fd of ours whose /proc link is target, or -1. */
static int fd_of(const char *target, bool prefix)
{
	char link[PATH_MAX], p[300];
	struct dirent *de;
	DIR *d;
	int found = -1;

	if (!target)
		return -1;
	cr_assert_not_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) && found < 0) {
		ssize_t n;

		snprintf(p, sizeof(p), "/proc/self/fd/%s", de->d_name);
		if ((n = readlink(p, link, sizeof(link) - 1)) < 0)
			continue;
		link[n] = '\0';
		if (prefix ? !strncmp(link, target, strlen(target)) &&
			     strstr(link, ".log")
			   : !strcmp(link, target))
			found = atoi(de->d_name);
	}
	closedir(d);
	return found;
}

/* An fd found mid-copy must be read-only: write fails EBADF. */
struct probe {
	const char *target;
	bool prefix;
	int seen;			/* fds found */
	int writable;			/* of them, ones a write did not refuse */
	int flags_bad;
	/* A mid-copy action on the first call. */
	void (*act)(struct probe *pr);
	const char *path;
	const char *other;
	bool acted;
};

static void probe_now(struct probe *pr)
{
	int fd = fd_of(pr->target, pr->prefix);

	if (pr->act && !pr->acted) {
		pr->acted = true;
		pr->act(pr);
	}
	if (fd < 0)
		return;
	pr->seen++;
	errno = 0;
	if (write(fd, "x", 1) != -1 || errno != EBADF)
		pr->writable++;
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDONLY)
		pr->flags_bad++;
}

static void probe_progress(uint64_t done, uint64_t total, void *arg)
{
	(void)done;
	(void)total;
	probe_now(arg);
}

/* The state directory's log of the worker labeled label. */
static void log_path(const char *label, char *out, size_t size)
{
	char dir[200];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s.d", fx.sock);
	cr_assert_not_null(d = opendir(dir));
	out[0] = '\0';
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (!strncmp(de->d_name, label, strlen(label)) && l > 4 &&
		    !strcmp(de->d_name + l - 4, ".log"))
			snprintf(out, size, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	cr_assert(out[0], "no log for %s in %s", label, dir);
}

/* What LOGS gave: the bytes, and whether the offsets ran on. */
struct got {
	char *p;
	size_t n, cap;
	bool gap;
	struct probe *pr;
};

static int got_cb(const void *data, size_t len, uint64_t offset, void *arg)
{
	struct got *g = arg;

	if (offset != g->n)
		g->gap = true;
	if (g->n + len > g->cap) {
		g->cap = (g->n + len) * 2;
		g->p = realloc(g->p, g->cap);
		cr_assert_not_null(g->p);
	}
	memcpy(g->p + g->n, data, len);
	g->n += len;
	if (g->pr)
		probe_now(g->pr);
	return 0;
}

/* "1\n2\n...N\n", as seq writes it. */
static char *seq_text(long n, size_t *len)
{
	size_t cap = (size_t)n * 12 + 1, k = 0;
	char *p = malloc(cap);

	cr_assert_not_null(p);
	for (long i = 1; i <= n; i++)
		k += (size_t)snprintf(p + k, cap - k, "%ld\n", i);
	*len = k;
	return p;
}

/* A captured worker running argv, labeled label: its pid as target. */
static pid_t spawn_captured(const char *const *argv, const char *label,
			    char *target, size_t size)
{
	struct tether_spawn sp = { .argv = argv, .label = label,
				   .capture = true };
	pid_t pid = fx_spawn_ok(fx.t, &sp);

	snprintf(target, size, "%d", (int)pid);
	return pid;
}

/* ---- both ways, the same bytes ---------------------------------------- */

Test(fast, get_fd_and_stream_give_same_bytes_and_hashes)
{
	size_t n = 3 * MiB + 7, len;
	char *src = pattern(n, 1), path[256], out[256], *got;
	uint64_t want = XXH3_64bits(src, n);
	struct tether_xfer x[2] = { { .struct_size = sizeof(x[0]) },
				    { .struct_size = sizeof(x[0]) } };
	struct probe pr = { 0 };

	fx_path(path, sizeof(path), "src");
	write_file(path, src, n);
	for (int mode = 0; mode < 2; mode++) {
		pr = (struct probe){ .target = path };
		x[mode].progress = probe_progress;
		x[mode].progress_arg = &pr;
		fx_path(out, sizeof(out), mode ? "out.stream" : "out.fd");
		stream(mode);
		cr_assert_eq(get_to(path, out, &x[mode]), 0, "GET (%s): %s",
			     mode ? "stream" : "fd", tether_last_error(fx.t));
		stream(false);
		got = slurp(out, &len);
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(got, src, n), 0, "GET (%s) bytes differ",
			     mode ? "stream" : "fd");
		free(got);
		cr_assert_eq(x[mode].bytes, n);
		cr_assert_eq(x[mode].remote_bytes, n);
		cr_assert_eq(x[mode].size, (int64_t)n);
		cr_assert_eq(x[mode].local_xxh3, want);
		cr_assert_eq(x[mode].remote_xxh3, want);
		/* The fd path is the one taken: the file is open here while
		 * it copies; streamed, it never is. */
		if (mode == 0)
			cr_assert_gt(pr.seen, 0, "GET never had the file's fd");
		else
			cr_assert_eq(pr.seen, 0, "a streamed GET had an fd");
	}
	free(src);
}

/* No tether_xfer: the same-host copy makes no hash (no one could read
 * it) and takes bigger windows; the bytes, a short file's -EIO and the
 * server's fds are as with one. */
Test(fast, get_fd_without_info_gives_the_same_bytes)
{
	size_t n = 5 * MiB + 3, len;
	char *src = pattern(n, 9), path[256], out[256], *got;
	int before = fx_settled_fds(fx.pid);

	fx_path(path, sizeof(path), "bare");
	fx_path(out, sizeof(out), "bare.out");
	write_file(path, src, n);
	stream(false);
	cr_assert_eq(get_to(path, out, NULL), 0, "%s",
		     tether_last_error(fx.t));
	got = slurp(out, &len);
	cr_assert_eq(len, n);
	cr_assert_eq(memcmp(got, src, n), 0, "GET without info: bytes differ");
	free(got);
	/* an empty file, and one smaller than a window */
	write_file(path, src, 0);
	cr_assert_eq(get_to(path, out, NULL), 0);
	free(slurp(out, &len));
	cr_assert_eq(len, 0);
	write_file(path, src, 4097);
	cr_assert_eq(get_to(path, out, NULL), 0);
	got = slurp(out, &len);
	cr_assert_eq(len, 4097);
	cr_assert_eq(memcmp(got, src, 4097), 0);
	free(got);
	fx_expect_fds(fx.pid, before, "after GETs without info");
	free(src);
}

Test(fast, put_fd_and_stream_give_same_bytes_and_hashes)
{
	size_t n = 2 * MiB + 13, len;
	char *src = pattern(n, 2), local[256], remote[256], *got;
	uint64_t want = XXH3_64bits(src, n);
	struct stat st;

	fx_path(local, sizeof(local), "local");
	write_file(local, src, n);
	for (int mode = 0; mode < 2; mode++) {
		struct tether_xfer x = { .struct_size = sizeof(x) };
		int fd = open(local, O_RDONLY | O_CLOEXEC);

		fx_path(remote, sizeof(remote), mode ? "r.stream" : "r.fd");
		stream(mode);
		cr_assert_eq(tether_put(fx.t, fd, remote, 0640, &x), 0,
			     "PUT (%s): %s", mode ? "stream" : "fd",
			     tether_last_error(fx.t));
		stream(false);
		close(fd);
		got = slurp(remote, &len);
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(got, src, n), 0);
		free(got);
		cr_assert_eq(stat(remote, &st), 0);
		cr_assert_eq(st.st_mode & 07777, 0640);
		cr_assert_eq(x.bytes, n);
		cr_assert_eq(x.remote_bytes, n);
		cr_assert_eq(x.local_xxh3, want);
		cr_assert_eq(x.remote_xxh3, want);
	}
	cr_assert_eq(fx_dir_count(fx.dir, ".tether-"), 0,
		     "a PUT left a temporary");
	free(src);
}

Test(fast, logs_fd_and_stream_give_same_bytes)
{
	char target[24], logp[PATH_MAX];
	size_t wlen;
	char *want = seq_text(300000, &wlen);
	struct got g[2] = { { 0 } };
	struct probe pr[2] = { { 0 } };

	spawn_captured(ARGV("seq", "1", "300000"), "seqer", target,
		       sizeof(target));
	fx_wait_end(fx.t, target);
	log_path("seqer", logp, sizeof(logp));
	for (int mode = 0; mode < 2; mode++) {
		pr[mode] = (struct probe){ .target = logp };
		g[mode].pr = &pr[mode];
		stream(mode);
		cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb,
					 &g[mode]), 0, "LOGS (%s): %s",
			     mode ? "stream" : "fd", tether_last_error(fx.t));
		stream(false);
		cr_assert(!g[mode].gap);
		cr_assert_eq(g[mode].n, wlen, "LOGS (%s): %zu bytes, not %zu",
			     mode ? "stream" : "fd", g[mode].n, wlen);
		cr_assert_eq(memcmp(g[mode].p, want, wlen), 0);
	}
	cr_assert_gt(pr[0].seen, 0, "LOGS never had the log's fd");
	cr_assert_eq(pr[1].seen, 0, "a streamed LOGS had an fd");
	/* From an offset, too. */
	free(g[0].p);
	g[0] = (struct got){ 0 };
	cr_assert_eq(tether_logs(fx.t, target, 1000, false, got_cb, &g[0]), 0);
	cr_assert_eq(g[0].n, wlen - 1000);
	cr_assert_eq(memcmp(g[0].p, want + 1000, wlen - 1000), 0);
	free(g[0].p);
	free(g[1].p);
	free(want);
}

/* ---- read-only, and the inode that was checked -------------------------- */

Test(fast, passed_fds_are_read_only)
{
	size_t n = 2 * MiB, wlen;
	char *src = pattern(n, 3), path[256], out[256], target[24];
	char logp[PATH_MAX], *want = seq_text(100000, &wlen);
	struct tether_xfer x = { .struct_size = sizeof(x) };
	struct probe pr = { 0 };
	struct got g = { .pr = &pr };

	fx_path(path, sizeof(path), "ro");
	fx_path(out, sizeof(out), "ro.out");
	write_file(path, src, n);
	pr.target = path;
	x.progress = probe_progress;
	x.progress_arg = &pr;
	cr_assert_eq(get_to(path, out, &x), 0, "%s", tether_last_error(fx.t));
	cr_assert_gt(pr.seen, 0);
	cr_assert_eq(pr.writable, 0, "a write to GET's fd did not fail EBADF");
	cr_assert_eq(pr.flags_bad, 0, "GET's fd is not O_RDONLY");

	spawn_captured(ARGV("seq", "1", "100000"), "roer", target,
		       sizeof(target));
	fx_wait_end(fx.t, target);
	log_path("roer", logp, sizeof(logp));
	pr = (struct probe){ .target = logp };
	cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb, &g), 0);
	cr_assert_gt(pr.seen, 0);
	cr_assert_eq(pr.writable, 0, "a write to LOGS' fd did not fail EBADF");
	cr_assert_eq(pr.flags_bad, 0);
	/* And the log is as the worker wrote it. */
	free(g.p);
	g = (struct got){ 0 };
	cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb, &g), 0);
	cr_assert_eq(g.n, wlen);
	cr_assert_eq(memcmp(g.p, want, wlen), 0);
	free(g.p);
	free(want);
	free(src);
}

Test(fast, get_of_a_symlink_is_refused_both_ways)
{
	char path[256], real[256], out[256];

	fx_path(real, sizeof(real), "real");
	fx_path(path, sizeof(path), "link");
	fx_path(out, sizeof(out), "link.out");
	write_file(real, "secret\n", 7);
	cr_assert_eq(symlink(real, path), 0);
	for (int mode = 0; mode < 2; mode++) {
		stream(mode);
		cr_assert_eq(get_to(path, out, NULL), -ELOOP,
			     "GET (%s) of a symlink: %s", mode ? "stream" : "fd",
			     tether_last_error(fx.t));
		stream(false);
	}
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}

static void act_replace(struct probe *pr)
{
	cr_assert_eq(rename(pr->other, pr->path), 0);
}

static void act_truncate(struct probe *pr)
{
	cr_assert_eq(truncate(pr->path, 0), 0);
}

/* Replaced by a rename mid-copy: the copy is of the file the server
 * opened and checked, whole, not a mix. */
Test(fast, get_of_a_file_replaced_mid_copy_is_the_opened_one)
{
	size_t n = 4 * MiB, len;
	char *a = pattern(n, 4), *b = pattern(n, 5), *got;
	char path[256], other[256], out[256];

	fx_path(path, sizeof(path), "swapped");
	fx_path(other, sizeof(other), "other");
	fx_path(out, sizeof(out), "swapped.out");
	for (int mode = 0; mode < 2; mode++) {
		struct probe pr = { .act = act_replace, .path = path,
				    .other = other };
		struct tether_xfer x = { .struct_size = sizeof(x),
					 .progress = probe_progress,
					 .progress_arg = &pr };

		write_file(path, a, n);
		write_file(other, b, n);
		stream(mode);
		cr_assert_eq(get_to(path, out, &x), 0, "%s",
			     tether_last_error(fx.t));
		stream(false);
		cr_assert(pr.acted);
		got = slurp(out, &len);
		cr_assert_eq(len, n);
		cr_assert_eq(memcmp(got, a, n), 0, "GET (%s) is not the file "
			     "it opened", mode ? "stream" : "fd");
		cr_assert_eq(x.local_xxh3, XXH3_64bits(a, n));
		free(got);
	}
	free(a);
	free(b);
}

/* A GET of n bytes whose file is truncated at the first progress call:
 * -EIO, not a short file passed off as whole, and the server lives and
 * keeps no fd of it. */
static void get_truncated(size_t n, bool streamed, const char *name)
{
	char *a = pattern(n, streamed ? 7 : 6), path[256], out[256];
	struct probe pr = { .act = act_truncate };
	struct tether_xfer x = { .struct_size = sizeof(x),
				 .progress = probe_progress,
				 .progress_arg = &pr };
	int base = fx_settled_fds(fx.pid);

	fx_path(path, sizeof(path), name);
	snprintf(out, sizeof(out), "%s.out", path);
	pr.path = path;
	write_file(path, a, n);
	stream(streamed);
	cr_assert_eq(get_to(path, out, &x), -EIO, "%s",
		     tether_last_error(fx.t));
	stream(false);
	cr_assert(pr.acted);
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	fx_expect_fds(fx.pid, base, "after the aborted GET");
	free(a);
}

Test(fast, get_of_a_file_truncated_mid_copy_is_eio)
{
	get_truncated(4 * MiB, false, "shrinks");
}

/* Streamed, the chunks are spliced from the page cache, and the ones
 * after the truncation find the end of the file.  32 MiB, so that the
 * truncation at the first chunk received comes while most of the file
 * is still to be spliced (the socket holds about 2 MiB). */
Test(fast, get_stream_of_a_file_truncated_mid_copy_is_eio)
{
	get_truncated(32 * MiB, true, "shrinks.stream");
}

/* The log swapped for a symlink to another file, or for a FIFO: no
 * byte of the other file, and no server stuck opening a FIFO. */
Test(fast, logs_swapped_for_symlink_or_fifo_is_refused)
{
	char target[24], logp[PATH_MAX], moved[PATH_MAX + 8], secret[256];

	spawn_captured(ARGV("echo", "hello"), "swapper", target,
		       sizeof(target));
	fx_wait_end(fx.t, target);
	log_path("swapper", logp, sizeof(logp));
	snprintf(moved, sizeof(moved), "%s.moved", logp);
	fx_path(secret, sizeof(secret), "secret");
	write_file(secret, "SECRET\n", 7);
	cr_assert_eq(rename(logp, moved), 0);
	for (int kind = 0; kind < 2; kind++) {
		if (kind == 0)
			cr_assert_eq(symlink(secret, logp), 0);
		else
			cr_assert_eq(mkfifo(logp, 0600), 0);
		for (int mode = 0; mode < 2; mode++) {
			struct got g = { 0 };
			int rc;

			stream(mode);
			rc = tether_logs(fx.t, target, 0, false, got_cb, &g);
			stream(false);
			cr_assert(rc == 0 || rc < 0);
			cr_assert(!g.n || !memmem(g.p, g.n, "SECRET", 6),
				  "LOGS (%s) read through a %s",
				  mode ? "stream" : "fd",
				  kind ? "FIFO" : "symlink");
			cr_assert_eq(g.n, 0, "LOGS gave %zu bytes of a %s",
				     g.n, kind ? "FIFO" : "symlink");
			free(g.p);
			cr_assert_eq(fx_getpid(fx.t), fx.pid);
		}
		cr_assert_eq(unlink(logp), 0);
	}
	/* Put back, it reads again. */
	cr_assert_eq(rename(moved, logp), 0);
	{
		struct got g = { 0 };

		cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb, &g),
			     0);
		cr_assert_eq(g.n, 6);
		cr_assert_eq(memcmp(g.p, "hello\n", 6), 0);
		free(g.p);
	}
}

/* Rotated logs: the rotated file and the current one, as two fds, give
 * what the stream gives, from the same first offset. */
struct rot {
	struct got g;
	uint64_t first;
	bool any;
};

static int rot_cb(const void *data, size_t len, uint64_t offset, void *arg)
{
	struct rot *r = arg;

	if (!r->any) {
		r->any = true;
		r->first = offset;
		r->g.n = 0;
	}
	return got_cb(data, len, offset - r->first, &r->g);
}

Test(fast, logs_of_a_rotated_log_same_both_ways)
{
	struct tether_spawn sp = { .argv = ARGV("seq", "1", "100000"),
				   .label = "rotor", .capture = true,
				   .log_max = 200000 };
	char target[24];
	size_t wlen;
	char *want = seq_text(100000, &wlen);
	struct rot r[2];

	memset(r, 0, sizeof(r));
	snprintf(target, sizeof(target), "%d", (int)fx_spawn_ok(fx.t, &sp));
	fx_wait_end(fx.t, target);
	for (int mode = 0; mode < 2; mode++) {
		stream(mode);
		cr_assert_eq(tether_logs(fx.t, target, 0, false, rot_cb,
					 &r[mode]), 0, "%s",
			     tether_last_error(fx.t));
		stream(false);
		cr_assert(r[mode].any);
		cr_assert(!r[mode].g.gap);
		/* Rotated at least twice: the oldest bytes are gone, the
		 * rest spans the rotated file and the current one. */
		cr_assert_gt(r[mode].first, 0);
		cr_assert_gt(r[mode].g.n, 200000);
		cr_assert_eq(r[mode].first + r[mode].g.n, wlen);
		cr_assert_eq(memcmp(r[mode].g.p, want + r[mode].first,
				    r[mode].g.n), 0);
	}
	cr_assert_eq(r[0].first, r[1].first);
	cr_assert_eq(r[0].g.n, r[1].g.n);
	free(r[0].g.p);
	free(r[1].g.p);
	free(want);
}

/* A log being written while it is read: what comes is a prefix of what
 * the worker writes, offsets without a gap, up to where the server said
 * the log ended when it answered. */
Test(fast, logs_of_a_running_worker_is_a_consistent_prefix)
{
	size_t wlen;
	char *want = seq_text(3000000, &wlen), target[24];
	pid_t pid = spawn_captured(ARGV("seq", "1", "3000000"), "runner",
				   target, sizeof(target));

	for (int round = 0; round < 6; round++) {
		struct got g = { 0 };
		int mode = round & 1;

		stream(mode);
		cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb, &g),
			     0, "%s", tether_last_error(fx.t));
		stream(false);
		cr_assert(!g.gap);
		cr_assert_leq(g.n, wlen);
		cr_assert(!g.n || memcmp(g.p, want, g.n) == 0,
			  "LOGS (%s) of %zu bytes is not a prefix of the output",
			  mode ? "stream" : "fd", g.n);
		free(g.p);
	}
	fx_wait_end(fx.t, target);
	(void)pid;
	free(want);
}

/* ---- the server keeps nothing ------------------------------------------- */

Test(fast, fd_paths_leave_no_server_fd)
{
	size_t n = MiB + 3;
	char *src = pattern(n, 7), path[256], out[256], remote[256];
	char target[24];
	int base, fd;

	fx_path(path, sizeof(path), "leak");
	fx_path(out, sizeof(out), "leak.out");
	fx_path(remote, sizeof(remote), "leak.put");
	write_file(path, src, n);
	spawn_captured(ARGV("seq", "1", "1000"), "leaker", target,
		       sizeof(target));
	fx_wait_end(fx.t, target);
	base = fx_settled_fds(fx.pid);
	for (int i = 0; i < 20; i++) {
		struct got g = { 0 };

		cr_assert_eq(get_to(path, out, NULL), 0);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		cr_assert_eq(tether_put(fx.t, fd, remote, 0600, NULL), 0);
		close(fd);
		cr_assert_eq(tether_logs(fx.t, target, 0, false, got_cb, &g),
			     0);
		free(g.p);
	}
	/* Failures too: a missing file, a symlink. */
	cr_assert_eq(get_to("/nonexistent/x", out, NULL), -ENOENT);
	cr_assert_eq(fx_wait_fds(fx.pid, base), base,
		     "server fds %d after fd-passing transfers, %d before",
		     fx_count_fds(fx.pid), base);
	free(src);
}

/* ---- a controller killed mid-copy --------------------------------------- */

/* The fixture's controller gone (a kid attaches instead): the server's
 * fd count with nobody attached. */
static int detach_fx(void)
{
	int attached = fx_settled_fds(fx.pid);

	tether_disconnect(fx.t);
	fx.t = NULL;
	cr_assert_eq(fx_wait_fds(fx.pid, attached - 2), attached - 2);
	return attached - 2;
}

static void reattach(void)
{
	cr_assert_eq(fx_reattach(), 0);
}

/* The server handed the file over and closed it: while the kid copies
 * (stuck on a full pipe) the server holds nothing of the GET, and the
 * kid's death changes nothing but its connection. */
Test(fast, controller_killed_mid_get_fd)
{
	size_t n = 8 * MiB;
	char *src = pattern(n, 8), path[256], buf[4096];
	struct kid k;
	int base, p[2];

	fx_path(path, sizeof(path), "eight");
	write_file(path, src, n);
	base = detach_fx();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	kid_start_with(&k, kid_get_to_fd, path, p[1], false);
	close(p[1]);
	kid_line(&k, "ATTACHED", NULL, 0);
	cr_assert_eq(tp_read_all(p[0], buf, sizeof(buf)), 0,
		     "the GET never started");
	/* Only the kid's two sockets: no file. */
	cr_assert_eq(fx_wait_fds(fx.pid, base + 2), base + 2,
		     "server fds %d while the kid copies, %d + its sockets",
		     fx_count_fds(fx.pid), base);
	kid_kill(&k);
	close(p[0]);
	cr_assert_eq(fx_wait_fds(fx.pid, base), base);
	reattach();
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_eq(get_to(path, "/dev/null", NULL), 0);
	free(src);
}

static void kid_put_from_pipe(void *arg)
{
	struct tether *t = kid_connect();
	int rc;

	kid_say("ATTACHED");
	rc = tether_put(t, KID_FD, arg, 0600, NULL);
	kid_fail("tether_put returned %d (%s)", rc, tether_last_error(t));
}

/* Killed while it writes the server's temporary through the passed fd:
 * the data socket closes, the server discards the temporary. */
Test(fast, controller_killed_mid_put_fd_leaves_no_file)
{
	char path[256], *chunk = pattern(MiB, 9);
	struct kid k;
	int base, p[2];

	fx_path(path, sizeof(path), "target");
	base = detach_fx();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	kid_start_with(&k, kid_put_from_pipe, path, p[0], false);
	close(p[0]);
	kid_line(&k, "ATTACHED", NULL, 0);
	cr_assert_eq(tp_write_all(p[1], chunk, MiB), 0);
	cr_assert_eq(tp_write_all(p[1], chunk, MiB), 0);
	/* Its sockets, the directory and the temporary. */
	cr_assert_eq(fx_wait_fds(fx.pid, base + 4), base + 4);
	kid_kill(&k);
	close(p[1]);
	cr_assert_eq(fx_wait_fds(fx.pid, base), base,
		     "server fds %d after the killed PUT, %d before",
		     fx_count_fds(fx.pid), base);
	cr_assert(access(path, F_OK) < 0, "a dead PUT left its target");
	cr_assert_eq(fx_dir_count(fx.dir, ".tether-"), 0);
	reattach();
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	free(chunk);
}

/* ---- a controller that lies --------------------------------------------- */

static void raw_attach_fast(struct fx_raw *r, int *base)
{
	*base = detach_fx();
	fx_raw_attach(r);
}

static void be(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

/* PUT [path, 0600, true] by hand: the temporary's fd, from the data
 * socket after {"ready", "fdpass"}; the request id in *id. */
static int raw_put_fd(struct fx_raw *r, const char *path, uint64_t *id)
{
	struct tp_msg m;
	struct fx_frame f;
	const msgpack_object *o;
	int fds[1], nfds = 0, fl;
	char byte;

	*id = fx_raw_begin(r, &m, TETHER_OP_PUT);
	msgpack_pack_array(&m.pk, 3);
	tp_pack_str(&m.pk, path);
	msgpack_pack_int(&m.pk, 0600);
	msgpack_pack_true(&m.pk);
	fx_raw_send(r, &m);
	cr_assert_eq(fx_raw_reply(r, *id, &f), 0);
	o = tp_map_get(f.in.body, "fdpass");
	cr_assert(o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean,
		  "PUT ready without fdpass");
	fx_frame_free(&f);
	cr_assert_eq(tp_recv_fds(r->dfd, &byte, 1, 0, fds, 1, &nfds, &fl), 1);
	cr_assert_eq(nfds, 1);
	return fds[0];
}

/* The server reads back what was written and checks what it was told:
 * bytes or hash that do not match publish nothing. */
Test(fast, put_fd_with_a_false_statement_publishes_nothing)
{
	static const struct {
		uint64_t bytes;
		bool good_hash;
	} lie[] = { { 5, false }, { 6, true }, { 4, true } };
	char path[256];
	struct fx_raw r;
	int base;

	fx_path(path, sizeof(path), "lied");
	raw_attach_fast(&r, &base);
	for (size_t i = 0; i < sizeof(lie) / sizeof(lie[0]); i++) {
		unsigned char d[24];
		uint64_t id;
		int fd = raw_put_fd(&r, path, &id), code;

		cr_assert_eq(write(fd, "hello", 5), 5);
		close(fd);
		be(d, TETHER_FDDONE_LEN, 4);
		be(d + 4, TETHER_CHUNK_FDDONE, 4);
		be(d + 8, lie[i].bytes, 8);
		be(d + 16, lie[i].good_hash ? XXH3_64bits("hello", 5) : 42, 8);
		cr_assert_eq(fx_send_bytes(r.dfd, d, sizeof(d)), 0);
		code = fx_raw_reply(&r, id, NULL);
		cr_assert_eq(code, EIO, "lie %zu answered %d", i, code);
		cr_assert(access(path, F_OK) < 0, "a false PUT was published");
		cr_assert_eq(fx_dir_count(fx.dir, ".tether-"), 0);
	}
	/* The truth is published. */
	{
		unsigned char d[24];
		uint64_t id;
		int fd = raw_put_fd(&r, path, &id);

		cr_assert_eq(write(fd, "hello", 5), 5);
		close(fd);
		be(d, TETHER_FDDONE_LEN, 4);
		be(d + 4, TETHER_CHUNK_FDDONE, 4);
		be(d + 8, 5, 8);
		be(d + 16, XXH3_64bits("hello", 5), 8);
		cr_assert_eq(fx_send_bytes(r.dfd, d, sizeof(d)), 0);
		cr_assert_eq(fx_raw_reply(&r, id, NULL), 0);
		cr_assert_eq(access(path, F_OK), 0);
	}
	fx_raw_close(&r);
	cr_assert_eq(fx_wait_fds(fx.pid, base), base);
}

/* Anything but FDDONE (16 bytes) or ABORT after an fd PUT is out of
 * step: EPROTO, the connection ends, nothing is left. */
Test(fast, put_fd_with_a_bad_chunk_is_eproto)
{
	char path[256];
	unsigned char h[8];
	struct fx_raw r;
	uint64_t id;
	int base, fd, code;

	fx_path(path, sizeof(path), "bad");
	raw_attach_fast(&r, &base);
	fd = raw_put_fd(&r, path, &id);
	close(fd);
	be(h, 5, 4);
	be(h + 4, TETHER_CHUNK_DATA, 4);
	cr_assert_eq(fx_send_bytes(r.dfd, h, 8), 0);
	code = fx_raw_reply(&r, id, NULL);
	cr_assert_eq(code, EPROTO, "DATA after an fd PUT answered %d", code);
	cr_assert(fx_wait_eof(r.sfd));
	fx_raw_close(&r);
	cr_assert_eq(fx_wait_fds(fx.pid, base), base);
	cr_assert(access(path, F_OK) < 0);
	cr_assert_eq(fx_dir_count(fx.dir, ".tether-"), 0);
	reattach();
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
}
