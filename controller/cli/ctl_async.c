/* tetherctl pending, collect, cancel, batch: requests that outlive us. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

static void ctl_syscall_name(long nr, char *buf, size_t size)
{
	const char *name = ctl_sysname_of(nr);

	if (name)
		snprintf(buf, size, "%s", name);
	else if (nr < 0)
		snprintf(buf, size, "batch");
	else
		snprintf(buf, size, "syscall_%ld", nr);
}

static uint64_t ctl_parse_id(const char *s, bool *ok)
{
	uint64_t v = 0;

	*ok = ctl_parse_u64(s, &v) == 0 && v > 0;
	return v;
}

int ctl_pending(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_pending *v;
	char name[64], when[32];
	size_t n;
	int rc;

	(void)argv;
	if (argc != 1)
		return CTL_EX_USAGE;
	if ((rc = tether_pending(t, &v, &n)) < 0) {
		ctl_err("pending: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (!g->json)
		printf("%-8s %-16s %-8s %-20s %s\n", "ID", "SYSCALL", "STATE",
		       "SINCE", "GENERATION");
	else
		printf("[");
	for (size_t i = 0; i < n; i++) {
		time_t s = (time_t)(v[i].since_ms / 1000);
		struct tm tm;

		ctl_syscall_name(v[i].nr, name, sizeof(name));
		gmtime_r(&s, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (g->json)
			printf("%s{\"id\":%llu,\"syscall\":\"%s\",\"nr\":%ld,"
			       "\"state\":\"%s\",\"since\":\"%s\","
			       "\"since_ms\":%lld,\"generation\":%llu,"
			       "\"batch\":%s,\"waited\":%s}",
			       i ? "," : "", (unsigned long long)v[i].id, name,
			       v[i].nr, v[i].state, when,
			       (long long)v[i].since_ms,
			       (unsigned long long)v[i].generation,
			       v[i].batch ? "true" : "false",
			       v[i].waited ? "true" : "false");
		else
			printf("%-8llu %-16s %-8s %-20s %llu\n",
			       (unsigned long long)v[i].id, name, v[i].state,
			       when, (unsigned long long)v[i].generation);
	}
	if (g->json)
		printf("]\n");
	tether_free(v);
	return CTL_EX_OK;
}

/* Print a collected call the way `call` prints its own. */
static int ctl_print_collected(struct ctl *g, struct tether_call *c)
{
	struct ctl_callspec cs;

	memset(&cs, 0, sizeof(cs));
	ctl_syscall_name(c->nr, cs.name, sizeof(cs.name));
	cs.call = *c;
	for (unsigned i = 0; i < c->nargs; i++) {
		switch (c->args[i].kind) {
		case TETHER_ARG_STR:
			cs.disp[i] = CTL_DISP_STR;
			break;
		case TETHER_ARG_IN:
			cs.disp[i] = CTL_DISP_IN;
			break;
		case TETHER_ARG_OUT:
		case TETHER_ARG_INOUT:
			cs.disp[i] = CTL_DISP_OUT;
			break;
		default:
			cs.disp[i] = CTL_DISP_INT;
			cs.sgn[i] = (int64_t)c->args[i].value < 0;
			break;
		}
	}
	return ctl_call_report(g, &cs, TETHER_CAUSE_SYSCALL);
}

/* A result as call prints it: "= 3", "= -1 ENOENT (No such ...)". */
static void ctl_print_ret(long ret)
{
	const char *name;

	if (ret >= 0 || ret < -4095) {
		printf("= %ld", ret);
		return;
	}
	name = tp_errno_name((int)-ret);
	if (name)
		printf("= -1 %s (%s)", name, strerror((int)-ret));
	else
		printf("= -1 E%ld (%s)", -ret, strerror((int)-ret));
}

/* A parked batch: how many entries ran, where --stop stopped, and each
 * entry's result and returned bytes (the entries' calls are not kept). */
