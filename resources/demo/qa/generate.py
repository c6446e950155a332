"""Generate the demo extractive-QA set (SQuAD v1.1 JSON) in en, de, es.

Reads ``lexicon.tsv`` (fictional persons, towns, rivers, companies and values in each language) and
``templates.tsv`` (per topic a parallel context with slots and one question per answer slot); each
paragraph is a context filled with random values and three of its questions, whose answer is the
slot's value at its character offset in that language's context. Deterministic (seed 2024):
``.venv/bin/python resources/demo/qa/generate.py`` rewrites identical files.
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGS = ("en", "de", "es")
SLOTS = {"P": "person", "T": "town", "Y": "year", "CO": "company", "I": "instrument", "S": "sport"}
SLOTS |= {"R": "river", "N": "number", "M": "month"}
PARAGRAPHS = {"train": 50, "dev": 10, "test": 10}  # x 3 questions
QUESTIONS_PER_PARAGRAPH = 3


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(HERE / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def fill(template: str, values: dict[str, str]) -> tuple[str, dict[str, int]]:
    """The filled template and the character offset of each slot's first occurrence."""
    out, starts = "", {}
    for k, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if k % 2:
            starts.setdefault(piece, len(out))
            piece = values[piece]
        out += piece
    return out, starts


def generate() -> dict[str, dict[str, list[dict]]]:
    """{split: {lang: SQuAD 'data' list}}; the paragraphs of a split are parallel across languages."""
    lex: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_tsv("lexicon.tsv"):
        lex[row["kind"]].append(row)
    topics: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in read_tsv("templates.tsv"):
        topics[row["topic"]][row["role"]].append(row)
    rng = random.Random(2024)
    out: dict[str, dict[str, list[dict]]] = {}
    n_question = 0
    for split, n in PARAGRAPHS.items():
        out[split] = {lang: [] for lang in LANGS}
        for p in range(n):
            topic = sorted(topics)[p % len(topics)]
            context = topics[topic]["context"][0]
            slots = {s: rng.choice(lex[kind]) for s, kind in SLOTS.items()}
            questions = rng.sample(topics[topic]["question"], QUESTIONS_PER_PARAGRAPH)
            qids = [f"q{n_question + k:04d}" for k in range(len(questions))]
            n_question += len(questions)
            for lang in LANGS:
                values = {s: v[lang] for s, v in slots.items()}
                text, starts = fill(context[lang], values)
                qas = []
                for qid, q in zip(qids, questions, strict=True):
                    answer = {"text": values[q["answer"]], "answer_start": starts[q["answer"]]}
                    qas.append({"id": qid, "question": fill(q[lang], values)[0], "answers": [answer]})
                title = values["P" if topic == "person" else "T"]
                out[split][lang].append({"title": title, "paragraphs": [{"context": text, "qas": qas}]})
    return out


def sentences(context: str) -> list[str]:
    """A template context's sentences (each ends with a full stop followed by a space or the end)."""
    return re.split(r"(?<=\.) ", context)


def translations(en: list[dict], other: list[dict]) -> list[tuple[str, str]]:
    """(English, translation) of every context sentence and question of parallel paragraphs, in order
    and without repeats: the ``file`` provider's table for QA translate-train."""
    pairs: dict[str, str] = {}
    for a, b in zip(en, other, strict=True):
        pa, pb = a["paragraphs"][0], b["paragraphs"][0]
        src, tgt = sentences(pa["context"]), sentences(pb["context"])
        assert len(src) == len(tgt), (src, tgt)
        pairs.update(zip(src, tgt, strict=True))
        pairs.update((qa["question"], qb["question"]) for qa, qb in zip(pa["qas"], pb["qas"], strict=True))
    return list(pairs.items())


def render() -> dict[str, str]:
    """{file name: content} of every output file."""
    data = generate()
    files = {}
    for split, langs in {"train": ("en",), "dev": ("en",), "test": LANGS}.items():
        for lang in langs:
            doc = {"version": "1.1", "data": data[split][lang]}
            files[f"{lang}.{split}.json"] = json.dumps(doc, ensure_ascii=False, indent=1) + "\n"
    for lang in LANGS[1:]:
        rows = translations(data["train"]["en"], data["train"][lang])
        files[f"translations.en-{lang}.tsv"] = "".join(f"{a}\t{b}\n" for a, b in rows)
    return files


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
