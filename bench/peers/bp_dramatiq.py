"""Dramatiq broker for bench/compare: RedisBroker (db 3) with the Results middleware on a
RedisBackend (db 4), so a round trip can wait for a result.
Worker: `dramatiq bp_dramatiq --processes 2 --threads 1`."""

import bp_common as c
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

broker = RedisBroker(url=c.redis_url(c.DB["dramatiq"]))
results = RedisBackend(url=c.redis_url(c.DB["dramatiq_results"]))
broker.add_middleware(Results(backend=results))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True)
def run_pipeline(project, pipeline, run=None):
    return c.run_pipeline(project, pipeline, run)


@dramatiq.actor(store_results=True)
def noop():
    return c.noop()
