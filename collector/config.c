/* placeholder: module under construction */
extern int trpt_placeholder_collector_config_c;
