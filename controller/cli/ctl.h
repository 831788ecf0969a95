/*
 * tetherctl internals: helpers shared by the verbs of the controller.
 * Functions are prefixed ctl_ and, where they can fail, return 0 or a
 * negative errno.
 */
#ifndef TETHER_CTL_H
#define TETHER_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tether.h"

/* How ctl_call_print shows argument i. */
enum ctl_disp {
	CTL_DISP_INT = 0,	/* a plain number: its token as typed */
	CTL_DISP_SYM,		/* with symbols: its token as typed */
	CTL_DISP_HEX,		/* the value in hex; needs no token */
	CTL_DISP_STR,		/* "string", re-escaped */
	CTL_DISP_IN,		/* 'bytes' sent */
	CTL_DISP_OUT,		/* "bytes" returned */
	CTL_DISP_INOUT,		/* "bytes" returned, buffer pre-filled */
};

/* Most bytes of one buffer argument (@N, 'bytes', x:HEX). */
#define CTL_BUF_MAX (1u << 20)
/* Buffer bytes ctl_call_print shows before "...". */
#define CTL_PRINT_MAX 256u

/* One parsed `call NAME ARG...`.  Everything it points to is its own. */
struct ctl_callspec {
	char name[64];		/* as typed; a number becomes its name */
	struct tether_call call;	/* nr, nargs, args[], flags (0) */
	void *bufs[6];		/* arg i's buffer: in copy or out space */
	int disp[6];		/* enum ctl_disp */
	char *text[6];		/* the original token of arg i */
	bool sgn[6];		/* INT/SYM/HEX: print value signed */
	bool raw;		/* call --raw: no decoding, as typed/bytes */
};

/* ctl_parse.c */
/* argv[0] is the syscall name (or number).  Returns 0, or -EINVAL,
 * -ENOSYS, -E2BIG or -ENOMEM with a one-line message in err.  On failure
 * cs is left empty; ctl_callspec_free is safe either way. */
int ctl_call_parse(int argc, char *const argv[], struct ctl_callspec *cs,
		   char *err, size_t errsz);
void ctl_callspec_free(struct ctl_callspec *cs);
/* After ctl_call_parse: what the syscall table (proto/systab.h) says
 * cannot be meant — an argument count outside the call's arity, an
 * output struct smaller than the kernel writes, a count beyond the
 * buffer it sizes.  0, or -EINVAL with a one-line message in err; a
 * call the table does not know passes. */
int ctl_call_check(const struct ctl_callspec *cs, char *err, size_t errsz);

/* proto/consts.c */
#include "consts.h"

/* ctl_print.c */
/* After the call ran (call.ret and args[i].returned set). */
void ctl_call_print(FILE *f, const struct ctl_callspec *cs);
void ctl_call_print_json(FILE *f, const struct ctl_callspec *cs);
/* The same with lead (members and their commas: "\"id\":7,") first. */
void ctl_call_print_json_lead(FILE *f, const struct ctl_callspec *cs,
			      const char *lead);
/* JSON string of s[0..n): valid UTF-8 quoted as it is (", \\, controls
 * and U+2028/9 escaped); bytes that are not UTF-8 as {"hex": "..."},
 * never a guess; s NULL as null. */
void ctl_json_string(FILE *f, const char *s, size_t n);
/* "deadbeef" in double quotes. */
void ctl_json_hex(FILE *f, const void *p, size_t n);
/* s for a table cell or a line of text (ctl_print.c): valid UTF-8 as
 * it is, \n \t \r \\ and \xNN for the rest, so that one value is one
 * line; into buf (4 bytes per byte of s, and 1) with ctl_escape_cell. */
void ctl_print_escaped(FILE *f, const char *s);
void ctl_escape_cell(const char *s, char *buf, size_t size);
/* C-like escape of p[0..n) between quote characters q, strace style. */
void ctl_print_bytes(FILE *f, const void *p, size_t n, char q);

/* ctl_words.c */
/* Split one line into words as a shell does (quotes and escapes
 * removed, "" an empty word, '#' starting a word comments out the rest;
 * no expansion).  Returns 0 (argv NULL-terminated, free with
 * ctl_words_free), one of the CTL_WORDS_ errors below, -E2BIG or
 * -ENOMEM; ctl_words_strerror says which in words. */
