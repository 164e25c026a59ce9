"""`rq worker -c bp_rq_settings`: RQ's documented way to preload libraries before the
worker starts (its "performance notes"): importing this module imports bp_common, which
preloads FlowerPower when BENCH_PRELOAD=1."""

import bp_common

REDIS_URL = bp_common.redis_url(bp_common.DB["rq"])
