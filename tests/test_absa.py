"""ABSA as a second tagging task: SemEval-2016 files, BIOES, unified aspect+sentiment tags, the config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline_steps import config_schema, evaluate, ingest
from pipeline_steps import workflow_config as wfc
from pipeline_steps.formats import read
from pipeline_steps.io import read_artifact
from pipeline_steps.project import project_tags
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import SENTENCES

ROOT = Path(__file__).resolve().parents[1]
ABSA = "absa-semeval2016"


def test_unified_tags_score_a_wrong_polarity_as_an_error():
    # "The pizza was great but the service was slow": pizza POS, service NEG (unified BIOES tags)
    gold = [["O", "S-POS", "O", "O", "O", "O", "S-NEG", "O", "O"]]
    pred = [["O", "S-POS", "O", "O", "O", "O", "S-POS", "O", "O"]]  # right target, wrong sentiment
    scores = evaluate.entity_scores(gold, pred, "bioes")
    assert scores["precision"] == pytest.approx(0.5) and scores["recall"] == pytest.approx(0.5)
    assert scores["types"]["NEG"]["recall"] == 0.0 and scores["types"]["POS"]["precision"] == 0.5


def test_unified_tags_read_convert_and_project(tmp_path):
    path = tmp_path / "absa.tsv"
    path.write_text("The O\ngarlic B-POS\nbread I-POS\nrocks O\n\nslow O\nwaiters B-NEG\n", encoding="utf-8")
    df = read(str(path), "tsv", "en", "train", "bioes", input_scheme="bio", sep="space")
    assert df["tags"].tolist() == [["O", "B-POS", "E-POS", "O"], ["O", "S-NEG"]]
    # span-to-span projection keeps the sentiment as the span type: "El pan de ajo" <- "garlic bread"
    links = [(0, 0), (1, 3), (2, 1)]
    tags = project_tags([(1, 3, "POS")], links, 5, "span2span", "bioes")[0]
    assert tags == ["O", "B-POS", "I-POS", "E-POS", "O"]


def test_semeval_files_ingest_as_bioes_with_a_dev_split(shared_data, tmp_path):
    raw = shared_data / ABSA / "original/en/en.absa.train.tsv"
    lines = raw.read_text(encoding="utf-8").splitlines()
    n_targets = sum(line.endswith(" B-TARGET") for line in lines)
    common = {"format": "tsv", "lang": "en", "scheme": "bioes", "sep": "space", "input_scheme": "bio"}
    parts = {}
    for split, extra in (("train", {"limit": 1800}), ("dev", {"skip": 1800})):
        out = tmp_path / f"{split}.parquet"
        ingest.main(
            StepContext({"raw": str(raw)}, {"examples": str(out)}, {**common, "split": split, **extra})
        )
        parts[split] = read_artifact(out, SENTENCES)
    train, dev = parts["train"], parts["dev"]
    assert (len(train), len(dev)) == (1800, 200)
    assert set(train["line"]).isdisjoint(dev["line"])  # the dev split is carved out, not copied
    tags = [t for seq in list(train["tags"]) + list(dev["tags"]) for t in seq]
    assert sum(t in ("B-TARGET", "S-TARGET") for t in tags) == n_targets
    assert set(tags) == {"O", "B-TARGET", "I-TARGET", "E-TARGET", "S-TARGET"}


def test_manual_projection_files_with_a_third_column_read_as_gold(shared_data):
    gold = shared_data / ABSA / "manual_projections/en2es/DeepL.Iker.test.tsv"
    src = shared_data / ABSA / "original/en/en.absa.test.tsv"
    es = read(str(gold), "tsv", "es", "gold", "bio", sep="space")
    en = read(str(src), "tsv", "en", "gold", "bio", sep="space")
    assert len(es) == len(en) == 676  # sentence-parallel
    assert es["tokens"].iloc[0] == ["¡Una", "maravilla!"] and es["tags"].iloc[0] == ["O", "O"]


def test_absa_config_validates_and_reaches_every_method(shared_data, monkeypatch):
    monkeypatch.chdir(ROOT)
    config = yaml.safe_load((ROOT / "config/absa.yaml").read_text(encoding="utf-8"))
    config_schema.validate(config)
    wfc.check(config, ROOT)
    assert config["task"] == "absa" and config["scheme"] == "bioes"
    methods = wfc.dag_methods(config)
    assert methods == ["zero_shot", "to-es", "to-es@word2word", "bilingual-es", "mtl", "mtl_ws"]
    assert not any("/spans/par." in t for t in wfc.all_targets(config))  # spaCy NER spans: NER only
