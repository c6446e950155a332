"""Generate the xlt demo corpus: English NER with gold German/Spanish translations.

Run ``.venv/bin/python resources/demo/generate_demo.py`` (``--out DIR`` to write elsewhere). The output
is a pure function of this file, its inputs and the pinned sacremoses, so regenerating gives
byte-identical files.

Every sentence is a hand-written parallel template (English / German / Spanish; ``templates.tsv``) whose
slots are filled from hand-written gazetteers with each entity's form in every language
(``gazetteers.tsv``) and from non-entity values (``values.tsv``). Gold tags on every side come from the
slots, so they are exact. README.md is ``README.template.md`` with the corpus statistics filled in; its
"Generator inputs" section documents the columns of the data files and the template syntax.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sacremoses import MosesDetokenizer, MosesTokenizer

HERE = Path(__file__).resolve().parent
GAZETTEERS = HERE / "gazetteers.tsv"
TEMPLATES_TSV = HERE / "templates.tsv"
VALUES_TSV = HERE / "values.tsv"
README_TEMPLATE = HERE / "README.template.md"
INPUT_FILES = ("generate_demo.py", GAZETTEERS.name, TEMPLATES_TSV.name, VALUES_TSV.name, README_TEMPLATE.name)

SEED = 2024
LANGS = ("en", "de", "es")
TARGETS = ("de", "es")
N_TRAIN, N_DEV, N_TEST, N_PARALLEL = 240, 40, 40, 400
MIN_LEN, MAX_LEN = 6, 30
LABELS = ("PER", "ORG", "LOC", "MISC")

DE_ARTICLES = {
    "m": {"nom": "der", "acc": "den", "dat": "dem", "gen": "des"},
    "f": {"nom": "die", "acc": "die", "dat": "der", "gen": "der"},
    "n": {"nom": "das", "acc": "das", "dat": "dem", "gen": "des"},
    "pl": {"nom": "die", "acc": "die", "dat": "den", "gen": "der"},
}
DE_CASES = ("nom", "acc", "dat", "gen")
NAT_FORMS = {"de": ("e", "en", "er", "es"), "es": ("ms", "fs", "mp", "fp")}

# --------------------------------------------------------------------------------------------------
# Data files
# --------------------------------------------------------------------------------------------------


class DataError(ValueError):
    """A malformed data file; the message starts with ``file:line:``."""


@contextmanager
def at_line(path: Path, lineno: int) -> Iterator[None]:
    """Re-raise a ValueError from the block as a DataError naming ``path`` and ``lineno``."""
    try:
        yield
    except ValueError as exc:
        raise DataError(f"{path}:{lineno}: {exc}") from None


def read_tsv(path: Path, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """``(line number, row)`` for every line after the header ``columns``: every cell non-empty (but
    ``attrs``), no stray whitespace, no blank line; a DataError names the file and line otherwise."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines[-1] != "":
        raise DataError(f"{path}:{len(lines)}: no newline at the end of the file")
    if lines[0].split("\t") != list(columns):
        raise DataError(f"{path}:1: the header must be {'<TAB>'.join(columns)!r}, not {lines[0]!r}")
    rows = []
    for lineno, line in enumerate(lines[1:-1], start=2):
        cells = line.split("\t")
        with at_line(path, lineno):
            if len(cells) != len(columns):
                raise ValueError(f"{len(cells)} tab-separated cells, expected {len(columns)}: {line!r}")
            for name, cell in zip(columns, cells, strict=True):
                if cell != " ".join(cell.split()) or (not cell and name != "attrs"):
                    raise ValueError(f"column {name!r}: empty or stray whitespace in {cell!r}")
        rows.append((lineno, dict(zip(columns, cells, strict=True))))
    return rows


def _forms(spec: str) -> tuple[str, dict[str, str]]:
    """``"Text/name=Form/..."`` -> ``("Text", {name: Form})``."""
    first, *rest = spec.split("/")
    extra = dict(item.partition("=")[::2] for item in rest)
    if not first or not all(re.fullmatch(r"[a-z]+", k) and v for k, v in extra.items()):
        raise ValueError(f"bad forms {spec!r}")
    return first, extra


