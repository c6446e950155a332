"""The results table and plot of the report step."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from pipeline_steps import report
from pipeline_steps.io import write_artifact, write_json
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import METRICS, TRAIN_LOG


def metrics_rows() -> pd.DataFrame:
    rows = []
    for seed, (de, es) in {1: (0.50, 0.70), 2: (0.60, 0.80)}.items():
        for lang, v in (("en", 0.9), ("de", de), ("es", es), ("avg", (de + es) / 2)):
            rows.append(("zero_shot", seed, lang, "f1", v, 10))
            rows.append(("zero_shot", seed, lang, "precision", 1.0, 10))
    return pd.DataFrame(rows, columns=["method", "seed", "lang", "metric", "value", "support"])


def test_f1_table_means_and_stds_over_seeds():
    table = report.f1_table(metrics_rows(), ["zero_shot"], ["en", "de", "es"])
    assert table["lang"].tolist() == ["en", "de", "es", "avg"]
    de = table[table["lang"] == "de"].iloc[0]
    assert de["f1_mean"] == pytest.approx(55.0)
    assert de["f1_std"] == pytest.approx(7.0710678, rel=1e-6)  # sample std of 50 and 60
    assert table[table["lang"] == "avg"]["f1_mean"].iloc[0] == pytest.approx(65.0)
    assert set(table["n_seeds"]) == {2}


def test_markdown_layout_and_projection_section():
    table = report.f1_table(metrics_rows(), ["zero_shot"], ["en", "de", "es"])
    summary = {"backend": "eflomal", "mapping": "span2span", "de": {"P": 0.9, "R": 0.8, "F1": 0.847}}
    md = report.markdown(table, summary, "t")
    assert "| method | en | de | es | avg |" in md
    assert "| zero_shot | 90.00 ± 0.00 | 55.00 ± 7.07 | 75.00 ± 7.07 | 65.00 ± 7.07 |" in md
    assert "| de | 90.00 | 80.00 | 84.70 |" in md


def test_main_writes_table_csv_and_png(tmp_path):
    m = tmp_path / "m.parquet"
    write_artifact(metrics_rows(), m, METRICS)
    proj = tmp_path / "summary.json"
    write_json({"backend": "eflomal", "mapping": "span2span", "avg": {"P": 1.0, "R": 1.0, "F1": 1.0}}, proj)
    out = {
        k: str(tmp_path / "report" / n) for k, n in (("table", "t.md"), ("csv", "t.csv"), ("plot", "f1.png"))
    }
    params = {
        "experiment": "x",
        "source_lang": "en",
        "target_langs": ["de", "es"],
        "methods": ["zero_shot"],
        "mapping": "span2span",
    }
    report.main(
        StepContext(input={"metrics": [str(m)], "projection": [str(proj)]}, output=out, params=params)
    )
    assert pd.read_csv(out["csv"])["lang"].tolist() == ["en", "de", "es", "avg"]
    assert Path(out["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_per_language_models_fill_only_their_own_cell():
    rows = [
        ("to-de", 1, "en", "f1", 0.9, 5),
        ("to-de", 1, "de", "f1", 0.4, 5),
        ("to-de", 1, "avg", "f1", 0.4, 5),
        ("to-es", 1, "en", "f1", 0.8, 5),
        ("to-es", 1, "es", "f1", 0.6, 5),
        ("mtl", 1, "de", "f1", 0.5, 5),
    ]
    metrics = pd.DataFrame(rows, columns=["method", "seed", "lang", "metric", "value", "support"])
    merged = report.merge_per_language_models(metrics, ["de", "es"])
    table = report.f1_table(merged, ["to", "mtl"], ["en", "de", "es"]).set_index(["method", "lang"])
    assert table.loc[("to", "de"), "f1_mean"] == pytest.approx(40.0)
    assert table.loc[("to", "es"), "f1_mean"] == pytest.approx(60.0)
    assert table.loc[("to", "avg"), "f1_mean"] == pytest.approx(50.0)
    assert ("to", "en") not in table.index
    assert table.loc[("mtl", "de"), "f1_mean"] == pytest.approx(50.0)


def test_table5_compares_to_models_by_projection_mapping():
    rows = [
        ("to-es", 1, "es", "f1", 0.70, 5),
        ("to-es@word2word", 1, "es", "f1", 0.58, 5),
        ("to-de", 1, "de", "f1", 0.50, 5),  # no word2word model for de: not in Table 5
        ("to-es@word2word", 1, "en", "f1", 0.9, 5),
    ]
    metrics = pd.DataFrame(rows, columns=["method", "seed", "lang", "metric", "value", "support"])
    merged = report.merge_per_language_models(metrics, ["de", "es"])
    table = report.f1_table(merged, ["to", "to@word2word"], ["en", "de", "es"])
    t5 = report.mapping_table(table, "span2span").set_index("lang")
    assert list(t5.index) == ["es"]
    assert t5.loc["es", "span2span"] == pytest.approx(70.0)
    assert t5.loc["es", "delta_lp"] == pytest.approx(-12.0)
    assert "| es | 70.00 | 58.00 | -12.00 |" in report.markdown(table, None, "t", t5.reset_index())
    assert report.mapping_table(table[table["method"] == "to"], "span2span").empty


def test_convergence_counts_steps_after_the_warmup():
    """Figure 2 from the train logs alone: MTL-WS's main phase starts after its warm-up rows."""
    warm = pd.DataFrame(
        {
            "step": [1, 2, 3, 4, 5],
            "phase": ["warmup", "warmup", "main", "main", "main"],
            "dev_f1": [None, None, 0.5, None, 0.7],
        }
    )
    zero = warm.assign(phase="main", dev_f1=[None, 0.2, 0.5, None, 0.7])
    curves = report.convergence({"mtl_ws": warm, "zero_shot": zero})
    assert curves[curves["method"] == "mtl_ws"][["step", "dev_f1"]].values.tolist() == [[1, 50.0], [3, 70.0]]
    assert curves[curves["method"] == "zero_shot"]["step"].tolist() == [2, 3, 5]


