/* tetherctl fds, label, unlabel, gc: what the server holds, and cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* O_RDWR|O_APPEND|... for the flags F_GETFL reports. */
static void ctl_flags_text(int fl, char *buf, size_t size)
{
	static const struct { int bit; const char *name; } bits[] = {
		{ O_APPEND, "O_APPEND" }, { O_NONBLOCK, "O_NONBLOCK" },
		{ O_DSYNC, "O_DSYNC" }, { O_DIRECT, "O_DIRECT" },
		{ O_NOATIME, "O_NOATIME" }, { O_PATH, "O_PATH" },
		{ O_ASYNC, "O_ASYNC" },
	};
	int acc = fl & O_ACCMODE;
	size_t len;

	snprintf(buf, size, "%s", acc == O_RDONLY ? "O_RDONLY"
				  : acc == O_WRONLY ? "O_WRONLY"
						    : "O_RDWR");
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		if ((fl & bits[i].bit) != bits[i].bit)
			continue;
		len = strlen(buf);
		snprintf(buf + len, size - len, "|%s", bits[i].name);
	}
}

static void ctl_kind_text(const struct tether_fdinfo *fi, char *buf,
			  size_t size)
{
	if (fi->family[0])
		snprintf(buf, size, "%s(%s,%s)", fi->kind, fi->family,
			 fi->socktype);
	else
		snprintf(buf, size, "%s", fi->kind);
}

static void ctl_fd_json(const struct tether_fdinfo *fi)
{
	char flags[128];

	ctl_flags_text(fi->flags, flags, sizeof(flags));
	printf("{\"fd\":%d,\"kind\":", fi->fd);
	ctl_json_string(stdout, fi->kind, strlen(fi->kind));
	printf(",\"target\":");
	ctl_json_string(stdout, fi->target, strlen(fi->target));
	printf(",\"flags\":\"%s\",\"flags_num\":%d,\"cloexec\":%s,\"label\":",
	       flags, fi->flags, fi->cloexec ? "true" : "false");
	if (fi->label[0])
		ctl_json_string(stdout, fi->label, strlen(fi->label));
	else
		printf("null");
	printf(",\"internal\":%s", fi->internal ? "true" : "false");
	if (fi->family[0])
		printf(",\"family\":\"%s\",\"socktype\":\"%s\"", fi->family,
		       fi->socktype);
	if (fi->role[0])
		printf(",\"role\":\"%s\"", fi->role);
	printf("}");
}

/* A label and a target (a path may hold a newline) escaped: one fd,
 * one line. */
static void ctl_fd_row(const struct tether_fdinfo *fi)
{
	char flags[128], kind[64], name[4 * 256 + 1];

	ctl_flags_text(fi->flags, flags, sizeof(flags));
	ctl_kind_text(fi, kind, sizeof(kind));
	ctl_escape_cell(fi->role[0] ? fi->role : fi->label[0] ? fi->label : "-",
			name, sizeof(name));
	printf("%-6d %-24s %-3s %-22s %-16s ", fi->fd, kind,
	       fi->cloexec ? "yes" : "no", flags, name);
	ctl_print_escaped(stdout, fi->target);
	putchar('\n');
}

int ctl_fds(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_fdinfo *v, *iv;
	size_t n, ni;
	int rc;

	(void)argv;
	if (argc > 1)
		return CTL_EX_USAGE;
	if ((rc = tether_list_fds(t, &v, &n, &iv, &ni)) < 0) {
		ctl_err("fds: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("[");
		for (size_t i = 0; i < n + ni; i++) {
			printf(i ? "," : "");
			ctl_fd_json(i < n ? &v[i] : &iv[i - n]);
		}
		printf("]\n");
	} else {
		printf("%-6s %-24s %-3s %-22s %-16s %s\n", "FD", "KIND", "CLO",
		       "FLAGS", "LABEL", "TARGET");
		for (size_t i = 0; i < n; i++)
			ctl_fd_row(&v[i]);
		printf("internal (tetherd's own, never collected):\n");
		for (size_t i = 0; i < ni; i++)
			ctl_fd_row(&iv[i]);
	}
	tether_free(v);
	tether_free(iv);
	return CTL_EX_OK;
}

static int ctl_parse_fd(const char *s, int *fd)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < 0 || v > 0x7fffffff)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

int ctl_label(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int fd, rc;

	if (argc != 3 || ctl_parse_fd(argv[1], &fd) < 0)
		return CTL_EX_USAGE;
	if ((rc = tether_label(t, fd, argv[2])) < 0) {
		ctl_err("label: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"fd\":%d,\"label\":", fd);
		ctl_json_string(stdout, argv[2], strlen(argv[2]));
		printf("}\n");
	} else {
		printf("fd %d labeled ", fd);
		ctl_print_escaped(stdout, argv[2]);
		putchar('\n');
	}
	return CTL_EX_OK;
}

int ctl_unlabel(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int rc;

	if (argc != 2)
		return CTL_EX_USAGE;
	if ((rc = tether_unlabel(t, argv[1])) < 0) {
		ctl_err("unlabel: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"unlabeled\":");
		ctl_json_string(stdout, argv[1], strlen(argv[1]));
		printf("}\n");
	} else {
		printf("label ");
		ctl_print_escaped(stdout, argv[1]);
		printf(" removed\n");
	}
	return CTL_EX_OK;
}

/* --keep 3,4 --keep 7: append to a growing list. */
static int ctl_keep_add(const char *list, int **keep, size_t *n)
{
	char *copy = strdup(list), *tok, *save = NULL;
	int fd, rc = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		int *nv = realloc(*keep, (*n + 1) * sizeof(int));

		if (!nv) {
			rc = -ENOMEM;
		} else {
			*keep = nv;
			rc = ctl_parse_fd(tok, &fd);
			if (!rc)
				(*keep)[(*n)++] = fd;
		}
	}
	free(copy);
	return rc;
}

static void ctl_gc_print(const struct ctl *g, const int *closed, size_t n,
			 bool dry)
{
	if (g->json) {
		printf("{\"closed\":[");
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", closed[i]);
		printf("],\"count\":%zu,\"dry_run\":%s}\n", n,
		       dry ? "true" : "false");
		return;
	}
	if (!n) {
		printf("nothing to close\n");
		return;
	}
	printf("%s %zu fd%s:", dry ? "would close" : "closed", n,
	       n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++)
		printf(" %d", closed[i]);
	printf("\n");
}

int ctl_gc(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep", required_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 },
	};
	int *keep = NULL, *closed = NULL, c, rc;
	size_t nkeep = 0, nclosed = 0;
	bool dry = false;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+k:n", opts, NULL)) != -1) {
		if (c == 'k' && ctl_keep_add(optarg, &keep, &nkeep) == 0)
			continue;
		if (c == 'n') {
			dry = true;
			continue;
		}
		free(keep);
		return CTL_EX_USAGE;
	}
	if (optind != argc) {
		free(keep);
		return CTL_EX_USAGE;
	}
	rc = tether_gc(t, keep, nkeep, dry ? TETHER_GC_DRY_RUN : 0, &closed,
		       &nclosed);
	free(keep);
	if (rc < 0) {
		ctl_err("gc: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	ctl_gc_print(g, closed, nclosed, dry);
	tether_free(closed);
	return CTL_EX_OK;
}
