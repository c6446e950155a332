"""Tagging schemes: IOB1, IOB2 (BIO) and BIOES; conversions and span extraction. SRL's OI tags (O, or
``I-<role>`` on an argument head) share ``OUTSIDE`` and ``split_tag``.

Spans are ``(start, end, label)`` over word indices with ``end`` exclusive. Internally every labelled
artifact stores IOB2 or BIOES (``tag_scheme`` in the config); IOB1 (CoNLL-2003) is converted on ingest.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline_steps.errors import ConfigError

Span = tuple[int, int, str]
OUTSIDE = "O"
SCHEMES = ("bio", "bioes")
INPUT_SCHEMES = ("iob1", "bio", "bioes")


def check_scheme(scheme: str, allowed: Sequence[str] = SCHEMES, what: str = "tag scheme") -> str:
    """``scheme`` if it is one of ``allowed``; else a ConfigError naming the choices."""
    if scheme not in allowed:
        raise ConfigError(f"unknown {what} {scheme!r}; expected one of {', '.join(allowed)}")
    return scheme


class TagError(ValueError):
    """An ill-formed tag sequence; ``index`` is the 0-based position of the offending tag."""

    def __init__(self, index: int, message: str):
        self.index = index
        super().__init__(message)


def split_tag(tag: str) -> tuple[str, str | None]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', None). Raises TagError on anything else."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, sep, label = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not label:
        raise TagError(0, f"bad tag {tag!r} (expected O or B-/I-/E-/S- followed by a label)")
    return prefix, label


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """CoNLL-2003 IOB1 (B- only between two same-type chunks) to IOB2 (B- starts every chunk)."""
    out: list[str] = []
    prev_label: str | None = None
    for i, tag in enumerate(tags):
        prefix, label = _split_at(tags, i)
        if prefix in {"E", "S"}:
            raise TagError(i, f"tag {tag!r} is not IOB1")
        if prefix == "I" and prev_label != label:
            out.append(f"B-{label}")
        else:
            out.append(tag)
        prev_label = label
    return out


def _split_at(tags: Sequence[str], i: int) -> tuple[str, str | None]:
    try:
        return split_tag(tags[i])
    except TagError as exc:
        raise TagError(i, str(exc)) from None


def spans_from_tags(tags: Sequence[str], scheme: str = "bio", strict: bool = True) -> list[Span]:
    """Spans of an IOB2 or BIOES sequence.

    ``strict=True`` rejects ill-formed sequences (an I- that does not continue a chunk of its label,
    an unclosed BIOES chunk) with a TagError naming the position; ``strict=False`` repairs them the
    way conlleval does (a stray I- starts a new chunk) -- used on model predictions.
    """
    check_scheme(scheme)
    spans: list[Span] = []
    start: int | None = None
    cur: str | None = None

    def close(end: int) -> None:
        nonlocal start, cur
        if start is not None and cur is not None:
            spans.append((start, end, cur))
        start, cur = None, None

    for i, tag in enumerate(tags):
        prefix, label = _split_at(tags, i)
        if scheme == "bio" and prefix in {"E", "S"}:
            raise TagError(i, f"tag {tag!r} is BIOES but the scheme is BIO")
        continues = cur == label and prefix in {"I", "E"}
        if prefix == "O":
            if strict and scheme == "bioes" and cur is not None:
                raise TagError(i, f"chunk {cur} opened at {start} is not closed by E- before 'O'")
            close(i)
        elif prefix in {"I", "E"} and not continues:
            if strict:
                raise TagError(i, f"{tag!r} at position {i} does not continue a {label} chunk")
            close(i)
            start, cur = i, label
        elif prefix in {"B", "S"}:
            if strict and scheme == "bioes" and cur is not None:
                raise TagError(i, f"chunk {cur} opened at {start} is not closed before {tag!r}")
            close(i)
            start, cur = i, label
        if prefix in {"E", "S"}:
            close(i + 1)
    if strict and scheme == "bioes" and cur is not None:
        raise TagError(len(tags) - 1, f"chunk {cur} opened at {start} is not closed at the end")
    close(len(tags))
    return spans


def tags_from_spans(n: int, spans: Sequence[Span], scheme: str = "bio") -> list[str]:
    """Tag sequence of length ``n`` for non-overlapping ``spans``."""
    tags = ["O"] * n
    for start, end, label in sorted(spans):
        if not 0 <= start < end <= n:
            raise ValueError(f"span ({start}, {end}) outside a sentence of {n} words")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span ({start}, {end}, {label}) overlaps another span")
        if scheme == "bioes" and end - start == 1:
            tags[start] = f"S-{label}"
            continue
        tags[start] = f"B-{label}"
        for k in range(start + 1, end):
            tags[k] = f"I-{label}"
        if scheme == "bioes":
            tags[end - 1] = f"E-{label}"
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Convert a well-formed sequence between 'iob1', 'bio' and 'bioes'."""
    if source == "iob1":
        tags, source = iob1_to_iob2(tags), "bio"
    if source == target:
        spans_from_tags(tags, source)  # validates
        return list(tags)
    return tags_from_spans(len(tags), spans_from_tags(tags, source), target)


def label_set(labels: Sequence[str], scheme: str = "bio") -> list[str]:
    """All tags of a scheme for entity types ``labels``: 'O' first, then sorted prefixed tags."""
    prefixes = "BI" if scheme == "bio" else "BIES"
    return ["O"] + [f"{p}-{lab}" for lab in sorted(set(labels)) for p in prefixes]
