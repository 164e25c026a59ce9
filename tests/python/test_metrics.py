"""Metrics an operator scrapes: `fpq metrics --prometheus` and a worker's /metrics endpoint
parse with Prometheus' own text parser and agree with `fpq metrics --json`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port
from fpqtest import enqueue, run_burst, run_fpq, start_worker, stop, wait_for
from projects import make_project
from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def jobs_by_queue_and_status(metrics: dict[str, object]) -> dict[tuple[str, str], int]:
    counts = {}
    for queue in metrics["queues"]:  # type: ignore[attr-defined]
        for status in ("queued", "started", "finished", "failed", "scheduled", "canceled"):
            counts[(queue["name"], status)] = queue[status]
    return counts


@pytest.fixture
def project(tmp_path: Path, fpq_bin: str) -> Path:
    root = make_project(tmp_path, "metrics", {"m_ok": "def result() -> int:\n    return 1\n",
                                               "m_bad": "def result() -> int:\n    raise KeyError(1)\n"})
    for _ in range(3):
        enqueue(fpq_bin, root, "m_ok", "--priority", "high")
    enqueue(fpq_bin, root, "m_bad", "--max-retries", "0")
    assert run_burst(fpq_bin, root) == 0
    enqueue(fpq_bin, root, "m_ok", "--priority", "low")  # left queued
    return root


def test_prometheus_text_matches_the_json(fpq_bin: str, project: Path) -> None:
    text = run_fpq(fpq_bin, "metrics", "--prometheus", project=project, check=True).stdout
    parsed = samples(text)
    metrics = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project, check=True).stdout)
    expected = jobs_by_queue_and_status(metrics)
    assert expected[("high", "finished")] == 3
    assert expected[("default", "failed")] == 1
    assert expected[("low", "queued")] == 1
    for (queue, status), count in expected.items():
        assert parsed[("fpq_jobs", (("queue", queue), ("status", status)))] == count
    assert parsed[("fpq_queue_oldest_queued_age_seconds", (("queue", "low"),))] >= 0
    # Runs that ended in the last minutes: throughput and run time per pipeline.
    assert metrics["throughput"]["15m"] == 4 / 15  # 3 finished + 1 failed
    runs = {p["pipeline"]: p for p in metrics["pipelines"]}
    assert runs["m_ok"]["count"] == 3 and "m_bad" not in runs  # run time of finished runs
    assert 0 < runs["m_ok"]["p50"] <= runs["m_ok"]["p99"] <= runs["m_ok"]["max"]
    assert parsed[("fpq_pipeline_run_seconds_count", (("pipeline", "m_ok"),))] == 3
    assert parsed[("fpq_pipeline_run_seconds", (("pipeline", "m_ok"), ("quantile", "0.99")))] == \
        pytest.approx(runs["m_ok"]["p99"], abs=1e-6)
    assert parsed[("fpq_throughput_jobs_per_minute", (("window", "15m"),))] == \
        pytest.approx(4 / 15, abs=1e-6)
    both = run_fpq(fpq_bin, "metrics", "--prometheus", "--json", project=project)
    assert both.returncode == 2


def test_a_worker_serves_metrics_for_prometheus(fpq_bin: str, project: Path,
                                                 tmp_path: Path) -> None:
    port = free_port()
    worker = start_worker(fpq_bin, project, "--metrics-port", str(port), "--name", "scraped",
                          log=tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                return str(response.read().decode())
        except (urllib.error.URLError, ConnectionError):
            return None

    try:
        wait_for(lambda: (text := scrape()) and 'worker="scraped"' in text, 60,
                 "the worker's metrics endpoint to list it")
        # The queued low job is run by this worker; once it is finished the counts settle
        # (while it is queued or started, they can change between the two reads below).
        def low_job_finished() -> bool:
            metrics = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project,
                                         check=True).stdout)
            return jobs_by_queue_and_status(metrics).get(("low", "finished")) == 1

        wait_for(low_job_finished, 60, "the queued job to finish")
        parsed = samples(scrape() or "")
        metrics = json.loads(run_fpq(fpq_bin, "metrics", "--json", project=project, check=True).stdout)
        for (queue, status), count in jobs_by_queue_and_status(metrics).items():
            assert parsed[("fpq_jobs", (("queue", queue), ("status", status)))] == count
        assert parsed[("fpq_workers", ())] == 1
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/other", timeout=5)
        assert missing.value.code == 404
    finally:
        assert stop(worker) == 0


def test_a_taken_metrics_port_is_a_clear_error(fpq_bin: str, project: Path, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = run_fpq(fpq_bin, "worker", "start", "--burst", "--metrics-port", str(port),
                       project=project)
    assert proc.returncode == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}" in proc.stderr
