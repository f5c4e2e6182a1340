/* placeholder: module under construction */
extern int trpt_placeholder_ingest_filename_c;
