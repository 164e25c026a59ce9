/* worker_state.h: the worker's state, shared by its files only: a worker, its slots (one
 * executor each) and the outcomes the backend has not taken yet. worker.c runs the loop
 * (executors, takes, the tick, stopping), worker_record.c records outcomes and
 * worker_setup.c settles what the loop needs before it runs. Not an interface: nothing
 * outside the worker includes it. */
#ifndef FPQ_WORKER_STATE_H
#define FPQ_WORKER_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "executor.h"
#include "fpq.h"
#include "fpq_worker.h"
#include "lease_keeper.h"
#include "metrics.h"
#include "scheduler.h"

typedef enum { SLOT_STARTING, SLOT_IDLE, SLOT_BUSY, SLOT_DOWN } slot_state;
typedef enum {
  KILL_NONE,
  KILL_TIMEOUT,
  KILL_STOP_JOB,
  KILL_HORSE,
  KILL_SHUTDOWN,
  KILL_LEASE_LOST
} kill_reason;

struct worker;

typedef struct slot {
  struct worker *w;
  int index;
  slot_state state;
  fpq__executor *exec;
  fpq_job *job;          /* the job it runs, owned */
  double job_started;    /* monotonic */
  uv_timer_t timer;      /* job timeout, then the kill grace; restart backoff when down */
  kill_reason killing;
  int term_sent;         /* timeout: SIGTERM sent, SIGKILL next */
  int failed_starts;
} slot;

/* An outcome the backend has not taken yet (it was unreachable): kept here, apart from
 * the slot, so the slot can run the next job meanwhile; retried each tick. */
typedef struct unrecorded {
  struct unrecorded *next;
  fpq_job *job;
  fpq_outcome outcome;
  char *result, *error, *log; /* owned; outcome points at them */
} unrecorded;

typedef struct worker {
  uv_loop_t loop;
  fpq_worker_options opt;
  fpq_queue *q;      /* loop thread */
  fpq_queue *take_q; /* thread pool: one take at a time */
  /* Thread pool: records outcomes, one at a time, oldest first, so storing a 200 MB
   * result never holds up the loop (timeouts, commands, the next job). */
  fpq_queue *record_q;
  uv_work_t record_req;
  int recording;      /* the head of unrecorded is being recorded */
  int record_wait;    /* the backend refused for now: wait for the next tick */
  int in_step;        /* a step runs on the loop thread (finish_and_take) */
  int record_rc;
  fpq_status record_final;
  char record_err[512];
  char name[128];
  char hostname[256];
  char queues_text[512]; /* as given, for display (three namespaced names fit) */
  char queue_names[512];  /* split in place: queues[] point into it */
  const char *queues[16];
  size_t nqueues;
  char python[PATH_MAX];
  int pipeline_cache; /* executor.pipeline_cache, passed to each executor */
  slot *slots;
  int nslots;
  uv_work_t take_req;
  int taking;
  int take_rc;
  fpq_job *taken;
  char take_err[512];
  uv_timer_t take_retry;
  uv_timer_t tick;
  fpq__metrics_server *metrics; /* --metrics-port: /metrics for Prometheus */
  fpq__scheduler *sched;        /* --with-scheduler */
  uv_signal_t sigterm, sigint, sigtstp, sigcont;
  fpq__lease_keeper *keeper; /* renews leases on its own thread; fences stale runs */
  int stopping; /* 0 running, 1 finishing running jobs, 2 stopping now */
  double stop_started;
  int closing;
  int exit_code;
  int64_t successful, failed;
  double busy_seconds, birth;
  int announced_ready; /* "ready" logged once every slot's first executor said hello */
  unsigned long ticks;
  unrecorded *unrecorded; /* outcomes to record again, oldest first */
  /* Take-ahead: while every slot is busy with short jobs, the next job is taken already
   * and waits here (started, leased to us) for the first slot that frees, so a slot goes
   * from one short job to the next without a backend round trip in between. Only for
   * short jobs: a job held back behind a long one could have run on another worker. */
  fpq_job *ahead;
  double recent_run; /* moving average of run times, seconds */
  char **retrying; /* burst: ids of jobs this worker scheduled for a retry */
  size_t nretrying;
  double callback_timeout; /* executor.callback_timeout, seconds */
  int callbacks;           /* callback processes running; a stop waits for them */
} worker;

/* The loop (worker.c), for worker_record.c. */
/* One line on stderr, unless --quiet and not important. */
void fpq__worker_log(const worker *w, int important, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Whether a job should be taken now: a slot is idle, or every slot runs short jobs and
 * none is taken ahead yet. */
int fpq__worker_want_take(const worker *w);
/* Starts a take on the thread pool when one is wanted and none is under way. */
void fpq__worker_maybe_take(worker *w);
/* Thread pool, after a take answered rc with w->taken: holds the job (its lease is
 * renewed from here) or keeps the failure's message (why) for after_take. */
void fpq__worker_took(worker *w, int rc, const char *why);
/* The loop thread, after a take (alone or in a step) answered w->take_rc with w->taken. */
void fpq__worker_after_take(uv_work_t *req, int status);
/* When stopping: once nothing runs, records, is taken or runs a callback, stops the
 * executors and then the loop; outcomes the backend still refuses are kept for
 * STOP_RECORD_GRACE (worker.c), then dropped (their jobs are retried when leases end). */
void fpq__worker_check_stopped(worker *w);

/* Outcomes (worker_record.c). */
/* Records u, the outcome of a job that just ended (NULL: none to keep), and starts a take
 * if one is wanted and the worker is not stopping: both in one step when nothing else is
 * being recorded or taken, else u waits its turn behind older outcomes. When stopping,
 * checks whether the worker may stop now. */
void fpq__worker_record(worker *w, unrecorded *u);
/* The tick: asks the backend again for the outcomes it refused before, oldest first. */
void fpq__worker_record_unrecorded(worker *w);
/* Frees every outcome still waiting to be recorded; returns how many there were. */
int fpq__worker_drop_unrecorded(worker *w);
/* The worker is done with a job it held: the keeper stops renewing it; frees the job. */
void fpq__worker_let_go(worker *w, fpq_job *job);

/* Set-up (worker_setup.c). Each returns 0, or -1/an exit code having said why on stderr. */
/* Splits the comma-joined queue names into w->queues (exact RQ names, strict order). */
int fpq__worker_parse_queues(worker *w, const char *text);
/* 2 (having said why) when a live worker holds w's name, else 0. */
int fpq__worker_refuse_a_taken_name(worker *w);
/* The executors' settings and the default queues from the project's conf; -1 on a bad one. */
int fpq__worker_read_executor_settings(worker *w, char *queues, size_t queues_len);

#endif
