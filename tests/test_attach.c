/*
 * tetherctl attach and the command line's front end, on real servers:
 * shell quoting in sessions and batch files, help, Ctrl-C (a real SIGINT
 * from a pty's ^C), Ctrl-D, history across sessions, Tab completion,
 * attach --observe beside a controller, a session that ends when it is
 * taken over, and script mode.  Sessions run on a pseudo-terminal
 * (kit_pty.c); scripts and one-shot verbs with files for stdio.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"
#include "kit.h"
#include "kit_pty.h"

static struct kpty *pty, *pty2;
static char env_home[300], env_state[300];
static char term[] = "TERM=xterm", editrc[] = "EDITRC=/dev/null",
	    lc[] = "LC_ALL=C.UTF-8";
static char *const ctl_env[] = { env_home, env_state, term, editrc, lc,
				 NULL };

static const char *ctl_path(void)
{
	const char *p = getenv("TETHERCTL");

	if (!p)
		cr_assert_fail("TETHERCTL is not set (make check exports it)");
	return p;
}

/* The server, with nobody attached (the fixture's controller gone), and
 * a HOME and state directory of the test's own. */
static void setup(void)
{
	fx_init_server();
	tether_disconnect(fx.t);
	fx.t = NULL;
	snprintf(env_home, sizeof(env_home), "HOME=%s", fx.dir);
	snprintf(env_state, sizeof(env_state), "XDG_STATE_HOME=%s/state",
		 fx.dir);
	pty = calloc(1, sizeof(*pty));
	pty2 = calloc(1, sizeof(*pty2));
	cr_assert(pty && pty2);
	pty->master = pty2->master = -1;
}

static void teardown(void)
{
	if (pty)
		kpty_end(pty);
	if (pty2)
		kpty_end(pty2);
	fx_fini_all();
}

TestSuite(attach, .init = setup, .fini = teardown, .timeout = 60);

/* tetherctl -s SOCK [extra words...] on a pty. */
static void session(struct kpty *p, const char *opt)
{
	char *argv[] = { (char *)ctl_path(), (char *)"-s", fx.sock,
			 (char *)"attach", (char *)opt, NULL };

	kpty_start(p, argv, ctl_env);
	kpty_must(p, "attached to tetherd pid");
	kpty_must(p, "tether");
}

/* Type a line and wait for what it must print. */
static void say(struct kpty *p, const char *line, const char *want)
{
	kpty_send(p, line);
	kpty_send(p, "\r");
	if (want)
		kpty_must(p, want);
}

/* Ctrl-D at the prompt; the exit status.  (Typed ahead, while the verb
 * runs and the terminal is in its cooked mode, ^D would be a read of 0
 * bytes for nobody: a person types it at the prompt.) */
static int ctrl_d(struct kpty *p)
{
	kpty_must(p, "> ");
	kpty_drain(p, 100);
	kpty_send(p, "\x04");
	return kpty_wait(p);
}

struct run {
	int status;
	char out[65536];
	char err[65536];
};

static void slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, size - 1);

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* tetherctl with words (NULL-ended), stdin from in (NULL: /dev/null),
 * not on a terminal. */
static void run(struct run *r, const char *in, const char *const *words)
{
	char pin[256], pout[256], perr[256];
	char *argv[32];
	size_t n = 0;
	pid_t pid;

	fx_path(pin, sizeof(pin), "run.in");
	fx_path(pout, sizeof(pout), "run.out");
	fx_path(perr, sizeof(perr), "run.err");
	fx_write_file(pin, in ? in : "", in ? strlen(in) : 0);
	argv[n++] = (char *)ctl_path();
	for (; *words && n < 31; words++)
		argv[n++] = (char *)*words;
	argv[n] = NULL;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fx_forked();
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		if (!freopen(pin, "r", stdin) || !freopen(pout, "w", stdout) ||
		    !freopen(perr, "w", stderr))
			_exit(126);
		for (size_t i = 0; ctl_env[i]; i++)
			putenv(ctl_env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &r->status, 0), pid);
	r->status = WIFEXITED(r->status) ? WEXITSTATUS(r->status)
					 : 128 + WTERMSIG(r->status);
	slurp(pout, r->out, sizeof(r->out));
	slurp(perr, r->err, sizeof(r->err));
}

#define RUN(r, in, ...) \
	run((r), (in), (const char *const[]){ __VA_ARGS__, NULL })

