/* Trigger parsing and next-fire computation (see cron.h for the spellings).
 *
 * A cron expression is compiled into one bit set per field; next() then walks
 * the calendar field by field (month, day, hour, minute, second), jumping to
 * the next set bit instead of stepping minute by minute, so a call costs a few
 * hundred operations even for "Feb 29 that is a Sunday" (every 28-40 years).
 * The Gregorian calendar repeats every 400 years, so a search that finds
 * nothing in 401 years never will; parse rejects the expressions that could
 * never fire, and next() stops at 401 years or the year 9999 regardless.
 *
 * DST rule.  Fields are matched against local wall-clock time in the trigger's
 * zone, and every matching wall-clock time fires exactly once:
 *   - a wall time skipped by a spring-forward fires at the first instant after
 *     the gap (02:30 on Europe/Berlin's spring-forward day fires at 03:00
 *     CEST); all skipped matches of one gap coalesce into that one fire;
 *   - a wall time repeated by a fall-back fires at its first occurrence only
 *     when the hour field is fixed ("30 1 * * *" fires at 01:30 EDT, not again
 *     at 01:30 EST on America/New_York's fall-back day), and in both passes
 *     when the hour field is a wildcard (begins with '*', with or without a
 *     step, as in "0 * * * *"): such a job runs on the new clock, as Vixie cron and
 *     cronie run it, so an hourly job does not leave a two-hour gap in real
 *     time.
 * So a fixed-hour job never repeats a local time, and no job loses one.  Jobs
 * that must run every N real minutes across DST changes should use "every Nm".
 * croniter (the Python library) differs in both places: it fires a repeated
 * wall time twice, and when the hour field is '*' it drops skipped wall times
 * instead of firing them when the gap ends; docs/cron.md has examples.
 *
 * Day-of-month and day-of-week combine the Vixie way: when both fields are
 * restricted (neither begins with '*'), a day matches if EITHER matches;
 * otherwise both must. */
#include "cron.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"

struct cron_spec {
  uint64_t sec, min; /* bits 0-59 */
  uint32_t hour;     /* bits 0-23 */
  uint32_t dom;      /* bits 1-31 */
  uint32_t mon;      /* bits 1-12 */
  uint32_t dow;      /* bits 0-6, Sunday = 0 (7 is folded into 0) */
  int dom_star, dow_star;
  int hour_star; /* the hour field begins with '*': runs in both passes of a fall-back */
};

struct fpq__trigger {
  int kind;
  fpq__tz *tz; /* a reference, released by fpq__trigger_free */
  struct cron_spec cron;
  int64_t interval; /* seconds, > 0 */
  int64_t anchor;
  int64_t at; /* one-shot instant */
};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };

