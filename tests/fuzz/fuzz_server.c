/*
 * libFuzzer target for whole tetherd sessions, in process.
 *
 * LLVMFuzzerInitialize starts one server (td_server_start, in_process)
 * on a socket in a private temporary directory, under a policy that
 * admits only calls that cannot reach outside this process (fz_policy
 * below).  Each input is a script of client actions against that
 * server, played from this one thread: the harness is the controllers
 * (real handshakes, real socket pairs, SCM_RIGHTS) and runs the server's
 * loop itself with td_loop_once, so nothing ever blocks.
 *
 * Input format: a sequence of records
 *
 *	op:1 len:2 (big-endian) payload:len
 *
 * (a length past the end takes what is left).  op's low 4 bits are the
 * kind, bits 4-5 the slot (one of 4 client sessions), bit 6 adds a loop
 * turn and a drain after the record.  Kinds (fuzz_server.h has the
 * constants and every payload's layout):
 *
 *	0 HELLO   connect to the listening socket and send a HELLO packet
 *		  with the slot's fresh socket pairs by SCM_RIGHTS: payload
 *		  [variant, flags, generation, raw...] (well formed, no fds,
 *		  one, three, a pipe, a datagram socket, raw bytes, silent;
 *		  flags TAKEOVER/OBSERVE/PROBE as given)
 *	1 FRAME   the payload as one frame on the syscall socket
 *	2 RAW     the payload as bytes on the syscall socket
 *	3 DATA    the payload as bytes on the data socket
 *	4 CHUNK   a data-socket chunk (DATA, END, ABORT, lying length ...)
 *	5 SENDFD  one byte and a fresh fd on the data socket (for TAKE)
 *	6 LOOP    1-8 loop turns, each followed by a drain
 *	7 DRAIN   read what the server sent to the slot, without waiting
 *	8 CLOSE   close or shut down the slot's sockets
 *	9 REQ     [id, payload[0], payload[1...] as the raw msgpack body]
 *	10 CALL   a SYSCALL built from a compact description: the number
 *		  from the policy's list, arguments as ints or in, out,
 *		  in-out, string, data-socket and result-reference buffers
 *	11 BATCH  a BATCH of such descriptions, or a SUBMIT of them
 *	12 JOB    COLLECT / CANCEL of the k-th job of this input, PENDING
 *	13 MEM    MEM_ALLOC, and MEM_WRITE / READ / FREE on the k-th
 *		  address MEM_ALLOC answered (addresses are not in the
 *		  input: they differ from run to run)
 *	14 SLEEP  one loop turn that may wait up to 31 ms (timers)
 *
 * After the script every client socket is closed, the loop runs until
 * it settles, calls still running are cancelled and parked results
 * collected, remote memory and labels dropped, and the fds the session
 * legitimately made (syscall results, TAKE) closed.  Then, or abort():
 *
 *	- no connection and no handshake is left in the server;
 *	- every fd in the process is one it had when the input began, one
 *	  of the server's own (as many as then) or one the session made
 *	  (a syscall's result, a TAKE's answer); anything else leaked;
 *	- every frame the server sent decoded, with an errno in range and
 *	  a message with every error; every handshake answer is one
 *	  packet holding one such frame.
 *
 * Oracles beyond the sanitizers: the kernel writes where the server
 * points it, and ASan cannot see that, so the syscall() the server calls
 * is interposed here (fz_kernel_model) and checks, before the real call,
 * the bytes the kernel would read or write for the calls the policy
 * allows: a buffer the server sized too small on its heap is then the
 * heap-buffer-overflow it would be in user space.  The same interposer
 * records the fds and mappings the session makes.  kill() is interposed
 * too: SHUTDOWN's kill(getpid(), SIGTERM) is swallowed, or the one
 * server of the run would stop at the first SHUTDOWN a mutation finds.
 *
 * Environment: FUZZ_SERVER_LOG=FILE sends the server's log there
 * (default /dev/null); FUZZ_SERVER_VERBOSE=1 prints every answer and
 * fd the harness sees; FUZZ_SERVER_NO_KERNEL_MODEL=1 turns the kernel
 * model off (to see what ASan alone would say); FUZZ_SERVER_AVOID_KNOWN=1
 * steers clear of the server bugs this target found and that are not
 * fixed yet (tests/fuzz/crashes/, README), to look past them: each
 * connect gets a loop turn of its own, and close_range loses its
 * CLOSE_RANGE_UNSHARE flag through the policy.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Built by clang for libFuzzer, or by the project's compiler as the
 * replay that make check runs (with ASan only under --enable-sanitizers):
 * the kernel model reports through ASan when there is one. */
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#ifdef FZ_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "exec/async.h"
#include "fuzz_server.h"
#include "server.h"
#include "tetherd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_RECORDS 512
#define FZ_SLEEP_BUDGET_MS 64		/* SLEEP's waits, per input */
#define FZ_TAKES_MAX 32			/* TAKE requests tracked per slot */
#define FZ_MADE_MAX 1024		/* fds the session's syscalls made */
#define FZ_MAPS_MAX 4096		/* mappings they made */
#define FZ_SENT_MAX 512			/* objects sent for TAKE */
#define FZ_MEMS_MAX 64			/* MEM_ALLOC answers kept */
#define FZ_FDS_MAX 4096
#define FZ_BASE_MAX 64			/* fds the process holds itself */
#define FZ_SETTLE_MS 10000		/* a connection must go by then */

/*
 * The fuzzing policy.  Nothing that walks a path (GET, PUT, openat),
 * signals (KILL, STOP), spawns (SPAWN needs execve) or blocks: pipes,
 * socket pairs and eventfds only non-blocking, poll for at most 10 ms,
 * no nanosleep (with SYNC it would hold the loop as long as it says).
 * fds 0-2 are libFuzzer's: reads, writes and replacements stay above
 * them; close(0) is allowed because GC is checked as close(0) (the
 * harness puts /dev/null back on 0).  Mappings: no MAP_FIXED (nor
 * NOREPLACE, GROWSDOWN, LOCKED, POPULATE), at most 1 MiB; no munmap
 * (the harness unmaps what the session mapped), since an in-process
 * munmap of a guessed range would take the fuzzer's own memory.
 * Reads of at most a page: a BATCH can hand an mmap's address to read
 * ([3, k]), and the kernel would write past the mapping into whatever
 * the process has next to it -- tetherd does not check pointers passed
 * as integers (tether-protocol(7)), so that would be the session's
 * doing, not a finding; a page always fits.
 */
#define FZ_POLICY(close_range_rule) \
	"# fuzz_server: what cannot reach outside this process\n" \
	"default deny EPERM\n" \
	"allow getpid\n" \
	"allow getppid\n" \
	"allow gettid\n" \
	"allow getuid\n" \
	"allow uname\n" \
	"allow sysinfo\n" \
	"allow clock_gettime\n" \
	"allow getrandom arg1 <= 0x1000\n" \
	"allow fstat\n" \
	"allow read arg0 > 2 and arg2 <= 0x1000\n" \
	"allow write arg0 > 2\n" \
	"allow pread64 arg0 > 2 and arg2 <= 0x1000\n" \
	"allow pwrite64 arg0 > 2\n" \
	"allow lseek arg0 > 2\n" \
	"allow ftruncate arg0 > 2 and arg1 <= 0x1000000\n" \
	"allow close arg0 > 2\n" \
	"allow close arg0 == 0\n" \
	close_range_rule \
	"allow dup\n" \
	"allow dup3 arg1 > 2\n" \
	"allow memfd_create\n" \
	"allow pipe2 arg1 & 0x800 == 0x800\n" \
	"allow socketpair arg0 == 1 and arg1 & 0x800 == 0x800\n" \
	"allow eventfd2 arg1 & 0x800 == 0x800\n" \
	"allow mmap arg1 <= 0x100000 and arg3 & 0x10a110 == 0\n" \
	"allow poll arg1 <= 16 and arg2 <= 10\n"
