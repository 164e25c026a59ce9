/* conn.c (rq): the rq backend's URL and its connections to Redis.
 *
 * hiredis 0.14 (Debian 12) is blocking and has no SSL, no RESP3 and no built-in
 * reconnect, so this file adds what the backend needs around it: URL parsing with ACL
 * users and unix sockets, AUTH and SELECT on every (re)connect, read/write timeouts, and a
 * reconnect rule with backoff (50 ms doubling to 2 s) so a worker whose Redis restarts
 * resumes within about 2 s of its return without spinning while it is away. */
#include "conn.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "clock.h"
#include "fpq.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0
/* How long one reply may take to arrive once a command is written. Long enough for a
 * 256 MiB result on a slow link, short enough that a frozen server is noticed. */
#define COMMAND_TIMEOUT 30.0

/* The longest a reply is waited for on this thread (fpq__rq_bound_replies). */
static _Thread_local double reply_wait = COMMAND_TIMEOUT;

double fpq__rq_bound_replies(double seconds) {
  double was = reply_wait;
  reply_wait = seconds > 0 && seconds < COMMAND_TIMEOUT ? seconds : COMMAND_TIMEOUT;
  return was;
}

/* ---- URL ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies src[0..n) into dst, decoding %XX. Returns -1 when it does not fit or a %XX is
 * broken. */
static int decode(const char *src, size_t n, char *dst, size_t dstlen) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)src[i];
    if (c == '%') {
      if (i + 2 >= n) return -1;
      int hi = hexval((unsigned char)src[i + 1]), lo = hexval((unsigned char)src[i + 2]);
      if (hi < 0 || lo < 0) return -1;
      c = hi * 16 + lo;
      i += 2;
    }
    if (o + 1 >= dstlen) return -1;
    dst[o++] = (char)c;
  }
  dst[o] = '\0';
  return 0;
}

