"""Config validation (JSON schema + cross-field checks) and the DAG decisions taken from the config."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pipeline_steps import workflow_config as wfc
from pipeline_steps.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config() -> dict:
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(cfg, str(ROOT / "config" / "schema.yaml"))
    return cfg


def test_demo_config_passes(config):
    wfc.check(config, ROOT)
    assert config["align"]["symmetrize"] == "grow-diag-final-and"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("scheme", "bioez", "bioez"),
        ("seeds", [], "seeds"),
        ("finetune", {"lr": -1, "epochs": 1, "batch_size": 1, "max_length": 16}, "lr"),
        ("surprise", 1, "surprise"),
        ("methods", ["to@char2char"], "to@char2char"),
    ],
)
def test_schema_errors_name_the_key(config, key, value, fragment):
    config[key] = value
    with pytest.raises(WorkflowError) as err:
        validate(config, str(ROOT / "config" / "schema.yaml"))
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c["target_langs"].append("en"), "is the source_lang"),
        (lambda c: c["data"]["test"].pop("de"), "no test set for target language(s) ['de']"),
        (lambda c: c["translate"]["file"].pop("es"), "translate.file: no translation file"),
        (lambda c: c["data"]["train"].update(path="nope.tsv"), "data file not found: nope.tsv"),
        (lambda c: c["data"]["parallel"].update(fr=c["data"]["parallel"]["de"]), "data.parallel"),
        (lambda c: c["translate"].update(langs=["de"]), "'es' is not translated"),
    ],
)
def test_cross_field_checks(config, mutate, fragment):
    mutate(config)
    with pytest.raises(ConfigError) as err:
        wfc.check(config, ROOT)
    assert fragment in str(err.value)


def test_dataset_names_map_to_files_and_languages(config):
    assert wfc.dataset(config, "train")["path"] == "resources/demo/en.train.tsv"
    gold_tgt = wfc.dataset(config, "gold.de.tgt")
    assert (gold_tgt["lang"], gold_tgt["split"], gold_tgt["path"]) == (
        "de",
        "gold",
        "resources/demo/en-de.gold.de.tsv",
    )
    assert wfc.dataset(config, "par.es.src")["lang"] == "en"
    assert wfc.dataset(config, "test.es")["lang"] == "es"
    with pytest.raises(ConfigError):
        wfc.dataset(config, "valid")


def test_aligner_extra_data_and_spans(config):
    r = wfc.results_dir(config)
    assert wfc.extra_align_pairs(config, "gold", "de") == [f"{r}/pairs/par.de.parquet"]
    assert wfc.extra_align_pairs(config, "par", "de") == []
    config["align"]["use_parallel"] = False
    assert wfc.extra_align_pairs(config, "translated", "de") == []
    assert wfc.source_spans(config, "translated", "es") == f"{r}/spans/train.parquet"
    assert wfc.source_spans(config, "gold", "es") == f"{r}/spans/gold.es.src.parquet"


def test_translate_options_fill_language_placeholders(config):
    config["translate"]["provider"] = "hf"
    assert wfc.translate_options(config, "de")["name_or_path"] == "Helsinki-NLP/opus-mt-en-de"


def test_finetune_fingerprint_changes_with_training_params_only(config):
    base = wfc.finetune_fingerprint(config, "zero_shot", 13)
    changed = copy.deepcopy(config)
    changed["finetune"]["lr"] = 2e-3
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) != base
    assert wfc.finetune_fingerprint(config, "zero_shot", 14) != base
    unrelated = copy.deepcopy(config)
    unrelated["project"]["mapping"] = "word2word"
    assert wfc.finetune_fingerprint(unrelated, "zero_shot", 13) == base


def test_methods_expand_to_per_language_models_with_their_data_and_tests(config):
    r = wfc.results_dir(config)
    assert wfc.dag_methods(config) == [
        "zero_shot",
        "to-de",
        "to-es",
        "to-es@word2word",
        "bilingual-de",
        "bilingual-es",
        "mtl",
        "mtl_ws",
    ]
    assert wfc.method_inputs(config, "zero_shot") == []
    assert wfc.method_inputs(config, "to-es") == [f"{r}/project/translated.es.span2span.parquet"]
    assert wfc.method_inputs(config, "to-es@word2word") == [f"{r}/project/translated.es.word2word.parquet"]
    assert wfc.method_inputs(config, "mtl_ws") == [
        f"{r}/project/translated.{x}.span2span.parquet" for x in ("de", "es")
    ]
    assert wfc.method_test_langs(config, "bilingual-de") == ["en", "de"]
    assert wfc.method_test_langs(config, "mtl") == ["en", "de", "es"]
    config["translate"]["langs"] = ["es"]
    assert wfc.dag_methods(config) == [
        "zero_shot",
        "to-es",
        "to-es@word2word",
        "bilingual-es",
        "mtl",
        "mtl_ws",
    ]
    assert wfc.method_params(config, "mtl_ws")["K"] == 5


def test_projection_settings_change_the_fingerprint_of_methods_trained_on_projections(config):
    changed = copy.deepcopy(config)
    changed["project"]["mapping"] = "word2word"
    assert wfc.finetune_fingerprint(changed, "to-de", 13) != wfc.finetune_fingerprint(config, "to-de", 13)
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) == wfc.finetune_fingerprint(
        config, "zero_shot", 13
    )
