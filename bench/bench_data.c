/*
 * bench_data: what tether's data socket moves per second, against the
 * raw floors.
 *
 * One file (1 GiB by default) of non-zero pseudo-random bytes is written
 * once into a private directory under /tmp, fsynced, and left warm in
 * the page cache.  Under one CPU pinning, ten rows are timed
 * BENCH_RUNS times, interleaved: a local read() of the file (1 MiB and
 * 128 KiB blocks), a raw AF_UNIX socket copy of it between two
 * processes, tether GET of it to /dev/null streamed over the data
 * socket (TETHER_NO_FDPASS=1) and through the file's fd passed to the
 * bench (the same-host fast path; with a struct tether_xfer, hashed, and
 * without, unhashed), a raw socket copy written to a file
 * and fsynced, and tether PUT of it into the private directory (which
 * fsyncs on the server), streamed and through the temporary's fd.
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
#define BENCH_TARGET_RAW 0.90		/* issue 17: GET stream / raw copy */
#define BENCH_TARGET_LOCAL 0.80		/* issue 17: GET fd / local read() */
#define BENCH_CHUNK (1u << 20)		/* read/write size of the raw rows */
#define BENCH_SMALL (128u << 10)	/* cat's read size: fits in L2 */
#define BENCH_SPACE_SLACK (64ull << 20)	/* free space beyond 2 x the file */

/* What the raw child is asked to do, one byte on its socket. */
enum { RAW_SEND = 'S', RAW_WRITE = 'W' };

struct bench_opts {
	struct bench_args a;
	long mib;
	long warmup;			/* untimed passes of the read rows */
};

/* The private directory and everything in it (tetherd's socket and
 * log too: bench_tetherd). */
struct bench_paths {
	char dir[BENCH_DIR_MAX];
	char src[128];			/* the big file */
	char put[128];			/* tether PUT's target */
	char raw[128];			/* the raw write row's target */
};

struct bench_env {
	struct bench_paths p;
	uint64_t size;			/* bytes in the file */
	char *buf;			/* BENCH_CHUNK bytes */
	int devnull;
	int rfd;			/* the raw child's socket */
	pid_t rpid;
	struct bench_tetherd d;
	char fstype[24];
};

struct bench_results {
	struct bench_series local;	/* read() of the file */
	struct bench_series local_small; /* the same, BENCH_SMALL reads */
	struct bench_series raw;	/* raw socket copy */
	struct bench_series get;	/* tether GET to /dev/null, streamed */
	struct bench_series get_fd;	/* the same through the passed fd */
	struct bench_series get_bare;	/* the fd, no tether_xfer: no hash */
	struct bench_series rawfs;	/* raw copy + write + fsync */
	struct bench_series fsync;	/* the fsync inside rawfs */
	struct bench_series put;	/* tether PUT, streamed */
	struct bench_series put_fd;	/* the same through the passed fd */
	bool get_ok, put_ok;
	int get_err, put_err;		/* why a row is missing, or 0 */
	double resident_before;		/* page cache share of the file */
	double resident_after;
	char cpus_self[64];
	char cpus_raw[64];
	char cpus_tetherd[64];
};

/* A page-aligned buffer: read() into malloc's 16-byte-offset memory
 * runs at a third of the speed on some CPUs (AMD EPYC here), which
 * would make the floors look slower than they are. */
static void *bench_buf_alloc(size_t size)
{
	void *p;

	return posix_memalign(&p, 4096, size) ? NULL : p;
}

/* ---- the private directory and the file ---------------------------- */

/* Make the private directory and its paths; on a signal the big file
 * goes first. */
