"""Huey for bench/compare: RedisHuey (db 5) with results kept, and notify_result=True
(huey's documented option to wait for a result with BLPOP instead of polling).
Consumer: `huey_consumer bp_huey.huey -k process -w 2`."""

import bp_common as c
from huey import RedisHuey

huey = RedisHuey("bp", url=c.redis_url(c.DB["huey"]), notify_result=True)


@huey.task()
def run_pipeline(project, pipeline, run=None):
    return c.run_pipeline(project, pipeline, run)


@huey.task()
def noop():
    return c.noop()
