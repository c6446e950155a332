"""Raw text every step reads the same way: decoding with line numbers, line splitting, Unicode NFC.

Tokens, translation-file sources and translation-cache keys are NFC-normalised (``nfc``), so a
word typed with a combining accent (``e`` + U+0301) and its precomposed form (``é``) are one word.
"""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

from pipeline_steps.errors import ConfigError, InputFormatError


def nfc(text: str) -> str:
    """``text`` in Unicode normalisation form C (composed characters)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def read_text(
    path: str | Path, encoding: str | None = None, hint: str = "set the dataset's 'encoding'"
) -> str:
    """The decoded text of ``path``; a byte sequence invalid in ``encoding`` -> error naming its line.

    ``encoding`` defaults to UTF-8; with UTF-8 a leading byte-order mark is dropped (``utf-8-sig``).
    Line numbers of decoding errors count ``\\n`` bytes, which is exact for UTF-8 and single-byte
    encodings such as latin-1. The text is returned as decoded (not normalised).
    """
    encoding = encoding or "utf-8"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r} for {path}") from None
    p = Path(path)
    if not p.is_file():
        raise InputFormatError(str(path), None, "file not found" if not p.exists() else "not a regular file")
    data = p.read_bytes()
    if codec == "utf-8":
        codec = "utf-8-sig"
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.end]
        raise InputFormatError(
            str(path), line, f"not valid {encoding}: byte(s) {bad!r} ({exc.reason}); {hint}"
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines without their endings (``\\n`` or ``\\r\\n``); no final empty line after a trailing newline.

    Only ``\\n`` ends a line (``str.splitlines`` would also split on characters such as U+2028 that can
    occur inside tokens and would shift every line number after them).
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
