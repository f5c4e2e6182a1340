/* placeholder: module under construction */
extern int trpt_placeholder_ingest_mbox_c;
