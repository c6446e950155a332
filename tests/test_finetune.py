"""Token classification on a tiny encoder: label alignment, Eq. 3 loss, finetune -> predict -> evaluate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch
from _helpers_model import FINETUNE_SETTINGS, TINY_PARAMS, Die, toy_sentences, write_sentences
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import evaluate, finetune, predict
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.methods.supervised import sentence_ce
from pipeline_steps.models import tiny
from pipeline_steps.models.token_classification import (
    IGNORE,
    encode,
    load_model,
    load_tokenizer,
    predict_tags,
)
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import METRICS, PREDICTIONS, TRAIN_LOG
from pipeline_steps.tags import label_set
from pipeline_steps.train import Trainer

LABELS = ["PER", "ORG", "LOC", "MISC"]
LANGS = ("en", "de", "es")

# what the predict rule passes for the demo's NER task (workflow_config.predict_params)
PREDICT_PARAMS = {
    "task": "ner",
    "labels": LABELS,
    "qa": {},
    "method": "zero_shot",
    "seed": 13,
    "batch_size": 4,
    "max_length": 64,
    "scheme": "bio",
    "device": "cpu",
}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Toy train/dev (en) and test sets (en, de, es), and a tiny model built on all their text."""
    root = tmp_path_factory.mktemp("ft")
    paths = {
        "train": write_sentences(toy_sentences("en", 50, split="train"), root / "train.parquet"),
        "dev": write_sentences(toy_sentences("en", 12, split="dev"), root / "dev.parquet"),
    }
    for lang in LANGS:
        paths[f"test.{lang}"] = write_sentences(
            toy_sentences(lang, 10, split="test"), root / f"test.{lang}.parquet"
        )
    texts = [paths["train"]] + [paths[f"test.{lang}"] for lang in LANGS]
    tiny.main(StepContext(input={"texts": texts}, output={"model": str(root / "tiny")}, params=TINY_PARAMS))
    paths["tiny"] = str(root / "tiny")
    paths["root"] = root
    return paths


def ft_params(**overrides):
    """The finetune rule's params: every finetune: config key, and the run's method, seed, labels, ..."""
    params = {
        **FINETUNE_SETTINGS,
        "method": "zero_shot",
        "seed": 13,
        "scheme": "bio",
        "labels": LABELS,
        "task": "ner",
        "target_langs": ["de", "es"],
        "method_params": {},
        "lr": 5e-3,
        "epochs": 5,
        "batch_size": 8,
        "max_length": 64,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "checkpoint_steps": 10,
        "eval_steps": 10,
        "max_steps": 30,
    }
    return {**params, **overrides}


def ft_ctx(data, out, by_name=False, **overrides):
    """The context the finetune rule builds: input.model is [tiny folder], or [] plus a name/path param."""
    params = ft_params(**overrides)
    params["model_name_or_path"] = data["tiny"] if by_name else "tiny"
    return StepContext(
        input={"train": data["train"], "dev": data["dev"], "model": [] if by_name else [data["tiny"]]},
        output={"model": str(out / "model"), "log": str(out / "train_log.parquet")},
        params=params,
    )


# ------------------------------------------------------------------------------------ alignment, loss


def word_by_word_firsts(tok, words, max_length):
    """Oracle: tokenise each word on its own (as xTune does); first sub-word positions after <s>."""
    firsts, pos = [], 1
    for w in words:
        n = len(tok(w, add_special_tokens=False)["input_ids"])
        firsts.append(pos if pos < max_length - 1 and n else -1)
        pos += n
    return firsts


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abcdeXYZéüñ", min_size=1, max_size=12), min_size=1, max_size=20))
def test_labels_sit_on_first_subwords_only(data_tok, words):
    tok = data_tok
    max_length = 24
    tagset = label_set(LABELS)
    tags = [tagset[1 + i % (len(tagset) - 1)] for i in range(len(words))]
    label2id = {t: i for i, t in enumerate(tagset)}
    enc = encode(tok, [words], [tags], label2id, max_length)
    ids, labels, first = enc.input_ids[0], enc.labels[0], enc.first[0]
    assert len(ids) <= max_length and ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert first == word_by_word_firsts(tok, words, max_length)
    expected = [IGNORE] * len(ids)
    for w, pos in enumerate(first):
        if pos >= 0:
            expected[pos] = label2id[tags[w]]
    assert labels == expected
    assert enc.n_truncated[0] == sum(1 for f in first if f < 0)


