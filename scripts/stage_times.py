"""Wall time per stage of a finished run, from the step logs (``step X done in N s`` lines).

    python scripts/stage_times.py logs/conll            # markdown table: stage, jobs, total s, max s

A stage is a step's module (``finetune:main`` -> finetune); the time is the step's own run time
(without Snakemake's job start-up). With --cores 2 two jobs overlap, so stages sum to more than the
run's elapsed time.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

DONE = re.compile(r"step (?P<step>\S+) done in (?P<seconds>[\d.]+) s")


def stage_times(log_dir: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for log in sorted(log_dir.rglob("*.log")):
        for m in DONE.finditer(log.read_text(encoding="utf-8", errors="replace")):
            times[m.group("step").split(":")[0]].append(float(m.group("seconds")))
    return times


def markdown(times: dict[str, list[float]]) -> str:
    lines = ["| stage | jobs | total (s) | longest job (s) |", "|---|---:|---:|---:|"]
    for stage, secs in sorted(times.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"| {stage} | {len(secs)} | {sum(secs):.1f} | {max(secs):.1f} |")
    total = sum(sum(s) for s in times.values())
    lines.append(f"| **all** | {sum(len(s) for s in times.values())} | {total:.1f} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: python scripts/stage_times.py LOG_DIR (e.g. logs/demo)")
    print(markdown(stage_times(Path(sys.argv[1]))))
