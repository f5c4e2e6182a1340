/* placeholder: module under construction */
extern int trpt_placeholder_ingest_pipeline_c;
