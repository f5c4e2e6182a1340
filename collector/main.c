/* tlsrpt-collector: collects SMTP TLS reports (RFC 8460) into SQLite. */

#include <locale.h>
#include <signal.h>

#include "collector/cli.h"
#include "common/lib.h"
#include "ingest/validate.h"

/* A library loaded on first use (common/lib.h) could not be: say which,
 * before the caller's own message about what then failed. */
static void
lib_failed(const char *msg)
{
	trpt_cli_warn("%s", msg);
}

int
main(int argc, char **argv)
{
	/* A reader closing a pipe ("... | head") must not kill us mid-write
	 * of the database; writes then fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	setlocale(LC_CTYPE, "C");
	/* Before any thread: jansson's allocator is process-wide. */
	trpt_validate_init();
	trpt_lib_set_report(lib_failed);
	return trpt_cli_main(argc, argv);
}
