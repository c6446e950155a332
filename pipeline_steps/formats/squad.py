"""SQuAD v1.1 / XQuAD JSON -> the ``qa_examples`` artifact (``schemas.QA_EXAMPLES``).

Ids are ``{split}-{lang}-{question id}``: the question id of the file (shared by the parallel XQuAD
languages) stays readable, and examples of several languages can be concatenated without clashes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from pipeline_steps.errors import InputFormatError
from pipeline_steps.schemas import QA_EXAMPLES
from pipeline_steps.text import nfc, read_text


def _line_of(text: str, qid: Any) -> int | None:
    """1-based line of ``"id": "<qid>"`` in the raw JSON (None when not found)."""
    m = re.search(r'"id"\s*:\s*' + re.escape(json.dumps(qid, ensure_ascii=False)), text)
    if m is None:
        m = re.search(r'"id"\s*:\s*' + re.escape(json.dumps(qid)), text)
    return None if m is None else text.count("\n", 0, m.start()) + 1


def read_squad(
    path: str,
    lang: str,
    split: str,
    scheme: str = "bio",
    *,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Every question of a SQuAD-v1.1-format file, in file order.

    Each answer's ``answer_start`` must point at its ``text`` in the context
    (``context[start:start + len(text)] == text``); a mismatch names the question id and its line.
    Title, context, question and answers are NFC-normalised (answer starts moved to match).
    ``scheme`` is accepted for a uniform reader signature and unused.
    """
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
    seen: set[str] = set()
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
                line = _line_of(text, qid)
                if qid in seen:
                    raise InputFormatError(path, line, f"question id {qid!r} occurs twice")
                seen.add(qid)
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
                        "id": f"{split}-{lang}-{qid}",
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