static const char fz_policy[] = FZ_POLICY("allow close_range arg0 > 2\n");
/* FUZZ_SERVER_AVOID_KNOWN: without CLOSE_RANGE_UNSHARE (crashes/). */
static const char fz_policy_avoiding[] =
	FZ_POLICY("allow close_range arg0 > 2 and arg2 & 0x2 == 0\n");

/* An open file, as fstat tells it apart. */
struct fz_ident {
	dev_t dev;
	ino_t ino;
};

struct fz_fdrec {
	int fd;
	struct fz_ident id;
	int copy;			/* fz_base: a copy to put it back */
};

/* One client session: the sockets the harness keeps (internal fds of
 * the server's table, so the session's syscalls cannot reach them). */
struct fz_slot {
	int hs;				/* the handshake connection */
	int sfd, dfd;			/* our ends of the two pairs */
	bool sfd_eof;
	struct tp_rbuf rin;		/* replies */
	struct tp_rbuf mir;		/* what we sent, framed as the server
					 * frames it */
	uint64_t mir_skip;		/* of an oversized frame */
	bool mir_dead;			/* the server stopped reading it */
	uint64_t takes[FZ_TAKES_MAX];	/* TAKE ids not answered yet */
	unsigned ntakes;
	bool causes;			/* its HELLO asked for error causes */
};

static struct td_server fz_srv;
static char fz_dir[] = "/tmp/fuzz-server-XXXXXX";
static char fz_sock[256];
/* When the input began: the process's fds, the server's own. */
static struct fz_fdrec fz_base[FZ_BASE_MAX];
static unsigned fz_nbase;
static unsigned fz_base_ifd;
static int fz_base_ifds[FZ_FDS_MAX];
static unsigned fz_nbase_ifd;
static struct fz_fdrec fz_copies[FZ_BASE_MAX];	/* see fz_copy_of */
static unsigned fz_ncopies;

/* The current input. */
static struct {
	struct fz_slot slot[FZ_SLOTS];
	uint64_t next_id;
	uint64_t job_base;		/* srv->deferred.job_seq when it began */
	uint64_t gen_base;		/* srv->conns.generation when it began */
	unsigned slept_ms;
	bool lenient;			/* a TAKE went unanswered */
	int took[FZ_SENT_MAX];		/* fds TAKE answered with */
	unsigned ntook;
	uint64_t mems[FZ_MEMS_MAX];	/* addresses MEM_ALLOC answered */
	unsigned nmems;
	struct fz_ident sent[FZ_SENT_MAX];
	unsigned nsent;
	bool sent_over;			/* more than sent[] holds */
} fz;

/* Filled by the syscall interposer, from the loop and helper threads. */
static pthread_mutex_t fz_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fz_fdrec fz_made[FZ_MADE_MAX];
static unsigned fz_nmade;
static bool fz_made_over;
static struct {
	uintptr_t addr;
	size_t len;
} fz_maps[FZ_MAPS_MAX];
static unsigned fz_nmaps;
static bool fz_active;			/* an input is running */
static bool fz_verbose;			/* FUZZ_SERVER_VERBOSE: replies */
static bool fz_no_model;		/* FUZZ_SERVER_NO_KERNEL_MODEL */
static bool fz_avoid_known;		/* FUZZ_SERVER_AVOID_KNOWN */

/* What the server answered, for a person reading a seed's run. */
static void fz_show(const char *what, unsigned slot, const struct tp_in *in)
{
	if (!fz_verbose)
		return;
	fprintf(stderr, "fuzz_server: slot %u %s %llu err %lld: ", slot, what,
		(unsigned long long)in->id, (long long)in->code);
	msgpack_object_print(stderr, *in->body);
	fputc('\n', stderr);
}

static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2),
							  noreturn));

static void fz_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_server: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- the kernel, as ASan would see it ---------------------------------- */

static long fz_raw(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Application memory in ASan's x86_64 layout (low and high memory):
 * elsewhere (the shadow, its gap, non-canonical numbers) a pointer is
 * the kernel's EFAULT, not a question for ASan. */
static bool fz_app_range(uintptr_t p, size_t n)
{
	uintptr_t end = p + n;

	if (end < p)
		return false;
	return end <= 0x7fff8000ul ||
	       (p >= 0x10007fff8000ul && end <= 0x800000000000ul);
}

/* The kernel is about to read or write [p, p+n): what ASan would say if
 * the server's own code did it. */
static void fz_kernel_touch(long p, long n, bool write)
{
	void *bad;

	if (n <= 0 || !fz_app_range((uintptr_t)p, (size_t)n))
		return;
#ifdef FZ_ASAN
	bad = __asan_region_is_poisoned((void *)(uintptr_t)p, (size_t)n);
	if (bad)
		__asan_report_error(__builtin_return_address(0),
				    __builtin_frame_address(0), &bad, bad,
				    write, (size_t)n);
#else
	(void)bad;
	(void)write;
#endif
}

/* What the kernel touches for the calls the policy allows, and a few
 * more: sizes from the kernel's structs, not from tetherd's table. */
static void fz_kernel_model(long nr, const long *a)
{
	switch (nr) {
	case SYS_read:
	case SYS_pread64:
		fz_kernel_touch(a[1], a[2], true);
		break;
	case SYS_write:
	case SYS_pwrite64:
		fz_kernel_touch(a[1], a[2], false);
		break;
	case SYS_getrandom:
		fz_kernel_touch(a[0], a[1], true);
		break;
	case SYS_uname:
		fz_kernel_touch(a[0], sizeof(struct utsname), true);
		break;
	case SYS_fstat:
	case SYS_stat:
	case SYS_lstat:
		fz_kernel_touch(a[1], sizeof(struct stat), true);
		break;
	case SYS_newfstatat:
		fz_kernel_touch(a[2], sizeof(struct stat), true);
		break;
	case SYS_statx:
		fz_kernel_touch(a[4], sizeof(struct statx), true);
		break;
	case SYS_clock_gettime:
	case SYS_clock_getres:
		fz_kernel_touch(a[1], sizeof(struct timespec), true);
		break;
	case SYS_sysinfo:
		fz_kernel_touch(a[0], sizeof(struct sysinfo), true);
		break;
	case SYS_pipe:
	case SYS_pipe2:
		fz_kernel_touch(a[0], 2 * sizeof(int), true);
		break;
	case SYS_socketpair:
		fz_kernel_touch(a[3], 2 * sizeof(int), true);
		break;
	case SYS_poll:
		if (a[1] >= 0 && a[1] <= 4096)
			fz_kernel_touch(a[0], a[1] * 8, true);	/* pollfd */
		break;
	case SYS_nanosleep:
		fz_kernel_touch(a[0], sizeof(struct timespec), false);
		if (a[1])
			fz_kernel_touch(a[1], sizeof(struct timespec), true);
		break;
	default:
		break;
	}
}

static void fz_note_fd(int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	if (fz_verbose)
		fprintf(stderr, "fuzz_server: made fd %d (%llu)\n", fd,
			(unsigned long long)st.st_ino);
	if (fz_nmade == FZ_MADE_MAX) {
		fz_made_over = true;
		return;
	}
	fz_made[fz_nmade].fd = fd;
	fz_made[fz_nmade].id.dev = st.st_dev;
	fz_made[fz_nmade++].id.ino = st.st_ino;
}

/* fds and mappings the session's syscalls made: its own to keep, the
 * harness's to close once the input is over. */
static void fz_note_result(long nr, const long *a, long ret)
{
	int pair[2];

	pthread_mutex_lock(&fz_mu);
	if (!fz_active && fz_verbose)
		fprintf(stderr, "fuzz_server: syscall %ld returned %ld between "
			"inputs\n", nr, ret);
	switch (nr) {
	case SYS_memfd_create:
	case SYS_eventfd:
	case SYS_eventfd2:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
	case SYS_open:
	case SYS_openat:
	case SYS_socket:
	case SYS_accept:
	case SYS_accept4:
	case SYS_timerfd_create:
	case SYS_signalfd4:
	case SYS_epoll_create1:
	case SYS_inotify_init1:
	case SYS_pidfd_open:
	case SYS_fcntl:
		if (nr != SYS_fcntl || a[1] == F_DUPFD ||
		    a[1] == F_DUPFD_CLOEXEC)
			fz_note_fd((int)ret);
		break;
	case SYS_pipe:
	case SYS_pipe2:
	case SYS_socketpair:
		/* The buffer may be anywhere (against a guard page). */
		if (ret == 0 && a[nr == SYS_socketpair ? 3 : 0]) {
			memcpy(pair, (const void *)(uintptr_t)
			       a[nr == SYS_socketpair ? 3 : 0], sizeof(pair));
			fz_note_fd(pair[0]);
			fz_note_fd(pair[1]);
		}
		break;
	case SYS_mmap:
		if (fz_nmaps < FZ_MAPS_MAX) {
			fz_maps[fz_nmaps].addr = (uintptr_t)ret;
			fz_maps[fz_nmaps++].len = (size_t)a[1];
		}
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&fz_mu);
}

/* glibc's syscall(), for every caller in this executable: the server
 * runs its controllers' calls through it.  Like glibc's, it reads six
 * arguments whatever the caller passed: the sixth from the caller's
 * stack, where ASan would see a read of its redzone. */
__attribute__((no_sanitize("address"))) long syscall(long nr, ...)
{
	va_list ap;
	long a[6], ret;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!fz_no_model)
		fz_kernel_model(nr, a);
	ret = fz_raw(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	fz_note_result(nr, a, ret);
	return ret;
}

/* SHUTDOWN ends the server by SIGTERM to itself: not this one, which
 * serves the whole run. */
int kill(pid_t pid, int sig)
{
	long ret;

	if (pid == getpid() && sig == SIGTERM)
		return 0;
	ret = fz_raw(SYS_kill, pid, sig, 0, 0, 0, 0);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return 0;
}

/* ---- fds ---------------------------------------------------------------- */

static bool fz_ident_of(int fd, struct fz_ident *id)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return false;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return true;
}

