"""xTune for extractive QA (paper 003 Sec. 3.3.2): code-switched views of QA examples that keep every
answer exact (pipeline_steps/augment/qa_views.py), R1 position pairing on unchanged words, the stage-1
loss qa_loss + lambda1 * span_consistency and the stage-2 loss + lambda2 * R2 against a frozen teacher on
the view windows (pipeline_steps/methods/xtune_qa.py)."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
import torch
from _helpers_model import toy_tiny_model, train_config
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from pipeline_steps.augment.qa_views import AUGMENTED_QA, code_switch_example, qa_views
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.losses.span_consistency import span_consistency
from pipeline_steps.methods.xtune_qa import (
    LAMBDA2_QA,
    ExampleConsistencyQA,
    ModelConsistencyQA,
    pair_positions,
    span_model_consistency,
)
from pipeline_steps.methods.xtune_tagging import LAMBDA1
from pipeline_steps.models.question_answering import encode_qa, load_qa_model, load_tokenizer, qa_loss
from pipeline_steps.schemas import QA_EXAMPLES, validate
from pipeline_steps.train import epoch_generator, train

QA = [
    ("Where does Maria live?", "Maria lives in Paris. She works for Siemens in Berlin.", "Paris"),
    (
        "Who works for Reuters?",
        "John Smith works for Reuters in Madrid. He lives near the river.",
        "John Smith",
    ),
    (
        "Where is the office of Siemens?",
        "The office of Siemens is in Hamburg. It opened on Monday.",
        "Hamburg",
    ),
    (
        "What will Angela Merkel visit?",
        "Angela Merkel will visit New York on Monday. The visit is short.",
        "New York",
    ),
    (
        "Where does Pedro work?",
        "Pedro works for Deutsche Bank in Berlin. He lives in Madrid.",
        "Deutsche Bank",
    ),
    (
        "Who said that Anna will visit Paris?",
        "The United Nations said on Monday that Anna will visit Paris. The trip is long and the river is "
        "near.",
        "The United Nations",
    ),
    ("Where does Luis live?", "Luis García lives in Buenos Aires. He works for Telefónica.", "Buenos Aires"),
    (
        "When will Maria visit Hamburg?",
        "Maria will visit Hamburg on Monday. She works for Reuters.",
        "Monday",
    ),
    (
        "Who works for Telefónica in Madrid?",
        "Pedro works for Telefónica in Madrid. Anna works in Paris.",
        "Pedro",
    ),
    (
        "Where is the office of Reuters?",
        "The office of Reuters is in New York. John works there.",
        "New York",
    ),
    (
        "Who lives in Berlin?",
        "Anna Schmidt lives in Berlin. She works for Siemens in Hamburg.",
        "Anna Schmidt",
    ),
    (
        "Where does John work?",
        "John works for the United Nations in Madrid on Monday. He lives in Paris with Maria and Luis García "
        "near the river.",
        "the United Nations",
    ),
]
LONG = (5, 11)  # the examples that need two windows at MAX_LENGTH
MAX_LENGTH, STRIDE = 64, 16
DICTS = {
    "de": {"lives": ["wohnt"], "works": ["arbeitet"], "in": ["im"], "said": ["sagte"], "where": ["Wo"]},
    "es": {"lives": ["vive"], "works": ["trabaja"], "in": ["en"], "monday": ["lunes"], "for": ["para"]},
}


def qa_frame() -> pd.DataFrame:
    rows = [
        {
            "id": f"qa-{i:03d}",
            "lang": "en",
            "split": "train",
            "title": "toy",
            "context": c,
            "question": q,
            "answer_texts": [a],
            "answer_starts": [c.index(a)],
            "source": "hand",
        }
        for i, (q, c, a) in enumerate(QA)
    ]
    return pd.DataFrame(rows, columns=QA_EXAMPLES.columns)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("xtune_qa")
    write_artifact(qa_frame(), root / "qa.parquet", QA_EXAMPLES)
    return toy_tiny_model(root, [str(root / "qa.parquet")])


@pytest.fixture(scope="module")
def tok(tiny_dir):
    return load_tokenizer(tiny_dir)


def cs_views(frame: pd.DataFrame, views: int = 2, ratio: float = 0.5) -> list[pd.DataFrame]:
    out = qa_views(frame, DICTS, ratio, "code_switch", 0, views)
    return [out[out["view"] == v].reset_index(drop=True) for v in range(views)]


def same_view(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(src_id=frame["id"])


# ------------------------------------------------------------------------------------- code-switch views

WORDS = ["in", "Paris.", "lives", "works", "", "Monday", "x", "New", "York", "Siemens"]
PROP_DICTS = {
    "de": {
        "in": ["im"],
        "paris.": ["Parigi."],
        "lives": ["wohnt"],
        "works": ["arbeitet", "schafft"],
        "x": ["xyz"],
    },
    "es": {"lives": ["vive"], "new": ["nueva"], "york": ["Y"], "monday": ["lunes"]},
}


@settings(max_examples=200, deadline=None)
@given(
    q_words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
    c_words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=14),
    spans=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 25)), max_size=3),
    ratio=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 10**6),
)
def test_code_switch_keeps_every_answer_exact_and_the_word_counts(q_words, c_words, spans, ratio, seed):
    question, context = " ".join(q_words), " ".join(c_words)
    starts = [a % (len(context) + 1) for a, _ in spans]
    texts = [context[s : s + n] for s, (_, n) in zip(starts, spans, strict=True)]
    out = code_switch_example(question, context, starts, texts, PROP_DICTS, ratio, random.Random(seed))
    new_q, new_c, new_starts, new_texts, sq, sc = out
    assert new_texts == texts
    for s, t in zip(new_starts, new_texts, strict=True):
        assert new_c[s : s + len(t)] == t
    assert len(new_q.split(" ")) == len(sq) == len(q_words) and len(new_c.split(" ")) == len(sc) == len(
        c_words
    )
    assert all(
        a == b or f for a, b, f in zip(c_words, new_c.split(" "), sc, strict=True)
    )  # changed => flagged
    if ratio == 0.0:
        assert out == (question, context, starts, texts, [False] * len(q_words), [False] * len(c_words))
    assert (
        code_switch_example(question, context, starts, texts, PROP_DICTS, ratio, random.Random(seed)) == out
    )


def test_answer_offsets_are_recomputed_by_hand():
    context = "Maria lives in Paris. She works for Siemens in Berlin."
    one = {"de": {"lives": ["vive"], "works": ["arbeitet"], "she": ["sie"], "in": ["im"], "maria": ["Mia"]}}
    starts, texts = [15, 47, 16], ["Paris", "Berlin", "aris"]
    assert [context[s : s + len(t)] for s, t in zip(starts, texts, strict=True)] == texts
    q, c, new_starts, new_texts, sq, sc = code_switch_example(
        "Where does Maria live?", context, starts, texts, one, 1.0, random.Random(0), switch_question=True
    )
    # 'Paris.' and 'Berlin.' overlap answers and stay; every other dictionary word switches (ratio 1)
    assert c == "Mia vive im Paris. sie arbeitet for Siemens im Berlin."
    assert q == "Where does Mia live?" and sq == [False, False, True, False]
    assert sc == [True, True, True, False, True, True, False, False, True, False]
    # Paris: 'Mia ' 4 + 'vive ' 5 + 'im ' 3 = 12; Berlin: 'Mia vive im Paris. ' 19 + 'sie ' 4 + 'arbeitet ' 9
    # + 'for ' 4 + 'Siemens ' 8 + 'im ' 3 = 47 (Maria -2, lives -1, in 0, She 0, works +3, in 0)
    assert new_starts == [12, 47, 13] and new_texts == texts
    # by default the question stays as it is (official xTune switches the context only)
    default = code_switch_example(
        "Where does Maria live?", context, starts, texts, one, 1.0, random.Random(0)
    )
    assert default[0] == "Where does Maria live?" and default[4] == [False] * 4
    assert default[1:4] == (c, new_starts, new_texts) and default[5] == sc
    with pytest.raises(ValueError, match="not at character 3"):
        code_switch_example("q", context, [3], ["Paris"], one, 1.0, random.Random(0))
    with pytest.raises(ValueError, match="contains a space"):
        code_switch_example("q", context, [15], ["Paris"], {"de": {"she": ["die da"]}}, 1.0, random.Random(0))


def test_qa_views_rows_ids_and_one_rng_per_view(tmp_path):
    frame = qa_frame().iloc[:4]
    out = qa_views(frame, DICTS, 0.5, "code_switch", 7, views=2)
    assert list(out.columns) == AUGMENTED_QA.columns and str(out["view"].dtype) == "int32"
    assert out["id"].tolist() == [f"code_switch-7-v{v}-{r:06d}" for v in (0, 1) for r in range(4)]
    assert out["src_id"].tolist() == frame["id"].tolist() * 2
    for v in (0, 1):
        rng = random.Random(f"code_switch-7-{v}")  # the examples in order, one generator per view
        for r, ex in enumerate(frame.itertuples(index=False)):
            want = code_switch_example(
                ex.question, ex.context, ex.answer_starts, ex.answer_texts, DICTS, 0.5, rng
            )
            row = out.iloc[4 * v + r]
            assert (row.question, row.context, list(row.answer_starts), list(row.answer_texts)) == want[:4]
            assert row.n_words == len(want[4]) + len(want[5]) and row.n_changed == sum(want[4]) + sum(want[5])
    assert out["n_changed"].sum() > 0 and (out["context"].iloc[:4] != out["context"].iloc[4:].values).any()
    validate(out, AUGMENTED_QA)
    write_artifact(out, tmp_path / "v.parquet", AUGMENTED_QA)
    back = read_artifact(tmp_path / "v.parquet", AUGMENTED_QA)
    assert back["answer_starts"].map(list).tolist() == out["answer_starts"].tolist()
    assert qa_views(frame, DICTS, 0.5, "code_switch", 7, views=2).equals(out)  # deterministic
    with pytest.raises(ConfigError, match="subword"):
        qa_views(frame, DICTS, 0.5, "subword", 7, views=1)
    with pytest.raises(ConfigError, match="ratio"):
        qa_views(frame, DICTS, 1.5, "code_switch", 7, views=1)


# --------------------------------------------------------------------------------------------- pairing


def expected_positions(tok, question, context, changed_q, changed_c):
    """Every position except the sub-words of the changed words (the tokenizer's own word ids: its
    Metaspace pre-tokenizer splits on spaces, like the views)."""
    enc = tok(question.lstrip(), context)
    changed = (changed_q, changed_c)
    return [
        t
        for t, (s, w) in enumerate(zip(enc.sequence_ids(0), enc.word_ids(0), strict=True))
        if s is None or w not in changed[s]
    ]


def first_piece(tok, question, context, seq, word):
    enc = tok(question.lstrip(), context)
    return next(
        t
        for t, (s, w) in enumerate(zip(enc.sequence_ids(0), enc.word_ids(0), strict=True))
        if (s, w) == (seq, word)
    )


@pytest.mark.parametrize("indent", ["", "  "])
def test_unchanged_words_and_special_tokens_pair_and_switched_words_do_not(tok, indent):
    q, c = indent + "Where does Maria live?", "Maria lives in Paris. She works for Siemens in Berlin."
    vq, vc = indent + "Wo does Maria live?", "Maria wohnt in Paris. She arbeitet for Siemens in Berlin."
    pairs = pair_positions(tok, q, c, vq, vc)
    ids_o, ids_v = tok(q.lstrip(), c)["input_ids"], tok(vq.lstrip(), vc)["input_ids"]
    assert list(pairs.orig) == expected_positions(tok, q, c, {0}, {1, 5})
    assert list(pairs.view) == expected_positions(tok, vq, vc, {0}, {1, 5})
    assert [ids_o[p] for p in pairs.orig] == [ids_v[p] for p in pairs.view]
    n_pieces = {w: len(tok.tokenize(w)) for w in ("Where", "Wo", "lives", "wohnt", "works", "arbeitet")}
    assert len(ids_o) - len(pairs.orig) == n_pieces["Where"] + n_pieces["lives"] + n_pieces["works"]
    assert len(ids_v) - len(pairs.view) == n_pieces["Wo"] + n_pieces["wohnt"] + n_pieces["arbeitet"]
    specials = [t for t, s in enumerate(tok(q.lstrip(), c).sequence_ids(0)) if s is None]
    assert pairs.orig[0] == pairs.view[0] == 0 and set(specials) <= set(pairs.orig)
    # 'in' (context word 2) sits after 'Where' -> 'Wo' and 'lives' -> 'wohnt': shifted by both differences
    at_o, at_v = first_piece(tok, q, c, 1, 2), first_piece(tok, vq, vc, 1, 2)
    shift = n_pieces["Wo"] - n_pieces["Where"] + n_pieces["wohnt"] - n_pieces["lives"]
    assert at_v - at_o == shift != 0 and pairs.view[pairs.orig.index(at_o)] == at_v
    same = pair_positions(tok, q, c, q, c)
    assert same.orig == same.view == tuple(range(len(ids_o)))
    with pytest.raises(ValueError, match="context has 9 words, the original's 10"):
        pair_positions(tok, q, c, vq, "Maria wohnt in Paris. She arbeitet for Siemens Berlin.")


# ------------------------------------------------------------------------------------------- stage 1


def windows(tok, frame):
    enc = encode_qa(
        tok, list(frame["question"]), list(frame["context"]), max_length=MAX_LENGTH, doc_stride=STRIDE
    )
    return [int((enc.example_index == i).sum()) for i in range(len(frame))]


def test_identical_views_give_zero_r1_and_the_task_loss(tiny_dir, tok):
    frame = qa_frame()
    n_windows = windows(tok, frame)
    assert [i for i, n in enumerate(n_windows) if n > 1] == list(LONG)
    recipe = ExampleConsistencyQA.from_frames(frame, [same_view(frame)], tok, MAX_LENGTH, STRIDE, 4, 0)
    assert recipe.unpaired == [len(LONG)]
    model = load_qa_model(tiny_dir, seed=0).eval()  # no dropout: both passes see the same net
    order = torch.randperm(len(frame), generator=epoch_generator(0, 0)).tolist()
    for k, batch in enumerate(recipe.batches(0)):
        indices = order[4 * k : 4 * k + 4]
        assert len(batch["orig"]["input_ids"]) == sum(n_windows[e] for e in indices)  # every window
        assert len(batch["view"]["input_ids"]) == sum(e not in LONG for e in indices)  # paired ones only
        loss = recipe.loss(model, batch)
        assert recipe.last["r1"] == pytest.approx(0.0, abs=1e-6)
        assert float(loss.detach()) == pytest.approx(float(qa_loss(model, batch["orig"]).detach()), abs=1e-5)


def forward(model, part):
    out = model(input_ids=part["input_ids"], attention_mask=part["attention_mask"])
    return out.start_logits, out.end_logits


def rows_of(recipe_windows, indices, keep):
    """Batch row of the first window of every example of ``indices`` that ``keep`` selects."""
    rows, at = {}, 0
    for e in indices:
        if keep(e):
            rows[e] = at
            at += len(recipe_windows.rows[e])
    return rows


@pytest.mark.parametrize("options", [{}, {"lambda1": 2.0, "task_loss_on_view": True, "stop_gradient": False}])
def test_stage1_loss_by_hand_from_the_models_logits(tiny_dir, tok, options):
    frame = qa_frame()
    views = cs_views(frame)
    recipe = ExampleConsistencyQA.from_frames(frame, views, tok, MAX_LENGTH, STRIDE, 4, 0, **options)
    list(recipe.batches(1))  # epoch 1: view 1
    assert recipe.view_index == 1
    indices = [5, 0, 2, 7, 11]
    batch = recipe.collate(indices)
    model = load_qa_model(tiny_dir, seed=0).eval()
    got = recipe.loss(model, batch)
    view = views[1]
    paired = [
        e for e in indices if windows(tok, frame.iloc[[e]])[0] == 1 and windows(tok, view.iloc[[e]])[0] == 1
    ]
    assert paired == [0, 2, 7] and [e for e in indices if recipe.pairs[1][e] is None] == [5, 11]
    with torch.no_grad():
        o_s, o_e = forward(model, batch["orig"])
        v_s, v_e = forward(model, batch["view"])
        task = qa_loss(model, batch["orig"])
        if options.get("task_loss_on_view"):
            task = task + qa_loss(model, batch["view"])
        at_o = rows_of(recipe.orig, indices, lambda e: True)
        keep = (lambda e: True) if options.get("task_loss_on_view") else (lambda e: e in paired)
        at_v = rows_of(recipe.views[1], indices, keep)
        pos = [
            pair_positions(tok, *frame.loc[e, ["question", "context"]], *view.loc[e, ["question", "context"]])
            for e in paired
        ]
        po, pv = [at_o[e] for e in paired], [at_v[e] for e in paired]
        r1 = span_consistency(
            o_s[po],
            o_e[po],
            v_s[pv],
            v_e[pv],
            [torch.tensor(p.orig) for p in pos],
            [torch.tensor(p.view) for p in pos],
            p_valid=batch["orig"]["attention_mask"][po].bool(),
            q_valid=batch["view"]["attention_mask"][pv].bool(),
        )
    n_view = sum(len(recipe.views[1].rows[e]) for e in indices) if options.get("task_loss_on_view") else 3
    assert len(batch["view"]["input_ids"]) == n_view
    lam = options.get("lambda1", LAMBDA1)
    assert float(r1) > 0 and recipe.last == pytest.approx({"task": float(task), "r1": float(r1)}, abs=1e-6)
    assert float(got.detach()) == pytest.approx(float(task + lam * r1), abs=1e-5)


# ------------------------------------------------------------------------------------------- stage 2


def test_r2_by_hand_on_two_positions_ignores_padding():
    s = torch.tensor([[0.0, 0.0, 99.0]])  # softmax over the 2 valid positions: (1/2, 1/2)
    t = torch.tensor([[math.log(3.0), 0.0, -5.0]])  # (3/4, 1/4)
    valid = torch.tensor([[True, True, False]])
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert float(span_model_consistency(s, s, t, t, valid)) == pytest.approx(kl)  # (kl + kl) / 1 row / 2
    both = span_model_consistency(
        torch.cat([s, t]), torch.cat([s, t]), torch.cat([t, t]), torch.cat([t, t]), valid.repeat(2, 1)
    )
    assert float(both) == pytest.approx(kl / 2)  # the second row agrees with its teacher: KL 0
    assert float(span_model_consistency(t, t, t, t, valid)) == 0.0


class Spy(nn.Module):
    """A teacher that records the inputs it is run on."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, **inputs):
        self.seen.append({k: x.clone() for k, x in inputs.items()})
        return self.inner(**inputs)


