"""Generate the demo SRL set (dependency-based, argument heads) in English and German.

Reads ``templates.tsv`` (per event a parallel English and German sentence whose words are written
``word/UPOS|roles``: one role per predicate of the sentence, ``V`` on the predicate, ``_`` for none;
slots ``{P}``, ``{P2}``, ``{O}``, ``{C}``, ``{D}`` filled from ``lexicon.tsv``) and writes Universal
Proposition Bank files: English in the EWT layout (``upb_ewt``: PropBank 3 names ARG0, ARGM-TMP, V) and
German in the de/fr/es layout (``upb``: FILLPRED, A0, AM-TMP), so that the demo reads both. Heads and
lemmas are placeholders (the reader does not use them). ``translations.en-de.tsv`` pairs each English
training sentence with its German side (the ``file`` translation provider of translate-train). The
``gold`` split is a sentence-parallel pair labelled on both sides from the same templates,
``gold.en-de.en.conllu`` (EWT layout) and ``gold.en-de.de.conllu`` (de/fr/es layout): the projection of
its English instances is scored against its German ones (``data.gold_parallel``). Deterministic (seed
2024; the gold split is drawn last, so adding it left the other files as they were):
``.venv/bin/python resources/demo/srl/generate.py`` rewrites identical files.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = {"train": 120, "dev": 30, "test": 30, "gold": 30}
SLOT_UPOS = {"P": "PROPN", "P2": "PROPN", "O": "NOUN", "C": "PROPN", "D": "PROPN"}


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(HERE / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def words(template: str, values: dict[str, str]) -> list[tuple[str, str, list[str]]]:
    """(form, UPOS, roles) of each word of a filled template."""
    out = []
    for item in template.split():
        word, roles = item.split("|")
        form, upos = word.rsplit("/", 1)
        slot = re.fullmatch(r"\{(\w+)\}", form)
        if slot:
            form, upos = values[slot.group(1)], SLOT_UPOS[slot.group(1)]
        out.append((form, upos, roles.split(",")))
    return out


def ewt_role(role: str) -> str:
    """UPB 1.0 name -> the EWT file's PropBank 3 name (A0 -> ARG0, AM-TMP -> ARGM-TMP)."""
    if role.startswith("AM-"):
        return "ARGM-" + role[3:]
    return "ARG" + role[1:] if role.startswith("A") else role


def conllu(sentence: list[tuple[str, str, list[str]]], senses: list[str], layout: str, sent_id: str) -> str:
    """One sentence in the ``upb_ewt`` or ``upb`` layout."""
    n_pred = len(senses)
    preds = [next(i for i, (_, _, r) in enumerate(sentence) if r[k] == "V") for k in range(n_pred)]
    text = " ".join(w for w, _, _ in sentence)
    lines = (
        [f"# sent_id = {sent_id}", f"# text = {text}"] if layout == "upb_ewt" else [f"# sent_id {sent_id}"]
    )
    for i, (form, upos, roles) in enumerate(sentence):
        head, rel = (0, "root") if i == preds[0] else (preds[0] + 1, "dep")
        ud = [str(i + 1), form, form.lower(), upos, "_", "_", str(head), rel]
        sense = senses[preds.index(i)] if i in preds else "_"
        if layout == "upb_ewt":
            args = [ewt_role(r) if r != "_" else "_" for r in roles]
            cols = [*ud, "_", "_", sense, *args]
        else:
            args = [r if r not in ("_", "V") else "_" for r in roles]
            cols = [*ud, "Y" if i in preds else "_", sense, *args]
        lines.append("\t".join(cols))
    return "\n".join(lines) + "\n\n"


def generate() -> dict[str, list[tuple[dict[str, str], dict[str, str]]]]:
    """Every split as a list of (template row, slot values per language)."""
    lex: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_tsv("lexicon.tsv"):
        lex[row["kind"]].append(row)
    templates = read_tsv("templates.tsv")
    rng = random.Random(2024)
    seen: set[str] = set()
    splits: dict[str, list[tuple[dict[str, str], dict[str, str]]]] = {}
    for split, n in SIZES.items():
        out = []
        while len(out) < n:
            row = rng.choice(templates)
            p, p2 = rng.sample(lex["person"], 2)
            slots = {"P": p, "P2": p2, "O": rng.choice(lex["object"]), "C": rng.choice(lex["city"])}
            slots["D"] = rng.choice(lex["day"])
            values = {lang: {k: v[lang] for k, v in slots.items()} for lang in ("en", "de")}
            key = " ".join(w for w, _, _ in words(row["en"], values["en"]))
            if key not in seen:  # no sentence twice, none shared between splits
                seen.add(key)
                out.append((row, values))
        splits[split] = out
    return splits


def file_name(split: str, lang: str) -> str:
    """``en.train.conllu``; the gold split's sides ``gold.en-de.en.conllu``, ``gold.en-de.de.conllu``."""
    return f"gold.en-de.{lang}.conllu" if split == "gold" else f"{lang}.{split}.conllu"


def render() -> dict[str, str]:
    """{file name: content} of every output file."""
    files = {}
    for split, examples in generate().items():
        for lang, layout in (("en", "upb_ewt"), ("de", "upb")):
            if lang == "de" and split == "train":
                continue
            parts = []
            for k, (row, values) in enumerate(examples):
                sentence = words(row[lang], values[lang])
                parts.append(
                    conllu(sentence, row["senses"].split(","), layout, f"demo-{split}-{lang}-{k:04d}")
                )
            files[file_name(split, lang)] = "".join(parts)
        if split == "train":
            lines = []
            for row, values in examples:
                en, de = (" ".join(w for w, _, _ in words(row[x], values[x])) for x in ("en", "de"))
                lines.append(f"{en}\t{de}\n")
            files["translations.en-de.tsv"] = "".join(lines)
    return files


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
