/*
 * Test fixture: a private temp directory, real tetherd processes started
 * through the library (fixture.c), call records and PENDING lookups
 * (fx_calls.c), what /proc says of processes (fx_proc.c), and raw-socket
 * helpers to speak the wire protocol by hand (fx_raw.c).  Everything a
 * test starts is killed and reaped in fx_fini().  Suites include kit.h,
 * which adds the clock and kids.
 *
 * Functions returning int return 0 (or a count) or a negative errno.
 */
#ifndef TETHER_TEST_FIXTURE_H
#define TETHER_TEST_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"
#include "tether.h"

/* Every wait in the tests polls up to this long; nothing asserts time. */
#define FX_DEADLINE_MS 5000

struct fx {
	char dir[64];			/* mkdtemp under /tmp, 0700 */
	char sock[108];			/* dir/s.sock */
	struct tether *t;		/* fixture's controller, or NULL */
	pid_t pid;			/* server started by fx_init_server */
};

extern struct fx fx;

/* ---- fixture.c: the temp directory and its servers ------------------ */
void fx_init_dir(void);			/* temp dir only */
void fx_init_server(void);		/* temp dir + tetherd at fx.sock */
void fx_fini(void);			/* kill servers, reap, rm -r dir */
/* fx_fini, then whatever still descends from the test (workers, the
 * spawners of killed servers): fx_kill_descendants. */
void fx_fini_all(void);

const char *fx_tetherd(void);		/* $TETHERD (fatal if unset) */
/* dir/name into buf. */
void fx_path(char *buf, size_t size, const char *name);
/* tether_start with opts.tetherd = $TETHERD; the server's pid is
 * remembered and killed in fx_fini. */
int fx_start(const char *sock, const char *const *extra, struct tether **out);
/* fx_init_dir's work done, a server at fx.sock with extra arguments
 * (fx.t, fx.pid); under a policy (its text written to a file in fx.dir,
 * --policy) for fx_start_policy. */
void fx_start_server(const char *const *extra);
void fx_start_policy(const char *text);
/* First thing in a child a test forks: it drops the fixture's guard
 * pipe and dies with the test (PDEATHSIG).  Should the test process
 * crash or time out, no .fini runs; a guard process then kills every
 * process whose command line names fx.dir (the servers) and removes
 * fx.dir. */
void fx_forked(void);
/* Remember pid: SIGKILLed and reaped in fx_fini.  Forget it once it is
 * reaped, before its pid can be another process's. */
void fx_track(pid_t pid);
void fx_untrack(pid_t pid);
/* Disconnect fx.t and attach again, retrying while the server still
 * sees the previous controller (-EBUSY). */
int fx_reattach(void);
/* tether_connect, retrying -EBUSY up to the deadline. */
int fx_connect_retry(const char *sock, unsigned flags, struct tether **out);
/* An observer of sock, which must be let in. */
struct tether *fx_observe(const char *sock);
/* libtether's typed helpers, collapsed to one number for tests that only
 * look at that: the syscall's result, or the library's -errno when the
 * request itself failed.  (The library keeps the two apart: its status
 * is the return value, the syscall's result is in *ret.) */
long fx_getpid(struct tether *t);
long fx_syscall(struct tether *t, long nr, unsigned nargs,
		struct tether_arg *args);
long fx_openat(struct tether *t, int dirfd, const char *path, int flags,
	       mode_t mode);
long fx_read(struct tether *t, int fd, void *buf, size_t count);
long fx_write(struct tether *t, int fd, const void *buf, size_t count);
long fx_close(struct tether *t, int fd);
long fx_pipe2(struct tether *t, int fds[2], int flags);
long fx_dup3(struct tether *t, int oldfd, int newfd, int flags);
long fx_lseek(struct tether *t, int fd, off_t off, int whence);
/* Write a whole file. */
/* tether_spawn that must succeed: the worker's pid. */
pid_t fx_spawn_ok(struct tether *t, const struct tether_spawn *sp);
/* tether_wait with a generous deadline; the worker must have ended. */
#define FX_WAIT_MS 10000
struct tether_worker fx_wait_end(struct tether *t, const char *target);

void fx_write_file(const char *path, const void *data, size_t len);
/* Entries of dir whose name contains needle (all but . and .. when
 * needle is NULL). */
int fx_dir_count(const char *dir, const char *needle);

/* ---- fx_calls.c: requests as suites build and follow them ---------- */
/* *c zeroed, then its number and argument count. */
void fx_call_init(struct tether_call *c, long nr, unsigned nargs);
/* read(fd, [out buf, n], n), no flags, no timeout. */
void fx_read_call(struct tether_call *c, int fd, void *buf, size_t n);
/* The entry of v[0..n) for request id, or NULL. */
const struct tether_pending *fx_pending_find(const struct tether_pending *v,
					     size_t n, uint64_t id);
/* Request id's state in t's PENDING into st ("" when it is not listed);
 * a PENDING that fails fails the test. */
void fx_pending_state(struct tether *t, uint64_t id, char *st, size_t size);
/* Poll PENDING until request id is in state want ("" for: not listed):
 * false if it is not within FX_DEADLINE_MS, its last state in st. */
bool fx_wait_state(struct tether *t, uint64_t id, const char *want,
		   char *st, size_t size);

/* ---- fx_proc.c: processes, as /proc shows them ----------------------- */
/* True once pid no longer runs (gone, or a zombie, which is reaped if
 * it is ours). */
bool fx_gone(pid_t pid);
bool fx_wait_gone(pid_t pid);
/* Entries in /proc/PID/fd, or -errno. */
int fx_count_fds(pid_t pid);
/* The same, and the test fails if /proc cannot say. */
int fx_nfds(pid_t pid);
/* Poll until the count equals want; returns the last count seen. */
int fx_wait_fds(pid_t pid, int want);
/* fx_wait_fds, and the test fails unless pid holds want fds (when:
 * words for the message). */
