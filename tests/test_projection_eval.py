"""Projection evaluation: exact span+type P/R/F1 per language and type, scores + summary.json."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline_steps import projection_eval as pe
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PROJECTED, PROJECTION_SCORES, SENTENCES


def test_prf_and_zero_denominators():
    assert pe.prf(2, 4, 5) == pytest.approx((0.5, 0.4, 2 * 0.5 * 0.4 / 0.9))
    assert pe.prf(0, 0, 3) == (0.0, 0.0, 0.0)
    assert pe.prf(0, 2, 0) == (0.0, 0.0, 0.0)


def test_count_matches_is_exact_span_and_type():
    pred = [[(0, 2, "PER"), (3, 4, "LOC")], [(1, 2, "ORG")]]
    gold = [[(0, 2, "PER"), (3, 5, "LOC")], [(1, 2, "LOC")]]
    counts = pe.count_matches(pred, gold)
    # PER: 1 of 1; LOC: boundary differs (3,4)/(3,5), ORG vs LOC type differs
    assert counts == {"LOC": (0, 1, 2), "ORG": (0, 1, 0), "PER": (1, 1, 1), "ALL": (1, 3, 3)}


def projected_frame(tokens, tags, lang="es") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"gold-en-{lang}-{i:06d}" for i in range(len(tokens))],
            "src_id": [f"gold-en-{i:06d}" for i in range(len(tokens))],
            "lang": lang,
            "tokens": tokens,
            "tags": tags,
            "n_src_spans": 1,
            "n_projected": 1,
            "mapping": "span2span",
        }
    )


def gold_frame(tokens, tags, lang="es") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"gold-{lang}-{i:06d}" for i in range(len(tokens))],
            "lang": lang,
            "split": "gold",
            "doc_id": None,
            "tokens": tokens,
            "tags": tags,
            "source": "gold.tsv",
            "line": [1 + 10 * i for i in range(len(tokens))],
        }
    )


TOKENS = [["La", "Juventus", "ganó"], ["Copa", "de", "Europa"]]
GOLD_TAGS = [["O", "B-ORG", "O"], ["B-MISC", "I-MISC", "I-MISC"]]


def write_lang(tmp_path, lang, pred_tags, gold_tags=GOLD_TAGS, tokens=TOKENS):
    p, g = tmp_path / f"proj.{lang}.parquet", tmp_path / f"gold.{lang}.parquet"
    write_artifact(projected_frame(tokens, pred_tags, lang), p, PROJECTED)
    write_artifact(gold_frame(tokens, gold_tags, lang), g, SENTENCES)
    return str(p), str(g)


def test_main_writes_scores_and_summary(tmp_path):
    # es: both right (P=R=1); de: ORG right, MISC too short (P=R=1/2)
    es = write_lang(tmp_path, "es", GOLD_TAGS)
    de = write_lang(tmp_path, "de", [["O", "B-ORG", "O"], ["B-MISC", "O", "O"]])
    ctx = StepContext(
        input={"projected": [es[0], de[0]], "gold": [es[1], de[1]]},
        output={"scores": str(tmp_path / "scores.parquet"), "summary": str(tmp_path / "summary.json")},
        params={"langs": ["es", "de"], "backend": "eflomal", "mapping": "span2span", "scheme": "bio"},
    )
    pe.main(ctx)
    scores = read_artifact(tmp_path / "scores.parquet", PROJECTION_SCORES)
    by = {(r.lang, r.label): r for r in scores.itertuples()}
    assert by[("es", "ALL")].f1 == 1.0 and by[("es", "ALL")].support == 2
    assert (by[("de", "ALL")].precision, by[("de", "ALL")].recall) == (0.5, 0.5)
    assert by[("de", "MISC")].f1 == 0.0 and by[("de", "ORG")].f1 == 1.0
    assert by[("avg", "ALL")].f1 == pytest.approx(0.75) and by[("avg", "ALL")].support == 4
    assert set(scores["backend"]) == {"eflomal"} and set(scores["mapping"]) == {"span2span"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["de"]["F1"] == 0.5 and summary["de"]["per_type"]["MISC"]["R"] == 0.0
    assert summary["avg"]["F1"] == pytest.approx(0.75)
    assert (summary["backend"], summary["mapping"]) == ("eflomal", "span2span")


def test_main_rejects_misaligned_files(tmp_path):
    p, _ = write_lang(tmp_path, "es", GOLD_TAGS)
    _, g = write_lang(
        tmp_path, "xx", GOLD_TAGS, tokens=[["La", "Juventus", "ganó"], ["Copa", "del", "Mundo"]]
    )
    out = {"scores": str(tmp_path / "scores.parquet"), "summary": str(tmp_path / "summary.json")}
    params = {"langs": ["es"], "backend": "fast_align", "mapping": "word2word", "scheme": "bio"}
    with pytest.raises(ArtifactError) as err:
        pe.main(StepContext(input={"projected": [p], "gold": [g]}, output=out, params=params))
    assert (err.value.row, err.value.field) == (1, "tokens")
    with pytest.raises(ConfigError, match="2 gold files"):
        pe.main(StepContext(input={"projected": [p], "gold": [g, g]}, output=out, params=params))
    assert not (tmp_path / "scores.parquet").exists() and not (tmp_path / "summary.json").exists()


def test_main_rejects_unlabelled_or_ill_formed_gold(tmp_path):
    out = {"scores": str(tmp_path / "scores.parquet"), "summary": str(tmp_path / "summary.json")}
    params = {"langs": ["es"], "backend": "eflomal", "mapping": "span2span", "scheme": "bio"}
    p, g = write_lang(tmp_path, "es", GOLD_TAGS, gold_tags=[["O", "B-ORG", "O"], None])
    with pytest.raises(ArtifactError, match="no tags") as err:
        pe.main(StepContext(input={"projected": [p], "gold": [g]}, output=out, params=params))
    assert (err.value.row, err.value.field) == (1, "tags")
    p, g = write_lang(tmp_path, "es", GOLD_TAGS, gold_tags=[["O", "I-ORG", "O"], GOLD_TAGS[1]])
    with pytest.raises(ArtifactError, match="position 1") as err:
        pe.main(StepContext(input={"projected": [p], "gold": [g]}, output=out, params=params))
    assert err.value.row == 0 and "gold.es.parquet" in str(err.value)
    assert not (tmp_path / "scores.parquet").exists()
