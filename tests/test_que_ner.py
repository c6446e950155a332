"""[QUE] fine-tuning for a tagger (paper 000, Chen et al. NAACL 2022, Sec. 3.4, read as Eq. 10 with an
EMPTY question): ``encode(..., que=True)`` gives the tokenizer's pair template with ``[QUE]`` as the first
sequence and the sentence's words as the second (``<s> [QUE] </s></s> w1 .. wn </s>``), labels on each
word's first sub-word, [QUE] never cut; ``que=False`` is byte-identical to the encoding before the switch;
xTune's sub-word-piece views get the same prefix; a few training steps of the zero-shot recipe and the
predict path with [QUE]; the finetune / predict steps and the error for a tagger used the other way."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from _helpers_model import FINETUNE_SETTINGS, toy_sentences, toy_tiny_model, train_config, write_sentences

from pipeline_steps import finetune, predict
from pipeline_steps.augment.subword_sampling import META
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.methods import MethodData, make_method
from pipeline_steps.methods.xtune import build_recipe
from pipeline_steps.methods.xtune_tagging import (
    ExampleConsistencyTagging,
    encode_pieces,
    encode_view,
    paired_masks,
    special_ids,
)
from pipeline_steps.models.token_classification import (
    IGNORE,
    Encoded,
    encode,
    load_tokenizer,
    predict_tags,
)
from pipeline_steps.predict import predict_sentences
from pipeline_steps.pretrain.que import QUE_TOKEN, add_que_token, que_token_id
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PREDICTIONS, TRAIN_LOG
from pipeline_steps.tags import label_set, spans_from_tags
from pipeline_steps.tasks import make_task
from pipeline_steps.tasks.tagging import TaggingTask, check_que_meta
from pipeline_steps.train import Trainer

LABELS = ["PER", "ORG", "LOC"]
TAGSET = label_set(LABELS)
LABEL2ID = {t: i for i, t in enumerate(TAGSET)}

# ------------------------------------------------------------------------------- toy tokenizers

WORDS = ["John", "lives", "in", "Ottawa", ".", "Berlin"]


def xlmr_tokenizer():
    """An XLM-R-style Unigram tokenizer (<s> A </s></s> B </s>); "Ottawa" -> "▁Ott" "awa"; no [QUE]."""
    from transformers import XLMRobertaTokenizer

    chars = sorted({c for w in WORDS for c in w} | set("abcdefghijklmnopqrstuvwxyz"))
    vocab = [(p, 0.0) for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")]
    vocab += [(META, -2.0)] + [(c, -5.0) for c in chars]
    vocab += [(META + w, -1.0) for w in WORDS if w != "Ottawa"] + [(META + "Ott", -1.5), ("awa", -1.5)]
    return XLMRobertaTokenizer(vocab=vocab)


def bert_tokenizer():
    """A cased BERT WordPiece fast tokenizer ([CLS] A [SEP] B [SEP]); "Ottawa" -> "Ott" "##awa"."""
    from transformers import BertTokenizerFast

    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Ott", "##awa"]
    pieces += [w for w in WORDS if w != "Ottawa"]
    pieces += sorted({c for w in WORDS for c in w}) + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
    return BertTokenizerFast(vocab={p: i for i, p in enumerate(dict.fromkeys(pieces))}, do_lower_case=False)


# tokenizer kind -> (factory, the specials of the pair template: before A, between A and B, after B)
KINDS = {
    "xlmr": (xlmr_tokenizer, (["<s>"], ["</s>", "</s>"], ["</s>"])),
    "bert": (bert_tokenizer, (["[CLS]"], ["[SEP]"], ["[SEP]"])),
}

# a plain sentence, an empty one, one longer than max_length 8, one with a word without sub-words
SENTS = [
    ["John", "lives", "in", "Ottawa", "."],
    [],
    ["Ottawa"] * 6,
    ["", "Berlin", " "],
    ["Berlin", "Ottawa", "Berlin"],
]
TAGS = [
    ["B-PER", "O", "O", "B-LOC", "O"],
    [],
    ["B-LOC"] * 6,
    ["O", "B-LOC", "O"],
    ["B-LOC", "B-LOC", "I-LOC"],
]
FROZEN_LABEL2ID = {"O": 0, "B-PER": 1, "B-LOC": 2, "I-LOC": 3}

# ``encode`` of SENTS / TAGS before [QUE] existed (without it the output must stay byte-identical): the
# ids per tokenizer, the rest the same for both
FROZEN_IDS = {
    ("xlmr", 64): [
        [0, 36, 37, 38, 41, 42, 39, 2],
        [0, 2],
        [0, *[41, 42] * 6, 2],
        [0, 40, 2],
        [0, 40, 41, 42, 40, 2],
    ],
    ("xlmr", 8): [
        [0, 36, 37, 38, 41, 42, 39, 2],
        [0, 2],
        [0, *[41, 42] * 3, 2],
        [0, 40, 2],
        [0, 40, 41, 42, 40, 2],
    ],
    ("bert", 64): [[2, 7, 8, 9, 5, 6, 10, 3], [2, 3], [2, *[5, 6] * 6, 3], [2, 11, 3], [2, 11, 5, 6, 11, 3]],
    ("bert", 8): [[2, 7, 8, 9, 5, 6, 10, 3], [2, 3], [2, *[5, 6] * 3, 3], [2, 11, 3], [2, 11, 5, 6, 11, 3]],
}
FROZEN_REST = {
    64: {
        "labels": [[-100, 1, 0, 0, 2, -100, 0, -100], [-100, -100], [-100, *[2, -100] * 6, -100],
                   [-100, 2, -100], [-100, 2, 2, -100, 3, -100]],
        "first": [[1, 2, 3, 4, 6], [], [1, 3, 5, 7, 9, 11], [-1, 1, -1], [1, 2, 4]],
        "n_truncated": [0, 0, 0, 0, 0],
        "n_empty": [0, 0, 0, 2, 0],
    },
    8: {
        "labels": [[-100, 1, 0, 0, 2, -100, 0, -100], [-100, -100], [-100, *[2, -100] * 3, -100],
                   [-100, 2, -100], [-100, 2, 2, -100, 3, -100]],
        "first": [[1, 2, 3, 4, 6], [], [1, 3, 5, -1, -1, -1], [-1, 1, -1], [1, 2, 4]],
        "n_truncated": [0, 0, 3, 0, 0],
        "n_empty": [0, 0, 0, 2, 0],
    },
}  # fmt: skip
FROZEN = {key: {"input_ids": ids, **FROZEN_REST[key[1]]} for key, ids in FROZEN_IDS.items()}


def as_dict(enc: Encoded) -> dict:
    return {k: getattr(enc, k) for k in ("input_ids", "labels", "first", "n_truncated", "n_empty")}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return toy_tiny_model(tmp_path_factory.mktemp("que_ner"))


def toy_tagged(n: int, seed: int = 5) -> tuple[list[list[str]], list[list[str]]]:
    df = toy_sentences("en", n, seed=seed)
    return [list(t) for t in df["tokens"]], [[t if t[2:] in LABELS else "O" for t in s] for s in df["tags"]]


# ------------------------------------------------------------------------------ que=False unchanged


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("max_length", [64, 8])
def test_without_que_the_encoding_is_the_frozen_one(kind, max_length):
    tok = KINDS[kind][0]()
    enc = encode(tok, SENTS, TAGS, FROZEN_LABEL2ID, max_length)
    assert as_dict(enc) == FROZEN[(kind, max_length)]
    assert as_dict(encode(tok, SENTS, TAGS, FROZEN_LABEL2ID, max_length, que=False)) == as_dict(enc)
    assert QUE_TOKEN not in tok.all_special_tokens  # que=False does not touch the tokenizer


# ------------------------------------------------------------------------------------- que=True


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_que_gives_the_pair_template_with_que_as_first_sequence(kind):
    factory, (before, between, after) = KINDS[kind]
    tok = factory()
    plain = encode(tok, SENTS, TAGS, FROZEN_LABEL2ID, 64)
    enc = encode(tok, SENTS, TAGS, FROZEN_LABEL2ID, 64, que=True)
    que_id = que_token_id(tok)  # encode taught the tokenizer [QUE]
    assert que_id == add_que_token(tok) and tok.convert_ids_to_tokens(que_id) == QUE_TOKEN
    prefix = tok.convert_tokens_to_ids(before) + [que_id] + tok.convert_tokens_to_ids(between)
    suffix = tok.convert_tokens_to_ids(after)
    shift = len(prefix) - len(before)
    for i, words in enumerate(SENTS):
        body = plain.input_ids[i][len(before) : -len(after)]  # the sentence's sub-words
        ids = enc.input_ids[i]
        assert ids == prefix + body + suffix
        assert ids.count(que_id) == 1
        if words and all(words):  # the tokenizer's own pair encoding of (question "[QUE]", sentence)
            assert ids == tok(QUE_TOKEN, " ".join(words))["input_ids"]
        assert enc.first[i] == [f + shift if f >= 0 else -1 for f in plain.first[i]]
        expected = [IGNORE] * len(ids)
        for w, pos in enumerate(enc.first[i]):
            if pos >= 0:
                expected[pos] = FROZEN_LABEL2ID[TAGS[i][w]]
        assert enc.labels[i] == expected
        assert all(enc.labels[i][p] == IGNORE for p in range(len(prefix)))  # [QUE] and specials
        assert enc.labels[i][-1] == IGNORE
    assert enc.n_truncated == plain.n_truncated and enc.n_empty == plain.n_empty == [0, 0, 0, 2, 0]
    assert enc.first[1] == [] and enc.input_ids[1] == prefix + suffix  # empty sentence
    unlabelled = encode(tok, SENTS, None, None, 64, que=True)
    assert unlabelled.labels is None and unlabelled.input_ids == enc.input_ids


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_que_is_never_cut_only_the_sentence(kind):
    factory, (before, between, after) = KINDS[kind]
    tok = factory()
    words, tags = ["Ottawa"] * 6 + ["John"], ["B-LOC"] * 6 + ["B-PER"]  # 13 sub-words
    prefix_len = len(before) + 1 + len(between)
    max_length = prefix_len + 5 + len(after)  # room for 5 sub-words: "Ott awa Ott awa Ott"
    enc = encode(tok, [words], [tags], FROZEN_LABEL2ID, max_length, que=True)
    ids = enc.input_ids[0]
    assert len(ids) == max_length
    assert ids[:prefix_len] == encode(tok, [[]], None, None, 64, que=True).input_ids[0][:prefix_len]
    assert ids[prefix_len - len(between) - 1] == que_token_id(tok)
    assert ids[-len(after) :] == tok.convert_tokens_to_ids(after)
    assert enc.first[0] == [prefix_len, prefix_len + 2, prefix_len + 4, -1, -1, -1, -1]
    assert enc.n_truncated == [4] and enc.n_empty == [0]
    assert sum(1 for x in enc.labels[0] if x != IGNORE) == 3
    plain = encode(tok, [words], [tags], FROZEN_LABEL2ID, max_length - prefix_len + len(before))
    shift = prefix_len - len(before)
    assert enc.first[0] == [f + shift if f >= 0 else -1 for f in plain.first[0]]  # same words kept
    least = tok.num_special_tokens_to_add(pair=True) + 2
    assert len(encode(tok, [words], None, None, least, que=True).input_ids[0]) == least
    with pytest.raises(ValueError, match="with \\[QUE\\], max_length must be at least"):
        encode(tok, [words], None, None, least - 1, que=True)


def test_a_literal_que_in_the_sentence_is_not_the_que_token():
    tok = xlmr_tokenizer()
    enc = encode(tok, [["John", "[QUE]", "in"]], None, None, 64, que=True)
    assert enc.input_ids[0].count(que_token_id(tok)) == 1 and enc.first[0][1] > 0


def test_que_on_the_tiny_tokenizer_shifts_firsts_by_the_prefix(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    sents, tags = toy_tagged(20)
    for max_length in (64, 12):
        plain = encode(tok, sents, tags, LABEL2ID, max_length)
        enc = encode(tok, sents, tags, LABEL2ID, max_length + 3, que=True)  # <s> [QUE] </s></s> = 1 + 3
        assert [[f + 3 if f >= 0 else -1 for f in row] for row in plain.first] == enc.first
        assert enc.n_truncated == plain.n_truncated
        for a, b in zip(plain.input_ids, enc.input_ids, strict=True):
            assert b[4:] == a[1:] and b[1] == que_token_id(tok)


# -------------------------------------------------------------------------------- xTune's views


def own_pieces(tok, words):
    return [tok.convert_ids_to_tokens(tok(w, add_special_tokens=False)["input_ids"]) for w in words]


@pytest.mark.parametrize("max_length", [64, 12, 7, 6])
def test_encode_pieces_with_que_equals_encode_with_que(tiny_dir, max_length):
    tok = load_tokenizer(tiny_dir)
    sents, tags = toy_tagged(12)
    pieces = [own_pieces(tok, s) for s in sents]
    expected = encode(tok, sents, tags, LABEL2ID, max_length, que=True)
    assert encode_pieces(tok, pieces, tags, LABEL2ID, max_length, que=True) == expected
    assert special_ids(tok, que=True) == ([0, que_token_id(tok), 2, 2], [2])
    assert special_ids(tok) == ([0], [2])  # unchanged without [QUE]
    if max_length < 64:
        assert sum(expected.n_truncated) > 0
    with pytest.raises(ValueError, match="max_length"):
        encode_pieces(tok, pieces, None, None, 5, que=True)


def test_xtune_views_with_que_pair_word_k_with_word_k(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    sents, tags = toy_tagged(6)
    train_df = pd.DataFrame({"id": [f"s{i}" for i in range(len(sents))], "tokens": sents, "tags": tags})
    # view 0: re-segmented pieces (each word's pieces split into characters); view 1: the same words
    pieces = [[[c for p in w for c in p] for w in own_pieces(tok, s)] for s in sents]
    aug = pd.DataFrame(
        {
            "src_id": list(train_df["id"]) * 2,
            "view": [0] * len(sents) + [1] * len(sents),
            "tokens": sents + sents,
            "tags": tags + tags,
            "pieces": pieces + [None] * len(sents),
        }
    )
    recipe = ExampleConsistencyTagging.from_frames(train_df, aug, tok, LABEL2ID, 64, 3, 0, que=True)
    que_id = que_token_id(tok)
    view0 = encode_view(tok, aug[aug["view"] == 0].reset_index(drop=True), LABEL2ID, 64, que=True)
    assert recipe.views[0] == view0
    for enc in (recipe.orig, *recipe.views):
        assert all(row[:4] == [0, que_id, 2, 2] for row in enc.input_ids)
    idx = list(range(len(sents)))
    width_o, width_v = max(map(len, recipe.orig.input_ids)), max(map(len, recipe.views[0].input_ids))
    mask_o, mask_v = paired_masks(recipe.orig, recipe.views[0], idx, width_o, width_v)
    for r in idx:
        assert int(mask_o[r].sum()) == int(mask_v[r].sum()) == len(sents[r])
        # the paired positions carry the same word's label in both views, never [QUE]
        lo = [recipe.orig.labels[r][p] for p in mask_o[r].nonzero().flatten().tolist()]
        lv = [recipe.views[0].labels[r][p] for p in mask_v[r].nonzero().flatten().tolist()]
        assert lo == lv == [LABEL2ID[t] for t in tags[r]]
        assert not mask_o[r, :4].any() and not mask_v[r, :4].any()
    assert recipe.views[1] == recipe.orig  # a view with the original's words encodes the same


def test_build_recipe_passes_que_to_the_tagging_recipes_only_when_on(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    sents, tags = toy_tagged(4)
    train_df = pd.DataFrame({"id": [f"s{i}" for i in range(len(sents))], "tokens": sents, "tags": tags})
    aug = train_df.rename(columns={"id": "src_id"}).assign(view=0, pieces=None)
    for que in (False, True):
        task = TaggingTask(make_task("ner", ner_params()).info, LABELS, "bio", que=que)
        data = MethodData(train_df, tok, task.label2id, 2, 64, 0, task=task)
        recipe = build_recipe(data, "tagging", 1, aug)
        assert recipe.orig == encode(tok, sents, tags, task.label2id, 64, que=que)
    teacher = task.load_model(tiny_dir, seed=0)  # stage 2 (xtune): the teacher sees the [QUE] views too
    stage2 = build_recipe(data, "tagging", 2, aug, teacher)
    assert stage2.orig == recipe.orig and stage2.views == recipe.views
    batch = stage2.collate([0, 1])
    assert batch["input_ids"][:, 1].eq(que_token_id(tok)).all()
    assert torch.isfinite(stage2.loss(task.load_model(tiny_dir, seed=1), batch))


# ------------------------------------------------------------------------------- the task object


def ner_params(**extra) -> dict:
    return {"labels": LABELS, "scheme": "bio", "qa": {}, **extra}


def test_make_task_reads_que_token_and_meta_records_it_only_when_on():
    off, on = make_task("ner", ner_params()), make_task("ner", ner_params(que_token=True))
    assert (off.que, on.que) == (False, True)
    assert make_task("absa", ner_params(que_token=False)).que is False
    assert "que_token" not in off.meta()
    assert on.meta() == {**off.meta(), "que_token": True}


def test_method_data_encodes_with_the_tasks_que(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    sents, tags = toy_tagged(5)
    frame = pd.DataFrame({"tokens": sents, "tags": tags})
    for que in (False, True):
        task = make_task("ner", ner_params(que_token=que))
        data = MethodData(frame, tok, task.label2id, 2, 64, 0, task=task)
        assert data.que is que
        assert data.encode(frame) == encode(tok, sents, tags, task.label2id, 64, que=que)
    assert MethodData(frame, tok, LABEL2ID, 2, 64, 0).que is False


def test_load_model_gives_que_an_embedding_row(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    off = make_task("ner", ner_params()).load_model(tiny_dir, seed=0)
    on = make_task("ner", ner_params(que_token=True)).load_model(tiny_dir, seed=0)
    n = off.get_input_embeddings().num_embeddings
    assert n == len(tok) and on.get_input_embeddings().num_embeddings == n + 1
    assert add_que_token(tok) == n  # the row the resize added
    assert torch.equal(on.get_input_embeddings().weight[:n], off.get_input_embeddings().weight)
    assert torch.equal(on.classifier.weight, off.classifier.weight)  # same seeded head


def test_zero_shot_with_que_trains_and_predicts_well_formed_tags(tiny_dir):
    task = make_task("ner", ner_params(que_token=True))
    tok = load_tokenizer(tiny_dir)
    model = task.load_model(tiny_dir, seed=0)
    df = toy_sentences("en", 24, seed=1)
    df["tags"] = [[t if t[2:] in LABELS else "O" for t in s] for s in df["tags"]]
    data = MethodData(df, tok, task.label2id, 8, 64, 0, task=task)
    trainer = Trainer(train_config(seed=0, lr=5e-3, epochs=4, warmup_ratio=0.0))
    make_method("zero_shot", data).fit(model, trainer)
    loss = trainer.log["loss"].tolist()
    assert len(loss) == 12 and sum(loss[-3:]) < sum(loss[:3])
    test = toy_sentences("de", 6, split="test")
    tokens = [list(t) + ["[QUE]"] for t in test["tokens"]] + [[]]
    pred, n_cut, n_empty = predict_sentences(model, tok, tokens, 64, 4, que=True)
    assert [len(p) for p in pred] == [len(t) for t in tokens] and (n_cut, n_empty) == (0, 0)
    for tags in pred:
        assert set(tags) <= set(task.tagset)
        spans_from_tags(tags, "bio")  # well-formed enough to score
    enc = encode(tok, tokens, None, None, 64, que=True)
    assert pred == predict_tags(model, enc, [len(t) for t in tokens], 3, tok.pad_token_id)


# --------------------------------------------------------------------- finetune / predict steps

PREDICT = {"task": "ner", "labels": LABELS, "qa": {}, "method": "zero_shot", "seed": 3}
PREDICT |= {"batch_size": 4, "max_length": 64, "scheme": "bio", "device": "cpu"}


@pytest.fixture(scope="module")
def que_tagger(tiny_dir, tmp_path_factory):
    """A tagger fine-tuned by the finetune step with ``que_token: true`` (and its test set)."""
    root = tmp_path_factory.mktemp("que_ft")
    train_df, dev_df = toy_sentences("en", 24, split="train"), toy_sentences("en", 6, split="dev")
    for df in (train_df, dev_df):
        df["tags"] = [[t if t[2:] in LABELS else "O" for t in s] for s in df["tags"]]
    test_df = toy_sentences("de", 5, split="test")
    test_df["tags"] = [[t if t[2:] in LABELS else "O" for t in s] for s in test_df["tags"]]
    params = {
        **FINETUNE_SETTINGS,
        **PREDICT,
        "target_langs": ["de"],
        "method_params": {},
        "lr": 5e-3,
        "epochs": 2,
        "max_steps": 6,
        "eval_steps": 3,
        "que_token": True,
    }
    ctx = StepContext(
        input={
            "train": write_sentences(train_df, root / "train.parquet"),
            "dev": write_sentences(dev_df, root / "dev.parquet"),
            "model": [tiny_dir],
        },
        output={"model": str(root / "model"), "log": str(root / "log.parquet")},
        params={**params, "model_name_or_path": "tiny"},
    )
    finetune.main(ctx)
    return {
        "model": root / "model",
        "log": root / "log.parquet",
        "test": write_sentences(test_df, root / "t.pq"),
    }


def test_finetune_with_que_saves_its_marker_tokenizer_and_embedding_row(que_tagger, tiny_dir):
    folder = que_tagger["model"]
    meta = json.loads((folder / finetune.META_FILE).read_text())
    assert meta["que_token"] is True and meta["tagset"] == TAGSET
    tok = load_tokenizer(str(folder))
    assert QUE_TOKEN in tok.all_special_tokens
    assert que_token_id(tok) == len(load_tokenizer(tiny_dir))
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(folder)
    assert model.get_input_embeddings().num_embeddings == len(tok)
    assert len(read_artifact(que_tagger["log"], TRAIN_LOG)) == 6


def test_predict_with_que_and_the_mismatch_errors(que_tagger, tiny_dir, tmp_path):
    out = tmp_path / "pred.parquet"
    folder = str(que_tagger["model"])

    def run(model_dir, **extra):
        predict.main(
            StepContext(
                {"model": model_dir, "examples": que_tagger["test"]},
                {"predictions": str(out)},
                {**PREDICT, **extra},
            )
        )

    run(folder, que_token=True)
    pred = read_artifact(out, PREDICTIONS)
    assert len(pred) == 5 and [len(p) for p in pred["pred"]] == [len(t) for t in pred["tokens"]]
    assert all(set(p) <= set(TAGSET) for p in pred["pred"])
    out.unlink()
    with pytest.raises(ConfigError, match="model.que_token"):  # fine-tuned with [QUE], predicted without
        run(folder)
    assert not out.exists()
    # a tagger fine-tuned without [QUE] (its record has no que_token), predicted with it
    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    meta = json.loads((plain / finetune.META_FILE).read_text())
    del meta["que_token"]
    (plain / finetune.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="model.que_token"):
        run(str(plain), que_token=True)
    with pytest.raises(ConfigError, match="model.que_token"):  # the task's own loader checks it too
        make_task("ner", ner_params(que_token=True)).load_model(str(plain), seed=0)
    with pytest.raises(ConfigError, match="model.que_token"):
        make_task("ner", ner_params()).load_model(folder, seed=0)
    check_que_meta(tiny_dir, True)  # a base model has no record: nothing to check
    with pytest.raises(ConfigError, match="no embedding row for \\[QUE\\]"):
        run(tiny_dir, que_token=True)  # no record, and no [QUE] in its vocabulary
    assert not out.exists()
