"""Extractive QA: SQuAD v1.1 / MLQA EM and F1 against hand computations; window encoding, training labels
and span decoding on a word-level tokenizer (one sub-word per word, so every position is known by hand);
the span loss, prediction and a few training steps on the tiny XLM-R-style encoder."""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _helpers_model import LOC, ORG, PER, TINY_PARAMS, train_config

from pipeline_steps.errors import ConfigError
from pipeline_steps.metrics import exact_match, f1_score, normalize_answer, squad_scores
from pipeline_steps.metrics.qa import example_scores
from pipeline_steps.models.question_answering import (
    QAAnswer,
    QAFeatures,
    SupervisedQA,
    decode_answers,
    encode_qa,
    load_qa_model,
    load_tokenizer,
    predict_qa,
    qa_loss,
)
from pipeline_steps.models.tiny import TinySettings, build_tiny_model
from pipeline_steps.train import train

# ---------------------------------------------------------------------------------------- metrics


def test_squad_normalisation_lowercases_and_strips_punctuation_articles_whitespace():
    assert normalize_answer("  The Eiffel-Tower,\tin  PARIS! ") == "eiffeltower in paris"
    # articles only as whole words: 'theatre', 'Anne' and 'another' keep their letters
    assert normalize_answer("An apple at the theatre with Anne and another") == (
        "apple at theatre with anne and another"
    )


@pytest.mark.parametrize(
    ("pred", "gold", "em", "f1"),
    [
        ("the Eiffel Tower", "Eiffel Tower.", 1.0, 1.0),  # article and punctuation
        ("  Paris\t\nFrance ", "Paris France", 1.0, 1.0),  # whitespace
        ("in Paris France", "Paris", 0.0, 0.5),  # P = 1/3, R = 1: 2PR/(P+R) = (2/3)/(4/3)
        ("Eiffel Tower in Paris", "the tower of Paris", 0.0, 4 / 7),  # P = 2/4, R = 2/3: (2/3)/(7/6)
        ("paris paris", "paris", 0.0, 2 / 3),  # counts are clipped: same = 1, P = 1/2, R = 1
        ("Berlin", "Paris", 0.0, 0.0),
        # v1.1: no shared token means F1 0, also when both normalise to nothing (EM is still 1)
        ("", "The", 1.0, 0.0),
        ("a", "the!", 1.0, 0.0),
    ],
)
def test_squad_em_f1_by_hand(pred, gold, em, f1):
    assert exact_match(pred, gold) == em
    assert f1_score(pred, gold) == pytest.approx(f1)


def test_squad_scores_take_the_best_gold_and_average_as_fractions():
    preds = ["Paris", "Paris", "the red mat"]
    golds = [
        ["the city of Paris", "Paris, France", "paris"],  # EM 1 (third), F1 1
        ["city of Paris", "Paris France"],  # EM 0; F1 max(1/2 (R=1/3), 2/3 (R=1/2)) = 2/3
        ["under the red mat"],  # EM 0; P = 2/2, R = 2/3: F1 = 4/5
    ]
    assert example_scores(preds, golds) == [
        (1.0, 1.0),
        (0.0, pytest.approx(2 / 3)),
        (0.0, pytest.approx(4 / 5)),
    ]
    scores = squad_scores(preds, golds)
    assert scores["n"] == 3
    assert scores["em"] == pytest.approx(1 / 3)
    assert scores["f1"] == pytest.approx((1 + 2 / 3 + 4 / 5) / 3)
    empty = squad_scores([], [])
    assert empty["n"] == 0 and math.isnan(empty["em"]) and math.isnan(empty["f1"])


def test_squad_scores_reject_bad_input():
    with pytest.raises(ValueError, match="2 predictions but 1"):
        squad_scores(["a", "b"], [["a"]])
    with pytest.raises(ValueError, match="question 0 has no gold answer"):
        squad_scores(["a"], [[]])
    with pytest.raises(ConfigError, match="unknown QA metric variant"):
        squad_scores(["a"], [["a"]], variant="squad2")