# --------------------------------------------------------------------------------------------------
# Gazetteers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    """One gazetteer entry with its realisation in every language.

    ``forms[lang]`` maps a form name to its text ("" is the default form); ``art[lang]`` is the
    article the entity takes (English ``the``; German gender ``m|f|n|pl``; Spanish ``el|la|los|las``)
    or None.
    """

    key: str
    label: str
    kinds: tuple[str, ...]
    forms: dict[str, dict[str, str]]
    art: dict[str, str | None]
    plural: dict[str, bool]
    gender: str | None = None  # persons: "m" | "f"
    home: str | None = None  # nationality adjectives: the country's key


def entity(label: str, kinds: str, en: str, de: str, es: str) -> Entity:
    """An entry written as one spec string per language (the ``gazetteers.tsv`` cells, see README.md):
    English ``"[the ]Name[ +pl]"``, German ``"[m:|f:|n:|pl:]Nominative[/case=Form...]"`` with ``case``
    one of ``acc dat gen obl``, Spanish ``"[el |la |los |las ]Name"``.
    """
    en_pl = en.endswith(" +pl")
    en = en.removesuffix(" +pl")
    en_art = en.startswith("the ")
    en = en.removeprefix("the ")
    es_art, _, es_name = es.partition(" ")
    if es_art not in ("el", "la", "los", "las"):
        es_art, es_name = "", es
    de_art, _, de_rest = de.partition(":") if re.match(r"^(m|f|n|pl):", de) else ("", "", de)
    nom, *overrides = de_rest.split("/")
    de_forms = {"nom": nom, "acc": nom, "dat": nom}
    for item in overrides:
        case, _, form = item.partition("=")
        if case == "obl" and form:
            de_forms |= {"dat": form, "gen": form} | ({"acc": form} if de_art == "m" else {})
        elif case in DE_CASES[1:] and form:
            de_forms[case] = form
        else:
            raise ValueError(f"{en!r}: bad German form {item!r}")
    if "gen" not in de_forms and de_art in ("f", "pl"):
        de_forms["gen"] = de_forms["dat"] if de_art == "f" else nom
    return Entity(
        key=f"{label}:{en}",
        label=label,
        kinds=tuple(kinds.split()),
        forms={"en": {"": en}, "de": de_forms, "es": {"": es_name}},
        art={"en": "the" if en_art else None, "de": de_art or None, "es": es_art or None},
        plural={"en": en_pl, "de": de_art == "pl", "es": es_art in ("los", "las")},
    )


def _attrs(cell: str, allowed: set[str]) -> dict[str, str]:
    """The ``key=value`` pairs of an ``attrs`` cell, separated by ``;``."""
    attrs = dict(item.partition("=")[::2] for item in cell.split(";")) if cell else {}
    if not attrs.keys() <= allowed or not all(attrs.values()):
        raise ValueError(f"attrs {cell!r}: want key=value pairs separated by ';', keys {sorted(allowed)}")
    return attrs


def parse_entity(row: dict[str, str]) -> Entity:
    """One ``gazetteers.tsv`` row: a person, a nationality adjective (kind N) or any other entity."""
    label, kinds, en = row["label"], row["kinds"], row["en"]
    if label not in LABELS or not re.fullmatch(r"[A-Z]+( [A-Z]+)*", kinds):
        raise ValueError(f"bad label {label!r} or kinds {kinds!r}")
    if label == "PER":  # the name in each language; "last" is the surname used alone
        attrs = _attrs(row["attrs"], {"gender", "last"})
        if attrs.get("gender") not in ("m", "f") or not all(" " in row[lang] for lang in LANGS):
            raise ValueError("a person needs gender=m|f and a name with a surname")
        forms = {
            lang: {"": row[lang], "last": attrs.get("last", row[lang].split(" ", 1)[1])} for lang in LANGS
        }
    elif kinds == "N":  # a nationality adjective: its German and Spanish forms, and its country
        attrs = _attrs(row["attrs"], {"home"})
        parts = {lang: row[lang].split("/") for lang in TARGETS}
        if "home" not in attrs or any(len(p) != 4 or not all(p) for p in parts.values()):
            raise ValueError("a nationality needs home=Country and four '/'-separated forms in de and es")
        forms = {"en": {"": en}} | {
            lang: dict(zip(NAT_FORMS[lang], p, strict=True)) for lang, p in parts.items()
        }
    else:
        _attrs(row["attrs"], set())
        return entity(label, kinds, en, row["de"], row["es"])
    home = f"LOC:{attrs['home']}" if "home" in attrs else None
    no_art, singular = dict.fromkeys(LANGS), dict.fromkeys(LANGS, False)
    return Entity(
        f"{label}:{en}", label, tuple(kinds.split()), forms, no_art, singular, attrs.get("gender"), home
    )


def load_gazetteers(path: Path) -> list[Entity]:
    """The entities of ``path``; a DataError names the line of a malformed, duplicate or dangling entry."""
    entities: dict[str, Entity] = {}
    for lineno, row in read_tsv(path, ("label", "kinds", *LANGS, "attrs")):
        with at_line(path, lineno):
            ent = parse_entity(row)
            if ent.key in entities:
                raise ValueError(f"duplicate entity {ent.key!r}")
            if ent.home is not None and ent.home not in entities:
                raise ValueError(f"unknown home country {ent.home!r} (countries come first)")
            entities[ent.key] = ent
    return list(entities.values())


ENTITIES = load_gazetteers(GAZETTEERS)
ENTITY_BY_KEY = {ent.key: ent for ent in ENTITIES}
ENTITIES_BY_KIND = {
    k: [e for e in ENTITIES if k in e.kinds] for k in sorted({k for e in ENTITIES for k in e.kinds})
}

# --------------------------------------------------------------------------------------------------
# Non-entity values (days, months, numbers): {lang: {form: text}} per value
# --------------------------------------------------------------------------------------------------


def load_values(path: Path) -> dict[str, list[dict[str, dict[str, str]]]]:
    """``kind -> [value]`` from ``path``; a German cell may add forms: ``Montag/abend=Montagabend``."""
    values: dict[str, list[dict[str, dict[str, str]]]] = {}
    for lineno, row in read_tsv(path, ("kind", *LANGS)):
        with at_line(path, lineno):
            if not re.fullmatch(r"[A-Z]+", row["kind"]):
                raise ValueError(f"bad kind {row['kind']!r}")
            text, extra = _forms(row["de"])
            value = {"en": {"": row["en"]}, "de": {"": text} | extra, "es": {"": row["es"]}}
            values.setdefault(row["kind"], []).append(value)
    return values


VALUES = load_values(VALUES_TSV)

# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------

SLOT_RE = re.compile(r"^\{([A-Z]+)(\d*)((?:\.[a-z]+)*)\}$")
ANY_SLOT_RE = re.compile(r"\{([A-Z]+)(\d*)((?:\.[a-z]+)*)\}")
ALT_RE = re.compile(r"<([A-Z]+\d*)(?:@([a-z]+))?:([^|<>]*)\|([^|<>]*)>")
CONTRACTIONS = {
    "de": {
        "in": {"dem": "im", "das": "ins"},
        "an": {"dem": "am", "das": "ans"},
        "von": {"dem": "vom"},
        "zu": {"dem": "zum", "der": "zur"},
        "bei": {"dem": "beim"},
    },
    "es": {"de": {"el": "del"}, "a": {"el": "al"}},
    "en": {},
}


@dataclass(frozen=True)
class Slot:
    """A parsed slot token: ``key`` ("P1", "DAY") and its form parts."""

    kind: str
    key: str
    forms: tuple[str, ...]

    @classmethod
    def parse(cls, match: re.Match[str]) -> Slot:
        kind, num, forms = match.groups()
        return cls(kind, kind + num, tuple(f for f in forms.split(".") if f))


@dataclass
class Template:
    """One parallel template; validated on construction."""

    index: int
    text: dict[str, str]
    entity_slots: dict[str, str] = field(default_factory=dict)  # key -> kind
    value_slots: dict[str, str] = field(default_factory=dict)
    uses: dict[str, set[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)  # key -> {(lang, forms)}

    def __post_init__(self) -> None:
        keys_by_lang = {}
        for lang in LANGS:
            keys = set()
            for match in ANY_SLOT_RE.finditer(self.text[lang]):
                slot = Slot.parse(match)
                if slot.kind in VALUES:
                    self.value_slots[slot.key] = slot.kind
                elif slot.kind in ENTITIES_BY_KIND:
                    self.entity_slots[slot.key] = slot.kind
                    self.uses.setdefault(slot.key, set()).add((lang, slot.forms))
                else:
                    raise ValueError(f"template {self.index} ({lang}): unknown slot kind {slot.kind!r}")
                keys.add(slot.key)
            for match in ALT_RE.finditer(self.text[lang]):
                if match.group(1) not in keys:
                    raise ValueError(
                        f"template {self.index} ({lang}): condition on absent slot {match.group(1)}"
                    )
            keys_by_lang[lang] = keys
        if len({frozenset(k) for k in keys_by_lang.values()}) != 1:
            raise ValueError(f"template {self.index}: the languages use different slots {keys_by_lang}")


@dataclass
class Sentence:
    """One rendered sentence: tokens, IOB2 tags and entity mentions ``(slot key, start, end, label)``."""

    tokens: list[str]
    tags: list[str]
    mentions: list[tuple[str, int, int, str]]


@dataclass
class Instance:
    """A template filled once, rendered in every language."""

    template: int
    fill: dict[str, str]
    sentences: dict[str, Sentence]


def realise(ent: Entity, lang: str, forms: tuple[str, ...]) -> tuple[list[str], list[str]] | None:
    """``(article tokens, entity tokens)`` of ``ent`` in ``lang`` with ``forms``; None if unsupported."""
    table = ent.forms[lang]
    bare = "bare" in forms
    if ent.label == "PER":
        return [], table["last" if "last" in forms else ""].split()
    if ent.home is not None:  # nationality adjective
        form = next((f for f in forms if f in table), "")
        if lang != "en" and form == "":
            return None
        return [], table[form].split()
    if lang == "de":
        case = next((f for f in forms if f in DE_CASES), "nom")
        if case not in table:
            return None
        art = [] if bare or ent.art["de"] is None else [DE_ARTICLES[ent.art["de"]][case]]
        return art, table[case].split()
    art_word = ent.art[lang]
    return ([] if bare or art_word is None else [art_word]), table[""].split()


def supports(ent: Entity, uses: set[tuple[str, tuple[str, ...]]]) -> bool:
    return all(realise(ent, lang, forms) is not None for lang, forms in uses)


def _condition(ent: Entity, lang: str, cond: str) -> bool:
    if cond == "m":
        if ent.gender is None:
            raise ValueError(f"gender condition on non-person {ent.key!r}")
        return ent.gender == "m"
    if cond == "art":
        return ent.art[lang] is not None
    if cond == "pl":
        return ent.plural[lang]
    if cond == "vowel":
        real = realise(ent, lang, ())
        assert real is not None
        return (real[0] + real[1])[0][0].lower() in "aeiou"
    raise ValueError(f"unknown condition {cond!r}")


@dataclass
class _Token:
    text: str
    slot: str | None = None  # the entity slot this token belongs to (None: O)
    label: str | None = None
    begins: bool = False  # first token of its entity
    article: bool = False  # an article a slot emitted (may merge with a preposition)
    capitalisable: bool = True  # may be upper-cased at the start of the sentence


def render(template: Template, fill: dict[str, str], values: dict[str, int], lang: str) -> Sentence:
    """Render ``template`` in ``lang`` with entity ``fill`` (slot key -> entity key) and value choices."""
    text = ALT_RE.sub(
        lambda m: (
            m.group(3) if _condition(ENTITY_BY_KEY[fill[m.group(1)]], lang, m.group(2) or "m") else m.group(4)
        ),
        template.text[lang],
    )
    toks: list[_Token] = []
    for raw in text.split():
        match = SLOT_RE.match(raw)
        if match is None:
            toks.append(_Token(raw))
            continue
        slot = Slot.parse(match)
        if slot.kind in VALUES:
            row = VALUES[slot.kind][values[slot.key]][lang]
            form = next((f for f in slot.forms if f in row), "")
            toks.extend(_Token(t) for t in row[form].split())
            continue
        ent = ENTITY_BY_KEY[fill[slot.key]]
        real = realise(ent, lang, slot.forms)
        if real is None:
            raise ValueError(f"{ent.key!r} has no form {slot.forms} in {lang}")
        art, words = real
        toks.extend(_Token(t, article=True) for t in art)
        # names keep their spelling at the sentence start ("iPhone"); adjectives do not ("Deutsche")
        toks.extend(
            _Token(t, slot.key, ent.label, begins=k == 0, capitalisable=ent.home is not None)
            for k, t in enumerate(words)
        )
    # merge preposition + article (German "in dem" -> "im", Spanish "de el" -> "del")
    merged_toks: list[_Token] = []
    for tok in toks:
        prev = merged_toks[-1] if merged_toks else None
        merged = None
        if tok.article and prev is not None and prev.label is None:
            merged = CONTRACTIONS[lang].get(prev.text.lower(), {}).get(tok.text)
        if merged is not None and prev is not None:
            prev.text = merged.capitalize() if prev.text[0].isupper() else merged
        else:
            merged_toks.append(tok)
    toks = merged_toks
    # capitalise the first word (after opening punctuation such as "¿")
    first = next(t for t in toks if any(c.isalnum() for c in t.text))
    if first.text.islower() and first.capitalisable:
        first.text = first.text[0].upper() + first.text[1:]
    tags = ["O" if t.label is None else ("B-" if t.begins else "I-") + t.label for t in toks]
    mentions = []
    for k, t in enumerate(toks):
        if t.begins:
            end = k + 1
            while end < len(toks) and toks[end].label is not None and not toks[end].begins:
                end += 1
            mentions.append((t.slot or "", k, end, t.label or ""))
    return Sentence([t.text for t in toks], tags, mentions)


def load_templates(path: Path) -> list[Template]:
    """The templates of ``path``, one a line: ``en<TAB>de<TAB>es``."""
    templates = []
    for lineno, row in read_tsv(path, LANGS):
        with at_line(path, lineno):
            templates.append(Template(len(templates), row))
    unused = set(ENTITIES_BY_KIND) - {kind for t in templates for kind in t.entity_slots.values()}
    if unused:
        raise DataError(f"{path}: no template uses the gazetteer kinds {sorted(unused)}")
    return templates


TEMPLATES = load_templates(TEMPLATES_TSV)


def _draw_fill(template: Template, rng: random.Random) -> dict[str, str] | None:
    fill: dict[str, str] = {}
    used_surface: set[str] = set()
    for key in sorted(template.entity_slots):
        pool = [
            e
            for e in ENTITIES_BY_KIND[template.entity_slots[key]]
            if supports(e, template.uses[key]) and e.forms["en"][""] not in used_surface
        ]
        if not pool:
            return None
        ent = rng.choice(pool)
        fill[key] = ent.key
        used_surface.add(ent.forms["en"][""])
    chosen = [ENTITY_BY_KEY[k] for k in fill.values()]
    if any(e.home is not None and e.home in fill.values() for e in chosen):
        return None  # "German exports to Germany"
    return fill


def instantiate(template: Template, rng: random.Random, max_tries: int = 200) -> Instance:
    """Fill ``template`` with random entities and values and render it in every language."""
    for _ in range(max_tries):
        fill = _draw_fill(template, rng)
        values = {key: rng.randrange(len(VALUES[kind])) for key, kind in sorted(template.value_slots.items())}
        if fill is None:
            continue
        sentences = {lang: render(template, fill, values, lang) for lang in LANGS}
        if all(MIN_LEN <= len(s.tokens) <= MAX_LEN for s in sentences.values()):
            return Instance(template.index, fill, sentences)
    raise ValueError(f"template {template.index}: no valid fill in {max_tries} tries")


# --------------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------------

_DETOK = {lang: MosesDetokenizer(lang) for lang in LANGS}
_TOK = {lang: MosesTokenizer(lang) for lang in LANGS}


def detokenize(tokens: Sequence[str], lang: str) -> str:
    return _DETOK[lang].detokenize(list(tokens))


def text(inst: Instance, lang: str) -> str:
    """The detokenised sentence of ``inst`` in ``lang``."""
    return detokenize(inst.sentences[lang].tokens, lang)


def check_round_trip(tokens: Sequence[str], lang: str) -> str:
    """Detokenise; raise ValueError unless Moses tokenises the text back into ``tokens``."""
    text = detokenize(tokens, lang)
    back = _TOK[lang].tokenize(text, escape=False)
    if back != list(tokens):
        raise ValueError(f"Moses round trip fails for {lang}: {list(tokens)} -> {text!r} -> {back}")
    return text


@dataclass
class Corpus:
    train: list[Instance]
    dev: list[Instance]
    test: list[Instance]
    parallel: dict[str, list[Instance]]


def build_corpus(seed: int = SEED) -> Corpus:
    """Draw the labelled splits and the unlabelled parallel text (all sentences distinct in English)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    queue: list[int] = []

    def draw(n: int) -> list[Instance]:
        out: list[Instance] = []
        while len(out) < n:
            if not queue:  # every template once per round, in random order
                queue.extend(range(len(TEMPLATES)))
                rng.shuffle(queue)
            inst = instantiate(TEMPLATES[queue.pop()], rng)
            key = text(inst, "en")
            if key in seen:
                continue
            for lang in LANGS:
                check_round_trip(inst.sentences[lang].tokens, lang)
            seen.add(key)
            out.append(inst)
        return out

    labelled = draw(N_TRAIN + N_DEV + N_TEST)
    train, dev, test = labelled[:N_TRAIN], labelled[N_TRAIN : N_TRAIN + N_DEV], labelled[N_TRAIN + N_DEV :]
    parallel = {lang: draw(N_PARALLEL) for lang in TARGETS}
    return Corpus(train, dev, test, parallel)


