"""xTune as DAG methods (pipeline_steps/methods/xtune.py, xtune_config.py): names, per-stage settings,
the teacher and augmentation inputs, and each method trained through the finetune step."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from _helpers_model import FINETUNE_SETTINGS, TINY_PARAMS, toy_sentences, write_sentences

from pipeline_steps import config_schema, finetune, xtune_config
from pipeline_steps import workflow_config as wfc
from pipeline_steps.augment import views
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import read_artifact
from pipeline_steps.method_names import method_augmentation, row_name, split_method, teacher_method
from pipeline_steps.methods import METHODS
from pipeline_steps.models import tiny
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import TRAIN_LOG

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["PER", "ORG", "LOC", "MISC"]

# ------------------------------------------------------------------------------------------- names


def test_xtune_names_take_an_augmentation_and_name_their_teacher():
    assert split_method("xtune_r1@code_switch") == ("xtune_r1", None)
    assert method_augmentation("xtune_r1@code_switch") == "code_switch"
    assert method_augmentation("xtune") is None and method_augmentation("to-de@word2word") is None
    assert row_name("xtune_da@subword") == "xtune_da@subword"
    assert teacher_method("xtune") == "xtune_r1"
    assert teacher_method("xtune@code_switch") == "xtune_r1@code_switch"
    assert teacher_method("xtune_r2@subword") == "zero_shot"
    assert [teacher_method(m) for m in ("xtune_r1", "xtune_da", "zero_shot", "mtl")] == [None] * 4
    assert set(METHODS) >= {"xtune", "xtune_r1", "xtune_r2", "xtune_da"}


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("xtune@word2word", "unknown augmentation"), ("to@subword", "mapping"), ("xtune-de", "suffix")],
)
def test_bad_xtune_names(name, fragment):
    with pytest.raises(ConfigError, match=fragment):
        split_method(name)


# ---------------------------------------------------------------------------------------- settings


def block(**kw):
    return {**config_schema.defaults("method_params.xtune"), **kw}


def test_stage1_methods_get_stage1_keys_only_and_table7_defaults():
    s1 = xtune_config.settings(block(lambda2=0.3), "ner", "xtune_r1")
    assert s1 == {"lambda1": 5.0, "stop_gradient": True, "reduction": "mean", "stage1_augment": "subword"}
    s2 = xtune_config.settings(block(lambda2=0.3), "ner", "xtune")
    assert s2["lambda2"] == 0.3 and s2["hard_r2"] is True and s2["stage2_augment"] == "subword"
    assert "stage1_augment" not in s2
    # Table 7: XNLI code-switch in both stages; XQuAD/MLQA code-switch then subword; soft R2 off NER
    assert xtune_config.augmentations(block(), "cls", "xtune") == ["code_switch"]
    assert xtune_config.settings(block(), "qa", "xtune_r1")["stage1_augment"] == "code_switch"
    assert xtune_config.settings(block(), "qa", "xtune")["stage2_augment"] == "subword"
    assert xtune_config.settings(block(), "cls", "xtune")["hard_r2"] is False
    # the method's @augmentation wins over the block, the block over Table 7
    assert xtune_config.settings(block(stage1_augment="code_switch"), "ner", "xtune_r1")[
        "stage1_augment"
    ] == ("code_switch")
    named = xtune_config.settings(block(stage1_augment="code_switch"), "ner", "xtune_r1@subword")
    assert named["stage1_augment"] == "subword"
    assert xtune_config.settings(block(hard_r2=False), "ner", "xtune_r2")["hard_r2"] is False
    with pytest.raises(ConfigError, match="not an xTune method"):
        xtune_config.settings(block(), "ner", "mtl")


@pytest.fixture()
def config() -> dict:
    cfg = config_schema.validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    cfg["methods"] = ["zero_shot", "xtune_r1", "xtune", "xtune_r2", "xtune_da"]
    wfc.check(cfg, ROOT)
    return cfg


def test_a_stage2_key_changes_stage2_jobs_only(config):
    before = {
        m: (wfc.method_params(config, m), wfc.finetune_fingerprint(config, m, 13)) for m in config["methods"]
    }
    changed = copy.deepcopy(config)
    changed["method_params"]["xtune"]["lambda2"] = 1.0
    after = {
        m: (wfc.method_params(changed, m), wfc.finetune_fingerprint(changed, m, 13))
        for m in config["methods"]
    }
    assert [m for m in config["methods"] if before[m] != after[m]] == ["xtune", "xtune_r2"]
    # a stage-1 key changes the teacher, and with it the student's fingerprint (no stale resume)
    changed["method_params"]["xtune"]["stop_gradient"] = False
    moved = [m for m in config["methods"] if wfc.finetune_fingerprint(changed, m, 13) != before[m][1]]
    assert moved == ["xtune_r1", "xtune", "xtune_r2", "xtune_da"]
    changed = copy.deepcopy(config)
    changed["augment"]["subword"]["alpha"] = 0.5  # redrawn views: every method that reads them
    moved = [m for m in config["methods"] if wfc.finetune_fingerprint(changed, m, 13) != before[m][1]]
    assert moved == ["xtune_r1", "xtune", "xtune_r2", "xtune_da"]


def test_inputs_name_the_views_and_the_teacher(config):
    r = "results/demo"
    assert wfc.method_augment_inputs(config, "xtune", 7) == [f"{r}/augment/subword.7.parquet"]
    assert wfc.method_augment_inputs(config, "zero_shot", 7) == []
    assert wfc.method_teacher_inputs(config, "xtune", 7) == [f"{r}/finetune/xtune_r1/7/model"]
    assert wfc.method_teacher_inputs(config, "xtune_r2", 7) == [f"{r}/finetune/zero_shot/7/model"]
    assert wfc.method_teacher_inputs(config, "xtune_da", 7) == []
    assert wfc.method_inputs(config, "xtune") == []  # no projected data


def test_config_errors(config):
    cfg = copy.deepcopy(config)
    cfg["methods"] = ["xtune_r1@code_switch"]
    with pytest.raises(ConfigError, match="augment.code_switch.dictionaries is empty"):
        wfc.check(cfg, ROOT)
    cls = config_schema.validate(yaml.safe_load((ROOT / "config" / "demo-cls.yaml").read_text()))
    cls["methods"] = ["zero_shot", "xtune"]  # Table 7: code-switched XNLI, but the demo has no dictionary
    with pytest.raises(ConfigError, match="dictionaries is empty"):
        wfc.check(cls, ROOT)
    cls["methods"] = ["xtune_r1@subword"]
    with pytest.raises(ConfigError, match=r"augmented by \[.code_switch., .mt.\] only"):
        wfc.check(cls, ROOT)
    qa = config_schema.validate(yaml.safe_load((ROOT / "config" / "demo-qa.yaml").read_text()))
    qa["methods"] = ["xtune@code_switch"]
    qa["augment"]["code_switch"]["dictionaries"] = {"de": "resources/demo/dictionaries/en-de.dict"}
    qa["method_params"]["xtune"]["hard_r2"] = True
    with pytest.raises(ConfigError, match="soft KL only"):
        wfc.check(qa, ROOT)
    qa["methods"] = ["xtune"]  # Table 7: subword views in stage 2, not built for QA text yet
    with pytest.raises(ConfigError, match=r"augmented by \[.code_switch.\] only so far"):
        wfc.check(qa, ROOT)


# ---------------------------------------------------------------------------- through the finetune step


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("xtune_method")
    train = write_sentences(toy_sentences("en", 24, split="train"), root / "train.parquet")
    dev = write_sentences(toy_sentences("en", 8, split="dev"), root / "dev.parquet")
    texts = [train, write_sentences(toy_sentences("de", 20, split="test"), root / "de.parquet")]
    tiny.main(StepContext(input={"texts": texts}, output={"model": str(root / "tiny")}, params=TINY_PARAMS))
    augmented = str(root / "subword.13.parquet")
    views.main(
        StepContext(
            input={"sentences": train, "files": [str(root / "tiny")]},
            output={"augmented": augmented},
            params={
                "kind": "subword",
                "seed": 13,
                "task_kind": "tagging",
                "views": 2,
                "model_name_or_path": "tiny",
                "ratio": 0.5,
                "alpha": 0.3,
                "nbest": -1,
                "dictionaries": None,
            },
        )
    )
    return {"root": root, "train": train, "dev": dev, "tiny": str(root / "tiny"), "augmented": augmented}


def method_settings(method: str, overrides: dict) -> dict:
    """What wfc.method_params gives the job; an override of None removes the key."""
    if method == "zero_shot":
        return {}
    settings = {**xtune_config.settings(block(), "ner", method), **overrides}
    return {k: v for k, v in settings.items() if v is not None}


def finetune_run(
    paths, method, out, *, task, labels, settings, augmented, teacher=None, translations=None, **train
):
    """Run the finetune step as its rule does (every input optional but train, dev and the tiny model)."""
    params = {
        **FINETUNE_SETTINGS,
        "method": method,
        "seed": 13,
        "scheme": "bio",
        "labels": labels,
        "task": task,
        "target_langs": [],
        "method_params": settings,
        "lr": 5e-3,
        "epochs": 2,
        "batch_size": 8,
        "max_length": 64,
        "warmup_ratio": 0.0,
        "checkpoint_steps": 0,
        "max_steps": None,
        "device": "cpu",
        **train,
    }
    inputs = {"train": paths["train"], "dev": paths["dev"], "model": [paths["tiny"]]}
    for key, value in (("augmented", augmented), ("teacher", teacher), ("translations", translations)):
        if value:
            inputs[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
    ctx = StepContext(
        input=inputs,
        output={"model": str(out / "model"), "log": str(out / "train_log.parquet")},
        params=params,
    )
    finetune.main(ctx)
    return read_artifact(ctx.output["log"], TRAIN_LOG), out / "model"


def run(data, method, out, teacher=None, translations=None, **method_params):
    """A tagger's run (eval every 3 steps); ``method_params`` override its resolved xTune settings."""
    augmented = None if method == "zero_shot" or method.endswith("@noise") else data["augmented"]
    settings = method_settings(method, method_params)
    return finetune_run(
        data, method, out, task="ner", labels=LABELS, settings=settings, augmented=augmented,
        teacher=teacher, translations=translations, eval_steps=3,
    )  # fmt: skip


def weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_every_xtune_method_trains_and_stage2_leaves_its_teacher_untouched(data, tmp_path):
    r1_log, r1_model = run(data, "xtune_r1", tmp_path / "r1")
    da_log, _ = run(data, "xtune_da", tmp_path / "da")
    assert len(r1_log) == len(da_log) == 6  # 24 sentences, batch 8, 2 epochs
    assert r1_log["loss"].tolist() != da_log["loss"].tolist()  # R1 vs task loss on the view
    teacher_before = weights(r1_model)
    full_log, full_model = run(data, "xtune", tmp_path / "full", teacher=r1_model)
    assert len(full_log) == 6 and full_log["dev_f1"].notna().sum() == 2
    after = weights(r1_model)
    assert all(torch.equal(after[k], v) for k, v in teacher_before.items())
    meta = json.loads((full_model / finetune.META_FILE).read_text())
    assert meta["method"] == "xtune" and meta["base_model"] == data["tiny"]  # the student restarts
    zs_log, zs_model = run(data, "zero_shot", tmp_path / "zs")
    r2_log, _ = run(data, "xtune_r2", tmp_path / "r2", teacher=zs_model)
    assert len(r2_log) == 6 and r2_log["loss"].tolist() != full_log["loss"].tolist()
    # deterministic on CPU: the same config gives the same run
    again, _ = run(data, "xtune", tmp_path / "again", teacher=r1_model)
    pd.testing.assert_series_equal(again["loss"], full_log["loss"])


