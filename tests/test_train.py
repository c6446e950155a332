"""The shared training loop: exact resume after a crash, checkpoint hygiene, model selection, hooks."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from _helpers_model import TOY_CONFIG, Die, ToyRecipe, make_net, train_config

from pipeline_steps.errors import ConfigError
from pipeline_steps.schemas import TRAIN_LOG, validate
from pipeline_steps.train import (
    ShuffledBatches,
    TrainConfig,
    Trainer,
    cpu_threads,
    derive_seed,
    list_checkpoints,
    total_steps,
    train,
)
from pipeline_steps.train.config import head_parameter_names, make_optimizer
from pipeline_steps.train.loop import LoopState

HELPERS = Path(__file__).resolve().parent / "_helpers_model.py"
LOG_COLUMNS = ["step", "epoch", "loss", "lr", "dev_f1"]


def scripted_eval(values):
    """An evaluate() returning ``values`` in turn and recording the weights it saw."""
    seen = []

    def evaluate(model):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return values[len(seen) - 1]

    evaluate.seen = seen
    return evaluate


def die_after(n: int):
    def on_step(step, row):
        if step == n:
            raise Die(f"simulated crash after step {step}")

    return on_step


def crash_at(ckpt, step: int) -> None:
    """A run of the toy config, checkpointing to ``ckpt``, killed right after ``step``."""
    with pytest.raises(Die):
        train(
            make_net(), ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt, on_step=die_after(step)
        )


def params_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def reference_run(evaluate=None, **overrides):
    model = make_net()
    result = train(model, ToyRecipe(), train_config(**{**TOY_CONFIG, **overrides}), evaluate=evaluate)
    return model, result


def crash_then_resume(tmp_path, die_at, evaluate_values=None, **overrides):
    """Run until step ``die_at`` raises, then resume in a fresh model; return (model, first, second)."""
    config = train_config(**{**TOY_CONFIG, **overrides})
    ckpt = tmp_path / "ckpt"

    ev1 = scripted_eval(evaluate_values) if evaluate_values else None
    with pytest.raises(Die):
        train(make_net(), ToyRecipe(), config, checkpoint_dir=ckpt, evaluate=ev1, on_step=die_after(die_at))
    model = make_net(seed=99)  # different initial weights: everything must come from the checkpoint
    ev2 = None
    if evaluate_values:
        done = len(ev1.seen)
        ev2 = scripted_eval(evaluate_values[done - _evals_redone(die_at, config) :])
    result = train(model, ToyRecipe(), config, checkpoint_dir=ckpt, evaluate=ev2)
    return model, result


def _evals_redone(die_at: int, config: TrainConfig) -> int:
    """Evaluations between the last checkpoint before ``die_at`` and ``die_at`` (run again on resume)."""
    last_ckpt = die_at - die_at % config.checkpoint_steps
    return sum(1 for s in range(last_ckpt + 1, die_at + 1) if s % config.eval_steps == 0)


@pytest.mark.parametrize("die_at", [4, 6, 8, 13])  # on a checkpoint, between two, at/after an epoch end
def test_resume_after_crash_gives_identical_weights_and_log(tmp_path, die_at):
    ref_model, ref = reference_run()
    model, res = crash_then_resume(tmp_path, die_at)
    assert params_equal(model, ref_model)
    last_ckpt = die_at - die_at % TOY_CONFIG["checkpoint_steps"]
    assert res.resumed_from == last_ckpt
    pd.testing.assert_frame_equal(res.log[LOG_COLUMNS], ref.log[LOG_COLUMNS])
    assert res.log["resumed"].tolist() == [s > last_ckpt for s in res.log["step"]]
    assert not ref.log["resumed"].any()
    assert set(res.log["phase"]) == {"main"}  # a run outside a Trainer is its main phase
    validate(res.log, TRAIN_LOG)


def test_resume_keeps_model_selection(tmp_path):
    """Best dev F1 at step 10 (0.9); crash at step 13 after it; the resumed run still ends on step 10."""
    values = [0.2, 0.9, 0.5, 0.9 - 1e-6]  # eval at steps 5, 10, 15, 18 (the end)
    ev = scripted_eval(values)
    ref_model, ref = reference_run(evaluate=ev)
    assert ref.best_step == 10 and ref.best_f1 == pytest.approx(0.9)
    assert all(torch.equal(ref_model.state_dict()[k], ev.seen[1][k]) for k in ev.seen[1])
    model, res = crash_then_resume(tmp_path, 13, evaluate_values=values)
    assert params_equal(model, ref_model)
    assert res.best_step == 10
    pd.testing.assert_frame_equal(res.log[LOG_COLUMNS], ref.log[LOG_COLUMNS])
    assert ref.log["dev_f1"].notna().tolist() == [s in (5, 10, 15, 18) for s in ref.log["step"]]


def test_ties_in_dev_f1_select_the_later_model():
    ev = scripted_eval([0.0, 0.0, 0.0, 0.0])
    _, result = reference_run(evaluate=ev)
    assert result.best_step == 18


def test_sigkill_after_a_checkpoint_then_resume(tmp_path):
    """A real kill -9 (no finally blocks, no flush) in a subprocess, resumed here: same weights."""
    ckpt = tmp_path / "ckpt"
    proc = subprocess.run(
        [sys.executable, str(HELPERS), "train-and-die", str(ckpt), "10"], capture_output=True, text=True
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert [s for s, _ in list_checkpoints(ckpt)] == [4, 8]
    model = make_net(seed=7)
    res = train(model, ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt)
    ref_model, ref = reference_run()
    assert res.resumed_from == 8
    assert params_equal(model, ref_model)
    pd.testing.assert_frame_equal(res.log[LOG_COLUMNS], ref.log[LOG_COLUMNS])


def test_checkpoint_retention_and_final_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    train(make_net(), ToyRecipe(), train_config(**{**TOY_CONFIG, "checkpoint_steps": 2}), checkpoint_dir=ckpt)
    assert [s for s, _ in list_checkpoints(ckpt)] == [16, 18]  # the last two; 18 = end of training
    meta = json.loads((ckpt / "step-00000018" / "meta.json").read_text())
    assert meta["finished"] is True and meta["step"] == 18
    assert json.loads((ckpt / "step-00000016" / "meta.json").read_text())["finished"] is False
    train(
        make_net(),
        ToyRecipe(),
        train_config(**{**TOY_CONFIG, "checkpoint_steps": 2, "keep_last_checkpoints": 1}),
        checkpoint_dir=tmp_path / "one",
    )
    assert [s for s, _ in list_checkpoints(tmp_path / "one")] == [18]


@pytest.mark.parametrize(
    "changed",
    [{"checkpoint_steps": 3}, {"checkpoint_steps": 3, "keep_last_checkpoints": 1, "device": "cpu"}],
)
def test_changing_how_often_it_checkpoints_still_resumes(tmp_path, changed):
    """checkpoint_steps (and keep_last_checkpoints, device) are not part of the resume fingerprint:
    interrupted with checkpoints every 2 steps, resumed with every 3, the run continues from step 6
    and ends exactly like an uninterrupted run."""
    ckpt = tmp_path / "ckpt"
    first = train_config(**{**TOY_CONFIG, "checkpoint_steps": 2})
    with pytest.raises(Die):
        train(make_net(), ToyRecipe(), first, checkpoint_dir=ckpt, on_step=die_after(7))
    assert [s for s, _ in list_checkpoints(ckpt)] == [4, 6]
    second = train_config(**{**TOY_CONFIG, "checkpoint_steps": 2, **changed})
    assert second.fingerprint() == first.fingerprint()
    model = make_net(seed=99)
    res = train(model, ToyRecipe(), second, checkpoint_dir=ckpt)
    assert res.resumed_from == 6
    ref_model, ref = reference_run()
    assert params_equal(model, ref_model)
    pd.testing.assert_frame_equal(res.log[LOG_COLUMNS], ref.log[LOG_COLUMNS])
    assert res.log["resumed"].tolist() == [s > 6 for s in res.log["step"]]


def test_loop_state_of_an_older_checkpoint_is_restored():
    """Checkpoints written before ``finished`` was dropped from the loop state still resume."""
    state = LoopState.restore({"step": 6, "epoch": 1, "batch_in_epoch": 0, "finished": False})
    assert (state.step, state.epoch, state.rows) == (6, 1, [])


def test_train_config_takes_every_config_key_explicitly():
    """The finetune: config keys have no defaults in TrainConfig (the config schema holds them)."""
    with pytest.raises(TypeError):
        TrainConfig(seed=0, lr=1e-3, epochs=1)
    config = train_config()
    assert (config.optimizer, config.schedule) == ("adamw", "linear")  # not config keys: defaults
    fingerprint = config.fingerprint()
    for key in ("checkpoint_steps", "keep_last_checkpoints", "device", "desc"):
        assert key not in fingerprint
    assert {"seed", "lr", "epochs", "max_steps", "eval_steps", "eval_after"} <= set(fingerprint)
    with pytest.raises(ConfigError, match="keep_last_checkpoints"):
        train_config(keep_last_checkpoints=0)


def test_finished_run_is_restored_without_training(tmp_path):
    ckpt = tmp_path / "ckpt"
    ref_model = make_net()
    train(ref_model, ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt)
    calls = []
    model = make_net(seed=5)
    res = train(
        model,
        ToyRecipe(),
        train_config(**TOY_CONFIG),
        checkpoint_dir=ckpt,
        on_step=lambda s, r: calls.append(s),
    )
    assert calls == [] and res.resumed_from == 18 and len(res.log) == 18
    assert params_equal(model, ref_model)


def test_incomplete_checkpoint_is_ignored(tmp_path):
    """A temporary folder left by a kill during saving, and a step folder without state, are skipped."""
    ckpt = tmp_path / "ckpt"
    crash_at(ckpt, 9)
    tmp = ckpt / ".tmp-step-00000012-999"
    tmp.mkdir()
    (tmp / "state.pt").write_bytes(b"half a file")
    (ckpt / "step-00000011").mkdir()  # no state.pt: not a checkpoint
    assert [s for s, _ in list_checkpoints(ckpt)] == [4, 8]
    model = make_net(seed=1)
    res = train(model, ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt)
    assert res.resumed_from == 8
    assert not tmp.exists()
    ref_model, _ = reference_run()
    assert params_equal(model, ref_model)


def test_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    ckpt = tmp_path / "ckpt"
    crash_at(ckpt, 9)
    (ckpt / "step-00000008" / "state.pt").write_bytes(b"garbage")
    model = make_net(seed=1)
    res = train(model, ToyRecipe(), train_config(**TOY_CONFIG), checkpoint_dir=ckpt)
    assert res.resumed_from == 4
    ref_model, _ = reference_run()
    assert params_equal(model, ref_model)


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    ckpt = tmp_path / "ckpt"
    crash_at(ckpt, 5)
    res = train(make_net(), ToyRecipe(), train_config(**{**TOY_CONFIG, "lr": 0.01}), checkpoint_dir=ckpt)
    assert res.resumed_from is None and not res.log["resumed"].any()
    assert "other settings" in caplog.text
    ref_model, ref = reference_run(lr=0.01)
    pd.testing.assert_frame_equal(res.log[LOG_COLUMNS], ref.log[LOG_COLUMNS])


def test_linear_schedule_with_warmup_and_max_steps():
    # 45 examples / batch 8 = 6 batches per epoch, 3 epochs = 18 steps, capped at 10; warm-up 2 steps
    _, res = reference_run(max_steps=10, lr=1.0, warmup_ratio=0.2)
    expected = [0.0, 0.5] + [(10 - s) / 8 for s in range(2, 10)]
    assert res.log["lr"].tolist() == pytest.approx(expected)
    assert res.log["step"].tolist() == list(range(1, 11))
    assert res.log["epoch"].tolist() == [0] * 6 + [1] * 4


def test_total_steps_and_bad_settings():
    assert total_steps(ToyRecipe(n=17, batch_size=8), train_config(epochs=2)) == 6
    assert total_steps(ToyRecipe(n=17, batch_size=8), train_config(epochs=2, max_steps=4)) == 4
    with pytest.raises(ConfigError):
        total_steps(ToyRecipe(n=17), train_config(epochs=0))
    with pytest.raises(ConfigError):
        train(make_net(), ToyRecipe(), train_config(optimizer="adagrad"))


def test_runs_are_deterministic_and_seed_matters():
    a, ra = reference_run()
    b, rb = reference_run()
    c, _ = reference_run(seed=4)
    assert params_equal(a, b) and ra.log["loss"].tolist() == rb.log["loss"].tolist()
    assert not params_equal(a, c)
    assert derive_seed(3, 0) != derive_seed(3, 1) and derive_seed(3, 1) == derive_seed(3, 1)


class PullTowards:
    """A recipe using the ``backward`` hook the way MTL-WS (paper 001 Eq. 7) does: grad = theta - target."""

    def __init__(self, target: float):
        self.target = target

    def num_batches(self, epoch):
        return 1

    def batches(self, epoch):
        yield {}

    def loss(self, model, batch):  # pragma: no cover - backward() replaces it
        raise AssertionError("not used")

    def backward(self, model, batch):
        for p in model.parameters():
            p.grad = p.detach() - self.target
        return 0.0


def test_backward_hook_with_sgd_performs_a_reptile_style_update():
    """theta_z = theta_{z-1} + gamma (target - theta_{z-1}) for each of Z=3 steps (Eq. 7, one language)."""
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(1.0)
    config = train_config(
        optimizer="sgd",
        lr=0.5,
        weight_decay=0.0,
        warmup_ratio=0.0,
        schedule="constant",
        max_grad_norm=None,
        epochs=3,
    )
    train(model, PullTowards(target=3.0), config)
    # 1 -> 2 -> 2.5 -> 2.75
    assert torch.allclose(model.weight, torch.full_like(model.weight, 2.75))
    assert torch.allclose(model.bias, torch.full_like(model.bias, 2.75))


def test_trainer_phases_number_steps_across_phases_and_restore(tmp_path):
    def two_phases(trainer):
        model = make_net()
        trainer.run("warmup", model, ToyRecipe(n=16), select=False, optimizer="sgd", lr=0.1, epochs=1)
        result = trainer.run("main", model, ToyRecipe(), epochs=1)
        assert result.best_step == 2 + 5  # dev F1 0.7 at local step 5 of the second phase
        return model

    def evaluate(model):  # 0.7 at the first evaluation, then 0.1
        evaluate.calls += 1
        return 0.7 if evaluate.calls == 1 else 0.1

    evaluate.calls = 0
    seen = []
    t1 = Trainer(
        train_config(**TOY_CONFIG),
        checkpoint_dir=tmp_path,
        evaluate=evaluate,
        on_step=lambda s, r: seen.append(s),
    )
    m1 = two_phases(t1)
    assert seen == list(range(1, 9)) and t1.log["step"].tolist() == list(range(1, 9))
    assert t1.log["phase"].tolist() == ["warmup"] * 2 + ["main"] * 6
    validate(t1.log, TRAIN_LOG)
    assert t1.log["dev_f1"].notna().tolist() == [False] * 6 + [True, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main", "warmup"]
    seen.clear()
    t2 = Trainer(
        train_config(**TOY_CONFIG),
        checkpoint_dir=tmp_path,
        evaluate=evaluate,
        on_step=lambda s, r: seen.append(s),
    )
    m2 = two_phases(t2)
    assert seen == []  # both phases were finished: restored, not retrained
    assert params_equal(m1, m2)
    pd.testing.assert_frame_equal(t1.log[LOG_COLUMNS], t2.log[LOG_COLUMNS])


def test_evaluation_starts_after_eval_after():
    """Paper 001 App. A.2: model selection only after a given step (here 10; every 5 steps and at the end)."""
    _, res = reference_run(evaluate=scripted_eval([0.1, 0.3, 0.2]), eval_after=10)
    assert res.log.loc[res.log["dev_f1"].notna(), "step"].tolist() == [10, 15, 18]
    assert res.best_step == 15


class NanAt(ToyRecipe):
    def __init__(self, bad_step: int):
        super().__init__()
        self.calls, self.bad_step = 0, bad_step

    def loss(self, model, batch):
        self.calls += 1
        loss = super().loss(model, batch)
        return loss * float("nan") if self.calls == self.bad_step else loss


def test_non_finite_loss_stops_before_the_update(tmp_path):
    model = make_net()
    with pytest.raises(FloatingPointError, match="step 6"):
        train(model, NanAt(6), train_config(**TOY_CONFIG), checkpoint_dir=tmp_path)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [4]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_small_models_train_on_one_cpu_thread():
    assert cpu_threads(2, hidden_size=64) == 1
    assert cpu_threads(4, hidden_size=768) == 4
    assert cpu_threads(0, hidden_size=None) == 1


class BodyAndHead(torch.nn.Module):
    """A Hugging Face-shaped toy: the pre-trained body under ``base_model_prefix``, a new head beside it."""

    base_model_prefix = "body"

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Linear(6, 16)
        self.classifier = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.classifier(torch.tanh(self.body(x)))


def test_head_lr_moves_the_head_by_its_own_learning_rate():
    """AdamW's first step moves every parameter with a gradient by lr (|m_hat / sqrt(v_hat)| = 1): the
    body's by finetune.lr, the head's (outside base_model_prefix) by finetune.head_lr."""
    model = BodyAndHead()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = dict(lr=1e-3, weight_decay=0.0, warmup_ratio=0.0, schedule="constant", max_grad_norm=None)
    train(model, ToyRecipe(), train_config(head_lr=1e-2, max_steps=1, **settings))
    for name, p in model.named_parameters():
        step = (p.detach() - before[name]).abs()
        expected = 1e-2 if name.startswith("classifier.") else 1e-3
        assert torch.allclose(step, torch.full_like(step, expected), rtol=0.02), name
    assert head_parameter_names(model) == {"classifier.weight", "classifier.bias"}

    same = BodyAndHead()  # head_lr null: one learning rate, the optimiser of before
    train(same, ToyRecipe(), train_config(head_lr=None, max_steps=1, **settings))
    step = (same.classifier.bias.detach() - before["classifier.bias"]).abs()
    assert torch.allclose(step, torch.full_like(step, 1e-3), rtol=0.02)


def test_head_lr_needs_a_body_prefix_and_adamw():
    with pytest.raises(ConfigError, match="head_lr"):
        make_optimizer(make_net(), train_config(head_lr=1e-2))  # ToyNet has no base_model_prefix
    with pytest.raises(ConfigError, match="head_lr"):
        make_optimizer(BodyAndHead(), train_config(head_lr=1e-2, optimizer="sgd"))


def test_head_of_a_hugging_face_tagger_is_its_classifier():
    from transformers import BertConfig, BertForTokenClassification

    config = BertConfig(
        vocab_size=50,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        num_labels=3,
    )
    assert head_parameter_names(BertForTokenClassification(config)) == {
        "classifier.weight",
        "classifier.bias",
    }


class LengthRecorder(ShuffledBatches):
    """A ShuffledBatches over examples of known lengths whose batches are the index lists (the loss is a
    toy one over a single weight)."""

    def __init__(self, lengths: list[int], batch_size: int, seed: int = 0):
        super().__init__(len(lengths), batch_size, seed)
        self._lengths = lengths
        self.trained: list[list[int]] = []

    def lengths(self) -> list[int]:
        return self._lengths

    def collate(self, indices):
        return list(indices)

    def loss(self, model, batch):
        self.trained.append(batch)
        return model.weight.sum() * len(batch)


def padded(lengths: list[int], batches: list[list[int]]) -> int:
    """Sub-words computed when each batch is padded to its longest row."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_cover_each_example_once_and_pad_less():
    rng = random.Random(0)
    lengths = [rng.choice([rng.randint(3, 12), rng.randint(40, 120)]) for _ in range(800)]
    plain, grouped = LengthRecorder(lengths, 16), LengthRecorder(lengths, 16)
    grouped.group_by_length = True
    for epoch in range(2):
        p, g = list(plain.batches(epoch)), list(grouped.batches(epoch))
        assert sorted(i for b in g for i in b) == list(range(800))  # an epoch is a permutation
        assert [len(b) for b in g] == [len(b) for b in p]
        assert max(lengths[i] for i in g[0]) == max(lengths)  # the longest batch first (OOM early)
        # 400 short and 400 long rows: random batches nearly all hold a long row; grouped ones mostly not
        assert padded(lengths, g) < 0.7 * padded(lengths, p)
    assert list(grouped.batches(0)) == list(grouped.batches(0))  # seeded: a resumed run sees the same
    assert list(grouped.batches(0)) != list(grouped.batches(1))


def test_train_config_group_by_length_reaches_the_recipe():
    lengths = [3, 90] * 40
    mixed: dict[bool, int] = {}
    for flag in (False, True):
        recipe = LengthRecorder(lengths, 8)
        train(torch.nn.Linear(1, 1), recipe, train_config(epochs=1, group_by_length=flag, device="cpu"))
        assert sorted(i for b in recipe.trained for i in b) == list(range(80))
        mixed[flag] = sum(len({lengths[i] for i in b}) > 1 for b in recipe.trained)
    # 80 rows in mega-batches of 16 (2 batches): at most one mixed batch per mega-batch when grouped;
    # a random batch of 8 from 40 short and 40 long rows is mixed with probability 0.99
    assert mixed[True] <= 5 < 8 <= mixed[False]
