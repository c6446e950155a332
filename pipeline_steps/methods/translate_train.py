"""Translation-based adaptation (paper 001 Sec. 4): train on projected pseudo-labelled translations.

D_src is the source-language gold training set; D_l its machine translation into target language l
with labels projected by span-to-span mapping (Sec. 2.2; the ``project`` step, schemas.PROJECTED).
Every method minimises the per-sentence cross-entropy of Eq. 3 (``methods.supervised``) averaged
uniformly over the union of the sets it names -- sentences of different languages are "not
differentiated but treated equally":

- TO (Eq. 4):        J(theta) = 1/|D_l| sum_{D_l} L(x, y^)                     one model per target l
- BILINGUAL (Eq. 5): J(theta) = 1/|D_src u D_l| sum_{D_src u D_l} L(x, y-)      one model per target l
- MTL (Eq. 6):       J(theta) = 1/|U_{l in L} D_l| sum L(x, y-),  L = {src} u targets  ("once for all")

Model selection, like every other method, uses the source dev set (paper 001 Sec. 6.2, App. A).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from pipeline_steps.errors import ConfigError
from pipeline_steps.train import Trainer, TrainResult

if TYPE_CHECKING:
    from pipeline_steps.methods import MethodData

log = logging.getLogger(__name__)

SOURCE = "src"


def projected_by_lang(extra: Sequence[pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The projected sets (schemas.PROJECTED frames) grouped by their ``lang`` column, row order kept."""
    frames = [f for f in extra if len(f)]
    if not frames:
        return {}
    frame = pd.concat(frames, ignore_index=True)
    dup = frame["id"].duplicated()
    if bool(dup.any()):
        raise ConfigError(
            f"projected data: sentence id {frame['id'][dup].iloc[0]!r} given twice in input.extra"
        )
    return {str(lang): part.reset_index(drop=True) for lang, part in frame.groupby("lang", sort=True)}


def require_langs(
    sets: dict[str, pd.DataFrame], langs: Sequence[str], method: str
) -> dict[str, pd.DataFrame]:
    """``{lang: D_lang}`` for ``langs`` (in that order); a ConfigError names any language missing."""
    missing = [lang for lang in langs if lang not in sets or not len(sets[lang])]
    if missing:
        raise ConfigError(
            f"method {method!r} needs projected training data for {missing}; input.extra has "
            f"{sorted(sets) or 'none'} (add project/translated.<lang>.<mapping>.parquet to the finetune rule)"
        )
    unused = sorted(set(sets) - set(langs))
    if unused:
        log.info("method %s does not train on the projected data of %s", method, unused)
    return {lang: sets[lang] for lang in langs}


def target_lang(data: MethodData, method: str) -> str:
    """The one target language of TO / BILINGUAL: ``method_params.lang`` (set from ``to-de``), else the
    only language of the projected data."""
    lang = data.method_params.get("lang")
    if lang:
        return str(lang)
    langs = sorted(projected_by_lang(data.extra))
    if len(langs) == 1:
        return langs[0]
    raise ConfigError(
        f"method {method!r} trains one model per target language: name it {method}-<lang> or set "
        f"method_params.lang (projected data has {langs or 'no languages'})"
    )


def all_target_langs(data: MethodData, method: str) -> list[str]:
    """The target languages of MTL / MTL-WS: ``params.target_langs``, else every projected language."""
    langs = data.target_langs or sorted(projected_by_lang(data.extra))
    if not langs:
        raise ConfigError(f"method {method!r} needs projected data of at least one target language")
    return langs


class TranslateTrain:
    """Fine-tune on the uniform union of the sets ``datasets()`` names (one phase, source-dev selection)."""

    name = "translate_train"

    def __init__(self, data: MethodData):
        self.data = data

    def datasets(self) -> dict[str, pd.DataFrame]:
        """``{name: frame}``: ``"src"`` for D_src, a language code for its projected set D_l."""
        raise NotImplementedError

    def training_frame(self) -> pd.DataFrame:
        """The union of the named sets (the task's columns), in the order of ``datasets()``."""
        sets = self.datasets()
        columns = list(self.data.columns)
        frame = pd.concat([f[columns] for f in sets.values()], ignore_index=True)
        sizes = ", ".join(f"{k}: {len(v)}" for k, v in sets.items())
        self.data.log.info("%s trains on %d sentences (%s)", self.name, len(frame), sizes)
        return frame

    def recipe(self):
        return self.data.recipe(self.training_frame())

    def fit(self, model, trainer: Trainer) -> TrainResult:
        return trainer.run("main", model, self.recipe())


class TargetOnly(TranslateTrain):
    """TO (paper 001 Sec. 4, Eq. 4): D_l of one target language only; evaluated on that language's
    test set."""

    name = "to"

    def datasets(self) -> dict[str, pd.DataFrame]:
        lang = target_lang(self.data, self.name)
        return require_langs(projected_by_lang(self.data.extra), [lang], self.name)


class Bilingual(TranslateTrain):
    """BILINGUAL (paper 001 Sec. 4, Eq. 5): D_src u D_l for one target language l."""

    name = "bilingual"

    def datasets(self) -> dict[str, pd.DataFrame]:
        lang = target_lang(self.data, self.name)
        return {
            SOURCE: self.data.train,
            **require_langs(projected_by_lang(self.data.extra), [lang], self.name),
        }


class Multilingual(TranslateTrain):
    """MTL (paper 001 Sec. 4, Eq. 6): D_src u D_l for every target language l -- one model for all
    targets."""

    name = "mtl"

    def datasets(self) -> dict[str, pd.DataFrame]:
        langs = all_target_langs(self.data, self.name)
        return {
            SOURCE: self.data.train,
            **require_langs(projected_by_lang(self.data.extra), langs, self.name),
        }
