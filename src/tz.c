/* A hand-written reader of IANA TZif files (RFC 8536) for the cron trigger.
 *
 * Why not libc: glibc converts between UTC and local time only for the one
 * zone named by the process-wide TZ variable, and switching zones means
 * setenv("TZ") + tzset(), which is not thread-safe and changes what every
 * other thread's localtime_r() returns.  A scheduler evaluates triggers in
 * many zones from worker threads, so we read the zone files ourselves: the
 * version 2+ 64-bit transition table, and the POSIX TZ string in the footer
 * for instants after the table ends (tzdata stops listing transitions in
 * 2037 and leaves later years to the footer rule).
 *
 * A zone is immutable after loading, so lookups need no lock; only the cache
 * of loaded zones is behind a mutex.  Leap-second ("right/") zones are
 * refused: their transition times are not POSIX seconds. */
#include "tz.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"

#define TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TZ_MAX_FILE (256 * 1024) /* real zone files are under 4 KiB */
#define TZ_CACHE_SLOTS 32
#define TZ_MAX_NAME 255

struct tz_type {
  int32_t off; /* seconds east of UTC */
  uint8_t isdst;
};

/* One date of a POSIX TZ rule: Jn (1-365, no Feb 29), n (0-365) or Mm.w.d. */
struct posix_date {
  char kind; /* 'J', 'N' or 'M' */
  int n, m, w, d;
  int32_t time; /* local seconds after midnight, may be negative or > 24h */
};

struct posix_tz {
  int32_t std_off, dst_off; /* seconds east of UTC */
  int has_dst;
  struct posix_date start, end;
};

struct fpq__tz {
  const char *name; /* owned unless builtin */
  int refs;         /* guarded by cache_lock */
  int cached;       /* in cache[]; guarded by cache_lock */
  int builtin;
  size_t ntrans;
  int64_t *trans;      /* strictly ascending UTC instants */
  uint8_t *trans_type; /* index into types for each transition */
  size_t ntypes;
  struct tz_type *types;
  int has_rule; /* footer present: governs instants after trans[] */
  struct posix_tz rule;
};

static fpq__tz utc_zone = {.name = "UTC", .builtin = 1};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static fpq__tz *cache[TZ_CACHE_SLOTS];

/* ---- calendar arithmetic ------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int fpq__is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int fpq__days_in_month(int64_t y, int m) {
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && fpq__is_leap(y) ? 29 : dim[m - 1];
}

/* Counting years from March makes Feb 29 the last day of a year, so the day
 * of the year follows from the month by one linear formula; 400-year eras of
 * 146097 days make it exact for negative years too. */