/* ---- quoting ----------------------------------------------------------- */

Test(attach, quotes_like_a_shell)
{
	session(pty, NULL);
	/* one word "echo hi there" for sh -c, no quote characters kept */
	say(pty, "spawn --label 'my worker' --capture -- sh -c \"echo hi there\"",
	    NULL);
	say(pty, "wait 'my worker'", "exited 0");
	say(pty, "logs \"my worker\"", "\nhi there");
	say(pty, "label 0 \"a b\\\"c\"", "labeled a b\"c");
	say(pty, "fds", "a b\"c");
	/* a string for call keeps its double quotes inside single ones */
	say(pty, "openat AT_FDCWD '\"/dev/null\"' O_RDONLY",
	    "openat(AT_FDCWD, \"/dev/null\", O_RDONLY) = ");
	/* "" is a word of its own: an empty label, refused by label */
	say(pty, "label 1 \"\"", NULL);
	/* unbalanced: a clear message, and the session goes on */
	say(pty, "label 1 \"oops", "unbalanced quotes: a \" is not closed");
	say(pty, "label 1 'oops", "unbalanced quotes: a ' is not closed");
	say(pty, "getpid", "getpid() = ");
	cr_assert_eq(ctrl_d(pty), 0, "%s", pty->out);
}

Test(attach, empty_word_reaches_the_verb)
{
	struct run r;

	/* spawn -- sh -c 'printf "[%s]" "$1"' x "": $1 is the empty word */
	RUN(&r, "spawn --label e --capture -- sh -c 'printf \"[%s]\" \"$1\"' x \"\"\n"
		"wait e\nlogs e\n",
	    "-s", fx.sock, "attach");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "[]"), "%s", r.out);
}

Test(attach, batch_file_quoting)
{
	char path[256];
	struct run r;

	fx_path(path, sizeof(path), "f");
	fx_write_file(path, "tether\n", 7);
	/* the same words as attach: a string inside single quotes */
	RUN(&r, "openat AT_FDCWD '\"/dev/null\"' O_RDONLY   # a comment\n"
		"call close $0\n",
	    "-s", fx.sock, "batch", "-");
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert(strstr(r.out, "close($0) = 0"), "%s", r.out);
	/* unbalanced quotes: the line and why, exit 2, nothing ran */
	RUN(&r, "getpid\nopenat AT_FDCWD '\"/x\" O_RDONLY\n", "-s", fx.sock,
	    "batch", "-");
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "batch line 2: unbalanced quotes: a ' is not "
				"closed"), "%s", r.err);
	cr_assert_eq(r.out[0], '\0', "%s", r.out);
	RUN(&r, "getpid \\\n", "-s", fx.sock, "batch", "-");
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "backslash at the end"), "%s", r.err);
}

/* ---- help ---------------------------------------------------------------- */

static const char *const all_verbs[] = {
	"start", "attach", "status", "policy", "call", "pending", "collect", "cancel", "batch",
	"fds", "label", "unlabel", "gc", "spawn", "ps", "wait", "kill", "stop",
	"logs", "ack", "put", "get", "give", "take", "shutdown", "help", NULL
};

Test(attach, help_in_session)
{
	char want[64];

	session(pty, NULL);
	say(pty, "help", "commands (help VERB for its usage):");
	kpty_must(pty, "Ctrl-C interrupts");
	for (size_t i = 0; all_verbs[i]; i++) {
		/* every verb on a line of its own, with what it does */
		snprintf(want, sizeof(want), "\n  %-10s ", all_verbs[i]);
		cr_assert(strstr(pty->out, want), "help lacks %s:\n%s",
			  all_verbs[i], pty->out);
	}
	say(pty, "help spawn", "usage: tetherctl spawn [--label L]");
	kpty_must(pty, "start a worker process");
	say(pty, "stop --help", "usage: tetherctl stop [--grace S]");
	/* an unknown syscall: call's usage, nobody else's */
	say(pty, "nosuchcall 1 2", "unknown syscall \"nosuchcall\"");
	kpty_must(pty, "usage: tetherctl call [");
	say(pty, "getpid", "getpid() = ");
	cr_assert_null(strstr(pty->out, "usage: tetherctl spawn [--label L] "
					"[--capture]\r\n  start a worker process\r\n"
					"tetherctl"));
	cr_assert_eq(ctrl_d(pty), 0);
}