static int parse_int(const char *s, size_t n, int lo, int hi, int *out) {
  if (n == 0 || n > 9) return -1;
  int v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int bad_url(char *err, size_t errlen, const char *url, const char *why) {
  /* Never echo a password: a URL with credentials is shown as scheme://...@host, and its
   * query (?password=... is one of its options) as "?...". */
  const char *query = strchr(url, '?');
  int len = query ? (int)(query - url) : (int)strlen(url);
  const char *at = memchr(url, '@', (size_t)len);
  const char *scheme_end = strstr(url, "://");
  const char *tail = query ? "?..." : "";
  if (at && scheme_end && scheme_end < at) {
    int host_len = len - (int)(at + 1 - url);
    snprintf(err, errlen, "Redis URL '%.*s...@%.*s%s' is not valid: %s (expected "
             "redis://[user:pass@]host:port/db or unix:///path.sock?db=N)",
             (int)(scheme_end - url + 3), url, host_len > 100 ? 100 : host_len, at + 1, tail,
             why);
  } else {
    snprintf(err, errlen, "Redis URL '%.*s%s' is not valid: %s (expected "
             "redis://[user:pass@]host:port/db or unix:///path.sock?db=N)",
             len > 150 ? 150 : len, url, tail, why);
  }
  return FPQ_ECONFIG;
}

/* userinfo "user:pass", ":pass" or "user" (redis-py's reading). */
static int parse_userinfo(const char *s, size_t n, fpq__rq_target *t) {
  const char *colon = memchr(s, ':', n);
  if (colon == NULL) return decode(s, n, t->user, sizeof t->user);
  if (decode(s, (size_t)(colon - s), t->user, sizeof t->user)) return -1;
  return decode(colon + 1, n - (size_t)(colon - s) - 1, t->pass, sizeof t->pass);
}

/* The TLS refusal, one line: the URL asked for TLS (rediss:// or ?ssl=...), which the
 * client library this build uses cannot speak; connecting in plain text instead would
 * send the password and the data in the clear. */
#define NO_TLS                                                                              \
  "TLS is not supported by the Redis client library in use (hiredis, built without SSL): " \
  "use redis:// through a TLS tunnel such as stunnel"

/* ?db=N&password=P&username=U (redis-py's query options). Any other parameter is bad
 * input, never ignored: ignoring ?ssl=true would connect in plain text. 0, or -1 with
 * the reason in why (a parameter's name, never its value, which may be a secret). */
static int parse_query(const char *q, fpq__rq_target *t, char *why, size_t whylen) {
  while (q && *q) {
    const char *amp = strchr(q, '&');
    size_t n = amp ? (size_t)(amp - q) : strlen(q);
    const char *eq = memchr(q, '=', n);
    size_t klen = eq ? (size_t)(eq - q) : n, vlen = eq ? n - klen - 1 : 0;
    char key[41];
    size_t k = 0;
    for (; k < klen && k + 1 < sizeof key; k++)
      key[k] = isprint((unsigned char)q[k]) ? q[k] : '?';
    key[k] = '\0';
    if (klen >= 3 && strncmp(q, "ssl", 3) == 0) {
      snprintf(why, whylen, "query parameter '%s' asks for TLS: " NO_TLS, key);
      return -1;
    }
    if (!eq) {
      snprintf(why, whylen, "query parameter '%s' has no value (expected NAME=VALUE)", key);
      return -1;
    }
    int bad = 0;
    if (klen == 2 && strncmp(q, "db", 2) == 0) {
      bad = parse_int(eq + 1, vlen, 0, 1000000, &t->db);
    } else if (klen == 8 && strncmp(q, "password", 8) == 0) {
      bad = decode(eq + 1, vlen, t->pass, sizeof t->pass);
    } else if (klen == 8 && strncmp(q, "username", 8) == 0) {
      bad = decode(eq + 1, vlen, t->user, sizeof t->user);
    } else {
      snprintf(why, whylen, "unknown query parameter '%s' (accepted: db, password, username)",
               key);
      return -1;
    }
    if (bad) {
      snprintf(why, whylen, "bad value for query parameter '%s'", key);
      return -1;
    }
    q = amp ? amp + 1 : NULL;
  }
  return 0;
}

int fpq__rq_parse_url(const char *url, fpq__rq_target *t, char *err, size_t errlen) {
  double timeout = t->connect_timeout;
  memset(t, 0, sizeof *t);
  t->connect_timeout = timeout > 0 ? timeout : 5;
  t->port = 6379;
  if (url == NULL) return bad_url(err, errlen, "", "no URL");
  if (strncmp(url, "rediss://", 9) == 0) {
    snprintf(err, errlen, "Redis URL uses rediss:// (TLS): " NO_TLS);
    return FPQ_ECONFIG;
  }
  int is_unix = strncmp(url, "unix://", 7) == 0;
  if (!is_unix && strncmp(url, "redis://", 8) != 0)
    return bad_url(err, errlen, url, "unknown scheme");
  const char *p = url + (is_unix ? 7 : 8);
  const char *query = strchr(p, '?');
  size_t len = query ? (size_t)(query - p) : strlen(p);
  const char *at = memchr(p, '@', len);
  if (at) {
    if (parse_userinfo(p, (size_t)(at - p), t))
      return bad_url(err, errlen, url, "bad user or password");
    len -= (size_t)(at - p) + 1;
    p = at + 1;
  }
  char why[200];
  if (query && parse_query(query + 1, t, why, sizeof why)) {
    if (strstr(why, "asks for TLS")) {
      snprintf(err, errlen, "Redis URL %s", why);
      return FPQ_ECONFIG;
    }
    return bad_url(err, errlen, url, why);
  }
  if (is_unix) {
    if (len == 0 || p[0] != '/' || len >= sizeof t->path)
      return bad_url(err, errlen, url, "the socket path must be absolute");
    if (decode(p, len, t->path, sizeof t->path))
      return bad_url(err, errlen, url, "bad socket path");
    snprintf(t->display, sizeof t->display, "unix:%.200s?db=%d", t->path, t->db);
    return 0;
  }
  const char *slash = memchr(p, '/', len);
  size_t hostport = slash ? (size_t)(slash - p) : len;
  if (slash && (size_t)(slash - p) + 1 < len &&
      parse_int(slash + 1, len - hostport - 1, 0, 1000000, &t->db))
    return bad_url(err, errlen, url, "the database must be a number");
  const char *hp = p;
  size_t hlen = hostport;
  const char *portp = NULL;
  if (hlen && hp[0] == '[') { /* [ipv6]:port */
    const char *close = memchr(hp, ']', hlen);
    if (close == NULL) return bad_url(err, errlen, url, "unclosed [ in the host");
    if (close + 1 < hp + hlen && close[1] == ':') portp = close + 2;
    hp++;
    hlen = (size_t)(close - hp);
  } else {
    const char *colon = memchr(hp, ':', hlen);
    if (colon) {
      portp = colon + 1;
      hlen = (size_t)(colon - hp);
    }
  }
  if (hlen == 0 || hlen >= sizeof t->host) return bad_url(err, errlen, url, "no host");
  memcpy(t->host, hp, hlen);
  t->host[hlen] = '\0';
  if (portp && parse_int(portp, (size_t)(p + hostport - portp), 1, 65535, &t->port))
    return bad_url(err, errlen, url, "the port must be a number from 1 to 65535");
  snprintf(t->display, sizeof t->display, "%.256s:%d/%d", t->host, t->port, t->db);
  return 0;
}

/* ---- connections ---- */

static struct timeval to_timeval(double s) {
  if (!(s > 0.001)) s = 0.001;
  struct timeval tv = {.tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - floor(s)) * 1e6)};
  return tv;
}