static void ctl_print_batch(struct ctl *g, uint64_t id, long completed,
			    const struct tether_batch_result *res, size_t n,
			    int stopped)
{
	const char *name;

	if (!g->json) {
		printf("batch %llu: %ld entries ran\n", (unsigned long long)id,
		       completed);
		for (size_t i = 0; i < n; i++) {
			printf("  %zu ", i);
			ctl_print_ret(res[i].ret);
			for (unsigned k = 0; k < res[i].nargs && k < 6; k++) {
				size_t len = res[i].out_len[k];

				if (!res[i].out[k])
					continue;
				printf(" arg%u=", k);
				ctl_print_bytes(stdout, res[i].out[k],
						len < CTL_PRINT_MAX ? len
								    : CTL_PRINT_MAX,
						'"');
			}
			putchar('\n');
		}
		if (stopped >= 0)
			printf("# stopped at entry %d; the rest did not run\n",
			       stopped);
		return;
	}
	printf("{\"id\":%llu,\"batch\":true,\"completed\":%ld,"
	       "\"stopped_at\":", (unsigned long long)id, completed);
	if (stopped >= 0)
		printf("%d", stopped);
	else
		fputs("null", stdout);
	fputs(",\"results\":[", stdout);
	for (size_t i = 0; i < n; i++) {
		long ret = res[i].ret;
		bool err = ret < 0 && ret >= -4095;

		printf("%s{\"ret\":%ld,\"errno\":", i ? "," : "",
		       err ? -1 : ret);
		name = err ? tp_errno_name((int)-ret) : NULL;
		if (err && name)
			printf("\"%s\",\"errno_num\":%ld", name, -ret);
		else if (err)
			printf("\"E%ld\",\"errno_num\":%ld", -ret, -ret);
		else
			fputs("null,\"errno_num\":null", stdout);
		for (int hex = 0; hex < 2; hex++) {
			fputs(hex ? ",\"outs_hex\":[" : ",\"outs\":[", stdout);
			for (unsigned k = 0, first = 1; k < res[i].nargs && k < 6;
			     k++) {
				if (!res[i].out[k])
					continue;
				if (!first)
					putchar(',');
				first = 0;
				if (hex)
					ctl_json_hex(stdout, res[i].out[k],
						     res[i].out_len[k]);
				else
					ctl_json_string(stdout, res[i].out[k],
							res[i].out_len[k]);
			}
			putchar(']');
		}
		putchar('}');
	}
	fputs("]}\n", stdout);
}

int ctl_collect(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_batch_result *res = NULL;
	struct tether_call *call;
	int64_t wait = -1;
	int stopped;
	size_t n;
	uint64_t id;
	char *end;
	bool ok;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+nt:", opts, NULL)) != -1) {
		if (c == 'n') {
			wait = 0;
		} else if (c == 't') {
			wait = (int64_t)(strtod(optarg, &end) * 1000.0);
			if (*end || wait < 0)
				return CTL_EX_USAGE;
		} else {
			return CTL_EX_USAGE;
		}
	}
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	id = ctl_parse_id(argv[optind], &ok);
	if (!ok)
		return CTL_EX_USAGE;
	if ((rc = tether_collect_batch(t, id, wait, &call, &res, &n,
				       &stopped)) < 0) {
		ctl_err("collect %llu: %s", (unsigned long long)id,
			ctl_why(t, rc));
		tether_free(call);
		tether_free(res);
		return ctl_status_of(rc);
	}
	if (call->nr < 0) {
		ctl_print_batch(g, id, call->ret, res, n, stopped);
		rc = CTL_EX_OK;
	} else {
		rc = ctl_print_collected(g, call);
	}
	tether_free(call);
	tether_free(res);
	return rc;
}

int ctl_cancel(struct ctl *g, struct tether *t, int argc, char **argv)
{
	uint64_t id;
	bool ok;
	int rc;

	if (argc != 2)
		return CTL_EX_USAGE;
	id = ctl_parse_id(argv[1], &ok);
	if (!ok)
		return CTL_EX_USAGE;
	if ((rc = tether_cancel(t, id)) < 0) {
		ctl_err("cancel %llu: %s", (unsigned long long)id,
			ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json)
		printf("{\"id\":%llu,\"cancelled\":true}\n",
		       (unsigned long long)id);
	else
		printf("request %llu cancelled\n", (unsigned long long)id);
	return CTL_EX_OK;
}

/* ---- batch -------------------------------------------------------------- */

int ctl_batch(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "stop", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_calls b = { 0 };
	struct tether_call *calls = NULL;
	unsigned flags = 0;
	int c, rc, stopped, status = CTL_EX_OK;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+s", opts, NULL)) != -1) {
		if (c != 's')
			return CTL_EX_USAGE;
		flags |= TETHER_BATCH_STOP;
	}
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = ctl_calls_read(&b, "batch", argv[optind])) != CTL_EX_OK)
		return rc;
	if (!(calls = ctl_calls_array(&b))) {
		ctl_calls_free(&b);
		return CTL_EX_FAILED;
	}
	if ((rc = tether_batch(t, calls, b.n, flags, &stopped)) < 0) {
		ctl_err("batch: %s", ctl_why(t, rc));
		status = ctl_status_of(rc);
	} else {
		for (size_t i = 0; i < b.n; i++) {
			b.cs[i].call = calls[i];
			if (g->json)
				ctl_call_print_json(stdout, &b.cs[i]);
			else
				ctl_call_print(stdout, &b.cs[i]);
			if (calls[i].ret < 0 && status == CTL_EX_OK &&
			    g->json) {
				/* the error object after the entries names
				 * the first that failed */
				ctl_err_cause(TETHER_CAUSE_SYSCALL);
				ctl_err_errno((int)-calls[i].ret, "batch: entry "
					      "%zu (%s): %s", i, b.cs[i].name,
					      strerror((int)-calls[i].ret));
			}
			if (calls[i].ret < 0)
				status = CTL_EX_FAILED;
		}
		if (stopped >= 0 && !g->json)
			printf("# stopped at entry %d; the rest did not run\n",
			       stopped);
	}
	free(calls);
	ctl_calls_free(&b);
	return status;
}