def train_log(phases: list[str], dev: list[float | None]) -> pd.DataFrame:
    n = len(phases)
    return pd.DataFrame(
        {
            "step": range(1, n + 1),
            "epoch": [0] * n,
            "phase": phases,
            "loss": [1.0] * n,
            "lr": [0.1] * n,
            "dev_f1": dev,
            "resumed": [False] * n,
        }
    )


def test_main_draws_the_convergence_plot_from_train_logs_only(tmp_path, monkeypatch):
    """No model folder (nor its xlt_finetune.json) is an input of the report."""
    m = tmp_path / "m.parquet"
    write_artifact(metrics_rows(), m, METRICS)
    logs = {
        "zero_shot": train_log(["main"] * 4, [None, 0.4, None, 0.6]),
        "mtl_ws": train_log(["warmup"] * 2 + ["main"] * 4, [None, None, None, 0.5, None, 0.8]),
    }
    paths = []
    for method, df in logs.items():
        paths.append(str(tmp_path / f"{method}.parquet"))
        write_artifact(df, paths[-1], TRAIN_LOG)
    drawn = {}
    monkeypatch.setattr(report, "plot_convergence", lambda curves, path, title: drawn.update(curves=curves))
    out = {k: str(tmp_path / n) for k, n in (("table", "t.md"), ("csv", "t.csv"), ("plot", "f1.png"))}
    out["convergence"] = [str(tmp_path / "convergence.png")]
    params = {
        "experiment": "x",
        "source_lang": "en",
        "target_langs": ["de", "es"],
        "methods": ["zero_shot"],
        "mapping": "span2span",
        "curve_methods": list(logs),
    }
    report.main(StepContext(input={"metrics": [str(m)], "train_logs": paths}, output=out, params=params))
    curves = drawn["curves"].set_index(["method", "step"])["dev_f1"]
    assert curves.to_dict() == {
        ("zero_shot", 2): 40.0,
        ("zero_shot", 4): 60.0,
        ("mtl_ws", 2): 50.0,
        ("mtl_ws", 4): 80.0,
    }


def one_seed_table(methods=("zero_shot", "mtl", "mtl_ws")) -> pd.DataFrame:
    rows = [
        (method, seed, lang, "f1", 0.5 + 0.1 * i + 0.01 * seed, 10)
        for i, method in enumerate(methods)
        for lang in ("en", "de", "es", "avg")
        for seed in (1,)
    ]
    metrics = pd.DataFrame(rows, columns=["method", "seed", "lang", "metric", "value", "support"])
    return report.f1_table(metrics, list(methods), ["en", "de", "es"])


def errorbars(ax) -> list:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def test_f1_plot_has_error_bars_only_over_several_seeds():
    fig, ax = report.f1_figure(one_seed_table(), "t")
    try:
        assert errorbars(ax) == [] and not ax.collections  # no error-bar line collections either
        assert sum(len(c) for c in ax.containers if isinstance(c, BarContainer)) == 3 * 4
    finally:
        plt.close(fig)
    two = report.f1_table(metrics_rows(), ["zero_shot"], ["en", "de", "es"])  # two seeds
    fig, ax = report.f1_figure(two, "t")
    try:
        [bars] = errorbars(ax)
        assert len(bars.lines[2][0].get_segments()) == 4  # one error bar per language cell
    finally:
        plt.close(fig)


def test_f1_plot_legend_is_outside_the_bars():
    fig, ax = report.f1_figure(one_seed_table(), "t")
    try:
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        axes = ax.get_window_extent()
        assert not legend.overlaps(axes)
        assert fig.bbox.contains(legend.x1 - 1, legend.y0 + 1)  # inside the figure, not cut off
    finally:
        plt.close(fig)
