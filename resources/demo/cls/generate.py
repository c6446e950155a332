"""Generate the demo NLI set (premise, hypothesis, entailment/neutral/contradiction) in en, de, es.

Reads ``lexicon.tsv`` (persons, cities, objects, days in each language) and ``templates.tsv`` (per
event a premise and two hypotheses per label, parallel en/de/es); writes the ``xnli``-format files
and the ``file``-provider translation tables next to this script. Deterministic (seed 2024):
``.venv/bin/python resources/demo/cls/generate.py`` rewrites identical files.
"""

from __future__ import annotations

import csv
import random
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
LANGS = ("en", "de", "es")
LABELS = ("entailment", "neutral", "contradiction")
SIZES = {"train": 200, "dev": 40, "test": 40}


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(HERE / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def generate() -> dict[str, list[dict[str, dict[str, str] | str]]]:
    """Every split as a list of examples {"label", "en": (premise, hypothesis), "de": ..., "es": ...}."""
    lex: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in read_tsv("lexicon.tsv"):
        lex[row["kind"]].append(row)
    events: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in read_tsv("templates.tsv"):
        events[row["event"]][row["role"]].append(row)
    rng = random.Random(2024)
    seen: set[tuple[str, str]] = set()
    splits = {}
    for split, n in SIZES.items():
        labels = [LABELS[i % 3] for i in range(n)]
        rng.shuffle(labels)
        examples = []
        for label in labels:
            while True:
                event = events[rng.choice(sorted(events))]
                premise, hyp = event["premise"][0], rng.choice(event[label])
                city, city2 = rng.sample(lex["city"], 2)
                slots = {"P": rng.choice(lex["person"]), "C": city, "C2": city2}
                slots |= {"O": rng.choice(lex["object"]), "D": rng.choice(lex["day"])}
                values = {lang: {k: v[lang] for k, v in slots.items()} for lang in LANGS}
                ex = {
                    lang: (fill(premise[lang], values[lang]), fill(hyp[lang], values[lang])) for lang in LANGS
                }
                if ex["en"] not in seen:  # no pair twice, none shared between splits
                    seen.add(ex["en"])
                    examples.append({"label": label, **ex})
                    break
        splits[split] = examples
    return splits


def render() -> dict[str, str]:
    """{file name: content} of every output file."""
    splits = generate()
    files = {}
    for split, langs in {"train": ("en",), "dev": LANGS, "test": LANGS}.items():
        for lang in langs:
            lines = [f"{ex[lang][0]}\t{ex[lang][1]}\t{ex['label']}\n" for ex in splits[split]]
            files[f"{lang}.{split}.tsv"] = "".join(lines)
    for lang in ("de", "es"):
        table: dict[str, str] = {}
        for ex in splits["train"]:
            for en, tgt in zip(ex["en"], ex[lang], strict=True):
                table.setdefault(en, tgt)
        files[f"translations.en-{lang}.tsv"] = "".join(f"{en}\t{tgt}\n" for en, tgt in table.items())
    return files


def main() -> None:
    for name, text in render().items():
        (HERE / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
