/* tetherctl policy: what the server will run for a controller. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static void ctl_policy_json(const struct tether_policy *p)
{
	printf("{\"active\":%s", p->active ? "true" : "false");
	if (p->active) {
		printf(",\"path\":");
		ctl_json_string(stdout, p->path, strlen(p->path));
		printf(",\"default\":");
		ctl_json_string(stdout, p->default_rule,
				strlen(p->default_rule));
		printf(",\"rules\":[");
		for (size_t i = 0; i < p->nrules; i++) {
			printf(i ? "," : "");
			ctl_json_string(stdout, p->rules[i],
					strlen(p->rules[i]));
		}
		printf("]");
	}
	printf("}\n");
}

int ctl_policy(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_policy *p;
	int rc;

	(void)argv;
	if (argc != 1)
		return CTL_EX_USAGE;
	if ((rc = tether_policy(t, &p)) < 0) {
		ctl_err("policy: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		ctl_policy_json(p);
	} else if (!p->active) {
		printf("no policy: every syscall is allowed (tetherd was "
		       "started without --policy)\n");
	} else {
		printf("policy %s, %zu rules\n%s\n", p->path, p->nrules,
		       p->default_rule);
		for (size_t i = 0; i < p->nrules; i++)
			printf("%s\n", p->rules[i]);
	}
	tether_free(p);
	return CTL_EX_OK;
}