def test_mlqa_strips_the_languages_articles_the_squad_script_keeps():
    # Spanish: 'la' is an article under mlqa/es only; under squad 'la casa' vs 'casa' is P=1/2, R=1
    assert exact_match("la casa", "casa", "es", "mlqa") == 1.0
    assert exact_match("la casa", "casa") == 0.0
    assert f1_score("la casa", "casa") == pytest.approx(2 / 3)
    assert f1_score("los años", "unos años", "es", "mlqa") == 1.0
    # German: der/die/das/... and ein/eine/...
    assert exact_match("der Vertrag von Versailles", "Vertrag von Versailles", "de", "mlqa") == 1.0
    assert exact_match("der Vertrag von Versailles", "Vertrag von Versailles", lang="de") == 0.0
    assert normalize_answer("Einem Mann, einer Frau und dem Kind", "de", "mlqa") == "mann frau und kind"
    # English articles as in SQuAD; none for Hindi
    assert normalize_answer("The red mat", "en", "mlqa") == "red mat"
    assert normalize_answer("The Taj", "hi", "mlqa") == "the taj"
    # Vietnamese
    assert exact_match("của Hà Nội", "Hà Nội", "vi", "mlqa") == 1.0
    # Arabic: the script's regex removes the letter pair 'ال' wherever it occurs
    assert normalize_answer("القاهرة", "ar", "mlqa") == "قاهرة"
    assert exact_match("القاهرة", "قاهرة", "ar", "mlqa") == 1.0


def test_mlqa_strips_unicode_punctuation():
    assert normalize_answer("«París»", "es", "mlqa") == "parís"
    assert exact_match("«Paris»", "Paris", "en", "mlqa") == 1.0
    assert exact_match("«Paris»", "Paris") == 0.0  # « » are not in string.punctuation
    # '¿' and '?' go, then the article: 'el año 1990' -> 'año 1990'; vs '1990': P = 1/2, R = 1
    assert normalize_answer("¿El año 1990?", "es", "mlqa") == "año 1990"
    assert f1_score("¿El año 1990?", "1990", "es", "mlqa") == pytest.approx(2 / 3)
    assert exact_match("北京、上海。", "北京上海", "zh", "mlqa") == 1.0


def test_mlqa_chinese_f1_is_per_character():
    assert normalize_answer("2008年 北京abc", "zh", "mlqa") == "2008 年 北 京 abc"
    # 北 京 大 学 vs 北 京: same = 2, P = 2/4, R = 1 -> 2/3; SQuAD sees two different words -> 0
    assert f1_score("北京大学", "北京", "zh", "mlqa") == pytest.approx(2 / 3)
    assert f1_score("北京大学", "北京") == 0.0
    assert f1_score("北京大学", "北京", "zh-CN", "mlqa") == pytest.approx(2 / 3)
    scores = squad_scores(["北京大学", "上海"], [["北京"], ["上海", "上海市"]], lang="zh", variant="mlqa")
    assert scores == {"em": 0.5, "f1": pytest.approx((2 / 3 + 1) / 2), "n": 2}


def test_mlqa_needs_a_known_language():
    with pytest.raises(ConfigError, match="needs the answers' language"):
        squad_scores(["a"], [["a"]], variant="mlqa")
    with pytest.raises(ConfigError, match="not 'fr'.*variant 'squad'"):
        squad_scores(["a"], [["a"]], lang="fr", variant="mlqa")


# ------------------------------------------------------------- a word-level tokenizer (1 word = 1 id)

QUESTION = "what did she hide ?"  # 5 tokens: with [CLS] q [SEP] c [SEP], the context starts at position 7
CONTEXT = "after a long day she walked home and hid the old key under the red mat by the door ."
#          0     1 2    3   4   5      6    7   8   9   10  11  12    13  14  15  16 17  18   19


