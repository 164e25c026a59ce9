"""Differential test of the C cron engine against the Python library croniter.

The C side is ``tests/c/tools/cron_oracle`` (built by CMake with
``-DFPQ_BUILD_TESTS=ON``), found through the ``FPQ_CRON_ORACLE`` environment
variable; this file builds nothing.  It generates random valid expressions
(seeded: ``FPQ_CRON_SEED``, count ``FPQ_CRON_COUNT``, default 10,000), random
start times in 2020-2030 -- about a quarter of them close to a DST change -- in UTC
and three DST zones, and compares the next five fire times with croniter.

Where the two disagree, each disagreement must be explained by a rule that
docs/cron.md documents, and the explanation is checked, not assumed:

* ``spring-forward gap``: we fire at the instant a gap ends because a wall time
  inside the gap matches; croniter drops it (it does so when the hour field
  is ``*``).
* ``spring-forward gap, croniter keeps seconds``: both fire a skipped time when
  the gap ends, but croniter moves it forward whole minutes and so keeps its
  seconds (02:52:42 fires at 03:00:42; we fire at 03:00:00, the first instant
  after the gap).  Counted twice, once for each side's fire time.
* ``fall-back repeat``: croniter fires a repeated wall time a second time; we
  fired it at its first occurrence (or that occurrence was before the start).
* ``dom/dow '*' step (Vixie)``: a day field beginning with ``*`` (``*/2``)
  makes the day fields combine with AND, as in Vixie cron; croniter's default
  treats ``*/2`` as restricted and ORs.  The DST comparison therefore runs
  croniter with the ``day_or`` our rule implies, and this class counts the
  expressions where croniter's default would have disagreed.

The test prints a summary table of disagreements by rule and fails on any
disagreement it cannot explain.

Example::

    FPQ_CRON_ORACLE=build/cron_oracle python -m pytest -s tests/python/test_cron_differential.py
"""

from __future__ import annotations

import collections
import datetime
import os
import random
import subprocess
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest

croniter_mod = pytest.importorskip(
    "croniter", reason="croniter (a test dependency from PyPI) is not installed"
)
croniter = croniter_mod.croniter

ORACLE = os.environ.get("FPQ_CRON_ORACLE", "")
pytestmark = pytest.mark.skipif(
    not ORACLE,
    reason="FPQ_CRON_ORACLE is not set: build tests/c/tools/cron_oracle "
    "(cmake -DFPQ_BUILD_TESTS=ON) and point FPQ_CRON_ORACLE at the binary",
)

SEED = int(os.environ.get("FPQ_CRON_SEED", "20240331"))
COUNT = int(os.environ.get("FPQ_CRON_COUNT", "10000"))
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney"]
NEXT = 5
START_MIN = int(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC).timestamp())
START_MAX = int(datetime.datetime(2031, 1, 1, tzinfo=datetime.UTC).timestamp())

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]


@dataclass(frozen=True)
class Field:
    lo: int
    hi: int  # highest value a user may write (day-of-week: 7)
    star_hi: int  # where '*' and 'a/n' stop (day-of-week: 6)
    names: list[str] | None = None
    name_base: int = 0


SECOND = Field(0, 59, 59)
MINUTE = Field(0, 59, 59)
HOUR = Field(0, 23, 23)
DOM = Field(1, 31, 31)
MONTH = Field(1, 12, 12, MONTHS, 1)
DOW = Field(0, 7, 6, DAYS, 0)


@dataclass
class Case:
    ours: str  # expression given to the oracle
    theirs: str  # the same schedule spelled for croniter
    six: bool  # leading seconds field
    zone: str
    start: int
    dom: str  # our day-of-month field text
    dow: str  # our day-of-week field text


# ---- expression generation ------------------------------------------------


def _value(rng: random.Random, f: Field, v: int) -> str:
    if f.names and rng.random() < 0.4 and v - f.name_base < len(f.names):
        return f.names[v - f.name_base] if rng.random() < 0.5 else f.names[v - f.name_base].lower()
    return str(v)


