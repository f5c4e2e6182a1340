/* placeholder: module under construction */
extern int trpt_placeholder_report_export_c;
