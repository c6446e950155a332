"""Config validation (JSON schema + cross-field checks) and the DAG decisions taken from the config."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline_steps import config_schema
from pipeline_steps import workflow_config as wfc
from pipeline_steps.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def load(name: str = "config.yaml") -> dict:
    return config_schema.validate(yaml.safe_load((ROOT / "config" / name).read_text()))


@pytest.fixture()
def config() -> dict:
    return load()


def test_demo_config_passes(config):
    wfc.check(config, ROOT)
    assert config["align"]["symmetrize"] == "grow-diag-final-and"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("scheme", "bioez", "bioez"),
        ("seeds", [], "seeds"),
        ("finetune", {"lr": -1, "epochs": 1, "batch_size": 1, "max_length": 16}, "finetune.lr"),
        ("surprise", 1, "surprise"),
        # names that would write outside results/ (issue 8)
        ("experiment", "..", "experiment"),
        ("experiment", ".", "experiment"),
        ("experiment", "a/b", "experiment"),
    ],
)
def test_schema_errors_name_the_key(key, value, fragment):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config[key] = value
    with pytest.raises(ConfigError) as err:
        config_schema.validate(config)
    assert fragment in str(err.value)


@pytest.mark.parametrize("commit", ["HEAD", "--upload-pack=touch /tmp/x", "cab1e9a; rm", "CAB1E9AAC"])
def test_fast_align_commit_must_be_a_hex_sha(config, commit):
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["align"]["fast_align"]["commit"] = commit
    with pytest.raises(ConfigError, match="align.fast_align.commit"):
        config_schema.validate(raw)


def test_schema_fills_every_default_into_nested_sections():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    del config["finetune"]["eval_steps"]
    config_schema.validate(config)
    assert config["finetune"]["eval_steps"] == 0  # 0 = evaluate only at the end: valid now
    assert config["finetune"]["keep_last_checkpoints"] == 2
    assert config["predict"]["batch_size"] == 32
    assert config["data"]["train"]["encoding"] == "utf-8"
    assert config["data"]["parallel"]["de"]["tokenize"] == "moses"
    assert config["translate"]["http"]["retries"] == 4


def test_eval_steps_zero_is_accepted(config):
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["finetune"]["eval_steps"] = 0
    assert config_schema.validate(raw)["finetune"]["eval_steps"] == 0


def test_finetune_knobs_the_step_reads_are_valid_config_keys():
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["finetune"].update(
        eval_after=100, max_grad_norm=None, device="cpu", keep_checkpoints=True, keep_last_checkpoints=3
    )
    params = wfc.finetune_params(config_schema.validate(raw))
    assert (params["eval_after"], params["max_grad_norm"], params["keep_checkpoints"]) == (100, None, True)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c["target_langs"].append("en"), "is the source_lang"),
        (lambda c: c["data"]["test"].pop("de"), "no test set for target language(s) ['de']"),
        (lambda c: c["translate"]["file"].pop("es"), "translate.file: no translation file"),
        (lambda c: c["data"]["train"].update(path="nope.tsv"), "data.train.path: file not found: nope.tsv"),
        (lambda c: c["data"]["gold_parallel"].update(fr=c["data"]["parallel"]["de"]), "data.gold_parallel"),
        (lambda c: c["translate"].update(langs=["de"]), "'es' is not translated"),
        # issue 8: every config error before any job runs
        (lambda c: c["methods"].append("to@char2char"), "to@char2char"),
        (lambda c: c["methods"].append("zero_shot-de"), "zero_shot-de"),
        (lambda c: c["data"]["test"]["de"].update(encoding="latin-9x"), "data.test.de.encoding"),
        (
            lambda c: c["data"]["train"].update(format="squad"),
            "'squad' is not a format of task 'ner'",
        ),
        (lambda c: c["data"]["dev"].update(format="lines"), "data.dev.format: 'lines' is unlabelled"),
        (lambda c: c["translate"].update(provider="http", http={}), "translate.http.url"),
        (lambda c: c["translate"].update(provider="hf", hf={}), "translate.hf.name_or_path"),
        (
            lambda c: c["align"].update(
                backend="fast_align", fast_align={"binary": "no/fast_align", "commit": None}
            ),
            "align.fast_align.binary: no such file",
        ),
        (lambda c: c["align"].update(backend="embedding"), "align.embedding.name_or_path"),
        (lambda c: c["labels"].append("B-X"), "cannot be span types"),  # a tagger's types make tags
    ],
)
def test_cross_field_checks(mutate, fragment):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    mutate(config)
    with pytest.raises(ConfigError) as err:
        wfc.prepare(config, ROOT)
    assert fragment in str(err.value)


def test_every_shipped_config_passes(shared_data):
    for name in ("config.yaml", "shared-data.yaml", "absa.yaml"):
        wfc.prepare(yaml.safe_load((ROOT / "config" / name).read_text()), ROOT)


def test_the_paper002_overlays_pass_and_size_the_pools(shared_data):
    from pipeline_steps import config_schema

    for chain in (
        ("sentiment", "sentiment-cotrain"),
        ("sentiment", "sentiment-cotrain", "sentiment-cotrain-1seed"),
        ("xnli", "xnli-cotrain"),
        ("xnli", "xnli-cotrain", "xnli-cotrain-fewshot"),
        ("xnli", "xnli-cotrain", "xnli-cotrain-full"),
    ):
        config = wfc.prepare(config_schema.validate(overlays(*chain)), ROOT)
        if wfc.cotrain_variants(config):
            assert wfc.pool_langs(config) == config["target_langs"], chain
    full = wfc.prepare(config_schema.validate(overlays("xnli", "xnli-cotrain", "xnli-cotrain-full")), ROOT)
    assert full["data"]["train"]["limit"] is None and full["data"]["unlabelled"]["de"]["limit"] == 300


def test_align_backend_auto_is_eflomal_with_tiny_and_embedding_with_a_real_encoder(config):
    assert wfc.align_params(config)["backend"] == "eflomal"
    assert wfc.align_params(config)["options"] == {}
    config["model"]["name_or_path"] = ".cache/models/me5-small"
    params = wfc.align_params(config)
    assert params["backend"] == "embedding"
    assert params["options"]["name_or_path"] == ".cache/models/me5-small"  # the run's own encoder
    assert params["options"]["layer"] == 8
    config["align"]["backend"] = "eflomal"
    assert wfc.align_params(config)["backend"] == "eflomal"


def test_checkpoint_frequency_does_not_change_the_fingerprint(config):
    base = wfc.finetune_fingerprint(config, "zero_shot", 13)
    config["finetune"].update(
        checkpoint_steps=7, keep_last_checkpoints=5, keep_checkpoints=True, device="cpu"
    )
    assert wfc.finetune_fingerprint(config, "zero_shot", 13) == base


def test_method_wildcard_is_the_method_grammar():
    import re

    from pipeline_steps.method_names import METHOD_WILDCARD

    for name in ("zero_shot", "to-de", "to-es@word2word", "mtl_ws", "co_training-iter2", "mtl_ws.adam"):
        assert re.fullmatch(METHOD_WILDCARD, name)
    for name in ("to-", "To", "to@", "to-deu-x", "mtl_ws.", "mtl_ws.Adam"):
        assert not re.fullmatch(METHOD_WILDCARD, name)


def test_ingest_params_require_tags_on_labelled_data_only(config):
    assert wfc.dataset(config, "train")["require_tags"] is True
    assert wfc.dataset(config, "gold.de.tgt")["require_tags"] is True
    assert wfc.dataset(config, "par.de.tgt")["require_tags"] is False
    assert wfc.dataset(config, "test.es")["labels"] == ["PER", "ORG", "LOC", "MISC"]
    assert wfc.spans_params(config, "train")["source"] == "gold"
    assert wfc.spans_params(config, "par.es.src")["source"] == "spacy"


def test_dataset_names_map_to_files_and_languages(config):
    assert wfc.dataset_path(config, "train") == "resources/demo/en.train.tsv"
    gold_tgt = wfc.dataset(config, "gold.de.tgt")
    assert (gold_tgt["lang"], gold_tgt["split"]) == ("de", "gold")
    assert wfc.dataset_path(config, "gold.de.tgt") == "resources/demo/en-de.gold.de.tsv"
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
        "xtune_r1",
        "xtune",
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
        "xtune_r1",
        "xtune",
    ]
    assert wfc.method_params(config, "mtl_ws")["K"] == 5


def test_named_variants_of_mtl_ws_train_side_by_side_with_their_own_settings():
    """Issue 15's sweep in one experiment: ``mtl_ws.adam`` is MTL-WS with the block
    ``method_params["mtl_ws.adam"]`` (its schema defaults, not mtl_ws's block), a model, a report row
    and a Figure 2 curve of its own."""
    raw = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    raw["methods"] = ["zero_shot", "mtl_ws", "mtl_ws.adam", "mtl_ws.z1"]
    raw["method_params"] = {"mtl_ws": {"Z": 2, "gamma": 1e-4}, "mtl_ws.adam": {"outer": "adam"}}
    raw["method_params"]["mtl_ws.z1"] = {"Z": 1, "outer": "sgd"}
    config = config_schema.validate(raw)
    wfc.check(config, ROOT)
    assert wfc.dag_methods(config) == ["zero_shot", "mtl_ws", "mtl_ws.adam", "mtl_ws.z1"]
    assert wfc.method_params(config, "mtl_ws") == {"Z": 2, "gamma": 1e-4, "batch_size": None,
                                                   "backbone": "mbert", "outer": "sgd"}  # fmt: skip
    # no inheritance: Z and gamma are Table 6's again (unset), outer is the variant's
    assert wfc.method_params(config, "mtl_ws.adam") == {
        "batch_size": None,
        "backbone": "mbert",
        "outer": "adam",
    }
    assert wfc.method_inputs(config, "mtl_ws.adam") == wfc.method_inputs(config, "mtl_ws")
    prints = {m: wfc.finetune_fingerprint(config, m, 13) for m in wfc.dag_methods(config)}
    assert len(set(prints.values())) == 4
    assert wfc.report_params(config)["methods"] == ["zero_shot", "mtl_ws", "mtl_ws.adam", "mtl_ws.z1"]
    assert wfc.convergence_methods(config) == ["zero_shot", "mtl_ws", "mtl_ws.adam", "mtl_ws.z1"]
    config["methods"].append("mtl_ws.sgd")  # a variant without its block
    with pytest.raises(ConfigError, match=r"method_params\.mtl_ws\.sgd"):
        wfc.method_params(config, "mtl_ws.sgd")
    for bad in ("mtl.adam", "zero_shot.x"):  # only methods with a block of their own have variants
        with pytest.raises(ConfigError, match="named variants"):
            wfc.dag_methods({**config, "methods": [bad]})
    raw["method_params"]["mtl_ws.adam"] = {"outer": "rmsprop"}  # a variant's block is validated
    with pytest.raises(ConfigError, match="mtl_ws.adam.outer"):
        config_schema.validate(raw)


def test_projection_settings_change_the_fingerprint_of_methods_trained_on_projections(config):
    changed = copy.deepcopy(config)
    changed["project"]["mapping"] = "word2word"
    assert wfc.finetune_fingerprint(changed, "to-de", 13) != wfc.finetune_fingerprint(config, "to-de", 13)
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) == wfc.finetune_fingerprint(
        config, "zero_shot", 13
    )


@pytest.mark.parametrize(
    ("name", "mutate", "fragment"),
    [
        ("demo-cls.yaml", lambda c: c["methods"].append("mtl_ws"), "mtl_ws warms up a tagger"),
        ("demo-cls.yaml", lambda c: c["data"]["train"].update(format="tsv"), "not a format of task 'cls'"),
        ("demo-qa.yaml", lambda c: c["methods"].append("mtl_ws"), "mtl_ws warms up a tagger"),
        ("demo-qa.yaml", lambda c: c["data"]["dev"].update(format="xnli"), "not a format of task 'qa'"),
        ("demo-cls.yaml", lambda c: c["methods"].remove("zero_shot"), "start from the 'zero_shot' model"),
        ("demo-cls.yaml", lambda c: c["data"].pop("unlabelled"), "need data.unlabelled pools"),
        ("demo-qa.yaml", lambda c: c["methods"].append("co_training"), "run on classification and tagging"),
        ("config.yaml", lambda c: c["translate"].update(max_examples=5), "only classification translates"),
        ("demo-cls.yaml", lambda c: c["methods"].append("zero_shot-iter1"), "take -iterK"),
        ("demo-srl.yaml", lambda c: c["methods"].append("lang_adapt"), "not built for task srl"),
        ("demo-qa.yaml", lambda c: c["methods"].append("lang_adapt"), "built for classification and tagging"),
        ("config.yaml", lambda c: c["methods"].append("lang_adapt"), "lang_adapt.sa_epochs: a tagger's"),
        ("demo-srl.yaml", lambda c: c["labels"].append("O"), "cannot be SRL roles"),
        (
            "demo-srl.yaml",
            lambda c: c["data"]["test"]["de"].update(format="conll2002"),
            "not a format of task",
        ),
        (
            "demo-srl.yaml",
            lambda c: c["data"]["gold_parallel"]["de"].update(src_format="tsv"),
            r"data.gold_parallel.de.src_format: 'tsv' is not a format of task",
        ),
    ],
)
def test_task_checks(name, mutate, fragment):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    wfc.prepare(copy.deepcopy(config), ROOT)  # the shipped demo passes
    mutate(config)
    with pytest.raises(ConfigError, match=fragment):
        wfc.prepare(config, ROOT)


def test_classification_trains_on_translated_examples_and_the_tiny_model_reads_them():
    config = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text()), ROOT)
    r = wfc.results_dir(config)
    assert wfc.method_inputs(config, "mtl") == [f"{r}/translate/train.{x}.parquet" for x in ("de", "es")]
    assert f"{r}/translate/train.de.parquet" in wfc.tiny_model_texts(config)
    assert wfc.dataset(config, "train")["labels"] == ["entailment", "neutral", "contradiction"]
    qa = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-qa.yaml").read_text()), ROOT)
    assert wfc.evaluate_params(qa)["qa_variants"] == {"en": "squad", "de": "mlqa", "es": "mlqa"}


def test_a_tagger_s_lang_adapt_trains_on_every_projected_language_without_sa():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["methods"].append("lang_adapt")
    config["method_params"]["lang_adapt"] = {"sa_epochs": 0}
    config = wfc.prepare(config, ROOT)
    r, mapping = wfc.results_dir(config), config["project"]["mapping"]
    expected = [f"{r}/project/translated.{x}.{mapping}.parquet" for x in ("de", "es")]
    assert wfc.method_inputs(config, "lang_adapt") == expected == wfc.method_inputs(config, "mtl")
    assert wfc.method_params(config, "lang_adapt")["sa_epochs"] == 0


def test_qa_translate_train_runs_the_tagging_chain_on_segmented_contexts():
    qa = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-qa.yaml").read_text()), ROOT)
    r = wfc.results_dir(qa)
    assert wfc.sentences_path(qa, "train") == f"{r}/qa/train.sentences.parquet"
    assert wfc.sentences_path(qa, "test.de") == f"{r}/ingest/test.de.parquet"
    assert wfc.method_inputs(qa, "mtl") == [f"{r}/qa/train.{x}.span2span.parquet" for x in ("de", "es")]
    assert wfc.method_inputs(qa, "to-de@word2word") == [f"{r}/qa/train.de.word2word.parquet"]
    ner = wfc.prepare(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), ROOT)
    assert wfc.sentences_path(ner, "train") == f"{wfc.results_dir(ner)}/ingest/train.parquet"


def test_srl_gold_pairs_plan_ingest_sentences_pairs_alignment_projection_and_scores():
    """data.gold_parallel for task srl (issue 14): UPB files on both sides, each sentence once (rule
    srl_sentences), paired, aligned, projected like the training set and scored by the SRL scorer."""
    srl = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-srl.yaml").read_text()), ROOT)
    r = wfc.results_dir(srl)
    assert wfc.gold_langs(srl) == ["de"]
    assert wfc.dataset(srl, "gold.de.src")["format"] == "upb_ewt"  # src_format
    assert wfc.dataset(srl, "gold.de.tgt")["format"] == "upb"
    assert wfc.dataset(srl, "gold.de.tgt")["require_tags"] is True
    assert wfc.dataset_path(srl, "gold.de.src") == "resources/demo/srl/gold.en-de.en.conllu"
    assert wfc.parallel_sentences(srl, "gold", "de") == {
        "src": f"{r}/srl/gold.de.src.sentences.parquet",
        "tgt": f"{r}/srl/gold.de.tgt.sentences.parquet",
    }
    assert wfc.sentences_path(srl, "train") == f"{r}/srl/train.sentences.parquet"
    assert wfc.srl_project_inputs(srl, "gold", "de") == {
        "instances": f"{r}/ingest/gold.de.src.parquet",
        "pairs": f"{r}/pairs/gold.de.parquet",
        "alignments": f"{r}/align/gold.de.parquet",
    }
    assert wfc.srl_project_inputs(srl, "train", "de") == {  # translate-train, as before
        "instances": f"{r}/ingest/train.parquet",
        "pairs": f"{r}/pairs/translated.de.parquet",
        "alignments": f"{r}/align/translated.de.parquet",
    }
    assert wfc.srl_projected_path(srl, "de") == f"{r}/srl/train.de.parquet"
    assert wfc.projection_eval_inputs(srl) == {
        "projected": [f"{r}/srl/gold.de.parquet"],
        "gold": [f"{r}/ingest/gold.de.tgt.parquet"],
        "pairs": [f"{r}/pairs/gold.de.parquet"],
    }
    assert wfc.projection_eval_step(srl) == "srl_projection_eval:main"
    assert wfc.projection_eval_params(srl) == {"backend": "eflomal", "langs": ["de"], "mapping": "head2word"}
    assert f"{r}/projection/summary.json" in wfc.all_targets(srl)
    assert wfc.report_inputs(srl)["projection"] == [f"{r}/projection/summary.json"]
    # NER's gold pairs stay on the ingested sentences and the span scorer
    ner = wfc.prepare(load(), ROOT)
    n = wfc.results_dir(ner)
    assert wfc.parallel_sentences(ner, "gold", "de")["src"] == f"{n}/ingest/gold.de.src.parquet"
    assert wfc.projection_eval_step(ner) == "projection_eval:main"
    assert wfc.projection_eval_inputs(ner)["projected"][0] == f"{n}/project/gold.de.span2span.parquet"


def test_cotraining_rounds_chain_the_right_models_and_states():
    config = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text()), ROOT)
    r = wfc.results_dir(config)
    assert [wfc.lm_method_name(config, "co_training", k) for k in range(3)] == [
        "zero_shot", "co_training-iter1", "co_training"
    ]  # fmt: skip
    first = wfc.cotrain_select_inputs(config, "co_training", 13, 1)
    assert first["state"] == [] and first["emb"] == f"{r}/cotrain/base/13/emb.iter0.parquet"
    assert first["lm"] == [f"{r}/cotrain/pool/zero_shot/13/{x}.parquet" for x in ("de", "es")]
    second = wfc.cotrain_select_inputs(config, "self_training", 13, 2)
    assert second["state"] == [f"{r}/cotrain/self_training/13/state.iter1.parquet"]
    assert second["lm"][0] == f"{r}/cotrain/pool/self_training-iter1/13/de.parquet"
    assert second["emb"] == f"{r}/cotrain/self_training/13/emb.iter1.parquet"
    # f_lm of round k trains on state k; the final model on the last state
    assert wfc.method_pseudo_inputs(config, "co_training-iter1", 13) == [
        f"{r}/cotrain/co_training/13/state.iter1.parquet"
    ]
    assert wfc.method_pseudo_inputs(config, "co_training", 13) == [
        f"{r}/cotrain/co_training/13/state.iter2.parquet"
    ]
    assert wfc.method_pseudo_inputs(config, "zero_shot", 13) == []
    # a new threshold retrains the co-trained models, not zero_shot
    changed = copy.deepcopy(config)
    changed["cotrain"]["threshold"] = 0.7
    assert wfc.finetune_fingerprint(changed, "co_training", 13) != wfc.finetune_fingerprint(
        config, "co_training", 13
    )
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) == wfc.finetune_fingerprint(
        config, "zero_shot", 13
    )
    # lang. adaptation & co-training: round 0 is the lang_adapt model, and every round sees D_bi
    changed["cotrain"]["lm_method"] = "lang_adapt"
    assert wfc.lm_method_name(changed, "co_training", 0) == "lang_adapt"
    assert wfc.method_extra_langs(changed, "co_training-iter1") == ["de", "es"]
    assert wfc.method_params(changed, "co_training")["lambda_la"] == 0.1


def test_a_fine_tuned_f_emb_needs_no_vectors_and_trains_on_the_finetune_schedule():
    config = wfc.prepare(yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text()), ROOT)
    frozen_inputs = wfc.cotrain_emb_inputs(config, "co_training", 13, 1)
    assert "train_emb" in frozen_inputs and "fine_tune" not in wfc.cotrain_emb_params(config)
    config["cotrain"]["embedding"].update(kind="hf", fine_tune=True)
    inputs = wfc.cotrain_emb_inputs(config, "co_training", 13, 1)
    assert not any(key.endswith("_emb") for key in inputs)  # no embed jobs
    assert inputs["state"] == frozen_inputs["state"] and inputs["encoder"] == [wfc.tiny_model_dir(config)]
    params = wfc.cotrain_emb_params(config)
    assert "head" not in params and params["finetune"]["lr"] == config["finetune"]["lr"]
    assert params["finetune"]["model_name_or_path"] == wfc.tiny_model_dir(config)
    config["cotrain"]["embedding"]["kind"] = "use"
    with pytest.raises(ConfigError, match="fine_tune needs kind hf"):
        wfc.check(config)


def test_class_ratio_selection_is_refused_for_tagging():
    config = overlays("config", "demo-cotrain")
    wfc.prepare(copy.deepcopy(config), ROOT)  # the shipped tagging overlay passes
    config["cotrain"]["selection"] = "class_ratio"
    with pytest.raises(ConfigError, match="class_ratio needs one label per item"):
        wfc.prepare(config, ROOT)
    cls = yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text())
    cls.setdefault("cotrain", {})["selection"] = "class_ratio"
    assert wfc.cotrain_select_params(wfc.prepare(cls, ROOT))["selection"] == "class_ratio"


def test_classification_labels_may_be_any_names():
    config = yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text())
    config["labels"] = ["science/technology", "not entailed", "entailment"]
    assert wfc.prepare(config, ROOT)["labels"][0] == "science/technology"


def test_rule_params_do_not_depend_on_the_order_of_config_keys(config):
    config["translate"]["provider"] = "hf"
    reordered = copy.deepcopy(config)
    reordered["spans"] = dict(reversed(list(config["spans"].items())))
    reordered["translate"]["hf"] = dict(reversed(list(config["translate"]["hf"].items())))
    for fn, args in [(wfc.spans_params, ("par.de.src",)), (wfc.translate_params, ("de",))]:
        a, b = fn(config, *args), fn(reordered, *args)
        assert repr(a) == repr(b)  # Snakemake compares params by their text: a reorder would rerun jobs


def test_a_setting_reruns_only_the_jobs_that_use_it(config):
    """Snakemake reruns a job whose params changed: a new translated language must not retrain
    zero-shot (nor the other languages' ``to`` models), a QA setting must not touch a tagger."""
    more = copy.deepcopy(config)
    more["translate"]["langs"] = ["de", "es", "nl"]
    config["translate"]["langs"] = ["de", "es"]
    assert wfc.finetune_params(more) == wfc.finetune_params(config)
    for method in ("zero_shot", "to-de"):
        assert wfc.method_extra_langs(more, method) == wfc.method_extra_langs(config, method)
    assert wfc.method_extra_langs(more, "mtl") != wfc.method_extra_langs(config, "mtl")
    qa = copy.deepcopy(config)
    qa["qa"]["doc_stride"] += 1
    for params in (wfc.finetune_params, wfc.predict_params, wfc.evaluate_params):
        assert params(qa) == params(config)


def overlays(*names: str) -> dict:
    """config/{name}.yaml files merged in order, as Snakemake merges several --configfile."""
    from snakemake.utils import update_config

    config: dict = {}
    for name in names:
        update_config(config, yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text()))
    return config


def test_an_overlay_that_narrows_target_langs_predicts_only_their_test_sets(shared_data, capsys):
    """config/qa-mlqa.yaml on config/qa.yaml: Snakemake merges the two (it cannot delete the XQuAD test
    sets of other languages), and only en/de/es are predicted."""
    config = wfc.prepare(overlays("qa", "qa-mlqa"), ROOT)
    assert len(config["data"]["test"]) == 12
    assert wfc.test_langs(config) == ["en", "de", "es"]
    assert wfc.method_test_langs(config, "zero_shot") == ["en", "de", "es"]
    assert "ignored" in capsys.readouterr().err
    assert "mlqa" in config["data"]["test"]["de"]["path"]


def test_a_translated_languages_settings_reach_only_the_checkpoints_of_models_trained_on_it(config):
    """The checkpoint folder (a finetune param) names what made a model: to-de's does not change when
    Spanish is dropped or its translation file changes; mtl's does."""
    fewer = copy.deepcopy(config)
    fewer["translate"]["langs"] = ["de"]
    other_file = copy.deepcopy(config)
    other_file["translate"]["file"]["es"] = "elsewhere.tsv"
    for changed in (fewer, other_file):
        assert wfc.checkpoint_dir(changed, "to-de", 13) == wfc.checkpoint_dir(config, "to-de", 13)
        assert wfc.checkpoint_dir(changed, "mtl", 13) != wfc.checkpoint_dir(config, "mtl", 13)


# ------------------------------------------------------------------- paper 000: continued pre-training


def test_pretrain_is_off_by_default_and_then_changes_nothing(config):
    assert config["model"]["pretrain"] is False
    assert wfc.base_model_inputs(config) == ["results/demo/model/tiny"]
    before = wfc.finetune_fingerprint(config, "zero_shot", 13)
    config["pretrain"]["lr"] = 1.0  # a pre-training setting does not move a run that does not use it
    assert wfc.finetune_fingerprint(config, "zero_shot", 13) == before


def test_pretrain_feeds_every_method_and_only_its_own_keys_reach_it(config):
    config["model"]["pretrain"] = True
    assert wfc.base_model_inputs(config) == ["results/demo/pretrain/model"]
    assert wfc.clism_inputs(config) == [
        "results/demo/clism/par.de.parquet",
        "results/demo/clism/par.es.parquet",
    ]
    params = wfc.pretrain_params(config)
    assert params["model_name_or_path"] == "tiny"  # pre-training starts from the encoder (the rule's input)
    assert params["losses"] == {"clism": True, "cacr": True, "mlm": True}
    fingerprint = wfc.finetune_fingerprint(config, "zero_shot", 13)
    changed = copy.deepcopy(config)
    changed["finetune"]["lr"] *= 2  # a fine-tuning change: a new fine-tuning run, the same pre-training
    assert wfc.pretrain_params(changed) == params
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) != fingerprint
    changed = copy.deepcopy(config)
    changed["pretrain"]["losses"]["cacr"] = False  # a pre-training change: both move
    assert wfc.pretrain_params(changed)["checkpoint_dir"] != params["checkpoint_dir"]
    assert wfc.finetune_fingerprint(changed, "zero_shot", 13) != fingerprint


