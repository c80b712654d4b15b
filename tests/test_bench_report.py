"""The pure report logic of `python -m bench`: summary merge, Markdown, regressions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.report import machine, markdown, merged_summary, missing_reasons, regressions

ROOT = Path(__file__).resolve().parents[1]


def test_higher_is_better_regresses_when_it_drops_past_threshold() -> None:
    base = {"sync.remote_changes_per_s": 20000.0}
    assert regressions(base, {"sync.remote_changes_per_s": 16000.0}, 0.25) == []
    found = regressions(base, {"sync.remote_changes_per_s": 14000.0}, 0.25)
    assert [r.name for r in found] == ["sync.remote_changes_per_s"]
    assert abs(found[0].change - 0.3) < 1e-9


def test_lower_is_better_regresses_when_it_grows() -> None:
    base = {"startup.idle_rss_mib": 40.0}
    assert regressions(base, {"startup.idle_rss_mib": 30.0}, 0.25) == []
    assert regressions(base, {"startup.idle_rss_mib": 51.0}, 0.25)[0].change > 0.25


def test_missing_figure_is_a_regression_and_unknown_key_is_ignored() -> None:
    found = regressions({"wiki.saves_per_s": 100.0, "made.up": 1.0}, {}, 0.25)
    assert [r.name for r in found] == ["wiki.saves_per_s"]


def test_summary_skips_non_numbers_and_markdown_says_not_measured() -> None:
    merged = merged_summary(
        {"a": {"summary": {"wiki.saves_per_s": 12, "x": "text", "y": True}}, "b": {}}
    )
    assert merged == {"wiki.saves_per_s": 12.0}
    runs = {
        "a": {"status": "ok", "fresh": True, "seconds": 1.0},
        "bench_sync": {"status": "failed (exit 1)", "fresh": False, "seconds": 2.0},
    }
    reasons = missing_reasons(
        {"a": {"summary": {"wiki.saves_per_s": 12}, "not_measured": {"x.y": "why"}}}, runs
    )
    assert reasons["sync.remote_changes_per_s"] == "bench_sync: failed (exit 1)"
    assert reasons["portal.page_views_per_s"] == "portal did not run in this report"
    assert "wiki.saves_per_s" not in reasons
    report = {"machine": machine(), "summary": merged, "runs": runs, "quick": True}
    text = markdown({**report, "not_measured": reasons})
    assert "| wiki saves | 12 | per s |" in text
    assert (
        "| visitors' page views | not measured (portal did not run in this report) | per s |"
        in text
    )


def test_a_suite_says_why_it_could_not_measure() -> None:
    suites = {
        "bench_sync": {"summary": {}, "not_measured": {"sync.wiki_10k_sync_s": "no peer"}},
    }
    runs = {"bench_sync": {"status": "ok", "fresh": True}}
    reasons = missing_reasons(suites, runs)
    assert reasons["sync.wiki_10k_sync_s"] == "no peer"
    assert reasons["sync.remote_changes_per_s"] == "bench_sync does not publish it yet"


def test_machine_names_the_cpu() -> None:
    m = machine()
    assert m["arch"] and m["cores"] and m["python"].startswith("3.")


def test_compare_exits_non_zero_on_regression(tmp_path: Path) -> None:
    """End to end on collected JSON: a baseline 10x better than now must fail."""
    results = ROOT / "bench" / "results" / "bench_startup.json"
    now = json.loads(results.read_text())["summary"]["startup.idle_rss_mib"]
    baseline = tmp_path / "base.json"
    baseline.write_text(json.dumps({"summary": {"startup.idle_rss_mib": now / 10}}))
    cmd = [sys.executable, "-m", "bench", "--no-run", "--only", "startup"]
    bad = subprocess.run([*cmd, "--compare", str(baseline)], cwd=ROOT, capture_output=True)
    assert bad.returncode == 1 and b"REGRESSION startup.idle_rss_mib" in bad.stderr
    baseline.write_text(json.dumps({"summary": {"startup.idle_rss_mib": now}}))
    good = subprocess.run([*cmd, "--compare", str(baseline)], cwd=ROOT, capture_output=True)
    assert good.returncode == 0, good.stderr