static bool fz_same(const struct fz_ident *a, const struct fz_ident *b)
{
	return a->dev == b->dev && a->ino == b->ino;
}

/* Every fd of the process's table (the main thread's: a helper has a
 * private one), sorted.  Returns how many. */
static unsigned fz_scan(int *out, unsigned max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned n = 0;

	if (!d)
		fz_fail("/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)) && n < max) {
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd != dirfd(d))
			out[n++] = fd;
	}
	closedir(d);
	for (unsigned i = 1; i < n; i++)
		for (unsigned j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

/* A harness socket into the server's internal band: out of the
 * session's reach (its syscalls see EBADF there, GC keeps it). */
static int fz_adopt(int fd)
{
	int nfd;

	if (fd < 0)
		return -1;
	nfd = td_ifd_adopt(fd, "fuzz harness");
	if (nfd < 0)
		fz_fail("adopting fd %d: %s", fd, strerror(-nfd));
	return nfd;
}

static void fz_unadopt(int *fd)
{
	if (*fd >= 0)
		td_ifd_close(*fd);
	*fd = -1;
}

static void fz_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- what the server sends ---------------------------------------------- */

static uint32_t fz_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* One reply frame: it must decode, its errno be one, an error carry a
 * message.  A TAKE's answer says which fd it made, a MEM_ALLOC's where
 * MEM records point. */
static void fz_reply(struct fz_slot *s, const unsigned char *p, size_t len)
{
	struct tp_in in;
	int rc = tp_decode(p, len, &in);
	int64_t fd, addr;

	if (rc < 0)
		fz_fail("the server sent a frame that does not decode (%d, "
			"%zu bytes)", rc, len);
	if (in.code < 0 || in.code > 4095)
		fz_fail("the server answered request %llu with err %lld",
			(unsigned long long)in.id, (long long)in.code);
	/* The take-over notice's message is in its map; so is an error's
	 * for a peer that asked for causes (HELLO's CAUSE flag). */
	if (in.code && in.body->type != MSGPACK_OBJECT_STR &&
	    !(in.id == 0 && in.code == ECONNABORTED &&
	      tp_unpack_taken_over(in.body, NULL, NULL) == 0) &&
	    !(s->causes && tp_unpack_error(in.body, NULL, NULL) == 0))
		fz_fail("error reply %llu (err %lld) without a message",
			(unsigned long long)in.id, (long long)in.code);
	fz_show("reply", (unsigned)(s - fz.slot), &in);
	for (unsigned i = 0; i < s->ntakes; i++) {
		if (s->takes[i] != in.id)
			continue;
		s->takes[i] = s->takes[--s->ntakes];
		if (in.code || tp_obj_i64(tp_map_get(in.body, "fd"), &fd) < 0)
			break;
		if (fz.ntook < FZ_SENT_MAX)
			fz.took[fz.ntook++] = (int)fd;
		else
			fz.lenient = true;
		break;
	}
	if (in.code == 0 && in.body->type == MSGPACK_OBJECT_MAP &&
	    tp_map_get(in.body, "size") &&
	    tp_obj_i64(tp_map_get(in.body, "addr"), &addr) == 0 &&
	    fz.nmems < FZ_MEMS_MAX)
		fz.mems[fz.nmems++] = (uint64_t)addr;
	tp_in_destroy(&in);
}

static void fz_read_replies(struct fz_slot *s)
{
	const unsigned char *p;
	size_t len;
	ssize_t n;
	int rc;

	for (int i = 0; i < 256 && s->sfd >= 0 && !s->sfd_eof; i++) {
		n = tp_rbuf_fill(&s->rin, s->sfd);
		if (n == -EMSGSIZE)
			fz_fail("the server sent a frame over %u bytes",
				TETHER_FRAME_MAX);
		while ((rc = tp_rbuf_frame(&s->rin, &p, &len)) == 1) {
			fz_reply(s, p, len);
			tp_rbuf_consume(&s->rin, len);
		}
		if (rc < 0)
			fz_fail("the server sent a frame over %u bytes",
				TETHER_FRAME_MAX);
		if (n == 0)
			s->sfd_eof = true;
		if (n <= 0)
			break;
	}
}

/* Chunks, and GIVE's fds: read and dropped. */
static void fz_read_data(struct fz_slot *s)
{
	static char buf[65536];
	union {
		char b[CMSG_SPACE(sizeof(int) * 253)];
		struct cmsghdr align;
	} cbuf;
	int fds[253];

	for (int i = 0; i < 256 && s->dfd >= 0; i++) {
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf.b,
				      .msg_controllen = sizeof(cbuf.b) };
		ssize_t n = recvmsg(s->dfd, &msg, MSG_DONTWAIT |
						  MSG_CMSG_CLOEXEC);
		int k;

		if (n <= 0)
			break;
		k = tp_cmsg_fds(&msg, fds, 253);
		for (int j = 0; j < k && j < 253; j++)
			close(fds[j]);
	}
}