def test_pretrain_langs_and_corpora(config):
    config["pretrain"]["langs"] = ["es"]
    assert wfc.clism_inputs(config) == ["results/demo/clism/par.es.parquet"]
    config["pretrain"]["corpora"] = ["par", "translated"]
    assert wfc.clism_inputs(config) == [
        "results/demo/clism/par.es.parquet",
        "results/demo/clism/translated.es.parquet",
    ]
    wfc.check(config, ROOT)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"pretrain": {"langs": ["fr"]}}, "pretrain.langs: no sentence pairs for ['fr']"),
        ({"model": {"pretrain": True}, "data": {"parallel": {}}}, "model.pretrain: no sentence pairs"),
    ],
)
def test_pretrain_config_errors_name_the_key(config, changes, fragment):
    for section, values in changes.items():
        config[section].update(values)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        wfc.check(config, ROOT)


def test_que_token_follows_pretrain_for_qa_and_is_absent_when_off():
    qa = load("demo-qa.yaml")
    assert "que_token" not in wfc.finetune_params(qa) and "que_token" not in wfc.predict_params(qa)
    off = wfc.finetune_fingerprint(qa, "zero_shot", 13)
    qa["model"]["pretrain"] = True
    assert wfc.finetune_params(qa)["que_token"] is True and wfc.predict_params(qa)["que_token"] is True
    qa["model"]["que_token"] = False  # the Figure 4b ablation: pre-trained, fine-tuned without [QUE]
    assert "que_token" not in wfc.finetune_params(qa)
    qa["model"]["pretrain"], qa["model"]["que_token"] = False, True
    assert wfc.finetune_fingerprint(qa, "zero_shot", 13) != off


