/* lease_keeper.c: renews the leases of the jobs a worker holds, and stops runs whose
 * lease it cannot keep (lease_keeper.h says why), on two threads of its own:
 *  - the renewer talks to the backend, which may hang (a stopped Redis, a SQLite file
 *    locked for a minute);
 *  - the fencer never does I/O: it only compares deadlines and sends signals, so a run
 *    is stopped in time even while a renewal hangs.
 * Entries are a list under one mutex. The renewer uses one entry without the lock while
 * it talks to the backend (`renewing`): release frees any other entry at once, and marks
 * that one for the renewer to free; every field the other threads write is read and
 * written under the lock. Times are CLOCK_MONOTONIC: a
 * wall clock that jumps neither renews early nor fences late. */
#include "lease_keeper.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "log_line.h"

#define RETRY_EVERY 1.0 /* seconds between attempts after a renewal failed */
#define MAX_NAP 0.25    /* the thread looks at least this often (fencing deadlines) */

typedef struct entry {
  struct entry *next;
  fpq_job *job;       /* a copy: id and execution are what renewals present */
  double renewed;     /* monotonic start of the last renewal that succeeded (or the take) */
  double next_try;    /* monotonic */
  int pgid;           /* process group running it, 0 none */
  int released;       /* the worker let go; the thread frees it */
  int lost;           /* refused by the backend, or fenced by us */
  int term_sent, kill_sent;
  int failing;        /* the last renewal failed (logged once per streak) */
} entry;

struct fpq__lease_keeper {
  pthread_t renewer, fencer;
  int threads; /* how many were started */
  pthread_mutex_t mu;
  pthread_cond_t wake, fence_wake;
  /* When the napping renewer looks at the entries again at the latest (monotonic); 0
   * while it is awake. A hold wakes it only for an entry due before then: with a lease
   * of 3 s or more (the worker's floor), never, and the job's start costs no thread
   * hand-off (a futex wake of the renewer, its walk of the entries, its nap again). */
  double renewer_looks_by;
  entry *renewing; /* the entry the renewer uses without the lock, or NULL */
  int stop;
  fpq_queue *q; /* the thread's own handle */
  char worker[128];
  double lease;
  entry *entries;
};