/* The handshake's answer: one packet holding one well-formed frame. */
static void fz_read_answer(struct fz_slot *s)
{
	unsigned char buf[8192];
	struct tp_in in;
	ssize_t n;
	int rc;

	if (s->hs < 0)
		return;
	n = recv(s->hs, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		if (n < (ssize_t)TETHER_FRAME_HDR ||
		    fz_be32(buf) != (size_t)n - TETHER_FRAME_HDR)
			fz_fail("handshake answer of %zd bytes is not one "
				"frame", n);
		rc = tp_decode(buf + TETHER_FRAME_HDR,
			       (size_t)n - TETHER_FRAME_HDR, &in);
		if (rc < 0 || in.code < 0 || in.code > 4095)
			fz_fail("handshake answer does not decode (%d) or has "
				"err %lld", rc, (long long)in.code);
		fz_show("hello", (unsigned)(s - fz.slot), &in);
		tp_in_destroy(&in);
	}
	fz_unadopt(&s->hs);
}

static void fz_drain(struct fz_slot *s)
{
	fz_read_answer(s);
	fz_read_replies(s);
	fz_read_data(s);
}

static void fz_drain_all(void)
{
	for (unsigned i = 0; i < FZ_SLOTS; i++)
		fz_drain(&fz.slot[i]);
}

/* One turn of the server's loop (wait_ms: how long it may wait for an
 * event); true if it handled any. */
static bool fz_turn(unsigned wait_ms)
{
	unsigned head = *fz_srv.ring.cq.khead;
	int rc = td_loop_once(&fz_srv, wait_ms);

	if (rc < 0)
		fz_fail("td_loop_once: %s", strerror(-rc));
	return *fz_srv.ring.cq.khead != head;
}

/* ---- what we send ------------------------------------------------------- */

/* The request the server will see in these bytes, framed as it frames
 * them: which ones are TAKEs (their answers name the fd they made), and
 * whether it will stop reading (an unparseable frame closes). */
static void fz_mirror_frame(struct fz_slot *s, const unsigned char *p,
			    size_t len)
{
	struct tp_in in;
	int rc = tp_decode(p, len, &in);

	if (rc == -EBADMSG)
		s->mir_dead = true;
	else if (rc == 0 && in.code == TETHER_OP_TAKE) {
		if (s->ntakes < FZ_TAKES_MAX)
			s->takes[s->ntakes++] = in.id;
		else
			fz.lenient = true;
	}
	tp_in_destroy(&in);
}

static void fz_mirror(struct fz_slot *s, const unsigned char *p, size_t n)
{
	struct tp_rbuf *m = &s->mir;
	const unsigned char *pl;
	size_t len, k;
	int rc;

	if (s->mir_dead)
		return;
	k = s->mir_skip < n ? (size_t)s->mir_skip : n;
	s->mir_skip -= k;
	p += k;
	n -= k;
	if (!n)
		return;
	if (m->len + n > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		unsigned char *nb;

		while (cap < m->len + n)
			cap *= 2;
		if (!(nb = realloc(m->buf, cap)))
			fz_fail("out of memory");
		m->buf = nb;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
	while (!s->mir_dead && (rc = tp_rbuf_frame(m, &pl, &len)) != 0) {
		if (rc == -EMSGSIZE) {
			/* Dropped by the server, header and payload. */
			size_t plen = fz_be32(m->buf), have = m->len - 4;

			if (have > plen)
				have = plen;
			s->mir_skip = plen - have;
			memmove(m->buf, m->buf + 4 + have, m->len - 4 - have);
			m->len -= 4 + have;
			continue;
		}
		fz_mirror_frame(s, pl, len);
		tp_rbuf_consume(m, len);
	}
}

/* As much as the socket takes now: the script never waits. */
static size_t fz_send(int fd, const void *p, size_t n)
{
	size_t done = 0;

	while (fd >= 0 && done < n) {
		ssize_t k = send(fd, (const char *)p + done, n - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
	return done;
}

static void fz_send_sfd(struct fz_slot *s, const void *p, size_t n)
{
	fz_mirror(s, p, fz_send(s->sfd, p, n));
}

static void fz_send_msg(struct fz_slot *s, struct tp_msg *m)
{
	if (tp_msg_finish(m) == 0)
		fz_send_sfd(s, tp_msg_data(m), tp_msg_size(m));
	tp_msg_destroy(m);
}

/* ---- records ------------------------------------------------------------ */

struct fz_cur {
	const uint8_t *p;
	size_t n;
};

static unsigned fz_u8(struct fz_cur *c)
{
	if (!c->n)
		return 0;
	c->n--;
	return *c->p++;
}

static unsigned fz_u16(struct fz_cur *c)
{
	unsigned hi = fz_u8(c);

	return hi << 8 | fz_u8(c);
}

static uint32_t fz_u32(struct fz_cur *c)
{
	uint32_t hi = fz_u16(c);

	return hi << 16 | fz_u16(c);
}

static uint64_t fz_u64(struct fz_cur *c)
{
	uint64_t hi = fz_u32(c);

	return hi << 32 | fz_u32(c);
}

static const uint8_t *fz_bytes(struct fz_cur *c, size_t want, size_t *n)
{
	const uint8_t *p = c->p;

	*n = want < c->n ? want : c->n;
	c->p += *n;
	c->n -= *n;
	return p;
}

static void fz_slot_close(struct fz_slot *s)
{
	/* What was not answered may have made an fd nobody will name. */
	if (s->ntakes)
		fz.lenient = true;
	fz_unadopt(&s->hs);
	fz_unadopt(&s->sfd);
	fz_unadopt(&s->dfd);
	tp_rbuf_free(&s->rin);
	tp_rbuf_free(&s->mir);
	memset(s, 0, sizeof(*s));
	s->hs = s->sfd = s->dfd = -1;
}

/* A fresh object for a HELLO's odd fd or for TAKE: never blocking, so
 * no call on it can hold a ring slot or a helper for ever. */
static int fz_object(unsigned what)
{
	int fd = -1, pair[2];

	switch (what % FZ_OBJS) {
	case FZ_OBJ_MEMFD:
		fd = memfd_create("fuzz-take", MFD_CLOEXEC);
		if (fd >= 0 && write(fd, "take", 4) < 0) {
			close(fd);
			fd = -1;
		}
		break;
	case FZ_OBJ_EVENTFD:
		fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
		break;
	case FZ_OBJ_PIPE:
		if (pipe2(pair, O_CLOEXEC | O_NONBLOCK) == 0) {
			close(pair[1]);
			fd = pair[0];
		}
		break;
	case FZ_OBJ_SOCKET:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				       SOCK_NONBLOCK, 0, pair) == 0) {
			close(pair[1]);
			fd = pair[0];
		}
		break;
	default:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NONBLOCK);
		break;
	}
	return fd;
}

