"""What the Snakefile needs from the config: dataset look-ups, input choices, targets, sanity checks.

The JSON schema (config/schema.yaml) checks types; ``check`` adds the cross-field rules a schema
cannot express, with messages that say which key to fix. Everything here is pure over the config
dict so it is unit-tested without Snakemake.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from pipeline_steps.errors import ConfigError
from pipeline_steps.method_names import expand_methods, method_mapping, projected_langs, split_method

DATASET_NAME = r"train|dev|test\.[a-z]{2,3}|(gold|par)\.[a-z]{2,3}\.(src|tgt)"


def results_dir(config: dict) -> str:
    return f"results/{config['experiment']}"


def dataset(config: dict, name: str) -> dict[str, Any]:
    """The ingest parameters of dataset ``name`` (see docs/architecture.md for the names)."""
    data = config["data"]
    if name in ("train", "dev"):
        entry, lang, split, side = data[name], config["source_lang"], name, None
    elif m := re.fullmatch(r"test\.([a-z]+)", name):
        lang = m.group(1)
        entry, split, side = data["test"][lang], "test", None
    elif m := re.fullmatch(r"(gold|par)\.([a-z]+)\.(src|tgt)", name):
        kind, tgt_lang, side = m.groups()
        entry = data["gold_parallel" if kind == "gold" else "parallel"][tgt_lang]
        lang = config["source_lang"] if side == "src" else tgt_lang
        split = kind
    else:
        raise ConfigError(f"unknown dataset name {name!r}")
    params = {
        "format": entry["format"],
        "path": entry[side] if side else entry["path"],
        "lang": lang,
        "split": split,
        "scheme": config["scheme"],
        "input_scheme": entry.get("scheme", "iob1" if entry["format"] == "conll2003" else "bio"),
        "tokenize": entry.get("tokenize", "moses"),
        "encoding": entry.get("encoding"),
        "limit": entry.get("limit"),
        "skip": entry.get("skip"),
        "sep": entry.get("sep"),
    }
    return params


def extra_align_pairs(config: dict, corpus: str, lang: str) -> list[str]:
    """Unlabelled parallel pairs that also train the aligner for ``corpus``/``lang``."""
    if corpus == "par" or not config["align"].get("use_parallel", True):
        return []
    if lang not in config["data"].get("parallel", {}):
        return []
    return [f"{results_dir(config)}/pairs/par.{lang}.parquet"]


def fast_align_binary(config: dict) -> tuple[str, bool]:
    """(path, needs_build): the configured binary, `fast_align` on PATH, or the one a rule builds."""
    fa = config["align"].get("fast_align", {})
    if fa.get("binary"):
        return fa["binary"], False
    found = shutil.which("fast_align")
    if found:
        return found, False
    return f".cache/tools/fast_align/{fa.get('commit', 'local')[:12]}/fast_align", True


def source_spans(config: dict, corpus: str, lang: str) -> str:
    name = "train" if corpus == "translated" else f"{corpus}.{lang}.src"
    return f"{results_dir(config)}/spans/{name}.parquet"


def tiny_model_texts(config: dict) -> list[str]:
    """Text the tiny model's tokenizer and MLM see: labelled train/dev and unlabelled parallel text."""
    r = results_dir(config)
    names = ["train", "dev"]
    for lang in config["data"].get("parallel", {}):
        names += [f"par.{lang}.src", f"par.{lang}.tgt"]
    return [f"{r}/ingest/{n}.parquet" for n in names]


def uses_tiny_model(config: dict) -> bool:
    return config["model"]["name_or_path"] == "tiny"


def test_langs(config: dict) -> list[str]:
    return list(config["data"]["test"])


def finetune_fingerprint(config: dict, method: str, seed: int) -> str:
    """A short hash of everything that determines a training run (names its checkpoint folder).

    A rerun after a parameter change must not resume from checkpoints of the old parameters.
    """
    keys = {
        "method": method,
        "seed": seed,
        "method_params": method_params(config, method),
        "finetune": config["finetune"],
        "model": config["model"],
        "scheme": config["scheme"],
        "labels": config["labels"],
        "data": {k: config["data"][k] for k in ("train", "dev")},
    }
    if method_extra_langs(config, method):  # trains on projected data: how it was made matters too
        keys.update({k: config.get(k) for k in ("translate", "align", "project")})
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]


def dag_methods(config: dict) -> list[str]:
    """Method names in the DAG: ``to``/``bilingual`` become one model per translated language."""
    return expand_methods(config["methods"], translate_langs(config))


def method_params(config: dict, method: str) -> dict[str, Any]:
    """``method_params.{base method}`` of the config (e.g. Z, K, gamma, beta for mtl_ws)."""
    return dict((config.get("method_params") or {}).get(split_method(method)[0]) or {})