Test(attach, help_outside_needs_no_server)
{
	const char *none = "/nonexistent/tether.sock";
	struct run r;

	RUN(&r, NULL, "-s", none, "call", "--help");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "usage: tetherctl call ["), "%s", r.out);
	cr_assert_eq(r.err[0], '\0', "%s", r.err);
	RUN(&r, NULL, "-s", none, "spawn", "-h");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "usage: tetherctl spawn"), "%s", r.out);
	RUN(&r, NULL, "-s", none, "logs", "-f", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: tetherctl logs"), "%s", r.out);
	/* -h of a command after -- is the command's */
	RUN(&r, NULL, "-s", none, "spawn", "--", "grep", "-h");
	cr_assert_eq(r.status, 3, "%s", r.out);
	RUN(&r, NULL, "-s", none, "help", "take");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: tetherctl take"), "%s", r.out);
	RUN(&r, NULL, "-s", none, "help", "nosuchverb");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "unknown verb 'nosuchverb'"), "%s", r.err);
	RUN(&r, NULL, "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: tetherctl"), "%s", r.out);
	/* tetherctl help: every verb, each with a description */
	RUN(&r, NULL, "-s", none, "help");
	cr_assert_eq(r.status, 0, "%s", r.err);
	for (char *l = strtok(r.out, "\n"); l; l = strtok(NULL, "\n")) {
		if (strncmp(l, "  ", 2))
			continue;
		cr_assert_gt(strlen(l), 14, "a verb without description: %s",
			     l);
	}
	RUN(&r, NULL, "-s", none, "call", "nosuchcall");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "usage: tetherctl call ["), "%s", r.err);
}

/* ---- Ctrl-C, Ctrl-D ------------------------------------------------------ */

/* Pending requests of the server, as `tetherctl pending` shows them. */
static bool server_runs(const char *syscall)
{
	struct run r;

	RUN(&r, NULL, "-s", fx.sock, "pending");
	cr_assert_eq(r.status, 0, "%s", r.err);
	return strstr(r.out, syscall) != NULL;
}

/* The server's controller is pid (an observer asks). */
static bool attached_as(pid_t pid)
{
	struct tether *obs = fx_observe(fx.sock);
	struct tether_status st;
	bool yes = tether_status(obs, &st) == 0 && st.attached &&
		   st.controller_pid == pid;

	tether_disconnect(obs);
	return yes;
}

Test(attach, ctrl_c_interrupts_the_verb)
{
	struct tether *t;
	char line[128];
	int p[2];

	/* an empty pipe in the server, to read from forever */
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0);
	cr_assert_eq(fx_pipe2(t, p, 0), 0);
	tether_disconnect(t);

	session(pty, NULL);
	say(pty, "spawn --label sleeper --capture -- sh -c 'echo started; "
		 "exec sleep 60'", NULL);
	/* a blocking call: back to the prompt, the call cancelled */
	snprintf(line, sizeof(line), "read %d @16 16", p[0]);
	say(pty, line, NULL);
	kpty_drain(pty, 200);
	kpty_send(pty, "\x03");
	kpty_must(pty, "interrupted");
	say(pty, "getpid", "getpid() = ");
	cr_assert(!server_runs("read"), "the read still runs in the server");
	/* the same call, interrupted again: helpers are not used up */
	say(pty, line, NULL);
	kpty_drain(pty, 200);
	kpty_send(pty, "\x03");
	kpty_must(pty, "interrupted");
	/* logs -f of a live worker */
	say(pty, "logs -f sleeper", "started");
	kpty_send(pty, "\x03");
	kpty_must(pty, "interrupted");
	say(pty, "getpid", "getpid() = ");
	/* wait on a live worker */
	say(pty, "wait sleeper", NULL);
	kpty_drain(pty, 200);
	kpty_send(pty, "\x03");
	kpty_must(pty, "interrupted");
	say(pty, "ps", "sleeper");
	/* Ctrl-C at the prompt: a new prompt; what was typed does not run.
	 * Each new prompt is awaited, and then a moment more, as ctrl_d()
	 * does: the prompt is on the terminal a little before libedit has
	 * it in raw mode, and a line typed in between is echoed twice and
	 * its Ctrl-C arrives as a signal, not a key (seen once under load:
	 * "psps", then no prompt). */
	kpty_must(pty, "tether> ");
	kpty_drain(pty, 100);
	kpty_send(pty, "\x03");
	kpty_must(pty, "tether> ");
	kpty_drain(pty, 100);
	kpty_send(pty, "kill sleeper");
	kpty_send(pty, "\x03");
	kpty_must(pty, "tether> ");
	say(pty, "status", "controller");
	say(pty, "ps", "running");
	/* the session was never lost: still the same generation */
	cr_assert_eq(ctrl_d(pty), 0, "%s", pty->out);
	cr_assert_null(strstr(pty->out, "killed"), "%s", pty->out);
}

