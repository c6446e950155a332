"""Paper 000's continued pre-training in the DAG, on the QA demo: CLISM examples from the translate
stage's pairs of the training contexts (the answer spans as source spans, aligned by eflomal), the
pretrain rule, and few-shot zero-shot QA (App. C: 16 sampled questions) fine-tuned from its model with
[QUE] after each question (Sec. 3.4), reported in the Table 3/9 layout; a fine-tuning change does not
rerun pre-training."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow
from test_workflow import planned_rules, snakemake

from pipeline_steps import io, schemas

pytestmark = pytest.mark.slow  # one worker runs the module (--dist loadfile): one shared run

EXPERIMENT = "demo-qa-pretrain"
METHOD = "zero_shot-16shot"
TARGET = f"results/{EXPERIMENT}/eval/{METHOD}/13.parquet"
REPORT = f"results/{EXPERIMENT}/report/table.md"


def overlay(workdir: Path, name: str, **changes) -> str:
    """A config file: the QA demo with pre-training on, German only, zero-shot, short runs (this test
    checks the wiring, not the quality), and ``changes`` (section -> keys)."""
    cfg = yaml.safe_load((workdir / "config/demo-qa.yaml").read_text())
    cfg["experiment"] = EXPERIMENT
    cfg["methods"] = [METHOD]
    cfg["target_langs"] = ["de"]
    cfg["data"]["test"] = {lang: v for lang, v in cfg["data"]["test"].items() if lang in ("en", "de")}
    cfg["translate"]["langs"] = ["de"]
    cfg["model"]["pretrain"] = True
    cfg["model"]["tiny"]["mlm_steps"] = 50
    cfg["pretrain"] = {"corpora": ["translated"], "max_steps": 6, "batch_size": 8, "checkpoint_steps": 3}
    cfg["few_shot"] = {"steps": 12}
    for section, values in changes.items():
        cfg[section].update(values)
    (workdir / name).write_text(yaml.safe_dump(cfg))
    return name


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    workdir = copy_workflow(tmp_path_factory.mktemp("xlt-pretrain"))
    snakemake(workdir, "--configfile", overlay(workdir, "pretrain.yaml"), "--", REPORT)
    return workdir


def test_few_shot_qa_starts_from_the_pretrained_encoder_with_que(workdir):
    r = workdir / "results" / EXPERIMENT
    examples = io.read_artifact(r / "clism/translated.de.parquet", schemas.CLISM_EXAMPLES)
    assert (
        examples["n_kept"].sum() > 0 and (examples["tokenizer"] == f"results/{EXPERIMENT}/model/tiny").all()
    )
    log = io.read_artifact(r / "pretrain/train_log.parquet", schemas.TRAIN_LOG)
    assert list(log["step"]) == list(range(1, 7))
    assert all({"clism", "cacr", "mlm"} <= set(dict(t)) for t in log["terms"])
    model = r / f"finetune/{METHOD}/13/model"
    meta = json.loads((model / "xlt_finetune.json").read_text(encoding="utf-8"))
    assert meta["base_model"] == f"results/{EXPERIMENT}/pretrain/model" and meta["que_token"] is True
    assert (model / "xlt_que.json").is_file() and (model / "que_head.safetensors").is_file()
    predictions = io.read_artifact(r / f"predict/{METHOD}/13/de.parquet", schemas.QA_PREDICTIONS)
    assert len(predictions) > 0 and (predictions["pred_start"] >= 0).mean() > 0.9
    metrics = pd.read_parquet(r / f"eval/{METHOD}/13.parquet")
    assert set(metrics["lang"]) >= {"en", "de"} and set(metrics["metric"]) >= {"f1", "em"}
    train_log = io.read_artifact(r / f"finetune/{METHOD}/13/train_log.parquet", schemas.TRAIN_LOG)
    assert len(train_log) == 12 and train_log["dev_f1"].notna().sum() == 1  # App. C: the step budget
    report = (r / "report/table.md").read_text(encoding="utf-8")
    assert "## Few-shot (paper 000 Table 3/9" in report and "| 16 | zero_shot |" in report
    assert (r / "report/few_shot.png").read_bytes()[:4] == b"\x89PNG"
    assert "step pretrain.step:main done" in (workdir / f"logs/{EXPERIMENT}/pretrain.log").read_text(
        encoding="utf-8"
    )


def test_a_finetune_change_does_not_rerun_pretraining(workdir):
    name = overlay(workdir, "lr.yaml", finetune={"lr": 1.0e-4})
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", name, "--", TARGET))
    assert plan == {"finetune": 1, "predict": 2, "evaluate": 1}


def test_a_pretrain_change_reruns_pretraining_not_its_examples(workdir):
    name = overlay(workdir, "no-cacr.yaml")
    cfg = yaml.safe_load((workdir / name).read_text())
    cfg["pretrain"]["losses"] = {"cacr": False}
    (workdir / name).write_text(yaml.safe_dump(cfg))
    plan = planned_rules(snakemake(workdir, "-n", "--configfile", name, "--", TARGET))
    assert plan == {"pretrain": 1, "finetune": 1, "predict": 2, "evaluate": 1}
