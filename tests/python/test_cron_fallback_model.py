"""Differential test of the engine's DST rule against a small model of cron's rule.

The model is written from the rule alone (docs/cron.md, "The DST rule"), walking real
time instant by instant with Python's zoneinfo, and knows nothing of how the engine
searches:

* an instant fires when its wall-clock time matches the fields, unless it is the second
  showing of a wall time repeated by a fall-back and the hour field is fixed (does not
  begin with ``*``): Vixie cron and cronie run wildcard-hour jobs on the new clock in
  both passes of a repeated hour, fixed-hour jobs once;
* the first instant after a spring-forward gap fires when any skipped wall time matches.

The engine answers through ``tests/c/tools/cron_oracle`` (``FPQ_CRON_ORACLE``, set by
scripts/test); each case compares every fire in a window of four hours (two with a
seconds field) around one DST change of New York, Berlin, Sydney or Lord Howe (whose
clock moves by half an hour), starting before, inside or after the repeated stretch.
"""

from __future__ import annotations

import datetime
import os
import random
import subprocess
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

ORACLE = os.environ.get("FPQ_CRON_ORACLE", "")
pytestmark = pytest.mark.skipif(
    not ORACLE,
    reason="FPQ_CRON_ORACLE is not set: build tests/c/tools/cron_oracle "
    "(cmake -DFPQ_BUILD_TESTS=ON) and point FPQ_CRON_ORACLE at the binary",
)

SEED = int(os.environ.get("FPQ_CRON_SEED", "20241103"))
COUNT = int(os.environ.get("FPQ_CRON_MODEL_COUNT", "600"))
ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe"]

SECONDS = ["0", "*/10", "15,45", "*/7", "30-40/5"]
MINUTES = ["*", "0", "19", "*/15", "30", "0,30", "45-59", "*/7", "5/20", "59"]
# Wildcard hours (begin with '*') and fixed ones, including fixed spellings of every hour.
HOURS = ["*", "*/2", "*/3", "*/1", "1", "2", "1-3", "0-23", "1,2", "2/1", "0-23/1", "3"]


@dataclass(frozen=True)
class Case:
    expr: str
    six: bool
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    hour_star: bool
    zone: str
    start: int
    end: int


def expand(text: str, lo: int, hi: int) -> frozenset[int]:
    """The values of a cron field (the small grammar the generator uses)."""
    out: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            a, b = lo, hi
        elif "-" in base:
            a, b = (int(x) for x in base.split("-"))
        else:
            a = int(base)
            b = hi if step_text else a
        out.update(range(a, b + 1, step))
    return frozenset(out)


def transitions(zone: str) -> list[int]:
    """The instants in 2024-2026 at which the zone's UTC offset changes (minute-exact)."""
    tz = ZoneInfo(zone)
    t = int(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC).timestamp())
    stop = int(datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp())
    found = []
    off = datetime.datetime.fromtimestamp(t, tz).utcoffset()
    while t < stop:
        nxt = t + 3600
        o = datetime.datetime.fromtimestamp(nxt, tz).utcoffset()
        if o != off:
            lo, hi = t, nxt  # off(lo) == off, off(hi) != off
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.datetime.fromtimestamp(mid, tz).utcoffset() == off:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            off = o
        t = nxt
    return found