@pytest.fixture(scope="module")
def data_tok(data):
    return load_tokenizer(data["tiny"])


def test_truncated_words_get_no_label_and_predict_o(data, data_tok):
    words = ["Angela", "Merkel", "wohnt", "in", "Berlin", "und", "Hamburg", "."]
    tags = ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "O"]
    tagset = label_set(LABELS)
    label2id = {t: i for i, t in enumerate(tagset)}
    enc = encode(data_tok, [words], [tags], label2id, max_length=6)  # <s> + 4 sub-words + </s>
    kept = [w for w, f in enumerate(enc.first[0]) if f >= 0]
    assert kept == list(range(len(kept))) and len(kept) < len(words)
    assert enc.n_truncated[0] == len(words) - len(kept)
    assert sum(1 for x in enc.labels[0] if x != IGNORE) == len(kept)
    model = load_model(data["tiny"], tagset, seed=0)
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.0] * len(tagset)))
        model.classifier.bias[tagset.index("B-LOC")] = 100.0  # every kept word -> B-LOC
    pred = predict_tags(model, enc, [len(words)], 4, data_tok.pad_token_id)[0]
    assert pred == ["B-LOC"] * len(kept) + ["O"] * (len(words) - len(kept))


def test_sentence_ce_is_paper_eq3_per_sentence_average():
    ln = math.log
    logits = torch.zeros(3, 3, 3)
    labels = torch.full((3, 3), IGNORE)
    logits[0, 1] = torch.tensor([ln(2), 0, 0])  # p(0) = 2/4
    labels[0, 1] = 0
    labels[0, 2] = 2  # uniform: p = 1/3
    logits[1, 0] = torch.tensor([0, ln(3), 0])  # p(1) = 3/5
    labels[1, 0] = 1
    # sentence 2 has no labelled word: left out
    expected = ((ln(2) + ln(3)) / 2 + ln(5 / 3)) / 2
    assert sentence_ce(logits, labels).item() == pytest.approx(expected)
    token_mean = (ln(2) + ln(3) + ln(5 / 3)) / 3
    assert abs(expected - token_mean) > 1e-3  # Eq. 3 is not the token-level mean
    assert sentence_ce(logits, torch.full((3, 3), IGNORE)).item() == 0.0