/* bytes with fds attached (SCM_RIGHTS); the caller closes the fds. */
static ssize_t fz_sendfds(int sock, const void *p, size_t n, const int *fds,
			  unsigned nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)p, n };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (sock < 0)
		return -1;
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* The HELLO packet a variant asks for. */
static void fz_hello_packet(struct tp_msg *m, unsigned variant,
			    unsigned flags, unsigned genk)
{
	tp_msg_request(m, fz.next_id++, variant & FZ_HELLO_BADOP
					? TETHER_OP_SYSCALL : TETHER_OP_HELLO);
	msgpack_pack_array(&m->pk, genk ? 4 : 3);
	msgpack_pack_uint32(&m->pk, variant & FZ_HELLO_VERSION2
				    ? TETHER_PROTO_VERSION + 1
				    : TETHER_PROTO_VERSION);
	msgpack_pack_uint32(&m->pk, flags);
	if (variant & FZ_HELLO_BADPID)
		tp_pack_str(&m->pk, "pid");
	else
		msgpack_pack_int32(&m->pk, (int32_t)getpid());
	if (genk)
		msgpack_pack_uint64(&m->pk, fz.gen_base + genk - 1);
	tp_msg_finish(m);
}

static void fz_rec_hello(struct fz_slot *s, struct fz_cur *c)
{
	unsigned variant = fz_u8(c), flags = fz_u8(c), genk = fz_u8(c);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int sys[2], dat[2], odd = -1, hs, fds[3], nfds = 2;
	const void *pkt;
	size_t len;
	struct tp_msg m;

	fz_slot_close(s);
	for (int i = 0; fz_avoid_known && i < 16 && fz_turn(0); i++)
		;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sys) < 0)
		return;
	if (socketpair(AF_UNIX, (variant & 7) == FZ_HELLO_DGRAM
		       ? SOCK_DGRAM | SOCK_CLOEXEC : SOCK_STREAM | SOCK_CLOEXEC,
		       0, dat) < 0) {
		close(sys[0]);
		close(sys[1]);
		return;
	}
	fds[0] = sys[1];
	fds[1] = dat[1];
	switch (variant & 7) {
	case FZ_HELLO_NOFDS:
		nfds = 0;
		break;
	case FZ_HELLO_ONEFD:
		nfds = 1;
		break;
	case FZ_HELLO_THREEFDS:
		fds[2] = odd = fz_object(FZ_OBJ_PIPE);
		nfds = odd >= 0 ? 3 : 2;
		break;
	case FZ_HELLO_NOTSOCK:
		fds[0] = odd = fz_object(FZ_OBJ_PIPE);
		if (odd < 0)
			fds[0] = sys[1];
		break;
	default:
		break;
	}
	tp_msg_init(&m);
	fz_hello_packet(&m, variant, flags, genk);
	pkt = tp_msg_data(&m);
	len = tp_msg_size(&m);
	if ((variant & 7) == FZ_HELLO_RAWPKT)
		pkt = fz_bytes(c, c->n, &len);
	hs = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	memcpy(sa.sun_path, fz_sock, strlen(fz_sock) + 1);
	if (hs >= 0 && connect(hs, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    (variant & 7) != FZ_HELLO_SILENT)
		fz_sendfds(hs, pkt, len, fds, (unsigned)nfds);
	tp_msg_destroy(&m);
	close(sys[1]);
	close(dat[1]);
	if (odd >= 0)
		close(odd);
	fz_nonblock(sys[0]);
	fz_nonblock(dat[0]);
	s->hs = fz_adopt(hs);
	s->sfd = fz_adopt(sys[0]);
	s->dfd = fz_adopt(dat[0]);
	s->causes = flags & TETHER_HELLO_CAUSE;
	/* The accepted socket is a low fd until the loop handles the accept
	 * (crashes/accept-race-handshake-fd): this mode gives the accept a
	 * turn of its own, so that a run can look for other bugs. */
	if (fz_avoid_known)
		fz_turn(0);
}

static void fz_rec_chunk(struct fz_slot *s, struct fz_cur *c)
{
	unsigned char h[8 + 512];
	unsigned kind = fz_u8(c) % FZ_CHUNKS;
	uint32_t len = 0, ckind = TETHER_CHUNK_DATA;
	const uint8_t *p = NULL;
	size_t n = 0;

	switch (kind) {
	case FZ_CHUNK_DATA:
		p = fz_bytes(c, 512, &n);
		len = (uint32_t)n;
		break;
	case FZ_CHUNK_END:
		ckind = TETHER_CHUNK_END;
		break;
	case FZ_CHUNK_ABORT:
		ckind = TETHER_CHUNK_ABORT;
		len = fz_u8(c);
		break;
	case FZ_CHUNK_LIAR:
		len = fz_u32(c);
		p = fz_bytes(c, 512, &n);
		break;
	case FZ_CHUNK_ODDKIND:
		ckind = fz_u32(c);
		break;
	default:
		len = 2u << 20;
		break;
	}
	for (int i = 0; i < 4; i++) {
		h[i] = (unsigned char)(len >> (24 - 8 * i));
		h[4 + i] = (unsigned char)(ckind >> (24 - 8 * i));
	}
	if (n)
		memcpy(h + 8, p, n);
	fz_send(s->dfd, h, 8 + n);
}

static void fz_rec_sendfd(struct fz_slot *s, struct fz_cur *c)
{
	unsigned what = fz_u8(c), mode = fz_u8(c) % FZ_SENDMODES;
	int fds[2] = { fz_object(what), -1 };
	unsigned nfds = mode == FZ_SEND_NOFD ? 0 : 1;
	char bytes[2] = { 'F', 'F' };

	if (mode == FZ_SEND_TWO && (fds[1] = fz_object(what)) >= 0)
		nfds = 2;
	for (unsigned i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		if (fz.nsent == FZ_SENT_MAX)
			fz.sent_over = true;
		else if (fz_ident_of(fds[i], &fz.sent[fz.nsent]))
			fz.nsent++;
	}
	if (fds[0] >= 0 || mode == FZ_SEND_NOFD)
		fz_sendfds(s->dfd, bytes, mode == FZ_SEND_TWOBYTES ? 2 : 1,
			   fds, fds[0] >= 0 ? nfds : 0);
	for (unsigned i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static void fz_rec_close(struct fz_slot *s, struct fz_cur *c)
{
	switch (fz_u8(c) % FZ_CLOSES) {
	case FZ_CLOSE_ALL:
		fz_slot_close(s);
		break;
	case FZ_CLOSE_SFD:
		if (s->ntakes)
			fz.lenient = true;
		fz_unadopt(&s->sfd);
		break;
	case FZ_CLOSE_DFD:
		fz_unadopt(&s->dfd);
		break;
	case FZ_CLOSE_SHUT_SFD:
		if (s->sfd >= 0)
			shutdown(s->sfd, SHUT_WR);
		break;
	case FZ_CLOSE_HS:
		fz_unadopt(&s->hs);
		break;
	default:
		if (s->dfd >= 0)
			shutdown(s->dfd, SHUT_WR);
		break;
	}
}

static void fz_rec_req(struct fz_slot *s, struct fz_cur *c)
{
	unsigned op = fz_u8(c);
	size_t n;
	const uint8_t *body = fz_bytes(c, c->n, &n);
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_request(&m, fz.next_id++, op);
	if (n)
		msgpack_sbuffer_write(&m.sb, (const char *)body, n);
	else
		msgpack_pack_array(&m.pk, 0);
	fz_send_msg(s, &m);
}

static void fz_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, p, n);
}

