"""Paper 000's continued pre-training (CLISM + CACR + MLM) on a tiny encoder: the recipe's batches, the
loss switches, resume after a kill, and the step's model folder that fine-tuning starts from."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from _helpers_model import Die, toy_sentences, toy_tiny_model

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.pretrain import step
from pipeline_steps.pretrain.clism_examples import build_frame
from pipeline_steps.pretrain.model import QUE_HEAD_FILE, load_clism_model, load_que_head
from pipeline_steps.pretrain.que import QUE_TOKEN, load_que_tokenizer
from pipeline_steps.pretrain.recipe import ClismPretraining, PretrainSettings
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import CLISM_EXAMPLES, TRAIN_LOG
from pipeline_steps.tags import spans_from_tags
from pipeline_steps.train import TrainConfig, train

IGNORE = -100


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    return toy_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def examples(tiny) -> pd.DataFrame:
    """CLISM examples of 24 toy English sentences 'translated' word for word into German (one link per
    word, the German side reversed so answers sit away from the [QUE])."""
    sents = toy_sentences("en", 24, seed=5)
    pairs = pd.DataFrame(
        {
            "id": [f"par-en-de-{i:06d}" for i in range(len(sents))],
            "src_id": sents["id"],
            "tgt_id": None,
            "src_lang": "en",
            "tgt_lang": "de",
            "src_tokens": sents["tokens"],
            "tgt_tokens": sents["tokens"].map(lambda t: list(reversed(t))),
            "provider": "test",
        }
    )
    alignments = pd.DataFrame(
        {
            "pair_id": pairs["id"],
            "links": [[{"s": i, "t": len(t) - 1 - i} for i in range(len(t))] for t in sents["tokens"]],
            "backend": "test",
            "symmetrization": "none",
        }
    )
    spans = pd.DataFrame(
        [
            {
                "sentence_id": sid,
                "start": s,
                "end": e,
                "label": lab,
                "text": " ".join(toks[s:e]),
                "origin": "gold",
            }
            for sid, toks, tags in zip(sents["id"], sents["tokens"], sents["tags"], strict=True)
            for s, e, lab in spans_from_tags(tags)
        ]
    )
    tokenizer = load_que_tokenizer(tiny)
    frame, totals = build_frame(pairs, alignments, spans, tokenizer, max_length=64, tokenizer_name=tiny)
    # every toy sentence has 2-3 entities; the tiny model's 64 positions cut some sentences
    assert totals["kept"] + totals["truncated"] == totals["spans"] and totals["kept"] > len(sents)
    return frame


def settings(**changes) -> PretrainSettings:
    return PretrainSettings(**changes)


def config(**changes) -> TrainConfig:
    base = dict(
        seed=7,
        lr=1e-3,
        head_lr=None,
        epochs=2,
        warmup_ratio=0.0,
        weight_decay=0.01,
        max_grad_norm=1.0,
        max_steps=6,
        eval_steps=0,
        eval_after=0,
        checkpoint_steps=2,
        keep_last_checkpoints=2,
        device="cpu",
        precision="bf16",
    )
    return TrainConfig(**{**base, **changes})


def test_mlm_never_masks_answers_questions_or_specials(tiny, examples):
    tokenizer = load_que_tokenizer(tiny)
    recipe = ClismPretraining(examples, tokenizer, settings(mlm_probability=0.5), batch_size=8, seed=1)
    que_id = tokenizer.convert_tokens_to_ids(QUE_TOKEN)
    masked = 0
    for epoch in range(3):
        for batch, rows in zip(recipe.batches(epoch), _chunks(recipe, epoch), strict=True):
            original = _padded(rows["input_ids"], tokenizer.pad_token_id)
            labels, inputs = batch["mlm_labels"], batch["input_ids"]
            for k, s, e in zip(batch["que_batch"], batch["answer_start"], batch["answer_end"], strict=True):
                assert (labels[k, s : e + 1] == IGNORE).all(), "an answer sub-word got an MLM label"
                assert torch.equal(inputs[k, s : e + 1], original[k, s : e + 1])
            assert (inputs[batch["que_batch"], batch["que_pos"]] == que_id).all()
            specials = torch.isin(original, torch.tensor(tokenizer.all_special_ids))
            assert (labels[specials] == IGNORE).all()
            chosen = labels != IGNORE
            assert torch.equal(labels[chosen], original[chosen])
            masked += int(chosen.sum())
    assert masked > 100  # the check above is not vacuous


def _chunks(recipe: ClismPretraining, epoch: int):
    from pipeline_steps.train.determinism import epoch_generator

    order = torch.randperm(len(recipe.examples), generator=epoch_generator(recipe.seed, epoch)).tolist()
    for lo in range(0, len(order), recipe.batch_size):
        yield recipe.examples.iloc[order[lo : lo + recipe.batch_size]]


def _padded(rows, pad: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [pad] * (width - len(r)) for r in rows])


def test_pooling_masks_cover_the_sentences_of_x(tiny, examples):
    tokenizer = load_que_tokenizer(tiny)
    batch = next(ClismPretraining(examples, tokenizer, settings(mlm=False), 4, 0).batches(0))
    ids = batch["input_ids"]
    # masked source and target are disjoint, hold no special token but [QUE], and the [QUE]s are inside
    assert not (batch["masked_source_mask"] & batch["target_mask"]).any()
    que_id = tokenizer.convert_tokens_to_ids(QUE_TOKEN)
    plain_specials = torch.tensor([i for i in tokenizer.all_special_ids if i != que_id])
    for mask in (batch["masked_source_mask"], batch["target_mask"]):
        assert not torch.isin(ids[mask], plain_specials).any()
    assert batch["masked_source_mask"][batch["que_batch"], batch["que_pos"]].all()
    assert batch["target_mask"][batch["que_batch"], batch["answer_start"]].all()
    assert batch["target_mask"][batch["que_batch"], batch["answer_end"]].all()


@pytest.mark.parametrize(
    ("off", "terms"),
    [
        ((), {"clism", "cacr", "mlm", "target_masked", "source_masked", "target_source"}),
        (("cacr",), {"clism", "mlm"}),
        (("clism", "mlm"), {"cacr", "target_masked", "source_masked", "target_source"}),
    ],
)
def test_each_loss_switches_off(tiny, examples, off, terms):
    tokenizer = load_que_tokenizer(tiny)
    recipe = ClismPretraining(examples, tokenizer, settings(**dict.fromkeys(off, False)), 8, 0)
    model = load_clism_model(tiny, len(tokenizer), seed=0)
    batch = next(recipe.batches(0))
    assert ("source_ids" in batch) == ("cacr" not in off)
    assert ("mlm_labels" in batch) == ("mlm" not in off)
    loss = recipe.loss(model, batch)
    assert set(recipe.last) == terms
    on = [t for t in ("clism", "cacr", "mlm") if t not in off]
    assert float(loss.detach()) == pytest.approx(sum(recipe.last[t] for t in on), rel=1e-5)


def test_all_losses_off_is_a_config_error():
    params = {
        "losses": {"clism": False, "cacr": False, "mlm": False},
        "cacr": {"scale": 20.0, "symmetric": True},
    }
    with pytest.raises(ConfigError, match="pretrain.losses"):
        step.settings_from({**params, "mlm_probability": 0.15})


def _trained_state(tiny, examples, ckpt: Path, die_at: int | None = None) -> dict[str, torch.Tensor]:
    tokenizer = load_que_tokenizer(tiny)
    model = load_clism_model(tiny, len(tokenizer), seed=3)
    recipe = ClismPretraining(examples, tokenizer, settings(), batch_size=8, seed=3)

    def on_step(s, row):
        if s == die_at:
            raise Die(f"killed after step {s}")

    train(model, recipe, config(), checkpoint_dir=ckpt, on_step=on_step, fingerprint={"test": 1})
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_after_a_kill_gives_the_same_weights(tiny, examples, tmp_path):
    straight = _trained_state(tiny, examples, tmp_path / "a")
    with pytest.raises(Die):
        _trained_state(tiny, examples, tmp_path / "b", die_at=3)  # last checkpoint: step 2
    resumed = _trained_state(tiny, examples, tmp_path / "b")
    assert straight.keys() == resumed.keys()
    differ = [k for k in straight if not torch.equal(straight[k], resumed[k])]
    assert not differ, f"weights differ after resume: {differ[:3]}"
    start = load_clism_model(tiny, len(load_que_tokenizer(tiny)), seed=3).state_dict()
    assert any(not torch.equal(start[k], straight[k]) for k in straight)  # training moved the weights


def run_step(tiny, examples, tmp_path, **params) -> Path:
    path = tmp_path / "clism.par.de.parquet"
    write_artifact(examples, path, CLISM_EXAMPLES)
    out = tmp_path / "pretrain"
    defaults = {
        "model_name_or_path": tiny,
        "seed": 13,
        "device": "cpu",
        "precision": "bf16",
        "checkpoint_dir": str(tmp_path / "ckpt"),
        "losses": {"clism": True, "cacr": True, "mlm": True},
        "mlm_probability": 0.15,
        "cacr": {"scale": 20.0, "symmetric": True},
        "lr": 1e-3,
        "batch_size": 8,
        "max_steps": 5,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "checkpoint_steps": 2,
    }
    ctx = StepContext(
        input={"examples": [str(path)]},
        output={"model": str(out / "model"), "log": str(out / "train_log.parquet")},
        params={**defaults, **params},
    )
    step.main(ctx)
    return out


def test_step_writes_a_model_fine_tuning_loads(tiny, examples, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    out = run_step(tiny, examples, tmp_path)
    log = read_artifact(out / "train_log.parquet", TRAIN_LOG)
    assert list(log["step"]) == [1, 2, 3, 4, 5]
    assert all({"clism", "cacr", "mlm"} <= set(dict(t)) for t in log["terms"])
    assert not (tmp_path / "ckpt").exists()  # checkpoints go once the model is saved
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    que_id = tokenizer.convert_tokens_to_ids(QUE_TOKEN)
    assert que_id == int(examples["input_ids"].map(max).max())  # the id the examples were built with
    tagger = AutoModelForTokenClassification.from_pretrained(out / "model", num_labels=3)
    assert tagger.get_input_embeddings().num_embeddings == len(tokenizer)
    head = load_que_head(out / "model", tagger.config.hidden_size)
    assert head is not None and (out / "model" / QUE_HEAD_FILE).is_file()
    assert load_que_head(tiny, tagger.config.hidden_size) is None  # a folder without a pointer head


def test_step_refuses_examples_of_another_tokenizer(tiny, examples, tmp_path):
    other = examples.assign(tokenizer="xlm-roberta-base")
    with pytest.raises(ArtifactError, match="tokenizer"):
        run_step(tiny, other, tmp_path)
    assert not (tmp_path / "pretrain" / "model").exists()


def test_step_refuses_examples_without_a_question(tiny, examples, tmp_path):
    none_kept = examples.assign(n_kept=0)
    with pytest.raises(ConfigError, match="no span survived"):
        run_step(tiny, none_kept, tmp_path)
    assert (
        not (tmp_path / "pretrain" / "model").exists()
        and not (tmp_path / "pretrain" / "train_log.parquet").exists()
    )
