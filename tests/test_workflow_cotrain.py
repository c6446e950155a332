"""End to end: paper 002's co-/self-training loop on the NER demo (tagging at sentence granularity, one
round), through the same DAG as every method: ingest the pools, f_lm (finetune) and f_emb (a tag head
over the frozen tiny encoder's word states), the selection round's state, the final f_lm, the report.
(The classification demo, with two rounds and lang_adapt, is in test_workflow_cls.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import copy_workflow
from snakemake.utils import update_config

from pipeline_steps import io, schemas
from pipeline_steps.methods.co_training import pick_size

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")

pytestmark = pytest.mark.slow


def lean_config(workdir: Path) -> str:
    """config.yaml with the demo-cotrain.yaml overlay, as Snakemake merges them, without the demo's
    parallel and gold-parallel text: with no translate-train, they only feed the label-projection scores
    of the report (spaCy spans, the aligner, projection), which the NER demo tests. CI's time budget."""
    config = yaml.safe_load((workdir / "config/config.yaml").read_text(encoding="utf-8"))
    update_config(config, yaml.safe_load((workdir / "config/demo-cotrain.yaml").read_text(encoding="utf-8")))
    config["data"]["parallel"], config["data"]["gold_parallel"] = {}, {}
    (workdir / "config/demo-cotrain-lean.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return "config/demo-cotrain-lean.yaml"


def test_tagging_cotraining_demo_end_to_end(tmp_path):
    workdir = copy_workflow(tmp_path)
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", "--configfile", lean_config(workdir)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, f"demo-cotrain failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    r = workdir / "results" / "demo-cotrain"
    train = io.read_artifact(r / "ingest/train.parquet", schemas.SENTENCES)
    pools = {
        x: io.read_artifact(r / f"ingest/unlabelled.{x}.parquet", schemas.SENTENCES) for x in ("de", "es")
    }
    assert all(p["tags"].isna().all() for p in pools.values())  # `lines`: no gold
    tokens = {i: list(t) for p in pools.values() for i, t in zip(p["id"], p["tokens"], strict=True)}
    pool_pred = io.read_artifact(r / "cotrain/pool/zero_shot/13/de.parquet", schemas.POOL_PREDICTIONS)
    assert len(pool_pred) == len(pools["de"]) and pool_pred["score"].between(0, 1).all()
    for variant in ("self_training", "co_training"):
        state = io.read_artifact(r / f"cotrain/{variant}/13/state.iter1.parquet", schemas.COTRAIN_STATE)
        assert len(state) == sum(len(p) for p in pools.values())
        for view in ("lm", "emb"):
            picked = state[state[f"{view}_picked_in"] == 1]
            assert len(picked) <= pick_size(len(train), 1 / 3)
            assert (picked[f"{view}_confidence"] > 0.5).all()  # cotrain.threshold of the overlay
            for row in picked.itertuples():  # a pseudo-label is one tag per word of the sentence
                assert len(getattr(row, f"{view}_pred").split(" ")) == len(tokens[row.id])
        teacher = "emb" if variant == "co_training" else "lm"
        n_pseudo = int(state[f"{teacher}_picked_in"].notna().sum())
        log = (workdir / f"logs/demo-cotrain/finetune/{variant}/13.log").read_text(encoding="utf-8")
        assert f"D: {len(train)}, pseudo-labelled: {n_pseudo})" in log
    emb = io.read_artifact(r / "cotrain/base/13/emb.iter0.parquet", schemas.EMB_PREDICTIONS)
    test = emb[emb["split"] == "test"]
    assert {"de", "es", "en"} <= set(test["lang"])
    assert all(
        len(g.split(" ")) == len(p.split(" ")) for g, p in zip(test["gold"], test["pred"], strict=True)
    )
    table = pd.read_csv(r / "report/table.csv")
    assert list(dict.fromkeys(table["method"])) == ["zero_shot", "self_training", "co_training"]
    md = (r / "report/cotraining.md").read_text(encoding="utf-8")
    assert "entity F1" in md and "| co_training   | lm " in md
