"""scripts/few_shot_compare.py: Figure 4b across experiments (benchmarks/clism.md)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
script = runpy.run_path(str(ROOT / "scripts/few_shot_compare.py"))


def write_predictions(root: Path, experiment: str, method: str, right: int) -> None:
    """Four German questions (the target): ``right`` of them answered exactly, the others wrong; one English
    question (the source, left out of the differences) that only experiment "with" answers."""
    folder = root / f"results/{experiment}/predict/{method}/13"
    folder.mkdir(parents=True)
    gold = [["Warschau"], ["Krakau"], ["die Weichsel"], ["Danzig"]]
    pred = [g[0] if i < right else "Berlin" for i, g in enumerate(gold)]
    ids = [f"de-{i}" for i in range(4)]
    german = {"id": ids, "lang": "de", "gold_texts": gold, "pred_text": pred}
    pd.DataFrame(german).to_parquet(folder / "de.parquet")
    english = {"id": ["en-0"], "lang": "en", "gold_texts": [["with"]], "pred_text": [experiment]}
    pd.DataFrame(english).to_parquet(folder / "en.parquet")


def write_report(root: Path, experiment: str, f1: dict[str, float]) -> None:
    rows = [("zero_shot", "en", 50.0, 40.0)]  # a full-data row: not a few-shot row, left out
    for method, value in f1.items():
        rows += [(method, "de", value + 2, value), (method, "avg", value, value - 5)]
    table = pd.DataFrame(rows, columns=["method", "lang", "f1_mean", "em_mean"])
    table = table.assign(f1_std=float("nan"), em_std=float("nan"), n_seeds=1)
    (root / f"results/{experiment}/report").mkdir(parents=True)
    table.to_csv(root / f"results/{experiment}/report/table.csv", index=False)


def test_compare_names_each_line_by_experiment_and_keeps_the_averages(tmp_path, monkeypatch, capsys):
    write_report(tmp_path, "with", {"zero_shot-64shot": 10.0, "zero_shot-256shot": 30.0})
    write_report(tmp_path, "without", {"zero_shot-64shot": 4.0, "zero_shot-256shot": 20.0})
    for method, right in [("zero_shot-64shot", 4), ("zero_shot-256shot", 2)]:
        write_predictions(tmp_path, "with", method, 4)
        write_predictions(tmp_path, "without", method, right)
    monkeypatch.chdir(tmp_path)
    table = script["compare"](["with", "without"])
    assert list(table["method"]) == ["with: zero_shot"] * 2 + ["without: zero_shot"] * 2
    assert list(table["size"]) == [64, 256, 64, 256]
    assert list(table["f1_mean"]) == [10.0, 30.0, 4.0, 20.0]
    assert list(table["em_mean"]) == [5.0, 25.0, -1.0, 15.0]
    script["main"]("fig.png", "with", "without")
    assert (tmp_path / "fig.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "| without: zero_shot | 4.0 / -1.0 | 20.0 / 15.0 |" in printed
    assert printed.index("| with:") < printed.index("| without:")  # the experiments' order
    assert "| 64 | without: zero_shot-64shot | +0.0 | [+0.0, +0.0] |" in printed
    assert "| 256 | without: zero_shot-256shot | -50.0 |" in printed  # 2 of 4 German answers lost


def test_compare_refuses_a_missing_report_or_one_without_few_shot_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="results/nothing/report/table.csv: no report"):
        script["compare"](["nothing"])
    write_report(tmp_path, "full", {})
    with pytest.raises(SystemExit, match="no few-shot"):
        script["compare"](["full"])


def test_paired_difference_is_the_mean_per_question_difference_with_a_bootstrap_interval():
    a = pd.Series([10.0, 20.0, 30.0, 40.0], index=["q1", "q2", "q3", "q4"])
    shifted = script["paired_difference"](a, a + 5.0)
    assert shifted == (5.0, 5.0, 5.0)  # every question moves by 5: no spread
    mixed = pd.Series([10.0, 30.0, 30.0, 40.0], index=["q1", "q2", "q3", "q4"])  # +0, +10, +0, +0
    mean, low, high = script["paired_difference"](a, mixed)
    assert mean == 2.5 and low == 0.0 and 0.0 < high <= 10.0
    with pytest.raises(SystemExit, match="different questions"):
        script["paired_difference"](a, a.drop("q4"))
