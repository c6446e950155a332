"""The majority-label SRL baseline (pipeline_steps/srl_baseline.py) of a run, per test language.

    python scripts/srl_baseline.py results/srl

Reads the run's ingested training set and test sets (``ingest/train.parquet``, ``ingest/test.*.parquet``)
and prints labelled argument P / R / F1 (%) per language, the floor of the run's report table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline_steps.io import read_artifact  # noqa: E402
from pipeline_steps.metrics.srl import argument_f1  # noqa: E402
from pipeline_steps.schemas import SRL_INSTANCES  # noqa: E402
from pipeline_steps.srl_baseline import fit_majority, predict_majority  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="results/<experiment> of a task: srl run")
    args = ap.parse_args(argv)
    rule = fit_majority(read_artifact(str(args.run / "ingest/train.parquet"), SRL_INSTANCES))
    print("| lang | precision | recall | F1 |\n|---|---:|---:|---:|")
    for path in sorted((args.run / "ingest").glob("test.*.parquet")):
        test = read_artifact(str(path), SRL_INSTANCES)
        s = argument_f1([list(t) for t in test["tags"]], predict_majority(rule, test))
        lang = path.name.split(".")[1]
        print(f"| {lang} | {100 * s.precision:.2f} | {100 * s.recall:.2f} | {100 * s.f1:.2f} |")


if __name__ == "__main__":
    main()
