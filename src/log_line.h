/* log_line.h: one line of a worker's or scheduler's log on stderr, the same shape from
 * every part of them: "2026-12-01T02:00:00 fpq ROLE NAME: message". */
#ifndef FPQ_LOG_LINE_H
#define FPQ_LOG_LINE_H

#include <stdarg.h>

/* role: "worker" or "scheduler"; name: the worker's or scheduler's name. */
void fpq__log_line(const char *role, const char *name, const char *fmt, va_list ap);

#endif
