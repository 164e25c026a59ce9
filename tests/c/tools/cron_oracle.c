/* cron_oracle: the C side of tests/python/test_cron_differential.py.  Reads
 * lines "EXPR<TAB>TZ<TAB>START_EPOCH<TAB>N" on stdin and answers each with one
 * line: "ok<TAB>t1,t2,...,tN" (the next N fire times after START, each
 * strictly after the one before) or "err<TAB>message".  TZ may be empty for
 * UTC.  Intervals are anchored at START.  A trigger that runs out (a one-shot)
 * answers with fewer than N times.  Output is flushed per line so a driver may
 * talk to it interactively. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  if (!*s) return -1;
  long long v = strtoll(s, &end, 10);
  if (*end) return -1;
  *out = v;
  return 0;
}

static void answer(char *line) {
  char *field[4];
  char err[256];
  int64_t start, n;
  size_t nf = 0;

  line[strcspn(line, "\r\n")] = '\0';
  for (char *p = line; nf < 4; nf++) {
    field[nf] = p;
    char *tab = strchr(p, '\t');
    if (!tab) {
      nf++;
      break;
    }
    *tab = '\0';
    p = tab + 1;
  }
  if (nf != 4 || parse_i64(field[2], &start) != 0 || parse_i64(field[3], &n) != 0 || n < 0 ||
      n > 10000) {
    printf("err\tmalformed input line (expected EXPR<TAB>TZ<TAB>START_EPOCH<TAB>N)\n");
    return;
  }
  fpq__trigger *t;
  if (fpq__trigger_parse(field[0], field[1], &t, err, sizeof err) != 0) {
    printf("err\t%s\n", err);
    return;
  }
  fpq__trigger_set_anchor(t, start);
  fputs("ok\t", stdout);
  int64_t cur = start, next;
  for (int64_t i = 0; i < n && fpq__trigger_next(t, cur, &next) == 0; i++) {
    printf(i ? ",%" PRId64 : "%" PRId64, next);
    cur = next;
  }
  putchar('\n');
  fpq__trigger_free(t);
}

int main(void) {
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    answer(line);
    fflush(stdout);
  }
  free(line);
  fpq__tz_cache_clear();
  return 0;
}
