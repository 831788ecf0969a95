/* bench_args: the options every bench takes, and its own (bench_common.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

#define BENCH_OPTS_MAX 8		/* a bench's own options */
#define BENCH_OPT_BASE 256		/* getopt values of those */

/* ---- options ---------------------------------------------------------- */

/* The word of --pin; -EINVAL for any other. */
static int bench_parse_pin(const char *s, enum bench_pin *pin)
{
	for (int i = PIN_SAME; i <= PIN_NONE; i++)
		if (!strcmp(s, bench_pin_names[i])) {
			*pin = (enum bench_pin)i;
			return 0;
		}
	return -EINVAL;
}

/* Parse a long in [min, max]; -EINVAL otherwise. */
int bench_parse_long(const char *s, long min, long max, long *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || *end || x < min || x > max)
		return -EINVAL;
	*v = x;
	return 0;
}

/* The synopsis: words after the program's name, wrapped. */
static void bench_synopsis(FILE *f, const char *argv0,
			   const struct bench_opt *opts)
{
	const char *tail[] = { " [--tetherd PATH]", " [--json]" };
	int col = fprintf(f, "usage: %s [--pin same|cross|none]", argv0);
	char w[64];

	for (int i = 0; opts[i].name; i++) {
		int n = snprintf(w, sizeof(w), " [--%s%s]", opts[i].name,
				 opts[i].num ? " N" : "");

		if (col + n > 72)
			col = fprintf(f, "\n      ") - 1;
		col += fprintf(f, "%s", w);
	}
	for (int i = 0; i < 2; i++) {
		if (col + (int)strlen(tail[i]) > 72)
			col = fprintf(f, "\n      ") - 1;
		col += fprintf(f, "%s", tail[i]);
	}
	fprintf(f, "\n");
}

/* The usage, the bench's own options with their defaults (defs). */
static void bench_usage(FILE *f, const char *argv0, const char *peers,
			const struct bench_opt *opts, const long *defs)
{
	bench_synopsis(f, argv0, opts);
	fprintf(f, "  --pin same     the bench and its peers on CPU %d "
		"(default)\n", BENCH_CPU_CLIENT);
	fprintf(f, "  --pin cross    the bench on CPU %d, its peers on CPU %d\n"
		"                 (peers: %s)\n", BENCH_CPU_CLIENT,
		BENCH_CPU_PEER, peers);
	fprintf(f, "  --pin none     no pinning\n");
	for (int i = 0; opts[i].name; i++) {
		fprintf(f, "  --%-12s %s", opts[i].name, opts[i].help);
		if (opts[i].num)
			fprintf(f, " (default %ld)", defs[i]);
		fprintf(f, "\n");
	}
	fprintf(f, "  --tetherd      default $TETHERD, else ./server/tetherd\n");
}

int bench_args_parse(int argc, char **argv, const char *peers,
		     const struct bench_opt *opts, struct bench_args *a)
{
	struct option lopts[BENCH_OPTS_MAX + 5] = {
		{ "pin", required_argument, NULL, 'p' },
		{ "tetherd", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
	};
	const char *env = getenv("TETHERD");
	long defs[BENCH_OPTS_MAX];
	int c, n;

	a->pin = PIN_SAME;
	a->json = false;
	a->tetherd = env && *env ? env : "./server/tetherd";
	for (n = 0; opts[n].name && n < BENCH_OPTS_MAX; n++) {
		lopts[4 + n] = (struct option){ opts[n].name,
			opts[n].num ? required_argument : no_argument, NULL,
			BENCH_OPT_BASE + n };
		defs[n] = opts[n].num ? *opts[n].num : 0;
	}
	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		const struct bench_opt *o = &opts[c - BENCH_OPT_BASE];

		if (c == 'p' && bench_parse_pin(optarg, &a->pin) == 0)
			continue;
		if (c == 't' || c == 'j') {
			if (c == 't')
				a->tetherd = optarg;
			else
				a->json = true;
			continue;
		}
		if (c == 'h') {
			bench_usage(stdout, argv[0], peers, opts, defs);
			exit(0);
		}
		if (c < BENCH_OPT_BASE || c >= BENCH_OPT_BASE + n)
			goto bad;
		if (!o->num)
			*o->flag = true;
		else if (bench_parse_long(optarg, o->min, o->max, o->num) < 0)
			goto bad;
	}
	if (optind == argc)
		return 0;
bad:
	bench_usage(stderr, argv[0], peers, opts, defs);
	return -EINVAL;
}
