"""The warm pipeline cache (pipeline_cache.py) against project.run(), differentially: the
same jobs, run cold (a freshly loaded project and freshly imported modules, as a forked job
process sees them) and warm (one cache across all jobs, as an executor keeps it), give the
same results and the same errors, including after the pipeline's module and YAML change
between jobs. The cache's own counters show it was used, so the comparison is not between
two cold runs."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flowerpower_job_queue import codec, runner
from flowerpower_job_queue.pipeline_cache import PipelineCache
from projects import make_project

SYNC = "  retry: {max_retries: 0}\n"

MATH = """
from hamilton.function_modifiers import config


def result(x: int) -> int:
    if x < 0:
        raise ValueError(f"x must not be negative, got {x}")
    return x + 1


def double(result: int) -> int:
    return result * 2


def scaled(result: int, factor: int = 3) -> int:
    return result * factor


@config.when(mode="a")
def label__a(result: int) -> str:
    return f"a{result}"


@config.when(mode="b")
def label__b(result: int) -> str:
    return f"b{result}"
"""
MATH_YML = (
    "run:\n  inputs: {x: 1}\n  final_vars: [result]\n  config: {mode: a}\n"
    "  executor: {type: synchronous}\n" + SYNC
)

FRAME = """
import pandas as pd


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"k": list(range(n)), "v": [i * 0.5 for i in range(n)]})


def total(frame: pd.DataFrame) -> float:
    return float(frame["v"].sum())
"""
FRAME_YML = (
    "run:\n  inputs: {n: 3}\n  final_vars: [total, frame]\n  executor: {type: synchronous}\n" + SYNC
)

MUTATES = """
def grown(items: list) -> list:
    items.append(len(items))   # mutates its input: each run must get its own copy
    return list(items)
