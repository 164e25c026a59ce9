/* conn.h (rq): where the rq backend's Redis is (its URL, parsed) and one connection to it
 * that reconnects with backoff. The backend holds up to three: requests, the tracking
 * connection a waiting take sleeps on, and a worker's command subscription. */
#ifndef FPQ_RQ_CONN_H
#define FPQ_RQ_CONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/* A parsed redis:// or unix:// URL. */
typedef struct fpq__rq_target {
  char host[256];
  int port;
  char path[1024];       /* unix socket; "" for TCP */
  char user[128];        /* ACL user; "" for the default user */
  char pass[256];        /* "" for no AUTH */
  int db;
  double connect_timeout; /* seconds */
  char display[300];     /* "host:port/db" or "unix:/path?db=N": never the password */
} fpq__rq_target;

/* Parses redis://[user:pass@]host[:port][/db][?db=N&password=P&username=U] and
 * unix://[[user]:pass@]/path.sock[?db=N&password=P&username=U]. Returns 0, or
 * FPQ_ECONFIG with one line in err naming the bad part. */
int fpq__rq_parse_url(const char *url, fpq__rq_target *t, char *err, size_t errlen);

/* One connection that comes back after Redis went away. */
typedef struct fpq__rq_link {
  redisContext *c;  /* NULL while down */
  double retry_at;  /* monotonic time before which no reconnect is tried */
  double backoff;   /* seconds; doubles per failed connect, 0 after a success */
} fpq__rq_link;

/* Makes sure l->c is connected, authenticated and on the right db. A connection whose
 * peer has hung up (Redis restarted) is noticed here, before a command is written to it,
 * and replaced, so a command is never half-sent into a dead socket. Returns 0, or
 * FPQ_EUNAVAIL (Redis unreachable, or reconnecting is backing off) / FPQ_ECONFIG (bad
 * credentials or db) with one line in err. */
int fpq__rq_link_open(fpq__rq_link *l, const fpq__rq_target *t, char *err, size_t errlen);
/* Drops a connection that failed mid-command; the next open reconnects at once. */
void fpq__rq_link_lost(fpq__rq_link *l);
void fpq__rq_link_close(fpq__rq_link *l);

/* Maps a Redis error reply to an FPQ_E* code: LOADING/READONLY/MASTERDOWN/BUSY are
 * FPQ_EUNAVAIL (try later), NOAUTH/WRONGPASS/NOPERM FPQ_ECONFIG, the rest FPQ_EBACKEND. */
int fpq__rq_error_code(const char *msg);

/* A refusal Redis may send at any time (LOADING, BUSY, NOAUTH, MASTERDOWN...) in plain
 * words, e.g. "is still loading its data into memory (LOADING): ...", to follow "Redis at
 * HOST "; NULL for any other reply. */
const char *fpq__rq_refusal_words(const char *reply);

/* hiredis' redisCommandArgv and redisGetReply, except that a write to a connection the
 * server closed fails with EPIPE instead of killing the process with SIGPIPE: unless
 * SIGPIPE is already ignored and unblocked, it is blocked for the calling thread during
 * the call and a pending one discarded, so no embedding program (the fpq CLI, Python, a
 * C user) has to ignore SIGPIPE itself. */
redisReply *fpq__rq_command(redisContext *c, int argc, const char **argv, const size_t *lens);
int fpq__rq_get_reply(redisContext *c, void **reply);

/* Sends what c has buffered (redisAppendCommand*) now, without reading a reply, under
 * the same SIGPIPE guard: the server starts on it while the caller builds the next. */
int fpq__rq_flush(redisContext *c);

/* Bounds how long fpq__rq_get_reply waits for a reply on the calling thread (a reply
 * later than that fails the connection, as a timeout does); 0 restores the command
 * timeout. Returns the bound it replaces, for the caller to put back. */
double fpq__rq_bound_replies(double seconds);

/* Reads the reply to a command already sent if it arrives within timeout seconds.
 * Returns 1 with *reply (caller frees), 0 not yet (the reply stays due: read it with
 * fpq__rq_get_reply), -1 the connection failed (c->err says why). */
int fpq__rq_reply_within(redisContext *c, double timeout, void **reply);

/* Waits up to timeout seconds for c's socket to be readable. Returns 1 readable (or hung
 * up), 0 timed out, -1 on a poll error. */
int fpq__rq_wait_readable(redisContext *c, double timeout);

#endif /* FPQ_RQ_CONN_H */