#define CTL_WORDS_SQUOTE (-1001)	/* a ' left open */
#define CTL_WORDS_DQUOTE (-1002)	/* a " left open */
#define CTL_WORDS_BACKSLASH (-1003)	/* a \ ends the line */
int ctl_words(const char *line, char ***argv_out, int *argc_out);
void ctl_words_free(char **argv, int argc);
const char *ctl_words_strerror(int rc);

/* ctl_sysnames.c, generated at build time by tools/gen-sysnames from
 * libseccomp (native architecture), and ctl_sysnr.c */
extern const size_t ctl_sysnames_n;	/* numbers 0 .. n-1 */
/* The name of syscall nr, or NULL (none, or not this architecture's). */
const char *ctl_sysname_of(long nr);
/* The number of syscall name on this architecture, or -1. */
long ctl_sysnr_of(const char *name);

/* ---- the verbs: one file a group (ctl_*.c), one table (ctl_verbs.c) -- */

#define CTL_EX_OK 0
#define CTL_EX_FAILED 1		/* the syscall or request failed */
#define CTL_EX_USAGE 2
#define CTL_EX_UNREACHABLE 3	/* cannot reach (or lost) the server */
/* Distinct causes that 1 used to cover (a contract, tetherctl(1)):
 * scripts branch on them. */
#define CTL_EX_TIMEOUT 4	/* --timeout ran out */
#define CTL_EX_DENIED 5		/* refused by the policy or the role */
#define CTL_EX_CONFLICT 6	/* another controller attached / took over */
#define CTL_EX_INTERRUPTED 130	/* SIGINT, as shells report it */

struct ctl {
	const char *socket_path;
	char socket_buf[4096];
	bool json;
	bool takeover;
	bool interactive;	/* inside attach */
	uid_t server_uid;	/* trusted too: --server-uid, TETHER_SERVER_UID */
	const char *host;	/* -H URL, TETHER_HOST: a remote server */
};

/* How a verb needs the server. */
enum ctl_conn {
	CTL_CONN_NONE,		/* start: makes its own */
	CTL_CONN_OBSERVE,	/* looks only: a read-only observer */
	CTL_CONN_CONTROL,	/* executes or changes: the controller */
};

struct ctl_verb {
	const char *name;
	int (*fn)(struct ctl *g, struct tether *t, int argc, char **argv);
	enum ctl_conn conn;
	const char *usage;
	/* Usage checks that need no server (exit 2 before connecting). */
	int (*precheck)(int argc, char **argv);
	const char *about;	/* what it does, one line (help) */
};
/* ctl_verbs.c: connect with TETHER_CONNECT_PIPELINE for v. */
bool ctl_verb_pipelined(const struct ctl_verb *v);
bool ctl_verb_retried_at_upgrade(const struct ctl_verb *v);

/* ctl_util.c */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *ctl_why(const struct tether *t, int rc);
/* Exit status for a failed library call: lost connection or failure. */
int ctl_status_of(int rc);
/* tether_connect*() failed with rc on path: the message, once naming
 * path, and the exit status (3, or 6 when another controller is
 * attached). */
int ctl_connect_failed(const struct tether *t, const char *path, int rc);
/* A pipelined connect's handle (ctl_run): the verb's first error asks
 * for the HELLO's verdict, and a refusal is reported instead as
 * ctl_connect_failed reports it, the verb's messages dropped.
 * ctl_pipe_refused: that exit status once so, else 0. */
void ctl_pipe_watch(struct tether *t, const char *path);
int ctl_pipe_refused(void);
/* The failure a verb reports is kept (first message, errno, cause) for
 * --json: ctl_err keeps the message, ctl_err_errno the errno too,
 * ctl_why the library's errno and cause; ctl_err_note keeps a message
 * without printing it.  ctl_verb_call and main print it once with
 * ctl_err_json, unless the verb printed its own (ctl_err_printed). */