def test_que_token_is_refused_for_classification(config):
    config["model"]["que_token"] = True
    wfc.check(config, ROOT)  # NER: the empty-question form
    assert wfc.finetune_params(config)["que_token"] is True
    cls = load("demo-cls.yaml")
    cls["model"]["que_token"] = True
    with pytest.raises(ConfigError, match="model.que_token"):
        wfc.check(cls, ROOT)
    cls["model"]["que_token"] = None
    cls["model"]["pretrain"] = True
    assert "que_token" not in wfc.finetune_params(cls)


def test_parallel_text_is_sentences_for_every_task():
    qa = load("demo-qa.yaml")  # CLISM pre-training for QA reads parallel text
    qa["data"]["parallel"] = {"de": {**load()["data"]["parallel"]["de"]}}
    wfc.check(qa, ROOT)
    qa["data"]["parallel"]["de"]["format"] = "squad"
    with pytest.raises(ConfigError, match="data.parallel.de.format: 'squad'"):
        wfc.check(qa, ROOT)


def test_the_paper000_overlays_draw_figure_4b_three_lines_on_the_same_runs(shared_data):
    """config/qa-clism.yaml and its baselines (benchmarks/clism.md): the same few-shot runs and test
    sets; only the starting encoder and [QUE] differ; qa-clism-mlm pre-trains with MLM alone."""

    def chain(*names: str) -> dict:
        return wfc.prepare(overlays("qa", "qa-clism", *names), ROOT)

    main, base, noque, mlm = chain(), chain("qa-clism-base"), chain("qa-clism-noque"), chain("qa-clism-mlm")
    assert wfc.dag_methods(main) == ["zero_shot-64shot", "zero_shot-256shot", "zero_shot-1024shot"]
    assert not wfc.que_token(mlm) and wfc.base_model_inputs(mlm) == ["results/qa-clism-mlm/pretrain/model"]
    assert wfc.pretrain_params(mlm) != wfc.pretrain_params(main)
    assert mlm["pretrain"]["losses"] == {"clism": False, "cacr": False, "mlm": True}
    for other in (base, noque, mlm):
        assert wfc.dag_methods(other) == wfc.dag_methods(main)
        assert wfc.method_test_langs(other, "zero_shot-64shot") == ["en", "ar", "de", "es", "hi", "vi"]
        assert other["finetune"] == main["finetune"] and other["few_shot"] == main["few_shot"]
        assert not wfc.que_token(other)
    assert wfc.base_model_inputs(base) == wfc.base_model_inputs(noque) == []
    assert wfc.que_token(main) and wfc.base_model_inputs(main) == ["results/qa-clism/pretrain/model"]
    assert base["model"]["name_or_path"] == main["model"]["name_or_path"]
    assert noque["model"]["name_or_path"] == wfc.pretrained_model_dir(main)


