/* placeholder: module under construction */
extern int trpt_placeholder_ingest_mime_c;
