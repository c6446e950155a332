"""The tiny locally-built encoder: reproducible, loadable offline like any HF model, MLM that learns."""

from __future__ import annotations

import json

import pytest
import torch
from _helpers_model import TINY_PARAMS, toy_sentences, train_config, write_sentences
from safetensors.torch import load_file

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.models.tiny import (
    SPECIAL_TOKENS,
    MaskedLM,
    TinySettings,
    build_tiny_model,
    main,
    train_tokenizer,
)
from pipeline_steps.runner import StepContext
from pipeline_steps.train import train


def toy_texts(n=40):
    frames = [toy_sentences(lang, n, seed=1) for lang in ("en", "de", "es")]
    return [" ".join(t) for f in frames for t in f["tokens"]]


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    texts = toy_texts()
    a = build_tiny_model(texts, root / "a", TinySettings(**TINY_PARAMS))
    b = build_tiny_model(texts, root / "b", TinySettings(**TINY_PARAMS))
    c = build_tiny_model(texts, root / "c", TinySettings(**{**TINY_PARAMS, "seed": 1}))
    return a, b, c


def test_same_settings_and_seed_give_identical_files(two_builds):
    a, b, c = two_builds
    wa, wb, wc = (load_file(d / "model.safetensors") for d in (a, b, c))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    for name in ("tokenizer.json", "config.json", "model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)  # the seed matters


def test_folder_loads_offline_as_xlmr_token_classifier(two_builds):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    d = two_builds[0]
    tok = AutoTokenizer.from_pretrained(d)
    assert type(tok).__name__ == "XLMRobertaTokenizer" and tok.is_fast
    assert tok.convert_ids_to_tokens(list(range(5))) == list(SPECIAL_TOKENS)
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    model = AutoModelForTokenClassification.from_pretrained(d, num_labels=5)
    cfg = model.config
    assert cfg.model_type == "xlm-roberta"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (
        16,
        1,
        2,
        32,
    )
    assert cfg.max_position_embeddings == TINY_PARAMS["max_length"] + 2
    assert cfg.vocab_size == len(tok) <= TINY_PARAMS["vocab_size"]
    # the encoder weights are the saved ones, only the tagging layer is new
    saved = load_file(d / "model.safetensors")
    emb = "roberta.embeddings.word_embeddings.weight"
    assert torch.equal(model.state_dict()[emb], saved[emb])
    enc = tok([["Angela", "Merkel", "wohnt", "in", "Zürich"]], is_split_into_words=True, return_tensors="pt")
    ids = enc["input_ids"][0].tolist()
    assert ids[0] == 0 and ids[-1] == 2
    assert sorted(set(w for w in enc.word_ids(0) if w is not None)) == [0, 1, 2, 3, 4]
    assert 3 in ids  # 'Z' never occurs in the toy corpus: <unk>
    assert model(**enc).logits.shape == (1, len(ids), 5)
    meta = json.loads((d / "xlt_tiny.json").read_text())
    assert meta["seed"] == 0 and meta["mlm_steps_done"] == TINY_PARAMS["mlm_steps"]


def test_tokenizer_splits_words_into_known_pieces():
    tok = train_tokenizer(toy_texts(), vocab_size=200)
    pieces = tok.convert_ids_to_tokens(tok("Siemens wohnt in Berlin")["input_ids"])
    assert pieces[0] == "<s>" and pieces[-1] == "</s>"
    assert "".join(pieces[1:-1]).replace("▁", " ").strip() == "Siemens wohnt in Berlin"
    assert "<unk>" not in pieces


def test_masking_follows_bert_rates_and_spares_special_tokens():
    tok = train_tokenizer(toy_texts(), vocab_size=200)
    ids = [tok(t)["input_ids"] for t in toy_texts(200)]
    recipe = MaskedLM(ids, tok, TinySettings(**{**TINY_PARAMS, "batch_size": 600}))
    batch = next(iter(recipe.batches(0)))
    chosen = batch["labels"] != -100
    original = torch.where(chosen, batch["labels"], batch["input_ids"])
    specials = torch.isin(original, recipe.special)
    real = batch["attention_mask"].bool() & ~specials
    rate = chosen.sum().item() / real.sum().item()
    assert 0.12 < rate < 0.18
    assert not (chosen & specials).any()
    masked = batch["input_ids"][chosen] == tok.mask_token_id
    assert 0.75 < masked.float().mean().item() < 0.85
    # the same epoch gives the same masks (needed for an exact resume)
    again = next(iter(recipe.batches(0)))
    assert torch.equal(again["input_ids"], batch["input_ids"]) and torch.equal(
        again["labels"], batch["labels"]
    )


def test_mlm_loss_goes_down():
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    tok = train_tokenizer(toy_texts(), vocab_size=200)
    settings = TinySettings(**{**TINY_PARAMS, "batch_size": 16})
    recipe = MaskedLM([tok(t)["input_ids"] for t in toy_texts()], tok, settings)
    cfg = XLMRobertaConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    torch.manual_seed(0)
    model = XLMRobertaForMaskedLM(cfg)
    res = train(model, recipe, train_config(lr=1e-2, epochs=15, warmup_ratio=0.1))
    loss = res.log["loss"].tolist()
    assert sum(loss[-8:]) / 8 < 0.85 * sum(loss[:8]) / 8


def test_main_builds_from_sentences_artifacts(tmp_path):
    paths = [write_sentences(toy_sentences(lang, 20), tmp_path / f"{lang}.parquet") for lang in ("en", "de")]
    ctx = StepContext(
        input={"texts": paths},
        output={"model": str(tmp_path / "model")},
        params={**TINY_PARAMS, "mlm_steps": 2},
    )
    main(ctx)
    meta = json.loads((tmp_path / "model" / "xlt_tiny.json").read_text())
    assert meta["texts"] == 40 and meta["mlm_steps_done"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


@pytest.mark.parametrize(
    "params",
    [{"hidden_size": 15}, {"vocab_size": 8}, {"num_layers": 0}, {"mlm_steps": -1}, {"hidden_dim": 16}],
)
def test_main_rejects_bad_settings(tmp_path, params):
    path = write_sentences(toy_sentences("en", 5), tmp_path / "en.parquet")
    ctx = StepContext(input={"texts": [path]}, output={"model": str(tmp_path / "model")}, params=params)
    with pytest.raises(ConfigError):
        main(ctx)
    assert not (tmp_path / "model").exists()


def test_main_names_a_bad_input_file(tmp_path):
    bad = tmp_path / "en.parquet"
    bad.write_text("not parquet")
    ctx = StepContext(input={"texts": [str(bad)]}, output={"model": str(tmp_path / "model")}, params={})
    with pytest.raises(ArtifactError, match="en.parquet"):
        main(ctx)
    assert not (tmp_path / "model").exists()