int fpq__rq_error_code(const char *msg) {
  /* A refused password is "the backend is unavailable to us" (exit 3), like a server
   * that is down: the URL is well formed, the server just does not let us in. */
  static const char *const unavailable[] = {"LOADING", "READONLY", "MASTERDOWN", "BUSY",
                                            "TRYAGAIN", "CLUSTERDOWN", "NOAUTH", "WRONGPASS",
                                            "ERR invalid password", "ERR AUTH"};
  static const char *const config[] = {"NOPERM", "ERR DB index", "ERR invalid DB"};
  if (msg == NULL) return FPQ_EBACKEND;
  for (size_t i = 0; i < sizeof unavailable / sizeof *unavailable; i++)
    if (strncmp(msg, unavailable[i], strlen(unavailable[i])) == 0) return FPQ_EUNAVAIL;
  for (size_t i = 0; i < sizeof config / sizeof *config; i++)
    if (strncmp(msg, config[i], strlen(config[i])) == 0) return FPQ_ECONFIG;
  return FPQ_EBACKEND;
}

/* ---- SIGPIPE ---- */

/* Where SIGPIPE is ignored and this thread does not block it (the fpq worker's loop,
 * Python's default), a write to a closed connection fails with EPIPE and no signal is
 * left behind, so the guard's four system calls per command are skipped for the two
 * that read the disposition and the thread's mask. Read each time, not once: an
 * embedding program may restore SIGPIPE's default between commands. (A blocked SIGPIPE
 * stays pending even when ignored, and would reach a program that later restores the
 * default and unblocks it: the guard discards it.) */
typedef struct pipe_guard {
  sigset_t old;
  int was_pending;
  int active; /* 0: nothing was changed, nothing to restore */
} pipe_guard;

static int sigpipe_harmless(void) {
  struct sigaction now;
  sigset_t mask;
  return sigaction(SIGPIPE, NULL, &now) == 0 && !(now.sa_flags & SA_SIGINFO) &&
         now.sa_handler == SIG_IGN && pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
         !sigismember(&mask, SIGPIPE);
}

