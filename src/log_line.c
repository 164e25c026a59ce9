/* log_line.c: see log_line.h. The line is formatted whole, then written with one call,
 * so lines of threads (the lease keeper's) and processes sharing stderr do not mix. */
#include "log_line.h"

#include <stdio.h>

#include "clock.h"
#include "fpq.h"

void fpq__log_line(const char *role, const char *name, const char *fmt, va_list ap) {
  char when[FPQ_TIME_TEXT_MAX], line[1024];
  fpq_format_time(fpq__now(), when, sizeof when);
  vsnprintf(line, sizeof line, fmt, ap);
  fprintf(stderr, "%.19s fpq %s %s: %s\n", when, role, name, line);
}
