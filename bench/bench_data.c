/*
 * bench_data: what tether's data socket moves per second, against the
 * raw floors.
 *
 * One file (1 GiB by default) of non-zero pseudo-random bytes is written
 * once into a private directory under /tmp, fsynced, and left warm in
 * the page cache.  Under one CPU pinning, five rows are timed
 * BENCH_RUNS times, interleaved: a local read() of the file, a raw
 * AF_UNIX socket copy of it between two processes, tether GET of it to
 * /dev/null, a raw socket copy written to a file and fsynced, and tether
 * PUT of it into the private directory (which fsyncs on the server).
 * The median of the per-run times is reported as MiB/s.  Timing is only
 * reported, never judged: the exit status says whether something broke,
 * not whether tether was fast.  The private directory, with the big
 * file, is removed on every way out, an interrupt (INT, TERM, HUP)
 * included.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

#define BENCH_RUNS 5
#define BENCH_TARGET 0.70		/* tether MiB/s / raw MiB/s, at least */
#define BENCH_CHUNK (1u << 20)		/* read/write size of the raw rows */
#define BENCH_SPACE_SLACK (64ull << 20)	/* free space beyond 2 x the file */

/* What the raw child is asked to do, one byte on its socket. */
enum { RAW_SEND = 'S', RAW_WRITE = 'W' };

struct bench_opts {
	enum bench_pin pin;
	long mib;
	long warmup;			/* untimed passes of the read rows */
	bool json;
	const char *tetherd;
};

/* The private directory and everything in it. */
struct bench_paths {
	char dir[64];
	char src[128];			/* the big file */
	char sock[128];			/* tetherd's socket */
	char log[128];			/* tetherd's log */
	char put[128];			/* tether PUT's target */
	char raw[128];			/* the raw write row's target */
};

struct bench_env {
	struct bench_paths p;
	bool have_dir;
	uint64_t size;			/* bytes in the file */
	char *buf;			/* BENCH_CHUNK bytes */
	int devnull;
	int rfd;			/* the raw child's socket */
	pid_t rpid;
	struct tether *t;
	pid_t tetherd_pid;
	char fstype[24];
};

struct bench_results {
	struct bench_series local;	/* read() of the file */
	struct bench_series raw;	/* raw socket copy */
	struct bench_series get;	/* tether GET to /dev/null */
	struct bench_series rawfs;	/* raw copy + write + fsync */
	struct bench_series fsync;	/* the fsync inside rawfs */
	struct bench_series put;	/* tether PUT */
	bool get_ok, put_ok;
	int get_err, put_err;		/* why a row is missing, or 0 */
	double resident_before;		/* page cache share of the file */
	double resident_after;
	char cpus_self[64];
	char cpus_raw[64];
	char cpus_tetherd[64];
};

/* For the signal handler: who to kill and what to remove. */
static struct bench_paths bench_sig_paths;
static volatile sig_atomic_t bench_sig_armed;
static volatile sig_atomic_t bench_sig_tetherd;
static volatile sig_atomic_t bench_sig_raw;
static pid_t bench_main_pid;

/* ---- small utilities ---------------------------------------------- */

/* Print usage to f. */
static void bench_usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [--pin same|cross|none] [--mib N] [--warmup N]\n"
		"       [--tetherd PATH] [--json]\n"
		"  --pin same   bench, raw child and tetherd on CPU 0 "
		"(default)\n"
		"  --pin cross  bench on CPU 0, raw child and tetherd on CPU 1\n"
		"  --pin none   no pinning\n"
		"  --mib        file size in MiB (default 1024)\n"
		"  --warmup     untimed passes of the read rows (default 1)\n"
		"  --tetherd    default $TETHERD, else ./server/tetherd\n",
		argv0);
}

