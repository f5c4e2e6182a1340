#include "common/limits.h"

void
trpt_limits_default(struct trpt_limits *l)
{
	l->max_message = TRPT_MAX_MESSAGE_DEFAULT;
	l->max_inflated = TRPT_MAX_INFLATED_DEFAULT;
	l->max_inflated_input = TRPT_MAX_INFLATED_INPUT_DEFAULT;
	l->max_json = TRPT_MAX_JSON_DEFAULT;
	l->max_depth = TRPT_MAX_DEPTH_DEFAULT;
	l->max_parts = TRPT_MAX_PARTS_DEFAULT;
	l->max_policies = TRPT_MAX_POLICIES_DEFAULT;
	l->max_failures = TRPT_MAX_FAILURES_DEFAULT;
}