static void guard_on(pipe_guard *g) {
  g->active = !sigpipe_harmless();
  if (!g->active) return;
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  g->was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void guard_off(pipe_guard *g) {
  if (!g->active) return;
  sigset_t set, pending;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  if (!g->was_pending && sigismember(&pending, SIGPIPE)) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

redisReply *fpq__rq_command(redisContext *c, int argc, const char **argv, const size_t *lens) {
  void *reply = NULL;
  if (redisAppendCommandArgv(c, argc, argv, lens) != REDIS_OK) return NULL;
  return fpq__rq_get_reply(c, &reply) == REDIS_OK ? reply : NULL;
}

int fpq__rq_flush(redisContext *c) {
  pipe_guard g;
  guard_on(&g);
  int done = 0, rc = REDIS_OK;
  while (rc == REDIS_OK && !done) rc = redisBufferWrite(c, &done);
  guard_off(&g);
  return rc;
}

/* Waits for the reply with poll() before reading it, rather than in a blocking read():
 * a read that sleeps in the kernel must take the socket's lock again when the reply
 * lands, while the packet's delivery still holds it, and on a virtual machine that
 * contention cost a producer a third of its CPU per enqueue. A wait past the command
 * timeout fails as hiredis's own timed-out read does. */
int fpq__rq_get_reply(redisContext *c, void **reply) {
  pipe_guard g;
  guard_on(&g);
  void *aux = NULL;
  int rc = redisGetReplyFromReader(c, &aux);
  if (rc == REDIS_OK && aux == NULL) {
    int done = 0;
    while (rc == REDIS_OK && !done) rc = redisBufferWrite(c, &done);
    int ready = rc == REDIS_OK ? fpq__rq_wait_readable(c, reply_wait) : 1;
    if (ready == 0) {
      c->err = REDIS_ERR_IO;
      snprintf(c->errstr, sizeof c->errstr, "%s", strerror(EAGAIN));
      rc = REDIS_ERR;
    }
    if (rc == REDIS_OK) rc = redisGetReply(c, &aux);
  }
  guard_off(&g);
  *reply = aux;
  return rc;
}

int fpq__rq_reply_within(redisContext *c, double timeout, void **reply) {
  void *aux = NULL;
  *reply = NULL;
  if (redisGetReplyFromReader(c, &aux) != REDIS_OK) return -1;
  if (aux == NULL) {
    int ready = fpq__rq_wait_readable(c, timeout);
    if (ready < 0) return -1;
    if (ready == 0) return 0;
    if (redisBufferRead(c) != REDIS_OK || redisGetReplyFromReader(c, &aux) != REDIS_OK)
      return -1;
    if (aux == NULL) return 0; /* part of it: fpq__rq_get_reply reads the rest */
  }
  *reply = aux;
  return 1;
}

/* What a setup refusal means, in plain words: the reply's first word -> the sentence. */
static const struct {
  const char *code, *words;
} refusals[] = {
    {"LOADING", "is still loading its data into memory (LOADING): try again when it has loaded"},
    {"NOAUTH", "wants a password and the URL gives none (NOAUTH)"},
    {"WRONGPASS", "refused the user name or password in the URL (WRONGPASS)"},
    {"ERR invalid password", "refused the password in the URL"},
    {"ERR AUTH", "refused the password in the URL: it has none set (AUTH)"},
    {"NOPERM", "does not allow this user to connect as configured (NOPERM)"},
    {"MASTERDOWN", "is a replica that lost its primary (MASTERDOWN)"},
    {"BUSY", "is busy running a script (BUSY)"},
};

const char *fpq__rq_refusal_words(const char *reply) {
  for (size_t i = 0; reply && i < sizeof refusals / sizeof *refusals; i++)
    if (strncmp(reply, refusals[i].code, strlen(refusals[i].code)) == 0)
      return refusals[i].words;
  return NULL;
}

/* Sends one setup command (`doing` says what it is for, in plain words); returns 0 or an
 * error code with err set. */
static int setup_command(redisContext *c, const fpq__rq_target *t, char *err, size_t errlen,
                         const char *doing, int argc, const char **argv) {
  redisReply *r = fpq__rq_command(c, argc, argv, NULL);
  if (r == NULL) {
    snprintf(err, errlen, "Redis at %s closed the connection while %s (%s): is it restarting, "
             "or a TLS-only or non-Redis port?", t->display, doing,
             c->errstr[0] ? c->errstr : "connection lost");
    return FPQ_EUNAVAIL;
  }
  int rc = 0;
  if (r->type == REDIS_REPLY_ERROR) {
    rc = fpq__rq_error_code(r->str);
    if (rc == FPQ_EBACKEND) rc = FPQ_ECONFIG;
    const char *words = fpq__rq_refusal_words(r->str);
    if (words)
      snprintf(err, errlen, "Redis at %s %s", t->display, words);
    else
      snprintf(err, errlen, "Redis at %s refused %s: %.150s", t->display, doing, r->str);
  }
  freeReplyObject(r);
  return rc;
}

static int connect_once(fpq__rq_link *l, const fpq__rq_target *t, char *err, size_t errlen) {
  struct timeval ct = to_timeval(t->connect_timeout);
  redisContext *c = t->path[0] ? redisConnectUnixWithTimeout(t->path, ct)
                               : redisConnectWithTimeout(t->host, t->port, ct);
  if (c == NULL) {
    snprintf(err, errlen, "out of memory connecting to Redis");
    return FPQ_ENOMEM;
  }
  if (c->err) {
    snprintf(err, errlen, "cannot connect to Redis at %s: %s", t->display, c->errstr);
    redisFree(c);
    return FPQ_EUNAVAIL;
  }
  /* The worker's executors are spawned children: they must not inherit the socket, or a
   * SIGKILLed worker's connections (and its subscription) would live on in them. */
  int flags = fcntl(c->fd, F_GETFD);
  if (flags >= 0) fcntl(c->fd, F_SETFD, flags | FD_CLOEXEC);
  redisSetTimeout(c, to_timeval(COMMAND_TIMEOUT));
  if (!t->path[0]) redisEnableKeepAlive(c);
  int rc = 0;
  if (t->pass[0]) {
    const char *auth_user[] = {"AUTH", t->user, t->pass};
    const char *auth[] = {"AUTH", t->pass};
    rc = t->user[0] ? setup_command(c, t, err, errlen, "logging in (AUTH)", 3, auth_user)
                    : setup_command(c, t, err, errlen, "logging in (AUTH)", 2, auth);
  }
  if (rc == 0 && !t->pass[0]) {
    /* No AUTH to prove the server answers: a PING does, and finds a server that wants a
     * password now rather than at the first real command. */
    const char *ping[] = {"PING"};
    rc = setup_command(c, t, err, errlen, "checking that it answers (PING)", 1, ping);
  }
  if (rc == 0 && t->db != 0) {
    char db[16];
    snprintf(db, sizeof db, "%d", t->db);
    const char *select[] = {"SELECT", db};
    rc = setup_command(c, t, err, errlen, "selecting the database (SELECT)", 2, select);
  }
  if (rc) {
    redisFree(c);
    return rc;
  }
  l->c = c;
  return 0;
}

/* Has the server closed an idle request connection? Nothing may be readable on it
 * between commands, so anything readable is the hang-up (or an error). */
static int peer_gone(redisContext *c) {
  struct pollfd p = {.fd = c->fd, .events = POLLIN};
  int n = poll(&p, 1, 0);
  return n > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL));
}

