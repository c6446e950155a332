"""The results table and plot of the report step."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer

from pipeline_steps import report, report_significance
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
        "task": "ner",
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


def test_table4_crosses_augmentations_with_their_use():
    rows = []
    for method, de, es in [
        ("zero_shot", 0.40, 0.50),
        ("xtune_r1", 0.50, 0.60),  # subword (the Table 7 default, resolved by the workflow)
        ("xtune_da", 0.44, 0.54),
        ("xtune_r2", 0.46, 0.56),
        ("xtune_r1@code_switch", 0.52, 0.62),
        ("xtune", 0.60, 0.70),  # the full method is not an ablation cell
    ]:
        for lang, v in (("en", 0.9), ("de", de), ("es", es), ("avg", (de + es) / 2)):
            rows.append((method, 1, lang, "f1", v, 10))
    metrics = pd.DataFrame(rows, columns=["method", "seed", "lang", "metric", "value", "support"])
    methods = list(dict.fromkeys(r[0] for r in rows))
    table = report.f1_table(metrics, methods, ["en", "de", "es"])
    kinds = {
        "xtune_r1": "subword",
        "xtune_da": "subword",
        "xtune_r2": "subword",
        "xtune_r1@code_switch": "code_switch",
    }
    t4 = report.augmentation_table(table, kinds, "f1_mean").set_index("augmentation")
    assert list(t4.index) == ["subword", "code_switch"]
    assert t4.loc["subword"].tolist() == pytest.approx([49.0, 55.0, 51.0])  # Data Aug., R1, R2
    assert t4.loc["code_switch", "xTune R1"] == pytest.approx(57.0)
    assert t4.loc["code_switch", ["Data Aug.", "xTune R2"]].isna().all()
    md = report.markdown(table, None, "t", augmentation=t4.reset_index())
    assert "paper 003 Table 4" in md
    assert "| subword | 49.00 | 55.00 | 51.00 |" in md and "| code_switch |  | 57.00 |  |" in md
    assert report.augmentation_table(table, {}, "f1_mean").empty
    assert "Table 4" not in report.markdown(table, None, "t")


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
    curves = report.convergence({("mtl_ws", 13): warm, ("zero_shot", 13): zero})
    assert curves[curves["method"] == "mtl_ws"][["step", "dev_f1"]].values.tolist() == [[1, 50.0], [3, 70.0]]
    assert curves[curves["method"] == "zero_shot"]["step"].tolist() == [2, 3, 5]
    assert set(curves["seed"]) == {13}


def test_convergence_is_averaged_over_seeds_step_by_step():
    """Issue 15: Figure 2 over seeds; a step one seed lacks is the mean of the others."""
    one = pd.DataFrame({"step": [1, 2, 3], "phase": ["main"] * 3, "dev_f1": [0.2, None, 0.6]})
    two = pd.DataFrame({"step": [1, 2, 3], "phase": ["main"] * 3, "dev_f1": [0.4, 0.5, 0.8]})
    curves = report.convergence({("mtl_ws", 13): one, ("mtl_ws", 14): two, ("zero_shot", 13): two})
    mean = report.mean_curves(curves)
    ws = mean[mean["method"] == "mtl_ws"]
    assert ws["step"].tolist() == [1, 2, 3] and ws["n_seeds"].tolist() == [2, 1, 2]
    assert ws["dev_f1"].tolist() == pytest.approx([30.0, 50.0, 70.0])
    # the sample sd of (20, 40) and of (60, 80): 14.14; one seed: none
    assert ws["dev_f1_std"].tolist()[0] == pytest.approx(math.sqrt(200))
    assert math.isnan(ws["dev_f1_std"].tolist()[1])
    assert list(dict.fromkeys(mean["method"])) == ["mtl_ws", "zero_shot"]
    fig, ax = report.convergence_figure(curves, "t")
    try:  # a band for the two-seed method only; the legend counts the seeds
        assert len(ax.collections) == 1
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert legend == ["mtl_ws (2 seeds)", "zero_shot (1 seed)"]
    finally:
        plt.close(fig)


def avg_rows(rows: list[tuple[str, float, float, int]]) -> pd.DataFrame:
    """A report table of target ``avg`` rows only: (method, mean, std, n_seeds)."""
    return pd.DataFrame(
        [(m, "avg", mean, std, n) for m, mean, std, n in rows],
        columns=["method", "lang", "f1_mean", "f1_std", "n_seeds"],
    )


def test_significance_is_students_t_with_the_pooled_sd():
    """Hand computation: 53 ± 2 against 50 ± 1, three seeds each: s_p = sqrt((2*4 + 2*1) / 4) = 1.581,
    t = 3 / (s_p sqrt(2/3)) = 2.324 on 4 df; p from the closed-form t(4) CDF (not from scipy)."""
    sig = report_significance.significance_table(
        avg_rows([("zero_shot", 50.0, 1.0, 3), ("mtl", 53.0, 2.0, 3), ("to", 49.0, math.nan, 1)]), "f1"
    ).set_index("method")
    assert sig.loc["mtl", "delta"] == pytest.approx(3.0)
    assert sig.loc["mtl", "pooled_sd"] == pytest.approx(math.sqrt(2.5))
    t = 3 / (math.sqrt(2.5) * math.sqrt(2 / 3))
    assert sig.loc["mtl", "t"] == pytest.approx(t)
    x = t / math.sqrt(4 + t * t)
    cdf = 0.5 + 0.75 * x * (1 - x * x / 3)
    assert sig.loc["mtl", "p"] == pytest.approx(2 * (1 - cdf))  # 0.081: not significant at 0.05
    assert sig.loc["to", "delta"] == pytest.approx(-1.0) and math.isnan(sig.loc["to", "t"])
    md = "\n".join(report_significance.significance_markdown(sig.reset_index(), "entity F1"))
    assert "| mtl | +3.00 | 1.58 | +2.32 | 0.081 | 3 / 3 | no |" in md
    assert "| to | -1.00 |  |  |  | 1 / 3 | no test |" in md


def test_significance_needs_the_baseline_and_two_seeds_a_side():
    one_seed = avg_rows([("zero_shot", 50.0, math.nan, 1), ("mtl", 60.0, math.nan, 1)])
    sig = report_significance.significance_table(one_seed, "f1")
    assert sig["delta"].tolist() == [10.0]
    assert report_significance.significance_markdown(sig, "F1") == []  # no test: no section
    assert report_significance.significance_table(avg_rows([("mtl", 60.0, 1.0, 3)]), "f1").empty
    table = avg_rows([("zero_shot", 50.0, 1.0, 3), ("mtl", 56.0, 1.0, 3)])
    md = report.markdown(table, None, "t", significance=report_significance.significance_table(table, "f1"))
    assert "## Against zero_shot" in md and "| yes |" in md  # t = 7.35, p = 0.002


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
            "terms": [None] * n,
        }
    )


def test_main_draws_the_convergence_plot_from_train_logs_only(tmp_path, monkeypatch):
    """No model folder (nor its xlt_finetune.json) is an input of the report."""
    m = tmp_path / "m.parquet"
    write_artifact(metrics_rows(), m, METRICS)
    logs = {
        ("zero_shot", 13): train_log(["main"] * 4, [None, 0.4, None, 0.6]),
        ("mtl_ws", 13): train_log(["warmup"] * 2 + ["main"] * 4, [None, None, None, 0.5, None, 0.8]),
    }
    paths = []
    for (method, _), df in logs.items():
        paths.append(str(tmp_path / f"{method}.parquet"))
        write_artifact(df, paths[-1], TRAIN_LOG)
    drawn = {}
    monkeypatch.setattr(
        report,
        "plot_convergence",
        lambda curves, path, title, label: drawn.update(curves=curves, label=label),
    )
    out = {k: str(tmp_path / n) for k, n in (("table", "t.md"), ("csv", "t.csv"), ("plot", "f1.png"))}
    out["convergence"] = [str(tmp_path / "convergence.png")]
    params = {
        "experiment": "x",
        "source_lang": "en",
        "target_langs": ["de", "es"],
        "methods": ["zero_shot"],
        "mapping": "span2span",
        "curve_methods": [method for method, _ in logs],
        "seeds": [13],
        "task": "ner",
    }
    report.main(StepContext(input={"metrics": [str(m)], "train_logs": paths}, output=out, params=params))
    curves = drawn["curves"].set_index(["method", "step"])["dev_f1"]
    assert set(drawn["curves"]["seed"]) == {13}
    assert curves.to_dict() == {
        ("zero_shot", 2): 40.0,
        ("zero_shot", 4): 60.0,
        ("mtl_ws", 2): 50.0,
        ("mtl_ws", 4): 80.0,
    }
    assert drawn["label"] == "entity F1"  # no task param: NER


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


COLUMNS = ["method", "seed", "lang", "metric", "value", "support"]


def task_run(scores: dict[str, dict[tuple[str, int], dict[str, tuple[float, ...]]]]) -> pd.DataFrame:
    """METRICS rows from ``{metric: {(method, seed): {lang: value}}}`` (a value per en, de, es, avg)."""
    rows = []
    for metric, runs in scores.items():
        for (method, seed), values in runs.items():
            rows += [
                (method, seed, lang, metric, v, 10)
                for lang, v in zip(("en", "de", "es", "avg"), values, strict=True)
            ]
    return pd.DataFrame(rows, columns=COLUMNS)


def run_main(tmp_path, metrics: pd.DataFrame, task: str | None, methods=("zero_shot", "to")) -> dict:
    m = tmp_path / "m.parquet"
    write_artifact(metrics, m, METRICS)
    out = {k: str(tmp_path / n) for k, n in (("table", "t.md"), ("csv", "t.csv"), ("plot", "f1.png"))}
    params = {
        "experiment": "x",
        "source_lang": "en",
        "target_langs": ["de", "es"],
        "methods": list(methods),
        "mapping": "span2span",
    }
    if task is not None:
        params["task"] = task
    report.main(StepContext(input={"metrics": [str(m)]}, output=out, params=params))
    assert Path(out["plot"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return out


# A classification run: zero_shot with two seeds, TO as one model per target language (one seed).
# The per-language models are also scored on the other languages: only their own cells count.
CLS = {
    "accuracy": {
        ("zero_shot", 1): (0.80, 0.60, 0.70, 0.65),
        ("zero_shot", 2): (0.82, 0.64, 0.74, 0.69),
        ("to-de", 1): (0.79, 0.66, 0.50, 0.58),
        ("to-es", 1): (0.78, 0.52, 0.76, 0.64),
    },
    "macro_f1": {
        ("zero_shot", 1): (0.78, 0.55, 0.65, 0.60),
        ("zero_shot", 2): (0.80, 0.59, 0.69, 0.64),
        ("to-de", 1): (0.77, 0.61, 0.40, 0.50),
        ("to-es", 1): (0.76, 0.42, 0.71, 0.56),
    },
}


def test_cls_report_shows_accuracy_then_macro_f1(tmp_path):
    out = run_main(tmp_path, task_run(CLS), "cls")
    assert Path(out["table"]).read_text(encoding="utf-8") == (
        "# xlt results: x\n"
        "\n"
        "Accuracy (%), mean over seeds (± std when several).\n"
        "\n"
        "| method | en | de | es | avg |\n"
        "|---|---:|---:|---:|---:|\n"
        "| zero_shot | 81.00 ± 1.41 | 62.00 ± 2.83 | 72.00 ± 2.83 | 67.00 ± 2.83 |\n"
        "| to |  | 66.00 | 76.00 | 71.00 |\n"
        "\n"
        "## Macro-F1 (%)\n"
        "\n"
        "| method | en | de | es | avg |\n"
        "|---|---:|---:|---:|---:|\n"
        "| zero_shot | 79.00 ± 1.41 | 57.00 ± 2.83 | 67.00 ± 2.83 | 62.00 ± 2.83 |\n"
        "| to |  | 61.00 | 71.00 | 66.00 |\n"
    )
    csv = pd.read_csv(out["csv"])
    assert csv.columns.tolist() == [
        "method",
        "lang",
        "accuracy_mean",
        "accuracy_std",
        "macro_f1_mean",
        "macro_f1_std",
        "n_seeds",
    ]
    assert list(zip(csv["method"], csv["lang"], strict=True)) == [
        ("zero_shot", "en"),
        ("zero_shot", "de"),
        ("zero_shot", "es"),
        ("zero_shot", "avg"),
        ("to", "de"),
        ("to", "es"),
        ("to", "avg"),
    ]
    csv = csv.set_index(["method", "lang"])
    assert csv.loc[("zero_shot", "de")].tolist() == pytest.approx([62.0, 2.8284, 57.0, 2.8284, 2])
    # the avg of the merged TO row: mean of its own-language cells, for each metric
    assert csv.loc[("to", "avg"), ["accuracy_mean", "macro_f1_mean", "n_seeds"]].tolist() == [71.0, 66.0, 1]
    assert csv.loc[("to", "avg"), ["accuracy_std", "macro_f1_std"]].isna().all()


# A QA run, laid out like CLS; the TO cells are paper 003 style "F1 / EM".
QA = {
    "f1": {
        ("zero_shot", 1): (0.85, 0.70, 0.74, 0.72),
        ("zero_shot", 2): (0.87, 0.72, 0.76, 0.74),
        ("to-de", 1): (0.80, 0.713, 0.40, 0.55),
        ("to-es", 1): (0.79, 0.45, 0.651, 0.55),
    },
    "em": {
        ("zero_shot", 1): (0.72, 0.54, 0.58, 0.56),
        ("zero_shot", 2): (0.74, 0.56, 0.60, 0.58),
        ("to-de", 1): (0.70, 0.552, 0.30, 0.43),
        ("to-es", 1): (0.69, 0.33, 0.480, 0.41),
    },
}


def test_qa_report_cells_are_f1_slash_em(tmp_path):
    out = run_main(tmp_path, task_run(QA), "qa")
    assert Path(out["table"]).read_text(encoding="utf-8") == (
        "# xlt results: x\n"
        "\n"
        "F1 / EM (%) as in xTune (paper 003) Table 1, mean over seeds (± std of F1 when several).\n"
        "\n"
        "| method | en | de | es | avg |\n"
        "|---|---:|---:|---:|---:|\n"
        "| zero_shot | 86.0 ± 1.4 / 73.0 | 71.0 ± 1.4 / 55.0 | 75.0 ± 1.4 / 59.0 | 73.0 ± 1.4 / 57.0 |\n"
        "| to |  | 71.3 / 55.2 | 65.1 / 48.0 | 68.2 / 51.6 |\n"
    )
    csv = pd.read_csv(out["csv"])
    assert csv.columns.tolist() == ["method", "lang", "f1_mean", "f1_std", "em_mean", "em_std", "n_seeds"]
    csv = csv.set_index(["method", "lang"])
    assert csv.loc[("zero_shot", "avg")].tolist() == pytest.approx([73.0, 1.4142, 57.0, 1.4142, 2])
    assert csv.loc[("to", "de"), ["f1_mean", "em_mean"]].tolist() == pytest.approx([71.3, 55.2])
    assert csv.loc[("to", "avg"), ["f1_mean", "em_mean"]].tolist() == pytest.approx([68.2, 51.6])
    assert ("to", "en") not in csv.index


def test_plots_name_the_task_headline_metric():
    merged = report.merge_per_language_models(task_run(CLS), ["de", "es"])
    table = report.task_table(merged, ["zero_shot", "to"], ["en", "de", "es"], "cls")
    fig, ax = report.f1_figure(table, "t", "accuracy", "accuracy")
    try:
        assert ax.get_ylabel() == "accuracy (%)"
        [bars] = errorbars(ax)  # zero_shot's four two-seed cells only
        assert len(bars.lines[2][0].get_segments()) == 4
    finally:
        plt.close(fig)
    curves = pd.DataFrame({"method": ["zero_shot"], "step": [1], "dev_f1": [50.0]})
    fig, ax = report.convergence_figure(curves, "t", report.task_info("qa").metric_labels[0])
    try:
        assert ax.get_ylabel() == "source dev F1 (%)"
    finally:
        plt.close(fig)


def test_ner_report_is_unchanged_by_the_task_param(tmp_path):
    """A NER run's table.md and table.csv as before the report knew of tasks (byte for byte)."""
    rows = []
    for seed in (1, 2):
        for lang, v in (
            ("en", 0.91),
            ("de", 0.5 + 0.013 * seed),
            ("es", 0.6 + 0.021 * seed),
            ("avg", 0.55 + 0.017 * seed),
        ):
            rows += [("zero_shot", seed, lang, m, v, 10) for m in ("f1", "precision", "f1_PER")]
    for method, own, v in (("to-de", "de", 0.567), ("to-es", "es", 0.643), ("to-es@word2word", "es", 0.601)):
        rows += [
            (method, 1, lang, m, v if lang == own else 0.3, 7)
            for lang in ("en", own)
            for m in ("f1", "recall")
        ]
    metrics = pd.DataFrame(rows, columns=COLUMNS)
    # both files as written by the report step before it knew of tasks
    expected_md = (
        "# xlt results: x\n"
        "\n"
        "Entity F1 (%), mean over seeds (± std when several).\n"
        "\n"
        "| method | en | de | es | avg |\n"
        "|---|---:|---:|---:|---:|\n"
        "| zero_shot | 91.00 ± 0.00 | 51.95 ± 0.92 | 63.15 ± 1.48 | 57.55 ± 1.20 |\n"
        "| to |  | 56.70 | 64.30 | 60.50 |\n"
        "| to@word2word |  |  | 60.10 | 60.10 |\n"
        "\n"
        "## TO with span-to-span vs word-to-word label projection (paper 001 Table 5)\n"
        "\n"
        "| lang | span2span | word2word | ΔLP |\n"
        "|---|---:|---:|---:|\n"
        "| es | 64.30 | 60.10 | -4.20 |\n"
    )
    expected_csv = (
        "method,lang,f1_mean,f1_std,n_seeds\n"
        "zero_shot,en,91.0000,0.0000,2\n"
        "zero_shot,de,51.9500,0.9192,2\n"
        "zero_shot,es,63.1500,1.4849,2\n"
        "zero_shot,avg,57.5500,1.2021,2\n"
        "to,de,56.7000,,1\n"
        "to,es,64.3000,,1\n"
        "to,avg,60.5000,,1\n"
        "to@word2word,es,60.1000,,1\n"
        "to@word2word,avg,60.1000,,1\n"
    )
    for i, task in enumerate(("ner", "absa")):
        out = run_main(tmp_path / str(i), metrics, task, ["zero_shot", "to", "to@word2word"])
        assert Path(out["table"]).read_text(encoding="utf-8") == expected_md
        assert Path(out["csv"]).read_text(encoding="utf-8") == expected_csv


