"""xTune for a classifier (pipeline_steps/methods/xtune_classification.py). Stage 1: CE + lambda1 * R1
between an example's and its view's class distributions (paper 003 Sec. 3.1.1, 3.3.1); stage 2: + lambda2
* R2 against a frozen teacher on the view rows (Sec. 3.1.2-3.1.3)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from _helpers_model import toy_sentences, toy_tiny_model, train_config
from torch import nn

from pipeline_steps.errors import ConfigError
from pipeline_steps.methods.xtune_classification import (
    LAMBDA2_CLS,
    ExampleConsistencyClassification,
    ModelConsistencyClassification,
    align_cls_views,
    cls_consistency_loss,
    cls_stage2_loss,
)
from pipeline_steps.methods.xtune_tagging import LAMBDA1
from pipeline_steps.models.sequence_classification import encode_cls, load_cls_model
from pipeline_steps.models.token_classification import load_tokenizer
from pipeline_steps.train import train

NLI = ["entailment", "neutral", "contradiction"]
LABEL2ID = {x: i for i, x in enumerate(NLI)}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return toy_tiny_model(tmp_path_factory.mktemp("xtune_cls"))


@pytest.fixture(scope="module")
def tok(tiny_dir):
    return load_tokenizer(tiny_dir)


def train_frame(n: int = 12) -> pd.DataFrame:
    """CLS_EXAMPLES-like pairs: premise = toy sentence i, hypothesis = toy sentence i+1."""
    sents = [" ".join(t) for t in toy_sentences("en", n + 1, seed=4)["tokens"]]
    return pd.DataFrame(
        {
            "id": [f"ex{i}" for i in range(n)],
            "text_a": sents[:n],
            "text_b": sents[1:],
            "label": [NLI[i % 3] for i in range(n)],
        }
    )


def view_frame(frame: pd.DataFrame, how: str) -> pd.DataFrame:
    """A view of every example (rows shuffled): lower-cased, or with the final word dropped."""
    change = str.lower if how == "lower" else (lambda s: s.rsplit(" ", 1)[0])
    rows = pd.DataFrame(
        {"src_id": frame["id"], "text_a": frame["text_a"].map(change), "text_b": frame["text_b"].map(change)}
    )
    return rows.sample(frac=1.0, random_state=0).reset_index(drop=True)


def same_view(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"src_id": frame["id"], "text_a": frame["text_a"], "text_b": frame["text_b"]})


def model(tiny_dir, seed=0):
    return load_cls_model(tiny_dir, NLI, seed=seed)


def forward(net, part: dict) -> torch.Tensor:
    return net(input_ids=part["input_ids"], attention_mask=part["attention_mask"]).logits


def kl(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Summed KL(P || Q) over rows, by hand."""
    p, q = p_logits.softmax(-1), q_logits.softmax(-1)
    return (p * (p.log() - q.log())).sum()


