"""``apertium`` provider: rule-based offline MT with the Debian ``apertium`` tool (e.g. ``eng-spa``).

All sentences of a batch go through one ``apertium -u <mode>`` call. Apertium's plain-text format
treats a single newline as a space (words of adjacent lines can be reordered across it), so each
sentence is followed by a blank line, which apertium keeps as a paragraph break: the output then has
the translation of sentence i on line 2i and a blank line after it. Anything else is an error.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from typing import Any

from pipeline_steps import config_schema
from pipeline_steps.errors import ConfigError
from pipeline_steps.translate.base import TranslationError, register, take_options

log = logging.getLogger(__name__)

# ISO 639-1 -> ISO 639-3, the codes apertium language pairs are named with.
ISO3 = {
    "ar": "ara", "ca": "cat", "de": "deu", "en": "eng", "es": "spa", "eu": "eus", "fr": "fra",
    "gl": "glg", "hi": "hin", "it": "ita", "nl": "nld", "oc": "oci", "pt": "por", "ro": "ron",
    "vi": "vie",
}  # fmt: skip


def list_modes(binary: str = "apertium") -> list[str]:
    """The translation directions ``apertium -l`` lists."""
    proc = subprocess.run([binary, "-l"], capture_output=True, text=True, encoding="utf-8", check=False)
    if proc.returncode != 0:
        raise TranslationError(f"'{binary} -l' failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return [m.strip() for m in proc.stdout.split() if m.strip()]


def default_mode(src_lang: str, tgt_lang: str) -> str:
    return f"{ISO3.get(src_lang, src_lang)}-{ISO3.get(tgt_lang, tgt_lang)}"


def split_output(stdout: str, n: int) -> list[str]:
    """Map apertium's output back to the n input sentences (see the module docstring)."""
    lines = stdout.split("\n")
    body, rest = lines[: 2 * n], lines[2 * n :]
    if len(body) < 2 * n or any(x.strip() for x in body[1::2]) or any(x.strip() for x in rest):
        raise TranslationError(
            f"apertium: output does not map back to the {n} input sentences "
            f"({len(lines)} lines, expected each translation followed by a blank line)"
        )
    return [x.strip() for x in body[0::2]]


@register("apertium")
class ApertiumProvider:
    """Batch translation through ``apertium -u <mode>`` (unknown-word marks off)."""

    name = "apertium"
    cacheable = True

    def __init__(self, options: dict[str, Any], *, threads: int = 1):
        opts = take_options("apertium", options, config_schema.defaults("translate.apertium"))
        self.mode: str | None = opts["mode"]
        self.binary = str(opts["binary"])
        self._checked: set[str] = set()

    def mode_for(self, src_lang: str, tgt_lang: str) -> str:
        return self.mode or default_mode(src_lang, tgt_lang)

    def identity(self, src_lang: str, tgt_lang: str) -> str:
        return f"apertium:{self.mode_for(src_lang, tgt_lang)}"

    def _check(self, mode: str) -> str:
        exe = shutil.which(self.binary)
        if exe is None:
            raise ConfigError(
                f"translate.apertium: '{self.binary}' not found on PATH "
                "(Debian/Ubuntu: apt-get install apertium apertium-eng-spa)"
            )
        if mode not in self._checked:
            modes = list_modes(exe)
            if mode not in modes:
                raise ConfigError(
                    f"translate.apertium: mode {mode!r} is not installed; '{self.binary} -l' lists {modes} "
                    "(set options.mode, or install the language pair package)"
                )
            self._checked.add(mode)
        return exe

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        mode = self.mode_for(src_lang, tgt_lang)
        exe = self._check(mode)
        clean = [" ".join(t.split()) for t in texts]
        todo = [i for i, t in enumerate(clean) if t]
        out = [""] * len(texts)
        if not todo:
            return out
        stdin = "".join(clean[i] + "\n\n" for i in todo)
        proc = subprocess.run(
            [exe, "-u", mode], input=stdin, capture_output=True, text=True, encoding="utf-8", check=False
        )
        if proc.returncode != 0:
            raise TranslationError(
                f"apertium -u {mode} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
        for i, tr in zip(todo, split_output(proc.stdout, len(todo)), strict=True):
            out[i] = tr
        log.info("apertium %s: translated %d sentences", mode, len(todo))
        return out