def _tsv(sentences: Sequence[Sentence]) -> str:
    blocks = ["".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, s.tags, strict=True)) for s in sentences]
    return "\n".join(blocks)


def _lines(texts: Sequence[str]) -> str:
    return "".join(t + "\n" for t in texts)


def file_sources(corpus: Corpus) -> dict[str, tuple[str, list[Instance]]]:
    """Name -> (language, instances) of every output file but the translation lists, in README order."""
    files = {f"en.{split}.tsv": ("en", getattr(corpus, split)) for split in ("train", "dev", "test")}
    for lang in TARGETS:
        files |= {f"{lang}.dev.tsv": (lang, corpus.dev), f"{lang}.test.tsv": (lang, corpus.test)}
        files |= {
            f"en-{lang}.gold.en.tsv": ("en", corpus.train),
            f"en-{lang}.gold.{lang}.tsv": (lang, corpus.train),
        }
        files |= {f"parallel.en-{lang}.{side}.txt": (side, corpus.parallel[lang]) for side in ("en", lang)}
    return files


def corpus_files(corpus: Corpus) -> dict[str, str]:
    """File name -> content of every data file."""
    files = {}
    for name, (lang, insts) in file_sources(corpus).items():
        labelled = name.endswith(".tsv")
        files[name] = (
            _tsv([i.sentences[lang] for i in insts]) if labelled else _lines([text(i, lang) for i in insts])
        )
    for lang in TARGETS:
        files[f"translations.en-{lang}.tsv"] = _lines(
            [f"{text(i, 'en')}\t{text(i, lang)}" for i in corpus.train]
        )
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------------------------------
# Statistics and README
# --------------------------------------------------------------------------------------------------


