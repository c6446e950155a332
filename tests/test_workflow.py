"""The whole workflow on the demo corpus: dry run, end-to-end run, rerun set, bad config.

The workflow is copied into a temporary folder so the run does not touch the checkout's results/.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import copy_workflow

from pipeline_steps import io, schemas

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
STAGES = {
    "ingest", "spans", "pair_parallel", "translate", "align", "project", "projection_eval",
    "tiny_model", "augment", "finetune", "predict", "evaluate", "report",
}  # fmt: skip

# One worker runs this module (pytest -n 2 --dist loadfile): the module-scoped workflow run is shared.
pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, timeout=1500
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_rules(proc: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M))
    counts.pop("total", None)
    counts.pop("all", None)
    return {rule: int(n) for rule, n in counts.items()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("xlt"))


@pytest.fixture(scope="module")
def finished(workdir) -> Path:
    """Run the embedded default once for the module."""
    snakemake(workdir)
    return workdir / "results" / "demo"


def test_dry_run_plans_every_stage(workdir):
    plan = planned_rules(snakemake(workdir, "-n"))
    assert set(plan) >= STAGES, f"missing stages: {STAGES - set(plan)}"
    # zero_shot, to-de, to-es, to-es@word2word, bilingual-de, bilingual-es, mtl, mtl_ws, xtune_r1, xtune
    assert plan["finetune"] == 10
    # the per-language models are tested on their own language and the source only: 5 x 3 + 5 x 2
    assert plan["predict"] == 25
    assert plan["augment"] == 1  # subword views (paper 003 Table 7, NER) for both xTune stages
    # both projections of the Spanish translations (Table 5), the configured one of German; gold es, de
    assert plan["project"] == 5


def test_end_to_end_artifacts(finished):
    r = finished
    for path, artifact in [
        (r / "ingest/train.parquet", schemas.SENTENCES),
        (r / "spans/par.de.src.parquet", schemas.SPANS),
        (r / "pairs/translated.de.parquet", schemas.PAIRS),
        (r / "align/translated.es.parquet", schemas.ALIGNMENTS),
        (r / "project/translated.es.span2span.parquet", schemas.PROJECTED),
        (r / "project/translated.es.word2word.parquet", schemas.PROJECTED),
        (r / "projection/scores.parquet", schemas.PROJECTION_SCORES),
        (r / "predict/zero_shot/13/de.parquet", schemas.PREDICTIONS),
        (r / "eval/zero_shot/13.parquet", schemas.METRICS),
        (r / "finetune/zero_shot/13/train_log.parquet", schemas.TRAIN_LOG),
        (r / "augment/subword.13.parquet", schemas.AUGMENTED),
        (r / "finetune/xtune/13/train_log.parquet", schemas.TRAIN_LOG),
    ]:
        df = io.read_artifact(path, artifact)
        assert len(df) > 0, path
        assert duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall() == [(len(df),)]
    spacy_spans = pd.read_parquet(r / "spans/par.de.src.parquet")
    assert set(spacy_spans["origin"]) == {"spacy"}


def test_end_to_end_results(finished):
    r = finished
    projected = pd.read_parquet(r / "project/translated.de.span2span.parquet")
    assert projected["n_projected"].sum() > 0.8 * projected["n_src_spans"].sum()
    scores = pd.read_parquet(r / "projection/scores.parquet")
    overall = scores[scores["label"] == "ALL"].set_index("lang")["f1"]
    assert overall.min() > 0.5, overall  # projection of the demo's gold translations
    table = pd.read_csv(r / "report/table.csv")
    assert set(table["lang"]) == {"en", "de", "es", "avg"}
    assert list(dict.fromkeys(table["method"])) == [
        "zero_shot",
        "to",
        "to@word2word",
        "bilingual",
        "mtl",
        "mtl_ws",
        "xtune_r1",
        "xtune",
    ]
    assert table["f1_mean"].between(0, 100).all()
    cell = table.set_index(["method", "lang"])["f1_mean"]
    assert cell["zero_shot", "en"] > 20, "the tiny model learned nothing on its own language"
    assert ("to", "en") not in cell.index  # TO models are per target language: no source cell
    assert cell["to", "avg"] == pytest.approx((cell["to", "de"] + cell["to", "es"]) / 2)
    assert ("to@word2word", "de") not in cell.index  # the demo runs Table 5 for Spanish only
    table5 = (r / "report/table.md").read_text(encoding="utf-8").split("(paper 001 Table 5)")[1]
    es_row = f"| es | {cell['to', 'es']:.2f} | {cell['to@word2word', 'es']:.2f} |"
    assert es_row in table5
    for png in ("f1.png", "convergence.png", "xtune_curves.png"):
        assert (r / "report" / png).read_bytes()[:4] == b"\x89PNG"
    logs = finished.parents[1] / "logs/demo"
    assert "step finetune:main done" in (logs / "finetune/zero_shot/13.log").read_text(encoding="utf-8")
    terms = pd.read_parquet(r / "finetune/xtune/13/train_log.parquet")["terms"].map(dict)
    assert all(set(t) == {"task", "r1", "r2"} and t["r2"] >= 0 for t in terms)  # DuckDB: terms['r2']
    teacher = json.loads((r / "finetune/xtune_r1/13/model/xlt_finetune.json").read_text(encoding="utf-8"))
    assert teacher["method"] == "xtune_r1"


def test_every_job_has_a_benchmark_and_stage_times_reads_them(finished):
    bench = finished.parents[1] / "logs/demo/benchmarks"
    for stage in ("ingest", "spans", "translate", "align", "project", "model", "finetune", "predict"):
        files = list((bench / stage).rglob("*.tsv"))
        assert files, f"no benchmark file for {stage}"
    assert (bench / "report.tsv").is_file() and (bench / "projection_eval.tsv").is_file()
    assert len(list(bench.rglob("*.tsv"))) == 83 - 1  # every job but `all`
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/stage_times.py"), str(finished.parents[1] / "logs/demo")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "| finetune | 10 |" in proc.stdout and "| predict | 25 |" in proc.stdout


def test_rerun_after_finetune_change_touches_only_downstream(finished, workdir):
    assert planned_rules(snakemake(workdir, "-n")) == {}
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg["finetune"]["lr"] = cfg["finetune"]["lr"] * 2
    (workdir / "changed.yaml").write_text(yaml.safe_dump(cfg))
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", "changed.yaml"))
    assert set(plan) == {"finetune", "predict", "evaluate", "report"}


def test_rerun_after_dropping_a_translated_language_retrains_only_the_methods_using_it(finished, workdir):
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg["translate"]["langs"] = ["de"]
    cfg["methods"] = [m for m in cfg["methods"] if "es" not in m]  # to-es@word2word needs Spanish
    (workdir / "de-only.yaml").write_text(yaml.safe_dump(cfg))
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", "de-only.yaml"))
    # mtl and mtl_ws lose their Spanish data; zero_shot, to-de and bilingual-de are untouched
    assert plan == {"finetune": 2, "predict": 6, "evaluate": 2, "report": 1}


def test_a_stage2_xtune_change_reruns_stage2_only(finished, workdir):
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg.setdefault("method_params", {})["xtune"] = {"lambda2": 1.0}
    (workdir / "lambda2.yaml").write_text(yaml.safe_dump(cfg))
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", "lambda2.yaml"))
    assert plan == {"finetune": 1, "predict": 3, "evaluate": 1, "report": 1}  # xtune, not its teacher
    cfg["method_params"]["xtune"] = {"stop_gradient": False}  # stage 1: the teacher, then the student
    (workdir / "no-stopgrad.yaml").write_text(yaml.safe_dump(cfg))
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", "no-stopgrad.yaml"))
    assert plan == {"finetune": 2, "predict": 6, "evaluate": 2, "report": 1}


def test_bad_config_is_reported_readably(workdir):
    cfg = yaml.safe_load((workdir / "config/config.yaml").read_text())
    cfg["align"]["backend"] = "giza"
    (workdir / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "align.backend: 'giza' is not one of ['auto', 'eflomal', 'fast_align', 'embedding']" in out
    assert "jobid:" not in out  # stopped before planning any job


def test_snakemake_report_bundles_table_and_plot(finished, workdir):
    snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(encoding="utf-8", errors="replace")
    assert "table.md" in html and "f1.png" in html
