/* metrics.h: the metrics document in other forms, and the worker's /metrics endpoint. */
#ifndef FPQ_METRICS_H
#define FPQ_METRICS_H

#include <uv.h>

#include "fpq.h"

/* Converts the JSON document of fpq_metrics_json to Prometheus text format 0.0.4
 * (fpq_metrics_prometheus reads the document and calls this). Returns 0 and a string the
 * caller frees with fpq__free, or FPQ_EFORMAT/FPQ_ENOMEM. */
int fpq__metrics_prometheus(const char *json, char **out);

typedef struct fpq__metrics_server fpq__metrics_server;

/* Serves GET /metrics (Prometheus text) on host:port from the loop, reading through q
 * (borrowed; must outlive the server). Returns the server or NULL with one line in err. */
fpq__metrics_server *fpq__metrics_server_start(uv_loop_t *loop, const char *host, int port,
                                               fpq_queue *q, char *err, size_t errlen);
/* Stops listening and closes open connections; the memory is freed by the loop. */
void fpq__metrics_server_close(fpq__metrics_server *s);

#endif /* FPQ_METRICS_H */
