"""Every decision the workflow takes from the config, as named functions (rna-seq's ``common.smk``).

Rules in ``workflow/rules/*.smk`` hold paths and params only and call these; everything here is pure
over the config dict (already validated and defaulted by ``prepare``), so it is unit-tested without
Snakemake. ``check`` adds the cross-field rules a JSON schema cannot express, with messages that say
which key to fix; ``prepare`` runs both, so every config error surfaces before any job runs.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_steps import config_schema, xtune_config
from pipeline_steps.errors import ConfigError
from pipeline_steps.method_names import (
    AUGMENTATIONS,
    AUGMENTED_KINDS,
    COTRAIN,
    FEW_SHOT_STEPS,
    METHOD_WILDCARD,
    XTUNE,
    expand_methods,
    method_iteration,
    method_mapping,
    method_shots,
    params_key,
    projected_langs,
    row_name,
    split_method,
    teacher_method,
    with_shots,
)
from pipeline_steps.tasks import task_info

DATASET_NAME = r"train|dev|(test|unlabelled)\.[a-z]{2,3}|(gold|par)\.[a-z]{2,3}\.(src|tgt)"
WILDCARDS = {
    "name": DATASET_NAME,
    "lang": r"[a-z]{2,3}",
    "corpus": r"translated|gold|par",
    "srl_set": r"train|gold",  # the SRL instances projected: the training set (translated) or the gold pairs
    "method": METHOD_WILDCARD,
    "mapping": r"span2span|word2word",
    "seed": r"\d+",
    "kind": "|".join(AUGMENTED_KINDS),
    "variant": "|".join(sorted(COTRAIN)),
    "k": r"\d+",
}
TINY = "tiny"
#: owners of f_emb's predictions: round 0 (trained on D alone) is shared, ``base``; later rounds a variant's
EMB_OWNERS = "|".join(["base", *sorted(COTRAIN)])
#: The input formats of each kind of task (the format decides the ingest artifact).
TASK_FORMATS = {
    "tagging": frozenset({"conll2003", "conll2002", "tsv", "wikiann", "lines"}),
    "classification": frozenset({"xnli", "mnli_json", "xlmt", "sib200"}),
    "qa": frozenset({"squad"}),
    "srl": frozenset({"upb", "upb_ewt"}),
}
#: what SRL runs so far (issue 14): paper 001's methods
SRL_METHODS = frozenset({"zero_shot", "to", "bilingual", "mtl", "mtl_ws"})
#: the ``mapping`` SRL's projection scores name: each predicate and argument head to its aligned word
SRL_MAPPING = "head2word"
#: task kinds fine-tuned with [QUE] (paper 000 Sec. 3.4) when ``model.que_token`` says so
QUE_TASKS = frozenset({"qa", "tagging"})
#: finetune keys that do not change what is trained (kept out of the checkpoint fingerprint).
NOT_TRAJECTORY = frozenset({"checkpoint_steps", "keep_last_checkpoints", "keep_checkpoints", "device"})


def canonical(value: Any) -> Any:
    """``value`` with every dict's keys sorted, recursively: a rule param built from a config section
    does not change (and rerun the rule) when the keys are written in another order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def rule_params(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Decorator of the functions that give a rule its params: their result is ``canonical``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return canonical(fn(*args, **kwargs))

    return wrapper


def prepare(config: dict, root: str | Path = ".") -> dict:
    """Validate ``config`` against config/schema.yaml, fill in its defaults, and ``check`` it."""
    config_schema.validate(config)
    check(config, root)
    for key, unused, why in (
        ("data.test", unused_test_langs(config), "not the source_lang or a target_lang"),
        (
            "data.parallel",
            unused_parallel_langs(config),
            "not a target_lang, and no pre-training (model.pretrain with pretrain.corpora par) reads them",
        ),
    ):
        if unused:
            print(f"xlt: {key} {unused} ignored: {why}", file=sys.stderr)
    return config


# ------------------------------------------------------------------------------------------ paths


def results_dir(config: dict) -> str:
    return f"results/{config['experiment']}"


def logs_dir(config: dict) -> str:
    return f"logs/{config['experiment']}"


def benchmarks_dir(config: dict) -> str:
    """Snakemake's per-job wall time and memory (``benchmark:``), read by scripts/stage_times.py."""
    return f"{logs_dir(config)}/benchmarks"


# ----------------------------------------------------------------------------------------- ingest


def _dataset_entry(config: dict, name: str) -> tuple[dict, str, str, str | None]:
    """(config entry, language, split, parallel side) of dataset ``name``."""
    data = config["data"]
    if name in ("train", "dev"):
        return data[name], config["source_lang"], name, None
    if m := re.fullmatch(r"test\.([a-z]+)", name):
        return data["test"][m.group(1)], m.group(1), "test", None
    if m := re.fullmatch(r"unlabelled\.([a-z]+)", name):
        return data["unlabelled"][m.group(1)], m.group(1), "unlabelled", None
    if m := re.fullmatch(r"(gold|par)\.([a-z]+)\.(src|tgt)", name):
        kind, tgt_lang, side = m.groups()
        entry = data["gold_parallel" if kind == "gold" else "parallel"][tgt_lang]
        return entry, config["source_lang"] if side == "src" else tgt_lang, kind, side
    raise ConfigError(f"unknown dataset name {name!r}")


def dataset_path(config: dict, name: str) -> str:
    """The raw file of dataset ``name`` (``train``, ``test.de``, ``gold.es.tgt``, ``par.de.src``)."""
    entry, _, _, side = _dataset_entry(config, name)
    return entry[side] if side else entry["path"]


def dataset_format(config: dict, name: str) -> str:
    """The reader of dataset ``name``: its ``format``, or ``src_format`` for a parallel source side."""
    entry, _, _, side = _dataset_entry(config, name)
    return (entry.get("src_format") or entry["format"]) if side == "src" else entry["format"]


@rule_params
def dataset(config: dict, name: str) -> dict[str, Any]:
    """The ingest params of dataset ``name``: reader options, labels, and whether tags are required."""
    entry, lang, split, _ = _dataset_entry(config, name)
    return {
        "format": dataset_format(config, name),
        "lang": lang,
        "split": split,
        "scheme": config["scheme"],
        "input_scheme": input_scheme(entry),
        "tokenize": entry.get("tokenize", "moses"),
        "encoding": entry["encoding"],
        "limit": entry["limit"],
        "skip": entry["skip"],
        "sep": entry["sep"],
        "labels": list(config["labels"]) if task_kind(config) != "qa" else None,
        "require_tags": split not in ("par", "unlabelled"),
        "label_names": entry.get("label_names"),
        "unescape": entry.get("unescape"),
        "question_ids": entry.get("question_ids"),
    }


def dataset_companions(config: dict, name: str) -> list[str]:
    """Files read with dataset ``name``'s own file (an input, so editing them reruns ingest): the
    ``*_labels.txt`` beside an ``xlmt`` text file."""
    path = dataset_path(config, name)
    if dataset_format(config, name) == "xlmt" and path.endswith("_text.txt"):
        labels = path[: -len("_text.txt")] + "_labels.txt"
        return [labels] if Path(labels).exists() else []
    return []


def task_kind(config: dict) -> str:
    """tagging | classification | qa (``pipeline_steps.tasks``)."""
    return task_info(config["task"]).kind


def qa_settings(config: dict) -> dict | None:
    """The ``qa`` section for task qa, None otherwise (a QA setting reruns nothing of another task)."""
    return config["qa"] if task_kind(config) == "qa" else None


def srl_params(config: dict) -> dict[str, Any]:
    """``srl`` (the task's settings) in the params of a step that builds the task, for SRL only: the
    params of every other task stay as they were (an SRL setting reruns nothing of another task)."""
    return {"srl": config["srl"]} if task_kind(config) == "srl" else {}


def input_scheme(entry: dict) -> str:
    """The tag scheme of a data file: its ``scheme``, else IOB1 for CoNLL-2003 and BIO for the rest."""
    if entry.get("scheme"):
        return entry["scheme"]
    return "iob1" if entry["format"] == "conll2003" else "bio"


@rule_params
def spans_params(config: dict, name: str) -> dict[str, Any]:
    """Entity spans of a dataset: the gold tags of labelled data, spaCy on unlabelled parallel text."""
    return {
        "source": "spacy" if name.startswith("par.") else "gold",
        "scheme": config["scheme"],
        **config["spans"],
    }


def sentences_path(config: dict, name: str) -> str:
    """The sentences of dataset ``name`` that spans are taken from and the translate and pair steps read:
    the ingested sentences; for a QA training set its contexts segmented with the answer tagged
    (``qa_projection``); for SRL's training set and gold pairs each sentence once, however many
    predicates it has (rule ``srl_sentences``)."""
    if name == "train" and task_kind(config) == "qa":
        return f"{results_dir(config)}/qa/train.sentences.parquet"
    if task_kind(config) == "srl" and (name == "train" or name.startswith("gold.")):
        return f"{results_dir(config)}/srl/{name}.sentences.parquet"
    return f"{results_dir(config)}/ingest/{name}.parquet"


def parallel_sentences(config: dict, corpus: str, lang: str) -> dict[str, str]:
    """The ``src`` and ``tgt`` sentences a sentence-parallel ``corpus`` (gold, par) pairs."""
    return {side: sentences_path(config, f"{corpus}.{lang}.{side}") for side in ("src", "tgt")}


def source_spans(config: dict, corpus: str, lang: str) -> str:
    name = "train" if corpus == "translated" else f"{corpus}.{lang}.src"
    return f"{results_dir(config)}/spans/{name}.parquet"


# -------------------------------------------------------------------------------------- augment


def augment_inputs(config: dict, kind: str) -> list[str]:
    """Files an augmentation reads besides the training set: the dictionaries (code_switch) or the tiny
    model folder whose tokenizer samples (subword; a named encoder's tokenizer is loaded by name)."""
    if kind == "code_switch":
        return sorted(config["augment"]["code_switch"]["dictionaries"].values())
    return tiny_model_inputs(config)


@rule_params
def augment_params(config: dict, kind: str) -> dict[str, Any]:
    aug = config["augment"]
    return {
        "task_kind": task_kind(config),
        "views": aug["views"],
        "model_name_or_path": config["model"]["name_or_path"] if kind == "subword" else None,
        **{"dictionaries": None, **aug[kind]},
    }


# -------------------------------------------------------------------------------------- translate


def translate_langs(config: dict) -> list[str]:
    """Target languages the training set is translated into (default: all)."""
    langs = config["translate"]["langs"]
    return list(config["target_langs"] if langs is None else langs)


def translate_options(config: dict, lang: str) -> dict[str, Any]:
    """Options of the configured provider for target ``lang`` ({src}/{tgt} placeholders filled in)."""
    tr = config["translate"]
    provider = tr["provider"]
    if provider == "file":
        return {"path": tr["file"][lang]}
    fill = {"src": config["source_lang"], "tgt": lang}
    return {k: v.format(**fill) if isinstance(v, str) else v for k, v in tr[provider].items()}


def translate_inputs(config: dict, lang: str) -> list[str]:
    """The translation file of ``lang`` with the ``file`` provider (so editing it reruns the step)."""
    return [translate_options(config, lang)["path"]] if config["translate"]["provider"] == "file" else []


@rule_params
def translate_params(config: dict, lang: str) -> dict[str, Any]:
    tr = config["translate"]
    return {
        "provider": tr["provider"],
        "src_lang": config["source_lang"],
        "tgt_lang": lang,
        "cache_dir": tr["cache_dir"],
        "chunk_size": tr["chunk_size"],
        "max_examples": tr["max_examples"],
        "options": translate_options(config, lang),
    }


# ------------------------------------------------------------------------------------------ align


def align_backend(config: dict) -> str:
    """``align.backend``; ``auto`` = the embedding aligner over a real encoder, eflomal with ``tiny``."""
    backend = config["align"]["backend"]
    if backend == "auto":
        return "eflomal" if uses_tiny_model(config) else "embedding"
    return backend


def fast_align_binary(config: dict) -> tuple[str, bool]:
    """(path, needs_build): the configured binary, `fast_align` on PATH, or the one a rule builds."""
    fa = config["align"]["fast_align"]
    if fa["binary"]:
        return fa["binary"], False
    found = shutil.which("fast_align")
    if found:
        return found, False
    return f".cache/tools/fast_align/{(fa['commit'] or 'local')[:12]}/fast_align", True


def fast_align_build_inputs(config: dict) -> list[str]:
    """The binary the ``build_fast_align`` rule makes, when the fast_align backend needs it built."""
    binary, needs_build = fast_align_binary(config)
    return [binary] if align_backend(config) == "fast_align" and needs_build else []


def align_options(config: dict) -> dict[str, Any]:
    """Options of the backend: ``align.embedding`` (encoder defaulting to ``model.name_or_path``), the
    fast_align binary, nothing for eflomal."""
    backend = align_backend(config)
    if backend == "embedding":
        opts = dict(config["align"]["embedding"])
        opts["name_or_path"] = opts["name_or_path"] or config["model"]["name_or_path"]
        return opts
    if backend == "fast_align":
        return {"binary": fast_align_binary(config)[0]}
    return {}


@rule_params
def align_params(config: dict) -> dict[str, Any]:
    return {
        "backend": align_backend(config),
        "symmetrize": config["align"]["symmetrize"],
        "seed": config["seeds"][0],
        "options": align_options(config),
    }


def extra_align_pairs(config: dict, corpus: str, lang: str) -> list[str]:
    """Unlabelled parallel pairs that also train the aligner for ``corpus``/``lang``."""
    if corpus == "par" or not config["align"]["use_parallel"] or lang not in config["data"]["parallel"]:
        return []
    return [f"{results_dir(config)}/pairs/par.{lang}.parquet"]


# ---------------------------------------------------------------------------------------- project


def default_mapping(config: dict) -> str:
    return config["project"]["mapping"]


def projected_path(config: dict, corpus: str, lang: str, mapping: str | None = None) -> str:
    """The projected artifact of ``corpus``/``lang`` under ``mapping`` (default: ``project.mapping``)."""
    return f"{results_dir(config)}/project/{corpus}.{lang}.{mapping or default_mapping(config)}.parquet"


def gold_langs(config: dict) -> list[str]:
    """Languages with gold-labelled parallel data: label projection is scored on them."""
    return list(config["data"]["gold_parallel"])


def projection_eval_inputs(config: dict) -> dict[str, list[str]]:
    """The projected and gold target files of every gold language; for SRL also the gold pairs (which
    target sentence each projected sentence is)."""
    r, langs = results_dir(config), gold_langs(config)
    gold = [f"{r}/ingest/gold.{lang}.tgt.parquet" for lang in langs]
    if task_kind(config) == "srl":
        return {
            "projected": [srl_projected_path(config, lang, "gold") for lang in langs],
            "gold": gold,
            "pairs": [f"{r}/pairs/gold.{lang}.parquet" for lang in langs],
        }
    return {"projected": [projected_path(config, "gold", lang) for lang in langs], "gold": gold}


def projection_eval_step(config: dict) -> str:
    """The step that scores label projection: entity spans, or SRL's predicates and argument heads."""
    return "srl_projection_eval:main" if task_kind(config) == "srl" else "projection_eval:main"


@rule_params
def projection_eval_params(config: dict) -> dict[str, Any]:
    if task_kind(config) == "srl":
        return {"langs": gold_langs(config), "backend": align_backend(config), "mapping": SRL_MAPPING}
    return {
        "langs": gold_langs(config),
        "backend": align_backend(config),
        "mapping": default_mapping(config),
        "scheme": config["scheme"],
    }


# ------------------------------------------------------------------------------------------ model


def uses_tiny_model(config: dict) -> bool:
    return config["model"]["name_or_path"] == TINY


def tiny_model_dir(config: dict) -> str:
    return f"{results_dir(config)}/model/tiny"


def tiny_model_inputs(config: dict) -> list[str]:
    """The tiny model folder, when the run starts from it (else the encoder comes by name or path)."""
    return [tiny_model_dir(config)] if uses_tiny_model(config) else []


def tiny_model_texts(config: dict) -> list[str]:
    """Text the tiny model's tokenizer and MLM see: labelled train/dev, unlabelled parallel text, and for
    classification and SRL the translated training data (their only target-language text)."""
    r = results_dir(config)
    names = ["train", "dev"]
    for lang in parallel_langs(config):
        names += [f"par.{lang}.src", f"par.{lang}.tgt"]
    texts = [f"{r}/ingest/{n}.parquet" for n in names]
    if task_kind(config) == "classification":
        texts += [translated_examples_path(config, lang) for lang in translate_langs(config)]
    if task_kind(config) == "srl":  # the projected instances: the only target-language text of the demo
        texts += [srl_projected_path(config, lang) for lang in translate_langs(config)]
    return texts


@rule_params
def tiny_model_params(config: dict) -> dict[str, Any]:
    return {"seed": config["seeds"][0], **config["model"]["tiny"]}


def base_model_inputs(config: dict) -> list[str]:
    """The encoder folder fine-tuning starts from when the workflow builds it (a finetune input, which
    wins over ``model.name_or_path``): the continued-pre-trained model (``model.pretrain``, paper 000)
    or the tiny one; else nothing (the encoder comes by name or path)."""
    return [pretrained_model_dir(config)] if config["model"]["pretrain"] else tiny_model_inputs(config)


def que_token(config: dict) -> bool:
    """[QUE] fine-tuning (paper 000 Sec. 3.4): ``model.que_token``, by default on with ``model.pretrain``;
    for the span tasks of the paper (QA: after the question; tagging: the empty-question form), not for
    classification."""
    on = config["model"]["que_token"]
    return bool(config["model"]["pretrain"] if on is None else on) and task_kind(config) in QUE_TASKS


def que_params(config: dict) -> dict[str, bool]:
    """``{"que_token": True}`` for the finetune and predict steps when [QUE] fine-tuning is on; nothing
    when off, so results computed before the switch existed keep their params."""
    return {"que_token": True} if que_token(config) else {}


# -------------------------------------------------------------------------------------- pretrain


def pretrained_model_dir(config: dict) -> str:
    return f"{results_dir(config)}/pretrain/model"


def pretrain_langs(config: dict, corpus: str) -> list[str]:
    """Target languages of the CLISM pairs of ``corpus``: ``pretrain.langs``, else every language the
    corpus has (``data.parallel`` for par, ``translate.langs`` for translated)."""
    have = list(config["data"]["parallel"]) if corpus == "par" else translate_langs(config)
    wanted = config["pretrain"]["langs"]
    return have if wanted is None else [lang for lang in wanted if lang in have]


def clism_inputs(config: dict) -> list[str]:
    """The CLISM example artifacts pre-training reads, one per (corpus, language)."""
    r = results_dir(config)
    return [
        f"{r}/clism/{corpus}.{lang}.parquet"
        for corpus in config["pretrain"]["corpora"]
        for lang in pretrain_langs(config, corpus)
    ]


@rule_params
def clism_params(config: dict) -> dict[str, Any]:
    """The tokenizer the examples' sub-word positions are computed with (``model.name_or_path``; the
    tiny model comes as the rule's input), and the length cap."""
    return {
        "model_name_or_path": config["model"]["name_or_path"],
        "max_length": config["pretrain"]["max_length"],
    }


def _encoder_settings(config: dict) -> dict[str, Any]:
    """The ``model`` section without the paper-000 switches (``pretrain``, ``que_token``: their own
    fingerprint keys say what they add, so a run that uses neither keeps its fingerprint)."""
    return {k: v for k, v in config["model"].items() if k not in ("pretrain", "que_token")}


def pretrain_fingerprint(config: dict) -> str:
    """A short hash of what determines the pre-trained model (not any fine-tuning setting)."""
    settings = {k: v for k, v in config["pretrain"].items() if k != "checkpoint_steps"}
    keys = {
        "pretrain": settings,
        "model": _encoder_settings(config),
        "seed": config["seeds"][0],
        "examples": clism_inputs(config),
        "spans": config["spans"],
        "align": align_params(config),
        "data": {lang: config["data"]["parallel"].get(lang) for lang in pretrain_langs(config, "par")},
    }
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


@rule_params
def pretrain_params(config: dict) -> dict[str, Any]:
    """The ``pretrain`` section, the starting encoder, the seed (the first of ``seeds``, as for the
    tiny model) and the checkpoint folder named by ``pretrain_fingerprint``."""
    return {
        **config["pretrain"],
        "model_name_or_path": config["model"]["name_or_path"],
        "seed": config["seeds"][0],
        "device": config["finetune"]["device"],
        "precision": config["finetune"]["precision"],
        "checkpoint_dir": f"{results_dir(config)}/pretrain/checkpoints/{pretrain_fingerprint(config)}",
    }


# --------------------------------------------------------------------------------------- methods


def dag_methods(config: dict) -> list[str]:
    """Method names in the DAG: ``to``/``bilingual`` become one model per translated language."""
    return expand_methods(config_methods(config), translate_langs(config))


def config_methods(config: dict) -> list[str]:
    """``methods`` with ``few_shot.sizes`` applied: each method trained once per size (``zero_shot`` ->
    ``zero_shot-64shot``, ``zero_shot-256shot``, ...; paper 000 App. C) instead of on all the data; a
    name that already says ``-Nshot`` stays as it is."""
    sizes = config["few_shot"]["sizes"]
    if not sizes:
        return list(config["methods"])
    out = [m if method_shots(m) else with_shots(m, n) for m in config["methods"] for n in sizes]
    return list(dict.fromkeys(out))


@rule_params
def method_params(config: dict, method: str) -> dict[str, Any]:
    """``method_params.{base method}`` of the config (e.g. Z, K, gamma, beta for mtl_ws), or a named
    variant's own block (``mtl_ws.adam``: ``method_params["mtl_ws.adam"]``); for the xTune family, the
    resolved keys of the method's own stage(s) of ``method_params.xtune``."""
    base = split_method(method)[0]
    if base in XTUNE:
        settings = xtune_config.settings(config["method_params"]["xtune"], config["task"], method)
        if "noise" in method_augmentations(config, method):
            settings["noise_std"] = config["augment"]["noise"]["std"]
    elif base in COTRAIN:  # f_lm's fine-tuning in each round (cotrain.lm_method)
        lm_method = config["cotrain"]["lm_method"]
        settings = {"lm_method": lm_method}
        if lm_method == "lang_adapt":
            settings.update(config["method_params"]["lang_adapt"])
    else:
        key = params_key(method)
        if key != base and key not in config["method_params"]:
            raise ConfigError(f"methods: {method!r} is a variant without settings: add method_params.{key}")
        settings = dict(config["method_params"].get(key) or {})
    if method_shots(method) is not None:  # a few-shot run (``-Nshot``): its step budget, App. C
        settings[FEW_SHOT_STEPS] = config["few_shot"]["steps"]
    return settings


def method_augmentations(config: dict, method: str) -> list[str]:
    """The augmentation kinds an xTune method trains on (none for other methods)."""
    if split_method(method)[0] not in XTUNE:
        return []
    return xtune_config.augmentations(config["method_params"]["xtune"], config["task"], method)


def method_augment_inputs(config: dict, method: str, seed: int | str) -> list[str]:
    """The ``augment`` artifacts of ``method`` (drawn with the training seed; noise has none)."""
    r = results_dir(config)
    kinds = [k for k in method_augmentations(config, method) if k in AUGMENTED_KINDS]
    return [f"{r}/augment/{kind}.{seed}.parquet" for kind in kinds]


def method_mt_inputs(config: dict, method: str) -> list[str]:
    """The translations an xTune method takes as machine-translation views (``mt``): the translate
    stage's pairs (tagging) or translated examples (classification) of every translated language."""
    if "mt" not in method_augmentations(config, method):
        return []
    if task_kind(config) == "classification":
        return [translated_examples_path(config, lang) for lang in translate_langs(config)]
    return [f"{results_dir(config)}/pairs/translated.{lang}.parquet" for lang in translate_langs(config)]


def method_teacher_inputs(config: dict, method: str, seed: int | str) -> list[str]:
    """The frozen R2 teacher's model folder (xTune stage 2: same seed), or nothing."""
    teacher = teacher_method(method)
    return [] if teacher is None else [f"{results_dir(config)}/finetune/{teacher}/{seed}/model"]


def method_extra_langs(config: dict, method: str) -> list[str]:
    """Target languages whose projected training data ``method`` trains on (the finetune rule's
    ``target_langs``: adding a translated language retrains only the methods that use it); paper 002's
    ``lang_adapt`` (and co-/self-training with ``cotrain.lm_method: lang_adapt``) trains on D_bi, the
    translations of every translated language."""
    base = split_method(method)[0]
    if base == "lang_adapt" or (base in COTRAIN and config["cotrain"]["lm_method"] == "lang_adapt"):
        return translate_langs(config)
    return projected_langs(method, translate_langs(config))


def method_inputs(config: dict, method: str) -> list[str]:
    """Translated training data of ``method``: for tagging the projection under its ``@mapping`` (or
    ``project.mapping``); for QA the translated examples whose answer was projected under it; for
    classification the translated examples (labels carried over)."""
    langs = method_extra_langs(config, method)
    if task_kind(config) == "classification":
        return [translated_examples_path(config, lang) for lang in langs]
    mapping = method_mapping(method, default_mapping(config))
    if task_kind(config) == "qa":
        return [f"{results_dir(config)}/qa/train.{lang}.{mapping}.parquet" for lang in langs]
    if task_kind(config) == "srl":  # predicate and heads projected word to word (srl_projection.py)
        return [srl_projected_path(config, lang) for lang in langs]
    return [projected_path(config, "translated", lang, mapping) for lang in langs]


def srl_projected_path(config: dict, lang: str, srl_set: str = "train") -> str:
    """SRL instances projected into ``lang``: the training set's (translate-train for SRL), or the
    gold pairs' source side (``srl_set`` gold, scored by ``projection_eval``)."""
    return f"{results_dir(config)}/srl/{srl_set}.{lang}.parquet"


def srl_project_inputs(config: dict, srl_set: str, lang: str) -> dict[str, str]:
    """The instances ``srl_set`` names and the pairs and alignments they are projected through: the
    training set through its translation, the gold pairs' source side through the gold pairs."""
    r = results_dir(config)
    name, corpus = ("train", "translated") if srl_set == "train" else (f"gold.{lang}.src", "gold")
    return {
        "instances": f"{r}/ingest/{name}.parquet",
        "pairs": f"{r}/pairs/{corpus}.{lang}.parquet",
        "alignments": f"{r}/align/{corpus}.{lang}.parquet",
    }


def translated_examples_path(config: dict, lang: str) -> str:
    """The source training examples translated into ``lang`` (classification translate-train)."""
    return f"{results_dir(config)}/translate/train.{lang}.parquet"


def method_test_langs(config: dict, method: str) -> list[str]:
    """Test sets a method's model is evaluated on: a per-language model (``to-de``) only on its own
    language (and the source), every other model on every test set."""
    lang = split_method(method)[1]
    langs = test_langs(config)
    if lang is None:
        return langs
    return [x for x in langs if x in (config["source_lang"], lang)]


def test_langs(config: dict) -> list[str]:
    """The test sets the experiment predicts on: the source and target languages', in that order. A
    test set of another language is ignored (an overlay config such as qa-mlqa.yaml narrows
    ``target_langs`` but cannot delete the test sets it inherits; ``unused_test_langs`` lists them)."""
    test = config["data"]["test"]
    return [lang for lang in [config["source_lang"], *config["target_langs"]] if lang in test]


def unused_test_langs(config: dict) -> list[str]:
    return sorted(set(config["data"]["test"]) - set(test_langs(config)))


def parallel_langs(config: dict) -> list[str]:
    """The ``data.parallel`` languages the run reads: the target languages', and any other that paper 000's
    pre-training pairs with English (an overlay such as qa-clism-mlqa.yaml narrows ``target_langs``
    without pre-training, and Snakemake cannot delete the other languages' entries)."""
    pretrains = config["model"]["pretrain"] and "par" in config["pretrain"]["corpora"]
    wanted = {*config["target_langs"], *(pretrain_langs(config, "par") if pretrains else [])}
    return [lang for lang in config["data"]["parallel"] if lang in wanted]


def unused_parallel_langs(config: dict) -> list[str]:
    return sorted(set(config["data"]["parallel"]) - set(parallel_langs(config)))


def finetune_fingerprint(config: dict, method: str, seed: int) -> str:
    """A short hash of everything that determines a training run (names its checkpoint folder).

    A rerun after a parameter change must not resume from checkpoints of the old parameters; a change
    of how often checkpoints are written (``NOT_TRAJECTORY``) keeps them."""
    keys = {
        "method": method,
        "seed": seed,
        "method_params": method_params(config, method),
        "finetune": {k: v for k, v in config["finetune"].items() if k not in NOT_TRAJECTORY},
        "model": _encoder_settings(config),
        "scheme": config["scheme"],
        "labels": config["labels"],
        "data": {k: config["data"][k] for k in ("train", "dev")},
    }
    if config["model"]["pretrain"]:  # a new pre-trained encoder must not resume the old run
        keys["pretrain"] = pretrain_fingerprint(config)
    keys.update(que_params(config))
    kinds = method_augmentations(config, method)
    if kinds:  # trains on augmented views: how they were drawn matters
        keys["augment"] = {kind: augment_params(config, kind) for kind in kinds if kind != "mt"}
    teacher = teacher_method(method)
    if teacher is not None:  # a new teacher (e.g. stage 1 changed) must not resume the old student
        keys["teacher"] = finetune_fingerprint(config, teacher, seed)
    if "mt" in kinds:  # machine-translation views: how every language was translated
        keys["translate"] = {lang: translate_params(config, lang) for lang in translate_langs(config)}
    if split_method(method)[0] in COTRAIN:  # trains on pseudo-labels: how they were picked matters
        keys["cotrain"] = config["cotrain"]
        keys["unlabelled"] = config["data"]["unlabelled"]
    langs = method_extra_langs(config, method)
    if langs:  # trains on projected data: how its languages' data were made matters too (no other's)
        keys["translate"] = {lang: translate_params(config, lang) for lang in langs}
        keys["project"] = config["project"]
        keys["align"] = align_params(config)
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


@rule_params
def finetune_params(config: dict) -> dict[str, Any]:
    """The params every finetune job shares: the ``finetune`` section and the task's label set."""
    return {
        **config["finetune"],
        "model_name_or_path": config["model"]["name_or_path"],
        "scheme": config["scheme"],
        "labels": list(config["labels"]),
        "task": config["task"],
        "qa": qa_settings(config),
        **srl_params(config),
        **que_params(config),
    }


def checkpoint_dir(config: dict, method: str, seed: int) -> str:
    return f"{results_dir(config)}/finetune/{method}/{seed}/checkpoints/" + finetune_fingerprint(
        config, method, seed
    )


@rule_params
def predict_params(config: dict) -> dict[str, Any]:
    return {
        "task": config["task"],
        "labels": list(config["labels"]),
        "qa": qa_settings(config),
        **srl_params(config),
        **que_params(config),
        "batch_size": config["predict"]["batch_size"],
        "max_length": config["finetune"]["max_length"],
        "device": config["finetune"]["device"],
        "scheme": config["scheme"],
    }


# ------------------------------------------------------------------------------------ co-training


def pool_langs(config: dict) -> list[str]:
    """The target languages with an unlabelled pool (``data.unlabelled``): U of paper 002 Alg. 1."""
    return [lang for lang in config["target_langs"] if lang in config["data"]["unlabelled"]]


def pool_paths(config: dict) -> list[str]:
    """The ingested pools, one per ``pool_langs`` language."""
    return [f"{results_dir(config)}/ingest/unlabelled.{lang}.parquet" for lang in pool_langs(config)]


def cotrain_variants(config: dict) -> list[str]:
    """The co-/self-training methods of the run (``self_training``, ``co_training``)."""
    return [m for m in ("self_training", "co_training") if m in config["methods"]]


def lm_method_name(config: dict, variant: str, k: int) -> str:
    """The DAG method whose model is f_lm after selection round ``k``: round 0 is f_lm on D alone,
    i.e. the ``zero_shot`` (or ``lang_adapt``) model; the last round is ``variant`` itself."""
    k = int(k)
    if k == 0:
        return "lang_adapt" if config["cotrain"]["lm_method"] == "lang_adapt" else "zero_shot"
    return variant if k == config["cotrain"]["iterations"] else f"{variant}-iter{k}"


def state_path(config: dict, variant: str, seed: int | str, k: int | str) -> str:
    return f"{results_dir(config)}/cotrain/{variant}/{seed}/state.iter{k}.parquet"


def emb_predictions_path(config: dict, variant: str, seed: int | str, k: int | str) -> str:
    """f_emb of round ``k`` (round 0: trained on D alone, shared by both variants)."""
    owner = "base" if int(k) == 0 else variant
    return f"{results_dir(config)}/cotrain/{owner}/{seed}/emb.iter{k}.parquet"


def method_pseudo_inputs(config: dict, method: str, seed: int | str) -> list[str]:
    """The state artifact whose pseudo-labels f_lm trains on (co-/self-training), else nothing."""
    base = split_method(method)[0]
    k = method_iteration(method, config["cotrain"]["iterations"])
    return [] if k is None else [state_path(config, base, seed, k)]


def embeddings_path(config: dict, name: str) -> str:
    return f"{results_dir(config)}/cotrain/embeddings/{name}.parquet"


def cotrain_emb_inputs(config: dict, variant: str, seed: int | str, k: int | str) -> dict[str, Any]:
    """f_emb of round ``k``: the examples and their vectors (with ``embedding.fine_tune``: the encoder
    folder the workflow builds, if it builds it), and the state of round ``k`` (none for 0)."""
    r, pools, tests = results_dir(config), pool_langs(config), test_langs(config)
    inputs = {
        "train": f"{r}/ingest/train.parquet",
        "dev": f"{r}/ingest/dev.parquet",
        "pool": pool_paths(config),
        "test": [f"{r}/ingest/test.{lang}.parquet" for lang in tests],
        "state": [] if int(k) == 0 else [state_path(config, variant, seed, k)],
    }
    if config["cotrain"]["embedding"]["fine_tune"]:
        return {**inputs, "encoder": embedding_inputs(config)}
    return {
        **inputs,
        "train_emb": embeddings_path(config, "train"),
        "dev_emb": embeddings_path(config, "dev"),
        "pool_emb": [embeddings_path(config, f"unlabelled.{lang}") for lang in pools],
        "test_emb": [embeddings_path(config, f"test.{lang}") for lang in tests],
    }


def cotrain_select_inputs(config: dict, variant: str, seed: int | str, k: int | str) -> dict[str, Any]:
    """Selection round ``k`` (>= 1): the pools, the previous state, and both models of round k-1 on U."""
    r, prev = results_dir(config), int(k) - 1
    lm = lm_method_name(config, variant, prev)
    return {
        "pool": pool_paths(config),
        "train": f"{r}/ingest/train.parquet",
        "state": [] if prev == 0 else [state_path(config, variant, seed, prev)],
        "lm": [f"{r}/cotrain/pool/{lm}/{seed}/{lang}.parquet" for lang in pool_langs(config)],
        "emb": emb_predictions_path(config, variant, seed, prev),
    }


@rule_params
def cotrain_select_params(config: dict) -> dict[str, Any]:
    c = config["cotrain"]
    return {
        "task_kind": task_kind(config),
        "threshold": c["threshold"],
        "pick_fraction": c["pick_fraction"],
        "selection": c["selection"],
    }


def embedding_encoder(config: dict) -> str | None:
    """f_emb's frozen encoder: ``cotrain.embedding.name_or_path``; for ``kind: hf`` left null, the
    run's own starting encoder (``model.name_or_path``, the tiny model's folder in the demo)."""
    emb = config["cotrain"]["embedding"]
    if emb["name_or_path"] or emb["kind"] != "hf":
        return emb["name_or_path"]
    name = config["model"]["name_or_path"]
    return tiny_model_dir(config) if name == TINY else name


def embedding_inputs(config: dict) -> list[str]:
    """The encoder folder the workflow builds (the tiny model), when f_emb uses it."""
    encoder = embedding_encoder(config)
    return [encoder] if uses_tiny_model(config) and encoder == tiny_model_dir(config) else []


@rule_params
def embed_params(config: dict) -> dict[str, Any]:
    return {
        **config["cotrain"]["embedding"],
        "name_or_path": embedding_encoder(config),
        "task_kind": task_kind(config),
    }


@rule_params
def cotrain_emb_params(config: dict) -> dict[str, Any]:
    """f_emb's settings: its head's, or (``embedding.fine_tune``) the finetune params with the
    embedding encoder as the starting model."""
    params = {
        "task_kind": task_kind(config),
        "labels": list(config["labels"]),
        "scheme": config["scheme"],
        "confidence": config["cotrain"]["confidence"],
    }
    if not config["cotrain"]["embedding"]["fine_tune"]:
        return {**params, "head": dict(config["cotrain"]["head"])}
    return {
        **params,
        "fine_tune": True,
        "finetune": {**finetune_params(config), "model_name_or_path": embedding_encoder(config)},
        "predict_batch_size": config["predict"]["batch_size"],
    }


@rule_params
def pool_predict_params(config: dict) -> dict[str, Any]:
    return {**predict_params(config), "confidence": config["cotrain"]["confidence"]}


def cotrain_report_inputs(config: dict) -> dict[str, list[str]]:
    """Every round's f_lm evaluation and f_emb predictions and states, per variant and seed."""
    r, s = results_dir(config), config["cotrain"]["iterations"]
    variants, seeds = cotrain_variants(config), config["seeds"]
    return {
        "lm_metrics": [
            f"{r}/eval/{lm_method_name(config, v, k)}/{seed}.parquet"
            for v in variants
            for seed in seeds
            for k in range(s + 1)
        ],
        "emb": [
            emb_predictions_path(config, v, seed, k) for v in variants for seed in seeds for k in range(s + 1)
        ],
        "states": [
            state_path(config, v, seed, k) for v in variants for seed in seeds for k in range(1, s + 1)
        ],
    }


def cotrain_report_outputs(config: dict) -> list[str]:
    """The per-iteration plot (paper 002 Fig. 3) and table, when the run co- or self-trains."""
    r = results_dir(config)
    return [f"{r}/report/cotraining.png", f"{r}/report/cotraining.md"] if cotrain_variants(config) else []


@rule_params
def cotrain_report_params(config: dict) -> dict[str, Any]:
    return {
        "variants": cotrain_variants(config),
        "task_kind": task_kind(config),
        "scheme": config["scheme"],
        "iterations": config["cotrain"]["iterations"],
        "seeds": list(config["seeds"]),
        "source_lang": config["source_lang"],
        "target_langs": list(config["target_langs"]),
        "lm_methods": {
            v: [lm_method_name(config, v, k) for k in range(config["cotrain"]["iterations"] + 1)]
            for v in cotrain_variants(config)
        },
    }


def _check_cotrain(config: dict) -> None:
    variants = cotrain_variants(config)
    if not variants:
        return
    kind = task_kind(config)
    if kind not in ("classification", "tagging"):
        raise ConfigError(
            f"methods: {variants} run on classification and tagging; task {config['task']!r} is {kind}"
        )
    emb = config["cotrain"]["embedding"]
    if emb["fine_tune"] and emb["kind"] != "hf":
        raise ConfigError("cotrain.embedding.fine_tune needs kind hf (USE is not fine-tunable here)")
    if kind == "tagging" and emb["kind"] != "hf":
        raise ConfigError(
            "cotrain.embedding.kind: tagging needs word vectors, i.e. kind hf (a Hugging Face encoder)"
        )
    if kind == "tagging" and config["cotrain"]["selection"] != "uniform":
        raise ConfigError("cotrain.selection: class_ratio needs one label per item (classification)")
    if kind == "tagging" and config["cotrain"]["lm_method"] != "zero_shot":
        raise ConfigError("cotrain.lm_method: lang_adapt is built for classification only")
    if not pool_langs(config):
        raise ConfigError(
            f"methods: {variants} need data.unlabelled pools for some of {config['target_langs']}"
        )
    lm = lm_method_name(config, variants[0], 0)
    if lm not in config["methods"]:
        raise ConfigError(
            f"methods: {variants} start from the {lm!r} model (Alg. 1 round 0, cotrain.lm_method): add it"
        )


# ----------------------------------------------------------------------------------------- report


@rule_params
def evaluate_params(config: dict) -> dict[str, Any]:
    return {
        "task": config["task"],
        "labels": list(config["labels"]),
        "qa": qa_settings(config),
        "scheme": config["scheme"],
        "source_lang": config["source_lang"],
        "qa_variants": {lang: e["qa_metric"] for lang, e in config["data"]["test"].items()},
    }


def convergence_methods(config: dict) -> list[str]:
    """Paper 001 Figure 2 (dev F1 vs step with and without warm-up), when ZERO-SHOT and MTL-WS run:
    zero_shot, then every MTL-WS of ``methods`` (its named variants too; not few-shot runs)."""
    warm = [m for m in config["methods"] if split_method(m)[0] == "mtl_ws" and method_shots(m) is None]
    return ["zero_shot", *warm] if warm and "zero_shot" in config["methods"] else []


def convergence_plot(config: dict) -> list[str]:
    """The Figure 2 plot, when the run has both methods (else no such output)."""
    return [f"{results_dir(config)}/report/convergence.png"] if convergence_methods(config) else []


def xtune_curve_methods(config: dict) -> list[str]:
    """The methods drawn in the xTune training curves: every xTune method run (and zero_shot beside
    them); none without an xTune method."""
    names = [m for m in dag_methods(config) if split_method(m)[0] in XTUNE]
    return (["zero_shot"] if names and "zero_shot" in config["methods"] else []) + names


def few_shot_plot(config: dict) -> list[str]:
    """The Figure 4b plot (paper 000), when a few-shot run is in the DAG."""
    few = any(method_shots(m) is not None for m in config_methods(config))
    return [f"{results_dir(config)}/report/few_shot.png"] if few else []


def xtune_curves_plot(config: dict) -> list[str]:
    return [f"{results_dir(config)}/report/xtune_curves.png"] if xtune_curve_methods(config) else []


def report_inputs(config: dict) -> dict[str, list[str]]:
    r, seed = results_dir(config), config["seeds"][0]
    return {
        "metrics": [f"{r}/eval/{m}/{s}.parquet" for m in dag_methods(config) for s in config["seeds"]],
        "projection": [f"{r}/projection/summary.json"] if gold_langs(config) else [],
        "train_logs": [  # Figure 2 averages its curves over the seeds
            f"{r}/finetune/{m}/{s}/train_log.parquet"
            for m in convergence_methods(config)
            for s in config["seeds"]
        ],
        "xtune_logs": [f"{r}/finetune/{m}/{seed}/train_log.parquet" for m in xtune_curve_methods(config)],
        **throughput_inputs(config),
    }


def throughput_inputs(config: dict) -> dict[str, list[str]]:
    """Every model's train log and predictions: the items behind the report's throughput section."""
    r, seeds, methods = results_dir(config), config["seeds"], dag_methods(config)
    return {
        "all_train_logs": [f"{r}/finetune/{m}/{s}/train_log.parquet" for m in methods for s in seeds],
        "predictions": [
            f"{r}/predict/{m}/{s}/{lang}.parquet"
            for m in methods
            for s in seeds
            for lang in method_test_langs(config, m)
        ],
    }


@rule_params
def report_params(config: dict) -> dict[str, Any]:
    return {
        "task": config["task"],
        "experiment": config["experiment"],
        "source_lang": config["source_lang"],
        "target_langs": config["target_langs"],
        "methods": list(dict.fromkeys(row_name(m) for m in config_methods(config))),
        "mapping": default_mapping(config),
        "curve_methods": convergence_methods(config),
        "augmentations": report_augmentations(config),
        "xtune_curve_methods": xtune_curve_methods(config),
        "seeds": list(config["seeds"]),  # a new seed list reruns the report (params trigger)
        "benchmarks": benchmarks_dir(config),
        "batch_size": config["finetune"]["batch_size"],
    }


def report_augmentations(config: dict) -> dict[str, str]:
    """Report row -> augmentation of each xTune ablation run (paper 003 Table 4 rows): the stage-1
    augmentation of ``xtune_r1`` / ``xtune_da``, the stage-2 one of ``xtune_r2``."""
    out = {}
    for name in config_methods(config):
        base = split_method(name)[0]
        if base in ("xtune_r1", "xtune_da", "xtune_r2"):
            s = method_params(config, name)
            out[row_name(name)] = s.get("stage1_augment") or s["stage2_augment"]
    return out


def all_targets(config: dict) -> list[str]:
    """Final outputs of a full run (rule ``all``)."""
    r = results_dir(config)
    targets = [f"{r}/report/table.md", f"{r}/report/table.csv", f"{r}/report/f1.png"]
    if task_kind(config) == "tagging":
        targets += [projected_path(config, "translated", lang) for lang in translate_langs(config)]
    elif task_kind(config) == "srl":
        targets += [srl_projected_path(config, lang) for lang in translate_langs(config)]
    elif task_kind(config) == "classification":
        targets += [translated_examples_path(config, lang) for lang in translate_langs(config)]
    if gold_langs(config):
        targets.append(f"{r}/projection/summary.json")
    targets += cotrain_report_outputs(config)
    if config["task"] == "ner":  # spaCy entity spans of the unlabelled source side: NER only
        targets += [f"{r}/spans/par.{lang}.src.parquet" for lang in parallel_langs(config)]
    return targets


def wildcard_fn(fn: Callable[..., Any], config: dict, *names: str) -> Callable[[Any], Any]:
    """``wildcards -> fn(config, wildcards.<name>, ...)``: an input/params function for a rule."""
    return lambda wc: fn(config, *(getattr(wc, n) for n in names))


# ------------------------------------------------------------------------------------------ check


def check(config: dict, root: str | Path = ".") -> None:
    """Cross-field checks of a validated config; raises ConfigError with the key to fix."""
    root = Path(root)
    src, tgts = config["source_lang"], config["target_langs"]
    if src in tgts:
        raise ConfigError(f"target_langs: {src!r} is the source_lang; list only target languages")
    data = config["data"]
    missing = [lang for lang in tgts if lang not in data["test"]]
    if missing:
        raise ConfigError(f"data.test: no test set for target language(s) {missing}")
    extra = sorted(set(data["gold_parallel"]) - set(tgts))
    if extra:
        raise ConfigError(f"data.gold_parallel: language(s) {extra} are not in target_langs {tgts}")
    unknown = sorted(set(translate_langs(config)) - set(tgts))
    if unknown:
        raise ConfigError(f"translate.langs: {unknown} are not in target_langs {tgts}")
    _check_labels(config)
    _check_methods(config)
    _check_cotrain(config)
    _check_srl(config)
    _check_data_entries(config)
    _check_translate(config)
    _check_align(config, root)
    _check_pretrain(config)
    for key, path in _data_paths(config):
        if not (root / path).exists():
            raise ConfigError(
                f"{key}: file not found: {path} (paths are relative to the directory snakemake runs in)"
            )


def _check_pretrain(config: dict) -> None:
    """Pre-training needs sentence pairs in every language ``pretrain.langs`` names."""
    pre = config["pretrain"]
    if pre["langs"] is not None:
        have = {lang for corpus in pre["corpora"] for lang in pretrain_langs(config, corpus)}
        missing = [lang for lang in pre["langs"] if lang not in have]
        if missing:
            raise ConfigError(
                f"pretrain.langs: no sentence pairs for {missing} in pretrain.corpora {pre['corpora']} "
                "(par: data.parallel; translated: translate.langs)"
            )
    if config["model"]["que_token"] and task_kind(config) not in QUE_TASKS:
        raise ConfigError(
            "model.que_token: [QUE] fine-tuning is for span tasks (paper 000 Sec. 3.4: QA, tagging); task "
            f"{config['task']!r} is {task_kind(config)} (set it to null or false)"
        )
    if config["model"]["pretrain"] and not clism_inputs(config):
        raise ConfigError(
            f"model.pretrain: no sentence pairs to pre-train on: pretrain.corpora {pre['corpora']} has no "
            "language (add data.parallel files, or translate.langs with corpora [translated])"
        )


def _check_labels(config: dict) -> None:
    if task_kind(config) == "srl":
        bad = [x for x in config["labels"] if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", x) or x == "O"]
        if bad:
            raise ConfigError(f"labels: {bad} cannot be SRL roles (letters, digits, _ and -, not O)")
    if task_kind(config) == "tagging":
        bad = [x for x in config["labels"] if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", x)]
        if bad:
            raise ConfigError(f"labels: {bad} cannot be span types (letters, digits and _ only)")


def _check_methods(config: dict) -> None:
    kind = task_kind(config)
    for name in config["methods"]:
        base = split_method(name)[0]
        if base == "mtl_ws" and kind not in ("tagging", "srl"):
            raise ConfigError(
                f"methods: mtl_ws warms up a tagger (paper 001); task {config['task']!r} is {kind}"
            )
        if base in XTUNE:
            _check_xtune(config, name, kind)
        if base == "lang_adapt":
            _check_lang_adapt(config, name, kind)
        lang = split_method(name)[1]  # ConfigError on a name outside the grammar
        if lang is not None and lang not in translate_langs(config):
            raise ConfigError(
                f"methods: {name!r} trains on translated {lang!r} data, but {lang!r} is not translated "
                f"(translate.langs: {translate_langs(config)})"
            )


def _check_lang_adapt(config: dict, name: str, kind: str) -> None:
    """Paper 002's LA/SA for classification; LA over entity tokens for a tagger, without SA."""
    if kind == "qa":  # (srl: _check_srl names the methods SRL runs)
        raise ConfigError(f"methods: {name!r}: lang_adapt is built for classification and tagging ({kind})")
    if kind == "tagging" and method_params(config, name).get("sa_epochs", 1) != 0:
        raise ConfigError(
            f"method_params.{params_key(name)}.sa_epochs: a tagger's lang_adapt runs label alignment over "
            "entity tokens only (semantic alignment contrasts whole sentences): set it to 0"
        )


def _check_xtune(config: dict, name: str, kind: str) -> None:
    """xTune's views: any kind for a tagger, code-switched text for classification and QA (so far); a
    code-switched view needs a dictionary."""
    kinds = method_augmentations(config, name)
    allowed = {"tagging": set(AUGMENTATIONS), "classification": {"code_switch", "mt"}, "qa": {"code_switch"}}
    if set(kinds) - allowed[kind]:
        raise ConfigError(
            f"methods: {name!r}: {kind} examples are augmented by {sorted(allowed[kind])} only so far, not "
            f"{kinds} (set method_params.xtune.stage1_augment / stage2_augment, or name it e.g. "
            "xtune@code_switch)"
        )
    settings = method_params(config, name)
    if kind == "tagging" and settings.get("stage1_augment") == "mt":
        raise ConfigError(
            f"methods: {name!r}: translated sentences carry no tags, so stage 1 cannot pair them word by "
            "word (paper 003 Table 8: NER stage 1 subword, stage 2 mt): set stage1_augment"
        )
    if kind == "qa" and settings.get("hard_r2"):
        raise ConfigError(f"methods: {name!r}: R2 for QA is soft KL only (method_params.xtune.hard_r2)")
    if "mt" in kinds and not translate_langs(config):
        raise ConfigError(
            f"methods: {name!r} trains on machine-translation views, but translate.langs is empty"
        )
    if "code_switch" in kinds and not config["augment"]["code_switch"]["dictionaries"]:
        raise ConfigError(
            f"methods: {name!r} trains on code-switched views, but augment.code_switch.dictionaries is "
            "empty (give e.g. de: ../shared/data/muse-dictionaries/en-de.dict)"
        )


def _data_entries(config: dict) -> list[tuple[str, dict]]:
    data = config["data"]
    entries = [("data.train", data["train"]), ("data.dev", data["dev"])]
    entries += [(f"data.test.{lang}", e) for lang, e in data["test"].items()]
    for key in ("gold_parallel", "parallel", "unlabelled"):
        entries += [(f"data.{key}.{lang}", e) for lang, e in data[key].items()]
    return entries


def _check_srl(config: dict) -> None:
    if task_kind(config) != "srl":
        return
    other = [m for m in config["methods"] if split_method(m)[0] not in SRL_METHODS]
    if other:
        raise ConfigError(f"methods: {other} are not built for task srl (it runs {sorted(SRL_METHODS)})")


def _check_data_entries(config: dict) -> None:
    kind = task_kind(config)
    for key, entry in _data_entries(config):
        # unlabelled parallel text is sentences for every task (aligner data, CLISM pre-training)
        allowed = TASK_FORMATS["tagging" if key.startswith("data.parallel.") else kind]
        for field in ("format", "src_format"):
            if entry.get(field) is not None and entry[field] not in allowed:
                raise ConfigError(
                    f"{key}.{field}: {entry[field]!r} is not a format of task {config['task']!r} "
                    f"({kind}: one of {sorted(allowed)})"
                )
        lines = [f for f in ("format", "src_format") if entry.get(f) == "lines"]
        if lines and not key.startswith(("data.parallel.", "data.unlabelled.")):
            raise ConfigError(f"{key}.{lines[0]}: 'lines' is unlabelled text; this file needs tags")
        try:
            codecs.lookup(entry["encoding"])
        except LookupError:
            raise ConfigError(f"{key}.encoding: unknown text encoding {entry['encoding']!r}") from None


def _check_translate(config: dict) -> None:
    tr = config["translate"]
    provider = tr["provider"]
    if tr["max_examples"] is not None and task_kind(config) != "classification":
        raise ConfigError("translate.max_examples: only classification translates a part of the training set")
    if provider == "file":
        missing = [lang for lang in translate_langs(config) if lang not in tr["file"]]
        if missing:
            raise ConfigError(f"translate.file: no translation file for target language(s) {missing}")
    required = {"hf": "name_or_path", "http": "url"}.get(provider)
    if required and not tr[provider].get(required):
        raise ConfigError(f"translate.{provider}.{required}: required by translate.provider {provider!r}")


def _check_align(config: dict, root: Path) -> None:
    backend = align_backend(config)
    if backend == "embedding" and align_options(config)["name_or_path"] == TINY:
        raise ConfigError(
            "align.embedding.name_or_path: the embedding aligner needs a pre-trained multilingual encoder "
            "(the tiny model is not one); set it, or use align.backend: eflomal"
        )
    if backend != "fast_align":
        return
    fa = config["align"]["fast_align"]
    if fa["binary"] and not (root / fa["binary"]).is_file():
        raise ConfigError(f"align.fast_align.binary: no such file: {fa['binary']}")
    source = fa["source"]
    needs_build = fast_align_binary(config)[1]
    if needs_build and "://" not in source and not source.startswith("git@") and not (root / source).is_dir():
        raise ConfigError(f"align.fast_align.source: no such folder: {source} (a git URL or a local folder)")


def _data_paths(config: dict) -> list[tuple[str, str]]:
    out = []
    for key, entry in _data_entries(config):
        out += [(f"{key}.{side}", entry[side]) for side in ("path", "src", "tgt") if side in entry]
    tr = config["translate"]
    if tr["provider"] == "file":
        out += [(f"translate.file.{lang}", tr["file"][lang]) for lang in translate_langs(config)]
    dictionaries = config["augment"]["code_switch"]["dictionaries"]
    out += [(f"augment.code_switch.dictionaries.{lang}", path) for lang, path in sorted(dictionaries.items())]
    return out
