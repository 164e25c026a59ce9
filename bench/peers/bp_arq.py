"""arq for bench/compare (db 6), arq's defaults (max_jobs 10, poll_delay 0.5 s, results
kept 1 h). Worker: `arq bp_arq.WorkerSettings`, two processes. The pipeline task calls
FlowerPower directly in the coroutine: a FlowerPower run is CPU-bound (threads would
share one GIL) and changes the working directory, so a thread pool would be wrong."""

import bp_common as c
from arq.connections import RedisSettings


async def run_pipeline(ctx, project, pipeline, run=None):
    return c.run_pipeline(project, pipeline, run)


async def noop(ctx):
    return c.noop()


class WorkerSettings:
    functions = [run_pipeline, noop]  # noqa: RUF012 - arq reads a class attribute
    redis_settings = RedisSettings(host="127.0.0.1", port=c.PORT, database=c.DB["arq"])