def test_an_overlay_without_pretraining_ignores_the_parallel_text_of_other_languages(shared_data, capsys):
    """config/qa-clism-mlqa.yaml narrows target_langs to MLQA's de/es and fine-tunes the encoder qa-clism
    pre-trained: qa-clism's Tatoeba pairs of ar/hi/vi are ignored (named on stderr), not an error; with
    pre-training on, parallel text of a language that is not a target is pre-training data."""
    config = overlays("qa", "qa-clism", "qa-clism-mlqa")
    pretraining = copy.deepcopy(config)
    wfc.prepare(config, ROOT)
    assert wfc.parallel_langs(config) == ["de", "es"]
    assert "data.parallel ['ar', 'hi', 'vi'] ignored" in capsys.readouterr().err
    assert wfc.method_test_langs(config, "zero_shot-64shot") == ["en", "de", "es"]
    assert all("mlqa" in config["data"]["test"][lang]["path"] for lang in ("en", "de", "es"))

    pretraining["model"]["pretrain"] = True
    wfc.prepare(pretraining, ROOT)
    assert wfc.parallel_langs(pretraining) == ["de", "es", "vi", "ar", "hi"]
    assert wfc.pretrain_langs(pretraining, "par") == ["de", "es", "vi", "ar", "hi"]
    assert "data.parallel" not in capsys.readouterr().err
    pretraining["data"]["gold_parallel"] = {"vi": pretraining["data"]["parallel"]["vi"]}
    with pytest.raises(ConfigError, match=r"data.gold_parallel: language\(s\) \['vi'\] are not in"):
        wfc.check(pretraining, ROOT)


@pytest.mark.parametrize(
    "names",
    [("srl",), ("sentiment", "sentiment-cotrain", "sentiment-cotrain-balanced")],
)
def test_shipped_real_data_configs_of_this_issue_validate(shared_data, names):
    """config/srl.yaml (issue 14) and the class-balanced co-training overlay (issue 12) pass every check
    against the real data's paths."""
    config = wfc.prepare(overlays(*names), ROOT)
    if names == ("srl",):
        assert config["srl"]["upos"] and wfc.method_inputs(config, "mtl") == [
            "results/srl/srl/train.es.parquet"
        ]
    else:
        assert wfc.cotrain_select_params(config)["selection"] == "class_ratio"
