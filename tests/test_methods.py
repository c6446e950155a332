"""Adaptation methods of paper 001: TO (Eq. 4), BILINGUAL (Eq. 5), MTL (Eq. 6), MTL-WS (Eq. 7-9).

Pins the Eq. 7-8 update on a 2-parameter model against a hand computation, the counts of inner and
outer optimiser steps, the data sets each method draws, the memory bound of the warm-up (one language
copy at a time) and checkpoint/resume of the two MTL-WS phases.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import json

import pandas as pd
import pytest
import torch
from _helpers_model import (
    FINETUNE_SETTINGS,
    TINY_PARAMS,
    Die,
    toy_sentences,
    train_config,
    write_sentences,
)
from torch.optim.optimizer import register_optimizer_step_post_hook

from pipeline_steps import finetune
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.method_names import method_mapping, params_key, row_name
from pipeline_steps.methods import (
    MethodData,
    expand_methods,
    make_method,
    projected_langs,
    split_method,
)
from pipeline_steps.methods.mtl_ws import (
    TABLE6,
    LanguageStream,
    WarmupRecipe,
    WarmupSettings,
    warmup_overrides,
    warmup_settings,
)
from pipeline_steps.models import tiny
from pipeline_steps.models.token_classification import encode, load_model, load_tokenizer
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PROJECTED, TRAIN_LOG
from pipeline_steps.tags import label_set
from pipeline_steps.train import Trainer, train

LABELS = ["PER", "ORG", "LOC", "MISC"]
TAGSET = label_set(LABELS, "bio")
TARGETS = ("de", "es")


def unique_sentences(lang: str, n: int, split: str) -> pd.DataFrame:
    """``n`` toy sentences with pairwise different token lists (so a batch row identifies its sentence)."""
    df = toy_sentences(lang, 4 * n, split=split)
    df = df[~df["tokens"].map(tuple).duplicated()].head(n).reset_index(drop=True)
    assert len(df) == n
    df["id"] = [f"{split}-{lang}-{i:06d}" for i in range(n)]
    return df


def projected(lang: str, n: int) -> pd.DataFrame:
    """A schemas.PROJECTED frame: ``n`` 'translations' into ``lang`` with projected tags."""
    df = unique_sentences(lang, n, "train")
    return pd.DataFrame(
        {
            "id": [f"translated-en-{lang}-{i:06d}" for i in range(n)],
            "src_id": [f"train-en-{i:06d}" for i in range(n)],
            "lang": lang,
            "tokens": df["tokens"],
            "tags": df["tags"],
            "n_src_spans": [sum(t.startswith("B-") for t in tags) for tags in df["tags"]],
            "n_projected": [sum(t.startswith("B-") for t in tags) for tags in df["tags"]],
            "mapping": "span2span",
        },
        columns=PROJECTED.columns,
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Source train/dev, projected de/es sets (parquet and frames) and a tiny model over all their text."""
    root = tmp_path_factory.mktemp("methods")
    frames = {"train": unique_sentences("en", 16, "train"), "dev": unique_sentences("en", 6, "dev")}
    paths = {name: write_sentences(df, root / f"{name}.parquet") for name, df in frames.items()}
    texts = list(paths.values())
    for lang in TARGETS:
        frames[lang] = projected(lang, 10)
        write_artifact(frames[lang], root / f"translated.{lang}.parquet", PROJECTED)
        paths[lang] = str(root / f"translated.{lang}.parquet")
        texts.append(write_sentences(unique_sentences(lang, 10, "train"), root / f"text.{lang}.parquet"))
    tiny.main(StepContext(input={"texts": texts}, output={"model": str(root / "tiny")}, params=TINY_PARAMS))
    return {"frames": frames, "paths": paths, "tiny": str(root / "tiny"), "root": root}


@pytest.fixture(scope="module")
def tok(data):
    return load_tokenizer(data["tiny"])


def method_data(data, tok, params=None, extra_langs=TARGETS, batch_size=4) -> MethodData:
    return MethodData(
        train=data["frames"]["train"],
        tokenizer=tok,
        label2id={t: i for i, t in enumerate(TAGSET)},
        batch_size=batch_size,
        max_length=64,
        seed=7,
        extra=[data["frames"][lang] for lang in extra_langs],
        params=params or {},
    )


