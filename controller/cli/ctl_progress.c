/*
 * put and get progress on stderr: a bar with the rate and the time left
 * on a terminal, or for scripts (--progress=json) one JSON object a
 * line, at most one a second, and a last one with "done":true.  The
 * bar is off when stderr is not a terminal unless asked (--progress);
 * --no-progress and --quiet turn both off.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* The bar is redrawn at most this often (and at every whole percent). */
#define CTL_BAR_EVERY 0.25
#define CTL_JSON_EVERY 1.0

double ctl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int ctl_progress_parse(const char *arg, enum ctl_progress_mode *mode)
{
	if (!arg || !strcmp(arg, "bar"))
		*mode = CTL_PROGRESS_BAR;
	else if (!strcmp(arg, "json"))
		*mode = CTL_PROGRESS_JSON;
	else if (!strcmp(arg, "none"))
		*mode = CTL_PROGRESS_NONE;
	else
		return -1;
	return 0;
}

bool ctl_progress_begin(struct ctl_progress *p, enum ctl_progress_mode mode,
			const char *op, bool tty_ok)
{
	memset(p, 0, sizeof(*p));
	if (mode == CTL_PROGRESS_AUTO)
		mode = tty_ok && isatty(2) ? CTL_PROGRESS_BAR
					   : CTL_PROGRESS_NONE;
	p->mode = mode;
	p->op = op;
	p->start = ctl_now();
	p->last = -1;
	p->last_pct = -1;
	return mode != CTL_PROGRESS_NONE;
}

/* Bytes in a short human form: 812 B, 3.4 KiB, 12.0 MiB, 1.2 GiB. */
static void ctl_human(char *buf, size_t size, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
}

static void ctl_bar(struct ctl_progress *p, double elapsed, double rate,
		    bool done)
{
	char have[32], all[32], speed[32], eta[32] = "";
	int pct = p->total ? (int)(p->done * 100 / p->total) : -1;

	ctl_human(have, sizeof(have), (double)p->done);
	ctl_human(speed, sizeof(speed), rate);
	if (p->total && rate > 0 && !done) {
		unsigned long s = (unsigned long)((double)(p->total - p->done) /
						  rate + 0.5);

		snprintf(eta, sizeof(eta), "  ETA %lu:%02lu", s / 60, s % 60);
	} else if (done) {
		snprintf(eta, sizeof(eta), "  in %.1f s", elapsed);
	}
	if (p->total) {
		ctl_human(all, sizeof(all), (double)p->total);
		fprintf(stderr, "\r%3d%% [%-30.*s] %s/%s  %s/s%s\033[K", pct,
			pct * 30 / 100, "##############################",
			have, all, speed, eta);
	} else {
		fprintf(stderr, "\r%s  %s/s%s\033[K", have, speed, eta);
	}
	p->drawn = true;
}

static void ctl_json_line(struct ctl_progress *p, double elapsed, double rate,
			  bool done)
{
	fprintf(stderr, "{\"progress\":\"%s\",\"bytes\":%llu,\"total\":", p->op,
		(unsigned long long)p->done);
	if (p->total)
		fprintf(stderr, "%llu", (unsigned long long)p->total);
	else
		fputs("null", stderr);
	fprintf(stderr, ",\"elapsed\":%.3f,\"rate\":%.0f,\"eta\":", elapsed,
		rate);
	if (done)
		fputs("0", stderr);
	else if (p->total && rate > 0)
		fprintf(stderr, "%.1f", (double)(p->total - p->done) / rate);
	else
		fputs("null", stderr);
	fprintf(stderr, ",\"done\":%s}\n", done ? "true" : "false");
	fflush(stderr);
}

static void ctl_progress_show(struct ctl_progress *p, bool done)
{
	double now = ctl_now(), elapsed = now - p->start;
	double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
	int pct = p->total ? (int)(p->done * 100 / p->total) : -1;

	if (p->mode == CTL_PROGRESS_JSON) {
		if (!done && p->last >= 0 && now - p->last < CTL_JSON_EVERY)
			return;
		if (!done && p->last < 0 && elapsed < CTL_JSON_EVERY)
			return;	/* the first line after a second */
		ctl_json_line(p, elapsed, rate, done);
	} else if (p->mode == CTL_PROGRESS_BAR) {
		if (!done && pct == p->last_pct && p->last >= 0 &&
		    now - p->last < CTL_BAR_EVERY)
			return;
		ctl_bar(p, elapsed, rate, done);
	}
	p->last = now;
	p->last_pct = pct;
}

void ctl_progress_cb(uint64_t done, uint64_t total, void *arg)
{
	struct ctl_progress *p = arg;

	p->done = done;
	p->total = total;
	ctl_progress_show(p, false);
}

void ctl_progress_end(struct ctl_progress *p, bool ok)
{
	if (p->mode == CTL_PROGRESS_NONE)
		return;
	if (ok)
		ctl_progress_show(p, true);
	if (p->mode == CTL_PROGRESS_BAR && p->drawn)
		fputc('\n', stderr);
}
