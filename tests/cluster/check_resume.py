"""Check that a training job killed on the cluster resumed from its checkpoint and ended like an uninterrupted
run.

    python tests/cluster/check_resume.py --reference DIR --run-dir DIR --method zero_shot --seed 13 \
        --experiment demo --killed-at step-00000050

``--reference`` holds copies of an uninterrupted run's ``train_log.parquet``, ``model/model.safetensors``
and ``eval.parquet`` (the same parameters); ``--run-dir`` is the workflow directory after the rerun whose
training job was killed (SIGKILL, through ``scancel``) once its first checkpoint existed and was then
resubmitted by Snakemake's ``retries``. Fails (exit 1) unless: the step log says ``resuming from step N``
with N >= the checkpoint seen before the kill; the new train log continues from N (rows after N marked
``resumed``, steps 1..end without gaps) and equals the reference's step, epoch, loss, lr and dev F1;
the weights are bit-identical; the final evaluation equals the reference's.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from safetensors.numpy import load_file

RESUMING = re.compile(r"resuming from step (\d+)")
LOG_COLUMNS = ["step", "epoch", "loss", "lr", "dev_f1"]


def resumed_step(step_log: str) -> int | None:
    """The step the step log says it resumed from (the last such line), or None."""
    steps = RESUMING.findall(step_log)
    return int(steps[-1]) if steps else None


def compare_train_logs(reference: pd.DataFrame, resumed: pd.DataFrame, resumed_from: int) -> list[str]:
    """Differences between an uninterrupted and a resumed train log."""
    errors = []
    steps = resumed["step"].tolist()
    if steps != list(range(1, len(steps) + 1)):
        errors.append(f"train log steps are not 1..{len(steps)} without gaps")
    flagged = resumed.loc[resumed["resumed"].astype(bool), "step"]
    if flagged.empty:
        errors.append("no train log row is marked resumed")
    elif flagged.min() != resumed_from + 1:
        errors.append(f"resumed rows start at step {flagged.min()}, not {resumed_from + 1}")
    if resumed.loc[~resumed["resumed"].astype(bool), "step"].max() != resumed_from:
        errors.append(f"rows up to step {resumed_from} should come from the checkpoint (resumed=False)")
    ref, new = reference[LOG_COLUMNS].reset_index(drop=True), resumed[LOG_COLUMNS].reset_index(drop=True)
    if ref.shape != new.shape:
        errors.append(f"train log has {len(new)} rows, the uninterrupted run {len(ref)}")
    elif not ref.equals(new):
        diff = (ref.fillna(-1) != new.fillna(-1)).any(axis=1)
        errors.append(
            f"train log differs from the uninterrupted run at steps {ref.loc[diff, 'step'].tolist()[:10]}"
        )
    return errors


def compare_weights(reference: Path, resumed: Path) -> list[str]:
    """Tensors that are not bit-identical."""
    ref, new = load_file(str(reference)), load_file(str(resumed))
    if set(ref) != set(new):
        return [f"weights have tensors {sorted(set(ref) ^ set(new))} in only one of the runs"]
    return [
        f"tensor {name} differs (max |diff| {np.max(np.abs(ref[name] - new[name])):.3g})"
        for name in sorted(ref)
        if not np.array_equal(ref[name], new[name])
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference", required=True, type=Path)
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--method", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument(
        "--killed-at", required=True, help="the checkpoint folder seen before the kill (step-N)"
    )
    args = parser.parse_args(argv)

    results = args.run_dir / "results" / args.experiment
    out = results / "finetune" / args.method / args.seed
    step_log = args.run_dir / "logs" / args.experiment / "finetune" / args.method / f"{args.seed}.log"
    killed_at = int(args.killed_at.rsplit("-", 1)[-1])
    errors = []

    resumed_from = resumed_step(step_log.read_text(encoding="utf-8", errors="replace"))
    if resumed_from is None:
        errors.append(f"{step_log} does not say 'resuming from step N'")
        resumed_from = killed_at
    elif resumed_from < killed_at:
        errors.append(f"resumed from step {resumed_from}, but a checkpoint at step {killed_at} existed")
    train_log = pd.read_parquet(out / "train_log.parquet")
    errors += compare_train_logs(
        pd.read_parquet(args.reference / "train_log.parquet"), train_log, resumed_from
    )
    errors += compare_weights(args.reference / "model.safetensors", out / "model" / "model.safetensors")
    reference_eval = pd.read_parquet(args.reference / "eval.parquet")
    final_eval = pd.read_parquet(results / "eval" / args.method / f"{args.seed}.parquet")
    if not reference_eval.equals(final_eval):
        errors.append("the final evaluation differs from the uninterrupted run's")

    f1 = final_eval[final_eval["metric"] == "f1"].set_index("lang")["value"]
    print(
        f"training resumed from step {resumed_from} (killed after checkpoint {killed_at}), "
        f"ran to step {int(train_log['step'].max())}; train log, weights and final evaluation "
        f"{'equal' if not errors else 'checked against'} the uninterrupted run: "
        + ", ".join(f"F1 {lang} {100 * v:.2f}" for lang, v in f1.items())
    )
    for error in errors:
        print(f"FAIL: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