int fpq__rq_link_open(fpq__rq_link *l, const fpq__rq_target *t, char *err, size_t errlen) {
  if (l->c && !l->c->err && !peer_gone(l->c)) return 0;
  if (l->c) fpq__rq_link_lost(l);
  double now = fpq__monotonic();
  if (now < l->retry_at) {
    snprintf(err, errlen, "Redis at %s is unreachable (next connection attempt in %.2f s)",
             t->display, l->retry_at - now);
    return FPQ_EUNAVAIL;
  }
  int rc = connect_once(l, t, err, errlen);
  if (rc == 0) {
    l->backoff = 0;
    return 0;
  }
  l->backoff = l->backoff > 0 ? fmin(l->backoff * 2, BACKOFF_MAX) : BACKOFF_MIN;
  l->retry_at = fpq__monotonic() + l->backoff;
  return rc;
}

void fpq__rq_link_lost(fpq__rq_link *l) {
  if (l->c) redisFree(l->c);
  l->c = NULL;
  l->retry_at = 0;
}

void fpq__rq_link_close(fpq__rq_link *l) {
  if (l->c) redisFree(l->c);
  l->c = NULL;
}

int fpq__rq_wait_readable(redisContext *c, double timeout) {
  struct pollfd p = {.fd = c->fd, .events = POLLIN};
  int ms = timeout <= 0 ? 0 : (int)ceil(fmin(timeout, 3600) * 1000);
  int n;
  do {
    n = poll(&p, 1, ms);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  return n > 0 ? 1 : 0;
}
