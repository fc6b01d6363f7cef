"""benchmarks.targets: each issue-14 target judged from the results the benchmarks wrote."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.targets import build_verdicts, compare_verdicts, scale_verdicts


def _scale_run(**fields: object) -> dict[str, object]:
    run: dict[str, object] = {
        "source": "files", "ingresses": 10_000, "workers": 2, "ready_s": 5.0, "rss_mb": 310.0,
        "pss_mb": 280.0, "changes_ms": [10.0] * 99 + [120.0], "steady_p99_ms": 4.0,
        "swaps_max_ms": 23.0, "error": ""}
    return {**run, **fields}


def test_scale_targets_take_the_nearest_rank_p99_and_the_swap_allowance(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps([
        _scale_run(), _scale_run(ingresses=100, changes_ms=[60.0]),
        _scale_run(workers=1, swaps_max_ms=25.0, error="did not start")]))
    verdicts = {(v.target.split(" <")[0].split(" ≤")[0], v.where): v.met
                for v in scale_verdicts([tmp_path])}
    here, small = "files, 10,000 Ingresses, 2 worker(s)", "files, 100 Ingresses, 2 worker(s)"
    assert verdicts["EndpointSlice change → traffic p99", here] is True  # 99th of 100: 10 ms
    assert verdicts["EndpointSlice change → traffic p99", small] is False
    assert verdicts["slowest request during routing changes", here] is True  # 23 < 4 + 20
    assert verdicts["ready", here] is True
    assert verdicts["RSS of the process tree", here] is False
    assert not any("1 worker" in where for _, where in verdicts)  # a failed run is no evidence


def test_rebuilds_and_ratios_are_judged_and_missing_results_say_so(tmp_path: Path) -> None:
    build = tmp_path / "build_scale.json"
    build.write_text(json.dumps([{"ingresses": 10_000, "cold": {"cpu_s": 2.1},
                                  "one_ingress": {"cpu_s": 0.2}, "one_service": {"cpu_s": 0.31}}]))
    assert [v.met for v in build_verdicts(build)] == [False, True, False]
    (tmp_path / "results.json").write_text(json.dumps({"summaries": [
        {"config": "portico-1", "scenario": "http-3B", "cpu_ratio": 0.86},
        {"config": "portico-1", "scenario": "tls-3B", "cpu_ratio": 0.5},
        {"config": "portico-1-pure", "scenario": "tls-3B", "cpu_ratio": 0.3}]}))
    ratios = compare_verdicts(tmp_path)
    assert [(v.where, v.met, v.reference) for v in ratios] == [
        ("http-3B", True, False), ("http-16KiB", None, False), ("tls-3B", False, False),
        ("tls-3B", None, True)]
    assert build_verdicts(None)[0].met is None and compare_verdicts(None)[0].met is None
