"""scripts/stage_times.py: wall time and peak memory per stage from Snakemake's benchmark files."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
stage_times = runpy.run_path(str(ROOT / "scripts/stage_times.py"))

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(path: Path, seconds: str, rss: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:12\t{rss}\t1\t1\t1\t0\t0\t50\t3\n")


def test_stage_times_sum_the_jobs_of_each_stage(tmp_path):
    b = tmp_path / "benchmarks"
    bench(b / "finetune/zero_shot/13.tsv", "12.5", "812.3")
    bench(b / "finetune/mtl/13.tsv", "7.5", "900.0")
    bench(b / "ingest/train.tsv", "0.4", "NA")
    bench(b / "report.tsv", "1.0", "120")
    (tmp_path / "finetune").mkdir()
    (tmp_path / "finetune/zero_shot.log").write_text("a step log, not a benchmark\n")
    times = stage_times["stage_times"](tmp_path)
    assert sorted(times) == ["finetune", "ingest", "report"]
    assert times["finetune"] == [(7.5, 900.0), (12.5, 812.3)]
    table = stage_times["markdown"](times).splitlines()
    assert table[2] == "| finetune | 2 | 20.0 | 12.5 | 900 |"
    assert "| ingest | 1 | 0.4 | 0.4 | NA |" in table
    assert table[-1] == "| **all** | 4 | 21.4 | | |"
