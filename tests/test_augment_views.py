"""The augmentation stage (pipeline_steps/augment/views.py, rule ``augment``): augmented views of the
training sentences per (kind, seed), as an inspectable artifact (xTune, paper 003 Sec. 3.2; issue 10)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from _helpers_tokenizers import TOY_VOCAB, unigram_tokenizer
from conftest import ROOT

from pipeline_steps import workflow_config as wfc
from pipeline_steps.augment.subword_sampling import META, UnigramSampler
from pipeline_steps.augment.views import augmented_views, changed_rate, code_switcher, main, subword_sampler
from pipeline_steps.errors import ArtifactError, ConfigError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.schemas import AUGMENTED, SENTENCES, validate

DICTIONARIES = {"de": {"house": ["haus"], "red": ["rot"]}, "es": {"house": ["casa"], "red": ["rojo"]}}


def sentences(n: int = 40) -> pd.DataFrame:
    rows = [
        {
            "id": f"train-en-{i:06d}",
            "lang": "en",
            "split": "train",
            "doc_id": None,
            "tokens": ["The", "red", "House", "of", "Anna"],
            "tags": ["O", "O", "B-LOC", "O", "B-PER"],
            "source": "train.tsv",
            "line": i + 1,
        }
        for i in range(n)
    ]
    return validate(pd.DataFrame(rows), SENTENCES)


def test_code_switch_views_keep_words_and_tags_and_mark_what_changed():
    src = sentences()
    frame = augmented_views(src, code_switcher(DICTIONARIES, 0.5), "code_switch", 13, views=2)
    validate(frame, AUGMENTED)
    assert len(frame) == 2 * len(src) and list(frame["view"].unique()) == [0, 1]
    assert frame["id"].iloc[0] == "code_switch-13-v0-000000" and frame["src_id"].iloc[0] == "train-en-000000"
    for tokens, tags, changed in frame[["tokens", "tags", "changed"]].itertuples(index=False):
        assert list(tags) == ["O", "O", "B-LOC", "O", "B-PER"]
        assert [t for t, c in zip(tokens, changed, strict=True) if not c] == [
            w for w, c in zip(["The", "red", "House", "of", "Anna"], changed, strict=True) if not c
        ]
        assert {t for t, c in zip(tokens, changed, strict=True) if c} <= {"haus", "rot", "casa", "rojo"}
        assert not changed[0] and not changed[3] and not changed[4]  # not in the dictionaries
    # two of five words are switchable at ratio 0.5: 20% of words on average
    assert 0.1 < changed_rate(frame) < 0.3
    assert frame["pieces"].isna().all()
    again = augmented_views(src, code_switcher(DICTIONARIES, 0.5), "code_switch", 13, views=2)
    pd.testing.assert_frame_equal(frame, again)
    views = frame.groupby("view")["tokens"].apply(lambda s: [tuple(t) for t in s])
    assert views[0] != views[1]  # each view is its own draw


def test_subword_views_store_pieces_that_spell_the_words(tmp_path):
    path = tmp_path / "tokenizer.json"
    unigram_tokenizer(TOY_VOCAB).save(str(path))
    sampler = UnigramSampler.load(path, alpha=0.1)
    src = sentences(30)
    src["tokens"] = [["abcd", "dab", "cab", "abc"]] * len(src)
    src["tags"] = [["O"] * 4] * len(src)
    frame = augmented_views(validate(src, SENTENCES), subword_sampler(sampler, 1.0), "subword", 7, views=1)
    validate(frame, AUGMENTED)
    for tokens, pieces, changed in frame[["tokens", "pieces", "changed"]].itertuples(index=False):
        assert list(tokens) == ["abcd", "dab", "cab", "abc"]
        for word, p, c in zip(tokens, pieces, changed, strict=True):
            assert "".join(p).replace(META, "") == word
            assert c == (list(p) != sampler.best(word))
    assert changed_rate(frame) > 0.3  # alpha 0.1 flattens the distribution: most samples differ
    none = augmented_views(src, subword_sampler(sampler, 0.0), "subword", 7, views=1)
    assert changed_rate(none) == 0.0


def test_augment_step_writes_the_artifact_and_refuses_other_tasks(tmp_path):
    src = tmp_path / "train.parquet"
    write_artifact(sentences(5), src, SENTENCES)
    dict_path = tmp_path / "en-de.dict"
    dict_path.write_text("haus @ house\nrot @ red\n", encoding="utf-8")
    out = tmp_path / "augment" / "code_switch.3.parquet"
    params = {"kind": "code_switch", "seed": 3, "task_kind": "tagging", "views": 1, "ratio": 1.0}
    params["dictionaries"] = {"de": str(dict_path)}
    ctx = SimpleNamespace(
        input={"sentences": str(src), "files": [str(dict_path)]}, output={"augmented": str(out)}
    )
    ctx.params = params
    main(ctx)
    frame = read_artifact(out, AUGMENTED)
    assert [list(t) for t in frame["tokens"]] == [["The", "rot", "haus", "of", "Anna"]] * 5
    out.unlink()
    ctx.params = {**params, "kind": "subword", "task_kind": "qa"}
    with pytest.raises(ConfigError, match="subword views of qa examples are not built yet"):
        main(ctx)
    ctx.params = {**params, "task_kind": "qa"}  # a tagging training set is no QA training set
    with pytest.raises(ArtifactError, match="train.parquet"):
        main(ctx)
    ctx.params = {**params, "dictionaries": {}}
    with pytest.raises(ConfigError, match="augment.code_switch.dictionaries"):
        main(ctx)
    assert not out.exists()


def test_augment_inputs_and_params_come_from_the_config():
    config = wfc.prepare(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), ROOT)
    assert wfc.augment_inputs(config, "subword") == [f"{wfc.results_dir(config)}/model/tiny"]
    assert wfc.augment_inputs(config, "code_switch") == []
    sub = wfc.augment_params(config, "subword")
    assert (sub["ratio"], sub["alpha"], sub["nbest"], sub["views"]) == (0.3, 0.3, -1, 1)
    assert sub["model_name_or_path"] == "tiny" and sub["task_kind"] == "tagging"
    bad = copy.deepcopy(config)
    bad["augment"]["code_switch"]["dictionaries"] = {"de": "missing/en-de.dict"}
    with pytest.raises(ConfigError, match=r"augment\.code_switch\.dictionaries\.de: file not found"):
        wfc.check(bad, ROOT)
