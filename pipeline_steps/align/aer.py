"""Alignment error rate (Och & Ney 2003) and a reader for gold alignments in TALP format."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from pipeline_steps.align.symmetrize import Link
from pipeline_steps.errors import InputFormatError

_TALP = re.compile(r"(\d+)([-p])(\d+)")


def aer(hypothesis: Sequence[set[Link]], sure: Sequence[set[Link]], possible: Sequence[set[Link]]) -> float:
    """Corpus-level AER = 1 - (|A & S| + |A & P|) / (|A| + |S|), counts summed over sentences.

    ``possible`` may or may not repeat the sure links: P is taken as ``possible | sure`` (S is a
    subset of P by definition).
    """
    if not len(hypothesis) == len(sure) == len(possible):
        raise ValueError(f"{len(hypothesis)} hypotheses, {len(sure)} sure and {len(possible)} possible sets")
    a_s = a_p = n_a = n_s = 0
    for a, s, p in zip(hypothesis, sure, possible, strict=True):
        a, s = set(a), set(s)
        p = set(p) | s
        a_s += len(a & s)
        a_p += len(a & p)
        n_a += len(a)
        n_s += len(s)
    if n_a + n_s == 0:
        raise ValueError("AER is undefined with no hypothesis and no sure links")
    return 1.0 - (a_s + a_p) / (n_a + n_s)


def read_talp(
    path: str | os.PathLike,
    src_lengths: Sequence[int] | None = None,
    tgt_lengths: Sequence[int] | None = None,
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Read a TALP file (``i-j`` sure, ``ipj`` possible, 1-based; one sentence a line).

    Returns 0-based (sure, possible) link sets. Trailing empty lines beyond ``src_lengths`` are
    ignored; with the sentence lengths, out-of-range links raise ``InputFormatError``.
    """
    with open(path, encoding="latin-1") as f:
        lines = f.read().split("\n")
    if src_lengths is not None:
        extra = lines[len(src_lengths) :]
        if any(line.strip() for line in extra):
            raise InputFormatError(str(path), len(src_lengths) + 1, "more alignment lines than sentences")
        if len(lines) < len(src_lengths):
            msg = f"{len(lines)} lines for {len(src_lengths)} sentences"
            raise InputFormatError(str(path), len(lines), msg)
        lines = lines[: len(src_lengths)]
    elif lines and not lines[-1].strip():
        lines = lines[:-1]
    sure: list[set[Link]] = []
    possible: list[set[Link]] = []
    for n, line in enumerate(lines):
        s_links: set[Link] = set()
        p_links: set[Link] = set()
        for item in line.split():
            m = _TALP.fullmatch(item)
            if m is None:
                msg = f"bad link {item!r} (expected 'i-j' or 'ipj', 1-based)"
                raise InputFormatError(str(path), n + 1, msg)
            i, j = int(m[1]) - 1, int(m[3]) - 1
            bad = i < 0 or j < 0
            if src_lengths is not None and tgt_lengths is not None:
                bad = bad or i >= src_lengths[n] or j >= tgt_lengths[n]
            if bad:
                raise InputFormatError(str(path), n + 1, f"link {item!r} is outside the sentence pair")
            (s_links if m[2] == "-" else p_links).add((i, j))
        sure.append(s_links)
        possible.append(p_links)
    return sure, possible