def r2_by_hand(s, e, ts, te, mask):
    total = 0.0
    for r in range(len(s)):
        n = int(mask[r].sum())
        for student, teacher in ((s[r, :n], ts[r, :n]), (e[r, :n], te[r, :n])):
            p = teacher.softmax(-1)
            total += float((p * (p.log() - student.log_softmax(-1))).sum())
    return total / len(s) / 2


@pytest.mark.parametrize(
    "options", [{}, {"lambda1": 2.0, "lambda2": 0.3, "use_r1": False}, {"use_r2": False, "lambda1": 1.5}]
)
def test_stage2_loss_by_hand_and_teacher_on_view_rows_only(tiny_dir, tok, options):
    frame = qa_frame()
    views = cs_views(frame, views=1)
    teacher = None if options.get("use_r2") is False else Spy(load_qa_model(tiny_dir, seed=1))
    recipe = ModelConsistencyQA.from_frames(frame, views, teacher, tok, MAX_LENGTH, STRIDE, 4, 0, **options)
    indices = [0, 11, 3, 8]
    batch = recipe.collate(indices)
    n_o = sum(len(recipe.orig.rows[e]) for e in indices)
    n_v = sum(len(recipe.views[0].rows[e]) for e in indices)
    assert n_o == 5 and batch["is_view"].tolist() == [False] * n_o + [True] * n_v
    net = load_qa_model(tiny_dir, seed=0).eval()
    got = recipe.loss(net, batch)
    rows = batch["is_view"]
    with torch.no_grad():
        s, e = forward(net, batch)
        part = {k: batch[k] for k in ("input_ids", "attention_mask", "start_positions", "end_positions")}
        task = qa_loss(net, {k: x[~rows] for k, x in part.items()}) + qa_loss(
            net, {k: x[rows] for k, x in part.items()}
        )
        r1 = torch.tensor(0.0)
        if options.get("use_r1", True):
            paired = [x for x in indices if recipe.pairs[0][x] is not None]
            at_o = rows_of(recipe.orig, indices, lambda x: True)
            at_v = rows_of(recipe.views[0], indices, lambda x: True)
            pos = [recipe.pairs[0][x] for x in paired]
            po, pv = [at_o[x] for x in paired], [n_o + at_v[x] for x in paired]
            valid = batch["attention_mask"].bool()
            r1 = span_consistency(
                s[po],
                e[po],
                s[pv],
                e[pv],
                [torch.tensor(p.orig) for p in pos],
                [torch.tensor(p.view) for p in pos],
                p_valid=valid[po],
                q_valid=valid[pv],
            )
        r2 = 0.0
        if teacher is not None:
            assert len(teacher.seen) == 1  # one teacher pass, on the view rows only
            assert torch.equal(teacher.seen[0]["input_ids"], batch["input_ids"][rows])
            ts, te = forward(teacher.inner, {k: batch[k][rows] for k in ("input_ids", "attention_mask")})
            r2 = r2_by_hand(s[rows], e[rows], ts, te, batch["attention_mask"][rows])
    lam1, lam2 = options.get("lambda1", LAMBDA1), options.get("lambda2", LAMBDA2_QA)
    assert recipe.last == pytest.approx({"task": float(task), "r1": float(r1), "r2": r2}, abs=1e-5)
    assert float(got.detach()) == pytest.approx(
        recipe.last["task"] + lam1 * recipe.last["r1"] + lam2 * recipe.last["r2"], abs=1e-5
    )
    assert (recipe.last["r2"] > 0) == (teacher is not None) and (recipe.last["r1"] > 0) == options.get(
        "use_r1", True
    )