static void fz_pack_arg(msgpack_packer *pk, struct fz_cur *c)
{
	const uint8_t *p;
	size_t n;
	unsigned tag;

	switch (fz_u8(c) % FZ_ARGS) {
	case FZ_ARG_I8:
		msgpack_pack_int64(pk, (int8_t)fz_u8(c));
		break;
	case FZ_ARG_U16:
		msgpack_pack_uint64(pk, fz_u16(c));
		break;
	case FZ_ARG_I64:
		msgpack_pack_int64(pk, (int64_t)fz_u64(c));
		break;
	case FZ_ARG_OUT:
	case FZ_ARG_DATA_IN:
	case FZ_ARG_DATA_OUT:
		tag = c->p[-1] % FZ_ARGS == FZ_ARG_OUT ? TETHER_ARGTAG_OUT
		      : c->p[-1] % FZ_ARGS == FZ_ARG_DATA_IN
			      ? TETHER_ARGTAG_DATA_IN : TETHER_ARGTAG_DATA_OUT;
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint32(pk, tag);
		msgpack_pack_uint64(pk, fz_u16(c));
		break;
	case FZ_ARG_IN:
		p = fz_bytes(c, fz_u8(c), &n);
		fz_pack_bin(pk, p, n);
		break;
	case FZ_ARG_INOUT:
		p = fz_bytes(c, fz_u8(c), &n);
		msgpack_pack_array(pk, 3);
		msgpack_pack_uint32(pk, TETHER_ARGTAG_INOUT);
		fz_pack_bin(pk, p, n);
		msgpack_pack_uint64(pk, fz_u16(c));
		break;
	case FZ_ARG_STR:
		p = fz_bytes(c, fz_u8(c), &n);
		msgpack_pack_str(pk, n);
		msgpack_pack_str_body(pk, p, n);
		break;
	case FZ_ARG_RESULT:
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint32(pk, TETHER_ARGTAG_RESULT);
		msgpack_pack_uint32(pk, fz_u8(c));
		break;
	case FZ_ARG_NIL:
		msgpack_pack_nil(pk);
		break;
	default:
		msgpack_pack_array(pk, 2);
		msgpack_pack_uint32(pk, fz_u8(c));
		msgpack_pack_uint32(pk, fz_u8(c));
		break;
	}
}

/* One SYSCALL body from its description (fuzz_server.h). */
static void fz_pack_call(msgpack_packer *pk, struct fz_cur *c)
{
	unsigned sel = fz_u8(c), flags, timeout = 0, nargs;
	long nr = sel < 0xe0 ? fz_calls[sel % FZ_NCALLS]
			     : (long)((sel & 0x1f) << 8 | fz_u8(c));

	flags = fz_u8(c);
	if (flags & FZ_CF_TIMEOUT)
		timeout = fz_u8(c);
	nargs = fz_u8(c) & 7;
	msgpack_pack_array(pk, flags & FZ_CF_NOFLAGS ? 2
			       : flags & FZ_CF_TIMEOUT ? 4 : 3);
	msgpack_pack_long(pk, nr);
	msgpack_pack_array(pk, nargs);
	for (unsigned i = 0; i < nargs; i++)
		fz_pack_arg(pk, c);
	if (flags & FZ_CF_NOFLAGS)
		return;
	if (flags & FZ_CF_BADFLAGS)
		tp_pack_str(pk, "flags");
	else
		msgpack_pack_uint32(pk, flags & TETHER_CALL_FLAGS);
	if (flags & FZ_CF_TIMEOUT)
		msgpack_pack_uint32(pk, timeout);
}

static void fz_rec_call(struct fz_slot *s, struct fz_cur *c)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_request(&m, fz.next_id++, TETHER_OP_SYSCALL);
	fz_pack_call(&m.pk, c);
	fz_send_msg(s, &m);
}

static void fz_rec_batch(struct fz_slot *s, struct fz_cur *c)
{
	unsigned count = fz_u8(c), flags = fz_u8(c), n;
	bool submit = flags & FZ_BF_SUBMIT;
	struct fz_cur start = *c;
	struct tp_msg m;

	n = count == 0xff ? 0 : count == 0xfe ? (submit ? TETHER_SUBMIT_MAX
							  : TETHER_BATCH_MAX) + 1
					      : count % 16 + 1;
	tp_msg_init(&m);
	tp_msg_request(&m, fz.next_id++,
		       submit ? TETHER_OP_SUBMIT : TETHER_OP_BATCH);
	msgpack_pack_array(&m.pk, flags & FZ_BF_NOFLAGS ? 1 : 2);
	msgpack_pack_array(&m.pk, n);
	for (unsigned i = 0; i < n; i++) {
		if (!c->n)
			*c = start;
		fz_pack_call(&m.pk, c);
	}
	if (!(flags & FZ_BF_NOFLAGS))
		msgpack_pack_uint32(&m.pk,
				    flags & ~(FZ_BF_NOFLAGS | FZ_BF_SUBMIT));
	fz_send_msg(s, &m);
}

static void fz_rec_job(struct fz_slot *s, struct fz_cur *c)
{
	unsigned what = fz_u8(c) % FZ_JOBS;
	uint64_t id = fz.job_base + 1 + fz_u8(c);
	int wait = (int8_t)fz_u8(c);
	struct tp_msg m;

	tp_msg_init(&m);
	switch (what) {
	case FZ_JOB_COLLECT:
	case FZ_JOB_COLLECT_WAIT:
		tp_msg_request(&m, fz.next_id++, TETHER_OP_COLLECT);
		msgpack_pack_array(&m.pk, what == FZ_JOB_COLLECT ? 1 : 2);
		msgpack_pack_uint64(&m.pk, id);
		if (what == FZ_JOB_COLLECT_WAIT)
			msgpack_pack_int(&m.pk, wait);
		break;
	case FZ_JOB_CANCEL:
		tp_msg_request(&m, fz.next_id++, TETHER_OP_CANCEL);
		msgpack_pack_array(&m.pk, 1);
		msgpack_pack_uint64(&m.pk, id);
		break;
	default:
		/* [] (all) or [before] (a page below a job's id) */
		tp_msg_request(&m, fz.next_id++, TETHER_OP_PENDING);
		msgpack_pack_array(&m.pk, wait & 1);
		if (wait & 1)
			msgpack_pack_uint64(&m.pk, wait & 2 ? id : 0);
		break;
	}
	fz_send_msg(s, &m);
}

/* The k-th allocation MEM_ALLOC answered with in this input (newest
 * first), or 0. */
static uint64_t fz_mem_addr(unsigned k)
{
	if (!fz.nmems)
		return 0;
	return fz.mems[fz.nmems - 1 - k % fz.nmems];
}

static void fz_rec_mem(struct fz_slot *s, struct fz_cur *c)
{
	unsigned what = fz_u8(c) % FZ_MEMS, k = fz_u8(c), off = fz_u16(c);
	uint32_t len = fz_u32(c);
	uint64_t addr = fz_mem_addr(k);
	static const unsigned ops[FZ_MEMS] = {
		TETHER_OP_MEM_ALLOC, TETHER_OP_MEM_WRITE, TETHER_OP_MEM_READ,
		TETHER_OP_MEM_FREE, TETHER_OP_MEM_LIST,
	};
	struct tp_msg m;

	if (addr)
		addr += off;
	tp_msg_init(&m);
	tp_msg_request(&m, fz.next_id++, ops[what]);
	switch (what) {
	case FZ_MEM_ALLOC:
		msgpack_pack_array(&m.pk, 1);
		msgpack_pack_uint32(&m.pk, len);
		break;
	case FZ_MEM_WRITE:
	case FZ_MEM_READ:
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_uint64(&m.pk, addr);
		msgpack_pack_uint32(&m.pk, len);
		break;
	case FZ_MEM_FREE:
		msgpack_pack_array(&m.pk, 1);
		msgpack_pack_uint64(&m.pk, addr);
		break;
	default:
		msgpack_pack_array(&m.pk, 0);
		break;
	}
	fz_send_msg(s, &m);
}