def test_stage2_without_its_teacher_or_views_is_a_clear_error(data, tmp_path):
    with pytest.raises(ConfigError, match="needs its teacher"):
        run(data, "xtune", tmp_path / "a")
    params_missing = tmp_path / "b"
    with pytest.raises(ConfigError, match="'code_switch' augmentation"):
        run(data, "xtune_r1", params_missing, stage1_augment="code_switch")
    assert not (params_missing / "model").exists()


# ---------------------------------------------------------------------------------- Gaussian noise


def test_zero_noise_through_the_embeddings_equals_the_plain_forward_pass(data):
    from pipeline_steps.methods.xtune_tagging import _logits, embedding_noise
    from pipeline_steps.models.token_classification import load_model, load_tokenizer

    model = load_model(data["tiny"], ["O", "B-PER", "I-PER"], seed=0).eval()
    tok = load_tokenizer(data["tiny"])
    enc = tok(["Anna lives in Paris .", "Hi"], padding=True, return_tensors="pt")
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
    assert embedding_noise(model, batch["input_ids"], 0.0) is None
    zero = torch.zeros((*batch["input_ids"].shape, model.config.hidden_size))
    real = batch["attention_mask"].bool()  # padding positions are numbered differently, and never read
    with torch.no_grad():
        torch.testing.assert_close(
            _logits(model, batch, zero)[real], _logits(model, batch)[real], rtol=0, atol=1e-6
        )
    torch.manual_seed(0)
    rows = torch.tensor([False, True])
    noise = embedding_noise(model, batch["input_ids"], 0.5, rows=rows)
    assert (
        noise.shape == zero.shape
        and bool((noise[0] == 0).all())
        and float(noise[1].std()) == pytest.approx(0.5, rel=0.1)
    )