class RecordingTrainer:
    """Stands in for ``Trainer``: records each phase's recipe and overrides instead of training."""

    def __init__(self):
        self.runs: list[tuple[str, object, dict]] = []

    def run(self, phase, model, recipe, *, select=True, **overrides):
        self.runs.append((phase, recipe, {"select": select, **overrides}))


def row_ids(data, tok):
    """Sub-word ids of every candidate sentence (source and projected) -> its sentence id."""
    index: dict[tuple[int, ...], str] = {}
    for name in ("train", *TARGETS):
        df = data["frames"][name]
        enc = encode(tok, list(df["tokens"]), None, None, 64)
        for ident, ids in zip(df["id"], enc.input_ids, strict=True):
            assert tuple(ids) not in index, "toy sentences must encode differently"
            index[tuple(ids)] = ident
    return index


def ids_in(batch, index) -> list[str]:
    out = []
    for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True):
        out.append(index[tuple(i for i, m in zip(ids, mask, strict=True) if m)])
    return out


# ------------------------------------------------------------------------- Eq. 7-8 on a toy model


class TwoWeights(torch.nn.Module):
    """theta = (w1, w2); the loss of language l is 0.5 * ||theta - c_l||^2 (gradient theta - c_l)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))


def quadratic(model, c):
    return 0.5 * ((model.w - c) ** 2).sum()


class Constant:
    """Every inner 'mini-batch' of a language is its optimum c_l."""

    def __init__(self, c):
        self.c = torch.tensor(c)

    def inner_batches(self, epoch, k):
        return [self.c] * k


def test_eq7_update_on_two_parameters_equals_the_hand_computation():
    """theta_0 = (1, 2); c_de = (3, 0), c_es = (1, 4); K = 2, beta = 0.5, gamma = 0.5, |L| - 1 = 2.

    Eq. 8, K steps of theta <- theta - beta (theta - c): theta^l = c + (1 - beta)^K (theta_0 - c)
                                                                  = c + (theta_0 - c) / 4
      z=1: theta^de = (3, 0) + (-2, 2)/4 = (2.5, 0.5)       diff (1.5, -1.5)
           theta^es = (1, 4) + (0, -2)/4 = (1, 3.5)         diff (0, 1.5)
           Eq. 7: theta_1 = (1, 2) + 0.5/2 * (1.5, 0) = (1.375, 2)
      z=2: theta^de = (3, 0) + (-1.625, 2)/4 = (2.59375, 0.5)   diff (1.21875, -1.5)
           theta^es = (1, 4) + (0.375, -2)/4 = (1.09375, 3.5)   diff (-0.28125, 1.5)
           Eq. 7: theta_2 = (1.375, 2) + 0.25 * (0.9375, 0) = (1.609375, 2)
    """
    model = TwoWeights()
    recipe = WarmupRecipe(
        {"de": Constant([3.0, 0.0]), "es": Constant([1.0, 4.0])}, k=2, beta=0.5, loss=quadratic
    )
    settings = WarmupSettings(Z=2, K=2, gamma=0.5, beta=0.5, batch_size=1)
    seen = []
    result = train(
        model,
        recipe,
        train_config(**warmup_overrides(settings)),
        on_step=lambda step, row: seen.append(model.w.detach().clone()),
    )
    torch.testing.assert_close(seen[0], torch.tensor([1.375, 2.0]))
    torch.testing.assert_close(seen[1], torch.tensor([1.609375, 2.0]))
    assert result.steps == 2 and result.log["lr"].tolist() == [0.5, 0.5]
    # logged loss: mean inner loss; z=1 de: 0.5*(4+4)=4 then 0.5*(1+1)=1; es: 0.5*4=2 then 0.5*1=0.5
    assert result.log["loss"].iloc[0] == pytest.approx((4 + 1 + 2 + 0.5) / 4)


def test_eq7_with_a_single_target_language_is_interpolation():
    """|L| - 1 = 1: theta_z = theta_{z-1} + gamma (theta^l - theta_{z-1}); with K=1, beta=1 theta^l = c."""
    model = TwoWeights()
    recipe = WarmupRecipe({"de": Constant([3.0, 0.0])}, k=1, beta=1.0, loss=quadratic)
    train(model, recipe, train_config(**warmup_overrides(WarmupSettings(1, 1, 0.25, 1.0, 1))))
    torch.testing.assert_close(model.w.detach(), torch.tensor([1.5, 1.5]))  # (1,2) + 0.25 * (2, -2)


def test_outer_adam_moves_each_coordinate_by_gamma_on_the_first_step():
    """outer=adam: Adam's first step is -gamma * g / (|g| + eps); z=1 above has g = -(1.5, 0) / 2."""
    model = TwoWeights()
    recipe = WarmupRecipe(
        {"de": Constant([3.0, 0.0]), "es": Constant([1.0, 4.0])}, k=2, beta=0.5, loss=quadratic
    )
    settings = warmup_settings({"Z": 1, "K": 2, "gamma": 0.5, "beta": 0.5, "outer": "adam"}, "ner", 1)
    assert (
        warmup_overrides(settings)["optimizer"] == "adamw" and warmup_overrides(settings)["weight_decay"] == 0
    )
    train(model, recipe, train_config(**warmup_overrides(settings)))
    torch.testing.assert_close(model.w.detach(), torch.tensor([1.5, 2.0]))