/* Parse argv into o; -EINVAL on a bad option (usage already printed). */
static int bench_parse_args(int argc, char **argv, struct bench_opts *o)
{
	static const struct option lopts[] = {
		{ "pin", required_argument, NULL, 'p' },
		{ "mib", required_argument, NULL, 'm' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "tetherd", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv("TETHERD");
	int c;

	o->pin = PIN_SAME;
	o->mib = 1024;
	o->warmup = 1;
	o->json = false;
	o->tetherd = env && *env ? env : "./server/tetherd";
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (bench_parse_pin(optarg, &o->pin) < 0)
				goto bad;
			break;
		case 'm':
			/* 1 MiB .. 1 TiB: the MiB/s arithmetic stays exact. */
			if (bench_parse_long(optarg, 1, 1L << 20, &o->mib) < 0)
				goto bad;
			break;
		case 'w':
			if (bench_parse_long(optarg, 0, 100, &o->warmup) < 0)
				goto bad;
			break;
		case 't':
			o->tetherd = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			bench_usage(stdout, argv[0]);
			exit(0);
		default:
			goto bad;
		}
	}
	if (optind == argc)
		return 0;
bad:
	bench_usage(stderr, argv[0]);
	return -EINVAL;
}

/* Nanoseconds on the monotonic clock, as a value: bench_now cannot
 * fail with CLOCK_MONOTONIC, and a run's time is a difference. */
static double data_now(void)
{
	double ns = 0;

	bench_now(&ns);
	return ns;
}

/* ---- the private directory and the file ---------------------------- */

/* A getdents64 record. */
struct bench_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* bench_rmdir's walk (bench_common), for the signal handler: getdents64
 * instead of stdio's opendir, which may allocate. */
static void bench_sig_rmtree(int parent, const char *path, int depth)
{
	char buf[4096] __attribute__((aligned(8)));
	int fd = openat(parent, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			O_NOFOLLOW);
	long n;

	if (fd < 0)
		return;
	while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < n;) {
			struct bench_dirent64 *d = (void *)(buf + off);

			off += d->d_reclen;
			if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
				continue;
			if (unlinkat(fd, d->d_name, 0) < 0 && errno == EISDIR &&
			    depth > 0)
				bench_sig_rmtree(fd, d->d_name, depth - 1);
		}
	}
	close(fd);
	unlinkat(parent, path, AT_REMOVEDIR);
}

/* Interrupted: the big file goes first, then our processes are killed
 * and reaped (so nothing writes into the directory any more), then the
 * directory goes; then die of the signal.  Async-signal-safe calls
 * only. */
