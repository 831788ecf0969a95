/*
 * A program on a real pseudo-terminal (forkpty), driven as a person at
 * the keyboard would: what it writes is read from the master side,
 * keys are written to it.  ^C (0x03) goes through the line discipline,
 * which with ISIG sends a real SIGINT to the program's process group;
 * ^D at the start of a line is end of file.
 */
#ifndef TETHER_TEST_KIT_PTY_H
#define TETHER_TEST_KIT_PTY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KPTY_BUF (256 * 1024)

struct kpty {
	int master;
	pid_t pid;
	int status;		/* once reaped: its wait status */
	bool reaped;
	size_t len;		/* bytes in out */
	size_t seen;		/* kpty_expect matched up to here */
	char out[KPTY_BUF];	/* everything it wrote, NUL-terminated */
};

/* Run argv[0] (a path) with env (extra NAME=VALUE entries, NULL-ended,
 * on top of ours; may be NULL) on a new pty of 200 columns.  The
 * program dies with the test (fx_forked). */
void kpty_start(struct kpty *p, char *const argv[], char *const env[]);
/* Read what came until needle appears after the last match (or the
 * deadline, FX_DEADLINE_MS, passes: false).  The match is consumed. */
bool kpty_expect(struct kpty *p, const char *needle);
/* kpty_expect, and the test fails without it, showing the output. */
void kpty_must(struct kpty *p, const char *needle);
/* Read for ms more milliseconds (or to EOF): what came is in out. */
void kpty_drain(struct kpty *p, int ms);
/* The keys of s, as typed. */
void kpty_send(struct kpty *p, const char *s);
/* Its exit status once it ends (reading what it still writes), or -1
 * if it did not end by the deadline (then it is killed). */
int kpty_wait(struct kpty *p);
/* Kill and reap it if it still runs; close the master. */
void kpty_end(struct kpty *p);

#endif