# ------------------------------------------------------------------------- step counts


def test_warmup_takes_z_times_l_times_k_inner_steps_and_z_base_updates(data, tok):
    z, k = 3, 2
    model = load_model(data["tiny"], TAGSET, seed=1)
    base_params = {id(p) for p in model.parameters()}
    counts = collections.Counter()

    def count(optimizer, args, kwargs):
        params = [p for g in optimizer.param_groups for p in g["params"]]
        on_base = all(id(p) in base_params for p in params)
        kind = type(optimizer).__name__
        if kind == "SGD" and not on_base:
            counts["inner"] += 1
            assert optimizer.param_groups[0]["lr"] == 0.05  # beta
        elif kind == "SGD":
            counts["warmup"] += 1
        else:
            counts["main:" + kind] += 1

    params = {"method_params": {"Z": z, "K": k, "gamma": 0.5, "beta": 0.05}, "target_langs": list(TARGETS)}
    method = make_method("mtl_ws", method_data(data, tok, params))
    trainer = Trainer(train_config(seed=7, lr=1e-3, max_steps=2, epochs=1))
    handle = register_optimizer_step_post_hook(count)
    try:
        result = method.fit(model, trainer)
    finally:
        handle.remove()
    assert counts == {"inner": z * len(TARGETS) * k, "warmup": z, "main:AdamW": 2}
    assert [r.phase for r in trainer.results] == ["warmup", "main"]
    log = trainer.log
    assert log["step"].tolist() == [1, 2, 3, 4, 5]
    assert log["epoch"].tolist() == [0, 1, 2, 0, 0] and log["lr"].tolist()[:3] == [0.5] * 3
    assert result.steps == 2


# ------------------------------------------------------------------------- which data each method draws


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("zero_shot", ["train"]),
        ("to-de", ["de"]),
        ("to-es", ["es"]),
        ("bilingual-de", ["train", "de"]),
        ("bilingual-es", ["train", "es"]),
        ("mtl", ["train", "de", "es"]),
    ],
)
def test_methods_draw_exactly_the_sets_they_name(data, tok, name, sets):
    """Eq. 3-6: one epoch visits every sentence of the named sets exactly once, and nothing else."""
    index = row_ids(data, tok)
    trainer = RecordingTrainer()
    make_method(name, method_data(data, tok, {"target_langs": list(TARGETS)})).fit(None, trainer)
    [(phase, recipe, overrides)] = trainer.runs
    assert phase == "main" and overrides == {"select": True}
    for epoch in (0, 1):
        batches = list(recipe.batches(epoch))
        assert len(batches) == recipe.num_batches(epoch)
        seen = [i for b in batches for i in ids_in(b, index)]
        expected = [i for s in sets for i in data["frames"][s]["id"]]
        assert sorted(seen) == sorted(expected) and len(set(seen)) == len(seen)