Test(attach, ctrl_c_outside_attach_exits_130)
{
	struct tether *t;
	char fd[16];
	int p[2];

	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0);
	cr_assert_eq(fx_pipe2(t, p, 0), 0);
	tether_disconnect(t);
	snprintf(fd, sizeof(fd), "%d", p[0]);
	{
		char *argv[] = { (char *)ctl_path(), (char *)"-s", fx.sock,
				 (char *)"call", (char *)"read", fd,
				 (char *)"@16", (char *)"16", NULL };

		kpty_start(pty, argv, ctl_env);
	}
	kpty_drain(pty, 300);
	kpty_send(pty, "\x03");
	cr_assert_eq(kpty_wait(pty), 130, "%s", pty->out);
	cr_assert(!server_runs("read"), "the read still runs in the server");
}

/* ---- history, completion --------------------------------------------- */

Test(attach, history_across_sessions)
{
	char path[400], dir[300];
	struct stat st;
	char buf[4096];

	session(pty, NULL);
	say(pty, "getpid", "getpid() = ");
	say(pty, "label 1 remembered", "labeled remembered");
	cr_assert_eq(ctrl_d(pty), 0);
	snprintf(dir, sizeof(dir), "%s/state/tether", fx.dir);
	snprintf(path, sizeof(path), "%s/history", dir);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "%o", st.st_mode);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "%o", st.st_mode);
	slurp(path, buf, sizeof(buf));
	cr_assert_str_eq(buf, "getpid\nlabel 1 remembered\n");

	/* a new session: ^P twice brings getpid back */
	session(pty2, NULL);
	kpty_send(pty2, "\x10\x10\r");
	kpty_must(pty2, "getpid() = ");
	cr_assert_eq(ctrl_d(pty2), 0);
	slurp(path, buf, sizeof(buf));
	cr_assert_str_eq(buf, "getpid\nlabel 1 remembered\ngetpid\n");
}

Test(attach, history_not_through_a_symlink)
{
	char path[300], target[300], buf[64];

	snprintf(path, sizeof(path), "%s/state", fx.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state/tether", fx.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state/tether/history", fx.dir);
	snprintf(target, sizeof(target), "%s/elsewhere", fx.dir);
	fx_write_file(target, "", 0);
	cr_assert_eq(symlink(target, path), 0);
	session(pty, NULL);
	cr_assert(strstr(pty->out, "no history kept: Too many levels of "
				   "symbolic links"), "%s", pty->out);
	say(pty, "getpid", "getpid() = ");
	cr_assert_eq(ctrl_d(pty), 0, "%s", pty->out);
	slurp(target, buf, sizeof(buf));
	cr_assert_str_eq(buf, "");
}

Test(attach, tab_completion)
{
	session(pty, NULL);
	/* a verb: what runs is the completed word */
	kpty_send(pty, "statu\t\r");
	kpty_must(pty, "controller");
	/* a syscall name, bare and after call */
	kpty_send(pty, "call getpp\t\r");
	kpty_must(pty, "getppid() = ");
	kpty_send(pty, "gettimeofda\t@16 0\r");
	kpty_must(pty, "gettimeofday(");
	/* labels and fd numbers from the server */
	say(pty, "label 2 completed-label", "labeled completed-label");
	kpty_send(pty, "unlabel compl\t\r");
	kpty_must(pty, "label completed-label removed");
	/* a label with a blank comes back quoted, so it stays one word */
	say(pty, "label 2 'two words'", "labeled two words");
	kpty_send(pty, "unlabel two\t\r");
	kpty_must(pty, "label two words removed");
	say(pty, "label 2 'two words'", "labeled two words");
	kpty_send(pty, "unlabel 'two w\t\r");
	kpty_must(pty, "label two words removed");
	say(pty, "openat AT_FDCWD '\"/dev/null\"' O_RDONLY", ") = ");
	say(pty, "dup3 3 77 0", "= 77");
	kpty_send(pty, "fstat 7\t@\r");
	kpty_must(pty, "fstat(77, ");
	/* worker pids and labels */
	say(pty, "spawn --label tabworker -- sleep 60", NULL);
	kpty_drain(pty, 100);
	kpty_send(pty, "ps\r");
	kpty_must(pty, "tabworker");
	kpty_send(pty, "wait --timeout 0.1 tabw\t\r");
	kpty_must(pty, "tabworker: running");
	/* several: a second Tab lists them */
	kpty_send(pty, "un\t\t");
	kpty_must(pty, "unlabel");
	kpty_must(pty, "unshare");
	/* The line is redrawn below the list; only then ^C, so that the
	 * prompt ctrl_d waits for is the one after it (matching the redraw
	 * instead sent ^D onto the unfinished "un" once, under load). */
	kpty_must(pty, "> un");
	kpty_send(pty, "\x03");
	cr_assert_eq(ctrl_d(pty), 0, "%s", pty->out);
}