static void fz_rec_loop(struct fz_cur *c)
{
	unsigned turns = c->n ? fz_u8(c) % 8 + 1 : 1;
	bool drain = !(fz_u8(c) & 1);

	for (unsigned i = 0; i < turns; i++) {
		fz_turn(0);
		if (drain)
			fz_drain_all();
	}
}

static void fz_rec_sleep(struct fz_cur *c)
{
	unsigned ms = fz_u8(c) % 32;

	if (fz.slept_ms + ms > FZ_SLEEP_BUDGET_MS)
		ms = FZ_SLEEP_BUDGET_MS - fz.slept_ms;
	fz.slept_ms += ms;
	fz_turn(ms);
}

static void fz_record(unsigned op, const uint8_t *p, size_t n)
{
	struct fz_slot *s = &fz.slot[(op >> 4) & 3];
	struct fz_cur c = { p, n };

	switch (op & 0x0f) {
	case FZ_HELLO:
		fz_rec_hello(s, &c);
		break;
	case FZ_FRAME: {
		unsigned char h[4] = { (unsigned char)(n >> 24),
				       (unsigned char)(n >> 16),
				       (unsigned char)(n >> 8),
				       (unsigned char)n };

		fz_send_sfd(s, h, 4);
		fz_send_sfd(s, p, n);
		break;
	}
	case FZ_RAW:
		fz_send_sfd(s, p, n);
		break;
	case FZ_DATA:
		fz_send(s->dfd, p, n);
		break;
	case FZ_CHUNK:
		fz_rec_chunk(s, &c);
		break;
	case FZ_SENDFD:
		fz_rec_sendfd(s, &c);
		break;
	case FZ_DRAIN:
		fz_drain(s);
		break;
	case FZ_CLOSE:
		fz_rec_close(s, &c);
		break;
	case FZ_REQ:
		fz_rec_req(s, &c);
		break;
	case FZ_CALL:
		fz_rec_call(s, &c);
		break;
	case FZ_BATCH:
		fz_rec_batch(s, &c);
		break;
	case FZ_JOB:
		fz_rec_job(s, &c);
		break;
	case FZ_MEM:
		fz_rec_mem(s, &c);
		break;
	case FZ_SLEEP:
		fz_rec_sleep(&c);
		break;
	default:
		fz_rec_loop(&c);
		break;
	}
	if (op & FZ_OP_TURN) {
		fz_turn(0);
		fz_drain_all();
	}
}

/* ---- between inputs ----------------------------------------------------- */

static uint64_t fz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Turns until no connection or handshake is left and a few turns in a
 * row handle nothing. */
static void fz_settle(void)
{
	uint64_t t0 = fz_now_ms();
	unsigned quiet = 0;

	for (;;) {
		bool busy = fz_srv.conns.all || fz_srv.listen.handshakes;

		quiet = fz_turn(busy && quiet > 2 ? 1 : 0) ? 0 : quiet + 1;
		if (!busy && quiet >= 3)
			return;
		if (fz_now_ms() - t0 > FZ_SETTLE_MS)
			fz_fail("the server still has %s %u s after every "
				"client closed", fz_srv.conns.all ? "a connection"
				: "a handshake", FZ_SETTLE_MS / 1000);
	}
}

/* What COLLECT and CANCEL would do for a controller that cleans up:
 * parked results forgotten, running calls cancelled.  A call that will
 * not end (a helper stuck in the kernel) is left to the budgets. */
static void fz_jobs_cleanup(void)
{
	for (unsigned round = 0; round < 64 && fz_srv.deferred.jobs; round++) {
		for (struct td_job *j = fz_srv.deferred.jobs; j; j = j->next) {
			struct td_calljob *cj = (struct td_calljob *)j;

			if (j->ended || j->ops != &td_call_ops)
				continue;
			if (cj->parked)
				td_job_end(j);
			else if (j->at != TD_JOB_LOOP && !j->cancelled)
				td_job_cancel(j);
		}
		fz_turn(round ? 1 : 0);
	}
}

static bool fz_in_base(int fd, const struct fz_ident *id)
{
	for (unsigned i = 0; i < fz_nbase; i++)
		if (fz_base[i].fd == fd)
			return fz_same(&fz_base[i].id, id);
	return false;
}

static bool fz_was_sent(const struct fz_ident *id)
{
	if (fz.sent_over)
		return true;
	for (unsigned i = 0; i < fz.nsent; i++)
		if (fz_same(&fz.sent[i], id))
			return true;
	return false;
}

/* The session made fd: a syscall's result, or TAKE's. */
static bool fz_explained(int fd, const struct fz_ident *id)
{
	if (fz_made_over)
		return true;
	for (unsigned i = 0; i < fz_nmade; i++)
		if (fz_made[i].fd == fd && fz_same(&fz_made[i].id, id))
			return true;
	if (!fz_was_sent(id))
		return false;
	for (unsigned i = 0; i < fz.ntook; i++)
		if (fz.took[i] == fd)
			return true;
	return fz.lenient;
}

/* The server's own fds that were not there before the session. */
static void fz_ifd_fail(void)
{
	static int now[FZ_FDS_MAX];
	unsigned n = td_ifd_list(now, FZ_FDS_MAX);

	for (unsigned i = 0; i < n; i++) {
		bool old = false;

		for (unsigned j = 0; j < fz_nbase_ifd && !old; j++)
			old = fz_base_ifds[j] == now[i];
		if (!old)
			fprintf(stderr, "fuzz_server: internal fd %d (%s) is "
				"new\n", now[i], td_ifd_role(now[i]));
	}
	fz_fail("the server holds %u fds of its own, %u before the input",
		td_ifd_count(), fz_base_ifd);
}