def r1_by_hand(p: torch.Tensor, q: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 1: KL(P||Q) + KL(Q||P), summed and divided by B x C ('mean', official) or B ('batchmean')."""
    return (kl(p, q) + kl(q, p)) / (p.numel() if reduction == "mean" else p.shape[0])


# -------------------------------------------------------------------------------- loss on toy logits

P = torch.tensor([[0.0, 0.0]])  # softmax (1/2, 1/2)
Q = torch.tensor([[math.log(3.0), 0.0]])  # softmax (3/4, 1/4)
Y = torch.tensor([0])


def test_stage1_loss_by_hand_on_two_classes():
    kl_pq = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    kl_qp = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    out = cls_consistency_loss(P, Y, Q, 2.0)
    assert float(out.r1) == pytest.approx((kl_pq + kl_qp) / 2)  # 'mean': / (1 example x 2 classes)
    assert float(out.task) == pytest.approx(math.log(2.0))
    assert float(out.loss) == pytest.approx(math.log(2.0) + 2.0 * (kl_pq + kl_qp) / 2)
    with pytest.warns(UserWarning):  # the official F.kl_div 'mean' form (torch warns about 'mean')
        official = F.kl_div(Q.log_softmax(-1), P.softmax(-1), reduction="mean") + F.kl_div(
            P.log_softmax(-1), Q.softmax(-1), reduction="mean"
        )
    assert torch.allclose(out.r1, official)
    view = cls_consistency_loss(P, Y, Q, 2.0, task_loss_on_view=True, reduction="batchmean")
    assert float(view.task) == pytest.approx(math.log(2.0) + math.log(4 / 3))  # + CE of Q on class 0
    assert float(view.r1) == pytest.approx(kl_pq + kl_qp)
    assert float(cls_consistency_loss(P, Y, P.clone()).r1) == 0.0


def test_stop_gradient_sends_no_gradient_through_the_stopped_side():
    grads = {}
    for sg in (True, False):
        p, q = P.clone().requires_grad_(True), Q.clone().requires_grad_(True)
        cls_consistency_loss(p, Y, q, 1.0, stop_gradient=sg).loss.backward()
        grads[sg] = (p.grad, q.grad)
    # sg: d/dp = CE'(p) + KL(sg Q || P)' / 2 = (P - onehot) + (P - Q) / 2; d/dq = (Q - P) / 2
    assert torch.allclose(grads[True][0], torch.tensor([[-0.625, 0.625]]))
    assert torch.allclose(grads[True][1], torch.tensor([[0.125, -0.125]]))
    # no sg: + d/dp KL(P || Q) / 2 = P * (log P/Q - KL(P||Q)) / 2
    log_ratio = torch.tensor([math.log(2 / 3), math.log(2.0)])
    extra = 0.5 * (log_ratio - 0.5 * math.log(4 / 3)) / 2
    assert torch.allclose(grads[False][0], grads[True][0] + extra)
    assert not torch.allclose(grads[False][1], grads[True][1])


def stacked(seed=0, b=3, c=4):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2 * b, c, generator=gen)
    labels = torch.randint(0, c, (b,), generator=gen).repeat(2)
    teacher = torch.randn(2 * b, c, generator=gen)
    return logits, labels, teacher, torch.tensor([False] * b + [True] * b)


@pytest.mark.parametrize("hard", [False, True])
def test_stage2_loss_by_hand_and_r2_on_view_rows_only(hard):
    logits, labels, teacher, is_view = stacked()
    out = cls_stage2_loss(logits, labels, teacher, is_view, lambda1=2.5, lambda2=0.7, hard=hard)
    o, v = logits[:3], logits[3:]
    task = F.cross_entropy(o, labels[:3]) + F.cross_entropy(v, labels[3:])
    r2 = F.cross_entropy(v, teacher[3:].argmax(-1)) if hard else kl(teacher[3:], v) / v.numel()
    assert torch.allclose(out.task, task) and torch.allclose(out.r1, r1_by_hand(o, v))
    assert torch.allclose(out.r2, r2) and float(out.r2) > 0
    assert torch.allclose(out.loss, task + 2.5 * r1_by_hand(o, v) + 0.7 * r2)
    moved = teacher.clone()
    moved[:3] = 100 * torch.randn(3, 4)  # the originals' teacher rows are never read
    assert torch.equal(cls_stage2_loss(logits, labels, moved, is_view, hard=hard).r2, out.r2)
    moved[3:] = -moved[3:]
    assert not torch.equal(cls_stage2_loss(logits, labels, moved, is_view, hard=hard).r2, out.r2)
    no_r1 = cls_stage2_loss(
        logits, labels, teacher, is_view, lambda1=2.5, lambda2=0.7, hard=hard, use_r1=False
    )
    no_r2 = cls_stage2_loss(logits, labels, None, is_view, lambda1=2.5, lambda2=0.7, use_r2=False)
    assert float(no_r1.r1) == 0.0 and torch.allclose(no_r1.loss, task + 0.7 * r2)
    assert float(no_r2.r2) == 0.0 and torch.allclose(no_r2.loss, task + 2.5 * out.r1)
    with pytest.raises(ValueError, match="teacher"):
        cls_stage2_loss(logits, labels, None, is_view)


# ------------------------------------------------------------------------------------ stage-1 recipe


def test_views_are_aligned_by_src_id_and_switch_per_epoch(tok):
    frame = train_frame()
    views = [view_frame(frame, "lower"), view_frame(frame, "cut")]
    recipe = ExampleConsistencyClassification.from_frames(frame, views, tok, LABEL2ID, 64, 4, seed=0)
    aligned = align_cls_views(frame, views)
    for v in (0, 1):
        assert list(aligned[v]["src_id"]) == list(frame["id"])
        expected = encode_cls(tok, aligned[v]["text_a"], aligned[v]["text_b"], None, 64)
        assert recipe.views[v].input_ids == expected.input_ids
    assert recipe.views[0].labels == recipe.orig.labels == [i % 3 for i in range(12)]
    for epoch in (0, 1, 2):
        assert len(list(recipe.batches(epoch))) == 3 and recipe.view_index == epoch % 2
    batch = recipe.collate([5, 0, 7])
    assert batch["view"]["labels"].tolist() == batch["orig"]["labels"].tolist() == [2, 0, 1]
    row = recipe.views[0].input_ids[5]
    assert batch["view"]["input_ids"][0, : len(row)].tolist() == row


def test_identical_views_give_zero_r1(tiny_dir, tok):
    frame = train_frame()
    recipe = ExampleConsistencyClassification.from_frames(frame, [same_view(frame)], tok, LABEL2ID, 64, 4, 0)
    net = model(tiny_dir).eval()  # no dropout: both passes see the same net
    batch = recipe.collate([0, 1, 2, 3])
    loss = recipe.loss(net, batch)
    assert recipe.last["r1"] == 0.0
    assert torch.allclose(loss, F.cross_entropy(forward(net, batch["orig"]), batch["orig"]["labels"]))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"lambda1": 2.0, "stop_gradient": False, "task_loss_on_view": True, "reduction": "batchmean"},
        {"lambda1": 0.0, "task_loss_on_view": True},  # the "Data Aug." baseline
    ],
)
def test_stage1_recipe_loss_by_hand(tiny_dir, tok, options):
    frame = train_frame()
    recipe = ExampleConsistencyClassification.from_frames(
        frame, [view_frame(frame, "lower")], tok, LABEL2ID, 64, 4, 0, **options
    )
    net = model(tiny_dir).eval()
    batch = recipe.collate([3, 8, 1, 10])
    got = recipe.loss(net, batch)
    with torch.no_grad():
        o, v, y = forward(net, batch["orig"]), forward(net, batch["view"]), batch["orig"]["labels"]
    task = F.cross_entropy(o, y) + (F.cross_entropy(v, y) if options.get("task_loss_on_view") else 0.0)
    r1 = r1_by_hand(o, v, options.get("reduction", "mean"))
    assert torch.allclose(got, task + options.get("lambda1", LAMBDA1) * r1, atol=1e-6)
    assert recipe.last == pytest.approx({"task": float(task), "r1": float(r1)}, abs=1e-6)
    assert recipe.last["r1"] > 0


# ------------------------------------------------------------------------------------ stage-2 recipe


class Spy(nn.Module):
    """A teacher that records the inputs it is run on."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, **inputs):
        self.seen.append({k: t.clone() for k, t in inputs.items()})
        return self.inner(**inputs)


@pytest.mark.parametrize(
    "options", [{}, {"hard": True, "lambda2": 1.0, "use_r1": False}, {"use_r2": False, "lambda1": 2.0}]
)
def test_stage2_recipe_loss_by_hand_and_teacher_on_view_rows(tiny_dir, tok, options):
    frame = train_frame()
    teacher = None if options.get("use_r2") is False else Spy(model(tiny_dir, seed=1))
    recipe = ModelConsistencyClassification.from_frames(
        frame, [view_frame(frame, "cut")], teacher, tok, LABEL2ID, 64, 4, 0, **options
    )
    net = model(tiny_dir).eval()
    batch = recipe.collate([2, 9, 4, 11])
    assert batch["is_view"].tolist() == [False] * 4 + [True] * 4
    assert batch["labels"].tolist() == [2, 0, 1, 2] * 2
    got = recipe.loss(net, batch)
    with torch.no_grad():
        logits, y = forward(net, batch), batch["labels"]
    o, v = logits[:4], logits[4:]
    task = F.cross_entropy(o, y[:4]) + F.cross_entropy(v, y[4:])
    r1 = r1_by_hand(o, v) if options.get("use_r1", True) else torch.tensor(0.0)
    r2 = torch.tensor(0.0)
    if teacher is not None:
        assert len(teacher.seen) == 1  # one teacher pass, on the 4 view rows only
        assert torch.equal(teacher.seen[0]["input_ids"], batch["input_ids"][4:])
        with torch.no_grad():
            t = forward(teacher.inner, {k: batch[k][4:] for k in ("input_ids", "attention_mask")})
        r2 = F.cross_entropy(v, t.argmax(-1)) if options.get("hard") else kl(t, v) / v.numel()
    lam1, lam2 = options.get("lambda1", LAMBDA1), options.get("lambda2", LAMBDA2_CLS)
    assert torch.allclose(got, task + lam1 * r1 + lam2 * r2, atol=1e-6)
    assert recipe.last == pytest.approx({"task": float(task), "r1": float(r1), "r2": float(r2)}, abs=1e-6)
    assert (recipe.last["r2"] > 0) == (teacher is not None)


def run_stage2(tiny_dir, tok):
    frame = train_frame()
    teacher = model(tiny_dir, seed=1)  # stands in for the stage-1 checkpoint
    views = [view_frame(frame, "lower"), view_frame(frame, "cut")]
    recipe = ModelConsistencyClassification.from_frames(frame, views, teacher, tok, LABEL2ID, 64, 4, seed=0)
    before = {k: t.clone() for k, t in teacher.state_dict().items()}
    student = model(tiny_dir)
    seen = []
    config = train_config(seed=0, lr=5e-3, epochs=2, warmup_ratio=0.0, device="cpu")
    result = train(student, recipe, config, on_step=lambda step, row: seen.append(dict(recipe.last)))
    return result, student, teacher, before, seen


def test_stage2_training_keeps_the_teacher_frozen_and_is_deterministic(tiny_dir, tok):
    result, student, teacher, before, seen = run_stage2(tiny_dir, tok)
    losses = result.log["loss"].tolist()
    assert result.steps == 6 and all(last["r1"] > 0 and last["r2"] > 0 for last in seen)
    for last, loss in zip(seen, losses, strict=True):
        assert last["task"] + LAMBDA1 * last["r1"] + LAMBDA2_CLS * last["r2"] == pytest.approx(loss, rel=1e-5)
    after = teacher.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], t) for k, t in before.items())
    assert not any(p.requires_grad or p.grad is not None for p in teacher.parameters())
    assert not teacher.training
    again, student2, *_, seen2 = run_stage2(tiny_dir, tok)
    assert again.log["loss"].tolist() == losses and seen2 == seen
    for (name, p), q in zip(student.state_dict().items(), student2.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


# --------------------------------------------------------------------------------------- bad input


def test_bad_views_and_settings_raise_clear_errors(tiny_dir, tok):
    frame = train_frame(6)
    good = view_frame(frame, "lower")
    build = ExampleConsistencyClassification.from_frames
    with pytest.raises(ValueError, match="view 1: no row for training id 'ex3'"):
        build(frame, [good, good[good["src_id"] != "ex3"]], tok, LABEL2ID, 64, 4, 0)
    stray = good.copy()
    stray.loc[stray["src_id"] == "ex2", "src_id"] = "nope"
    with pytest.raises(ValueError, match="view 0: src_id 'nope' is not a training id"):
        build(frame, [stray], tok, LABEL2ID, 64, 4, 0)
    twice = pd.concat([good, good[good["src_id"] == "ex4"]], ignore_index=True)
    with pytest.raises(ValueError, match="'ex4' has more than one row"):
        build(frame, [twice], tok, LABEL2ID, 64, 4, 0)
    with pytest.raises(ValueError, match="text_b"):
        build(frame, [good.assign(text_b=None)], tok, LABEL2ID, 64, 4, 0)
    with pytest.raises(ValueError, match="'maybe' is not in the label set"):
        build(frame.assign(label="maybe"), [good], tok, LABEL2ID, 64, 4, 0)
    for bad in ({"lambda1": -1.0}, {"lambda1": float("nan")}, {"reduction": "sum"}):
        with pytest.raises(ConfigError):
            build(frame, [good], tok, LABEL2ID, 64, 4, 0, **bad)
    teacher = model(tiny_dir, seed=1)
    stage2 = ModelConsistencyClassification.from_frames
    with pytest.raises(ConfigError, match="lambda2"):
        stage2(frame, [good], teacher, tok, LABEL2ID, 64, 4, 0, lambda2=-0.5)
    with pytest.raises(ValueError, match="R2 needs a teacher"):
        stage2(frame, [good], None, tok, LABEL2ID, 64, 4, 0)
    recipe = stage2(frame, [good], teacher, tok, LABEL2ID, 64, 4, 0)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    batch = recipe.collate([0, 1])
    with pytest.raises(ValueError, match="separate"):
        recipe.loss(teacher, batch)
    next(teacher.parameters()).requires_grad_(True)  # unfrozen behind the recipe's back
    with pytest.raises(RuntimeError, match="trainable"):
        recipe.loss(model(tiny_dir), batch)
    orig, view = recipe.orig, recipe.views[0]
    view.labels = [(y + 1) % 3 for y in orig.labels]
    with pytest.raises(ValueError, match="other labels"):
        ExampleConsistencyClassification(orig, [view], 4, 0)
