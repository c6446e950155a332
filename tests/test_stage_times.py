"""scripts/stage_times.py: wall time per stage from the step logs."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
stage_times = runpy.run_path(str(ROOT / "scripts/stage_times.py"))


def test_stage_times_sum_the_steps_of_each_stage(tmp_path):
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune/a.log").write_text("x INFO xlt: step finetune:main done in 12.5 s\n")
    (tmp_path / "finetune/b.log").write_text("noise\nx INFO xlt: step finetune:main done in 7.5 s\n")
    (tmp_path / "ingest.log").write_text("x INFO xlt: step ingest:main done in 0.4 s\n")
    (tmp_path / "failed.log").write_text("x INFO xlt: step align:main failed\n")
    times = stage_times["stage_times"](tmp_path)
    assert dict(times) == {"finetune": [12.5, 7.5], "ingest": [0.4]}
    table = stage_times["markdown"](times).splitlines()
    assert table[2] == "| finetune | 2 | 20.0 | 12.5 |"
    assert table[-1] == "| **all** | 3 | 20.4 | |"