def test_noise_views_are_the_sentences_themselves_and_r1_grows_with_the_noise(data, tmp_path):
    log_small, _ = run(data, "xtune_r1@noise", tmp_path / "small", noise_std=1e-5)
    log_big, _ = run(data, "xtune_r1@noise", tmp_path / "big", noise_std=1.0)
    r1_small = [t["r1"] for t in log_small["terms"]]
    r1_big = [t["r1"] for t in log_big["terms"]]
    # identical views: R1 is the effect of the noise (and of each pass's own dropout mask)
    assert 3 * max(r1_small) < min(r1_big), (r1_small, r1_big)
    with pytest.raises(ConfigError, match="noise_std"):
        run(data, "xtune_r1@noise", tmp_path / "none", noise_std=None)


# ---------------------------------------------------------------------------------- classification

NLI = ["entailment", "neutral", "contradiction"]


@pytest.fixture(scope="module")
def cls_data(tmp_path_factory):
    """The demo's NLI pairs (40 train, 12 dev) ingested, a tiny en/de dictionary, a tiny model."""
    from pipeline_steps import ingest

    root = tmp_path_factory.mktemp("xtune_cls")
    paths = {}
    for split, rows in (("train", slice(0, 40)), ("dev", slice(40, 52))):
        raw = root / f"{split}.tsv"
        lines = (ROOT / "resources/demo/cls/en.train.tsv").read_text(encoding="utf-8").splitlines()[rows]
        raw.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths[split] = str(root / f"{split}.parquet")
        params = {"format": "xnli", "lang": "en", "split": split, "labels": NLI, "require_tags": True}
        ingest.main(StepContext(input={"raw": str(raw)}, output={"examples": paths[split]}, params=params))
    dictionary = root / "en-de.dict"
    dictionary.write_text("kaufte @ bought\nBuch @ book\nnichts @ anything\nverkaufte @ sold\n", "utf-8")
    tiny.main(
        StepContext(
            input={"texts": [paths["train"]]}, output={"model": str(root / "tiny")}, params=TINY_PARAMS
        )
    )
    paths["augmented"] = str(root / "code_switch.13.parquet")
    views.main(
        StepContext(
            input={"sentences": paths["train"], "files": [str(dictionary)]},
            output={"augmented": paths["augmented"]},
            params={
                "kind": "code_switch",
                "seed": 13,
                "task_kind": "classification",
                "views": 2,
                "model_name_or_path": None,
                "ratio": 1.0,
                "dictionaries": {"de": str(dictionary)},
            },
        )
    )
    return {**paths, "root": root, "tiny": str(root / "tiny")}


