/* placeholder: module under construction */
extern int trpt_placeholder_report_csv_c;
