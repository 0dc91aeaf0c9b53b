"""The GitHub Actions example in docs/github-actions.md runs as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "github-actions.md"
FIXTURES = ROOT / "fixtures"


def diagnosis_step() -> str:
    """The `run: |` script of the step named "Diagnose the training logs", unindented."""
    text = DOC.read_text()
    step = text[text.index("- name: Diagnose the training logs"):]
    block = re.search(r"run: \|\n((?:[ ]{10}.*\n)+)", step)
    assert block, "the step's run block is not where the test looks for it"
    return "".join(line[10:] + "\n" for line in block.group(1).splitlines())


@pytest.mark.parametrize("logs, status", [
    (["digits_healthy_sgd", "digits_overfit_noise"], 0),
    (["digits_healthy_sgd", "digits_high_sgd_nan"], 1),
], ids=["no blow-up", "a run blew up"])
def test_the_workflow_step_reports_to_the_summary_and_fails_on_a_blow_up(tmp_path, logs, status):
    (tmp_path / "logs").mkdir()
    for name in logs:
        shutil.copy(FIXTURES / f"{name}.csv", tmp_path / "logs" / f"{name}.csv")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier steps' summary\n")
    # `diagnose` as the workflow has it on PATH (pip install keras-diagnose).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "diagnose"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m diagnose \"$@\"\n")
    shim.chmod(0o755)
    env = dict(os.environ, GITHUB_STEP_SUMMARY=str(summary),
               PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(ROOT))
    # As GitHub runs a `shell: bash` step: bash --noprofile --norc -eo pipefail {0}
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                           diagnosis_step()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == status, done.stderr
    text = summary.read_text()
    assert text.startswith("earlier steps' summary\n")  # appended, not overwritten
    for name in logs:
        assert f"## `logs/{name}.csv`" in text
    assert "## Across runs" in text
    assert ("lr_too_high" in text) is (status == 1)
    assert (tmp_path / "diagnosis.md").read_text() in text