/* ---- --observe, take-over, scripts ------------------------------------ */

Test(attach, observe_beside_a_supervisor)
{
	struct run r;

	/* the supervisor: a real controller, attached all along */
	session(pty, NULL);
	say(pty, "label 0 supervised", "labeled supervised");
	session(pty2, "--observe");
	cr_assert(strstr(pty2->out, "as an observer"), "%s", pty2->out);
	say(pty2, "status", "controller");
	say(pty2, "fds", "supervised");
	say(pty2, "ps", NULL);
	say(pty2, "pending", NULL);
	say(pty2, "policy", NULL);
	say(pty2, "help", "commands");
	say(pty2, "label 1 intruder", "refused: this session only observes");
	say(pty2, "getpid", "call: refused: this session only observes");
	say(pty2, "fds", "supervised");
	RUN(&r, NULL, "-s", fx.sock, "--json", "fds");
	cr_assert_null(strstr(r.out, "intruder"), "%s", r.out);
	/* the supervisor never noticed */
	say(pty, "getpid", "getpid() = ");
	say(pty, "fds", "supervised");
	cr_assert_eq(ctrl_d(pty2), 0, "%s", pty2->out);
	/* a script of an observer: the refusal is its status, 5 */
	RUN(&r, "status\nlabel 1 x\nfds\n", "-s", fx.sock, "attach",
	    "--observe");
	cr_assert_eq(r.status, 5, "%s", r.err);
	cr_assert(strstr(r.err, "label: refused"), "%s", r.err);
	cr_assert(strstr(r.out, "supervised"), "fds ran after: %s", r.out);
	say(pty, "getpid", "getpid() = ");
	cr_assert_eq(ctrl_d(pty), 0);
}

Test(attach, taken_over_session_ends)
{
	struct run r;
	int st;

	session(pty, NULL);
	say(pty, "getpid", "getpid() = ");
	RUN(&r, NULL, "-s", fx.sock, "--take-over", "call", "getpid");
	cr_assert_eq(r.status, 0, "%s", r.err);
	/* Nothing typed: the prompt's wait watches the connection.
	 * Before, the session ended only at the next line. */
	st = kpty_wait(pty);
	/* 6 (conflict): the server told us who took over; the session
	 * ends, no new prompt */
	cr_assert_eq(st, 6, "status %d: %s", st, pty->out);
	cr_assert(strstr(pty->out, "taken over by pid"), "%s", pty->out);
	cr_assert(strstr(pty->out, "another controller took over"), "%s",
		  pty->out);
}

/* tetherctl attach with its stdin the pipe end in, its stderr err (-1:
 * /dev/null), stdout /dev/null: a script fed as slowly as the test likes. */
static pid_t attach_script(int in, int err)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		fx_forked();
		dup2(in, 0);
		dup2(null, 1);
		dup2(err >= 0 ? err : null, 2);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execl(ctl_path(), ctl_path(), "-s", fx.sock, "attach",
		      (char *)NULL);
		_exit(127);
	}
	fx_track(pid);
	return pid;
}

/* A script fed slowly (its pipe open, no next line yet) ends at a
 * take-over with 6 and says who took over; before, it waited for the
 * next line to find out. */