static void fz_check_fds(void)
{
	static int fds[FZ_FDS_MAX];
	unsigned n = fz_scan(fds, FZ_FDS_MAX);
	struct fz_ident id;
	char path[64], target[256];
	ssize_t k;

	for (unsigned i = 0; i < n; i++) {
		if (!fz_ident_of(fds[i], &id) || fz_in_base(fds[i], &id) ||
		    td_ifd_is(fds[i]))
			continue;
		if (fz_explained(fds[i], &id)) {
			if (fz_verbose)
				fprintf(stderr, "fuzz_server: closing fd %d "
					"(%llu)\n", fds[i],
					(unsigned long long)id.ino);
			close(fds[i]);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		k = readlink(path, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
		fz_fail("fd %d (%s) was not open before the input and "
			"nothing the session did made it: a leak", fds[i],
			target);
	}
	/* close(0), GC or close_range may have taken what the process had:
	 * put it back. */
	for (unsigned i = 0; i < fz_nbase; i++) {
		struct fz_fdrec *b = &fz_base[i];

		if (fz_ident_of(b->fd, &id) && fz_same(&id, &b->id))
			continue;
		if (b->copy < 0 || dup3(b->copy, b->fd, 0) != b->fd)
			fz_fail("fd %d, open before the input, is gone or "
				"replaced and cannot be put back", b->fd);
	}
	if (td_ifd_count() != fz_base_ifd)
		fz_ifd_fail();
	td_fds_changed();
	/* A call that runs on after the input (a parked BATCH's next
	 * entry) adds to the list for the next check. */
	pthread_mutex_lock(&fz_mu);
	fz_nmade = 0;
	fz_made_over = false;
	pthread_mutex_unlock(&fz_mu);
}

/* The session's mappings: nothing else unmaps them (no munmap in the
 * policy, no MAP_FIXED over them). */
static void fz_unmap(void)
{
	pthread_mutex_lock(&fz_mu);
	for (unsigned i = 0; i < fz_nmaps; i++)
		munmap((void *)fz_maps[i].addr, fz_maps[i].len);
	fz_nmaps = 0;
	pthread_mutex_unlock(&fz_mu);
}

/* A copy of the process's fd in the server's internal band, to put
 * back after an input that closed or replaced it; -1 if there is no
 * room.  One per number, renewed when the number names another file. */
static int fz_copy_of(int fd, const struct fz_ident *id)
{
	struct fz_fdrec *c = NULL;

	for (unsigned i = 0; i < fz_ncopies && !c; i++)
		if (fz_copies[i].fd == fd)
			c = &fz_copies[i];
	if (c && fz_same(&c->id, id))
		return c->copy;
	if (c)
		fz_unadopt(&c->copy);
	else if (fz_ncopies < FZ_BASE_MAX)
		c = &fz_copies[fz_ncopies++];
	else
		return -1;
	c->fd = fd;
	c->id = *id;
	c->copy = fz_adopt(fcntl(fd, F_DUPFD_CLOEXEC, 3));
	return c->copy;
}

/* The fds the process has when an input begins: libFuzzer's and the
 * shell's, and what the sanitizers open between inputs (the
 * symbolizer's pipes).  The session may close those above 2 (close,
 * GC): they are put back from copies.  Anything else open at the end
 * came from the session. */
static void fz_snapshot(void)
{
	static int fds[FZ_FDS_MAX];
	static bool warm;
	unsigned n;

	if (!warm) {
		static char page[4096] __attribute__((aligned(4096)));
		char byte;

		/* MEM_READ opens /proc/self/pagemap at its first use and
		 * keeps it: the server's one lazily made fd, made now. */
		page[0] = 1;
		td_mem_read(&byte, page, 1);
		warm = true;
	}
	n = fz_scan(fds, FZ_FDS_MAX);
	fz_nbase = 0;
	for (unsigned i = 0; i < n && fz_nbase < FZ_BASE_MAX; i++) {
		struct fz_fdrec *b = &fz_base[fz_nbase];

		if (td_ifd_is(fds[i]) || !fz_ident_of(fds[i], &b->id))
			continue;
		b->fd = fds[i];
		b->copy = fz_copy_of(fds[i], &b->id);
		fz_nbase++;
	}
	fz_base_ifd = td_ifd_count();
	fz_nbase_ifd = td_ifd_list(fz_base_ifds, FZ_FDS_MAX);
}

static void fz_begin(void)
{
	fz_snapshot();
	memset(&fz, 0, sizeof(fz));
	for (unsigned i = 0; i < FZ_SLOTS; i++)
		fz.slot[i].hs = fz.slot[i].sfd = fz.slot[i].dfd = -1;
	fz.next_id = 1;
	fz.job_base = fz_srv.deferred.job_seq;
	fz.gen_base = fz_srv.conns.generation;
	pthread_mutex_lock(&fz_mu);
	fz_active = true;
	pthread_mutex_unlock(&fz_mu);
}

static void fz_end(void)
{
	/* Let what was sent be answered and read, then hang up. */
	for (int i = 0; i < 4; i++) {
		fz_turn(0);
		fz_drain_all();
	}
	for (unsigned i = 0; i < FZ_SLOTS; i++)
		fz_slot_close(&fz.slot[i]);
	fz_settle();
	if (fz_srv.conns.controller || fz_srv.conns.nobservers)
		fz_fail("a controller or %u observers still attached",
			fz_srv.conns.nobservers);
	/* Only a signal stops it (SHUTDOWN's is swallowed): the server took
	 * the SIGINT or SIGTERM meant for the run. */
	if (fz_srv.stopping) {
		fprintf(stderr, "fuzz_server: the server got a termination "
			"signal; exiting\n");
		exit(0);
	}
	fz_jobs_cleanup();
	pthread_mutex_lock(&fz_mu);
	fz_active = false;
	pthread_mutex_unlock(&fz_mu);
	td_mem_free_all(&fz_srv);
	td_labels_free(&fz_srv);
	fz_unmap();
	fz_check_fds();
}

/* ---- libFuzzer ---------------------------------------------------------- */

static void fz_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || tp_write_all(fd, text, strlen(text)) < 0 ||
	    close(fd) < 0)
		fz_fail("%s: %s", path, strerror(errno));
}

static void fz_cleanup_dir(void)
{
	char path[512];
	static const char *const names[] = { "policy", "sock", "sock.lock",
					     "log", NULL };

	for (unsigned i = 0; names[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz_dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/state", fz_dir);
	rmdir(path);
	rmdir(fz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char policy[256], state[256], log[256];
	struct td_config cfg = { .helpers = 4, .in_process = true };
	const char *logpath = getenv("FUZZ_SERVER_LOG");
	char err[512] = "";
	int rc, saved;

	(void)argc;
	(void)argv;
	fz_verbose = getenv("FUZZ_SERVER_VERBOSE") != NULL;
	fz_no_model = getenv("FUZZ_SERVER_NO_KERNEL_MODEL") != NULL;
	fz_avoid_known = getenv("FUZZ_SERVER_AVOID_KNOWN") != NULL;
	if (!mkdtemp(fz_dir))
		fz_fail("mkdtemp: %s", strerror(errno));
	atexit(fz_cleanup_dir);
	snprintf(policy, sizeof(policy), "%s/policy", fz_dir);
	snprintf(fz_sock, sizeof(fz_sock), "%s/sock", fz_dir);
	snprintf(state, sizeof(state), "%s/state", fz_dir);
	snprintf(log, sizeof(log), "%s", logpath ? logpath : "/dev/null");
	fz_write_file(policy, fz_avoid_known ? fz_policy_avoiding : fz_policy);
	/* stdin is /dev/null: the session may close it (GC). */
	if ((rc = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 || dup2(rc, 0) < 0)
		fz_fail("/dev/null: %s", strerror(errno));
	close(rc);
	/* The server's log takes fd 2 for crash reports; libFuzzer's and
	 * the sanitizers' reports must stay where they were. */
	if ((saved = fcntl(2, F_DUPFD_CLOEXEC, 3)) < 0)
		fz_fail("dup of stderr: %s", strerror(errno));
	td_server_init(&fz_srv);
	fz_srv.policy.path = policy;
	cfg.socket_path = fz_sock;
	cfg.log_path = log;
	cfg.state_dir = state;
	rc = td_server_start(&fz_srv, &cfg, err, sizeof(err));
	if (dup2(saved, 2) < 0)
		abort();
	close(saved);
	if (rc < 0)
		fz_fail("td_server_start: %s", err[0] ? err : strerror(-rc));
	/* Accept armed, helpers up. */
	for (int i = 0; i < 8; i++)
		fz_turn(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	unsigned nrec = 0;

	fz_begin();
	while (size - off >= FZ_REC_HDR && nrec++ < FZ_MAX_RECORDS) {
		unsigned op = data[off];
		size_t len = (size_t)data[off + 1] << 8 | data[off + 2];

		off += FZ_REC_HDR;
		if (len > size - off)
			len = size - off;
		fz_record(op, data + off, len);
		off += len;
	}
	fz_end();
	return 0;
}
