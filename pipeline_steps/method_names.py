"""Method names as the DAG sees them (torch-free, so the Snakefile can import it).

``to`` and ``bilingual`` train one model per target language (paper 001 Table 1: the TO cell of
language l is the model trained on l's projected data), named ``to-de``, ``bilingual-es``, ...
A method that trains on projected data may name the label projection it uses with ``@mapping``:
``to@word2word`` (config) becomes ``to-de@word2word``, ``to-es@word2word`` (paper 001 Table 5, which
compares TO on span-to-span and word-to-word projections); without it, ``project.mapping`` applies.
An xTune method (paper 003) may name the augmentation of all its stages the same way:
``xtune_r1@code_switch`` (Table 4: each augmentation alone); without it, ``method_params.xtune`` applies.
Co-training and self-training (paper 002, Alg. 1) name the model of iteration k ``co_training-iter{k}``
(trained on D plus the pseudo-labels of k selection rounds); plain ``co_training`` is the model after
the last round (``cotrain.iterations``), the one the report's table shows.
Any method may end in ``-{N}shot``: trained on N examples sampled from the training set with the run's
seed, for ``few_shot.steps`` steps (paper 000 App. C: the few-shot regime), e.g. ``zero_shot-64shot``.
A method with a settings block of its own (``method_params.mtl_ws``, ``method_params.lang_adapt``) may
run in named variants side by side: ``mtl_ws.adam`` trains MTL-WS with the block
``method_params["mtl_ws.adam"]`` instead, and is a row of its own in the report (issue 15's sweep of
Eq. 7's readings, gamma and Z in one experiment, the other methods trained once).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline_steps.errors import ConfigError

#: The method grammar, stated once: ``base[.variant][-lang][@mapping][-iterK][-Nshot]``.
METHOD_PATTERN = (
    r"(?P<base>[a-z0-9_]+?)(?:\.(?P<variant>[a-z0-9_]+))?(?:-(?P<lang>[a-z]{2,3}))?"
    r"(?:@(?P<mapping>[a-z0-9_]+?))?(?:-iter(?P<iter>[0-9]+))?(?:-(?P<shots>[0-9]+)shot)?"
)
METHOD_RE = re.compile(f"^{METHOD_PATTERN}$")
#: The same grammar as a Snakemake wildcard constraint (no named groups).
METHOD_WILDCARD = re.sub(r"\(\?P<\w+>", "(?:", METHOD_PATTERN)
PER_LANGUAGE = frozenset({"to", "bilingual"})
#: the ``method_params`` key that brings ``few_shot.steps`` to a ``-Nshot`` run (the finetune step pops it)
FEW_SHOT_STEPS = "few_shot_steps"
ALL_TARGETS = frozenset({"mtl", "mtl_ws"})
MAPPINGS = ("span2span", "word2word")
#: xTune (paper 003): stage 1 alone ("R1 only"), full two-stage, "R2 only", "Data Aug." (no consistency).
XTUNE = frozenset({"xtune_r1", "xtune", "xtune_r2", "xtune_da"})
#: augmentations an xTune method can name (``@kind``): the ``augment`` stage's kinds (one artifact
#: each), Gaussian noise on the input embeddings (drawn in the forward pass, no artifact) and machine
#: translation (the translate stage's output)
AUGMENTED_KINDS = ("code_switch", "subword")
#: paper 002 Alg. 1: f_lm trained on D plus pseudo-labels picked by f_emb (co) or by itself (self)
COTRAIN = frozenset({"self_training", "co_training"})
AUGMENTATIONS = (*AUGMENTED_KINDS, "noise", "mt")
#: methods configured by a ``method_params`` block named after them: they may run in ``.variant``s
VARIANT_BASES = frozenset({"mtl_ws", "lang_adapt"})


def _parse(name: str) -> tuple[str, str | None, str | None]:
    m = METHOD_RE.match(str(name))
    if m is None:
        raise ConfigError(
            f"bad method name {name!r}: expected e.g. zero_shot, mtl, to-de, bilingual-es, to@word2word, "
            "zero_shot-64shot"
        )
    base, lang, mapping = m.group("base"), m.group("lang"), m.group("mapping")
    if m.group("iter") is not None and (base not in COTRAIN or int(m.group("iter")) < 1):
        raise ConfigError(f"method {name!r}: only {sorted(COTRAIN)} take -iterK with K >= 1")
    if m.group("variant") is not None and base not in VARIANT_BASES:
        raise ConfigError(
            f"method {name!r}: only {sorted(VARIANT_BASES)} run in named variants (e.g. mtl_ws.adam)"
        )
    if m.group("shots") is not None and int(m.group("shots")) < 1:
        raise ConfigError(f"method {name!r}: a few-shot size must be at least 1")
    if lang is not None and base not in PER_LANGUAGE:
        raise ConfigError(
            f"method {name!r}: only {sorted(PER_LANGUAGE)} take a target language suffix (e.g. to-de)"
        )
    if mapping is not None and base in XTUNE:
        if mapping not in AUGMENTATIONS:
            raise ConfigError(f"method {name!r}: unknown augmentation {mapping!r}; expected {AUGMENTATIONS}")
    elif mapping is not None:
        if base not in PER_LANGUAGE | ALL_TARGETS:
            raise ConfigError(
                f"method {name!r}: only methods trained on projected data take @mapping (xTune: @kind)"
            )
        if mapping not in MAPPINGS:
            raise ConfigError(f"method {name!r}: unknown projection mapping {mapping!r}; expected {MAPPINGS}")
    return base, lang, mapping


def split_method(name: str) -> tuple[str, str | None]:
    """``"to-de"`` -> ``("to", "de")``; ``"mtl_ws"`` -> ``("mtl_ws", None)``. A language suffix is
    only allowed on the per-language methods (TO, BILINGUAL)."""
    base, lang, _ = _parse(name)
    return base, lang


def params_key(name: str) -> str:
    """The ``method_params`` block method ``name`` trains with: ``mtl_ws.adam`` -> ``mtl_ws.adam``,
    ``mtl_ws`` -> ``mtl_ws``, ``to-de`` -> ``to``."""
    base, _, _ = _parse(name)
    variant = METHOD_RE.match(str(name)).group("variant")
    return base if variant is None else f"{base}.{variant}"


def method_mapping(name: str, default: str) -> str:
    """The label projection mapping method ``name`` trains on: its ``@mapping``, else ``default``."""
    base, _, mapping = _parse(name)
    return default if base in XTUNE else mapping or default


def method_augmentation(name: str) -> str | None:
    """The augmentation an xTune method names (``xtune@subword`` -> ``subword``), else None."""
    base, _, suffix = _parse(name)
    return suffix if base in XTUNE else None


def method_shots(name: str) -> int | None:
    """The few-shot training-set size of ``name`` (``zero_shot-64shot`` -> 64), else None (all data)."""
    _parse(name)
    shots = METHOD_RE.match(str(name)).group("shots")
    return None if shots is None else int(shots)


def method_iteration(name: str, iterations: int) -> int | None:
    """The co-/self-training round whose pseudo-labels ``name`` trains on: ``co_training-iter1`` -> 1,
    ``co_training`` -> ``iterations`` (the last); None for other methods."""
    base, _, _ = _parse(name)
    if base not in COTRAIN:
        return None
    k = METHOD_RE.match(str(name)).group("iter")
    return iterations if k is None else int(k)


def with_shots(name: str, shots: int | None) -> str:
    """``name`` trained on ``shots`` examples (``zero_shot`` -> ``zero_shot-64shot``); None: unchanged."""
    return name if shots is None else f"{name}-{int(shots)}shot"


def without_shots(name: str) -> str:
    """``zero_shot-64shot`` -> ``zero_shot``."""
    shots = method_shots(name)
    return name if shots is None else name[: -len(f"-{shots}shot")]


def teacher_method(name: str) -> str | None:
    """The method whose model is ``name``'s frozen R2 teacher (paper 003 Sec. 3.1.2): the stage-1 model
    ``xtune_r1`` (same ``@augmentation``) for full xTune, the conventionally fine-tuned ``zero_shot``
    model for "R2 only"; None for methods without a teacher."""
    base, _, suffix = _parse(name)
    shots = method_shots(name)  # a few-shot student's teacher saw the same examples
    if base == "xtune":
        return with_shots("xtune_r1" + (f"@{suffix}" if suffix else ""), shots)
    if base == "xtune_r2":
        return with_shots("zero_shot", shots)
    return None


def row_name(name: str) -> str:
    """The report row of a DAG method: ``to-de@word2word`` -> ``to@word2word``, ``to-de`` -> ``to``,
    ``to-de-64shot`` -> ``to-64shot``; a variant is a row of its own (``mtl_ws.adam``)."""
    _, _, mapping = _parse(name)
    return with_shots(params_key(name) + (f"@{mapping}" if mapping else ""), method_shots(name))


def expand_methods(methods: Sequence[str], target_langs: Sequence[str]) -> list[str]:
    """Config method names -> DAG method names: ``to`` becomes ``to-de``, ``to-es``, ... (one model per
    target language, paper 001 Table 1; ``to@word2word`` likewise); the others stay as they are."""
    out: list[str] = []
    for name in methods:
        base, lang, mapping = _parse(name)
        if base in PER_LANGUAGE and lang is None:
            suffix = f"@{mapping}" if mapping else ""
            out += [with_shots(f"{base}-{t}{suffix}", method_shots(name)) for t in target_langs]
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
