"""Data-parallel training (train/distributed.py) in 2 CPU processes (gloo): the same global batch gives
the one-process loss curve, checkpoints are written once (with both processes' RNG states) and an
interrupted run resumes to the uninterrupted one; a finetune job with 2 processes trains a tagger."""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest
import torch
from _helpers_model import FINETUNE_SETTINGS, ToyRecipe, make_net, toy_sentences, toy_tiny_model, train_config
from _helpers_model import write_sentences as write

from pipeline_steps import finetune
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import TRAIN_LOG
from pipeline_steps.train import distributed, list_checkpoints, train
from pipeline_steps.train.distributed import Group, shard

# Float32 sums in another order (a row-weighted mean of two shard gradients instead of one batch mean):
# the losses of the two runs agree to this tolerance over the 18 steps below.
LOSS_TOLERANCE = 1e-5


class ParallelToyRecipe(ToyRecipe):
    data_parallel = True  # cross-entropy: a mean over rows


def toy_run(out: str, dropout: float, ckpt: str | None, checkpoint_steps: int = 0) -> None:
    """Train the toy net (45 rows, batches of 8: the last one has 5, shards of 3 and 2) for 3 epochs;
    process 0 writes the losses and the final weights to ``out``."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = make_net(0)
    model.drop.p = dropout
    config = train_config(lr=0.05, epochs=3, seed=5, checkpoint_steps=checkpoint_steps, device="cpu")
    result = train(model, ParallelToyRecipe(), config, checkpoint_dir=ckpt)
    if distributed.current().main:
        torch.save({"loss": result.log["loss"].tolist(), "weights": model.state_dict()}, out)


def test_a_batch_is_sharded_by_rows_rank_modulo_world():
    batch = {"x": torch.arange(10).view(5, 2), "y": torch.arange(5), "meta": "kept", "n": torch.tensor(3)}
    part, rows, total = shard(batch, Group(rank=1, world=2))
    assert (rows, total) == (2, 5) and part["y"].tolist() == [1, 3] and part["x"].tolist() == [[2, 3], [6, 7]]
    assert part["meta"] == "kept" and int(part["n"]) == 3
    assert shard(batch, Group())[0] is batch
    with pytest.raises(ValueError, match="one row count"):
        shard({"x": torch.zeros(3, 1), "y": torch.zeros(4)}, Group(rank=0, world=2))


def test_a_recipe_whose_loss_couples_the_rows_is_refused():
    with pytest.raises(ConfigError, match="cannot train data-parallel"):
        distributed.check_recipe(ToyRecipe(), Group(rank=0, world=2))
    distributed.check_recipe(ToyRecipe(), Group())  # one process: any recipe


def test_two_processes_follow_the_one_process_loss_curve(tmp_path):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    toy_run(str(one), 0.0, None)
    distributed.launch(toy_run, 2, str(two), 0.0, None)
    a, b = torch.load(one), torch.load(two)
    assert len(a["loss"]) == len(b["loss"]) == 18
    assert max(abs(x - y) for x, y in zip(a["loss"], b["loss"], strict=True)) < LOSS_TOLERANCE
    for name, w in a["weights"].items():
        assert torch.allclose(w, b["weights"][name], atol=1e-5), name
    assert a["loss"][-1] < a["loss"][0] - 0.1  # it learns


def test_checkpoints_are_written_once_and_an_interrupted_run_resumes_exactly(tmp_path):
    """With dropout on, so each process's RNG state must come back too."""
    ckpt, full, resumed = tmp_path / "ckpt", tmp_path / "full.pt", tmp_path / "resumed.pt"
    distributed.launch(toy_run, 2, str(full), 0.3, str(ckpt), 4)
    steps = [s for s, _ in list_checkpoints(ckpt)]
    assert steps == [16, 18]  # keep_last_checkpoints: 2, one folder per step (not one per process)
    assert not [p for p in ckpt.iterdir() if p.name.startswith(".tmp")]
    state = torch.load(ckpt / "step-00000018" / "state.pt", weights_only=True)
    assert isinstance(state["rng"], list) and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # own dropout streams
    # "kill" after step 16: drop the last checkpoint and train again from the one before it
    shutil.rmtree(ckpt / "step-00000018")
    distributed.launch(toy_run, 2, str(resumed), 0.3, str(ckpt), 4)
    a, b = torch.load(full), torch.load(resumed)
    assert a["loss"] == b["loss"]
    assert all(torch.equal(w, b["weights"][k]) for k, w in a["weights"].items())