void ctl_err_errno(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctl_err_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_err_cause(int cause);		/* enum tether_cause */
void ctl_err_reset(void);
/* A one-shot verb that sends its request again when the server refused
 * it for an upgrade (ctl_run): armed, that refusal is kept, not printed
 * nor given as JSON; ctl_upgrading_refused says the run ended so;
 * ctl_upgrading_say prints it once the tries are over. */
/* A decimal number, digits only ("-5", " 5", "5x" and overflow are
 * -EINVAL). */
int ctl_parse_u64(const char *s, uint64_t *v);
void ctl_upgrading_arm(bool on);
bool ctl_upgrading_refused(void);
void ctl_upgrading_say(void);
void ctl_err_printed(void);
/* {"error": {...}} and a newline, once, for a non-zero status. */
void ctl_err_json(FILE *f, int status);
/* The inner object alone: {"errno", "errno_code", "message", "exit",
 * "cause"}. */
void ctl_err_json_body(FILE *f, int status);

/* ctl_verbs.c */
const struct ctl_verb *ctl_verb_find(const char *name);
int ctl_verb_call(struct ctl *g, struct tether *t, int argc, char **argv);
/* Every verb's usage line, indented. */
void ctl_verbs_usage(FILE *f);
/* The i-th verb of the table, NULL past the end. */
const struct ctl_verb *ctl_verb_at(size_t i);

/* ctl_help.c */
int ctl_help(struct ctl *g, struct tether *t, int argc, char **argv);
/* -h or --help among the verb's words, before any --. */
bool ctl_help_wanted(int argc, char **argv);
/* "usage: tetherctl USAGE" and what it does. */
void ctl_help_verb(FILE *f, const struct ctl_verb *v);
/* Every verb and what it does; in a session, what it may run. */
void ctl_help_all(FILE *f, bool session);

/* ctl_intr.c: SIGINT to a self-pipe libtether and the prompt watch. */
int ctl_intr_install(void);
int ctl_intr_fd(void);
bool ctl_intr_taken(void);
void ctl_intr_clear(void);
/* While set, SIGINT exits 130 at once (nothing would see the pipe). */
void ctl_intr_set_fatal(bool fatal);
/* Cancel what an interrupted call left running in the server. */
int ctl_intr_cancel(struct tether *t);

/* ctl_server.c */
int ctl_start(struct ctl *g, struct tether *t, int argc, char **argv);
/* ctl_dial.c */
int ctl_dial_stdio(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_status(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_shutdown(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_upgrade(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_call.c */
int ctl_call(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_call_precheck(int argc, char **argv);
/* Print a call's result (text or --json) and say how it ended: a failed
 * result exits 1 (4 when cause is TETHER_CAUSE_TIMEOUT), and under
 * --json is the error object with the call object under "call". */
int ctl_call_report(struct ctl *g, const struct ctl_callspec *cs, int cause);

/* ctl_policy.c */
int ctl_policy(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_fds.c */
int ctl_fds(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_label(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_unlabel(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_gc(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_workers.c */
int ctl_spawn(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_ps(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_wait(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_kill(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_stop(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_ack(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_logs(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_respawn(struct ctl *g, struct tether *t, int argc, char **argv);
const char *ctl_signal_name(int sig, char *buf, size_t size);
int ctl_signal_parse(const char *s, int *sig);

/* ctl_callfile.c: the lines of a file (- for stdin) in the call syntax,
 * each parsed and checked (ctl_call_check, then check if set); an error
 * names the verb and the line. */
struct ctl_calls {
	struct ctl_callspec *cs;
	size_t n;
	size_t cap;
	/* 0, or -EINVAL with a one-line message in err */
	int (*check)(const struct ctl_callspec *cs, char *err, size_t errsz);
};
/* CTL_EX_OK with b->n >= 1; CTL_EX_USAGE (a bad line, or none) or
 * CTL_EX_FAILED (the file), said on stderr, with b empty. */
int ctl_calls_read(struct ctl_calls *b, const char *verb, const char *path);
void ctl_calls_free(struct ctl_calls *b);
/* The calls as libtether takes them, a copy (free it); NULL: no memory. */
struct tether_call *ctl_calls_array(const struct ctl_calls *b);

/* ctl_submit.c */
int ctl_submit(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_async.c */
int ctl_pending(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_collect(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_cancel(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_batch(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_data.c */
int ctl_put(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_get(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_give(struct ctl *g, struct tether *t, int argc, char **argv);
int ctl_take(struct ctl *g, struct tether *t, int argc, char **argv);

/* ctl_progress.c: put and get progress on stderr. */
enum ctl_progress_mode {
	CTL_PROGRESS_AUTO,	/* a bar when stderr is a terminal */
	CTL_PROGRESS_NONE,	/* --no-progress, --quiet */
	CTL_PROGRESS_BAR,	/* --progress: a bar even if not a tty */
	CTL_PROGRESS_JSON,	/* --progress=json: a JSON line a second */
};
struct ctl_progress {
	enum ctl_progress_mode mode;
	const char *op;		/* "put", "get" */
	double start, last;	/* CLOCK_MONOTONIC seconds; last -1: none */
	int last_pct;
	bool drawn;		/* a bar is on the line */
	uint64_t done, total;	/* total 0: unknown */
};
/* --progress's MODE (NULL: bar): 0, or -1 for an unknown one. */
int ctl_progress_parse(const char *arg, enum ctl_progress_mode *mode);
/* Seconds of CLOCK_MONOTONIC: rates and deadlines. */
double ctl_now(void);
/* Resolve AUTO (a bar if tty_ok and stderr is a terminal); true when
 * there is something to show: then pass ctl_progress_cb and p to
 * libtether. */
bool ctl_progress_begin(struct ctl_progress *p, enum ctl_progress_mode mode,
			const char *op, bool tty_ok);
void ctl_progress_cb(uint64_t done, uint64_t total, void *arg);
/* The last line (ok) and the bar's newline. */
void ctl_progress_end(struct ctl_progress *p, bool ok);

/* ctl_attach.c */
int ctl_attach(struct ctl *g, struct tether *t, int argc, char **argv);
/* How attach with these words connects: --observe as an observer. */
enum ctl_conn ctl_attach_conn(int argc, char **argv);

/* An attach session. */
struct ctl_edit;
struct ctl_session {
	struct ctl *g;
	struct tether *t;
	bool observe;		/* attach --observe: looks only */
	bool tty;		/* stdin is a terminal: prompt, editing */
	struct ctl_edit *edit;	/* line editor, when tty */
	/* tetherctl complete: the shell's words, t connected (observing)
	 * only when a candidate needs the server, once (tried) */
	bool cmdline;
	bool tried;
	/* The server closed the connection while a line was awaited (a
	 * take-over, its exit): the session ends at once, not at the next
	 * line's request. */
	bool lost;
};

/* Whether the server has closed s's connection (POLLRDHUP on the data
 * socket: what the server still sends of an interrupted logs -f there
 * is not a close).  For ctl_edit's wait and the script reader. */
bool ctl_session_hup(short revents);
/* attach reads its lines from the standard input: batch - may not. */
extern bool ctl_stdin_is_session;
int ctl_session_fd(const struct ctl_session *s);

/* ctl_edit.c: libedit on the terminal. */
struct ctl_edit *ctl_edit_open(struct ctl_session *s);
/* The next line (free it), "" after Ctrl-C, NULL at EOF. */
char *ctl_edit_read(struct ctl_edit *e);
void ctl_edit_remember(struct ctl_edit *e, const char *line);
void ctl_edit_close(struct ctl_edit *e);

/* ctl_complete.c: Tab (a libedit function; EL_CLIENTDATA the session). */
typedef struct editline EditLine;
unsigned char ctl_complete(EditLine *el, int ch);
/* What may stand as word n after w[0..n), starting with prefix: Tab's
 * rules, for the shell's completion too (s->cmdline).  Sorted, in *out;
 * free with ctl_complete_cands_free. */
int ctl_complete_cands(struct ctl_session *s, char **w, int n,
		       const char *prefix, char ***out, size_t *nout);
void ctl_complete_cands_free(char **v, size_t n);

/* ctl_complete_cmd.c: tetherctl complete -- WORD...: the shell's
 * completion (contrib/completion), not a verb of the table. */
int ctl_complete_cmd(struct ctl *g, int argc, char **argv);

/* ctl_history.c: $XDG_STATE_HOME/tether/history. */
#define CTL_HISTORY_MAX 1000
struct ctl_history {
	char *lines[CTL_HISTORY_MAX];	/* oldest first */
	size_t n;
	size_t in_file;		/* lines the file holds */
	int fd;			/* appending, or -1 */
};
int ctl_history_path(char *buf, size_t size);
int ctl_history_open(struct ctl_history *h);
void ctl_history_keep(struct ctl_history *h, const char *line);
void ctl_history_rewrite(struct ctl_history *h);
void ctl_history_add(struct ctl_history *h, const char *line);
void ctl_history_close(struct ctl_history *h);

#endif
