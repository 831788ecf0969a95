/*
 * The test kit: the clock, and "kids" -- children a test forks to run a
 * function in (a controller to be SIGKILLed, a call that blocks, a peer
 * of another uid).  A kid reports one line at a time through a pipe and
 * never calls Criterion: it says "FAIL ..." and exits instead, and the
 * test's kid_line turns that into the test's failure.  Every kid is
 * remembered by the fixture (fx_track): one the test leaves running is
 * killed in fx_fini.
 *
 * The server fixture (temp directory, tetherds, raw protocol) is
 * fixture.h, included here: a suite includes kit.h.
 */
#ifndef TETHER_TEST_KIT_H
#define TETHER_TEST_KIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fixture.h"

/* A kid's next report may take this long: tether_start under
 * sanitizers. */
#define KID_DEADLINE_MS 15000
#define KID_W 3				/* in the kid: its report pipe */
#define KID_FD 4			/* in the kid: the fd it was given */
#define KID_RO_UID 65534		/* kid_start_with's other uid */

struct kid {
	pid_t pid;
	int rd;				/* their reports */
	char buf[4096];
	size_t len;
};

/* ---- time ---------------------------------------------------------- */
int64_t kit_now_ms(void);		/* CLOCK_MONOTONIC */
int64_t kit_epoch_ms(void);		/* CLOCK_REALTIME */
void kit_nap_ms(long ms);
void kit_nap_us(long us);

/* ---- kids, from the test ------------------------------------------- */
/* Fork a kid running fn(arg), then _exit(0).  Nothing of ours stays
 * open in it but the report pipe at KID_W: above all not fx.t's
 * sockets, whose copies would keep a connection alive after the test
 * drops it. */
void kid_start(struct kid *k, void (*fn)(void *arg), void *arg);
/* The same, and give (unless < 0) at KID_FD in the kid; with ro the
 * kid becomes uid and gid KID_RO_UID before fn. */
void kid_start_with(struct kid *k, void (*fn)(void *arg), void *arg,
		    int give, bool ro);
/* The next report starting with word, its rest into out (if not NULL):
 * false if none came within ms.  A FAIL line or the kid's death fails
 * the test. */
bool kid_line_within(struct kid *k, const char *word, char *out,
		     size_t size, int ms);
/* The same within KID_DEADLINE_MS, or the test fails. */
void kid_line(struct kid *k, const char *word, char *out, size_t size);
/* The number that follows word. */
long kid_num(struct kid *k, const char *word);
/* SIGKILL the kid and reap it: it must die of that signal. */
void kid_kill(struct kid *k);
/* Reap a kid that ends by itself: it must exit 0. */
void kid_reap(struct kid *k);

/* ---- in the kid ---------------------------------------------------- */
void kid_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kid_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Say HOLD, then wait to be killed. */
void kid_hold(void) __attribute__((noreturn));
/* Attach to the fixture's server (retrying -EBUSY), or FAIL. */
struct tether *kid_connect(void);
/* Start a server of our own at fx.sock, logging to fx.sock.log, and
 * say SERVER <pid>; or FAIL. */
struct tether *kid_start_server(void);
/* Attach, say ATTACHED, GET the file path names into KID_FD: for a kid
 * the test kills mid-transfer, so that the GET returning is a FAIL. */
void kid_get_to_fd(void *path);

#endif