def test_classification_views_switch_words_of_both_texts_and_keep_labels(cls_data):
    from pipeline_steps.schemas import AUGMENTED_EXAMPLES, CLS_EXAMPLES

    train = read_artifact(cls_data["train"], CLS_EXAMPLES)
    aug = read_artifact(cls_data["augmented"], AUGMENTED_EXAMPLES)
    assert len(aug) == 2 * len(train) and sorted(aug["view"].unique()) == [0, 1]
    first = aug[aug["view"] == 0].set_index("src_id").loc[train["id"]]
    assert first["label"].tolist() == train["label"].tolist()
    for (_, ex), (_, view) in zip(train.iterrows(), first.iterrows(), strict=True):
        for text, new in ((ex.text_a, view.text_a), (ex.text_b, view.text_b)):
            words, switched = text.split(" "), new.split(" ")
            assert len(switched) == len(words)
            expected = [
                {"bought": "kaufte", "book": "Buch", "anything": "nichts", "sold": "verkaufte"}.get(w, w)
                for w in words
            ]
            assert switched == expected  # ratio 1.0: every word with an entry is switched
    assert int(first["n_changed"].sum()) > 0
    assert (
        aug["n_words"]
        == [len(a.split(" ")) + len(b.split(" ")) for a, b in zip(aug["text_a"], aug["text_b"], strict=True)]
    ).all()


def run_cls(cls_data, method, out, teacher=None, translations=None, kind=None):
    """A classifier's run (eval every 5 steps); ``kind`` sets the augmentation of both stages."""
    overrides = {} if kind is None else {"stage1_augment": kind, "stage2_augment": kind}
    settings = xtune_config.settings(block(**overrides), "cls", method) if method != "zero_shot" else {}
    augmented = None if method == "zero_shot" else cls_data["augmented"]
    return finetune_run(
        cls_data, method, out, task="cls", labels=NLI, settings=settings, augmented=augmented,
        teacher=teacher, translations=translations, eval_steps=5,
    )  # fmt: skip


def test_xtune_trains_a_classifier_in_two_stages(cls_data, tmp_path):
    r1_log, r1_model = run_cls(cls_data, "xtune_r1", tmp_path / "r1")
    assert len(r1_log) == 10 and all(set(t) == {"task", "r1"} for t in r1_log["terms"])
    before = weights(r1_model)
    full_log, _ = run_cls(cls_data, "xtune", tmp_path / "full", teacher=r1_model)
    assert len(full_log) == 10 and all(t["r2"] > 0 for t in full_log["terms"])
    assert all(
        t["task"] + 5.0 * t["r1"] + 5.0 * t["r2"] == pytest.approx(loss)
        for t, loss in zip(full_log["terms"], full_log["loss"], strict=True)
    )
    after = weights(r1_model)
    assert all(torch.equal(after[k], v) for k, v in before.items())


# ------------------------------------------------------------------------------- machine translation


