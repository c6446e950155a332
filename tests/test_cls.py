"""Sentence(-pair) classification and extractive QA inputs (issue 9): the readers on small fixtures and
on the real files, the classifier's pair encoding and training, the metrics, the demo sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import demo_generator

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.formats import artifact_for, options, read
from pipeline_steps.metrics.classification import accuracy, classification_scores, macro_f1, per_label
from pipeline_steps.models.sequence_classification import (
    cls_labels,
    cls_loss,
    collate,
    encode_cls,
    load_cls_model,
    predict_cls,
)
from pipeline_steps.schemas import CLS_EXAMPLES, QA_EXAMPLES, SENTENCES, validate

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).resolve().parent / "data" / "cls"
DEMO = ROOT / "resources" / "demo"
NLI = ["entailment", "neutral", "contradiction"]


def rows(df, *cols):
    return [tuple(r) for r in df[list(cols)].itertuples(index=False)]


# --- readers on fixtures ---------------------------------------------------------------------------


def test_artifact_and_options_of_the_classification_formats():
    for fmt in ("xnli", "mnli_json", "xlmt", "sib200"):
        assert artifact_for(fmt) is CLS_EXAMPLES
    assert artifact_for("squad") is QA_EXAMPLES and artifact_for("tsv") is SENTENCES
    assert options("xnli") == ("encoding", "label_names")
    assert options("xlmt") == ("encoding", "label_names", "unescape")
    assert options("sib200") == ("encoding",)
    assert options("squad") == ("encoding", "question_ids")


def test_xnli_labelled():
    path = str(FIX / "xnli.tsv")
    df = validate(read(path, "xnli", "en", "dev", labels=NLI, require_tags=True), CLS_EXAMPLES)
    assert rows(df, "id", "text_a", "text_b", "label", "line") == [
        ("dev-en-000000", "A man is playing a guitar.", "A man plays music.", "entailment", 1),
        ("dev-en-000001", "A woman reads a book.", "The woman is asleep.", "contradiction", 2),
        ("dev-en-000002", "Two kids play football.", "The kids are brothers.", "neutral", 3),
    ]
    assert set(df["source"]) == {path} and set(df["lang"]) == {"en"} and set(df["split"]) == {"dev"}
    assert str(df["line"].dtype) == "int64"


def test_xnli_unlabelled_and_numeric_labels(tmp_path):
    df = read(str(FIX / "xnli.unlabelled.tsv"), "xnli", "de", "test", labels=NLI)
    assert rows(df, "text_a", "text_b", "label", "line") == [
        ("Ein Mann spielt Gitarre.", "Ein Mann macht Musik.", None, 1),
        ("Zwei Kinder spielen Fußball.", "Die Kinder sind Brüder.", None, 2),
    ]
    p = tmp_path / "num.tsv"
    p.write_text("a\tb\t2\nc\td\t0\n", encoding="utf-8")
    assert list(read(str(p), "xnli", "en", "x", label_names=NLI)["label"]) == ["contradiction", "entailment"]


def test_mnli_json_item_key_is_the_line():
    df = validate(read(str(FIX / "mnli.json"), "mnli_json", "en", "train", labels=NLI), CLS_EXAMPLES)
    assert rows(df, "id", "text_a", "text_b", "label", "line") == [
        ("train-en-000000", "The cat sat on the mat.", "A cat was sitting.", "entailment", 0),
        ("train-en-000001", "It rained all day.", "The ground stayed dry.", "contradiction", 7),
    ]


def test_xlmt_labels_file_next_to_the_text_and_unescaping():
    df = validate(read(str(FIX / "xlmt" / "train_text.txt"), "xlmt", "en", "train"), CLS_EXAMPLES)
    assert rows(df, "text_a", "text_b", "label", "line") == [
        ("I love this \u2019song\u2019", None, "positive", 1),
        ("meh, whatever", None, "neutral", 2),
        ("worst day ever", None, "negative", 3),
    ]
    raw = read(str(FIX / "xlmt" / "train_text.txt"), "xlmt", "en", "train", unescape=False)
    assert raw["text_a"].iloc[1] == "meh\\u002c whatever"
    named = read(str(FIX / "xlmt" / "train_text.txt"), "xlmt", "en", "train", label_names=["n", "o", "p"])
    assert list(named["label"]) == ["p", "o", "n"]
    unlabelled = read(str(FIX / "xlmt" / "test_text.txt"), "xlmt", "de", "test")
    assert rows(unlabelled, "text_a", "label") == [("nur Text", None)]


def test_sib200_header_columns_and_quoting():
    df = validate(read(str(FIX / "sib200.tsv"), "sib200", "en", "train"), CLS_EXAMPLES)
    assert rows(df, "id", "text_a", "text_b", "label", "line") == [
        ("train-en-000000", "The team won the cup.", None, "sports", 2),
        ("train-en-000001", 'He said "drink water" daily.', None, "health", 3),
    ]


def test_bad_label_names_and_question_ids_are_config_errors():
    with pytest.raises(ConfigError, match="label_names"):
        read(str(FIX / "xnli.tsv"), "xnli", "en", "x", label_names="entailment")
    with pytest.raises(ConfigError, match="labels must be a list"):
        read(str(FIX / "xnli.tsv"), "xnli", "en", "x", labels="entailment")
    with pytest.raises(ConfigError, match="question_ids"):
        read(str(ROOT / "tests/data/formats/squad.json"), "squad", "en", "x", question_ids="index")


def test_xnli_text_is_nfc_normalised(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("Mu\u0308nchen ist gross.\tEs liegt in Bayern.\tneutral\n", encoding="utf-8")
    assert read(str(p), "xnli", "de", "x")["text_a"].iloc[0] == "M\u00fcnchen ist gross."


def test_squad_repeated_ids_numbered_by_position(tmp_path):
    text = (ROOT / "tests/data/formats/squad.json").read_text(encoding="utf-8").replace('"q3"', '"q1"')
    p = tmp_path / "dup.json"
    p.write_text(text, encoding="utf-8")
    df = read(str(p), "squad", "en", "train", question_ids="position")
    assert list(df["id"]) == ["train-en-000000", "train-en-000001", "train-en-000002"]


# --- the real files (counts from each SOURCE.txt) ------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "de", "es", "zh"])
def test_real_xnli(shared_data, lang):
    dev = read(str(shared_data / f"xnli/dev-{lang}.tsv"), "xnli", lang, "dev", labels=NLI, require_tags=True)
    assert len(dev) == 2490 and dev["label"].value_counts().to_dict() == dict.fromkeys(NLI, 830)
    if lang != "zh" or (shared_data / f"xnli/test-{lang}.unlabelled.tsv").exists():
        test = read(str(shared_data / f"xnli/test-{lang}.unlabelled.tsv"), "xnli", lang, "test")
        assert len(test) == 5010 and test["label"].isna().all()


def test_real_mnli_subset(shared_data):
    train = read(str(shared_data / "mnli-subset/train.json"), "mnli_json", "en", "train", labels=NLI)
    dev = read(str(shared_data / "mnli-subset/dev.json"), "mnli_json", "en", "dev", labels=NLI)
    assert (len(train), len(dev)) == (8999, 1000)
    assert list(train["line"][:3]) == [0, 1, 2] and set(train["label"]) == set(NLI)


@pytest.mark.parametrize("language", ["english", "german", "spanish", "french"])
def test_real_xlmt(shared_data, language):
    sizes = {}
    for split in ("train", "val", "test"):
        path = shared_data / f"xlm-t-sentiment/{language}/{split}_text.txt"
        df = read(str(path), "xlmt", language[:2], split, labels=["negative", "neutral", "positive"])
        assert df["label"].notna().all()
        sizes[split] = len(df)
    assert sizes == {"train": 1839, "val": 324, "test": 870}


@pytest.mark.parametrize("lang", ["eng_Latn", "deu_Latn", "spa_Latn", "zho_Hans"])
def test_real_sib200(shared_data, lang):
    labels = (shared_data / f"sib-200/{lang}/labels.txt").read_text(encoding="utf-8").split()
    sizes = {}
    for split in ("train", "dev", "test"):
        df = read(str(shared_data / f"sib-200/{lang}/{split}.tsv"), "sib200", lang, split, labels=labels)
        assert set(df["label"]) <= set(labels)
        sizes[split] = len(df)
    assert sizes == {"train": 701, "dev": 99, "test": 204}
    assert len(labels) == 7


@pytest.mark.parametrize(
    ("rel", "lang", "opts", "n"),
    [
        ("tydiqa-goldp/tydiqa.goldp.en.train.json", "en", {"question_ids": "position"}, 3696),
        ("xquad/xquad.es.json", "es", {}, 1190),
        ("mlqa/dev/dev-context-en-question-en.json", "en", {}, 1148),  # MLQA: counts not in SOURCE.txt
        ("mlqa/dev/dev-context-de-question-de.json", "de", {}, 512),
        ("mlqa/dev/dev-context-es-question-es.json", "es", {}, 500),
    ],
)
def test_real_squad_files(shared_data, rel, lang, opts, n):
    df = validate(read(str(shared_data / rel), "squad", lang, "x", **opts), QA_EXAMPLES)
    assert len(df) == n
    for ctx, texts, starts in zip(df["context"], df["answer_texts"], df["answer_starts"], strict=True):
        assert [ctx[s : s + len(t)] for t, s in zip(texts, starts, strict=True)] == texts


def test_real_tydiqa_dev_has_no_gold_answers(shared_data):
    """The shared dev copy has every answer text empty; config/qa.yaml carves its dev set from train."""
    with pytest.raises(InputFormatError, match="answer 0 has an empty text"):
        read(str(shared_data / "tydiqa-goldp/tydiqa.goldp.en.dev.json"), "squad", "en", "dev")


def test_real_tydiqa_train_repeats_question_ids(shared_data):
    with pytest.raises(InputFormatError, match="question_ids: position") as e:
        read(str(shared_data / "tydiqa-goldp/tydiqa.goldp.en.train.json"), "squad", "en", "train")
    assert "occurs twice (first on line" in e.value.message


# --- metrics, by hand ----------------------------------------------------------------------------------


def test_metrics_by_hand():
    gold = ["entailment", "entailment", "neutral", "contradiction", "contradiction", "contradiction"]
    pred = ["entailment", "neutral", "neutral", "contradiction", "entailment", "contradiction"]
    # entailment tp 1, gold 2, pred 2 -> F1 2/4; neutral tp 1, gold 1, pred 2 -> 2/3; contradiction
    # tp 2, gold 3, pred 2 -> 4/5; accuracy 4/6
    assert accuracy(gold, pred) == pytest.approx(4 / 6)
    assert macro_f1(gold, pred, NLI) == pytest.approx((1 / 2 + 2 / 3 + 4 / 5) / 3)
    scores = per_label(gold, pred, NLI)
    assert scores["neutral"] == pytest.approx(
        {"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1, "used": True}
    )
    # a configured label nobody used is left out of the macro average
    assert macro_f1(gold, pred, [*NLI, "unused"]) == pytest.approx((1 / 2 + 2 / 3 + 4 / 5) / 3)
    # a label only predicted counts with F1 0
    assert macro_f1(["entailment", "entailment"], ["entailment", "neutral"], NLI) == pytest.approx(
        (2 / 3 + 0) / 2
    )
    assert classification_scores(gold, gold, NLI) == {"accuracy": 1.0, "macro_f1": 1.0}


def test_metrics_reject_labels_outside_the_set_and_length_mismatch():
    with pytest.raises(ValueError, match="maybe"):
        macro_f1(["entailment"], ["maybe"], NLI)
    with pytest.raises(ValueError):
        accuracy(["entailment"], [])


# --- the classifier: pair encoding, training, prediction ----------------------------------------------


@pytest.fixture(scope="module")
def tiny_cls_model(tmp_path_factory) -> str:
    from _helpers_model import TINY_PARAMS

    from pipeline_steps.models.tiny import TinySettings, build_tiny_model

    df = read(str(DEMO / "cls/en.train.tsv"), "xnli", "en", "train")
    texts = list(df["text_a"]) + list(df["text_b"])
    return str(build_tiny_model(texts, tmp_path_factory.mktemp("cls") / "tiny", TinySettings(**TINY_PARAMS)))


def test_pair_is_fed_to_the_tokenizer_as_one_pair(tiny_cls_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_cls_model)
    enc = encode_cls(tok, ["Anna bought a book."], ["Anna was in Rome."], [0])
    ids = enc.input_ids[0]
    a = tok("Anna bought a book.", add_special_tokens=False)["input_ids"]
    b = tok("Anna was in Rome.", add_special_tokens=False)["input_ids"]
    bos, eos = tok.bos_token_id, tok.eos_token_id
    assert ids == [bos, *a, eos, eos, *b, eos]  # XLM-R pair layout: <s> a </s></s> b </s>
    assert ids == tok("Anna bought a book.", "Anna was in Rome.")["input_ids"]
    single = encode_cls(tok, ["Anna bought a book."])
    assert single.input_ids[0] == [bos, *a, eos] and single.labels is None


def test_pair_token_type_ids_with_a_bert_tokenizer():
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e", "f"]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})
    enc = encode_cls(tok, ["a b c", "a"], ["d e", "f"], [1, 2], max_length=16)
    assert enc.input_ids[0] == [2, 5, 6, 7, 3, 8, 9, 3]
    assert enc.token_type_ids[0] == [0, 0, 0, 0, 0, 1, 1, 1]
    batch = collate(enc, [0, 1])
    assert batch["token_type_ids"].tolist()[1] == [0, 0, 0, 1, 1, 0, 0, 0]
    assert batch["attention_mask"].tolist()[1] == [1] * 5 + [0] * 3
    assert batch["labels"].tolist() == [1, 2]
    # longest_first: the longer first text is cut, the pair stays one pair
    cut = encode_cls(tok, ["a b c d e f a b"], ["f"], max_length=7)
    assert cut.input_ids[0] == [2, 5, 6, 7, 3, 10, 3] and cut.n_truncated == 1


def test_a_few_training_steps_on_the_demo_set_lower_the_loss(tiny_cls_model):
    from transformers import AutoTokenizer

    df = read(str(DEMO / "cls/en.train.tsv"), "xnli", "en", "train", labels=NLI, require_tags=True)
    df = df.head(48)
    tok = AutoTokenizer.from_pretrained(tiny_cls_model)
    model = load_cls_model(tiny_cls_model, NLI, seed=0)
    assert cls_labels(model) == NLI and model.config.label2id == {
        "entailment": 0,
        "neutral": 1,
        "contradiction": 2,
    }
    label2id = model.config.label2id
    enc = encode_cls(tok, df["text_a"], df["text_b"], [label2id[x] for x in df["label"]], max_length=64)
    full = collate(enc, range(len(enc)))

    def loss_now() -> float:
        model.eval()
        with torch.no_grad():
            return float(cls_loss(model, full))

    before = loss_now()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(30):
        idx = torch.randperm(len(enc), generator=gen)[:16].tolist()
        loss = cls_loss(model, collate(enc, idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = loss_now()
    assert after < before - 0.05, (before, after)
    model.train()
    pred, probs = predict_cls(model, enc, batch_size=20)
    assert pred.shape == (48,) and probs.shape == (48, 3)
    assert probs.sum(axis=1) == pytest.approx(1.0, abs=1e-5) and (pred == probs.argmax(axis=1)).all()
    assert model.training  # predict_cls restores the mode
    # length-grouped batches give every row the probabilities it gets alone, in the input's order
    alone_pred, alone = predict_cls(model, enc, batch_size=1)
    assert alone == pytest.approx(probs, abs=1e-5) and (alone_pred == pred).all()


def test_head_initialisation_is_seeded(tiny_cls_model):
    a = load_cls_model(tiny_cls_model, NLI, seed=3).classifier.out_proj.weight
    b = load_cls_model(tiny_cls_model, NLI, seed=3).classifier.out_proj.weight
    c = load_cls_model(tiny_cls_model, NLI, seed=4).classifier.out_proj.weight
    assert torch.equal(a, b) and not torch.equal(a, c)


# --- demo data ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["cls", "qa"])
def test_demo_files_are_the_generator_output(folder):
    files = demo_generator(folder).render()
    for name, text in files.items():
        assert (DEMO / folder / name).read_text(encoding="utf-8") == text, name


def test_demo_cls_sets():
    sizes = {}
    for lang, split in [("en", "train"), ("en", "dev"), ("en", "test"), ("de", "dev"), ("de", "test"),
                        ("es", "dev"), ("es", "test")]:  # fmt: skip
        df = read(str(DEMO / f"cls/{lang}.{split}.tsv"), "xnli", lang, split, labels=NLI, require_tags=True)
        sizes[lang, split] = df
    assert [len(sizes["en", s]) for s in ("train", "dev", "test")] == [200, 40, 40]
    for lang in ("de", "es"):
        assert list(sizes[lang, "test"]["label"]) == list(sizes["en", "test"]["label"])  # translations
    train = sizes["en", "train"]
    assert set(train["label"].value_counts()) <= {66, 67}
    seen = {
        (a, b)
        for s in sizes
        for a, b in zip(sizes[s]["text_a"], sizes[s]["text_b"], strict=True)
        if s[0] == "en"
    }
    assert len(seen) == 280  # no pair twice, none shared between splits
    from pipeline_steps.translate.file import read_translation_file

    for lang in ("de", "es"):
        table = read_translation_file(DEMO / f"cls/translations.en-{lang}.tsv")
        assert set(train["text_a"]) | set(train["text_b"]) == set(table)


def test_demo_qa_sets():
    sizes = {}
    for name in ("en.train", "en.dev", "en.test", "de.test", "es.test"):
        lang, split = name.split(".")
        df = validate(read(str(DEMO / f"qa/{name}.json"), "squad", lang, split), QA_EXAMPLES)
        sizes[name] = len(df)
        for ctx, texts, starts in zip(df["context"], df["answer_texts"], df["answer_starts"], strict=True):
            assert [ctx[s : s + len(t)] for t, s in zip(texts, starts, strict=True)] == texts
    assert sizes == {"en.train": 150, "en.dev": 30, "en.test": 30, "de.test": 30, "es.test": 30}
    ids = {lang: [q["id"] for a in json.loads((DEMO / f"qa/{lang}.test.json").read_text())["data"]
                  for p in a["paragraphs"] for q in p["qas"]] for lang in ("en", "de", "es")}  # fmt: skip
    assert ids["en"] == ids["de"] == ids["es"]  # parallel, as XQuAD