void fx_expect_fds(pid_t pid, int want, const char *when);
/* pid's fd count once it is quiet: three equal reads 20 ms apart (a
 * departed peer's sockets go just after the server reads its EOF, a
 * handshake's just after its answer).  A baseline for other counts,
 * never an assertion by itself. */
int fx_settled_fds(pid_t pid);

/* /proc/PID/stat, the fields the tests look at. */
struct fx_pstat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid;
	pid_t pgid;
};
bool fx_read_pstat(pid_t pid, struct fx_pstat *ps);
/* Running: not gone, not a zombie nobody reaped. */
bool fx_alive(pid_t pid);
/* The syscall pid is blocked in, per /proc/PID/syscall; -1 running or
 * unreadable. */
long fx_blocked_in(pid_t pid);
/* The number on the "field:" line of /proc/PID/status (VmRSS, in kB;
 * Seccomp), or -1. */
long fx_status_field(pid_t pid, const char *field);
/* Built with ASan or TSan (per its maps): its RSS then says nothing of
 * what it keeps, freed memory sits in quarantine. */
bool fx_sanitized(pid_t pid);
/* Processes for which match says true: how many. */
int fx_procs(bool (*match)(const struct fx_pstat *ps, void *arg), void *arg);
/* The live children of ppid named comm: how many, the last one seen. */
int fx_children_named(pid_t ppid, const char *comm, pid_t *last);
/* The server's one tetherd-spawner child. */
pid_t fx_spawner_of(pid_t server);
/* SIGKILL and reap every process that descends from this one (workers a
 * killed server left to us, spawners), going round until none runs. */
void fx_kill_descendants(void);

/* ---- fx_raw.c: the protocol by hand ---------------------------------- */
/* One decoded frame whose bytes it owns (msgpack objects point into
 * them, so they must outlive the tp_in). */
struct fx_frame {
	unsigned char *buf;
	struct tp_in in;
	int rc;				/* tp_decode's result */
};

void fx_frame_free(struct fx_frame *f);
/* The reply's body as text ("" unless it is a str). */
const char *fx_frame_text(const struct fx_frame *f, char *buf, size_t size);

/* SOCK_SEQPACKET connection to a listening socket. */
int fx_dial(const char *sock);
/* A finished HELLO request frame. */
void fx_hello_msg(struct tp_msg *m, uint64_t version, uint64_t flags);
/* len bytes and nfds fds (up to 8) in one sendmsg: the bytes sent, or
 * -errno. */
ssize_t fx_send_fds(int fd, const void *buf, size_t len, const int *fds,
		    unsigned nfds);
/* Send pkt (with fds, if any) as one packet on a fresh connection to
 * sock and read the answer.  Returns the answer's err (0 accepted, > 0
 * refused, text in text), or -errno when no answer came. */
int fx_handshake(const char *sock, const void *pkt, size_t len,
		 const int *fds, unsigned nfds, char *text, size_t textsz);
/* The same on fd, a connection already made (closed after). */
int fx_handshake_on(int fd, const void *pkt, size_t len, const int *fds,
		    unsigned nfds, char *text, size_t textsz);
/* The handshake m (a finished HELLO) with our own socket pairs: on
 * success (0) ours[0] and ours[1] are our ends of the syscall and data
 * sockets; otherwise the answer's err or -errno, and nothing is left
 * open. */
int fx_hello_pairs(const char *sock, const struct tp_msg *m, char *text,
		   size_t textsz, int ours[2]);
int fx_hello_pairs_on(int fd, const struct tp_msg *m, char *text,
		      size_t textsz, int ours[2]);
/* A proper handshake: on success *sfd (and *dfd unless NULL, else
 * closed) are our ends. */
int fx_attach_raw(const char *sock, unsigned hello_flags, int *sfd, int *dfd);

/* Bytes on a stream socket, all of them. */
int fx_send_bytes(int fd, const void *p, size_t n);
/* A length prefix, then payload. */
int fx_send_payload(int fd, const void *payload, size_t len);
/* tp_msg_finish and send. */
int fx_send_msg(int fd, struct tp_msg *m);
/* Next frame from a stream socket (rb keeps what follows).  0, or
 * -ECONNRESET on EOF, -ETIMEDOUT after the deadline. */
int fx_recv_frame(int fd, struct tp_rbuf *rb, struct fx_frame *f);
/* True when fd reaches EOF (or reset) within the deadline, discarding
 * whatever comes before it. */
bool fx_wait_eof(int fd);
/* STATUS requests on fd (made O_NONBLOCK) and never a read, until the
 * server stops taking them (200 ms without room): how many went. */
unsigned fx_flood_status(int sfd);

/* A controller attached by hand (taking over from fx.t's server, which
 * the caller lets go first): requests numbered from 101. */
struct fx_raw {
	int sfd, dfd;
	struct tp_rbuf rb;
	uint64_t id;
};

void fx_raw_attach(struct fx_raw *r);
void fx_raw_close(struct fx_raw *r);
/* A request [id, op, ...] in m, its body for the caller to pack: id. */
uint64_t fx_raw_begin(struct fx_raw *r, struct tp_msg *m, unsigned op);
/* Send it (and destroy m). */
void fx_raw_send(struct fx_raw *r, struct tp_msg *m);
/* The next answer to id (others skipped): its code, or -errno when the
 * connection ended or nothing came.  The frame goes to out if given
 * (fx_frame_free it), else it is freed. */
int fx_raw_reply(struct fx_raw *r, uint64_t id, struct fx_frame *out);

#endif
