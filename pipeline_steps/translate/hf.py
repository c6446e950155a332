"""``hf`` provider: any Hugging Face seq2seq MT model (MarianMT, NLLB, M2M100, mBART, T5...).

Loaded with ``AutoTokenizer`` / ``AutoModelForSeq2SeqLM`` from ``name_or_path`` (a hub name or a
local folder) on first use, on CUDA when available. Sentences are sorted by length into batches of
``batch_size`` (less padding) and decoded with beam search (``num_beams``, ``max_length``). For
many-to-many models pass ``tgt_lang_code`` (NLLB ``spa_Latn``, M2M100 ``__es__``): it becomes the
forced first generated token; ``src_lang_code`` sets the tokenizer's ``src_lang``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from tqdm import tqdm

from pipeline_steps import config_schema
from pipeline_steps.errors import ConfigError
from pipeline_steps.translate.base import register, take_options

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = config_schema.defaults("translate.hf")


@register("hf")
class HFProvider:
    """Seq2seq generation with transformers; the model is loaded lazily (not at all when all is cached)."""

    name = "hf"
    cacheable = True

    def __init__(self, options: dict[str, Any], *, threads: int = 1):
        opts = take_options("hf", options, DEFAULTS, required=("name_or_path",))
        self.name_or_path = str(opts["name_or_path"])
        for key in ("batch_size", "num_beams", "max_length"):
            if not isinstance(opts[key], int) or opts[key] < 1:
                raise ConfigError(f"translate.hf.{key}: expected a positive integer, got {opts[key]!r}")
        self.batch_size: int = opts["batch_size"]
        self.num_beams: int = opts["num_beams"]
        self.max_length: int = opts["max_length"]
        self.tgt_lang_code: str | None = opts["tgt_lang_code"]
        self.src_lang_code: str | None = opts["src_lang_code"]
        self.device_name: str | None = opts["device"]
        self.threads = threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._forced_bos: int | None = None

    def identity(self, src_lang: str, tgt_lang: str) -> str:
        ident = f"hf:{self.name_or_path}?num_beams={self.num_beams}&max_length={self.max_length}"
        if self.src_lang_code:
            ident += f"&src_lang_code={self.src_lang_code}"
        if self.tgt_lang_code:
            ident += f"&tgt_lang_code={self.tgt_lang_code}"
        return ident

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if self.threads and self.threads > 0:
            torch.set_num_threads(self.threads)
        device = self.device_name or ("cuda" if torch.cuda.is_available() else "cpu")
        log.info("hf: loading %s on %s", self.name_or_path, device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
            model = AutoModelForSeq2SeqLM.from_pretrained(self.name_or_path)
        except OSError as exc:
            raise ConfigError(f"translate.hf.name_or_path: cannot load {self.name_or_path!r}: {exc}") from exc
        if self.src_lang_code:
            if not hasattr(tokenizer, "src_lang"):
                raise ConfigError(
                    f"translate.hf.src_lang_code: the tokenizer of {self.name_or_path!r} has no src_lang"
                )
            tokenizer.src_lang = self.src_lang_code
        if self.tgt_lang_code:
            token_id = tokenizer.convert_tokens_to_ids(self.tgt_lang_code)
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise ConfigError(
                    f"translate.hf.tgt_lang_code: {self.tgt_lang_code!r} is not a token of "
                    f"{self.name_or_path!r}"
                )
            self._forced_bos = int(token_id)
        self._tokenizer, self._model = tokenizer, model.to(device).eval()

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        import torch

        self._load()
        tok, model = self._tokenizer, self._model
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = [""] * len(texts)
        gen: dict[str, Any] = {"num_beams": self.num_beams, "max_length": self.max_length}
        if self._forced_bos is not None:
            gen["forced_bos_token_id"] = self._forced_bos
        starts = range(0, len(order), self.batch_size)
        for start in tqdm(starts, desc="hf translate", unit="batch", file=sys.stderr, mininterval=5):
            idx = order[start : start + self.batch_size]
            enc = tok(
                [texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=min(self.max_length, tok.model_max_length),
            ).to(model.device)
            with torch.no_grad():
                generated = model.generate(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], **gen
                )
            for i, text in zip(idx, tok.batch_decode(generated, skip_special_tokens=True), strict=True):
                out[i] = text.strip()
        return out