def test_per_language_methods_take_the_language_from_method_params(data, tok):
    index = row_ids(data, tok)
    trainer = RecordingTrainer()
    make_method("to", method_data(data, tok, {"method_params": {"lang": "es"}})).fit(None, trainer)
    seen = {i for b in trainer.runs[0][1].batches(0) for i in ids_in(b, index)}
    assert seen == set(data["frames"]["es"]["id"])
    trainer = RecordingTrainer()  # a single projected language needs no name
    make_method("bilingual", method_data(data, tok, extra_langs=("de",))).fit(None, trainer)
    seen = {i for b in trainer.runs[0][1].batches(0) for i in ids_in(b, index)}
    assert seen == set(data["frames"]["train"]["id"]) | set(data["frames"]["de"]["id"])


def test_mtl_ws_warms_up_on_each_target_language_then_trains_on_the_source(data, tok):
    """Warm-up epoch z: for each language, K batches of B sentences of that language only, fresh
    sentences until its set is used up; then the adaptation phase draws D_src exactly (Eq. 9)."""
    index = row_ids(data, tok)
    trainer = RecordingTrainer()
    params = {"method_params": {"Z": 4, "K": 2, "gamma": 0.1, "beta": 0.01}, "target_langs": ["es", "de"]}
    make_method("mtl_ws", method_data(data, tok, params, batch_size=4)).fit(None, trainer)
    (p1, warm, o1), (p2, main, o2) = trainer.runs
    assert (p1, p2) == ("warmup", "main")
    assert o1 == {"select": False, **warmup_overrides(WarmupSettings(4, 2, 0.1, 0.01, 4))} and o2 == {
        "select": True
    }
    drawn = {lang: [] for lang in ("es", "de")}
    for z in range(4):
        [batch] = list(warm.batches(z))
        assert list(batch) == ["es", "de"] and warm.num_batches(z) == 1
        for lang, inner in batch.items():
            assert len(inner) == 2 and all(len(b["input_ids"]) == 4 for b in inner)
            drawn[lang] += [i for b in inner for i in ids_in(b, index)]
    for lang, ids in drawn.items():  # 32 draws from 10 sentences: passes 1-3 are permutations
        assert all(i.startswith(f"translated-en-{lang}-") for i in ids)
        for p in range(3):
            assert sorted(ids[10 * p : 10 * (p + 1)]) == sorted(data["frames"][lang]["id"])
    seen = sorted(i for b in main.batches(0) for i in ids_in(b, index))
    assert seen == sorted(data["frames"]["train"]["id"])


def test_language_stream_is_seeded_by_language_and_epoch(data, tok):
    enc = encode(
        tok,
        list(data["frames"]["de"]["tokens"]),
        list(data["frames"]["de"]["tags"]),
        {t: i for i, t in enumerate(TAGSET)},
        64,
    )
    a, b = LanguageStream(enc, 3, 5, "de", 1), LanguageStream(enc, 3, 5, "de", 1)
    assert [a.indices(z, 2) for z in (3, 0, 1)] == [b.indices(z, 2) for z in (3, 0, 1)]  # order-free
    assert LanguageStream(enc, 3, 5, "es", 1).indices(0, 2) != a.indices(0, 2)
    assert LanguageStream(enc, 3, 6, "de", 1).indices(0, 2) != a.indices(0, 2)


@pytest.mark.parametrize(
    ("name", "extra", "params", "match"),
    [
        ("to", TARGETS, {}, "one model per target language"),
        ("to-fr", TARGETS, {}, r"needs projected training data for \['fr'\]"),
        ("mtl", ("de",), {"target_langs": ["de", "es"]}, r"needs projected training data for \['es'\]"),
        ("mtl_ws", (), {}, "at least one target language"),
        ("to-de", TARGETS, {"method_params": {"lang": "es"}}, "method_params.lang is 'es'"),
        ("mtl_ws", TARGETS, {"method_params": {"k": 3}}, r"unknown method_params \['k'\]"),
        ("mtl_ws", TARGETS, {"method_params": {"K": 0}}, "K must be at least 1"),
        ("mtl_ws", TARGETS, {"method_params": {"gamma": -1}}, "gamma must be a positive number"),
        ("mtl_ws", TARGETS, {"method_params": {"backbone": "gpt"}}, "backbone must be mbert or xlmr"),
        ("mtl_ws", TARGETS, {"method_params": {"outer": "rmsprop"}}, "outer must be one of"),
        ("mtl_ws", TARGETS, {"method_params": {"batch_size": "big"}}, "batch_size must be a number"),
    ],
)
def test_missing_data_and_bad_settings_are_config_errors(data, tok, name, extra, params, match):
    with pytest.raises(ConfigError, match=match):
        make_method(name, method_data(data, tok, params, extra_langs=extra)).fit(None, RecordingTrainer())


