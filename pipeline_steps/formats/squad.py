"""SQuAD v1.1 JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP) -> ``qa_examples`` (``schemas.QA_EXAMPLES``).

Ids are ``{split}-{lang}-{question id}``: the question id of the file (shared by the parallel XQuAD
languages) stays readable, and examples of several languages can be concatenated without clashes.
Files whose question ids repeat (the vendored TyDiQA-GoldP train file numbers questions per article)
are read with ``question_ids: position``: ids ``{split}-{lang}-{index:06d}`` in file order.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from pipeline_steps.errors import ConfigError, InputFormatError
from pipeline_steps.schemas import QA_EXAMPLES
from pipeline_steps.text import nfc, read_text

QUESTION_IDS = ("file", "position")


class _IdLines:
    """1-based line of each question's ``"id": "<qid>"`` in the raw JSON, questions taken in file order.

    Each search starts after the previous question's id, so a repeated id is found at its own line and
    the whole file is scanned once. None when not found (e.g. an id written with other escapes)."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def next(self, qid: str) -> int | None:
        for literal in (json.dumps(qid, ensure_ascii=False), json.dumps(qid)):
            m = re.compile(r'"id"\s*:\s*' + re.escape(literal)).search(self.text, self.pos)
            if m is not None:
                self.line += self.text.count("\n", self.pos, m.start())
                self.pos = m.start()
                return self.line
        return None


def read_squad(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
    question_ids: str = "file",
) -> pd.DataFrame:
    """Every question of a SQuAD-v1.1-format file, in file order.

    ``question_ids``: ``file`` (default) keeps the file's question ids, which must be unique;
    ``position`` numbers the questions ``{index:06d}`` instead (for files whose ids repeat).

    Each answer's ``answer_start`` must point at its non-empty ``text`` in the context
    (``context[start:start + len(text)] == text``); a mismatch or an empty answer names the question id
    and its line.
    Title, context, question and answers are NFC-normalised (answer starts moved to match).
    ``scheme`` is accepted for a uniform reader signature and unused.
    """
    if question_ids not in QUESTION_IDS:
        raise ConfigError(f"question_ids must be one of {', '.join(QUESTION_IDS)}, got {question_ids!r}")
    text = read_text(path, encoding)
    if not text.strip():
        raise InputFormatError(path, 1, "empty file")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFormatError(path, exc.lineno, f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise InputFormatError(path, 1, "not SQuAD JSON: expected an object with a 'data' list")

    rows: list[dict[str, Any]] = []
    seen: dict[str, int | None] = {}
    id_lines = _IdLines(text)
    for a, article in enumerate(doc["data"]):
        where = f"data[{a}]"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise InputFormatError(path, None, f"{where}: expected an object with a 'paragraphs' list")
        title = str(article.get("title", ""))
        for p, para in enumerate(article["paragraphs"]):
            pwhere = f"{where}.paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise InputFormatError(path, None, f"{pwhere}: expected an object with a 'context' string")
            if not isinstance(para.get("qas"), list):
                raise InputFormatError(path, None, f"{pwhere}: expected a 'qas' list")
            context = para["context"]
            norm_context = nfc(context)
            for q, qa in enumerate(para["qas"]):
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str) or not qid:
                    raise InputFormatError(path, None, f"{pwhere}.qas[{q}]: missing question 'id'")
                line = id_lines.next(qid)
                if qid in seen and question_ids == "file":
                    first = "" if seen[qid] is None else f" (first on line {seen[qid]})"
                    raise InputFormatError(
                        path,
                        line,
                        f"question id {qid!r} occurs twice{first}; set question_ids: position to number "
                        "the questions by position",
                    )
                seen.setdefault(qid, line)
                if not isinstance(qa.get("question"), str) or not isinstance(qa.get("answers"), list):
                    raise InputFormatError(
                        path, line, f"question {qid!r}: needs a 'question' string and 'answers'"
                    )
                texts, starts = [], []
                for k, ans in enumerate(qa["answers"]):
                    ok = isinstance(ans, dict) and isinstance(ans.get("text"), str)
                    start = ans.get("answer_start") if ok else None
                    if not ok or not isinstance(start, int) or isinstance(start, bool):
                        raise InputFormatError(
                            path,
                            line,
                            f"question {qid!r}: answer {k} needs 'text' and an integer 'answer_start'",
                        )
                    if not ans["text"].strip():
                        raise InputFormatError(
                            path,
                            line,
                            f"question {qid!r}: answer {k} has an empty text (a SQuAD v1.1 answer is a "
                            "span of the context; a file without its gold answers cannot train or score)",
                        )
                    found = context[start : start + len(ans["text"])] if start >= 0 else None
                    if found != ans["text"]:
                        raise InputFormatError(
                            path,
                            line,
                            f"question {qid!r}: answer {k} {ans['text']!r} is not at answer_start {start} "
                            f"of the context (found {found!r})",
                        )
                    norm_start, norm_text = len(nfc(context[:start])), nfc(ans["text"])
                    if norm_context[norm_start : norm_start + len(norm_text)] != norm_text:
                        raise InputFormatError(
                            path,
                            line,
                            f"question {qid!r}: answer {k} {ans['text']!r} starts or ends inside a character "
                            "that Unicode NFC normalisation combines with its neighbour",
                        )
                    texts.append(norm_text)
                    starts.append(norm_start)
                rows.append(
                    {
                        "id": f"{split}-{lang}-{qid if question_ids == 'file' else f'{len(rows):06d}'}",
                        "lang": lang,
                        "split": split,
                        "title": nfc(title),
                        "context": norm_context,
                        "question": nfc(qa["question"]),
                        "answer_texts": texts,
                        "answer_starts": starts,
                        "source": str(path),
                    }
                )
    if not rows:
        raise InputFormatError(path, 1, "no questions found")
    return pd.DataFrame(rows, columns=QA_EXAMPLES.columns)