int64_t fpq__days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = floor_div(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void fpq__civil_from_days(int64_t days, int64_t *y, int *m, int *d) {
  days += 719468;
  int64_t era = floor_div(days, 146097);
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

int fpq__weekday(int64_t days) {
  int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
  return (int)(w < 0 ? w + 7 : w);
}

/* ---- POSIX TZ strings (the TZif footer) --------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static const char *parse_abbr(const char *p) {
  const char *q;
  if (*p == '<') {
    for (q = ++p; *q && *q != '>'; q++)
      if (!is_alpha(*q) && !is_digit(*q) && *q != '+' && *q != '-') return NULL;
    return (*q == '>' && q - p >= 3) ? q + 1 : NULL;
  }
  for (q = p; is_alpha(*q); q++)
    ;
  return q - p >= 3 ? q : NULL;
}

/* [+-]h[h[h]][:mm[:ss]]; RFC 8536 widens rule times to -167..167 hours. */
static const char *parse_hms(const char *p, int max_h, int32_t *out) {
  int sign = 1, h = 0, mm = 0, ss = 0, n = 0;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  if (!is_digit(*p)) return NULL;
  while (is_digit(*p)) {
    h = h * 10 + (*p++ - '0');
    if (++n > 3 || h > max_h) return NULL;
  }
  for (int part = 0; part < 2 && *p == ':'; part++) {
    int v = 0;
    p++;
    if (!is_digit(*p)) return NULL;
    for (n = 0; is_digit(*p); n++) {
      if (n == 2) return NULL; /* mm and ss are at most two digits */
      v = v * 10 + (*p++ - '0');
    }
    if (v > 59) return NULL;
    if (part == 0)
      mm = v;
    else
      ss = v;
  }
  *out = sign * (h * 3600 + mm * 60 + ss);
  return p;
}

static const char *parse_num(const char *p, int lo, int hi, int *out) {
  int v = 0, n = 0;
  while (is_digit(*p)) {
    v = v * 10 + (*p++ - '0');
    if (++n > 3) return NULL;
  }
  if (n == 0 || v < lo || v > hi) return NULL;
  *out = v;
  return p;
}

static const char *parse_rule_date(const char *p, struct posix_date *r) {
  memset(r, 0, sizeof *r);
  if (*p == 'J') {
    r->kind = 'J';
    p = parse_num(p + 1, 1, 365, &r->n);
  } else if (*p == 'M') {
    r->kind = 'M';
    p = parse_num(p + 1, 1, 12, &r->m);
    if (p && *p == '.')
      p = parse_num(p + 1, 1, 5, &r->w);
    else
      p = NULL;
    if (p && *p == '.')
      p = parse_num(p + 1, 0, 6, &r->d);
    else
      p = NULL;
  } else {
    r->kind = 'N';
    p = parse_num(p, 0, 365, &r->n);
  }
  if (!p) return NULL;
  r->time = 7200; /* POSIX default 02:00 */
  if (*p == '/') p = parse_hms(p + 1, 167, &r->time);
  return p;
}

static int parse_posix_tz(const char *s, struct posix_tz *r) {
  int32_t off;
  const char *p = parse_abbr(s);
  memset(r, 0, sizeof *r);
  if (!p || !(p = parse_hms(p, 24, &off))) return -1;
  r->std_off = -off; /* POSIX counts west of UTC as positive */
  if (*p == '\0') return 0;
  if (!(p = parse_abbr(p))) return -1;
  r->has_dst = 1;
  r->dst_off = r->std_off + 3600;
  if (*p != '\0' && *p != ',') {
    if (!(p = parse_hms(p, 24, &off))) return -1;
    r->dst_off = -off;
  }
  if (*p == '\0') { /* no rule: the US rule, as glibc and tzcode assume */
    p = parse_rule_date("M3.2.0", &r->start);
    p = parse_rule_date("M11.1.0", &r->end);
    return 0;
  }
  if (*p++ != ',' || !(p = parse_rule_date(p, &r->start)) || *p++ != ',' ||
      !(p = parse_rule_date(p, &r->end)) || *p != '\0')
    return -1;
  return 0;
}

static int64_t rule_local_day(int64_t y, const struct posix_date *r) {
  int64_t jan1 = fpq__days_from_civil(y, 1, 1);
  if (r->kind == 'J') return jan1 + r->n - 1 + (fpq__is_leap(y) && r->n >= 60);
  if (r->kind == 'N') return jan1 + r->n;
  int64_t first = fpq__days_from_civil(y, r->m, 1);
  int day = (r->d - fpq__weekday(first) + 7) % 7 + (r->w - 1) * 7;
  while (day >= fpq__days_in_month(y, r->m))
    day -= 7; /* week 5 means "last" */
  return first + day;
}

/* One rule event: DST starts (to_dst) or ends in year `year` at UTC `at`. */
struct rule_event {
  int64_t at;
  int64_t year;
  int to_dst;
};

/* Order events by time; on a tie the later year wins (an all-year-DST rule
 * ends one year exactly when it starts the next, which is no change), and in
 * one year an end wins over a start (a zero-length DST is no DST). */
static int event_after(const struct rule_event *a, const struct rule_event *b) {
  if (a->at != b->at) return a->at > b->at;
  if (a->year != b->year) return a->year > b->year;
  return !a->to_dst && b->to_dst;
}

static size_t rule_events(const struct posix_tz *r, int64_t y0, int64_t y1, struct rule_event *ev) {
  size_t n = 0;
  for (int64_t y = y0; y <= y1; y++) {
    ev[n++] = (struct rule_event){rule_local_day(y, &r->start) * 86400 + r->start.time - r->std_off,
                                  y, 1};
    ev[n++] =
        (struct rule_event){rule_local_day(y, &r->end) * 86400 + r->end.time - r->dst_off, y, 0};
  }
  for (size_t i = 1; i < n; i++) /* insertion sort: at most 8 events */
    for (size_t j = i; j > 0 && event_after(&ev[j - 1], &ev[j]); j--) {
      struct rule_event tmp = ev[j];
      ev[j] = ev[j - 1];
      ev[j - 1] = tmp;
    }
  return n;
}

static int64_t clamp_time(int64_t t) {
  return t < FPQ__TIME_MIN ? FPQ__TIME_MIN : t > FPQ__TIME_MAX ? FPQ__TIME_MAX : t;
}

static int64_t year_of(int64_t t) {
  int64_t y;
  int m, d;
  fpq__civil_from_days(floor_div(t, 86400), &y, &m, &d);
  return y;
}

static struct tz_type rule_type_at(const struct posix_tz *r, int64_t t) {
  struct rule_event ev[8];
  struct tz_type std = {r->std_off, 0}, dst = {r->dst_off, 1};
  if (!r->has_dst) return std;
  t = clamp_time(t);
  int64_t y = year_of(t);
  /* Rule times reach up to 167 h past their date, so the year before the
   * year before may still hold the latest event. */
  size_t n = rule_events(r, y - 2, y + 1, ev);
  int state = -1;
  for (size_t i = 0; i < n && ev[i].at <= t; i++)
    state = ev[i].to_dst;
  return state == 1 ? dst : std;
}

static int same_type(struct tz_type a, struct tz_type b) {
  return a.off == b.off && a.isdst == b.isdst;
}

static int rule_next(const struct posix_tz *r, int64_t after, fpq__tz_transition *out) {
  struct rule_event ev[8];
  if (!r->has_dst || after >= FPQ__TIME_MAX) return FPQ_ENOTFOUND;
  after = clamp_time(after);
  int64_t y = year_of(after);
  /* The rule repeats yearly, so three years without a change (an all-year
   * DST rule) means none ever. */
  size_t n = rule_events(r, y - 1, y + 2, ev);
  for (size_t i = 0; i < n; i++) {
    if (ev[i].at <= after) continue;
    struct tz_type before = rule_type_at(r, ev[i].at - 1), now = rule_type_at(r, ev[i].at);
    if (!same_type(before, now)) {
      *out = (fpq__tz_transition){ev[i].at, before.off, now.off, now.isdst};
      return 0;
    }
  }
  return FPQ_ENOTFOUND;
}

/* ---- lookups ------------------------------------------------------------ */

static struct tz_type zone_type_at(const fpq__tz *z, int64_t t) {
  if (z->builtin) return (struct tz_type){0, 0};
  if (z->ntrans == 0) return z->has_rule ? rule_type_at(&z->rule, t) : z->types[0];
  if (t < z->trans[0]) return z->types[0]; /* RFC 8536: type 0 before the first transition */
  if (t >= z->trans[z->ntrans - 1] && z->has_rule) return rule_type_at(&z->rule, t);
  size_t lo = 0, hi = z->ntrans; /* last i with trans[i] <= t */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (z->trans[mid] <= t)
      lo = mid;
    else
      hi = mid;
  }
  return z->types[z->trans_type[lo]];
}

int32_t fpq__tz_offset(const fpq__tz *z, int64_t t, int *is_dst) {
  struct tz_type ty = zone_type_at(z, t);
  if (is_dst) *is_dst = ty.isdst;
  return ty.off;
}

int fpq__tz_next_transition(const fpq__tz *z, int64_t after, fpq__tz_transition *out) {
  if (z->builtin) return FPQ_ENOTFOUND;
  if (z->ntrans > 0 && after < z->trans[z->ntrans - 1]) {
    size_t lo = 0, hi = z->ntrans; /* first i with trans[i] > after */
    while (lo < hi) {
      size_t mid = lo + (hi - lo) / 2;
      if (z->trans[mid] > after)
        hi = mid;
      else
        lo = mid + 1;
    }
    for (size_t i = lo; i < z->ntrans; i++) {
      struct tz_type before = i == 0 ? z->types[0] : z->types[z->trans_type[i - 1]];
      struct tz_type now = z->types[z->trans_type[i]];
      if (!same_type(before, now)) {
        *out = (fpq__tz_transition){z->trans[i], before.off, now.off, now.isdst};
        return 0;
      }
    }
  }
  if (!z->has_rule) return FPQ_ENOTFOUND;
  int64_t from = z->ntrans > 0 && z->trans[z->ntrans - 1] > after ? z->trans[z->ntrans - 1] : after;
  int rc = rule_next(&z->rule, from, out);
  if (rc == 0) out->off_before = zone_type_at(z, out->at - 1).off; /* table/footer seam */
  return rc;
}

size_t fpq__tz_transitions(const fpq__tz *z, int64_t from, int64_t to, fpq__tz_transition *out,
                           size_t cap) {
  fpq__tz_transition tr;
  size_t n = 0;
  while (from < to && fpq__tz_next_transition(z, from, &tr) == 0 && tr.at <= to) {
    if (n < cap) out[n] = tr;
    n++;
    from = tr.at;
  }
  return n;
}

void fpq__tz_resolve_local(const fpq__tz *z, int64_t local, fpq__tz_local *out) {
  /* Offsets stay within +-26 h, so every instant that can show `local` on
   * the clock lies within two days of it, and so does every offset that
   * could apply there. */
  enum { WINDOW = 2 * 86400, MAXTR = 16 };
  fpq__tz_transition tr[MAXTR];
  int64_t cand[MAXTR + 1];
  size_t ncand = 0;

  local = clamp_time(local); /* the documented domain; keeps the sums below in range */
  out->kind = FPQ__TZ_UNIQUE;
  out->first = out->second = local - zone_type_at(z, local).off;
  out->span_end = local + 1;
  if (z->builtin) return;
  size_t ntr = fpq__tz_transitions(z, local - WINDOW, local + WINDOW, tr, MAXTR);
  if (ntr > MAXTR) ntr = MAXTR;
  for (size_t i = 0; i <= ntr; i++) {
    int32_t off = i == 0 ? zone_type_at(z, local - WINDOW).off : tr[i - 1].off_after;
    int64_t t = local - off;
    if (zone_type_at(z, t).off != off) continue;
    size_t j = 0;
    while (j < ncand && cand[j] != t)
      j++;
    if (j == ncand) cand[ncand++] = t;
  }
  if (ncand == 0) {
    for (size_t i = 0; i < ntr; i++)
      if (tr[i].at + tr[i].off_before <= local && local < tr[i].at + tr[i].off_after) {
        out->kind = FPQ__TZ_GAP;
        out->first = out->second = tr[i].at;
        out->span_end = tr[i].at + tr[i].off_after;
        return;
      }
    return; /* cannot happen with consistent data; keep the naive answer */
  }
  int64_t lo = cand[0], hi = cand[0];
  for (size_t i = 1; i < ncand; i++) {
    if (cand[i] < lo) lo = cand[i];
    if (cand[i] > hi) hi = cand[i];
  }
  out->first = lo;
  out->second = hi;
  if (ncand > 1) {
    /* The repeated stretch ends, on the clock, where the earlier offset
     * would have reached had the clock not been turned back. */
    out->kind = FPQ__TZ_AMBIGUOUS;
    for (size_t i = 0; i < ntr; i++)
      if (tr[i].at > lo && tr[i].at <= hi) {
        out->span_end = tr[i].at + tr[i].off_before;
        break;
      }
  }
}

const char *fpq__tz_name(const fpq__tz *z) { return z->name; }
int fpq__tz_is_utc(const fpq__tz *z) { return z->builtin; }

/* ---- TZif parsing ------------------------------------------------------- */

struct tzif_header {
  int version; /* 1, 2, 3, 4 */
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

static int read_header(const uint8_t *p, size_t len, struct tzif_header *h) {
  if (len < 44 || memcmp(p, "TZif", 4) != 0) return -1;
  h->version = p[4] == 0 ? 1 : p[4] - '0';
  if (h->version < 1 || h->version > 9) return -1;
  h->isutcnt = be32(p + 20);
  h->isstdcnt = be32(p + 24);
  h->leapcnt = be32(p + 28);
  h->timecnt = be32(p + 32);
  h->typecnt = be32(p + 36);
  h->charcnt = be32(p + 40);
  /* Bounds that keep the size arithmetic far from overflow; real files
   * have a few hundred transitions and a dozen types. */
  if (h->timecnt > 100000 || h->typecnt == 0 || h->typecnt > 256 || h->charcnt > 65536 ||
      h->leapcnt > 100000 || (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
      (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
    return -1;
  return 0;
}

static size_t block_size(const struct tzif_header *h, size_t timesize) {
  return h->timecnt * timesize + h->timecnt + h->typecnt * 6 + h->charcnt +
         h->leapcnt * (timesize + 4) + h->isstdcnt + h->isutcnt;
}

static int parse_block(fpq__tz *z, const struct tzif_header *h, const uint8_t *p, size_t timesize) {
  z->ntrans = h->timecnt;
  z->ntypes = h->typecnt;
  z->trans = fpq__malloc((h->timecnt ? h->timecnt : 1) * sizeof *z->trans);
  z->trans_type = fpq__malloc(h->timecnt ? h->timecnt : 1);
  z->types = fpq__malloc(h->typecnt * sizeof *z->types);
  if (!z->trans || !z->trans_type || !z->types) return FPQ_ENOMEM;
  for (uint32_t i = 0; i < h->timecnt; i++, p += timesize) {
    z->trans[i] = timesize == 8 ? be64(p) : (int64_t)(int32_t)be32(p);
    if (i > 0 && z->trans[i] <= z->trans[i - 1]) return FPQ_EINVAL;
  }
  for (uint32_t i = 0; i < h->timecnt; i++) {
    z->trans_type[i] = *p++;
    if (z->trans_type[i] >= h->typecnt) return FPQ_EINVAL;
  }
  for (uint32_t i = 0; i < h->typecnt; i++, p += 6) {
    int32_t off = (int32_t)be32(p);
    if (off <= -26 * 3600 || off >= 26 * 3600 || p[4] > 1 || p[5] >= h->charcnt) return FPQ_EINVAL;
    z->types[i] = (struct tz_type){off, p[4]};
  }
  return 0;
}

static int parse_tzif(fpq__tz *z, const uint8_t *buf, size_t len) {
  struct tzif_header h;
  if (read_header(buf, len, &h) != 0) return FPQ_EINVAL;
  size_t v1 = 44 + block_size(&h, 4);
  if (v1 > len) return FPQ_EINVAL;
  if (h.version == 1) {
    if (h.leapcnt) return FPQ_EINVAL;
    return parse_block(z, &h, buf + 44, 4);
  }
  const uint8_t *p = buf + v1;
  if (read_header(p, len - v1, &h) != 0 || h.leapcnt) return FPQ_EINVAL;
  size_t v2 = 44 + block_size(&h, 8);
  if (v2 > len - v1) return FPQ_EINVAL;
  int rc = parse_block(z, &h, p + 44, 8);
  if (rc) return rc;
  /* Footer: "\n<POSIX TZ string>\n"; an empty string means "no rule". */
  const char *f = (const char *)p + v2, *end = (const char *)buf + len;
  if (f >= end || *f != '\n') return FPQ_EINVAL;
  const char *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
  if (!nl || nl - f - 1 > 127) return FPQ_EINVAL;
  char tzstr[128];
  memcpy(tzstr, f + 1, (size_t)(nl - f - 1));
  tzstr[nl - f - 1] = '\0';
  if (tzstr[0] != '\0') {
    if (parse_posix_tz(tzstr, &z->rule) != 0) return FPQ_EINVAL;
    z->has_rule = 1;
  }
  return 0;
}

static void zone_free(fpq__tz *z) {
  if (!z || z->builtin) return;
  fpq__free((void *)z->name);
  fpq__free(z->trans);
  fpq__free(z->trans_type);
  fpq__free(z->types);
  fpq__free(z);
}

/* Names are relative paths under the zone directory: refuse anything that
 * could step outside it ("..", absolute paths) or is not a plausible name. */
static int valid_name(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > TZ_MAX_NAME || name[0] == '/') return 0;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];
    if (!is_alpha(c) && !is_digit(c) && c != '/' && c != '_' && c != '-' && c != '+' && c != '.')
      return 0;
    if ((i == 0 || name[i - 1] == '/') && (c == '.' || c == '/'))
      return 0; /* no "..", hidden files or empty components */
  }
  return name[len - 1] != '/';
}

/* Returns 0, FPQ_ENOTFOUND (no such file, or a directory such as "America"),
 * FPQ_ENOMEM, or FPQ_EIO. */
static int read_all(const char *path, uint8_t **out, size_t *len) {
  struct stat st = {0};
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? FPQ_ENOTFOUND : FPQ_EIO;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 44 || st.st_size > TZ_MAX_FILE) {
    close(fd);
    return S_ISDIR(st.st_mode) ? FPQ_ENOTFOUND : FPQ_EIO;
  }
  uint8_t *buf = fpq__malloc((size_t)st.st_size);
  size_t got = 0;
  if (!buf) {
    close(fd);
    return FPQ_ENOMEM;
  }
  while (got < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (got != (size_t)st.st_size) {
    fpq__free(buf);
    return FPQ_EIO;
  }
  *out = buf;
  *len = got;
  return 0;
}

int fpq__tz_from_tzif(const char *name, const void *buf, size_t len, fpq__tz **out, char *err,
                      size_t errlen) {
  fpq__tz *z = fpq__calloc(1, sizeof *z);
  char *copy = fpq__strdup(name ? name : "");
  int rc;
  if (!z || !copy) {
    fpq__free(z);
    fpq__free(copy);
    snprintf(err, errlen, "time zone '%.64s': out of memory", name ? name : "");
    return FPQ_ENOMEM;
  }
  z->name = copy;
  z->refs = 1;
  if ((rc = parse_tzif(z, buf, len)) != 0) {
    snprintf(err, errlen, "time zone '%.64s': %s", copy,
             rc == FPQ_ENOMEM ? "out of memory" : "not a valid TZif file (or a leap-second zone)");
    zone_free(z);
    return rc;
  }
  *out = z;
  return 0;
}

static int zone_load(const char *name, fpq__tz **out, char *err, size_t errlen) {
  const char *dir = getenv("TZDIR");
  char path[4096];
  uint8_t *buf = NULL;
  size_t len = 0;
  int rc;

  if (!dir || !*dir) dir = TZ_DEFAULT_DIR;
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
    rc = FPQ_ENOTFOUND;
  else
    rc = read_all(path, &buf, &len);
  if (rc != 0) {
    snprintf(err, errlen, "time zone '%.64s': %s", name,
             rc == FPQ_ENOTFOUND ? "unknown (no such zone in the tz database)"
             : rc == FPQ_ENOMEM  ? "out of memory"
                                 : "cannot read zone file");
    return rc == FPQ_ENOMEM ? FPQ_ENOMEM : FPQ_EINVAL;
  }
  rc = fpq__tz_from_tzif(name, buf, len, out, err, errlen);
  fpq__free(buf);
  return rc;
}

/* ---- cache -------------------------------------------------------------- */

static fpq__tz *cache_find(const char *name) {
  for (size_t i = 0; i < TZ_CACHE_SLOTS; i++)
    if (cache[i] && strcmp(cache[i]->name, name) == 0) return cache[i];
  return NULL;
}

int fpq__tz_acquire(const char *name, fpq__tz **out, char *err, size_t errlen) {
  fpq__tz *z, *loaded;

  if (!name || !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
    *out = &utc_zone;
    return 0;
  }
  if (!valid_name(name)) {
    snprintf(err, errlen,
             "time zone '%.64s': invalid name (expected an IANA name like "
             "Europe/Berlin)",
             name);
    for (size_t i = 0; err && i < errlen && err[i]; i++)
      if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
        err[i] = '?'; /* the name is user text: keep the message one line */
    return FPQ_EINVAL;
  }
  pthread_mutex_lock(&cache_lock);
  if ((z = cache_find(name)) != NULL) z->refs++;
  pthread_mutex_unlock(&cache_lock);
  if (z) {
    *out = z;
    return 0;
  }

  /* File I/O outside the lock; a racing loader of the same name loses and
   * frees its copy below. */
  int rc = zone_load(name, &loaded, err, errlen);
  if (rc != 0) return rc;
  fpq__tz *evict = NULL;
  pthread_mutex_lock(&cache_lock);
  if ((z = cache_find(name)) != NULL) {
    z->refs++;
  } else {
    z = loaded;
    loaded = NULL;
    size_t slot = TZ_CACHE_SLOTS;
    for (size_t i = 0; i < TZ_CACHE_SLOTS && slot == TZ_CACHE_SLOTS; i++)
      if (!cache[i]) slot = i;
    for (size_t i = 0; i < TZ_CACHE_SLOTS && slot == TZ_CACHE_SLOTS; i++)
      if (cache[i]->refs == 0) {
        evict = cache[i];
        slot = i;
      }
    /* A full cache of zones in use: hand out an uncached zone, freed by
     * its last release. */
    if (slot < TZ_CACHE_SLOTS) {
      cache[slot] = z;
      z->cached = 1;
    }
  }
  pthread_mutex_unlock(&cache_lock);
  zone_free(loaded);
  zone_free(evict);
  *out = z;
  return 0;
}

void fpq__tz_release(fpq__tz *z) {
  int drop;
  if (!z || z->builtin) return;
  pthread_mutex_lock(&cache_lock);
  drop = --z->refs == 0 && !z->cached;
  pthread_mutex_unlock(&cache_lock);
  if (drop) zone_free(z);
}

void fpq__tz_cache_clear(void) {
  fpq__tz *dead[TZ_CACHE_SLOTS];
  size_t n = 0;
  pthread_mutex_lock(&cache_lock);
  for (size_t i = 0; i < TZ_CACHE_SLOTS; i++)
    if (cache[i] && cache[i]->refs == 0) {
      dead[n++] = cache[i];
      cache[i] = NULL;
    }
  pthread_mutex_unlock(&cache_lock);
  for (size_t i = 0; i < n; i++)
    zone_free(dead[i]);
}
