"""[QUE] fine-tuning for extractive QA (paper 000, Chen et al. NAACL 2022, Sec. 3.4, Eq. 10 with the
pointer of Sec. 3.1, Eq. 1-3): the pointer logits against a hand computation from the encoder's hidden
states, the [QUE] in every window's question segment with unchanged answer labels, the save / load round
trip with the pre-trained head of a CLISM folder, a few training steps through the task's recipe, the
predict step's reload, and the errors for a model fine-tuned the other way."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers_model import LOC, ORG, PER, TINY_PARAMS, train_config

from pipeline_steps.errors import ConfigError
from pipeline_steps.finetune import META_FILE, save_model_dir
from pipeline_steps.methods import MethodData
from pipeline_steps.methods.xtune import build_recipe
from pipeline_steps.models.que_qa import QUE_MARKER_FILE, QuePointerQA, is_que_model_dir
from pipeline_steps.models.question_answering import load_qa_model, load_tokenizer, qa_loss
from pipeline_steps.models.tiny import TinySettings, build_tiny_model
from pipeline_steps.models.token_classification import freeze_word_embeddings
from pipeline_steps.pretrain.model import QUE_HEAD_FILE, load_clism_model, save_clism_model
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token, que_token_id
from pipeline_steps.schemas import QA_EXAMPLES
from pipeline_steps.tasks import make_task
from pipeline_steps.train import train

QA_SETTINGS = {"doc_stride": 8, "max_answer_length": 10, "n_best": 5}


def qa_frame(n: int, seed: int = 0, long: bool = False) -> pd.DataFrame:
    """``n`` toy QA_EXAMPLES rows: who works for an organisation / where a person lives; ``long`` repeats
    a filler sentence so that a context needs several windows."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        per, per2 = (" ".join(PER[k]) for k in rng.choice(len(PER), 2, replace=False))
        loc, org = " ".join(LOC[rng.integers(len(LOC))]), " ".join(ORG[rng.integers(len(ORG))])
        filler = f" {per2} said on Monday that the office is near ." * (4 if long else 0)
        context = f"{per} lives in {loc} .{filler} {per2} works for {org} ."
        question, answer = (f"Where does {per} live ?", loc) if i % 2 else (f"Who works for {org} ?", per2)
        start = context.index(answer) if i % 2 else context.rindex(f"{per2} works")
        rows.append(
            {
                "id": f"qa-{i:03d}",
                "lang": "en",
                "split": "train",
                "title": "toy",
                "context": context,
                "question": question,
                "answer_texts": [answer],
                "answer_starts": [start],
                "source": "toy",
            }
        )
    return pd.DataFrame(rows, columns=QA_EXAMPLES.columns)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A tiny XLM-R-like encoder (no [QUE] in its tokenizer) built on the toy QA texts."""
    frame = pd.concat([qa_frame(40), qa_frame(4, seed=1, long=True)])
    texts = list(frame["question"]) + list(frame["context"])
    settings = TinySettings(**{**TINY_PARAMS, "mlm_steps": 0})
    return str(build_tiny_model(texts, tmp_path_factory.mktemp("que_qa") / "tiny", settings))


@pytest.fixture(scope="module")
def clism_dir(tiny_dir, tmp_path_factory):
    """A ``save_clism_model`` folder of the tiny encoder whose pointer head has recognisable weights
    (W_s[i, j] = 0.01 (i - j), W_e = 0.02 I); returns (folder, W_s, W_e)."""
    tok = load_tokenizer(tiny_dir)
    add_que_token(tok)
    model = load_clism_model(tiny_dir, len(tok), seed=0)
    d = model.config.hidden_size
    w_s = 0.01 * (torch.arange(d)[:, None] - torch.arange(d)[None, :]).float()
    w_e = 0.02 * torch.eye(d)
    with torch.no_grad():
        model.que_head.start.weight.copy_(w_s)
        model.que_head.end.weight.copy_(w_e)
    out = tmp_path_factory.mktemp("clism") / "pretrained"
    save_clism_model(model, tok, out, {"seed": 0})
    return str(out), w_s, w_e


def que_task(que: bool = True):
    params = {"qa": QA_SETTINGS, **({"que_token": True} if que else {})}
    return make_task("qa", params)


def encoder_hidden(model: QuePointerQA, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]


# ------------------------------------------------------------------------------------ the pointer


def test_pointer_logits_are_hidden_states_times_the_que_vectors(tiny_dir):
    model = QuePointerQA.from_pretrained(tiny_dir, seed=0)
    d = model.config.hidden_size
    gen = torch.Generator().manual_seed(11)
    w_s, w_e = torch.randn(d, d, generator=gen), torch.randn(d, d, generator=gen)
    with torch.no_grad():
        model.que_head.start.weight.copy_(w_s)
        model.que_head.end.weight.copy_(w_e)
    tok = load_tokenizer(tiny_dir)
    frame = qa_frame(3)
    frame.loc[1, "context"] = "Maria lives in Paris ."  # a short row: padding in the batch
    feats = que_task().features(frame, tok, max_length=64, labelled=False)
    batch = feats.batch(range(len(feats)))
    mask = batch["attention_mask"]
    assert (mask == 0).any()  # some padding to check
    with torch.no_grad():
        out = model(**batch)
    hidden = encoder_hidden(model, batch)
    for b in range(len(feats)):
        q = batch["input_ids"][b].tolist().index(que_token_id(tok))
        s_q, e_q = w_s @ hidden[b, q], w_e @ hidden[b, q]  # Eq. 1
        real = mask[b] == 1
        torch.testing.assert_close(out.start_logits[b, real], hidden[b, real] @ s_q, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(out.end_logits[b, real], hidden[b, real] @ e_q, rtol=1e-4, atol=1e-4)
        lowest = torch.finfo(out.start_logits.dtype).min
        assert (out.start_logits[b, ~real] == lowest).all() and (out.end_logits[b, ~real] == lowest).all()
    assert out.start_logits.shape == out.end_logits.shape == batch["input_ids"].shape


def test_a_row_without_or_with_two_que_tokens_is_an_error(tiny_dir):
    model = QuePointerQA.from_pretrained(tiny_dir, seed=0)
    tok = load_tokenizer(tiny_dir)
    feats = que_task().features(qa_frame(3), tok, max_length=64, labelled=False)
    batch = feats.batch(range(3))
    que = que_token_id(tok)
    none = batch["input_ids"].clone()
    none[1][none[1] == que] = tok.unk_token_id
    with pytest.raises(ValueError, match=r"found 0 in row 1 of the batch"):
        model(input_ids=none, attention_mask=batch["attention_mask"])
    two = batch["input_ids"].clone()
    two[2, 1] = que
    with pytest.raises(ValueError, match=r"found 2 in row 2 of the batch"):
        model(input_ids=two, attention_mask=batch["attention_mask"])
    model(**batch)  # the untouched batch is fine


# ----------------------------------------------------------------------------------- the features


def label_spans(feats, frame: pd.DataFrame) -> dict[int, set[str]]:
    """Per example, the context texts its labelled windows point at."""
    out: dict[int, set[str]] = {}
    for f in range(len(feats)):
        s, e = int(feats.start_positions[f]), int(feats.end_positions[f])
        if s == 0:
            continue
        ex = int(feats.example_index[f])
        lo, hi = feats.offsets[f, s, 0], feats.offsets[f, e, 1]
        out.setdefault(ex, set()).add(frame["context"].iloc[ex][lo:hi])
    return out


def test_every_window_has_one_que_in_its_question_and_labels_are_unchanged(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    n_vocab = len(tok)
    frame = pd.concat([qa_frame(4, seed=1, long=True), qa_frame(4, seed=2)], ignore_index=True)
    frame.loc[0, "question"] = f"Who {QUE_TOKEN} works here ?"  # a literal [QUE] in the data
    original = frame.copy(deep=True)
    with_que = que_task().features(frame, tok, max_length=40)
    assert len(tok) == n_vocab + 1  # [QUE] added once
    que_task().features(frame, tok, max_length=40)
    assert len(tok) == n_vocab + 1  # idempotent
    pd.testing.assert_frame_equal(frame, original)  # the caller's frame is not changed
    plain = que_task(False).features(frame, tok, max_length=40)
    assert (np.bincount(with_que.example_index) > 1).sum() >= 4  # the long contexts need several windows
    que = que_token_id(tok)
    for f in range(len(with_que)):
        ids = with_que.input_ids[f].tolist()
        assert ids.count(que) == 1
        pos = ids.index(que)
        first_context = int(np.flatnonzero(with_que.offsets[f, :, 0] >= 0)[0])
        assert 0 < pos < first_context
        assert ids[pos + 1] == tok.sep_token_id  # [CLS] Q [QUE] [SEP] ... (Eq. 10)
    # without que nothing is appended (the literal [QUE] of example 0 stays what it is)
    assert not (plain.input_ids[plain.example_index != 0] == que).any()
    # the labels point at the same context characters: the gold answers, in both encodings
    golds = {i: {texts[0]} for i, texts in enumerate(frame["answer_texts"])}
    assert label_spans(with_que, frame) == label_spans(plain, frame) == golds
    # the first window's context offsets are those without [QUE], one sub-word fewer at most (example 0's
    # question is longer: its literal [QUE] is written [que], several sub-words)
    for ex in range(1, len(frame)):
        fq = int(np.flatnonzero(with_que.example_index == ex)[0])
        fp = int(np.flatnonzero(plain.example_index == ex)[0])
        oq = [o for o in with_que.context_offsets(fq) if o is not None]
        op = [o for o in plain.context_offsets(fp) if o is not None]
        assert oq == op[: len(oq)] and len(op) - len(oq) <= 1


# -------------------------------------------------------------------------------- save and load


def test_save_and_load_give_bit_identical_logits(tiny_dir, tmp_path):
    model = QuePointerQA.from_pretrained(tiny_dir, seed=3)
    with torch.no_grad():
        model.que_head.end.weight.mul_(-2.0)
    tok = load_tokenizer(tiny_dir)
    feats = que_task().features(qa_frame(4), tok, max_length=64, labelled=False)
    batch = feats.batch(range(len(feats)))
    out = tmp_path / "saved"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    assert is_que_model_dir(out) and not is_que_model_dir(tiny_dir)
    assert json.loads((out / QUE_MARKER_FILE).read_text()) == {"que_token": QUE_TOKEN, "que_id": model.que_id}
    again = QuePointerQA.from_pretrained(out, seed=99)
    assert not again.training
    assert torch.equal(again.que_head.end.weight, model.que_head.end.weight)
    with torch.no_grad():
        a, b = model.eval()(**batch), again(**batch)
    assert torch.equal(a.start_logits, b.start_logits) and torch.equal(a.end_logits, b.end_logits)


def test_the_pretrained_head_is_loaded_else_a_seeded_fresh_one(tiny_dir, clism_dir):
    folder, w_s, w_e = clism_dir
    model = QuePointerQA.from_pretrained(folder, seed=5)
    assert torch.equal(model.que_head.start.weight, w_s)
    assert torch.equal(model.que_head.end.weight, w_e)
    tok = load_tokenizer(folder)  # the pre-training's tokenizer already knows [QUE]
    assert model.que_id == que_token_id(tok)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    clism = load_clism_model(folder, len(tok), seed=0)
    assert torch.equal(model.get_input_embeddings().weight, clism.mlm.get_input_embeddings().weight)
    # without que_head.safetensors: a fresh head, the same for the same seed
    assert not (Path(tiny_dir) / QUE_HEAD_FILE).exists()
    a, b, c = (QuePointerQA.from_pretrained(tiny_dir, seed=s) for s in (7, 7, 8))
    assert torch.equal(a.que_head.start.weight, b.que_head.start.weight)
    assert torch.equal(a.que_head.end.weight, b.que_head.end.weight)
    assert not torch.equal(a.que_head.start.weight, c.que_head.start.weight)
    assert not torch.equal(a.que_head.start.weight, w_s)
    # the plain tokenizer lacked [QUE]: the embeddings grew by one row
    assert a.get_input_embeddings().num_embeddings == len(load_tokenizer(tiny_dir)) + 1


# ------------------------------------------------------------------------------------ end to end


def test_a_few_steps_of_que_fine_tuning_then_predict_from_the_saved_folder(tiny_dir, tmp_path):
    task = que_task()
    assert task.que and task.meta()["que_token"] is True
    assert que_task(False).que is False and "que_token" not in que_task(False).meta()
    frame = qa_frame(16)
    tok = load_tokenizer(tiny_dir)  # as the finetune step: the tokenizer before the model
    model = task.load_model(tiny_dir, seed=0)
    assert isinstance(model, QuePointerQA)
    frozen = freeze_word_embeddings(model)
    assert frozen == model.get_input_embeddings().weight.numel()
    assert not model.encoder.get_input_embeddings().weight.requires_grad
    recipe = task.recipe(frame, tok, batch_size=8, max_length=48, seed=0)
    assert que_token_id(tok) == model.que_id  # the finetune tokenizer learnt [QUE] with the model's id
    feats = recipe.features

    def mean_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(qa_loss(model, feats.batch(range(len(feats)))))

    before = mean_loss()
    result = train(
        model, recipe, train_config(lr=3e-3, epochs=20, max_steps=30, warmup_ratio=0.0, device="cpu")
    )
    after = mean_loss()
    assert result.steps == 30
    assert after < before
    answers = task.predict(model, frame, tok, batch_size=16, max_length=48)
    assert len(answers) == len(frame)
    for a, context in zip(answers, frame["context"], strict=True):
        assert a.text and QUE_TOKEN not in a.text and context[a.start : a.start + len(a.text)] == a.text
    # the predict step: the saved folder, its tokenizer, the task's loader
    out = tmp_path / "model"
    save_model_dir(model, tok, out, {"task": "qa", **task.meta()})
    reloaded = task.load_model(str(out), seed=1)
    again = task.predict(reloaded, frame, load_tokenizer(str(out)), batch_size=16, max_length=48)
    assert again == answers


def test_xtune_qa_views_get_the_que_token_too(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    rows = []  # short contexts: one window each, so every example is paired for R1
    for i in range(4):
        per, loc = " ".join(PER[i]), " ".join(LOC[i])
        context = f"{per} lives in {loc} ."
        rows.append(
            {
                "id": f"qa-{i}",
                "lang": "en",
                "split": "train",
                "title": "toy",
                "context": context,
                "question": f"Where does {per} live ?",
                "answer_texts": [loc],
                "answer_starts": [context.index(loc)],
                "source": "toy",
            }
        )
    frame = pd.DataFrame(rows, columns=QA_EXAMPLES.columns)
    view = frame.assign(src_id=frame["id"], view=0, kind="code_switch")
    data = MethodData(
        train=frame, tokenizer=tok, label2id={}, batch_size=2, max_length=64, seed=0, task=que_task()
    )
    recipe = build_recipe(data, "qa", 1, [view], lambda1=5.0, stop_gradient=True, reduction="mean")
    que = que_token_id(tok)
    for feats in (recipe.orig.features, recipe.views[0].features):
        assert ((feats.input_ids == que).sum(axis=1) == 1).all()
    for e, pairs in enumerate(recipe.pairs[0]):  # an identical view: the [QUE] pairs with itself
        pos = recipe.orig.features.input_ids[e].tolist().index(que)
        assert (pos, pos) in set(zip(pairs.orig, pairs.view, strict=True))
    model = QuePointerQA.from_pretrained(tiny_dir, seed=0)
    loss = recipe.loss(model, recipe.collate([0, 1]))
    assert torch.isfinite(loss)


# ------------------------------------------------------------------------------------- mismatches


def test_a_model_fine_tuned_the_other_way_is_a_config_error(tiny_dir, clism_dir, tmp_path):
    tok = load_tokenizer(tiny_dir)
    que_dir, std_dir = tmp_path / "que", tmp_path / "std"
    save_model_dir(QuePointerQA.from_pretrained(tiny_dir, seed=0), tok, que_dir, {"que_token": True})
    save_model_dir(load_qa_model(tiny_dir, seed=0), tok, std_dir, {"que_token": False})
    assert (std_dir / META_FILE).is_file()
    with pytest.raises(ConfigError, match=r"is a \[QUE\] QA model \(xlt_que.json\), but que_token is off"):
        que_task(False).load_model(str(que_dir), seed=0)
    with pytest.raises(ConfigError, match=r"fine-tuned without \[QUE\].*but que_token is on"):
        que_task(True).load_model(str(std_dir), seed=0)
    # the matching ways load; a pre-trained folder loads both ways (Figure 4b ablation: standard head)
    assert isinstance(que_task(True).load_model(str(que_dir), seed=0), QuePointerQA)
    assert type(que_task(False).load_model(str(std_dir), seed=0)).__name__.endswith("ForQuestionAnswering")
    assert type(que_task(False).load_model(clism_dir[0], seed=0)).__name__.endswith("ForQuestionAnswering")