def _item(rng: random.Random, f: Field) -> tuple[str, str, set[int]]:
    """One list item: (our text, croniter's text, values it allows)."""
    span = f.star_hi - f.lo + 1
    kind = rng.choices(["one", "range", "range_step", "start_step", "equal"], [50, 25, 10, 10, 5])[
        0
    ]
    if kind == "one":
        v = rng.randint(f.lo, f.hi)
        text = _value(rng, f, v)
        return text, text, {v}
    if kind == "equal":
        # "a-a" is {a} for us and Vixie cron, the whole cycle for croniter.
        v = rng.randint(f.lo, f.star_hi)
        return f"{_value(rng, f, v)}-{_value(rng, f, v)}", str(v), {v}
    if kind == "start_step":
        a, n = rng.randint(f.lo, f.star_hi), rng.randint(1, span)
        text = f"{_value(rng, f, a)}/{n}"
        return text, text, set(range(a, f.star_hi + 1, n))
    a = rng.randint(f.lo, f.hi - 1)
    b = rng.randint(a + 1, f.hi)
    text = f"{_value(rng, f, a)}-{_value(rng, f, b)}"
    values = set(range(a, b + 1))
    if kind == "range_step":
        n = rng.randint(1, span)
        text += f"/{n}"
        values = set(range(a, b + 1, n))
    return text, text, values


def _field(rng: random.Random, f: Field, star_weight: int) -> tuple[str, str, set[int]]:
    kind = rng.choices(["star", "star_step", "list"], [star_weight, 15, 100 - star_weight - 15])[0]
    if kind == "star":
        return "*", "*", set(range(f.lo, f.star_hi + 1))
    if kind == "star_step":
        n = rng.randint(1, f.star_hi - f.lo + 1)
        return f"*/{n}", f"*/{n}", set(range(f.lo, f.star_hi + 1, n))
    ours, theirs, values = [], [], set()
    for _ in range(rng.choices([1, 2, 3], [70, 20, 10])[0]):
        o, t, v = _item(rng, f)
        ours.append(o)
        theirs.append(t)
        values |= v
    return ",".join(ours), ",".join(theirs), values


MAX_DAYS = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
MACROS = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]


def generate(rng: random.Random) -> tuple[str, str, bool, str, str]:
    """A valid expression: (ours, croniter's, six fields, our dom field, our dow field)."""
    if rng.random() < 0.02:
        m = rng.choice(MACROS)
        return (
            m,
            m,
            False,
            "1" if m in ("@yearly", "@annually", "@monthly") else "*",
            ("0" if m == "@weekly" else "*"),
        )
    while True:
        six = rng.random() < 0.2
        parts = []
        if six:
            parts.append(_field(rng, SECOND, 30))
        parts.append(_field(rng, MINUTE, 25))
        parts.append(_field(rng, HOUR, 40))
        dom = _field(rng, DOM, 55)
        month = _field(rng, MONTH, 60)
        dow = _field(rng, DOW, 55)
        parts += [dom, month, dow]
        dom_star, dow_star = dom[0].startswith("*"), dow[0].startswith("*")
        # Our parser refuses an AND-combined day-of-month no allowed month has.
        if (dom_star or dow_star) and not any(d <= MAX_DAYS[m] for m in month[2] for d in dom[2]):
            continue
        # croniter reads "7/n" in day-of-week as "0-6/n"; we read it as Sunday.
        if any(item.startswith("7/") for item in dow[0].split(",")):
            continue
        return (
            " ".join(p[0] for p in parts),
            " ".join(p[1] for p in parts),
            six,
            dom[0],
            dow[0],
        )


