"""seqeval entity-level evaluation: hand-computed scores, BIOES strictness, target averages, bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.evaluate import entity_scores, main, metrics_frame
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import METRICS, PREDICTIONS
from pipeline_steps.tags import spans_from_tags, tags_from_spans


def test_two_of_three_spans_and_one_false_positive():
    gold = [["B-PER", "I-PER", "O", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O", "O"], ["B-ORG", "B-LOC"]]
    s = entity_scores(gold, pred, "bio")
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["support"] == 3
    assert s["types"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert s["types"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert s["types"]["ORG"]["f1"] == 1.0


def test_boundary_error_costs_the_span():
    gold = [["B-PER", "I-PER", "I-PER", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"]]
    s = entity_scores(gold, pred, "bio")
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)


def test_bioes_strict_drops_ill_formed_predicted_chunks():
    gold = [["B-PER", "E-PER", "O", "S-LOC"]]
    pred = [["B-PER", "I-PER", "O", "S-LOC"]]  # PER never closed by E-: no entity in strict IOBES
    s = entity_scores(gold, pred, "bioes")
    assert s["precision"] == 1.0  # the one well-formed predicted entity (LOC) is right
    assert s["recall"] == 0.5
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["types"]["PER"]["f1"] == 0.0 and s["types"]["PER"]["support"] == 1


def test_bio_is_scored_conlleval_style():
    # conlleval: an I- after O opens an entity, so this prediction is right
    s = entity_scores([["O", "B-PER", "I-PER"]], [["O", "I-PER", "I-PER"]], "bio")
    assert s["f1"] == 1.0


def test_no_entities_anywhere_scores_zero_without_error():
    s = entity_scores([["O", "O"]], [["O", "O"]], "bio")
    assert (s["precision"], s["recall"], s["f1"], s["support"]) == (0.0, 0.0, 0.0, 0)
    assert s["types"] == {}


def test_mismatched_lengths_and_unknown_scheme_are_rejected():
    with pytest.raises(ValueError):
        entity_scores([["O", "O"]], [["O"]], "bio")
    with pytest.raises(ConfigError):
        entity_scores([["O"]], [["O"]], "iob1")


span_sets = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(1, 3), st.sampled_from(["PER", "LOC", "ORG"])),
            max_size=4,
        ),
    )
)


def _tags(n, raw, scheme):
    spans, used = [], set()
    for start, length, label in raw:
        end = min(n, start + length)
        if used.isdisjoint(range(start, end)):
            spans.append((start, end, label))
            used.update(range(start, end))
    return tags_from_spans(n, spans, scheme)


raw_spans = st.lists(
    st.tuples(st.integers(0, 11), st.integers(1, 3), st.sampled_from(["PER", "LOC", "ORG"])), max_size=4
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(span_sets, raw_spans), min_size=1, max_size=4), st.sampled_from(["bio", "bioes"]))
def test_scores_match_exact_span_matching(rows, scheme):
    """For well-formed sequences, seqeval equals exact span matching over tags.spans_from_tags;
    precision(g, p) == recall(p, g); and gold against itself scores 1."""
    gold, pred = [], []
    for (n, graw), praw in rows:
        gold.append(_tags(n, graw, scheme))
        pred.append(_tags(n, [(min(s, n - 1), ln, lab) for s, ln, lab in praw], scheme))
    g_spans = {(i, sp) for i, g in enumerate(gold) for sp in spans_from_tags(g, scheme)}
    p_spans = {(i, sp) for i, p in enumerate(pred) for sp in spans_from_tags(p, scheme)}
    tp = len(g_spans & p_spans)
    s = entity_scores(gold, pred, scheme)
    assert s["support"] == len(g_spans)
    assert s["precision"] == pytest.approx(tp / len(p_spans) if p_spans else 0.0)
    assert s["recall"] == pytest.approx(tp / len(g_spans) if g_spans else 0.0)
    assert entity_scores(pred, gold, scheme)["precision"] == pytest.approx(s["recall"])
    if g_spans:
        same = entity_scores(gold, gold, scheme)
        assert (same["precision"], same["recall"], same["f1"]) == (1.0, 1.0, 1.0)


def _pred_frame(rows, method="zero_shot", seed=13):
    return pd.DataFrame(
        [
            {
                "sentence_id": sid,
                "lang": lang,
                "tokens": [f"w{i}" for i in range(len(gold))],
                "gold": gold,
                "pred": pred,
                "method": method,
                "seed": seed,
            }
            for sid, lang, gold, pred in rows
        ]
    )


ROWS = [
    ("test-en-000000", "en", ["B-ORG", "O"], ["O", "O"]),  # source language: excluded from avg
    ("test-de-000000", "de", ["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"]),
    ("test-es-000000", "es", ["O", "B-LOC"], ["O", "O"]),
    ("test-es-000001", "es", ["B-LOC", "O"], ["B-LOC", "O"]),
]


def test_metrics_frame_per_language_and_target_average(tmp_path):
    m = metrics_frame(_pred_frame(ROWS), "zero_shot", 13, "bio", "en")
    write_artifact(m, tmp_path / "m.parquet", METRICS)
    m = read_artifact(tmp_path / "m.parquet", METRICS)
    v = {(r.lang, r.metric): (r.value, r.support) for r in m.itertuples()}
    assert v[("de", "f1")] == (1.0, 1)
    assert v[("es", "precision")] == (1.0, 2)
    assert v[("es", "recall")] == (0.5, 2)
    assert v[("es", "f1")][0] == pytest.approx(2 / 3)
    assert v[("en", "f1")] == (0.0, 1)
    # avg over de and es only
    assert v[("avg", "f1")][0] == pytest.approx((1.0 + 2 / 3) / 2) and v[("avg", "f1")][1] == 3
    assert v[("avg", "recall")][0] == pytest.approx(0.75)
    # a type is averaged over the target languages where it occurs
    assert v[("avg", "f1_PER")] == (1.0, 1)
    assert v[("avg", "f1_LOC")][0] == pytest.approx(2 / 3)
    assert ("avg", "f1_ORG") not in v
    assert set(m["method"]) == {"zero_shot"} and set(m["seed"]) == {13}


def _ctx(tmp_path, frames, **params):
    paths = []
    for i, frame in enumerate(frames):
        path = tmp_path / f"pred{i}.parquet"
        write_artifact(frame, path, PREDICTIONS)
        paths.append(str(path))
    params = {
        "task": "ner",
        "labels": ["PER", "LOC"],
        "method": "zero_shot",
        "seed": 13,
        "scheme": "bio",
        "source_lang": "en",
        **params,
    }
    return StepContext(
        input={"predictions": paths}, output={"metrics": str(tmp_path / "out.parquet")}, params=params
    )


def test_main_reads_one_file_per_language(tmp_path):
    frames = [_pred_frame([r for r in ROWS if r[1] == lang]) for lang in ("en", "de", "es")]
    ctx = _ctx(tmp_path, frames)
    main(ctx)
    out = read_artifact(ctx.output["metrics"], METRICS)
    assert set(out["lang"]) == {"en", "de", "es", "avg"}
    f1 = out[(out["lang"] == "avg") & (out["metric"] == "f1")]["value"].item()
    assert f1 == pytest.approx((1.0 + 2 / 3) / 2)


@pytest.mark.parametrize(
    "rows, params, field",
    [
        ([("s1", "de", ["I-PER", "O"], ["O", "O"])], {}, "gold"),  # ill-formed gold: stray I-
        ([("s1", "de", ["S-PER", "O"], ["O", "O"])], {}, "gold"),  # BIOES gold, scheme bio
        ([("s1", "de", ["B-PER", "O"], ["X-PER", "O"])], {}, "pred"),  # not a tag
        ([("s1", "de", ["B-PER", "O"], ["O", "O"])], {"method": "mtl"}, "method"),
        ([("s1", "de", ["B-PER", "O"], ["O", "O"])], {"seed": 1}, "seed"),
    ],
)
def test_main_rejects_bad_predictions_and_writes_nothing(tmp_path, rows, params, field):
    ctx = _ctx(tmp_path, [_pred_frame(rows)], **params)
    with pytest.raises(ArtifactError) as err:
        main(ctx)
    assert err.value.field == field and err.value.row == 0 and err.value.path.endswith("pred0.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_main_rejects_a_sentence_in_two_files(tmp_path):
    frame = _pred_frame(ROWS[1:2])
    ctx = _ctx(tmp_path, [frame, frame])
    with pytest.raises(ArtifactError, match="two prediction files"):
        main(ctx)


def test_no_avg_rows_without_a_target_language():
    m = metrics_frame(_pred_frame(ROWS[:1]), "zero_shot", 13, "bio", "en")
    assert set(m["lang"]) == {"en"}