def _count(sentences: Sequence[Sentence]) -> dict[str, int]:
    labels = Counter(m[3] for s in sentences for m in s.mentions)
    return {
        "sentences": len(sentences),
        "tokens": sum(len(s.tokens) for s in sentences),
        "entities": sum(labels.values()),
        **{lab: labels[lab] for lab in LABELS},
    }


def projection_difficulty(insts: Sequence[Instance], lang: str) -> dict[str, float | int]:
    """How far the target entities are from a copy of the source entities (per aligned entity pair)."""
    pairs = n_len = n_text = n_sent_order = 0
    for inst in insts:
        src, tgt = inst.sentences["en"], inst.sentences[lang]
        s_by = {m[0]: m for m in src.mentions}
        t_by = {m[0]: m for m in tgt.mentions}
        for key, (_, s0, s1, _) in s_by.items():
            _, t0, t1, _ = t_by[key]
            pairs += 1
            n_len += (s1 - s0) != (t1 - t0)
            n_text += src.tokens[s0:s1] != tgt.tokens[t0:t1]
        src_order = [m[0] for m in sorted(src.mentions, key=lambda m: m[1])]
        tgt_order = [m[0] for m in sorted(tgt.mentions, key=lambda m: m[1])]
        n_sent_order += src_order != tgt_order
    return {
        "entity_pairs": pairs,
        "length_differs": n_len,
        "length_differs_pct": round(100 * n_len / pairs, 1),
        "text_differs_pct": round(100 * n_text / pairs, 1),
        "sentences_reordered_pct": round(100 * n_sent_order / len(insts), 1),
    }


