/* tlsrpt-collector: collects SMTP TLS reports (RFC 8460) into SQLite. */

#include <locale.h>
#include <signal.h>

#include "collector/cli.h"
#include "ingest/validate.h"

int
main(int argc, char **argv)
{
	/* A reader closing a pipe ("... | head") must not kill us mid-write
	 * of the database; writes then fail with EPIPE instead. */
	signal(SIGPIPE, SIG_IGN);
	setlocale(LC_CTYPE, "C");
	/* Before any thread: jansson's allocator is process-wide. */
	trpt_validate_init();
	return trpt_cli_main(argc, argv);
}
