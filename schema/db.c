/* placeholder: module under construction */
extern int trpt_placeholder_schema_db_c;