def test_xtune_curves_draw_dev_scores_and_the_nonzero_consistency_terms(tmp_path):
    from pipeline_steps import report_xtune

    zs = train_log(["main"] * 4, [None, 0.4, None, 0.6])
    r1 = train_log(["main"] * 4, [None, 0.5, None, 0.7]).assign(
        terms=[
            {"task": 1.0, "r1": 0.2},
            {"task": 0.9, "r1": 0.1},
            {"task": 0.8, "r1": 0.3},
            {"task": 0.7, "r1": 0.2},
        ]
    )
    r2 = train_log(["main"] * 2, [None, 0.55]).assign(
        terms=[{"task": 1.0, "r1": 0.0, "r2": 0.4}, {"task": 0.9, "r1": 0.0, "r2": 0.2}]
    )
    logs = {"zero_shot": zs, "xtune_r1": r1, "xtune_r2": r2}
    terms = report_xtune.loss_terms(logs)
    assert len(terms) == 4 * 2 + 2 * 3 and set(terms["method"]) == {"xtune_r1", "xtune_r2"}
    assert terms.query("method == 'xtune_r2' and term == 'r2'")["value"].tolist() == [0.4, 0.2]
    fig = report_xtune.xtune_curves_figure(logs, "t", "entity F1")
    dev_ax, terms_ax = fig.axes
    assert [line.get_label() for line in dev_ax.lines] == ["zero_shot", "xtune_r1", "xtune_r2"]
    assert dev_ax.lines[1].get_ydata().tolist() == pytest.approx([50.0, 70.0])
    # R1 of xtune_r2 is logged as 0 (switched off): not drawn; rolling mean over SMOOTHING steps
    assert [line.get_label() for line in terms_ax.lines] == ["xtune_r1 R1", "xtune_r2 R2"]
    assert terms_ax.lines[0].get_ydata().tolist() == pytest.approx([0.2, 0.15, 0.2, 0.2])
    plt.close(fig)
    paths = []
    for method, df in logs.items():
        paths.append(str(tmp_path / f"{method}.parquet"))
        write_artifact(df, paths[-1], TRAIN_LOG)
    m = tmp_path / "m.parquet"
    write_artifact(metrics_rows(), m, METRICS)
    out = {k: str(tmp_path / n) for k, n in (("table", "t.md"), ("csv", "t.csv"), ("plot", "f1.png"))}
    out["xtune_curves"] = [str(tmp_path / "xtune_curves.png")]
    params = {
        "experiment": "x",
        "source_lang": "en",
        "target_langs": ["de", "es"],
        "methods": ["zero_shot"],
        "mapping": "span2span",
        "task": "ner",
        "xtune_curve_methods": list(logs),
    }
    report.main(StepContext(input={"metrics": [str(m)], "xtune_logs": paths}, output=out, params=params))
    assert (tmp_path / "xtune_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_throughput_is_items_over_the_benchmarked_wall_time(tmp_path):
    from pipeline_steps.report_throughput import job_throughput, markdown

    bench, res = tmp_path / "benchmarks", tmp_path / "results"
    header = "s\th:m:s\tmax_rss\n"
    for rel, seconds in (("finetune/mtl/13.tsv", 20.0), ("predict/mtl/13/de.tsv", 4.0)):
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / rel).write_text(f"{header}{seconds}\t0:00:20\t100\n")
    log_path = res / "finetune/mtl/13/train_log.parquet"
    log_path.parent.mkdir(parents=True)
    pd.DataFrame({"step": range(1, 11)}).to_parquet(log_path)  # 10 steps
    preds = {}
    for lang in ("de", "es"):  # es was predicted before benchmarks existed: left out
        preds[lang] = res / f"predict/mtl/13/{lang}.parquet"
        preds[lang].parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"sentence_id": ["a", "b", "c"], "pred": "O"}).to_parquet(preds[lang])  # 3 rows
    frame = job_throughput(bench, [str(log_path)], [str(p) for p in preds.values()], batch_size=8)
    assert frame[["job", "method", "seed", "items", "seconds"]].values.tolist() == [
        ["finetune", "mtl", 13, 80, 20.0],
        ["predict", "mtl", 13, 3, 4.0],
    ]
    assert frame["lang"].isna().tolist() == [True, False] and frame["lang"].iloc[1] == "de"
    assert frame["per_second"].tolist() == [4.0, 0.75]
    assert "| predict | mtl | 1 | 3 | 4.0 | 0.8 |" in markdown(frame)