"""
MUTATES_YML = "run:\n  inputs: {items: [1, 2]}\n  final_vars: [grown]\n" + SYNC

# Each job: (pipeline, run kwargs as a job stores them).
JOBS: list[tuple[str, dict[str, Any]]] = [
    ("pc_math", {}),
    ("pc_math", {"inputs": {"x": 5}}),
    ("pc_math", {"inputs": {"x": 6}, "final_vars": ["double", "scaled"]}),
    ("pc_math", {"final_vars": ["label"]}),
    ("pc_math", {"final_vars": ["label"], "config": {"mode": "b"}}),
    ("pc_math", {"inputs": {"x": 2, "factor": 10}, "final_vars": ["scaled"]}),
    ("pc_math", {"inputs": {}}),
    # Not final_vars [] either: Hamilton's dynamic execution never ends on an empty plan.
    ("pc_math", {"inputs": {"x": -1}}),  # a failing node
    ("pc_math", {"inputs": {"x": 1}, "final_vars": ["no_such_node"]}),
    ("pc_math", {"inputs": {"y": 1}}),  # a missing input
    ("pc_math", {"inputs": None}),
    ("pc_math", {"final_vars": None}),
    ("pc_math", {"executor_cfg": {"type": "threadpool", "max_workers": 2}, "inputs": {"x": 3}}),
    ("pc_math", {"executor_cfg": "local", "inputs": {"x": 4}}),
    ("pc_math", {"with_adapter_cfg": {"hamilton_tracker": False, "mlflow": False}}),
    ("pc_math", {"cache": {"recompute": ["result"]}, "inputs": {"x": 7}}),
    ("pc_math", {"cache": True}),
    ("pc_math", {"log_level": "CRITICAL", "inputs": {"x": 8}}),
    ("pc_math", {"config": {"mode": "b"}, "final_vars": ["label", "double"], "inputs": {"x": 9}}),
    ("pc_frame", {}),
    ("pc_frame", {"inputs": {"n": 5}, "final_vars": ["total"]}),
    ("pc_mutates", {}),
    ("pc_mutates", {}),
    ("pc_mutates", {"inputs": {"items": [9]}}),
    ("pc_math", {"inputs": {"x": 5}}),  # hits again after other pipelines
]


def _outcome(call: Callable[[], Any]) -> tuple[str, ...]:
    try:
        value = call()
    except BaseException as exc:  # noqa: BLE001 - errors are compared too
        return ("error", runner.error_info(exc)["type"], str(exc))
    return ("ok", codec.dumps(value))


def _forget_modules(root: Path) -> None:
    prefix = str(root) + "/"
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if name == "pipelines" or name.startswith("pipelines.") or path.startswith(prefix):
            del sys.modules[name]


def _cold(root: Path, pipeline: str, run: dict[str, Any]) -> tuple[str, ...]:
    """project.run() on a freshly loaded project, as a job process runs it."""
    _forget_modules(root)
    return _outcome(lambda: runner.run_job(str(root), pipeline, run, projects=runner.Projects()))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(
        tmp_path,
        "pcproj",
        {"pc_math": MATH, "pc_frame": FRAME, "pc_mutates": MUTATES},
        {"pc_math": MATH_YML, "pc_frame": FRAME_YML, "pc_mutates": MUTATES_YML},
    )


def test_warm_runs_match_cold_runs(project: Path) -> None:
    warm = runner.Projects(PipelineCache(16))
    for pipeline, run in JOBS:
        want = _cold(project, pipeline, run)
        got = _outcome(lambda p=pipeline, r=run: runner.run_job(str(project), p, r, projects=warm))
        assert got == want, (pipeline, run)
    stats = warm.cache.stats
    assert stats.hits >= len(JOBS) - 3, stats  # all but the jobs that cannot be keyed
    assert stats.builds < len(JOBS) // 2, stats  # per-job inputs/final_vars reuse entries
    assert stats.drivers_per_job >= 1, stats  # the threadpool run builds its driver per job
    assert stats.invalidations == 0, stats


def test_an_edited_module_or_yaml_is_picked_up_on_the_next_job(project: Path) -> None:
    warm = runner.Projects(PipelineCache(16))
    module = project / "pipelines" / "pc_math.py"
    yml = project / "conf" / "pipelines" / "pc_math.yml"
    project_yml = project / "conf" / "project.yml"
    edits: list[Callable[[], None]] = [
        lambda: module.write_text(MATH.replace("return x + 1", "return x + 100  # edited")),
        lambda: yml.write_text(MATH_YML.replace("{x: 1}", "{x: 40}")),
        lambda: module.write_text(MATH.replace("return x + 1", "return x - 1")),
        lambda: project_yml.write_text(project_yml.read_text() + "\n# touched\n"),
        lambda: module.write_text("def result(x: int) -> int:\n    raise KeyError('gone')\n"),
        lambda: module.write_text("this is not python\n"),
        lambda: module.write_text(MATH),
    ]
    runs = [{}, {"inputs": {"x": 2}, "final_vars": ["double"]}]
    for edit in [lambda: None, *edits]:
        edit()
        for run in runs:
            want = _cold(project, "pc_math", run)
            got = _outcome(lambda r=run: runner.run_job(str(project), "pc_math", r, projects=warm))
            assert got == want, run
    assert warm.cache.stats.invalidations == len(edits)
    assert warm.cache.stats.fallbacks == 2  # the module that does not import, then fixed


def test_callbacks_run_as_project_run_runs_them(project: Path) -> None:
    """Callbacks cannot travel in a job (JSON); through the cache's API they are called
    as FlowerPower's RetryManager calls them."""
    calls: dict[str, list[Any]] = {"warm": [], "cold": []}

    def kwargs(side: str, x: int) -> dict[str, Any]:
        return {
            "inputs": {"x": x},
            "on_success": lambda result, error: calls[side].append(("ok", result, error)),
            "on_failure": lambda result, error: calls[side].append(("failed", repr(error))),
        }

    warm_projects = runner.Projects(PipelineCache(4))
    loaded = warm_projects.get(str(project))
    warm_projects.activate(str(project), purge=True)
    cache = warm_projects.cache
    assert cache is not None
    for x in (1, 2, -1):
        warm_kwargs = {**kwargs("warm", x), "retry": {"max_retries": 0}}
        got = _outcome(
            lambda k=warm_kwargs: cache.run(
                loaded,
                str(project),
                "pc_math",
                {"callbacks": "test"},
                k,
                fallback=lambda: pytest.fail("the cache fell back to project.run()"),
            )
        )
        _forget_modules(project)
        cold_loaded = runner.Projects().get(str(project))
        cold_kwargs = kwargs("cold", x)
        want = _outcome(lambda k=cold_kwargs: runner._run_unwrapped(cold_loaded, "pc_math", k))  # noqa: B023
        assert got == want
    assert calls["warm"] == calls["cold"]
    assert [c[0] for c in calls["warm"]] == ["ok", "ok", "failed"]
    assert cache.stats.hits == 3 and cache.stats.builds == 1