static void klog(const fpq__lease_keeper *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void klog(const fpq__lease_keeper *k, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fpq__log_line("worker", k->worker, fmt, ap);
  va_end(ap);
}

static int same_run(const fpq_job *a, const fpq_job *b) {
  if (strcmp(a->id, b->id) != 0) return 0;
  if (a->execution == NULL || b->execution == NULL) return a->execution == b->execution;
  return strcmp(a->execution, b->execution) == 0;
}

/* Under the lock. */
static entry *find(fpq__lease_keeper *k, const fpq_job *job) {
  for (entry *e = k->entries; e; e = e->next)
    if (!e->released && same_run(e->job, job)) return e;
  return NULL;
}

/* Under the lock: SIGTERM, then SIGKILL, to a run whose lease could not be kept. */
static void fence(fpq__lease_keeper *k, entry *e, double now) {
  double age = now - e->renewed;
  if (e->pgid <= 0 || e->kill_sent) return;
  if (age >= FPQ__LEASE_KILL_AT * k->lease) {
    if (!e->term_sent) /* no time left for SIGTERM (e.g. the process was stopped) */
      klog(k, "job %s: no lease renewal for %.1f s of a %.0f s lease; killing the run "
           "before another worker may take the job", e->job->id, age, k->lease);
    e->kill_sent = 1;
    e->lost = 1;
    kill(-e->pgid, SIGKILL);
  } else if (age >= FPQ__LEASE_TERM_AT * k->lease && !e->term_sent) {
    e->term_sent = 1;
    e->lost = 1;
    klog(k, "job %s: no lease renewal for %.1f s of a %.0f s lease; stopping the run "
         "before another worker may take the job", e->job->id, age, k->lease);
    kill(-e->pgid, SIGTERM);
  }
}

static void renew(fpq__lease_keeper *k, entry *e, double started) {
  /* Without the lock: only this thread frees entries, and e->job never changes. */
  int rc = fpq_extend(k->q, e->job, k->worker, k->lease);
  const char *why = rc ? fpq_errmsg(k->q) : "";
  pthread_mutex_lock(&k->mu);
  if (rc == 0) {
    if (!e->lost) e->renewed = started; /* a fenced run stays fenced */
    e->next_try = started + FPQ__LEASE_RENEW_AT * k->lease;
    if (e->failing) klog(k, "job %s: lease renewed again", e->job->id);
    e->failing = 0;
  } else if (rc == FPQ_ELEASE) {
    /* Without a process (its outcome is being recorded, or waits to be) there is nothing
     * to stop, and recording it says what happened. */
    if (!e->lost && !e->released && e->pgid > 0)
      klog(k, "job %s: %s; stopping our run of it", e->job->id, why);
    e->lost = 1;
    e->next_try = 1e300;
    if (e->pgid > 0 && !e->kill_sent) {
      e->kill_sent = 1;
      kill(-e->pgid, SIGKILL); /* someone else may run it already: at once */
    }
  } else {
    if (!e->failing) klog(k, "cannot renew the lease of job %s: %s", e->job->id, why);
    e->failing = 1;
    e->next_try = fpq__monotonic() + RETRY_EVERY;
  }
  pthread_mutex_unlock(&k->mu);
}

/* The monotonic time a nap of `seconds` ends: at most MAX_NAP from now, now if none. */
static double nap_deadline(double seconds) {
  return fpq__monotonic() + (seconds > 0 ? (seconds < MAX_NAP ? seconds : MAX_NAP) : 0);
}

/* Under the lock: waits on cond until deadline (monotonic), or until woken. */
static void nap(pthread_cond_t *cond, pthread_mutex_t *mu, double deadline) {
  double seconds = deadline - fpq__monotonic();
  if (!(seconds > 0)) return;
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  long ns = until.tv_nsec + (long)(seconds * 1e9);
  until.tv_sec += ns / 1000000000L;
  until.tv_nsec = ns % 1000000000L;
  pthread_cond_timedwait(cond, mu, &until);
}

static void *fencer_main(void *arg) {
  fpq__lease_keeper *k = arg;
  pthread_mutex_lock(&k->mu);
  while (!k->stop) {
    double now = fpq__monotonic();
    for (entry *e = k->entries; e; e = e->next)
      if (!e->released) fence(k, e, now);
    nap(&k->fence_wake, &k->mu, nap_deadline(MAX_NAP));
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

static void *renewer_main(void *arg) {
  fpq__lease_keeper *k = arg;
  pthread_mutex_lock(&k->mu);
  while (!k->stop) {
    double now = fpq__monotonic();
    double next = now + MAX_NAP;
    entry **link = &k->entries;
    while (*link) { /* free what the worker let go */
      entry *e = *link;
      if (e->released) {
        *link = e->next;
        fpq_job_free(e->job);
        fpq__free(e);
      } else {
        link = &e->next;
      }
    }
    for (entry *e = k->entries; e && !k->stop; e = e->next) {
      if (e->released || e->lost) continue;
      /* A run past its fencing deadline is the fencer's, even if a renewal would succeed
       * now: after the whole worker was stopped (Ctrl-Z) this thread may wake before the
       * fencer, and a lease renewed then would let a run continue that the worker had
       * promised to stop (its lease lapsed in the backend meanwhile). */
      fence(k, e, now);
      if (e->lost) continue;
      if (now >= e->next_try) {
        k->renewing = e;
        pthread_mutex_unlock(&k->mu);
        renew(k, e, now);
        pthread_mutex_lock(&k->mu);
        k->renewing = NULL;
        now = fpq__monotonic();
      }
      if (!e->lost && e->next_try < next) next = e->next_try;
    }
    k->renewer_looks_by = nap_deadline(next - fpq__monotonic());
    nap(&k->wake, &k->mu, k->renewer_looks_by);
    k->renewer_looks_by = 0;
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

fpq__lease_keeper *fpq__lease_keeper_start(const fpq_options *open, const char *worker,
                                           double lease, char *err, size_t errlen) {
  fpq__lease_keeper *k = fpq__calloc(1, sizeof *k);
  if (k == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  snprintf(k->worker, sizeof k->worker, "%s", worker);
  k->lease = lease;
  int rc = fpq_open(&k->q, open);
  if (rc) {
    snprintf(err, errlen, "%s", fpq_errmsg(k->q));
    fpq_close(k->q);
    fpq__free(k);
    return NULL;
  }
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&k->wake, &ca);
  pthread_cond_init(&k->fence_wake, &ca);
  pthread_condattr_destroy(&ca);
  pthread_mutex_init(&k->mu, NULL);
  /* Signals go to the loop thread (uv_signal), not here. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  rc = pthread_create(&k->renewer, NULL, renewer_main, k);
  if (rc == 0) {
    k->threads = 1;
    rc = pthread_create(&k->fencer, NULL, fencer_main, k);
    if (rc == 0) k->threads = 2;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc) {
    snprintf(err, errlen, "cannot start the lease threads: %s", strerror(rc));
    fpq__lease_keeper_stop(k);
    return NULL;
  }
  return k;
}

void fpq__lease_keeper_stop(fpq__lease_keeper *k) {
  if (k == NULL) return;
  pthread_mutex_lock(&k->mu);
  k->stop = 1;
  pthread_cond_signal(&k->wake);
  pthread_cond_signal(&k->fence_wake);
  pthread_mutex_unlock(&k->mu);
  if (k->threads > 0) pthread_join(k->renewer, NULL);
  if (k->threads > 1) pthread_join(k->fencer, NULL);
  while (k->entries) {
    entry *e = k->entries;
    k->entries = e->next;
    fpq_job_free(e->job);
    fpq__free(e);
  }
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->wake);
  pthread_cond_destroy(&k->fence_wake);
  fpq_close(k->q);
  fpq__free(k);
}

int fpq__lease_keeper_hold(fpq__lease_keeper *k, const fpq_job *job) {
  entry *e = fpq__calloc(1, sizeof *e);
  fpq_job *copy = e ? fpq_job_new() : NULL;
  if (copy == NULL || fpq_job_set(&copy->execution, job->execution)) {
    fpq_job_free(copy);
    fpq__free(e);
    return FPQ_ENOMEM;
  }
  memcpy(copy->id, job->id, sizeof copy->id);
  e->job = copy;
  /* The take stamped lease_until = (its start) + lease, before this moment. */
  e->renewed = fpq__monotonic();
  e->next_try = e->renewed + FPQ__LEASE_RENEW_AT * k->lease;
  pthread_mutex_lock(&k->mu);
  e->next = k->entries;
  k->entries = e;
  if (e->next_try < k->renewer_looks_by) pthread_cond_signal(&k->wake);
  pthread_mutex_unlock(&k->mu);
  return 0;
}

void fpq__lease_keeper_set_group(fpq__lease_keeper *k, const fpq_job *job, int pgid) {
  pthread_mutex_lock(&k->mu);
  entry *e = find(k, job);
  if (e) {
    e->pgid = pgid;
    fence(k, e, fpq__monotonic()); /* a run started late may be due already */
  }
  pthread_mutex_unlock(&k->mu);
}

void fpq__lease_keeper_release(fpq__lease_keeper *k, const fpq_job *job) {
  pthread_mutex_lock(&k->mu);
  entry **link = &k->entries;
  while (*link && ((*link)->released || !same_run((*link)->job, job))) link = &(*link)->next;
  entry *e = *link;
  if (e == k->renewing && e) {
    e->released = 1;
    e->pgid = 0;
  } else if (e) {
    *link = e->next;
    fpq_job_free(e->job);
    fpq__free(e);
  }
  pthread_mutex_unlock(&k->mu);
}

int fpq__lease_keeper_lost(fpq__lease_keeper *k, const fpq_job *job) {
  pthread_mutex_lock(&k->mu);
  entry *e = find(k, job);
  int lost = e && e->lost;
  pthread_mutex_unlock(&k->mu);
  return lost;
}

int fpq__lease_keeper_after_stop(fpq__lease_keeper *k) {
  int killed = 0;
  pthread_mutex_lock(&k->mu);
  double now = fpq__monotonic();
  for (entry *e = k->entries; e; e = e->next) {
    if (e->released || e->pgid <= 0 || e->kill_sent) continue;
    if (e->lost || now - e->renewed >= FPQ__LEASE_TERM_AT * k->lease) {
      e->lost = e->term_sent = e->kill_sent = 1;
      kill(-e->pgid, SIGKILL); /* still stopped: it runs no further */
      klog(k, "job %s: the worker was stopped for %.1f s, past its lease; the run is "
           "killed before it continues", e->job->id, now - e->renewed);
      killed++;
    }
  }
  pthread_cond_signal(&k->wake); /* renew the others now */
  for (entry *e = k->entries; e; e = e->next)
    if (!e->released && !e->lost) e->next_try = now;
  pthread_mutex_unlock(&k->mu);
  return killed;
}
