#include "collector/journal.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void
trpt_journal(int prio, const char *fmt, ...)
{
	char msg[1024], line[2048];
	size_t i, n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = (size_t)snprintf(line, sizeof(line), "<%d>", prio);
	for (i = 0; msg[i] != '\0' && n + 5 < sizeof(line); i++) {
		unsigned char c = (unsigned char)msg[i];

		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(
			    line + n, sizeof(line) - n, "\\x%02x", c);
		else
			line[n++] = (char)c;
	}
	line[n++] = '\n';
	/* One write per line: lines of threads do not interleave. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
