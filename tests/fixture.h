/*
 * Test fixture: a private temp directory, real tetherd processes started
 * through the library, and raw-socket helpers to speak the wire protocol
 * by hand.  Everything a test starts is killed and reaped in fx_fini().
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

/* ---- fixtures (.init / .fini) ------------------------------------ */
void fx_init_dir(void);			/* temp dir only */
void fx_init_server(void);		/* temp dir + tetherd at fx.sock */
void fx_fini(void);			/* kill servers, reap, rm -r dir */

/* ---- processes ----------------------------------------------------- */
const char *fx_tetherd(void);		/* $TETHERD (fatal if unset) */
/* dir/name into buf. */
void fx_path(char *buf, size_t size, const char *name);
/* tether_start with opts.tetherd = $TETHERD; the server's pid is
 * remembered and killed in fx_fini. */
int fx_start(const char *sock, const char *const *extra, struct tether **out);
/* First thing in a child a test forks: it drops the fixture's guard
 * pipe and dies with the test (PDEATHSIG).  Should the test process
 * crash or time out, no .fini runs; a guard process then kills every
 * process whose command line names fx.dir (the servers) and removes
 * fx.dir. */
void fx_forked(void);
/* Remember pid: SIGKILLed and reaped in fx_fini. */
void fx_track(pid_t pid);
/* True once pid no longer runs (gone, or a zombie, which is reaped if
 * it is ours). */
bool fx_gone(pid_t pid);
bool fx_wait_gone(pid_t pid);
/* Entries in /proc/PID/fd, or -errno. */
int fx_count_fds(pid_t pid);

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
/* SIGKILL and reap every process that descends from this one (workers a
 * killed server left to us, spawners), going round until none runs. */
void fx_kill_descendants(void);
/* Poll until the count equals want; returns the last count seen. */
int fx_wait_fds(pid_t pid, int want);
/* Disconnect fx.t and attach again, retrying while the server still
 * sees the previous controller (-EBUSY). */
int fx_reattach(void);
/* tether_connect, retrying -EBUSY up to the deadline. */
int fx_connect_retry(const char *sock, unsigned flags, struct tether **out);
/* getpid run in the server through tether_call (the server's pid), or
 * the library's -errno.  Unlike tether_getpid it passes no NULL args
 * array, so tests of other things do not hinge on that helper. */
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
void fx_write_file(const char *path, const void *data, size_t len);
/* Sleep a little (for polling loops). */
void fx_nap(void);

/* ---- raw protocol -------------------------------------------------- */
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
/* Send pkt (with fds, if any) as one packet on a fresh connection to
 * sock and read the answer.  Returns the answer's err (0 accepted, > 0
 * refused, text in text), or -errno when no answer came. */
int fx_handshake(const char *sock, const void *pkt, size_t len,
		 const int *fds, unsigned nfds, char *text, size_t textsz);
/* A proper handshake with our own socket pairs: on success *sfd (and
 * *dfd unless NULL, else closed) are our ends. */
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

#endif