def statistics(corpus: Corpus) -> dict:
    per_file = {}
    for name, (lang, insts) in file_sources(corpus).items():
        if ".gold.en." not in name:  # copies of en.train.tsv
            counts = _count([inst.sentences[lang] for inst in insts])
            per_file[name] = (
                counts if name.endswith(".tsv") else {k: counts[k] for k in ("sentences", "tokens")}
            )
    labelled = corpus.train + corpus.dev + corpus.test
    used = {k for inst in labelled for k in inst.fill.values()}
    return {
        "templates": len(TEMPLATES),
        "gazetteer_entities": len(ENTITIES),
        "distinct_entities_in_labelled_data": len(used),
        "distinct_entities_by_label": dict(Counter(ENTITY_BY_KEY[k].label for k in sorted(used))),
        "files": per_file,
        "projection_difficulty_train": {lang: projection_difficulty(corpus.train, lang) for lang in TARGETS},
    }


def readme(stats: dict) -> str:
    """README.md: ``README.template.md`` with the statistics filled in."""
    rows = [
        "| file | sentences | tokens | entities | PER | ORG | LOC | MISC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in stats["files"].items():
        ents = [str(c.get(k, "")) for k in ("entities", *LABELS)]
        rows.append(f"| `{name}` | {c['sentences']} | {c['tokens']} | " + " | ".join(ents) + " |")
    difficulty = "\n".join(
        f"| en-{lang} | {d['entity_pairs']} | {d['length_differs_pct']} % | {d['text_differs_pct']} % | "
        f"{d['sentences_reordered_pct']} % |"
        for lang, d in stats["projection_difficulty_train"].items()
    )
    by_label = stats["distinct_entities_by_label"]
    return string.Template(README_TEMPLATE.read_text(encoding="utf-8")).substitute(
        templates=stats["templates"],
        entities=stats["gazetteer_entities"],
        seed=SEED,
        counts="\n".join(rows),
        distinct_entities=stats["distinct_entities_in_labelled_data"],
        distinct_by_label=", ".join(f"{k} {v}" for k, v in sorted(by_label.items())),
        difficulty=difficulty,
    )


def write_corpus(out_dir: Path, seed: int = SEED) -> dict:
    """Write every data file and README.md into ``out_dir``; return the statistics."""
    corpus = build_corpus(seed)
    stats = statistics(corpus)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in {**corpus_files(corpus), "README.md": readme(stats)}.items():
        (out_dir / name).write_text(content, encoding="utf-8", newline="\n")
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    parser.add_argument("--stats", action="store_true", help="print the statistics as JSON")
    args = parser.parse_args(argv)
    stats = write_corpus(args.out)
    if args.stats:
        json.dump(stats, sys.stdout, indent=2, ensure_ascii=False)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