def make_cases(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    changes = {zone: transitions(zone) for zone in ZONES}
    cases = []
    for _ in range(count):
        zone = rng.choice(ZONES)
        at = rng.choice(changes[zone])
        six = rng.random() < 0.25
        sec = rng.choice(SECONDS) if six else "0"
        minute, hour = rng.choice(MINUTES), rng.choice(HOURS)
        expr = f"{sec} {minute} {hour} * * *" if six else f"{minute} {hour} * * *"
        span = 7200 if six else 4 * 3600
        start = at - rng.randrange(span) + rng.randrange(-1, 2) * rng.randrange(60)
        cases.append(Case(expr, six, expand(sec, 0, 59), expand(minute, 0, 59),
                          expand(hour, 0, 23), hour.startswith("*"), zone, start, start + span))
    return cases


def model_fires(c: Case) -> list[int]:
    """Every fire in (start, end] by cron's rule, walking real time."""
    tz = ZoneInfo(c.zone)

    def matches(w: datetime.datetime) -> bool:
        return w.second in c.seconds and w.minute in c.minutes and w.hour in c.hours

    fires = []
    step = 1 if c.six else 60
    t = c.start + 1
    if not c.six:  # 5 fields fire on whole minutes
        t += -t % 60
    prev = datetime.datetime.fromtimestamp(t - step, tz)
    while t <= c.end:
        now = datetime.datetime.fromtimestamp(t, tz)
        wall = now.replace(tzinfo=None)
        fire = matches(wall) and (now.fold == 0 or c.hour_star)
        jumped = now.utcoffset() > prev.utcoffset()  # type: ignore[operator]
        if not fire and jumped:  # the first instant after a spring-forward gap
            w = prev.replace(tzinfo=None) + datetime.timedelta(seconds=step)
            while w < wall and not matches(w):
                w += datetime.timedelta(seconds=1 if c.six else 60)
            fire = w < wall
        if fire:
            fires.append(t)
        prev, t = now, t + step
    return fires


def engine_fires(cases: list[Case]) -> list[list[int]]:
    lines = "".join(f"{c.expr}\t{c.zone}\t{c.start}\t10000\n" for c in cases)
    proc = subprocess.run([ORACLE], input=lines, capture_output=True, text=True, timeout=600,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = []
    for c, line in zip(cases, proc.stdout.splitlines(), strict=True):
        status, _, rest = line.partition("\t")
        assert status == "ok", f"{c.expr!r}: {line}"
        out.append([t for t in (int(x) for x in rest.split(",") if x) if t <= c.end])
    return out


def test_the_dst_rule_matches_a_model_of_crons_rule() -> None:
    cases = make_cases(SEED, COUNT)
    ours = engine_fires(cases)
    bad, second_pass = [], 0
    for c, got in zip(cases, ours, strict=True):
        want = model_fires(c)
        second_pass += sum(
            1 for t in want if datetime.datetime.fromtimestamp(t, ZoneInfo(c.zone)).fold
        )
        if got != want:
            tz = ZoneInfo(c.zone)
            only = sorted(set(got) ^ set(want))[:4]
            shown = [datetime.datetime.fromtimestamp(t, tz).isoformat() for t in only]
            bad.append(f"{c.expr!r} in {c.zone} from {c.start}: differ at {shown}")
    assert not bad, f"{len(bad)} of {len(cases)} cases differ, e.g. " + "; ".join(bad[:5])
    # The rule was exercised: wildcard-hour fires in second passes were compared.
    assert second_pass > 100


@pytest.mark.parametrize(
    "expr,zone,start,want",
    [
        # New York repeats 01:00-02:00 on 2024-11-03 (05:00Z-06:00Z EDT, 06:00Z-07:00Z EST).
        ("19 * * * *", "America/New_York", "2024-11-03T04:30:00Z",
         ["01:19:00-04:00", "01:19:00-05:00", "02:19:00-05:00"]),
        ("*/15 1 * * *", "America/New_York", "2024-11-03T05:40:00Z",
         ["01:45:00-04:00"]),
        # Lord Howe repeats 01:30-02:00 on 2024-04-07: a half-hour second pass.
        ("45 * * * *", "Australia/Lord_Howe", "2024-04-06T14:00:00Z",
         ["01:45:00+11:00", "01:45:00+10:30", "02:45:00+10:30"]),
    ],
)
def test_wildcard_hours_fire_in_both_passes(
    expr: str, zone: str, start: str, want: list[str]
) -> None:
    t0 = int(datetime.datetime.fromisoformat(start).timestamp())
    (line,) = subprocess.run([ORACLE], input=f"{expr}\t{zone}\t{t0}\t{len(want)}\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
    status, _, rest = line.partition("\t")
    assert status == "ok", line
    tz = ZoneInfo(zone)
    got = [datetime.datetime.fromtimestamp(int(x), tz).isoformat()[11:] for x in rest.split(",")]
    assert got == want