def _words(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]+", text)


@pytest.fixture(scope="module")
def word_tok():
    """A BERT-style fast tokenizer over a word-level vocabulary: [CLS] q [SEP] c [SEP], type ids 0/1."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    texts = [QUESTION, CONTEXT, "where is the key ? who hid it", "very " * 20]
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = sorted({w for t in texts for w in _words(t)})
    vocab = {w: i for i, w in enumerate(special + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def _window_words(feats: QAFeatures, i: int, context: str) -> list[str]:
    return [context[o[0] : o[1]] for o in feats.context_offsets(i) if o is not None]


def test_encode_splits_a_long_context_into_overlapping_windows(word_tok):
    # max_length 16 - 5 question tokens - 3 special = 8 context words per window; stride 2 shared:
    # windows hold words 0-7, 6-13, 12-19
    feats = encode_qa(word_tok, [QUESTION], [CONTEXT], max_length=16, doc_stride=2)
    words = _words(CONTEXT)
    assert len(feats) == 3
    assert feats.example_index.tolist() == [0, 0, 0]
    assert [_window_words(feats, i, CONTEXT) for i in range(3)] == [words[0:8], words[6:14], words[12:20]]
    assert feats.start_positions is None and feats.end_positions is None
    offs = feats.context_offsets(1)
    assert offs[:7] == [None] * 7  # [CLS] what did she hide ? [SEP]
    assert offs[7] == (CONTEXT.index("home"), CONTEXT.index("home") + 4)
    assert offs[15] is None  # the closing [SEP]
    assert feats.token_type_ids is not None
    assert feats.token_type_ids[1].tolist() == [0] * 7 + [1] * 9
    # the last window is shorter: padded on the right, mask 0, offsets None
    assert feats.attention_mask[2].tolist() == [1] * 16
    short = encode_qa(word_tok, [QUESTION, QUESTION], ["the key", CONTEXT], max_length=16, doc_stride=2)
    assert short.example_index.tolist() == [0, 1, 1, 1]
    assert short.attention_mask[0].tolist() == [1] * 10 + [0] * 6
    assert short.input_ids[0, 10:].tolist() == [word_tok.pad_token_id] * 6
    assert short.context_offsets(0)[7:] == [(0, 3), (4, 7)] + [None] * 7


def encode_answers(tokenizer, answers: list[str]):
    """Training features of QUESTION over CONTEXT, once per answer (each a span of CONTEXT), windows of
    16 sub-words with stride 2."""
    return encode_qa(
        tokenizer,
        [QUESTION] * len(answers),
        [CONTEXT] * len(answers),
        max_length=16,
        doc_stride=2,
        answer_starts=[[CONTEXT.index(a)] for a in answers],
        answer_texts=[[a] for a in answers],
    )


def test_encode_training_labels_point_at_the_answer_only_in_windows_that_hold_it(word_tok):
    answers = ["hid the old key", "home and", "day she walked home and hid"]
    starts = [CONTEXT.index(a) for a in answers]
    assert starts[0] == 37  # 'after a long day she walked home and ' has 37 characters
    feats = encode_answers(word_tok, answers)
    assert feats.example_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    labels = list(zip(feats.start_positions.tolist(), feats.end_positions.tolist(), strict=True))
    # answer 0 = words 8-11: only window 1 (words 6-13, word j at position 7 + j - 6)
    # answer 1 = words 6-7: window 0 (position 7 + j) and window 1; answer 2 = words 3-8: in no window whole
    assert labels == [(0, 0), (9, 12), (0, 0), (13, 14), (7, 8), (0, 0), (0, 0), (0, 0), (0, 0)]
    for f, (s, e) in enumerate(labels):
        if s:
            lo, hi = feats.offsets[f, s, 0], feats.offsets[f, e, 1]
            assert CONTEXT[lo:hi] == answers[feats.example_index[f]]
    batch = feats.batch([1, 4])
    assert batch["start_positions"].tolist() == [9, 7]
    assert batch["end_positions"].tolist() == [12, 8]
    assert set(batch) == {
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "start_positions",
        "end_positions",
    }


def test_encode_uses_the_first_gold_answer_and_labels_unanswerable_examples_cls(word_tok):
    feats = encode_qa(
        word_tok,
        [QUESTION, QUESTION],
        ["she hid the key", "she hid the key"],
        max_length=16,
        doc_stride=2,
        answer_starts=[[4, 0], []],
        answer_texts=[["hid", "she hid"], []],
    )
    assert feats.start_positions.tolist() == [8, 0]
    assert feats.end_positions.tolist() == [8, 0]


def test_encode_rejects_what_it_cannot_encode(word_tok):
    with pytest.raises(ConfigError, match="not a fast tokenizer"):
        encode_qa(SimpleNamespace(is_fast=False), [QUESTION], [CONTEXT])
    with pytest.raises(ConfigError, match="leaves no room for the context"):
        encode_qa(word_tok, ["very " * 14], [CONTEXT], max_length=16, doc_stride=2)
    # a stride that does not fit the window would make the Rust tokenizer panic
    with pytest.raises(ConfigError, match="doc_stride 8 must be smaller"):
        encode_qa(word_tok, [QUESTION], [CONTEXT], max_length=16, doc_stride=8)
    with pytest.raises(ConfigError, match="doc_stride 128 must be smaller than max_length 32"):
        encode_qa(word_tok, [QUESTION], ["the key"], max_length=32)
    with pytest.raises(ValueError, match="answer 'key' is not at character 0"):
        encode_qa(word_tok, [QUESTION], [CONTEXT], answer_starts=[[0]], answer_texts=[["key"]])


def _logits(feats: QAFeatures) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(feats.input_ids.shape), np.zeros(feats.input_ids.shape)


def test_decode_finds_an_answer_that_only_the_second_window_holds(word_tok):
    feats = encode_qa(word_tok, [QUESTION], [CONTEXT], max_length=16, doc_stride=2)
    start, end = _logits(feats)
    # window 1: start on 'hid' (word 8, position 9), end on 'key' (word 11, position 12): 5 + 4 = 9
    start[1, 9], end[1, 12] = 5.0, 4.0
    # window 0 offers 'a long' (positions 8-9) for 3 + 3 = 6, window 2 'the red' (13-14) for 8.5
    start[0, 8], end[0, 9] = 3.0, 3.0
    start[2, 9], end[2, 10] = 4.5, 4.0
    [answer] = decode_answers(start, end, feats, [CONTEXT])
    assert (answer.text, answer.start, answer.score, answer.feature) == ("hid the old key", 37, 9.0, 1)
    assert CONTEXT[answer.start : answer.start + len(answer.text)] == answer.text
    # torch tensors work the same
    [again] = decode_answers(torch.tensor(start), torch.tensor(end), feats, [CONTEXT])
    assert again == answer


def test_decode_never_returns_a_span_in_the_question(word_tok):
    feats = encode_qa(word_tok, [QUESTION], ["she hid the key under the mat"], max_length=32, doc_stride=4)
    start, end = _logits(feats)
    start[0, :7], end[0, :7] = 100.0, 100.0  # [CLS] what did she hide ? [SEP]
    start[0, 14], end[0, 14] = 100.0, 100.0  # the closing [SEP]
    start[0, 9], end[0, 10] = 2.0, 1.0  # 'the key' (context words 2-3 at positions 9-10)
    end[0, 8] = 1.5  # an end before the best start: never paired with it
    [answer] = decode_answers(start, end, feats, ["she hid the key under the mat"])
    assert (answer.text, answer.start, answer.score) == ("the key", 8, 3.0)


def test_decode_honours_max_answer_length(word_tok):
    context = "she hid the key under the red mat"  # words 0-7 at positions 7-14
    feats = encode_qa(word_tok, [QUESTION], [context], max_length=32, doc_stride=4)
    start, end = _logits(feats)
    start[0, 7] = 10.0  # 'she'
    end[0, 12] = 10.0  # 'the' (word 5): a 6-word span, score 20
    end[0, 9] = 5.0  # 'the' (word 2): a 3-word span, score 15
    long = decode_answers(start, end, feats, [context], max_answer_length=6)[0]
    assert (long.text, long.score) == ("she hid the key under the", 20.0)
    short = decode_answers(start, end, feats, [context], max_answer_length=5)[0]
    assert (short.text, short.score) == ("she hid the", 15.0)
    one = decode_answers(start, end, feats, [context], max_answer_length=1)[0]
    assert (one.text, one.start, one.score) == ("she", 0, 10.0)  # start 10 + end 0 on the same word


def test_decode_ties_and_n_best_are_deterministic(word_tok):
    feats = encode_qa(word_tok, [QUESTION, QUESTION], [CONTEXT, "the key"], max_length=16, doc_stride=2)
    start, end = _logits(feats)
    # all equal: the first window, lowest start, lowest end wins, i.e. the first context word alone
    answers = decode_answers(start, end, feats, [CONTEXT, "the key"])
    assert [(a.text, a.start, a.score, a.feature) for a in answers] == [
        ("after", 0, 0.0, 0),
        ("the", 0, 0.0, 3),
    ]
    # with n_best = 1 only the single best start and end of each window are paired: start 'key' after
    # end 'the' is no span, so example 1 has no answer (empty text, score -inf)
    start[3, 8], end[3, 7] = 1.0, 1.0
    a1 = decode_answers(start, end, feats, [CONTEXT, "the key"], n_best=1)[1]
    assert (a1.text, a1.start, a1.score, a1.feature) == ("", -1, -math.inf, -1)
    # n_best = 2: starts 'key' (1), 'the' (0); ends 'the' (1), 'key' (0). Spans: 'key' 1 + 0 = 1,
    # 'the' 0 + 1 = 1, 'the key' 0 + 0 = 0: 'the' and 'key' tie at 1 and the lower start wins
    a2 = decode_answers(start, end, feats, [CONTEXT, "the key"], n_best=2)[1]
    assert (a2.text, a2.start, a2.score, a2.feature) == ("the", 0, 1.0, 3)
    assert decode_answers(start, end, feats, [CONTEXT, "the key"], n_best=2) == answers[:1] + [a2]


def test_decode_skips_padding_logits_and_contexts_without_windows(word_tok):
    feats = encode_qa(word_tok, [QUESTION, QUESTION], ["the key", CONTEXT], max_length=16, doc_stride=2)
    start, end = _logits(feats)
    start[0, 10:], end[0, 10:] = 50.0, 50.0  # padding of the short window 0 (real length 10)
    start[0, 8], end[0, 8] = 1.0, 1.0
    answers = decode_answers(start, end, feats, ["the key", CONTEXT])
    assert (answers[0].text, answers[0].start, answers[0].score) == ("key", 4, 2.0)
    sub = feats.subset([0])
    none = decode_answers(start[:1], end[:1], sub, ["the key", "no window"])
    assert none == [answers[0], QAAnswer("", -1, -math.inf, -1)]


# ------------------------------------------------------------------------------------ with a model


def _toy_qa(n: int, seed: int = 0) -> tuple[list[str], list[str], list[str]]:
    rng = np.random.default_rng(seed)
    questions, contexts, answers = [], [], []
    for i in range(n):
        per, per2 = (" ".join(PER[k]) for k in rng.choice(len(PER), 2, replace=False))
        loc, org = " ".join(LOC[rng.integers(len(LOC))]), " ".join(ORG[rng.integers(len(ORG))])
        contexts.append(f"{per} lives in {loc} . {per2} works for {org} .")
        if i % 2:
            questions.append(f"Where does {per} live ?")
            answers.append(loc)
        else:
            questions.append(f"Who works for {org} ?")
            answers.append(per2)
    return questions, contexts, answers


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    questions, contexts, _ = _toy_qa(40)
    texts = questions + contexts
    settings = TinySettings(**{**TINY_PARAMS, "mlm_steps": 0})
    return str(build_tiny_model(texts, tmp_path_factory.mktemp("qa") / "tiny", settings))


def test_qa_model_head_is_seeded(tiny_dir):
    a, b, c = (
        load_qa_model(tiny_dir, seed=1),
        load_qa_model(tiny_dir, seed=1),
        load_qa_model(tiny_dir, seed=2),
    )
    assert type(a).__name__ == "XLMRobertaForQuestionAnswering"
    assert torch.equal(a.qa_outputs.weight, b.qa_outputs.weight)
    assert not torch.equal(a.qa_outputs.weight, c.qa_outputs.weight)


def test_qa_loss_is_what_the_hf_head_computes(word_tok):
    from transformers import BertConfig, BertForQuestionAnswering

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(word_tok),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    model = BertForQuestionAnswering(config).eval()
    answers = ["hid the old key", "home and"]
    feats = encode_answers(word_tok, answers)
    batch = feats.batch(range(len(feats)))
    with torch.no_grad():
        ours = qa_loss(model, batch)
        theirs = model(**batch).loss
        out = model(**{k: v for k, v in batch.items() if "positions" not in k})
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    ce = torch.nn.functional.cross_entropy
    by_hand = (
        ce(out.start_logits, batch["start_positions"]) + ce(out.end_logits, batch["end_positions"])
    ) / 2
    assert ours.item() == pytest.approx(by_hand.item(), rel=1e-6)
    starts, ends = predict_qa(model, feats, batch_size=4)
    assert starts.shape == ends.shape == feats.input_ids.shape
    assert np.allclose(starts, out.start_logits.numpy(), atol=1e-5)


def test_a_few_training_steps_lower_the_span_loss(tiny_dir):
    tok = load_tokenizer(tiny_dir)
    questions, contexts, answers = _toy_qa(40)
    feats = encode_qa(
        tok,
        questions,
        contexts,
        max_length=48,
        doc_stride=16,
        answer_starts=[[c.index(a)] for c, a in zip(contexts, answers, strict=True)],
        answer_texts=[[a] for a in answers],
    )
    assert feats.token_type_ids is None  # XLM-R has no segment ids
    labelled = feats.start_positions > 0
    assert labelled.any()
    for f in np.flatnonzero(labelled):
        lo, hi = feats.offsets[f, feats.start_positions[f], 0], feats.offsets[f, feats.end_positions[f], 1]
        assert contexts[feats.example_index[f]][lo:hi] == answers[feats.example_index[f]]
    model = load_qa_model(tiny_dir, seed=0)

    def mean_loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(qa_loss(model, feats.batch(range(len(feats)))))

    before = mean_loss()
    recipe = SupervisedQA(feats, batch_size=8, seed=0)
    result = train(
        model, recipe, train_config(lr=3e-3, epochs=10, max_steps=40, warmup_ratio=0.0, device="cpu")
    )
    after = mean_loss()
    assert result.steps == 40
    assert after < before
    starts, ends = predict_qa(model, feats, batch_size=16)
    predicted = decode_answers(starts, ends, feats, contexts)
    assert len(predicted) == len(contexts)
    for p, c in zip(predicted, contexts, strict=True):
        assert p.text and c[p.start : p.start + len(p.text)] == p.text
    scores = squad_scores([p.text for p in predicted], [[a] for a in answers])
    assert scores["n"] == 40 and 0.0 <= scores["em"] <= scores["f1"] <= 1.0