static int bench_dir(struct bench_env *e)
{
	struct bench_paths *p = &e->p;
	int rc;

	if ((rc = bench_mkdir(p->dir)) < 0)
		return rc;
	if ((rc = bench_path(p->src, sizeof(p->src), p->dir, "file")) < 0 ||
	    (rc = bench_path(p->put, sizeof(p->put), p->dir, "put.out")) < 0 ||
	    (rc = bench_path(p->raw, sizeof(p->raw), p->dir, "raw.out")) < 0)
		return rc;
	bench_guard_dir(p->dir, p->src, 2);
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

/* read() the whole file in bs pieces (BENCH_CHUNK, or BENCH_SMALL as
 * cat does). */
static int bench_local_read(struct bench_env *e, size_t bs, double *ns)
{
	uint64_t got = 0;
	double t0 = bench_now_ns();
	int fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t n = read(fd, e->buf, bs);

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
	*ns = bench_now_ns() - t0;
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
	t0 = bench_now_ns();
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	reply[1] = (int64_t)(bench_now_ns() - t0);
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
	char *buf = bench_buf_alloc(BENCH_CHUNK);

	if (!buf)
		_exit(1);
	if (pin == PIN_CROSS && bench_pin_pid(0, BENCH_CPU_PEER) < 0)
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
	bench_guard_pid(e->rpid, true);
	return 0;
}

/* Hang up on the child and reap it; -EIO if it did not exit cleanly. */
static int bench_raw_stop(struct bench_env *e)
{
	int rc;

	if (e->rfd >= 0)
		close(e->rfd);
	e->rfd = -1;
	if (e->rpid <= 0)
		return 0;
	rc = bench_reap(e->rpid);
	e->rpid = -1;
	return rc;
}
/* The child sends the file; we read it in BENCH_CHUNK reads and write
 * each to /dev/null, as tether_get does with its chunks. */
static int bench_raw_copy(struct bench_env *e, double *ns)
{
	uint64_t left = e->size;
	char cmd = RAW_SEND;
	double t0 = bench_now_ns();
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
	*ns = bench_now_ns() - t0;
	return rc;
}

/* A write row begins: its target gone (untimed), the clock started
 * (*t0), the file open for reading: the fd, or -errno. */
static int bench_write_row(struct bench_env *e, const char *target,
			   double *t0)
{
	int fd;

	unlink(target);
	*t0 = bench_now_ns();
	fd = open(e->p.src, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
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

	if ((fd = bench_write_row(e, e->p.raw, &t0)) < 0)
		return fd;
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
	*ns = bench_now_ns() - t0;
	if (rc == 0 && reply[0] < 0)
		rc = (int)reply[0];
	*fsync_ns = rc == 0 ? (double)reply[1] : -1;
	unlink(e->p.raw);
	return rc;
}

/* ---- 3, 4) tether ---------------------------------------------------- */

/* The data socket rather than the same-host fd pass, for the next call
 * (libtether reads TETHER_NO_FDPASS on every transfer). */
static void bench_stream(bool stream)
{
	if (stream)
		setenv("TETHER_NO_FDPASS", "1", 1);
	else
		unsetenv("TETHER_NO_FDPASS");
}

/* How a GET row runs: streamed, through the passed fd with a
 * tether_xfer (hashed, as tetherctl get --json), or through it without
 * one (libtether makes no hash no one could read). */
enum bench_get_way { BENCH_GET_STREAM, BENCH_GET_FD, BENCH_GET_BARE,
		     BENCH_GET_WAYS };

/* tether_get of the file to /dev/null, one of those ways. */
static int bench_tether_get(struct bench_env *e, enum bench_get_way way,
			    double *ns)
{
	struct tether_xfer info = { 0 };
	double t0;
	int rc;

	bench_stream(way == BENCH_GET_STREAM);
	t0 = bench_now_ns();
	rc = tether_get(e->d.t, e->p.src, e->devnull,
			way == BENCH_GET_BARE ? NULL : &info);
	*ns = bench_now_ns() - t0;
	bench_stream(false);
	if (rc < 0 || way == BENCH_GET_BARE)
		/* a short copy is -EIO in there (libtether(3)) */
		return rc;
	if (info.bytes != e->size || info.size != (int64_t)e->size ||
	    info.remote_bytes != e->size)
		return -EIO;
	return 0;
}

/* The series a GET way's runs go into. */
static struct bench_series *bench_get_series(struct bench_results *res,
					     enum bench_get_way way)
{
	return way == BENCH_GET_STREAM ? &res->get
	       : way == BENCH_GET_FD	? &res->get_fd
					: &res->get_bare;
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
static int bench_tether_put(struct bench_env *e, bool stream, double *ns)
{
	struct tether_xfer info = { 0 };
	struct stat st;
	double t0;
	int fd, rc;

	bench_stream(stream);
	if ((fd = bench_write_row(e, e->p.put, &t0)) < 0) {
		bench_stream(false);
		return fd;
	}
	info.size = (int64_t)e->size;
	rc = tether_put(e->d.t, fd, e->p.put, 0600, &info);
	close(fd);
	*ns = bench_now_ns() - t0;
	bench_stream(false);
	if (rc == 0 && (info.bytes != e->size || info.remote_bytes != e->size ||
			stat(e->p.put, &st) < 0 ||
			(uint64_t)st.st_size != e->size))
		rc = -EIO;
	if (tether_getpid(e->d.t, NULL) < 0 && rc == 0)
		rc = -EPROTO;
	unlink(e->p.put);
	return rc;
}

/* ---- measuring ------------------------------------------------------- */

/* Untimed passes of the read rows: faults in the buffers on both ends
 * and settles the scheduler. */
static int bench_warmup(struct bench_env *e, const struct bench_opts *o,
			struct bench_results *res)
{
	double ns;
	int rc;

	for (long i = 0; i < o->warmup; i++) {
		if ((rc = bench_local_read(e, BENCH_CHUNK, &ns)) < 0 ||
		    (rc = bench_local_read(e, BENCH_SMALL, &ns)) < 0)
			return bench_fail("local read", rc);
		if ((rc = bench_raw_copy(e, &ns)) < 0)
			return bench_fail("raw socket copy", rc);
		for (int way = 0; way < BENCH_GET_WAYS && res->get_ok; way++)
			if ((rc = bench_tether_get(e, way, &ns)) < 0)
				bench_tether_failed(e->d.t, "tether_get", rc,
						    &res->get_ok,
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
		if ((rc = bench_local_read(e, BENCH_CHUNK, &ns)) < 0)
			return bench_fail("local read", rc);
		res->local.ns[res->local.n++] = ns;
		if ((rc = bench_local_read(e, BENCH_SMALL, &ns)) < 0)
			return bench_fail("local read", rc);
		res->local_small.ns[res->local_small.n++] = ns;
		if ((rc = bench_raw_copy(e, &ns)) < 0)
			return bench_fail("raw socket copy", rc);
		res->raw.ns[res->raw.n++] = ns;
		for (int way = 0; way < BENCH_GET_WAYS && res->get_ok; way++) {
			struct bench_series *s = bench_get_series(res, way);

			if ((rc = bench_tether_get(e, way, &ns)) < 0)
				bench_tether_failed(e->d.t, "tether_get", rc,
						    &res->get_ok,
						    &res->get_err);
			else
				s->ns[s->n++] = ns;
		}
		if ((rc = bench_raw_write_fsync(e, &ns, &fs)) < 0)
			return bench_fail("raw copy + write + fsync", rc);
		res->rawfs.ns[res->rawfs.n++] = ns;
		res->fsync.ns[res->fsync.n++] = fs;
		for (int fd = 0; fd < 2 && res->put_ok; fd++) {
			struct bench_series *s = fd ? &res->put_fd : &res->put;

			if ((rc = bench_tether_put(e, !fd, &ns)) < 0)
				bench_tether_failed(e->d.t, "tether_put", rc,
						    &res->put_ok,
						    &res->put_err);
			else
				s->ns[s->n++] = ns;
		}
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* The faster of the two local read() rows: the baseline a same-host
 * GET is judged against (times in ns: the smaller median). */
static double bench_local_best(const struct bench_results *res)
{
	double a = bench_median(&res->local);
	double b = bench_median(&res->local_small);

	return a > 0 && (b <= 0 || a < b) ? a : b;
}

/* The ratios, in MiB/s: GET (streamed) / raw copy, PUT (streamed) /
 * raw+write+fsync, raw copy / local read, GET (fd) / the best local
 * read, PUT (fd) / raw+write+fsync, GET (fd, unhashed) / the best
 * local read. */
static void bench_ratios(const struct bench_results *res, double r[6])
{
	r[0] = bench_ratio(bench_median(&res->raw), bench_median(&res->get));
	r[1] = bench_ratio(bench_median(&res->rawfs), bench_median(&res->put));
	r[2] = bench_ratio(bench_median(&res->local), bench_median(&res->raw));
	r[3] = bench_ratio(bench_local_best(res), bench_median(&res->get_fd));
	r[4] = bench_ratio(bench_median(&res->rawfs),
			   bench_median(&res->put_fd));
	r[5] = bench_ratio(bench_local_best(res),
			   bench_median(&res->get_bare));
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
	struct bench_unit mibs = BENCH_MIB_S(o->mib);
	char before[16], after[16];
	double r[6];

	bench_ratios(res, r);
	bench_pct(before, sizeof(before), res->resident_before);
	bench_pct(after, sizeof(after), res->resident_after);
	bench_layout.width = 34;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, raw child %s, tetherd %s\n",
	       res->cpus_self, res->cpus_raw,
	       e->d.pid > 0 ? res->cpus_tetherd : "n/a");
	printf("file: %ld MiB in %s (%s), in page cache %s before, %s "
	       "after\n", o->mib, e->p.dir, e->fstype, before, after);
	printf("runs: %d (warmup %ld of the read rows)    raw chunks: %u KiB"
	       "\n\n", BENCH_RUNS, o->warmup, BENCH_CHUNK / 1024);
	bench_print_heads("", "MiB/s median", "best run", "worst run");
	bench_print_row("local read() of the file", &res->local, mibs);
	bench_print_row("local read(), 128 KiB blocks", &res->local_small,
			mibs);
	bench_print_row("raw socket copy", &res->raw, mibs);
	bench_print_row("tether GET -> /dev/null, stream", &res->get, mibs);
	bench_print_row("tether GET -> /dev/null, fd pass", &res->get_fd,
			mibs);
	bench_print_row("  the same, unhashed",
			&res->get_bare, mibs);
	bench_print_row("raw copy + write + fsync", &res->rawfs, mibs);
	bench_print_row("tether PUT (server fsyncs), stream", &res->put,
			mibs);
	bench_print_row("tether PUT, fd pass", &res->put_fd, mibs);
	if (res->fsync.n)
		printf("%-34s %12.1f ms median of %.1f ms\n",
		       "  fsync inside raw + fsync", bench_median(&res->fsync)
		       / 1e6, bench_median(&res->rawfs) / 1e6);
	printf("\n");
	bench_print_ratio("GET stream / raw socket copy", r[0]);
	bench_print_ratio("GET fd pass / best local read", r[3]);
	bench_print_ratio("  unhashed / best local read", r[5]);
	bench_print_ratio("PUT stream / raw copy + write + fsync", r[1]);
	bench_print_ratio("PUT fd pass / raw copy + write + fsync", r[4]);
	bench_print_ratio("raw socket copy / local read", r[2]);
	printf("target: GET >= %.2f x raw socket copy: %s\n", BENCH_TARGET,
	       bench_verdict(r[0], BENCH_TARGET, false));
	printf("target: PUT >= %.2f x raw copy + write + fsync: %s\n",
	       BENCH_TARGET, bench_verdict(r[1], BENCH_TARGET, false));
	printf("target: GET stream >= %.2f x raw socket copy: %s\n",
	       BENCH_TARGET_RAW, bench_verdict(r[0], BENCH_TARGET_RAW, false));
	printf("target: GET fd pass >= %.2f x local read(): %s "
	       "(no tether_xfer: %s)\n", BENCH_TARGET_LOCAL,
	       bench_verdict(r[3], BENCH_TARGET_LOCAL, false),
	       bench_verdict(r[5], BENCH_TARGET_LOCAL, false));
	if (!res->get_ok)
		printf("GET row incomplete: %s\n", strerror(-res->get_err));
	if (!res->put_ok)
		printf("PUT row incomplete: %s\n", strerror(-res->put_err));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_env *e,
			     const struct bench_opts *o,
			     const struct bench_results *res)
{
	struct bench_unit mibs = BENCH_MIB_S(o->mib);
	double r[6];

	bench_ratios(res, r);
	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\", "
	       "\"tetherd\": \"%s\"},\n", res->cpus_self, res->cpus_raw,
	       e->d.pid > 0 ? res->cpus_tetherd : "");
	printf("  \"mib\": %ld,\n  \"runs\": %d,\n  \"warmup\": %ld,\n"
	       "  \"raw_chunk_bytes\": %u,\n  \"fstype\": \"%s\",\n",
	       o->mib, BENCH_RUNS, o->warmup, BENCH_CHUNK, e->fstype);
	bench_json_ratio("page_cache_before", res->resident_before, false);
	bench_json_ratio("page_cache_after", res->resident_after, false);
	bench_json_series("local_read", &res->local, mibs);
	bench_json_series("local_read_small", &res->local_small, mibs);
	bench_json_series("raw_copy", &res->raw, mibs);
	bench_json_series("tether_get", &res->get, mibs);
	bench_json_series("tether_get_fd", &res->get_fd, mibs);
	bench_json_series("tether_get_fd_unhashed", &res->get_bare, mibs);
	bench_json_series("raw_write_fsync", &res->rawfs, mibs);
	bench_json_series("tether_put", &res->put, mibs);
	bench_json_series("tether_put_fd", &res->put_fd, mibs);
	/* keys without a unit: "median", "runs" */
	bench_json_series("raw_fsync_ms", &res->fsync,
			  (struct bench_unit){ "", 1e6, 0, NULL });
	bench_json_ratio("ratio_get_raw", r[0], false);
	bench_json_ratio("ratio_put_raw_fsync", r[1], false);
	bench_json_ratio("ratio_raw_local", r[2], false);
	bench_json_ratio("ratio_get_local", r[3], false);
	bench_json_ratio("ratio_get_local_unhashed", r[5], false);
	bench_json_ratio("ratio_put_fd_raw_fsync", r[4], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("target_get_met", r[0], BENCH_TARGET, false, false);
	bench_json_met("target_put_met", r[1], BENCH_TARGET, false, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

/* Everything the bench made goes, the big file first. */
static int bench_cleanup(struct bench_env *e)
{
	int rc = 0, rc2;

	if (bench_tetherd_stop(&e->d) < 0)
		rc = -EIO;
	rc2 = bench_raw_stop(e);
	if (rc2 < 0) {
		bench_fail("raw child", rc2);
		rc = rc2;
	}
	if (e->p.dir[0]) {
		unlink(e->p.src);
		rc2 = bench_rmdir(e->p.dir, 1);
		if (rc2 < 0)
			rc = rc2;
		e->p.dir[0] = '\0';
	}
	if (e->devnull >= 0)
		close(e->devnull);
	e->devnull = -1;
	free(e->buf);
	e->buf = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .mib = 1024, .warmup = 1 };
	const struct bench_opt opts[] = {
		/* 1 MiB .. 1 TiB: the MiB/s arithmetic stays exact. */
		{ .name = "mib", .help = "file size in MiB", .num = &o.mib,
		  .min = 1, .max = 1L << 20 },
		{ .name = "warmup", .help = "untimed passes of the read rows",
		  .num = &o.warmup, .min = 0, .max = 100 },
		{ .name = NULL },
	};
	struct bench_env e = { .devnull = -1, .rfd = -1, .rpid = -1 };
	struct bench_results res = { .get_ok = true, .put_ok = true };
	int rc, status = 0;

	if (bench_args_parse(argc, argv, "the raw child and tetherd", opts,
			     &o.a) < 0)
		return 2;
	/* Handlers first: from mkdtemp on there is something to remove. */
	if (bench_setup(o.a.pin) < 0)
		return 1;
	e.size = (uint64_t)o.mib << 20;
	if (!(e.buf = bench_buf_alloc(BENCH_CHUNK))) {
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
	rc = bench_raw_start(&e, o.a.pin);
	if (rc < 0) {
		bench_fail("starting the raw child", rc);
		status = 1;
		goto out;
	}
	rc = bench_tetherd_start(&e.d, e.p.dir, "tetherd", o.a.tetherd, NULL,
				 o.a.pin);
	if (rc < 0) {
		res.get_ok = res.put_ok = false;
		res.get_err = res.put_err = rc;
		status = 1;
	}
	if (bench_run_all(&e, &o, &res) < 0 || !res.get_ok || !res.put_ok)
		status = 1;
	res.resident_after = bench_resident(&e);
	/* After the runs: by now the child has surely pinned itself. */
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	bench_cpus(e.rpid, res.cpus_raw, sizeof(res.cpus_raw));
	bench_cpus(e.d.pid, res.cpus_tetherd, sizeof(res.cpus_tetherd));
	if (o.a.json)
		bench_print_json(&e, &o, &res);
	else
		bench_print_table(&e, &o, &res);
out:
	if (bench_cleanup(&e) < 0)
		status = 1;
	return status;
}