Test(attach, taken_over_script_ends_without_its_next_line)
{
	struct run r;
	int in[2], err[2], st;
	char buf[512];
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
	pid = attach_script(in[0], err[1]);
	close(in[0]);
	close(err[1]);
	cr_assert_gt(write(in[1], "getpid\n", 7), 0);
	for (int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	     !attached_as(pid) && kit_now_ms() < end;)
		kit_nap_ms(20);
	kit_nap_ms(200);	/* its getpid done, the next line awaited */
	RUN(&r, NULL, "-s", fx.sock, "--take-over", "call", "getpid");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	fx_untrack(pid);
	close(in[1]);
	n = read(err[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(err[0]);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 6, "status %#x: %s", st,
		  buf);
	cr_expect(strstr(buf, "taken over by pid"), "%s", buf);
}

Test(attach, script_mode_is_quiet)
{
	struct run r;

	RUN(&r, "getpid\nstatus\n", "-s", fx.sock, "attach");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(!strncmp(r.out, "getpid() = ", 11), "%s", r.out);
	cr_assert_null(strstr(r.out, "tether>"));
	cr_assert_null(strstr(r.out, "attached to"));
	/* the first failing line's status; the rest still ran */
	RUN(&r, "close 987\nlabel 1 \"unclosed\ngetpid\n", "-s", fx.sock,
	    "attach");
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "unbalanced quotes"), "%s", r.err);
	cr_assert(strstr(r.out, "getpid() = "), "%s", r.out);
	cr_assert_null(strstr(r.err, "usage: tetherctl attach"), "%s", r.err);
}

/* A script (stdin a pipe) gets SIGINT: while a line runs, and while it
 * waits for the next one.  Both end it with 130; the running call is
 * cancelled in the server. */
Test(attach, sigint_ends_a_script)
{
	char line[64];
	struct tether *t;
	int p[2], in[2], st;
	int64_t end;
	pid_t pid;

	cr_assert_eq(fx_connect_retry(fx.sock, 0, &t), 0);
	cr_assert_eq(fx_pipe2(t, p, 0), 0);
	tether_disconnect(t);
	for (int round = 0; round < 2; round++) {
		cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
		pid = attach_script(in[0], -1);
		close(in[0]);
		if (round == 0)
			snprintf(line, sizeof(line), "read %d @16 16\n", p[0]);
		else
			snprintf(line, sizeof(line), "getpid\n");
		cr_assert_gt(write(in[1], line, strlen(line)), 0);
		/* until the line runs (round 0: the read is pending) */
		end = kit_now_ms() + FX_DEADLINE_MS;
		while (round == 0 && !server_runs("read") &&
		       kit_now_ms() < end)
			kit_nap_ms(20);
		/* round 1: at least attached (its Ctrl-C handler follows at
		 * once), however slowly it started on a loaded machine */
		while (round == 1 && !attached_as(pid) && kit_now_ms() < end)
			kit_nap_ms(20);
		kit_nap_ms(100);
		kill(pid, SIGINT);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		fx_untrack(pid);
		close(in[1]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130,
			  "round %d: status %#x", round, st);
		cr_assert(!server_runs("read"), "the read still runs");
	}
}

/* The history file is bounded: a file of 2,500 lines is cut back to the
 * last 1,000 when a session opens it; an overlong line is not kept. */
Test(attach, history_is_bounded)
{
	char path[400], *buf;
	size_t cap = 1 << 20, n = 0, lines = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/state", fx.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state/tether", fx.dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/state/tether/history", fx.dir);
	cr_assert_not_null(f = fopen(path, "w"));
	for (int i = 0; i < 2500; i++)
		fprintf(f, "call getpid # %d\n", i);
	fclose(f);
	cr_assert_eq(chmod(path, 0644), 0);
	session(pty, NULL);
	say(pty, "getpid", "getpid() = ");
	cr_assert_eq(ctrl_d(pty), 0);
	cr_assert_not_null(buf = calloc(1, cap));
	slurp(path, buf, cap);
	for (char *p = buf; *p; p++)
		lines += *p == '\n';
	n = strlen(buf);
	cr_assert_eq(lines, 1001, "%zu lines", lines);
	cr_assert(!strncmp(buf, "call getpid # 1500\n", 19), "%.40s", buf);
	cr_assert(!strcmp(buf + n - 7, "getpid\n"));
	/* made private as it was opened */
	{
		struct stat st;

		cr_assert_eq(stat(path, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600, "%o", st.st_mode);
	}
	free(buf);
}