def test_every_method_minimises_the_one_eq3_loss(data, tok):
    """ZERO-SHOT, TO/BILINGUAL/MTL and both MTL-WS phases use methods.supervised (Eq. 3), not a copy."""
    from pipeline_steps.methods import mtl_ws, supervised

    assert mtl_ws.tagging_loss is supervised.tagging_loss
    params = {"method_params": {"Z": 1, "K": 1}, "target_langs": list(TARGETS)}
    trainer = RecordingTrainer()
    make_method("mtl_ws", method_data(data, tok, params)).fit(None, trainer)
    (_, warm, _), (_, main, _) = trainer.runs
    assert warm._loss is supervised.tagging_loss and isinstance(main, supervised.SupervisedTagging)
    for name in ("zero_shot", "to-de", "bilingual-es", "mtl"):
        trainer = RecordingTrainer()
        make_method(name, method_data(data, tok, {"target_langs": list(TARGETS)})).fit(None, trainer)
        assert type(trainer.runs[0][1]) is supervised.SupervisedTagging


def test_method_names_and_the_projected_data_they_need():
    assert split_method("to-de") == ("to", "de") and split_method("mtl_ws") == ("mtl_ws", None)
    assert expand_methods(["zero_shot", "to", "bilingual", "mtl", "mtl_ws"], ["de", "es"]) == [
        "zero_shot",
        "to-de",
        "to-es",
        "bilingual-de",
        "bilingual-es",
        "mtl",
        "mtl_ws",
    ]
    assert projected_langs("zero_shot", ["de", "es"]) == []
    assert projected_langs("bilingual-es", ["de", "es"]) == ["es"]
    assert projected_langs("mtl_ws", ["de", "es"]) == ["de", "es"]
    assert expand_methods(["to@word2word", "mtl@word2word"], ["de", "es"]) == [
        "to-de@word2word",
        "to-es@word2word",
        "mtl@word2word",
    ]
    assert method_mapping("to-es@word2word", "span2span") == "word2word"
    assert method_mapping("to-es", "span2span") == "span2span"
    assert row_name("bilingual-de@word2word") == "bilingual@word2word" and row_name("to-de") == "to"
    assert split_method("to-es@word2word") == ("to", "es")
    # a named variant (issue 15): the method's class and data, a settings block and report row of its own
    assert split_method("mtl_ws.adam") == ("mtl_ws", None) and params_key("mtl_ws.adam") == "mtl_ws.adam"
    assert projected_langs("mtl_ws.adam", ["de", "es"]) == ["de", "es"]
    assert row_name("mtl_ws.adam") == "mtl_ws.adam" and row_name("mtl_ws.g1-64shot") == "mtl_ws.g1-64shot"
    assert params_key("to-de") == "to" and params_key("lang_adapt.tau1") == "lang_adapt.tau1"
    for bad in ("mtl-de", "zero_shot-es", "To", "to-", "zero_shot@word2word", "to@char2char"):
        with pytest.raises(ConfigError):
            split_method(bad)
    with pytest.raises(ConfigError, match="unknown method"):
        make_method("xtune_r3", None)


# Paper 001 Table 6 (App. A.1), transcribed from the paper: (Z, K) per backbone x task; gamma = 5e-5
# and beta = 1e-3 for both backbones.
PAPER_TABLE6 = {
    ("mbert", "ner"): (100, 5),
    ("mbert", "srl"): (50, 30),
    ("mbert", "absa"): (100, 20),
    ("xlmr", "ner"): (50, 20),
    ("xlmr", "srl"): (100, 30),
    ("xlmr", "absa"): (100, 20),
}


@pytest.mark.parametrize(("backbone", "task"), sorted(PAPER_TABLE6))
def test_warmup_settings_pick_the_table6_row_of_backbone_and_task(backbone, task):
    z, k = PAPER_TABLE6[(backbone, task)]
    expected = WarmupSettings(Z=z, K=k, gamma=5e-5, beta=1e-3, batch_size=6)  # batch: the fine-tuning one
    assert warmup_settings({"backbone": backbone}, task, 6) == expected


