"""Wall time and peak memory per stage of a finished run, from Snakemake's ``benchmark:`` files.

    python scripts/stage_times.py logs/conll            # markdown table: stage, jobs, total s, max s, max RSS

Every rule writes ``logs/{experiment}/benchmarks/{stage}/...tsv`` (Snakemake's own measurement of the
job: wall seconds ``s``, peak resident memory ``max_rss`` in MB, ...). A stage is the first folder
below ``benchmarks/`` (or the file name for a one-job stage such as ``report.tsv``). With --cores 2
two jobs overlap, so stages sum to more than the run's elapsed time.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from pathlib import Path


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:  # "NA" where Snakemake could not measure (e.g. a job too short for psutil)
        return float("nan")


def stage_times(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """``{stage: [(seconds, max_rss_mb), ...]}`` over the benchmark files below ``run_dir``."""
    root = run_dir / "benchmarks" if (run_dir / "benchmarks").is_dir() else run_dir
    times: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        stage = rel.parts[0] if len(rel.parts) > 1 else path.stem
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                times[stage].append((_number(row["s"]), _number(row.get("max_rss", "NA"))))
    return times


def markdown(times: dict[str, list[tuple[float, float]]]) -> str:
    lines = [
        "| stage | jobs | total (s) | longest job (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for stage, jobs in sorted(times.items(), key=lambda kv: -sum(s for s, _ in kv[1])):
        secs = [s for s, _ in jobs]
        rss = [m for _, m in jobs if m == m]  # NaN-free
        peak = f"{max(rss):.0f}" if rss else "NA"
        lines.append(f"| {stage} | {len(jobs)} | {sum(secs):.1f} | {max(secs):.1f} | {peak} |")
    total = sum(s for jobs in times.values() for s, _ in jobs)
    lines.append(f"| **all** | {sum(len(j) for j in times.values())} | {total:.1f} | | |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python scripts/stage_times.py LOG_DIR (e.g. logs/demo)")
    print(markdown(stage_times(Path(sys.argv[1]))))