def test_a_finetune_job_with_two_processes_trains_and_writes_once(tmp_path):
    tiny = toy_tiny_model(tmp_path)
    train_path = write(toy_sentences("en", 24), tmp_path / "train.parquet")
    dev_path = write(toy_sentences("en", 8, split="dev"), tmp_path / "dev.parquet")
    out = tmp_path / "ft"
    params = {
        **FINETUNE_SETTINGS,
        "method": "zero_shot",
        "seed": 13,
        "scheme": "bio",
        "labels": ["PER", "LOC", "ORG"],
        "task": "ner",
        "target_langs": ["de"],
        "method_params": {},
        "model_name_or_path": tiny,
        "lr": 5e-3,
        "epochs": 3,
        "eval_steps": 3,
        "checkpoint_steps": 3,
        "keep_checkpoints": True,
        "device": "cpu",
    }
    ctx = StepContext(
        input={"train": train_path, "dev": dev_path, "model": []},
        output={"model": str(out / "model"), "log": str(out / "train_log.parquet")},
        params=params,
        threads=2,
        log=str(tmp_path / "finetune.log"),
        resources={"gpu": 2},
    )
    finetune.main(ctx)
    log = read_artifact(out / "train_log.parquet", TRAIN_LOG)
    assert log["step"].tolist() == list(range(1, 10))  # 24 sentences / 8 per step * 3 epochs
    assert log["dev_f1"].notna().sum() == 3 and log["loss"].iloc[-1] < log["loss"].iloc[0]
    meta = json.loads((out / "model" / finetune.META_FILE).read_text())
    assert meta["best_dev_f1"] == pytest.approx(log["dev_f1"].max())
    assert [s for s, _ in list_checkpoints(out / "checkpoints" / "main")] == [6, 9]
    text = (tmp_path / "finetune.log").read_text(encoding="utf-8")
    assert text.count("finetune zero_shot seed 13: 9 steps") == 1  # process 0 logs; process 1 only warns


def test_bf16_autocast_is_for_cuda_only():
    from pipeline_steps.train.loop import autocast

    assert not isinstance(autocast(torch.device("cpu"), "bf16"), torch.autocast)
    assert not isinstance(autocast(torch.device("cuda"), "fp32"), torch.autocast)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else contextlib.nullcontext():
        on_cuda = autocast(torch.device("cuda"), "bf16")
    assert isinstance(on_cuda, torch.autocast) and on_cuda.fast_dtype == torch.bfloat16
    with pytest.raises(ConfigError, match="precision must be one of"):
        train_config(precision="fp16")


@pytest.mark.slow
def test_the_workflow_runs_a_two_gpu_finetune_job_data_parallel(tmp_path):
    """``--set-resources finetune:gpu=2`` (as a SLURM profile's ``gpu: 2``) on the demo: the finetune job
    spawns 2 processes from Snakemake's script (which must not re-run the step when they import it)."""
    import subprocess
    import sys
    from pathlib import Path

    from conftest import copy_workflow

    workdir = copy_workflow(tmp_path)
    target = "results/demo/finetune/zero_shot/13/model"
    snakemake = str(Path(sys.executable).parent / "snakemake")
    cmd = [snakemake, target, "--cores", "2", "--set-resources", "finetune:gpu=2"]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = (workdir / "logs/demo/finetune/zero_shot/13.log").read_text(encoding="utf-8")
    assert "fine-tuning data-parallel in 2 processes" in log
    assert log.count("finetune zero_shot seed 13:") == 1  # process 0 reports, once
    assert (workdir / target / finetune.META_FILE).is_file()