def method_extra_langs(config: dict, method: str) -> list[str]:
    """Target languages whose projected training data ``method`` trains on."""
    return projected_langs(method, translate_langs(config))


def projected_path(config: dict, corpus: str, lang: str, mapping: str | None = None) -> str:
    """The projected artifact of ``corpus``/``lang`` under ``mapping`` (default: ``project.mapping``)."""
    return f"{results_dir(config)}/project/{corpus}.{lang}.{mapping or default_mapping(config)}.parquet"


def default_mapping(config: dict) -> str:
    return (config.get("project") or {}).get("mapping", "span2span")


def method_inputs(config: dict, method: str) -> list[str]:
    """Projected training data of ``method``, under its ``@mapping`` or ``project.mapping``."""
    mapping = method_mapping(method, default_mapping(config))
    return [
        projected_path(config, "translated", lang, mapping) for lang in method_extra_langs(config, method)
    ]


def method_test_langs(config: dict, method: str) -> list[str]:
    """Test sets a method's model is evaluated on: a per-language model (``to-de``) only on its own
    language (and the source), every other model on every test set."""
    base, lang = split_method(method)
    langs = test_langs(config)
    if lang is None:
        return langs
    return [x for x in langs if x in (config["source_lang"], lang)]


def all_targets(config: dict) -> list[str]:
    """Final outputs of a full run (rule ``all``)."""
    r = results_dir(config)
    targets = [f"{r}/report/table.md", f"{r}/report/table.csv", f"{r}/report/f1.png"]
    targets += [projected_path(config, "translated", lang) for lang in translate_langs(config)]
    if config["data"].get("gold_parallel"):
        targets.append(f"{r}/projection/summary.json")
    if config["task"] == "ner":  # spaCy entity spans of the unlabelled source side: NER only
        targets += [f"{r}/spans/par.{lang}.src.parquet" for lang in config["data"].get("parallel", {})]
    return targets


def check(config: dict, root: str | Path = ".") -> None:
    """Cross-field checks; raises ConfigError with the key to fix."""
    root = Path(root)
    src, tgts = config["source_lang"], config["target_langs"]
    if src in tgts:
        raise ConfigError(f"target_langs: {src!r} is the source_lang; list only target languages")
    data = config["data"]
    missing = [lang for lang in tgts if lang not in data["test"]]
    if missing:
        raise ConfigError(f"data.test: no test set for target language(s) {missing}")
    for key in ("gold_parallel", "parallel"):
        extra = sorted(set(data.get(key, {})) - set(tgts))
        if extra:
            raise ConfigError(f"data.{key}: language(s) {extra} are not in target_langs {tgts}")
    tr = config["translate"]
    unknown = sorted(set(translate_langs(config)) - set(tgts))
    if unknown:
        raise ConfigError(f"translate.langs: {unknown} are not in target_langs {tgts}")
    for name in config["methods"]:
        lang = split_method(name)[1]
        if lang is not None and lang not in translate_langs(config):
            raise ConfigError(
                f"methods: {name!r} trains on translated {lang!r} data, but {lang!r} is not translated "
                f"(translate.langs: {translate_langs(config)})"
            )
    if tr["provider"] == "file":
        missing = [lang for lang in translate_langs(config) if lang not in tr.get("file", {})]
        if missing:
            raise ConfigError(f"translate.file: no translation file for target language(s) {missing}")
    for path in _data_paths(config) + list(tr.get("file", {}).values() if tr["provider"] == "file" else []):
        if not (root / path).exists():
            raise ConfigError(
                f"data file not found: {path} (paths are relative to the directory snakemake runs in)"
            )


def _data_paths(config: dict) -> list[str]:
    data = config["data"]
    paths = [data["train"]["path"], data["dev"]["path"]] + [e["path"] for e in data["test"].values()]
    for key in ("gold_parallel", "parallel"):
        for entry in data.get(key, {}).values():
            paths += [entry["src"], entry["tgt"]]
    return paths


def translate_langs(config: dict) -> list[str]:
    """Target languages the training set is translated into (default: all)."""
    langs = config["translate"].get("langs")
    return list(config["target_langs"] if langs is None else langs)


def translate_options(config: dict, lang: str) -> dict[str, Any]:
    """Options of the configured provider for target ``lang`` ({src}/{tgt} placeholders filled in)."""
    tr = config["translate"]
    provider = tr["provider"]
    if provider == "file":
        return {"path": tr["file"][lang]}
    opts = dict(tr.get(provider) or {})
    fill = {"src": config["source_lang"], "tgt": lang}
    return {k: v.format(**fill) if isinstance(v, str) else v for k, v in opts.items()}