def test_mt_views_come_from_the_translate_stage(config):
    cfg = copy.deepcopy(config)
    cfg["method_params"]["xtune"]["stage2_augment"] = "mt"  # Table 8, NER: stage 1 subword, stage 2 mt
    wfc.check(cfg, ROOT)
    r = "results/demo"
    assert wfc.method_mt_inputs(cfg, "xtune") == [f"{r}/pairs/translated.{x}.parquet" for x in ("de", "es")]
    assert wfc.method_mt_inputs(cfg, "xtune_r1") == []  # its stage 1 is subword
    assert wfc.method_augment_inputs(cfg, "xtune", 13) == []
    before = wfc.finetune_fingerprint(cfg, "xtune", 13)
    cfg["translate"]["file"]["de"] = "resources/demo/translations.en-es.tsv"
    assert wfc.finetune_fingerprint(cfg, "xtune", 13) != before
    cfg["method_params"]["xtune"]["stage1_augment"] = "mt"
    with pytest.raises(ConfigError, match="carry no tags"):
        wfc.check(cfg, ROOT)
    cfg["method_params"]["xtune"]["stage1_augment"] = None
    cfg["translate"]["langs"] = []
    cfg["methods"] = ["zero_shot", "xtune"]
    with pytest.raises(ConfigError, match="translate.langs is empty"):
        wfc.check(cfg, ROOT)


def test_a_tagger_learns_from_unlabelled_translations_through_r2_only(data, tmp_path):
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import PAIRS, SENTENCES

    train = read_artifact(data["train"], SENTENCES)
    de = toy_sentences("de", len(train), split="mt")
    pairs = pd.DataFrame(
        {
            "id": [f"translated-en-de-{i:06d}" for i in range(len(train))],
            "src_id": train["id"],
            "tgt_id": None,
            "src_lang": "en",
            "tgt_lang": "de",
            "src_tokens": train["tokens"],
            "tgt_tokens": de["tokens"],
            "provider": "test",
        }
    ).iloc[1:]  # the first sentence's translation was dropped: it is its own view
    write_artifact(pairs, tmp_path / "pairs.de.parquet", PAIRS)
    _, teacher = run(data, "xtune_r1", tmp_path / "r1")
    log, _ = run(
        data,
        "xtune",
        tmp_path / "mt",
        teacher=teacher,
        translations=[str(tmp_path / "pairs.de.parquet")],
        stage2_augment="mt",
    )
    assert len(log) == 6 and all(t["r1"] == 0.0 and t["r2"] > 0 for t in log["terms"])
    with pytest.raises(ConfigError, match="input.translations"):
        run(data, "xtune", tmp_path / "none", teacher=teacher, stage2_augment="mt")


def test_a_classifier_takes_translations_as_labelled_views(cls_data, tmp_path):
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import CLS_EXAMPLES

    train = read_artifact(cls_data["train"], CLS_EXAMPLES)
    translated = train.assign(
        id=[f"translated-de-{i:06d}" for i in range(len(train))],
        lang="de",
        split="translated",
        text_a=[f"{t} (de)" for t in train["text_a"]],
        source=train["id"],
    )
    write_artifact(translated, tmp_path / "train.de.parquet", CLS_EXAMPLES)
    log, _ = run_cls(
        cls_data, "xtune_r1", tmp_path / "mt", translations=[str(tmp_path / "train.de.parquet")], kind="mt"
    )
    assert len(log) == 10 and all(t["r1"] > 0 for t in log["terms"])


def test_a_wrong_translations_file_names_the_file_and_writes_no_model(data, tmp_path):
    from pipeline_steps.errors import ArtifactError

    _, teacher = run(data, "xtune_r1", tmp_path / "r1")
    out = tmp_path / "mt"
    with pytest.raises(ArtifactError, match="train.parquet"):  # a sentences file, not translated pairs
        run(data, "xtune", out, teacher=teacher, translations=[data["train"]], stage2_augment="mt")
    assert not (out / "model").exists() and not (out / "train_log.parquet").exists()
