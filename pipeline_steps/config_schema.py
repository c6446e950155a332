"""The experiment config's one source of truth, ``config/schema.yaml``: validation, defaults, docs.

``validate(config)`` checks a config against the JSON schema and fills in every ``default`` (nested
ones too, also inside ``$ref``'d definitions), so rules and steps see every key and carry no defaults
of their own. ``defaults("translate.hf")`` gives the defaults of one section to code that builds a
component outside a workflow run (tests, notebooks). ``render_markdown()`` generates
docs/configuration.md (``python -m pipeline_steps.config_schema > docs/configuration.md``; a test keeps
the two in sync).
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline_steps.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


@functools.cache
def schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def _with_defaults(validator_class):
    """A validator class that sets each missing property's ``default`` before validating it."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                sub = _resolve(validator, sub)
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, subschema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _resolve(validator, sub: dict[str, Any]) -> dict[str, Any]:
    """``sub`` with a ``$ref`` replaced by its target (keys beside the ``$ref`` win)."""
    if "$ref" not in sub:
        return sub
    target = validator._resolver.lookup(sub["$ref"]).contents
    return {**_resolve(validator, target), **{k: v for k, v in sub.items() if k != "$ref"}}


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` checked against the schema, with every default filled in (in place, and returned).

    Raises ConfigError naming the key of the first problem (all problems are listed)."""
    validator = _Validator(schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{_where(e)}: {e.message}" for e in errors]
        raise ConfigError("invalid config (config/schema.yaml):\n  " + "\n  ".join(lines))
    return config


def section(path: str) -> dict[str, Any]:
    """The schema of the dotted config key ``path`` (e.g. ``translate.hf``)."""
    node = schema()
    for part in path.split("."):
        node = _deref(node)
        try:
            node = node["properties"][part]
        except KeyError:
            raise KeyError(f"config/schema.yaml defines no key {path!r}") from None
    return _deref(node)


def defaults(path: str) -> dict[str, Any]:
    """The defaults of the properties of section ``path`` (keys without a default are left out)."""
    props = section(path).get("properties", {})
    return {k: copy.deepcopy(_deref(v)["default"]) for k, v in props.items() if "default" in _deref(v)}


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" not in node:
        return node
    name = node["$ref"].rsplit("/", 1)[-1]
    return {**_deref(schema()["$defs"][name]), **{k: v for k, v in node.items() if k != "$ref"}}


def config_keys() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every config key as (dotted path, its dereferenced schema), depth first, in file order.

    Mappings keyed by the user (``data.test.<lang>``) appear as ``<lang>``/``<name>`` placeholders."""

    def walk(prefix: str, node: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        node = _deref(node)
        for name, sub in node.get("properties", {}).items():
            path = f"{prefix}{name}"
            sub = _deref(sub)
            yield path, sub
            yield from walk(path + ".", sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and (extra.get("properties") or "$ref" in extra):
            placeholder = "<lang>" if prefix.startswith("data.") else "<name>"
            yield from walk(f"{prefix}{placeholder}.", extra)

    yield from walk("", schema())


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join("null" if v is None else f"`{v}`" for v in node["enum"])
    typ = node.get("type", "object")
    typ = " or ".join(typ) if isinstance(typ, list) else typ
    if typ.startswith("array") and "items" in node:
        item = _deref(node["items"])
        typ += f" of {item.get('type', 'object')}"
    return typ


def _default(node: dict[str, Any]) -> str:
    if "default" not in node:
        return "required" if node.get("_required") else ""
    value = node["default"]
    if value in ({}, []):
        return ""
    return f"`{value}`" if isinstance(value, str) else f"`{json.dumps(value)}`"


INTRO = """\
# Configuration

<!-- Generated from config/schema.yaml by `python -m pipeline_steps.config_schema > docs/configuration.md`;
edit the schema, not this file (tests/test_config_schema.py keeps them in sync). -->

One config file = one experiment (`config/config.yaml` is the demo; `config/shared-data.yaml` the
real-data run; `config/me5-small.yaml` and `config/absa.yaml` are further examples). `snakemake
--configfile my.yaml` **replaces** the demo config (it is not merged into it); several
`--configfile` files update each other key by key (an overlay). The schema `config/schema.yaml` is
the one source of truth of every key's type, default and description: it is applied (defaults
filled in) before any rule runs, and cross-field rules (a test set for every target language, a
translation file for every translated language, data files that exist, a fast_align binary that
exists, ...) are checked by `pipeline_steps/workflow_config.py:check`. A bad config stops Snakemake
before any job with a message naming the key. Threads, memory, GPUs and partitions are **not** here:
see `profiles/` and docs/cluster.md.

`<lang>` stands for a language code (`de`), `<name>` for a method name (`mtl_ws`).

| key | type | default | description |
|---|---|---|---|
"""


def render_markdown() -> str:
    """docs/configuration.md: one row per config key of the schema."""
    rows = []
    required = _required_paths()
    for path, node in config_keys():
        node = {**node, "_required": path in required}
        desc = " ".join(str(node.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| `{path}` | {_type(node)} | {_default(node)} | {desc} |")
    return INTRO + "\n".join(rows) + "\n"


def _required_paths() -> set[str]:
    out: set[str] = set()

    def walk(prefix: str, node: dict[str, Any]) -> None:
        node = _deref(node)
        out.update(prefix + r for r in node.get("required", []))
        for name, sub in node.get("properties", {}).items():
            walk(f"{prefix}{name}.", sub)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(f"{prefix}{'<lang>' if prefix.startswith('data.') else '<name>'}.", extra)

    walk("", schema())
    return out


if __name__ == "__main__":
    print(render_markdown(), end="")
