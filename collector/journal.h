#pragma once
/*
 * Log lines of the run command, for journald: one line per event on
 * standard error, prefixed with its syslog priority ("<3>" ... "<7>"),
 * control characters escaped so that text from a server or a report
 * cannot forge a second line.  Callers never pass secrets.
 */

#define TRPT_LOG_ERR     3
#define TRPT_LOG_WARNING 4
#define TRPT_LOG_NOTICE  5
#define TRPT_LOG_INFO    6
#define TRPT_LOG_DEBUG   7

void trpt_journal(int prio, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