struct field_desc {
  const char *name;
  int lo, hi;               /* values a user may write */
  int star_hi;              /* where '*' and "a/n" stop: day-of-week's '*' is 0-6, not 0-7 */
  const char *const *names; /* names[i] is value lo_name + i */
  int lo_name;
  const char *names_hint;
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field_desc fields[] = {
    [F_SEC] = {"second", 0, 59, 59, NULL, 0, NULL},
    [F_MIN] = {"minute", 0, 59, 59, NULL, 0, NULL},
    [F_HOUR] = {"hour", 0, 23, 23, NULL, 0, NULL},
    [F_DOM] = {"day-of-month", 1, 31, 31, NULL, 0, NULL},
    [F_MON] = {"month", 1, 12, 12, month_names, 1, "JAN-DEC"},
    [F_DOW] = {"day-of-week", 0, 7, 6, dow_names, 0, "SUN-SAT"},
};

static const struct {
  const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

#define MAX_INTERVAL (INT64_C(3650) * 86400) /* ten years */

/* ---- small helpers ------------------------------------------------------ */

/* Only space and tab separate fields: a newline, CR, VT or FF is refused as a control
 * character (see fpq__trigger_parse), never taken as a separator. */
static int is_space(char c) { return c == ' ' || c == '\t'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static char upper(char c) { return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c; }

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int word_eq(const char *s, size_t len, const char *word) {
  size_t i = 0;
  for (; i < len && word[i]; i++)
    if (upper(s[i]) != upper(word[i])) return 0;
  return i == len && word[i] == '\0';
}

/* Messages quote user text, which may hold a newline or an escape sequence;
 * callers log them as one line, so control characters become '?'. */
static void one_line(char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* How one character of user text is named in a message: a printable ASCII character
 * quoted, a whole UTF-8 sequence quoted (never its first byte alone), and anything else
 * (a control character, a stray byte) as its code, never raw. */
static const char *char_text(const char *p, char out[24]) {
  const unsigned char c = (unsigned char)*p;
  if (c >= 0x20 && c < 0x7f) {
    snprintf(out, 24, "'%c'", c);
    return out;
  }
  int n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
  if (c >= 0xf5) n = 0;
  for (int i = 1; i < n; i++)
    if (((unsigned char)p[i] & 0xc0) != 0x80) n = 0;
  if (n) {
    snprintf(out, 24, "'%.*s'", n, p);
    return out;
  }
  snprintf(out, 24, c < 0x80 ? "control character 0x%02X" : "byte 0x%02X", c);
  return out;
}

/* Print at most 64 bytes of user text, so a message stays one short line. */
static int clip(size_t len) { return len > 64 ? 64 : (int)len; }

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    one_line(err);
  }
  return FPQ_EINVAL;
}

/* ---- cron fields -------------------------------------------------------- */

/* One field being parsed, for error messages that quote it. */
struct field_ctx {
  const struct field_desc *f;
  const char *text;
  size_t len;
  char *err;
  size_t errlen;
};

/* "<field> field '<text>': <what> '<token>'<tail>", or "... <what> in
 * '<token>'<tail>" when `in` is set; the token is left out when it is the
 * whole field, so "60" reads "minute field '60': value out of range 0-59". */
static int field_fail(const struct field_ctx *c, const char *tok, size_t toklen, const char *what,
                      int in, const char *tail) {
  if (tok == c->text && toklen == c->len)
    return fail(c->err, c->errlen, "%s field '%.*s': %s%s", c->f->name, clip(c->len), c->text, what,
                tail);
  return fail(c->err, c->errlen, "%s field '%.*s': %s%s '%.*s'%s", c->f->name, clip(c->len),
              c->text, what, in ? " in" : "", clip(toklen), tok, tail);
}

static int field_range_fail(const struct field_ctx *c, const char *tok, size_t toklen) {
  char tail[64];
  snprintf(tail, sizeof tail, " out of range %d-%d", c->f->lo, c->f->hi);
  return field_fail(c, tok, toklen, "value", 0, tail);
}

/* A number or, in month and day-of-week, a three-letter name.  Advances *pp. */
static int parse_value(const struct field_ctx *c, const char **pp, const char *end, int *out,
                       int *was_name) {
  const char *p = *pp, *tok = p;
  *was_name = 0;
  if (p < end && is_digit(*p)) {
    long v = 0;
    while (p < end && is_digit(*p)) {
      if (v < 100000) v = v * 10 + (*p - '0');
      p++;
    }
    if (v < c->f->lo || v > c->f->hi) return field_range_fail(c, tok, (size_t)(p - tok));
    *out = (int)v;
    *pp = p;
    return 0;
  }
  if (p < end && is_alpha(*p)) {
    while (p < end && is_alpha(*p))
      p++;
    size_t len = (size_t)(p - tok);
    if (!c->f->names) {
      char tail[96];
      snprintf(tail, sizeof tail,
               " not allowed here (expected a number %d-%d; L, W, H and ? are not supported)",
               c->f->lo, c->f->hi);
      return field_fail(c, tok, len, "name", 0, tail);
    }
    for (int i = 0; c->f->names[i]; i++)
      if (word_eq(tok, len, c->f->names[i])) {
        *out = c->f->lo_name + i;
        *was_name = 1;
        *pp = p;
        return 0;
      }
    char tail[64];
    snprintf(tail, sizeof tail, " (expected %s or a number %d-%d)", c->f->names_hint, c->f->lo,
             c->f->hi);
    return field_fail(c, tok, len, "unknown name", 0, tail);
  }
  char what[64], ch[24];
  if (p < end)
    snprintf(what, sizeof what, "unexpected character %s", char_text(p, ch));
  else
    snprintf(what, sizeof what, "missing value");
  return field_fail(c, tok == end ? c->text : tok, tok == end ? c->len : (size_t)(end - tok), what,
                    1, " (expected a number, '*', a range a-b, a list a,b or a step /n)");
}

static int parse_item(const struct field_ctx *c, const char *tok, const char *end, uint64_t *bits) {
  const struct field_desc *f = c->f;
  const char *p = tok;
  size_t toklen = (size_t)(end - tok);
  int lo, hi, step = 1, is_name, rc;

  if (p < end && *p == '*') {
    lo = f->lo;
    hi = f->star_hi;
    p++;
    if (p < end && *p != '/')
      return field_fail(c, tok, toklen, "unexpected text after '*'", 1, " (expected '*' or '*/n')");
  } else {
    if ((rc = parse_value(c, &p, end, &lo, &is_name)) != 0) return rc;
    hi = lo;
    if (p < end && *p == '-') {
      p++;
      if ((rc = parse_value(c, &p, end, &hi, &is_name)) != 0) return rc;
      /* "FRI-SUN": SUN closes a week range as 7, the way 5-7 does */
      if (c->f == &fields[F_DOW] && is_name && hi == 0 && lo > 0) hi = 7;
      if (hi < lo)
        return field_fail(c, tok, toklen, "reversed range", 0,
                          " (start must not be after end; ranges do not wrap)");
    } else if (p < end && *p == '/') {
      hi = lo > f->star_hi ? lo : f->star_hi; /* "a/n" runs to the field's end */
    }
  }
  if (p < end && *p == '/') {
    const char *s = ++p;
    long v = 0;
    while (p < end && is_digit(*p)) {
      if (v < 100000) v = v * 10 + (*p - '0');
      p++;
    }
    int span = f->star_hi - f->lo + 1;
    if (p == s)
      return field_fail(c, tok, toklen, "missing step number", 1, " (expected a/n or */n)");
    if (p < end) {
      char what[64], ch[24];
      snprintf(what, sizeof what, "unexpected character %s", char_text(p, ch));
      return field_fail(c, tok, toklen, what, 1, " (expected a number after '/')");
    }
    if (v == 0) return field_fail(c, tok, toklen, "step 0", 1, " (a step must be at least 1)");
    if (v > span) {
      char tail[96];
      snprintf(tail, sizeof tail, " (a step must be 1-%d; for longer periods use 'every')", span);
      return field_fail(c, tok, toklen, "step too large", 1, tail);
    }
    step = (int)v;
  }
  if (p < end) {
    char what[64], ch[24];
    snprintf(what, sizeof what, "unexpected character %s", char_text(p, ch));
    return field_fail(c, tok, toklen, what, 1,
                      " (expected a number, '*', a range a-b, a list a,b or a step /n)");
  }
  for (int v = lo; v <= hi; v += step)
    *bits |= UINT64_C(1) << (c->f == &fields[F_DOW] && v == 7 ? 0 : v);
  return 0;
}

static int parse_field(const struct field_desc *f, const char *text, size_t len, uint64_t *bits,
                       int *star, char *err, size_t errlen) {
  struct field_ctx c = {f, text, len, err, errlen};
  const char *end = text + len;
  *bits = 0;
  *star = len > 0 && text[0] == '*'; /* Vixie: the field's first character */
  for (const char *p = text; p <= end;) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *item_end = comma ? comma : end;
    if (item_end == p) return field_fail(&c, text, len, "empty list item", 0, " (expected a,b,c)");
    int rc = parse_item(&c, p, item_end, bits);
    if (rc) return rc;
    p = item_end + 1;
  }
  return 0;
}

/* Only when the day fields combine with AND can day-of-month starve the
 * expression; with OR, day-of-week always supplies days. */
static int never_fires(const struct cron_spec *s) {
  static const int max_dim[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (!s->dom_star && !s->dow_star) return 0;
  for (int m = 1; m <= 12; m++)
    if ((s->mon >> m & 1) && (s->dom & ((UINT64_C(2) << max_dim[m]) - 2))) return 0;
  return 1;
}

static int parse_cron(const char *text, struct cron_spec *s, char *err, size_t errlen) {
  const char *tok[7];
  size_t toklen[7], n = 0;
  for (const char *p = text; *p;) {
    while (is_space(*p))
      p++;
    if (!*p) break;
    const char *start = p;
    while (*p && !is_space(*p))
      p++;
    if (n < 7) {
      tok[n] = start;
      toklen[n] = (size_t)(p - start);
    }
    n++;
  }
  if (n != 5 && n != 6)
    return fail(err, errlen,
                "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with "
                "a leading second field, got %zu",
                n);

  /* "0 0 1 1 * 2030": a Quartz-style year field, not a 6-field expression whose
   * day-of-week is out of range; name the field the user meant. */
  if (n == 6 && toklen[5] >= 4 && strspn(tok[5], "0123456789") >= 4)
    return fail(err, errlen,
                "field 6 '%.*s' looks like a year: a year field is not supported (the 6-field "
                "form is second minute hour day-of-month month day-of-week)",
                clip(toklen[5]), tok[5]);
  static const int order5[] = {F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
  static const int order6[] = {F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW};
  const int *order = n == 6 ? order6 : order5;
  uint64_t bits[6] = {1, 0, 0, 0, 0, 0}; /* 5 fields: second 0 */
  int star[6] = {0};
  for (size_t i = 0; i < n; i++) {
    int rc = parse_field(&fields[order[i]], tok[i], toklen[i], &bits[order[i]], &star[order[i]],
                         err, errlen);
    if (rc) return rc;
  }
  *s = (struct cron_spec){.sec = bits[F_SEC],
                          .min = bits[F_MIN],
                          .hour = (uint32_t)bits[F_HOUR],
                          .dom = (uint32_t)bits[F_DOM],
                          .mon = (uint32_t)bits[F_MON],
                          .dow = (uint32_t)bits[F_DOW],
                          .dom_star = star[F_DOM],
                          .dow_star = star[F_DOW],
                          .hour_star = star[F_HOUR]};
  if (never_fires(s)) {
    size_t d = n - 3, m = n - 2;
    return fail(err, errlen,
                "day-of-month field '%.*s': no such day in the allowed months "
                "(month field '%.*s'), so the expression never fires",
                clip(toklen[d]), tok[d], clip(toklen[m]), tok[m]);
  }
  return 0;
}

/* ---- cron search -------------------------------------------------------- */

static int next_bit(uint64_t mask, int from) {
  if (from > 63) return -1;
  mask &= ~UINT64_C(0) << from;
  return mask ? __builtin_ctzll(mask) : -1;
}

static int day_matches(const struct cron_spec *s, int64_t days, int d) {
  int dom_ok = (int)(s->dom >> d & 1);
  int dow_ok = (int)(s->dow >> fpq__weekday(days) & 1);
  return s->dom_star || s->dow_star ? dom_ok && dow_ok : dom_ok || dow_ok;
}

/* Smallest matching wall-clock time >= local (seconds since 1970-01-01T00:00
 * local), skipping whole months, days, hours and minutes at a time. */
static int next_wall(const struct cron_spec *s, int64_t local, int64_t *out) {
  int64_t days = floor_div(local, 86400), sod = local - days * 86400, y;
  int mo, d, h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), sec = (int)(sod % 60);
  fpq__civil_from_days(days, &y, &mo, &d);
  int64_t limit = y + 401 > 9999 ? 9999 : y + 401;

  for (;;) {
    if (y > limit) return FPQ_ENOTFOUND;
    if (!(s->mon >> mo & 1)) {
      int nm = next_bit(s->mon, mo + 1);
      if (nm < 0 || nm > 12) {
        y++;
        nm = next_bit(s->mon, 1);
      }
      mo = nm;
      d = 1;
      h = mi = sec = 0;
      continue;
    }
    if (d > fpq__days_in_month(y, mo)) {
      if (++mo > 12) {
        mo = 1;
        y++;
      }
      d = 1;
      h = mi = sec = 0;
      continue;
    }
    int64_t day = fpq__days_from_civil(y, mo, d);
    int nh = day_matches(s, day, d) ? next_bit(s->hour, h) : -1;
    if (nh < 0) {
      d++;
      h = mi = sec = 0;
      continue;
    }
    if (nh != h) {
      h = nh;
      mi = sec = 0;
    }
    int nmi = next_bit(s->min, mi);
    if (nmi < 0) {
      h++;
      mi = sec = 0;
      continue;
    }
    if (nmi != mi) {
      mi = nmi;
      sec = 0;
    }
    int ns = next_bit(s->sec, sec);
    if (ns < 0) {
      mi++;
      sec = 0;
      continue;
    }
    *out = day * 86400 + h * 3600 + mi * 60 + ns;
    return 0;
  }
}

static int first_pass_next(const fpq__trigger *t, int64_t after, int64_t *next);

/* The first instant > after, and <= limit, in the second pass of a fall-back (a wall time
 * shown again) whose wall time matches: where a wildcard-hour job fires again. Walks the
 * zone's fall-backs from just before `after` (a repeated stretch is shorter than a day)
 * up to `limit`. */
static int second_pass_next(const fpq__trigger *t, int64_t after, int64_t limit, int64_t *out) {
  fpq__tz_transition tr;
  int64_t from = after - 2 * 86400;
  for (int guard = 0; guard < 4096 && fpq__tz_next_transition(t->tz, from, &tr) == 0; guard++) {
    if (tr.at > limit || tr.at > FPQ__TIME_MAX) return FPQ_ENOTFOUND;
    from = tr.at;
    if (tr.off_after >= tr.off_before) continue; /* not a fall-back */
    const int64_t end = tr.at + (tr.off_before - tr.off_after); /* second pass: [at, end) */
    if (end <= after + 1) continue;
    const int64_t start = after + 1 > tr.at ? after + 1 : tr.at;
    int64_t wall;
    if (next_wall(&t->cron, start + tr.off_after, &wall) == 0 && wall - tr.off_after < end &&
        wall - tr.off_after <= limit) {
      *out = wall - tr.off_after;
      return 0;
    }
  }
  return FPQ_ENOTFOUND;
}

static int cron_next(const fpq__trigger *t, int64_t after, int64_t *next) {
  if (after >= FPQ__TIME_MAX) return FPQ_ENOTFOUND;
  if (after < FPQ__TIME_MIN) after = FPQ__TIME_MIN;
  int64_t first = 0, again = 0;
  int rc = first_pass_next(t, after, &first);
  /* A wildcard hour runs on the new clock: in a fall-back's second pass too. */
  if (t->cron.hour_star && !fpq__tz_is_utc(t->tz) &&
      second_pass_next(t, after, rc == 0 ? first : FPQ__TIME_MAX, &again) == 0 &&
      (rc != 0 || again < first)) {
    *next = again;
    return 0;
  }
  if (rc == 0) *next = first;
  return rc;
}

/* The next fire of the first-occurrence rule: every matching wall time once, at its first
 * occurrence (or, skipped, when its gap ends). */
static int first_pass_next(const fpq__trigger *t, int64_t after, int64_t *next) {
  fpq__tz_local r;
  /* Matching walls are visited in clock order starting just past the wall
   * time of `after`; their fire instants never decrease in that order, so
   * the first one past `after` is the answer.  Walls whose first occurrence
   * is already past (we are inside a fall-back's second pass) are skipped
   * by jumping to the end of the repeated stretch. */
  int64_t local = after + fpq__tz_offset(t->tz, after, NULL) + 1;
  for (int guard = 0; guard < 256; guard++) {
    int64_t wall;
    int rc = next_wall(&t->cron, local, &wall);
    if (rc) return rc;
    fpq__tz_resolve_local(t->tz, wall, &r);
    if (r.first > after) {
      if (r.first > FPQ__TIME_MAX) return FPQ_ENOTFOUND;
      *next = r.first;
      return 0;
    }
    local = r.kind != FPQ__TZ_UNIQUE && r.span_end > wall ? r.span_end : wall + 1;
  }
  return FPQ_ENOTFOUND; /* unreachable with consistent zone data */
}

/* ---- "every" and "at" --------------------------------------------------- */

static int parse_interval(const char *text, int64_t *out, char *err, size_t errlen) {
  static const char units[] = "dhms";
  static const int64_t unit_secs[] = {86400, 3600, 60, 1};
  const char *p = text;
  int64_t total = 0;
  int next_unit = 0; /* units must come largest first, each once */
  size_t len = strlen(text);

  if (!*p)
    return fail(err, errlen,
                "interval: missing duration (expected e.g. 'every 15m' or "
                "'every 1h30m'; units d, h, m, s)");
  while (*p) {
    const char *num = p;
    int64_t v = 0;
    while (is_digit(*p)) {
      if (v <= MAX_INTERVAL) v = v * 10 + (*p - '0');
      p++;
    }
    if (p == num || !*p)
      return fail(err, errlen,
                  "interval '%.*s': expected <number><unit> pairs like 15m or 1h30m "
                  "(units d, h, m, s)",
                  clip(len), text);
    const char *u = strchr(units, *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    char ch[24];
    if (!u || *p == '\0')
      return fail(err, errlen, "interval '%.*s': unknown unit %s (expected d, h, m or s)",
                  clip(len), text, char_text(p, ch));
    int idx = (int)(u - units);
    if (idx < next_unit)
      return fail(err, errlen,
                  "interval '%.*s': unit '%c' repeated or out of order (write d, h, m, s "
                  "largest first)",
                  clip(len), text, *p);
    next_unit = idx + 1;
    if (v > MAX_INTERVAL / unit_secs[idx]) v = MAX_INTERVAL + 1;
    total += v * unit_secs[idx];
    if (total > MAX_INTERVAL)
      return fail(err, errlen, "interval '%.*s': longer than 3650 days", clip(len), text);
    p++;
  }
  if (total <= 0) return fail(err, errlen, "interval '%.*s': must be at least 1s", clip(len), text);
  *out = total;
  return 0;
}

/* "at <ISO 8601>": clock.c reads the time (one reader for the whole engine, its rule
 * stated there); a time without offset is wall-clock time in the trigger's zone. A
 * trigger fires at whole seconds, so a fraction fires at the next whole second: never
 * before the instant written. */
static int parse_at(const char *text, const fpq__tz *tz, int64_t *out, char *err, size_t errlen) {
  static const char expect[] =
      " (expected ISO 8601 like 2026-12-01T02:00:00Z, "
      "2026-12-01T02:00:00+01:00 or a local 2026-12-01T02:00:00)";
  int len = clip(strlen(text));
  fpq__iso_time t;
  const char *stop = text;
  int why = fpq__scan_iso8601(text, &t, &stop);
  if (why == FPQ__ISO_TRAILING)
    return fail(err, errlen, "at '%.*s': unexpected text '%.*s'%s", len, text,
                clip(strlen(stop)), stop, expect);
  if (why)
    return fail(err, errlen, "at '%.*s': %s%s", len, text, fpq__iso_error(why),
                why < FPQ__ISO_DATE ? expect : ""); /* syntax: show the forms */
  int64_t local = t.local + (t.fraction > 0);
  if (t.zone) {
    *out = local - t.offset;
  } else {
    /* Same DST rule as cron: a skipped time fires when the gap ends, a
     * repeated one at its first occurrence. */
    fpq__tz_local r;
    fpq__tz_resolve_local(tz, local, &r);
    *out = r.first;
  }
  if (*out < FPQ__TIME_MIN || *out > FPQ__TIME_MAX)
    return fail(err, errlen, "at '%.*s': outside the years 1-9999 in UTC (fire times must lie "
                "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z)", len, text);
  return 0;
}

/* ---- public API --------------------------------------------------------- */

int fpq__trigger_parse(const char *text, const char *tz, fpq__trigger **out, char *err,
                       size_t errlen) {
  char buf[FPQ__TRIGGER_MAX_TEXT + 1];
  int rc;

  *out = NULL;
  if (err && errlen) err[0] = '\0';
  if (!text) text = "";
  /* Fields are separated by spaces or tabs only; any other control character (a
   * newline, CR, VT, FF) is refused here by its code, so it is never a separator and
   * never reaches a message raw. */
  for (size_t i = 0; text[i] && i <= FPQ__TRIGGER_MAX_TEXT; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return fail(err, errlen, "expression has control character 0x%02X at byte %zu (fields are "
                  "separated by spaces or tabs)", c, i + 1);
  }
  while (is_space(*text))
    text++;
  size_t len = strnlen(text, FPQ__TRIGGER_MAX_TEXT + 1);
  if (len > FPQ__TRIGGER_MAX_TEXT)
    return fail(err, errlen, "expression longer than %d bytes", FPQ__TRIGGER_MAX_TEXT);
  while (len > 0 && is_space(text[len - 1]))
    len--;
  memcpy(buf, text, len);
  buf[len] = '\0';
  if (len == 0)
    return fail(err, errlen,
                "empty expression (expected a cron expression like '0 3 * * *', "
                "a macro like @daily, 'every 15m' or 'at 2026-12-01T02:00:00Z')");

  fpq__trigger *t = fpq__calloc(1, sizeof *t);
  if (!t) {
    fail(err, errlen, "out of memory");
    return FPQ_ENOMEM;
  }
  if ((rc = fpq__tz_acquire(tz, &t->tz, err, errlen)) != 0) {
    if (err && errlen) one_line(err);
    fpq__free(t);
    return rc;
  }

  size_t word = 0;
  while (word < len && !is_space(buf[word]))
    word++;
  const char *rest = buf + word;
  while (is_space(*rest))
    rest++;

  if (buf[0] == '@') {
    const char *expansion = NULL;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
      if (word_eq(buf, len, macros[i].name)) expansion = macros[i].expansion;
    if (!expansion)
      rc = fail(err, errlen,
                "macro '%.*s': unknown (expected @yearly, @annually, @monthly, "
                "@weekly, @daily, @midnight or @hourly)",
                clip(len), buf);
    else
      rc = parse_cron(expansion, &t->cron, err, errlen);
    t->kind = FPQ__TRIGGER_CRON;
  } else if (word_eq(buf, word, "every")) {
    t->kind = FPQ__TRIGGER_INTERVAL;
    rc = parse_interval(rest, &t->interval, err, errlen);
  } else if (word_eq(buf, word, "at")) {
    t->kind = FPQ__TRIGGER_ONCE;
    rc = parse_at(rest, t->tz, &t->at, err, errlen);
  } else {
    t->kind = FPQ__TRIGGER_CRON;
    rc = parse_cron(buf, &t->cron, err, errlen);
  }
  if (rc) {
    fpq__trigger_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void fpq__trigger_free(fpq__trigger *t) {
  if (!t) return;
  fpq__tz_release(t->tz);
  fpq__free(t);
}

int fpq__trigger_next(const fpq__trigger *t, int64_t after, int64_t *next) {
  switch (t->kind) {
    case FPQ__TRIGGER_ONCE:
      if (t->at <= after) return FPQ_ENOTFOUND;
      *next = t->at;
      return 0;
    case FPQ__TRIGGER_INTERVAL: {
      /* 128-bit so that any anchor and `after` work without overflow. */
      __int128 k = ((__int128)after - t->anchor) / t->interval;
      if ((__int128)after - t->anchor < 0 && ((__int128)after - t->anchor) % t->interval != 0) k--;
      __int128 r = t->anchor + (k + 1) * t->interval;
      /* Fire times stay in the years 1-9999, as every trigger's do. */
      if (r > FPQ__TIME_MAX) return FPQ_ENOTFOUND;
      if (r < FPQ__TIME_MIN) r += (((__int128)FPQ__TIME_MIN - r + t->interval - 1) / t->interval) * t->interval;
      *next = (int64_t)r;
      return 0;
    }
    default:
      return cron_next(t, after, next);
  }
}

void fpq__trigger_set_anchor(fpq__trigger *t, int64_t anchor) { t->anchor = anchor; }
int fpq__trigger_kind(const fpq__trigger *t) { return t->kind; }
int64_t fpq__trigger_interval(const fpq__trigger *t) {
  return t->kind == FPQ__TRIGGER_INTERVAL ? t->interval : 0;
}
const char *fpq__trigger_tz(const fpq__trigger *t) { return fpq__tz_name(t->tz); }