def dst_transitions(zone: str) -> list[int]:
    """Instants (2020-2030) at which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    out, t = [], START_MIN
    prev = datetime.datetime.fromtimestamp(t, tz).utcoffset()
    while t < START_MAX:
        nxt = t + 3600
        off = datetime.datetime.fromtimestamp(nxt, tz).utcoffset()
        if off != prev:
            lo, hi = t, nxt  # offset(lo) == prev != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.datetime.fromtimestamp(mid, tz).utcoffset() == prev:
                    lo = mid
                else:
                    hi = mid
            out.append(hi)
            prev = off
        t = nxt
    return out


def make_cases(seed: int, count: int) -> list[Case]:
    rng = random.Random(seed)
    transitions = {z: dst_transitions(z) for z in ZONES if z != "UTC"}
    cases = []
    for _ in range(count):
        ours, theirs, six, dom, dow = generate(rng)
        zone = rng.choice(ZONES)
        if zone != "UTC" and rng.random() < 0.35:
            # Dense expressions need a start within minutes of the change,
            # daily ones within days of it.
            edge = rng.choice(transitions[zone])
            if rng.random() < 0.5:
                start = edge + rng.randint(-7200, 7200)
            else:
                start = edge - rng.randint(0, 2 * 86400)
        else:
            start = rng.randint(START_MIN, START_MAX)
        cases.append(Case(ours, theirs, six, zone, start, dom, dow))
    return cases


# ---- the two engines ------------------------------------------------------


def run_oracle(lines: list[str]) -> list[str]:
    proc = subprocess.run(
        [ORACLE], input="".join(lines), capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"oracle exited {proc.returncode}: {proc.stderr[-2000:]}"
    out = proc.stdout.splitlines()
    assert len(out) == len(lines), f"oracle answered {len(out)} of {len(lines)} lines"
    return out


def ours_times(answer: str) -> list[int]:
    status, _, rest = answer.partition("\t")
    assert status == "ok", answer
    return [int(x) for x in rest.split(",")] if rest else []


def tzinfo(zone: str) -> datetime.tzinfo:
    return datetime.UTC if zone == "UTC" else ZoneInfo(zone)


def their_times(case: Case, day_or: bool) -> list[int]:
    start = datetime.datetime.fromtimestamp(case.start, tzinfo(case.zone))
    it = croniter(case.theirs, start, day_or=day_or, second_at_beginning=case.six)
    return [int(it.get_next(datetime.datetime).timestamp()) for _ in range(NEXT)]


# ---- explaining disagreements ---------------------------------------------


def wall(t: int, tz: datetime.tzinfo) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def instant(w: datetime.datetime, tz: datetime.tzinfo, fold: int) -> int | None:
    """The instant showing wall time w with this fold, None if w is skipped."""
    t = int(w.replace(tzinfo=tz, fold=fold).timestamp())
    return t if wall(t, tz) == w else None


def first_wall_match(
    expr: str, six: bool, day_or: bool, lo: datetime.datetime, hi: datetime.datetime
) -> datetime.datetime | None:
    """The first wall time w with lo <= w < hi the expression names (naive, no DST)."""
    it = croniter(expr, lo - datetime.timedelta(seconds=1), day_or=day_or, second_at_beginning=six)
    w = it.get_next(datetime.datetime)
    return w if w < hi else None


def explain(case: Case, day_or: bool, ours: list[int], theirs: list[int]) -> list[str]:
    """One label per differing fire time; 'UNEXPLAINED: ...' when no rule fits."""
    tz = tzinfo(case.zone)
    horizon = min(ours[-1], theirs[-1])
    only_ours = sorted({t for t in ours if t <= horizon} - set(theirs))
    only_theirs = sorted({t for t in theirs if t <= horizon} - set(ours))
    labels = []
    for t in only_ours:
        # Spring-forward: t ends a gap and some skipped wall time matches.
        gap_lo, gap_hi = wall(t - 1, tz) + datetime.timedelta(seconds=1), wall(t, tz)
        w = (
            first_wall_match(case.theirs, case.six, day_or, gap_lo, gap_hi)
            if gap_hi > gap_lo
            else None
        )
        if w is None:
            labels.append(f"UNEXPLAINED: we fire {t} ({gap_hi}), croniter does not")
            continue
        # croniter moves a skipped time forward a minute at a time, so it
        # keeps the seconds: 02:52:42 becomes 03:00:42 where we fire 03:00:00.
        shifted = t + int((w - gap_lo).total_seconds()) % 60
        if shifted != t and shifted in only_theirs:
            only_theirs.remove(shifted)
            labels += ["spring-forward gap, croniter keeps seconds"] * 2
        else:
            labels.append("spring-forward gap")
    for t in only_theirs:
        # Fall-back: t is the second showing of a wall time whose first
        # showing we fired (or that came before the start).
        w = wall(t, tz)
        first = instant(w, tz, 0)
        if (
            first is not None
            and first < t
            and instant(w, tz, 1) == t
            and (first in ours or first <= case.start)
        ):
            labels.append("fall-back repeat")
        else:
            labels.append(f"UNEXPLAINED: croniter fires {t} ({w}), we do not")
    return labels


# ---- tests ----------------------------------------------------------------


def test_differential_against_croniter(capsys: pytest.CaptureFixture[str]) -> None:
    cases = make_cases(SEED, COUNT)
    answers = run_oracle(
        [f"{c.ours}\t{'' if c.zone == 'UTC' else c.zone}\t{c.start}\t{NEXT}\n" for c in cases]
    )
    by_rule: collections.Counter[str] = collections.Counter()
    exprs_by_rule: collections.Counter[str] = collections.Counter()
    examples: dict[str, str] = {}
    unexplained: list[str] = []
    agreed = 0
    for case, answer in zip(cases, answers):
        where = f"{case.ours!r} in {case.zone} after {case.start}"
        if not answer.startswith("ok\t"):
            unexplained.append(f"{where}: oracle refused a valid expression: {answer}")
            continue
        ours = ours_times(answer)
        if len(ours) != NEXT or any(b <= a for a, b in zip([case.start] + ours, ours)):
            unexplained.append(f"{where}: oracle times not strictly increasing: {ours}")
            continue
        # Our day rule: AND when either day field begins with '*', else OR.
        day_or = not (case.dom.startswith("*") or case.dow.startswith("*"))
        theirs = their_times(case, day_or)
        # A '*/n' day field: would croniter's default (OR) have differed?
        if not day_or and "*" not in (case.dom, case.dow) and their_times(case, True) != theirs:
            rule = "dom/dow '*' step (Vixie)"
            exprs_by_rule[rule] += 1
            by_rule[rule] += 1
            examples.setdefault(rule, where)
        if ours == theirs:
            agreed += 1
            continue
        labels = explain(case, day_or, ours, theirs)
        bad = [lbl for lbl in labels if lbl.startswith("UNEXPLAINED")]
        if bad or not labels:
            unexplained.append(
                f"{where}: ours={ours} croniter={theirs}: "
                + ("; ".join(bad) or "lists differ past the common horizon")
            )
            continue
        for rule in set(labels):
            exprs_by_rule[rule] += 1
            examples.setdefault(rule, f"{where}: ours={ours} croniter={theirs}")
        for rule in labels:
            by_rule[rule] += 1

    with capsys.disabled():
        print(
            f"\ncron differential: seed {SEED}, {len(cases)} expressions, "
            f"{agreed} identical next-{NEXT} lists (after the Vixie day rule)"
        )
        print(f"  {'rule':<44} {'expressions':>11} {'fire times':>10}")
        for rule in sorted(exprs_by_rule):
            print(f"  {rule:<44} {exprs_by_rule[rule]:>11} {by_rule[rule]:>10}")
        print(f"  {'unexplained':<44} {len(unexplained):>11}")
        for rule, ex in sorted(examples.items()):
            print(f"  e.g. {rule}: {ex}")
        for line in unexplained[:20]:
            print(f"  UNEXPLAINED {line}")
    assert not unexplained, f"{len(unexplained)} unexplained disagreements, first: {unexplained[0]}"


INVALID = [
    ("60 * * * *", "", "minute field '60': value out of range 0-59"),
    ("*/0 * * * *", "", "minute field '*/0': step 0"),
    ("* * 31 2 *", "", "day-of-month field '31'"),
    ("0 0 30 2 *", "", "day-of-month field '30'"),
    ("0 0 31 4,6,9,11 *", "", "day-of-month field '31'"),
    ("0 24 * * *", "", "hour field '24': value out of range 0-23"),
    ("0 0 0 * *", "", "day-of-month field '0': value out of range 1-31"),
    ("0 0 * 13 *", "", "month field '13': value out of range 1-12"),
    ("0 0 * * 8", "", "day-of-week field '8': value out of range 0-7"),
    ("0 0 * JANUARY *", "", "month field 'JANUARY': unknown name"),
    ("0 0 * * FUNDAY", "", "day-of-week field 'FUNDAY': unknown name"),
    ("0 0 * * * * *", "", "got 7"),
    ("0 0 * *", "", "got 4"),
    ("", "", "empty expression"),
    ("   ", "", "empty expression"),
    ("30-10 * * * *", "", "minute field '30-10': reversed range"),
    ("0 0 * * FRI-MON", "", "day-of-week field 'FRI-MON': reversed range"),
    ("5$ * * * *", "", "minute field '5$': unexpected character '$'"),
    ("0 0 L * *", "", "day-of-month field 'L'"),
    ("0 0 ? * *", "", "day-of-month field '?': unexpected character '?'"),
    ("0 0 * * 1#2", "", "day-of-week field '1#2': unexpected character '#'"),
    ("1,,2 * * * *", "", "minute field '1,,2': empty list item"),
    ("*/61 * * * *", "", "minute field '*/61': step too large"),
    ("@fortnightly", "", "macro '@fortnightly': unknown"),
    ("0 0 * * *", "Mars/Olympus_Mons", "time zone 'Mars/Olympus_Mons': unknown"),
    ("0 0 * * *", "../../etc/passwd", "time zone '../../etc/passwd': invalid name"),
    ("every 0s", "", "interval '0s': must be at least 1s"),
    ("every 5w", "", "interval '5w': unknown unit 'w'"),
    ("every 30m1h", "", "interval '30m1h': unit 'h' repeated or out of order"),
    ("at 2026-02-29T00:00:00Z", "", "at '2026-02-29T00:00:00Z': no such date"),
    ("at tomorrow", "", "at 'tomorrow': malformed date-time"),
]


@pytest.mark.parametrize("expr,zone,message", INVALID, ids=[repr(e) for e, _, _ in INVALID])
def test_invalid_expression(expr: str, zone: str, message: str) -> None:
    (answer,) = run_oracle([f"{expr}\t{zone}\t0\t1\n"])
    status, _, text = answer.partition("\t")
    assert status == "err", f"{expr!r} was accepted: {answer}"
    assert message in text, f"{expr!r}: expected {message!r} in {text!r}"


def test_oracle_spring_forward_example() -> None:
    # docs/cron.md: 02:30 on Europe/Berlin's spring-forward day fires at 03:00 CEST.
    start = int(datetime.datetime(2024, 3, 30, 12, tzinfo=datetime.UTC).timestamp())
    (answer,) = run_oracle([f"30 2 * * *\tEurope/Berlin\t{start}\t2\n"])
    first, second = ours_times(answer)
    berlin = ZoneInfo("Europe/Berlin")
    assert datetime.datetime.fromtimestamp(first, berlin).isoformat() == "2024-03-31T03:00:00+02:00"
    assert (
        datetime.datetime.fromtimestamp(second, berlin).isoformat() == "2024-04-01T02:30:00+02:00"
    )