static void bench_on_signal(int sig)
{
	if (getpid() == bench_main_pid) {
		if (bench_sig_armed)
			unlink(bench_sig_paths.src);
		if (bench_sig_tetherd > 0)
			kill((pid_t)bench_sig_tetherd, SIGKILL);
		if (bench_sig_raw > 0)
			kill((pid_t)bench_sig_raw, SIGKILL);
		if (bench_sig_tetherd > 0)
			waitpid((pid_t)bench_sig_tetherd, NULL, 0);
		if (bench_sig_raw > 0)
			waitpid((pid_t)bench_sig_raw, NULL, 0);
		if (bench_sig_armed)
			bench_sig_rmtree(AT_FDCWD, bench_sig_paths.dir, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Clean up with the bench on ^C, TERM or HUP. */
static int bench_catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (signal(sigs[i], bench_on_signal) == SIG_ERR)
			return -errno;
	return 0;
}

/* path = dir + "/" + name, or -ENAMETOOLONG. */
static int bench_path(char *buf, size_t size, const char *dir,
		      const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Make the private directory, its paths, and tell the handler. */
static int bench_dir(struct bench_env *e)
{
	struct bench_paths *p = &e->p;
	int rc;

	strcpy(p->dir, "/tmp/tether-bench-data.XXXXXX");
	if (!mkdtemp(p->dir))
		return -errno;
	e->have_dir = true;
	if ((rc = bench_path(p->src, sizeof(p->src), p->dir, "file")) < 0 ||
	    (rc = bench_path(p->sock, sizeof(p->sock), p->dir,
			     "tetherd.sock")) < 0 ||
	    (rc = bench_path(p->log, sizeof(p->log), p->dir,
			     "tetherd.log")) < 0 ||
	    (rc = bench_path(p->put, sizeof(p->put), p->dir, "put.out")) < 0 ||
	    (rc = bench_path(p->raw, sizeof(p->raw), p->dir, "raw.out")) < 0)
		return rc;
	bench_sig_paths = *p;
	bench_sig_armed = 1;
	return 0;
}

/* The filesystem under the directory, by name where we know it. */
static void bench_fstype(struct bench_env *e)
{
	static const struct {
		unsigned long magic;
		const char *name;
	} known[] = {
		{ 0xEF53, "ext4" },	   { 0x01021994, "tmpfs" },
		{ 0x58465342, "xfs" },	   { 0x9123683E, "btrfs" },
		{ 0x794C7630, "overlayfs" }, { 0x2FC12FC1, "zfs" },
		{ 0xF2F52010, "f2fs" },
	};
	struct statfs sf;

	if (statfs(e->p.dir, &sf) < 0) {
		strcpy(e->fstype, "?");
		return;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if ((unsigned long)sf.f_type == known[i].magic) {
			strcpy(e->fstype, known[i].name);
			return;
		}
	snprintf(e->fstype, sizeof(e->fstype), "0x%lx",
		 (unsigned long)sf.f_type);
}

/* The file and one written copy must fit at once. */
static int bench_check_space(const struct bench_env *e)
{
	struct statvfs sv;
	unsigned long long avail, need = 2 * e->size + BENCH_SPACE_SLACK;

	if (statvfs(e->p.dir, &sv) < 0)
		return -errno;
	avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
	if (avail < need) {
		fprintf(stderr, "bench: %s has %llu MiB free, the bench needs "
			"%llu MiB\n", e->p.dir, avail >> 20, need >> 20);
		return -ENOSPC;
	}
	return 0;
}

/* n bytes of non-zero pseudo-random data (xorshift64*), continuing
 * from *state.  n is a multiple of 8. */
static void bench_fill(unsigned char *p, size_t n, uint64_t *state)
{
	uint64_t x = *state;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;

		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		w = x * 0x2545F4914F6CDD1Dull;
		/* A zero byte somewhere in w: make each one non-zero. */
		if ((w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull)
			for (int b = 0; b < 64; b += 8)
				if (!((w >> b) & 0xff))
					w |= (uint64_t)0xa5 << b;
		memcpy(p + i, &w, 8);
	}
	*state = x;
}

/* Write the file once, fsync it (clean pages: no writeback during the
 * runs), and leave it in the page cache. */
static int bench_make_file(struct bench_env *e)
{
	uint64_t state = 0x9E3779B97F4A7C15ull;
	uint64_t left = e->size;
	int fd, rc = 0;

	fd = open(e->p.src, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (left && rc == 0) {
		size_t n = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;

		bench_fill((unsigned char *)e->buf, BENCH_CHUNK, &state);
		rc = bench_write_full(fd, e->buf, n);
		left -= n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* The share of the file's pages in the page cache (mincore), or -1. */
static double bench_resident(const struct bench_env *e)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t npages, in = 0;
	unsigned char *vec;
	void *map;
	int fd;

	if (pg <= 0 || e->size == 0)
		return -1;
	fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	map = mmap(NULL, (size_t)e->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	npages = (size_t)((e->size + (uint64_t)pg - 1) / (uint64_t)pg);
	vec = malloc(npages);
	if (vec && mincore(map, (size_t)e->size, vec) == 0)
		for (size_t i = 0; i < npages; i++)
			in += vec[i] & 1;
	else
		in = SIZE_MAX;
	free(vec);
	munmap(map, (size_t)e->size);
	return in == SIZE_MAX ? -1 : (double)in / (double)npages;
}

/* ---- 1) local read ------------------------------------------------- */

/* read() the whole file in BENCH_CHUNK pieces, as cat does. */
static int bench_local_read(struct bench_env *e, double *ns)
{
	uint64_t got = 0;
	double t0 = data_now();
	int fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, e->buf, BENCH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
	}
	close(fd);
	*ns = data_now() - t0;
	if (rc == 0 && got != e->size)
		rc = -EIO;
	return rc;
}

/* ---- 2) raw socket copies -------------------------------------------- */

/* RAW_SEND: the file into the socket, read() by read(). */
static int bench_child_send(int sock, const char *src, char *buf)
{
	int fd = open(src, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, buf, BENCH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		if ((rc = bench_write_full(sock, buf, (size_t)n)) < 0)
			break;
	}
	close(fd);
	return rc;
}

/* RAW_WRITE: size bytes from the socket into a fresh file, fsync it;
 * answer {status, fsync ns}. */
static int bench_child_write(int sock, const char *dst, uint64_t size,
			     char *buf)
{
	int64_t reply[2] = { 0, 0 };
	uint64_t left = size;
	double t0;
	int fd, rc = 0;

	fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		rc = -errno;
	/* The bytes come whatever happens: take them all to stay in step. */
	while (left) {
		size_t want = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;
		ssize_t n = read(sock, buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		left -= (uint64_t)n;
		if (rc == 0)
			rc = bench_write_full(fd, buf, (size_t)n);
	}
	t0 = data_now();
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	reply[1] = (int64_t)(data_now() - t0);
	if (fd >= 0 && close(fd) < 0 && rc == 0)
		rc = -errno;
	reply[0] = rc;
	return bench_write_full(sock, reply, sizeof(reply));
}

/* The raw child: one command byte at a time, until the parent hangs
 * up.  A broken stream ends it with status 1. */
static void __attribute__((noreturn))
bench_raw_child(int sock, const struct bench_env *e, enum bench_pin pin)
{
	char *buf = malloc(BENCH_CHUNK);

	if (!buf)
		_exit(1);
	if (pin == PIN_CROSS && bench_pin_self(BENCH_CPU_PEER) < 0)
		_exit(3);
	for (;;) {
		char cmd;
		ssize_t n = read(sock, &cmd, 1);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			_exit(0);
		if (n < 0)
			_exit(1);
		if (cmd == RAW_SEND)
			rc = bench_child_send(sock, e->p.src, buf);
		else if (cmd == RAW_WRITE)
			rc = bench_child_write(sock, e->p.raw, e->size, buf);
		else
			rc = -EPROTO;
		if (rc < 0)
			_exit(1);
	}
}

/* Fork the raw child on a fresh socketpair. */
static int bench_raw_start(struct bench_env *e, enum bench_pin pin)
{
	int sv[2];

	/* CLOEXEC: tetherd must not inherit either end. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(NULL);
	e->rpid = fork();
	if (e->rpid < 0) {
		int err = errno;

		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (e->rpid == 0) {
		close(sv[0]);
		bench_raw_child(sv[1], e, pin);
	}
	close(sv[1]);
	e->rfd = sv[0];
	bench_sig_raw = e->rpid;
	return 0;
}

/* Hang up on the child and reap it; -EIO if it did not exit cleanly. */
static int bench_raw_stop(struct bench_env *e)
{
	int status;
	pid_t p;

	if (e->rfd >= 0)
		close(e->rfd);
	e->rfd = -1;
	if (e->rpid <= 0)
		return 0;
	do
		p = waitpid(e->rpid, &status, 0);
	while (p < 0 && errno == EINTR);
	e->rpid = -1;
	bench_sig_raw = 0;
	if (p < 0)
		return errno == ECHILD ? 0 : -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* The child sends the file; we read it in BENCH_CHUNK reads and write
 * each to /dev/null, as tether_get does with its chunks. */
static int bench_raw_copy(struct bench_env *e, double *ns)
{
	uint64_t left = e->size;
	char cmd = RAW_SEND;
	double t0 = data_now();
	int rc = bench_write_full(e->rfd, &cmd, 1);

	while (rc == 0 && left) {
		size_t want = left < BENCH_CHUNK ? (size_t)left : BENCH_CHUNK;
		ssize_t n = read(e->rfd, e->buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -ECONNRESET;
			break;
		}
		left -= (uint64_t)n;
		rc = bench_write_full(e->devnull, e->buf, (size_t)n);
	}
	*ns = data_now() - t0;
	return rc;
}

/* We read the file and send it, the child writes it to a fresh file
 * and fsyncs: the same work as a tether PUT, without tether.  The
 * target is removed before and after, untimed. */
static int bench_raw_write_fsync(struct bench_env *e, double *ns,
				 double *fsync_ns)
{
	int64_t reply[2];
	char cmd = RAW_WRITE;
	double t0;
	int fd, rc;

	unlink(e->p.raw);
	t0 = data_now();
	fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = bench_write_full(e->rfd, &cmd, 1);
	while (rc == 0) {
		ssize_t n = read(fd, e->buf, BENCH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		if (n <= 0)
			break;
		rc = bench_write_full(e->rfd, e->buf, (size_t)n);
	}
	close(fd);
	/* bench_read_full: 1 when done, 0 on EOF before the reply. */
	if (rc == 0) {
		rc = bench_read_full(e->rfd, reply, sizeof(reply));
		rc = rc == 1 ? 0 : rc == 0 ? -ECONNRESET : rc;
	}
	*ns = data_now() - t0;
	if (rc == 0 && reply[0] < 0)
		rc = (int)reply[0];
	*fsync_ns = rc == 0 ? (double)reply[1] : -1;
	unlink(e->p.raw);
	return rc;
}

/* ---- 3, 4) tether ---------------------------------------------------- */

/* Launch tetherd on a socket in the private directory, logging there;
 * on the peer CPU in cross mode, the client's otherwise. */
static int bench_tether_start(struct bench_env *e, const struct bench_opts *o)
{
	struct tether_start_opts so = { 0 };
	const struct tether_status *info;
	int rc;

	so.socket_path = e->p.sock;
	so.tetherd = o->tetherd;
	so.log_path = e->p.log;
	rc = bench_start_pinned(&so, o->pin, &e->t);
	/* Started even when re-pinning failed: record it for the cleanup. */
	if (e->t) {
		info = tether_info(e->t);
		e->tetherd_pid = info ? info->pid : 0;
		bench_sig_tetherd = e->tetherd_pid;
	}
	return rc;
}

/* Shut the server down and detach. */
static int bench_tether_stop(struct bench_env *e)
{
	int rc = 0;

	if (!e->t)
		return 0;
	rc = tether_shutdown(e->t);
	if (rc < 0)
		fprintf(stderr, "bench: tether_shutdown: %s (%s)\n",
			strerror(-rc), tether_last_error(e->t));
	tether_disconnect(e->t);
	e->t = NULL;
	return rc;
}

/* tether_get of the file to /dev/null. */
static int bench_tether_get(struct bench_env *e, double *ns)
{
	struct tether_xfer info = { 0 };
	double t0 = data_now();
	int rc = tether_get(e->t, e->p.src, e->devnull, &info);

	*ns = data_now() - t0;
	if (rc < 0)
		return rc;
	if (info.bytes != e->size || info.size != (int64_t)e->size ||
	    info.remote_bytes != e->size)
		return -EIO;
	return 0;
}

/* tether_put of the file into the private directory: the server writes
 * a temporary, fsyncs it, renames it over the target and fsyncs the
 * directory.  The target is removed before and after, untimed.
 *
 * tetherd closes the file only after it has answered, so before the
 * unlink a round trip makes sure it has: were the unlink first, the
 * server's close would free the file's blocks (with ext4 -o discard,
 * a synchronous discard of the whole file, seconds) inside its event
 * loop, stalling the rows that follow. */
static int bench_tether_put(struct bench_env *e, double *ns)
{
	struct tether_xfer info = { 0 };
	struct stat st;
	double t0;
	int fd, rc;

	unlink(e->p.put);
	t0 = data_now();
	fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	info.size = (int64_t)e->size;
	rc = tether_put(e->t, fd, e->p.put, 0600, &info);
	close(fd);
	*ns = data_now() - t0;
	if (rc == 0 && (info.bytes != e->size || info.remote_bytes != e->size ||
			stat(e->p.put, &st) < 0 ||
			(uint64_t)st.st_size != e->size))
		rc = -EIO;
	if (tether_getpid(e->t, NULL) < 0 && rc == 0)
		rc = -EPROTO;
	unlink(e->p.put);
	return rc;
}

/* ---- measuring ------------------------------------------------------- */

/* A tether row failed: say why, keep the error, stop that row. */
static void bench_tether_failed(struct bench_env *e, const char *what, int rc,
				bool *ok, int *err)
{
	fprintf(stderr, "bench: %s: %s (%s)\n", what, strerror(-rc),
		e->t ? tether_last_error(e->t) : "");
	*ok = false;
	*err = rc;
}

/* Untimed passes of the read rows: faults in the buffers on both ends
 * and settles the scheduler. */
static int bench_warmup(struct bench_env *e, const struct bench_opts *o,
			struct bench_results *res)
{
	double ns;
	int rc;

	for (long i = 0; i < o->warmup; i++) {
		if ((rc = bench_local_read(e, &ns)) < 0)
			return bench_fail("local read", rc);
		if ((rc = bench_raw_copy(e, &ns)) < 0)
			return bench_fail("raw socket copy", rc);
		if (res->get_ok && (rc = bench_tether_get(e, &ns)) < 0)
			bench_tether_failed(e, "tether_get", rc, &res->get_ok,
					    &res->get_err);
	}
	return 0;
}

/* BENCH_RUNS rounds of the five rows, interleaved so that a slow
 * stretch of the machine hits them alike.  A tether failure stops only
 * its row; a raw failure stops the bench. */
static int bench_run_all(struct bench_env *e, const struct bench_opts *o,
			 struct bench_results *res)
{
	double ns, fs = -1;
	int rc;

	if ((rc = bench_warmup(e, o, res)) < 0)
		return rc;
	for (int run = 0; run < BENCH_RUNS; run++) {
		if ((rc = bench_local_read(e, &ns)) < 0)
			return bench_fail("local read", rc);
		res->local.ns[res->local.n++] = ns;
		if ((rc = bench_raw_copy(e, &ns)) < 0)
			return bench_fail("raw socket copy", rc);
		res->raw.ns[res->raw.n++] = ns;
		if (res->get_ok) {
			if ((rc = bench_tether_get(e, &ns)) < 0)
				bench_tether_failed(e, "tether_get", rc,
						    &res->get_ok,
						    &res->get_err);
			else
				res->get.ns[res->get.n++] = ns;
		}
		if ((rc = bench_raw_write_fsync(e, &ns, &fs)) < 0)
			return bench_fail("raw copy + write + fsync", rc);
		res->rawfs.ns[res->rawfs.n++] = ns;
		res->fsync.ns[res->fsync.n++] = fs;
		if (res->put_ok) {
			if ((rc = bench_tether_put(e, &ns)) < 0)
				bench_tether_failed(e, "tether_put", rc,
						    &res->put_ok,
						    &res->put_err);
			else
				res->put.ns[res->put.n++] = ns;
		}
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* MiB/s from a time in ns, or -1. */
static double bench_mibs(const struct bench_opts *o, double ns)
{
	return ns > 0 ? (double)o->mib / (ns / 1e9) : -1;
}

/* The ratios, in MiB/s: GET / raw copy, PUT / raw+write+fsync, raw
 * copy / local read. */
static void bench_ratios(const struct bench_results *res, double r[3])
{
	r[0] = bench_ratio(bench_median(&res->raw), bench_median(&res->get));
	r[1] = bench_ratio(bench_median(&res->rawfs), bench_median(&res->put));
	r[2] = bench_ratio(bench_median(&res->local), bench_median(&res->raw));
}

/* "met", "NOT met" or "not measured". */
static const char *bench_verdict(double r)
{
	return r < 0 ? "not measured" : r >= BENCH_TARGET ? "met" : "NOT met";
}

/* A throughput row: MiB/s of the median, fastest and slowest run. */
static void bench_print_mibs(const struct bench_opts *o, const char *name,
			     const struct bench_series *s)
{
	if (s->n == 0) {
		printf("%-34s %12s %12s %12s\n", name, "n/a", "-", "-");
		return;
	}
	printf("%-34s %12.1f %12.1f %12.1f\n", name,
	       bench_mibs(o, bench_median(s)),
	       bench_mibs(o, bench_extreme(s, false)),
	       bench_mibs(o, bench_extreme(s, true)));
}

/* A ratio line, "n/a" when a side is missing. */
static void bench_print_ratio(const char *name, double r)
{
	if (r < 0)
		printf("%-34s %12s\n", name, "n/a");
	else
		printf("%-34s %12.2f\n", name, r);
}

/* A share as "100.0%", or "?". */
static void bench_pct(char *buf, size_t size, double share)
{
	if (share < 0)
		snprintf(buf, size, "?");
	else
		snprintf(buf, size, "%.1f%%", share * 100);
}

/* The human-readable report. */
static void bench_print_table(const struct bench_env *e,
			      const struct bench_opts *o,
			      const struct bench_results *res)
{
	char before[16], after[16];
	double r[3];

	bench_ratios(res, r);
	bench_pct(before, sizeof(before), res->resident_before);
	bench_pct(after, sizeof(after), res->resident_after);
	printf("pin mode: %s    cpus online: %ld\n", bench_pin_names[o->pin],
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("affinity: bench %s, raw child %s, tetherd %s\n",
	       res->cpus_self, res->cpus_raw,
	       e->tetherd_pid > 0 ? res->cpus_tetherd : "n/a");
	printf("file: %ld MiB in %s (%s), in page cache %s before, %s "
	       "after\n", o->mib, e->p.dir, e->fstype, before, after);
	printf("runs: %d (warmup %ld of the read rows)    raw chunks: %u KiB"
	       "\n\n", BENCH_RUNS, o->warmup, BENCH_CHUNK / 1024);
	printf("%-34s %12s %12s %12s\n", "", "MiB/s median", "best run",
	       "worst run");
	bench_print_mibs(o, "local read() of the file", &res->local);
	bench_print_mibs(o, "raw socket copy", &res->raw);
	bench_print_mibs(o, "tether GET -> /dev/null", &res->get);
	bench_print_mibs(o, "raw copy + write + fsync", &res->rawfs);
	bench_print_mibs(o, "tether PUT (server fsyncs)", &res->put);
	if (res->fsync.n)
		printf("%-34s %12.1f ms median of %.1f ms\n",
		       "  fsync inside raw + fsync", bench_median(&res->fsync)
		       / 1e6, bench_median(&res->rawfs) / 1e6);
	printf("\n");
	bench_print_ratio("GET / raw socket copy", r[0]);
	bench_print_ratio("PUT / raw copy + write + fsync", r[1]);
	bench_print_ratio("raw socket copy / local read", r[2]);
	printf("target: GET >= %.2f x raw socket copy: %s\n", BENCH_TARGET,
	       bench_verdict(r[0]));
	printf("target: PUT >= %.2f x raw copy + write + fsync: %s\n",
	       BENCH_TARGET, bench_verdict(r[1]));
	if (!res->get_ok)
		printf("GET row incomplete: %s\n", strerror(-res->get_err));
	if (!res->put_ok)
		printf("PUT row incomplete: %s\n", strerror(-res->put_err));
}

/* A throughput series as JSON: MiB/s of the median and of each run. */
static void bench_json_mibs(const struct bench_opts *o, const char *name,
			    const struct bench_series *s)
{
	printf("  \"%s\": {\"median_mib_s\": ", name);
	if (s->n)
		printf("%.1f", bench_mibs(o, bench_median(s)));
	else
		printf("null");
	printf(", \"runs_mib_s\": [");
	for (int i = 0; i < s->n; i++)
		printf("%s%.1f", i ? ", " : "", bench_mibs(o, s->ns[i]));
	printf("]},\n");
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_env *e,
			     const struct bench_opts *o,
			     const struct bench_results *res)
{
	double r[3];

	bench_ratios(res, r);
	printf("{\n  \"pin\": \"%s\",\n  \"cpus_online\": %ld,\n",
	       bench_pin_names[o->pin], sysconf(_SC_NPROCESSORS_ONLN));
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\", "
	       "\"tetherd\": \"%s\"},\n", res->cpus_self, res->cpus_raw,
	       e->tetherd_pid > 0 ? res->cpus_tetherd : "");
	printf("  \"mib\": %ld,\n  \"runs\": %d,\n  \"warmup\": %ld,\n"
	       "  \"raw_chunk_bytes\": %u,\n  \"fstype\": \"%s\",\n",
	       o->mib, BENCH_RUNS, o->warmup, BENCH_CHUNK, e->fstype);
	bench_json_ratio("page_cache_before", res->resident_before, false);
	bench_json_ratio("page_cache_after", res->resident_after, false);
	bench_json_mibs(o, "local_read", &res->local);
	bench_json_mibs(o, "raw_copy", &res->raw);
	bench_json_mibs(o, "tether_get", &res->get);
	bench_json_mibs(o, "raw_write_fsync", &res->rawfs);
	bench_json_mibs(o, "tether_put", &res->put);
	printf("  \"raw_fsync_ms\": {\"median\": ");
	if (res->fsync.n)
		printf("%.1f", bench_median(&res->fsync) / 1e6);
	else
		printf("null");
	printf(", \"runs\": [");
	for (int i = 0; i < res->fsync.n; i++)
		printf("%s%.1f", i ? ", " : "", res->fsync.ns[i] / 1e6);
	printf("]},\n");
	bench_json_ratio("ratio_get_raw", r[0], false);
	bench_json_ratio("ratio_put_raw_fsync", r[1], false);
	bench_json_ratio("ratio_raw_local", r[2], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	printf("  \"target_get_met\": %s,\n",
	       r[0] < 0 ? "null" : r[0] >= BENCH_TARGET ? "true" : "false");
	printf("  \"target_put_met\": %s\n}\n",
	       r[1] < 0 ? "null" : r[1] >= BENCH_TARGET ? "true" : "false");
}

/* ---- main ------------------------------------------------------------ */

/* Record who runs where, so the report shows the pinning took effect. */
static void bench_record_affinity(const struct bench_env *e,
				  struct bench_results *res)
{
	if (bench_cpu_list(0, res->cpus_self, sizeof(res->cpus_self)) < 0)
		strcpy(res->cpus_self, "?");
	if (bench_cpu_list(e->rpid, res->cpus_raw, sizeof(res->cpus_raw)) < 0)
		strcpy(res->cpus_raw, "?");
	if (e->tetherd_pid <= 0 ||
	    bench_cpu_list(e->tetherd_pid, res->cpus_tetherd,
			   sizeof(res->cpus_tetherd)) < 0)
		strcpy(res->cpus_tetherd, "?");
}

/* Everything the bench made goes, the big file first. */
static int bench_cleanup(struct bench_env *e)
{
	int rc = 0, rc2;

	if (bench_tether_stop(e) < 0)
		rc = -EIO;
	rc2 = bench_raw_stop(e);
	if (rc2 < 0) {
		bench_fail("raw child", rc2);
		rc = rc2;
	}
	if (e->have_dir) {
		unlink(e->p.src);
		rc2 = bench_rmdir(e->p.dir, 1);
		if (rc2 < 0) {
			fprintf(stderr, "bench: cannot remove %s: %s\n",
				e->p.dir, strerror(-rc2));
			rc = rc2;
		}
		e->have_dir = false;
		bench_sig_armed = 0;
	}
	bench_sig_tetherd = 0;
	if (e->devnull >= 0)
		close(e->devnull);
	e->devnull = -1;
	free(e->buf);
	e->buf = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench_env e = { .devnull = -1, .rfd = -1, .rpid = -1 };
	struct bench_results res = { .get_ok = true, .put_ok = true };
	int rc, status = 0;

	if (bench_parse_args(argc, argv, &o) < 0)
		return 2;
	bench_main_pid = getpid();
	/* bench_pin_client says why on stderr when it cannot. */
	if (bench_pin_client(o.pin) < 0)
		return 1;
	e.size = (uint64_t)o.mib << 20;
	/* Handlers first: from mkdtemp on there is something to remove. */
	if ((rc = bench_catch_signals()) < 0) {
		bench_fail("setting up signals", rc);
		return 1;
	}
	if (!(e.buf = malloc(BENCH_CHUNK))) {
		bench_fail("allocating", -ENOMEM);
		return 1;
	}
	if ((rc = bench_dir(&e)) < 0) {
		bench_fail("making a private directory", rc);
		status = 1;
		goto out;
	}
	bench_fstype(&e);
	e.devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (e.devnull < 0) {
		bench_fail("opening /dev/null", -errno);
		status = 1;
		goto out;
	}
	if ((rc = bench_check_space(&e)) < 0 ||
	    (rc = bench_make_file(&e)) < 0) {
		bench_fail("writing the file", rc);
		status = 1;
		goto out;
	}
	res.resident_before = bench_resident(&e);
	rc = bench_raw_start(&e, o.pin);
	if (rc < 0) {
		bench_fail("starting the raw child", rc);
		status = 1;
		goto out;
	}
	rc = bench_tether_start(&e, &o);
	if (rc < 0) {
		fprintf(stderr, "bench: tether_start (%s): %s\n", o.tetherd,
			strerror(-rc));
		res.get_ok = res.put_ok = false;
		res.get_err = res.put_err = rc;
		status = 1;
	}
	/* Only now: an ignored SIGPIPE would survive tetherd's exec. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		bench_fail("ignoring SIGPIPE", -errno);
		status = 1;
		goto out;
	}
	if (bench_run_all(&e, &o, &res) < 0 || !res.get_ok || !res.put_ok)
		status = 1;
	res.resident_after = bench_resident(&e);
	/* After the runs: by now the child has surely pinned itself. */
	bench_record_affinity(&e, &res);
	if (o.json)
		bench_print_json(&e, &o, &res);
	else
		bench_print_table(&e, &o, &res);
out:
	if (bench_cleanup(&e) < 0)
		status = 1;
	return status;
}