def test_warmup_settings_defaults_and_overrides():
    assert warmup_settings({}, None, 8) == WarmupSettings(100, 5, 5e-5, 1e-3, 8)  # mBERT / NER
    assert warmup_settings({"backbone": "xlmr"}, "pos", 8).Z == 50  # no Table 6 row: the backbone's NER
    assert all(set(row) == {"Z", "K", "gamma", "beta"} for row in TABLE6.values())
    row = {"Z": 100, "K": 20, "gamma": 5e-5, "beta": 1e-3, "batch_size": 8, "outer": "sgd"}  # xlmr/absa
    overrides = {"Z": 3, "K": 2, "gamma": 1, "beta": 0.1, "batch_size": 2, "outer": "adam"}
    for key, value in overrides.items():  # each override wins over the row, alone
        s = warmup_settings({"backbone": "xlmr", key: value}, "absa", 8)
        assert dataclasses.asdict(s) == {**row, key: value}
    assert warmup_settings(overrides, "ner", 8) == WarmupSettings(3, 2, 1.0, 0.1, 2, "adam")


# ------------------------------------------------------------------------- memory


def test_warmup_holds_one_language_copy_at_a_time():
    """At every inner step, the tensors shaped like the (distinctive) 7x5 weight are: the base weight,
    its gradient (the running sum of Eq. 7) and the copy's weight and gradient. Holding a copy per
    language (3 here) would exceed 4."""
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 7)
    shape = tuple(model.weight.shape)

    class Noise:
        def __init__(self, lang_seed):
            self.gen = torch.Generator().manual_seed(lang_seed)

        def inner_batches(self, epoch, k):
            return [
                (torch.randn(4, 5, generator=self.gen), torch.randn(4, 7, generator=self.gen))
                for _ in range(k)
            ]

    def mse(m, batch):
        x, y = batch
        return ((m(x) - y) ** 2).mean()

    recipe = WarmupRecipe(
        {lang: Noise(i) for i, lang in enumerate(["de", "es", "nl"])}, k=2, beta=0.1, loss=mse
    )
    live: list[int] = []

    def count(optimizer, args, kwargs):
        live.append(
            sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor) and tuple(o.shape) == shape)
        )

    before = torch.nn.Linear(5, 7).weight.detach().clone()  # unrelated tensor of the same shape: counted too
    handle = register_optimizer_step_post_hook(count)
    try:
        train(model, recipe, train_config(**warmup_overrides(WarmupSettings(2, 2, 0.5, 0.1, 4))))
    finally:
        handle.remove()
    assert len(live) == 2 * 3 * 2 + 2  # 12 inner steps and 2 base updates
    assert max(live) <= 4 + 1  # + the unrelated `before`
    recipe.release()
    del before


# ------------------------------------------------------------------------- finetune step: resume, bad input


def mtl_ws_ctx(data, out, **overrides):
    params = {
        **FINETUNE_SETTINGS,
        "method": "mtl_ws",
        "seed": 13,
        "scheme": "bio",
        "labels": LABELS,
        "lr": 5e-3,
        "epochs": 3,
        "batch_size": 4,
        "max_length": 64,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "checkpoint_steps": 2,
        "eval_steps": 3,
        "max_steps": 6,
        "model_name_or_path": "tiny",
        "target_langs": list(TARGETS),
        "task": "ner",
        "method_params": {"Z": 6, "K": 2, "gamma": 1.0, "beta": 0.05},
        **overrides,
    }
    return StepContext(
        input={
            "train": data["paths"]["train"],
            "dev": data["paths"]["dev"],
            "model": [data["tiny"]],
            "extra": [data["paths"][lang] for lang in TARGETS],
        },
        output={"model": str(out / "model"), "log": str(out / "train_log.parquet")},
        params=params,
    )


def crashing_trainer(at: int, seen: list[int]):
    class CrashingTrainer(Trainer):
        def __init__(self, *args, **kwargs):
            def on_step(step, row):
                seen.append(step)
                if step == at:
                    raise Die(f"simulated crash at step {at}")

            super().__init__(*args, **{**kwargs, "on_step": on_step})

    return CrashingTrainer


