/* backend_contract.h: one suite of behaviour every backend must show, run through the
 * public API (fpq.h) so it tests what users get. A backend's test file supplies how to
 * reach a fresh, empty store and calls backend_contract_run. */
#ifndef FPQ_BACKEND_CONTRACT_H
#define FPQ_BACKEND_CONTRACT_H

typedef struct backend_contract {
  const char *backend; /* name given to fpq_open */
  /* Returns a URL (caller frees) to an empty store for a test whose project is
   * project_dir; NULL = the backend's default for that project. */
  char *(*make_url)(const char *project_dir);
  /* Empties the store between tests, if make_url reuses one (may be NULL). */
  void (*reset)(const char *url);
  /* 1: the backend implements only the version-1 methods (no schedules or leases). */
  int version1_only;
  /* 1: runs are fenced by execution (version 3's extend_execution and take's token). */
  int fenced;
  /* 1: the backend is older than version 3 (no depends_on). */
  int no_dependencies;
  /* 1: the backend does the worker's step from its loop thread (finish_take_nowait,
   * version 6) at once when nothing stands in the way. */
  int steps_at_once;
} backend_contract;

/* Runs the suite; returns the number of failed tests (cmocka's convention). */
int backend_contract_run(const backend_contract *c);

#endif /* FPQ_BACKEND_CONTRACT_H */
