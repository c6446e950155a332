"""Method names as the DAG sees them (torch-free, so the Snakefile can import it).

``to`` and ``bilingual`` train one model per target language (paper 001 Table 1: the TO cell of
language l is the model trained on l's projected data), named ``to-de``, ``bilingual-es``, ...
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline_steps.errors import ConfigError

METHOD_RE = re.compile(r"^(?P<base>[a-z_]+)(?:-(?P<lang>[a-z]{2,3}))?$")
PER_LANGUAGE = frozenset({"to", "bilingual"})
ALL_TARGETS = frozenset({"mtl", "mtl_ws"})


def split_method(name: str) -> tuple[str, str | None]:
    """``"to-de"`` -> ``("to", "de")``; ``"mtl_ws"`` -> ``("mtl_ws", None)``. A language suffix is
    only allowed on the per-language methods (TO, BILINGUAL)."""
    m = METHOD_RE.match(str(name))
    if m is None:
        raise ConfigError(f"bad method name {name!r}: expected e.g. zero_shot, mtl, to-de, bilingual-es")
    base, lang = m.group("base"), m.group("lang")
    if lang is not None and base not in PER_LANGUAGE:
        raise ConfigError(
            f"method {name!r}: only {sorted(PER_LANGUAGE)} take a target language suffix (e.g. to-de)"
        )
    return base, lang


def expand_methods(methods: Sequence[str], target_langs: Sequence[str]) -> list[str]:
    """Config method names -> DAG method names: ``to`` becomes ``to-de``, ``to-es``, ... (one model per
    target language, paper 001 Table 1); the others stay as they are."""
    out: list[str] = []
    for name in methods:
        base, lang = split_method(name)
        if base in PER_LANGUAGE and lang is None:
            out += [f"{base}-{t}" for t in target_langs]
        else:
            out.append(name)
    return out


def projected_langs(name: str, target_langs: Sequence[str]) -> list[str]:
    """The target languages whose projected data method ``name`` trains on (the finetune rule's
    ``input.extra``): none for zero_shot, its own language for to-xx/bilingual-xx, all for mtl/mtl_ws."""
    base, lang = split_method(name)
    if base in PER_LANGUAGE:
        if lang is None:
            raise ConfigError(f"method {name!r} needs a target language suffix (e.g. {base}-de)")
        return [lang]
    if base in ALL_TARGETS:
        return list(target_langs)
    return []