def test_classifier_init_is_seeded(data):
    tagset = label_set(LABELS)
    a, b, c = (load_model(data["tiny"], tagset, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.classifier.weight, b.classifier.weight)
    assert not torch.equal(a.classifier.weight, c.classifier.weight)
    assert a.config.id2label == dict(enumerate(tagset))


# ------------------------------------------------------------------------------------ end to end


def test_finetune_predict_evaluate_end_to_end(data, tmp_path):
    ctx = ft_ctx(data, tmp_path)
    finetune.main(ctx)
    log = read_artifact(ctx.output["log"], TRAIN_LOG)
    assert log["step"].tolist() == list(range(1, 31))
    assert log["loss"].iloc[-1] < log["loss"].iloc[0]
    assert log["dev_f1"].notna().tolist() == [s % 10 == 0 for s in log["step"]]
    meta = json.loads((tmp_path / "model" / finetune.META_FILE).read_text())
    assert meta["tagset"] == label_set(LABELS) and meta["best_step"] in (10, 20, 30)
    assert meta["best_dev_f1"] == log["dev_f1"].max()
    assert not (tmp_path / "checkpoints").exists()  # removed after success

    pred_paths = []
    for lang in LANGS:
        out = tmp_path / f"pred.{lang}.parquet"
        predict.main(
            StepContext(
                input={"model": str(tmp_path / "model"), "examples": data[f"test.{lang}"]},
                output={"predictions": str(out)},
                params=PREDICT_PARAMS,
            )
        )
        pred = read_artifact(out, PREDICTIONS)
        assert len(pred) == 10 and set(pred["lang"]) == {lang}
        pred_paths.append(str(out))
    metrics_path = tmp_path / "metrics.parquet"
    evaluate.main(
        StepContext(
            input={"predictions": pred_paths},
            output={"metrics": str(metrics_path)},
            params={**PREDICT_PARAMS, "source_lang": "en"},
        )
    )
    metrics = read_artifact(metrics_path, METRICS)
    f1 = metrics[metrics["metric"] == "f1"].set_index("lang")["value"]
    assert set(f1.index) == {"en", "de", "es", "avg"}
    assert f1["avg"] == pytest.approx((f1["de"] + f1["es"]) / 2)


def test_frozen_word_embeddings_stay_as_loaded(data, tmp_path):
    from safetensors.torch import load_file

    def weights(folder):
        return load_file(str(next(Path(folder).glob("*.safetensors"))))

    base = weights(data["tiny"])
    trained = {}
    for freeze in (False, True):
        out = tmp_path / str(freeze)
        finetune.main(ft_ctx(data, out, max_steps=10, freeze_embeddings=freeze))
        trained[freeze] = weights(out / "model")
    key = next(k for k in base if k.endswith("word_embeddings.weight"))
    assert not torch.equal(trained[False][key], base[key])
    assert torch.equal(trained[True][key], base[key])
    moved = [k for k in base if k in trained[True] and not torch.equal(trained[True][k], base[k])]
    assert any("encoder.layer" in k for k in moved)  # the rest of the encoder still trains


class CrashingTrainer(Trainer):
    def __init__(self, *args, **kwargs):
        def on_step(step, row):
            if step == 15:
                raise Die("simulated crash")

        super().__init__(*args, **{**kwargs, "on_step": on_step})


def test_finetune_resumes_after_a_crash_to_the_same_model(data, tmp_path, monkeypatch, caplog):
    ref = tmp_path / "ref"
    finetune.main(ft_ctx(data, ref))
    run = tmp_path / "run"  # the same base model, given by path instead of as an input
    with monkeypatch.context() as m:
        m.setattr(finetune, "Trainer", CrashingTrainer)
        with pytest.raises(Die):
            finetune.main(ft_ctx(data, run, by_name=True))
    assert not (run / "model").exists() and not (run / "train_log.parquet").exists()
    assert (run / "checkpoints" / "main" / "step-00000010").is_dir()
    caplog.set_level("INFO")
    finetune.main(ft_ctx(data, run, by_name=True))
    assert "resuming from step 10" in caplog.text
    from safetensors.torch import load_file

    a, b = load_file(ref / "model" / "model.safetensors"), load_file(run / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la = read_artifact(ref / "train_log.parquet", TRAIN_LOG)
    lb = read_artifact(run / "train_log.parquet", TRAIN_LOG)
    cols = ["step", "epoch", "loss", "lr", "dev_f1"]
    pd.testing.assert_frame_equal(la[cols], lb[cols])
    assert lb["resumed"].tolist() == [s > 10 for s in lb["step"]]


def test_changing_checkpoint_steps_resumes_the_interrupted_run(data, tmp_path, monkeypatch, caplog):
    """checkpoint_steps, keep_last_checkpoints, keep_checkpoints and device are not part of the resume
    fingerprint: crashed at step 15 with checkpoints every 10 steps, rerun with every 7 (and other
    retention), the run resumes at step 10 and ends with the same weights and log."""
    ref = tmp_path / "ref"
    finetune.main(ft_ctx(data, ref))
    run = tmp_path / "run"
    with monkeypatch.context() as m:
        m.setattr(finetune, "Trainer", CrashingTrainer)
        with pytest.raises(Die):
            finetune.main(ft_ctx(data, run))
    caplog.set_level("INFO")
    changed = {"checkpoint_steps": 7, "keep_last_checkpoints": 1, "keep_checkpoints": True, "device": "cpu"}
    finetune.main(ft_ctx(data, run, **changed))
    assert "resuming from step 10" in caplog.text
    assert [p.name for p in sorted((run / "checkpoints" / "main").iterdir())] == ["step-00000030"]
    from safetensors.torch import load_file

    a, b = load_file(ref / "model" / "model.safetensors"), load_file(run / "model" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = (read_artifact(p / "train_log.parquet", TRAIN_LOG) for p in (ref, run))
    cols = ["step", "epoch", "phase", "loss", "lr", "dev_f1"]
    pd.testing.assert_frame_equal(la[cols], lb[cols])
    assert lb["resumed"].tolist() == [s > 10 for s in lb["step"]]


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("key", sorted(finetune.TRAIN_KEYS))
def test_train_config_reads_every_key_without_defaults(key):
    params = ft_params()
    config = finetune.train_config(params, "zero_shot")
    assert {k: getattr(config, k) for k in finetune.TRAIN_KEYS} == {k: params[k] for k in finetune.TRAIN_KEYS}
    del params[key]
    with pytest.raises(ConfigError, match=rf"finetune\.{key} is missing"):
        finetune.train_config(params, "zero_shot")


@pytest.mark.parametrize("key", ["batch_size", "max_length", "keep_checkpoints", "freeze_embeddings"])
def test_a_missing_finetune_key_is_a_config_error(data, tmp_path, key):
    ctx = ft_ctx(data, tmp_path)
    del ctx.params[key]
    with pytest.raises(ConfigError, match=rf"finetune\.{key}"):
        finetune.main(ctx)
    ctx = ft_ctx(data, tmp_path, lr=None)
    with pytest.raises(ConfigError, match=r"finetune\.lr must be set"):
        finetune.main(ctx)


def test_tag_outside_the_label_set_names_file_row_field(data, tmp_path):
    df = toy_sentences("en", 5)
    df.at[3, "tags"] = ["B-DATE"] + list(df.at[3, "tags"][1:])
    bad = write_sentences(df, tmp_path / "bad_train.parquet")
    ctx = ft_ctx(data, tmp_path)
    ctx.input["train"] = bad
    with pytest.raises(ArtifactError) as err:
        finetune.main(ctx)
    assert (err.value.row, err.value.field) == (3, "tags") and "bad_train.parquet" in str(err.value)
    assert "B-DATE" in str(err.value)
    assert not (tmp_path / "model").exists()


def test_bio_data_with_bioes_scheme_is_rejected(data, tmp_path):
    with pytest.raises(ArtifactError, match="not closed"):
        finetune.main(ft_ctx(data, tmp_path, scheme="bioes"))
    assert not (tmp_path / "model").exists()


def test_unlabelled_training_rows_are_rejected(data, tmp_path):
    df = toy_sentences("en", 5)
    df.at[2, "tags"] = None
    ctx = ft_ctx(data, tmp_path)
    ctx.input["train"] = write_sentences(df, tmp_path / "unlabelled.parquet")
    with pytest.raises(ArtifactError) as err:
        finetune.main(ctx)
    assert (err.value.row, err.value.field) == (2, "tags")


@pytest.mark.parametrize("overrides", [{"method": "no_such_method"}, {"labels": []}, {"scheme": "iob1"}])
def test_bad_finetune_settings(data, tmp_path, overrides):
    with pytest.raises(ConfigError):
        finetune.main(ft_ctx(data, tmp_path, **overrides))
    assert not (tmp_path / "model").exists()


def test_no_base_model_is_a_config_error(data, tmp_path):
    ctx = ft_ctx(data, tmp_path, by_name=True)
    ctx.params["model_name_or_path"] = None
    with pytest.raises(ConfigError, match="model_name_or_path"):
        finetune.main(ctx)


def test_predict_needs_gold_tags_and_a_matching_scheme(data, tmp_path):
    df = toy_sentences("de", 3, split="test")
    df.at[1, "tags"] = None
    unlabelled = write_sentences(df, tmp_path / "test.de.parquet")
    params = PREDICT_PARAMS
    out = tmp_path / "pred.parquet"
    with pytest.raises(ArtifactError) as err:
        predict.main(
            StepContext({"model": data["tiny"], "examples": unlabelled}, {"predictions": str(out)}, params)
        )
    assert (err.value.row, err.value.field) == (1, "tags")
    bioes_dir = tmp_path / "bioes_model"
    load_model(data["tiny"], label_set(LABELS, "bioes"), seed=0).save_pretrained(bioes_dir)
    load_tokenizer(data["tiny"]).save_pretrained(bioes_dir)
    with pytest.raises(ConfigError, match="bio scheme"):
        predict.main(
            StepContext(
                {"model": str(bioes_dir), "examples": data["test.de"]}, {"predictions": str(out)}, params
            )
        )
    assert not out.exists()