def test_runtime_adapters_get_a_driver_per_job(project: Path) -> None:
    """An adapter instance sees every run, as it does under project.run()."""
    from hamilton.lifecycle import GraphExecutionHook

    class Counting(GraphExecutionHook):
        def __init__(self) -> None:
            self.runs = 0

        def run_before_graph_execution(self, **kwargs: Any) -> None:
            self.runs += 1

        def run_after_graph_execution(self, **kwargs: Any) -> None:
            pass

    warm_adapter, cold_adapter = Counting(), Counting()
    warm_projects = runner.Projects(PipelineCache(4))
    loaded = warm_projects.get(str(project))
    warm_projects.activate(str(project), purge=True)
    cache = warm_projects.cache
    assert cache is not None
    for x in (1, 2, 3):
        got = cache.run(
            loaded,
            str(project),
            "pc_math",
            {"adapter": "counting"},
            {"inputs": {"x": x}, "adapter": {"c": warm_adapter}, "retry": {"max_retries": 0}},
            fallback=lambda: pytest.fail("fell back"),
        )
        want = runner._run_unwrapped(
            runner.Projects().get(str(project)),
            "pc_math",
            {"inputs": {"x": x}, "adapter": {"c": cold_adapter}},
        )
        assert got == want
    assert warm_adapter.runs == cold_adapter.runs == 3
    assert cache.stats.drivers_per_job == 3


def test_entries_are_bounded_least_recently_used_first(project: Path) -> None:
    warm = runner.Projects(PipelineCache(2))
    for mode in ("a", "b", "a", "c"):
        runner.run_job(str(project), "pc_math", {"config": {"mode": mode}}, projects=warm)
    cache = warm.cache
    assert cache is not None
    assert len(cache) == 2
    assert cache.stats.builds == 3  # "a" was used again before "c" came, so "b" went
    runner.run_job(str(project), "pc_math", {"config": {"mode": "a"}}, projects=warm)
    assert cache.stats.builds == 3


def test_size_zero_turns_the_cache_off(project: Path) -> None:
    off = runner.Projects(PipelineCache(0))
    assert off.cache is not None and not off.cache.enabled
    assert runner.run_job(str(project), "pc_math", {"inputs": {"x": 2}}, projects=off) == {
        "result": 3
    }
    assert off.cache.stats.hits == off.cache.stats.builds == 0


@pytest.mark.parametrize("isolation", ["fork", "none"])
def test_a_worker_gives_the_same_results_with_the_cache_on_and_off(
    fpq_bin: str, project: Path, tmp_path: Path, isolation: str
) -> None:
    from fpqtest import enqueue, job, run_burst

    conf = project / "conf" / "job_queue.yml"
    results = {}
    for setting in ("false", "4"):
        conf.write_text(f"executor:\n  pipeline_cache: {setting}\n")
        ids = [
            enqueue(fpq_bin, project, "pc_math", "--inputs", json.dumps({"x": x}))
            for x in (1, 2, -1)
        ]
        log = tmp_path / f"worker-{isolation}-{setting}.log"
        assert run_burst(fpq_bin, project, "--isolation", isolation, log=log) == 0
        # Time to first job: the worker says when its executors are ready.
        assert re.search(r"ready: 1 executor\(s\) started in \d+\.\d\ds", log.read_text())
        done = [job(fpq_bin, project, i) for i in ids]
        results[setting] = [
            (
                d["status"],
                d.get("result"),
                *((d.get("error") or {}).get(k) for k in ("type", "message")),
            )
            for d in done
        ]
    assert results["false"] == results["4"]
    assert [r[0] for r in results["4"]] == ["finished", "finished", "failed"]


def test_a_bad_pipeline_cache_setting_stops_the_worker_naming_it(
    fpq_bin: str, project: Path
) -> None:
    from fpqtest import run_fpq

    (project / "conf" / "job_queue.yml").write_text("executor:\n  pipeline_cache: lots\n")
    proc = run_fpq(fpq_bin, "worker", "start", "--burst", project=project)
    assert proc.returncode == 2
    assert "executor.pipeline_cache 'lots' is not valid" in proc.stderr