def run_stage2(tiny_dir, tok):
    frame = qa_frame()
    teacher = load_qa_model(tiny_dir, seed=1)  # stands in for the stage-1 checkpoint
    recipe = ModelConsistencyQA.from_frames(
        frame, cs_views(frame), teacher, tok, MAX_LENGTH, STRIDE, 4, seed=0
    )
    before = {k: t.clone() for k, t in teacher.state_dict().items()}
    student = load_qa_model(tiny_dir, seed=0)
    seen = []
    config = train_config(seed=0, lr=5e-3, epochs=2, warmup_ratio=0.0, device="cpu")
    result = train(student, recipe, config, on_step=lambda step, row: seen.append(dict(recipe.last)))
    return result, student, teacher, before, seen


def test_stage2_training_keeps_the_teacher_frozen_and_is_deterministic(tiny_dir, tok):
    result, student, teacher, before, seen = run_stage2(tiny_dir, tok)
    losses = result.log["loss"].tolist()
    assert result.steps == 6 and all(last["r1"] > 0 and last["r2"] > 0 for last in seen)
    for last, loss in zip(seen, losses, strict=True):
        assert last["task"] + LAMBDA1 * last["r1"] + LAMBDA2_QA * last["r2"] == pytest.approx(loss, rel=1e-5)
    after = teacher.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], t) for k, t in before.items())
    assert not any(p.requires_grad or p.grad is not None for p in teacher.parameters())
    assert not teacher.training
    again, student2, *_, seen2 = run_stage2(tiny_dir, tok)
    assert again.log["loss"].tolist() == losses and seen2 == seen
    for (name, p), q in zip(student.state_dict().items(), student2.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


# ------------------------------------------------------------------------------------------ bad input


def test_bad_views_and_settings_raise_clear_errors(tiny_dir, tok):
    frame = qa_frame().iloc[:6].reset_index(drop=True)
    good = cs_views(frame, views=1)[0]
    build = ExampleConsistencyQA.from_frames
    with pytest.raises(ValueError, match="view 1: no row for training id 'qa-003'"):
        build(frame, [good, good[good["src_id"] != "qa-003"]], tok, MAX_LENGTH, STRIDE, 4, 0)
    stray = good.assign(src_id=good["src_id"].replace("qa-002", "nope"))
    with pytest.raises(ValueError, match="view 0: src_id 'nope' is not a training id"):
        build(frame, [stray], tok, MAX_LENGTH, STRIDE, 4, 0)
    cut = good.copy()
    cut.loc[1, "context"] = cut.loc[1, "context"] + " extra"
    with pytest.raises(ValueError, match="view 0, example 'qa-001': the view's context has"):
        build(frame, [cut], tok, MAX_LENGTH, STRIDE, 4, 0)
    for bad in ({"lambda1": -1.0}, {"lambda1": float("nan")}):
        with pytest.raises(ConfigError, match="lambda1"):
            build(frame, [good], tok, MAX_LENGTH, STRIDE, 4, 0, **bad)
    teacher = load_qa_model(tiny_dir, seed=1)
    stage2 = ModelConsistencyQA.from_frames
    with pytest.raises(ConfigError, match="lambda2"):
        stage2(frame, [good], teacher, tok, MAX_LENGTH, STRIDE, 4, 0, lambda2=-0.5)
    with pytest.raises(ValueError, match="R2 needs a teacher"):
        stage2(frame, [good], None, tok, MAX_LENGTH, STRIDE, 4, 0)
    recipe = stage2(frame, [good], teacher, tok, MAX_LENGTH, STRIDE, 4, 0)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    batch = recipe.collate([0, 1])
    with pytest.raises(ValueError, match="separate"):
        recipe.loss(teacher, batch)
    next(teacher.parameters()).requires_grad_(True)  # unfrozen behind the recipe's back
    with pytest.raises(RuntimeError, match="trainable"):
        recipe.loss(load_qa_model(tiny_dir, seed=0), batch)
