"""Celery app for bench/compare: Redis broker (db 1), Redis result backend (db 2), JSON.
Worker: `celery -A bp_celery worker --pool prefork --concurrency 2` (Celery's defaults
otherwise: prefetch multiplier 4, late ack off)."""

import bp_common as c
from celery import Celery

app = Celery("bp", broker=c.redis_url(c.DB["celery"]), backend=c.redis_url(c.DB["celery_results"]))
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


@app.task(name="run_pipeline")
def run_pipeline(project, pipeline, run=None):
    return c.run_pipeline(project, pipeline, run)


@app.task(name="noop")
def noop():
    return c.noop()