def test_mtl_ws_resumes_in_the_warmup_and_in_the_adaptation_phase(data, tmp_path, monkeypatch, caplog):
    from safetensors.torch import load_file

    ref = tmp_path / "ref"
    finetune.main(mtl_ws_ctx(data, ref))
    meta = json.loads((ref / "model" / finetune.META_FILE).read_text())
    assert meta["phases"] == [
        {"phase": "warmup", "first_step": 1, "last_step": 6, "steps": 6},
        {"phase": "main", "first_step": 7, "last_step": 12, "steps": 6},
    ]
    tiny_weights = load_file(f"{data['tiny']}/model.safetensors")
    ref_weights = load_file(ref / "model" / "model.safetensors")
    name = next(k for k in tiny_weights if "embeddings.word_embeddings" in k)
    assert not torch.equal(tiny_weights[name], ref_weights[name])  # the encoder was trained

    run = tmp_path / "run"
    seen: list[int] = []
    caplog.set_level("INFO")
    with monkeypatch.context() as m:  # crash in the warm-up (step 5; checkpoint at 4) ...
        m.setattr(finetune, "Trainer", crashing_trainer(5, seen))
        with pytest.raises(Die):
            finetune.main(mtl_ws_ctx(data, run))
        assert (run / "checkpoints" / "warmup" / "step-00000004").is_dir()
        assert not (run / "model").exists()
        seen.clear()  # ... and in the adaptation (step 6 + 3; its checkpoint at 6 + 2)
        m.setattr(finetune, "Trainer", crashing_trainer(9, seen))
        with pytest.raises(Die):
            finetune.main(mtl_ws_ctx(data, run))
        assert seen == [5, 6, 7, 8, 9] and "resuming from step 4" in caplog.text
    seen.clear()
    caplog.clear()
    with monkeypatch.context() as m:
        m.setattr(finetune, "Trainer", crashing_trainer(0, seen))
        finetune.main(mtl_ws_ctx(data, run))
    assert seen == [9, 10, 11, 12]  # the finished warm-up is restored, not re-run
    assert "resuming from step 2" in caplog.text
    a, b = ref_weights, load_file(run / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = (read_artifact(p / "train_log.parquet", TRAIN_LOG) for p in (ref, run))
    cols = ["step", "epoch", "loss", "lr", "dev_f1"]
    pd.testing.assert_frame_equal(la[cols], lb[cols])
    assert la["lr"].tolist()[:6] == [1.0] * 6 and la["dev_f1"].iloc[:6].isna().all()
    assert la["phase"].tolist() == ["warmup"] * 6 + ["main"] * 6 == lb["phase"].tolist()
    assert lb["resumed"].tolist() == [s > 4 for s in range(1, 7)] + [s > 8 for s in range(7, 13)]


def test_projected_tag_outside_the_label_set_names_file_row_field(data, tmp_path):
    bad = data["frames"]["de"].copy()
    bad.at[3, "tags"] = ["B-FOO"] + list(bad.at[3, "tags"])[1:]
    path = tmp_path / "translated.de.parquet"
    write_artifact(bad, path, PROJECTED)
    ctx = mtl_ws_ctx(data, tmp_path / "out")
    ctx.input["extra"] = [str(path), data["paths"]["es"]]
    with pytest.raises(ArtifactError) as err:
        finetune.main(ctx)
    assert (err.value.path, err.value.row, err.value.field) == (str(path), 3, "tags")
    assert not (tmp_path / "out" / "model").exists()


# ------------------------------------------------------------- paper 002's LA for a tagger (issue 12)

LA_PARAMS = {
    "lambda_la": 0.5, "lambda_sa": 0.1, "tau": 0.3, "la_on": ["src", "bi"], "la_reduction": "mean",
    "sa_lr": 1e-5, "sa_epochs": 0, "anchors": 8, "negatives": "bi",
}  # fmt: skip


def test_lang_adapt_for_a_tagger_trains_on_d_and_every_projected_set_with_la_only(data, tok):
    from pipeline_steps.methods.language_adaptation import TokenLabelAlignmentRecipe

    index = row_ids(data, tok)
    params = {"target_langs": list(TARGETS), "method_params": {**LA_PARAMS, "la_on": ["bi"]}}
    trainer = RecordingTrainer()
    make_method("lang_adapt", method_data(data, tok, params)).fit(None, trainer)
    [(phase, recipe, _)] = trainer.runs
    assert phase == "la" and isinstance(recipe, TokenLabelAlignmentRecipe)
    seen = [i for b in recipe.batches(0) for i in ids_in(b, index)]
    expected = [i for s in ("train", *TARGETS) for i in data["frames"][s]["id"]]
    assert sorted(seen) == sorted(expected)
    # la_on [bi]: LA runs over the projected sentences only (D first in the union)
    assert recipe.in_la.tolist() == [False] * 16 + [True] * 20
    with pytest.raises(ConfigError, match="sa_epochs"):
        params["method_params"]["sa_epochs"] = 1
        make_method("lang_adapt", method_data(data, tok, params)).fit(None, RecordingTrainer())


def test_token_la_contrasts_the_entity_tokens_of_the_la_sentences_by_type(data, tok):
    """The anchors of a hand-made batch, then the loss of a tiny tagger: Eq. 3 (paper 001) + 0.5 * Eq. 2
    (paper 002) over exactly those tokens' final hidden states."""
    from pipeline_steps.losses.label_alignment import label_alignment
    from pipeline_steps.methods.language_adaptation import Settings, TokenLabelAlignmentRecipe, entity_types
    from pipeline_steps.methods.supervised import sentence_ce
    from pipeline_steps.models.token_classification import model_inputs

    assert entity_types({"O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}).tolist() == [-1, 0, 0, 1, 1]
    type_of = entity_types({t: i for i, t in enumerate(TAGSET)})
    df = data["frames"]["train"].head(6)
    enc = encode(tok, list(df["tokens"]), list(df["tags"]), {t: i for i, t in enumerate(TAGSET)}, 64)
    settings = Settings.of(LA_PARAMS)
    recipe = TokenLabelAlignmentRecipe(enc, [True] * 6, type_of, 6, 0, int(tok.pad_token_id), settings)
    o, b_per, i_per, b_loc = (TAGSET.index(t) for t in ("O", "B-PER", "I-PER", "B-LOC"))
    labels = torch.tensor([[-100, b_per, -100, o, b_loc], [-100, i_per, b_loc, o, -100]])
    mask, types = recipe.anchors(labels, torch.tensor([True, False]))
    assert mask.tolist() == [[False, True, False, False, True], [False] * 5]
    per, loc = int(type_of[b_per]), int(type_of[b_loc])
    assert types.tolist() == [per, loc] and per != loc and int(type_of[i_per]) == per

    model = load_model(data["tiny"], TAGSET, seed=1).eval()  # no dropout: both passes see the same numbers
    batch = recipe.collate(list(range(6)))
    loss = recipe.loss(model, batch)
    out = model(**model_inputs(batch), output_hidden_states=True)
    mask, types = recipe.anchors(batch["labels"], batch["in_la"])
    assert len(types) > 2 and len(set(types.tolist())) > 1  # the toy sentences hold entities of 2+ types
    la = label_alignment(out.hidden_states[-1][mask], types, 0.3, "mean")
    ce = sentence_ce(out.logits, batch["labels"])
    assert la.item() > 0 and loss.item() == pytest.approx(ce.item() + 0.5 * la.item(), rel=1e-5)
    none = TokenLabelAlignmentRecipe(enc, [False] * 6, type_of, 6, 0, int(tok.pad_token_id), settings)
    assert none.loss(model, none.collate(list(range(6)))).item() == pytest.approx(ce.item(), rel=1e-6)
    assert none.last["la"] == 0.0


def test_a_tagger_s_lang_adapt_fine_tunes_through_the_finetune_step(data, tmp_path):
    """The finetune step (the rule's code path) trains it: phase la, CE and LA logged at every step."""
    params = {"method": "lang_adapt", "method_params": LA_PARAMS, "max_steps": 4, "eval_steps": 2}
    finetune.main(mtl_ws_ctx(data, tmp_path, **params))
    log = read_artifact(tmp_path / "train_log.parquet", TRAIN_LOG)
    assert set(log["phase"]) == {"la"} and len(log) == 4
    terms = log["terms"].map(dict)
    assert all(set(t) == {"ce", "la"} and t["la"] > 0 for t in terms)
    for loss, t in zip(log["loss"], terms, strict=True):
        assert loss == pytest.approx(t["ce"] + 0.5 * t["la"], rel=1e-4)
