"""The demo corpus in resources/demo: deterministic, well-formed, parallel, Moses round-trippable."""

from __future__ import annotations

import importlib.util
import random
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sacremoses import MosesDetokenizer, MosesTokenizer

from pipeline_steps.tags import spans_from_tags

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo"
LABELS = {"PER", "ORG", "LOC", "MISC"}
TARGETS = ("de", "es")
Sentence = tuple[list[str], list[str]]


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_demo", DEMO / "generate_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_demo"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def read_labelled(path: Path) -> list[Sentence]:
    """Strict reader: ``token<TAB>tag`` lines, one blank line between sentences, no stray whitespace."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n"), f"{path.name}: bad file ending"
    sentences: list[Sentence] = []
    for n, block in enumerate(text[:-1].split("\n\n")):
        tokens, tags = [], []
        for line in block.split("\n"):
            fields = line.split("\t")
            assert len(fields) == 2, f"{path.name} sentence {n}: {line!r} is not token<TAB>tag"
            token, tag = fields
            assert token and not any(c.isspace() for c in token), f"{path.name} sentence {n}: token {token!r}"
            tokens.append(token)
            tags.append(tag)
        sentences.append((tokens, tags))
    return sentences


def read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return text[:-1].split("\n")


def spans(tags: list[str]) -> list[tuple[int, int, str]]:
    return spans_from_tags(tags, "bio", strict=True)


def entity_texts(sentence: Sentence, label: str | None = None) -> list[str]:
    tokens, tags = sentence
    return [" ".join(tokens[s:e]) for s, e, lab in spans(tags) if label in (None, lab)]


def type_multiset(sentence: Sentence) -> Counter:
    return Counter(lab for _, _, lab in spans(sentence[1]))


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    """The demo corpus: every file in resources/demo but the generator and its inputs."""
    return {p.name: p for p in sorted(DEMO.iterdir()) if p.is_file() and p.name not in gen.INPUT_FILES}


@pytest.fixture(scope="module")
def labelled(files) -> dict[str, list[Sentence]]:
    return {
        name: read_labelled(path)
        for name, path in files.items()
        if name.endswith(".tsv") and not name.startswith("translations.")
    }


# -- determinism ---------------------------------------------------------------------------------


def test_regenerating_gives_byte_identical_files(tmp_path, files):
    gen.write_corpus(tmp_path)
    regenerated = {p.name: p for p in tmp_path.iterdir()}
    assert sorted(regenerated) == sorted(files)
    changed = [name for name in files if files[name].read_bytes() != regenerated[name].read_bytes()]
    assert not changed, f"committed files differ from the generator's output: {changed}"


def test_build_corpus_is_a_function_of_the_seed():
    a, b, c = gen.build_corpus(7), gen.build_corpus(7), gen.build_corpus(8)
    assert gen.corpus_files(a) == gen.corpus_files(b)
    assert gen.corpus_files(a)["en.train.tsv"] != gen.corpus_files(c)["en.train.tsv"]


# -- counts and format ---------------------------------------------------------------------------


def test_expected_files_and_counts(files, labelled):
    expected = {
        "en.train.tsv": 240,
        "en.dev.tsv": 40,
        "en.test.tsv": 40,
        "de.dev.tsv": 40,
        "es.dev.tsv": 40,
        "de.test.tsv": 40,
        "es.test.tsv": 40,
        "en-de.gold.en.tsv": 240,
        "en-de.gold.de.tsv": 240,
        "en-es.gold.en.tsv": 240,
        "en-es.gold.es.tsv": 240,
    }
    assert {name: len(labelled[name]) for name in expected} == expected
    for lang in TARGETS:
        assert len(read_lines(files[f"translations.en-{lang}.tsv"])) == 240
        for side in ("en", lang):
            assert len(read_lines(files[f"parallel.en-{lang}.{side}.txt"])) == 400
    assert "README.md" in files


def test_every_labelled_file_is_valid_iob2_with_conll_labels(labelled):
    for name, sentences in labelled.items():
        for i, (tokens, tags) in enumerate(sentences):
            assert 6 <= len(tokens) <= 30, f"{name} sentence {i}: {len(tokens)} tokens"
            found = spans(tags)  # raises TagError on ill-formed IOB2
            assert {lab for _, _, lab in found} <= LABELS, f"{name} sentence {i}"
            assert found, f"{name} sentence {i} has no entity"


def test_all_entity_types_are_well_represented(labelled):
    counts = Counter(lab for tokens, tags in labelled["en.train.tsv"] for _, _, lab in spans(tags))
    assert set(counts) == LABELS
    assert min(counts.values()) >= 50, counts


def test_corpus_is_varied(labelled):
    sentences = [s for split in ("train", "dev", "test") for s in labelled[f"en.{split}.tsv"]]
    distinct_entities = {(text, lab) for s in sentences for lab in LABELS for text in entity_texts(s, lab)}
    assert len(distinct_entities) >= 80
    assert len(gen.TEMPLATES) >= 60
    assert len({tuple(tokens) for tokens, _ in sentences}) == len(sentences)  # no duplicate sentence


def test_splits_do_not_overlap(labelled):
    train = {tuple(t) for t, _ in labelled["en.train.tsv"]}
    dev = {tuple(t) for t, _ in labelled["en.dev.tsv"]}
    test = {tuple(t) for t, _ in labelled["en.test.tsv"]}
    assert not (train & dev) and not (train & test) and not (dev & test)


# -- parallelism ---------------------------------------------------------------------------------


def test_gold_parallel_source_side_is_the_training_set(files):
    train = files["en.train.tsv"].read_bytes()
    assert files["en-de.gold.en.tsv"].read_bytes() == train
    assert files["en-es.gold.en.tsv"].read_bytes() == train


@pytest.mark.parametrize(
    ("src", "tgt"),
    [
        ("en.test.tsv", "de.test.tsv"),
        ("en.test.tsv", "es.test.tsv"),
        ("en.dev.tsv", "de.dev.tsv"),
        ("en.dev.tsv", "es.dev.tsv"),
        ("en-de.gold.en.tsv", "en-de.gold.de.tsv"),
        ("en-es.gold.en.tsv", "en-es.gold.es.tsv"),
    ],
)
def test_translations_keep_every_entity(labelled, src, tgt):
    """Same multiset of entity types per sentence; person names are not translated, so they match."""
    for i, (s, t) in enumerate(zip(labelled[src], labelled[tgt], strict=True)):
        assert type_multiset(s) == type_multiset(t), f"{tgt} sentence {i}"
        assert sorted(entity_texts(s, "PER")) == sorted(entity_texts(t, "PER")), f"{tgt} sentence {i}"


@pytest.mark.parametrize("lang", TARGETS)
def test_target_test_set_translates_the_english_test_set(labelled, lang):
    en, tgt = labelled["en.test.tsv"], labelled[f"{lang}.test.tsv"]
    assert len(en) == len(tgt)
    for i, ((en_tok, _), (tgt_tok, _)) in enumerate(zip(en, tgt, strict=True)):
        years = [t for t in en_tok if len(t) == 4 and t.isdigit()]
        assert years == [t for t in tgt_tok if len(t) == 4 and t.isdigit()], f"{lang}.test sentence {i}"
    # and not a translation of anything else: the English test sentences are not in the training data
    train = {tuple(t) for t, _ in labelled["en.train.tsv"]}
    assert not any(tuple(t) in train for t, _ in en)


def test_projection_is_not_a_copy(labelled):
    """Target entities often differ in text and length from their source (a real projection task)."""
    for lang in TARGETS:
        pairs = n_len = n_text = 0
        for s, t in zip(
            labelled[f"en-{lang}.gold.en.tsv"], labelled[f"en-{lang}.gold.{lang}.tsv"], strict=True
        ):
            for lab in LABELS:
                s_ent, t_ent = entity_texts(s, lab), entity_texts(t, lab)
                if len(s_ent) == 1:  # unambiguous pairing by type
                    pairs += 1
                    n_len += len(s_ent[0].split()) != len(t_ent[0].split())
                    n_text += s_ent[0] != t_ent[0]
        assert pairs > 300
        assert n_len / pairs > 0.05, (lang, n_len, pairs)
        assert n_text / pairs > 0.3, (lang, n_text, pairs)


# -- Moses round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("lang", TARGETS)
def test_translation_file_matches_the_translate_step(files, labelled, lang):
    """Sources are the detokenised English training sentences; translations tokenise back to gold."""
    detok_en = MosesDetokenizer("en")
    tok = MosesTokenizer(lang)
    lines = read_lines(files[f"translations.en-{lang}.tsv"])
    gold_src, gold_tgt = labelled[f"en-{lang}.gold.en.tsv"], labelled[f"en-{lang}.gold.{lang}.tsv"]
    sources = []
    for i, (line, (src_tok, _), (tgt_tok, _)) in enumerate(zip(lines, gold_src, gold_tgt, strict=True)):
        source, translation = line.split("\t")
        assert source == detok_en.detokenize(src_tok), f"line {i + 1}"
        assert tok.tokenize(translation, escape=False) == tgt_tok, f"line {i + 1}: {translation!r}"
        assert tok.tokenize(translation, escape=True) == tgt_tok, (
            f"line {i + 1}: escaping changes {translation!r}"
        )
        sources.append(source)
    assert len(set(sources)) == len(sources)


@pytest.mark.parametrize("name", ["de.test.tsv", "es.test.tsv", "de.dev.tsv", "es.dev.tsv", "en.train.tsv"])
def test_labelled_sentences_survive_detokenise_tokenise(labelled, name):
    lang = name[:2]
    detok, tok = MosesDetokenizer(lang), MosesTokenizer(lang)
    for i, (tokens, _) in enumerate(labelled[name]):
        assert tok.tokenize(detok.detokenize(tokens), escape=False) == tokens, f"{name} sentence {i}"


@pytest.mark.parametrize("lang", TARGETS)
def test_parallel_text_is_aligned_unlabelled_and_new(files, labelled, lang):
    src = read_lines(files[f"parallel.en-{lang}.en.txt"])
    tgt = read_lines(files[f"parallel.en-{lang}.{lang}.txt"])
    assert len(src) == len(tgt) == 400
    for text in src + tgt:
        assert text.strip() == text and text and "\t" not in text
    detok = MosesDetokenizer("en")
    labelled_en = {
        detok.detokenize(t) for split in ("train", "dev", "test") for t, _ in labelled[f"en.{split}.tsv"]
    }
    assert not labelled_en & set(src)
    tok = MosesTokenizer(lang)
    assert all(6 <= len(tok.tokenize(t, escape=False)) <= 30 for t in tgt)


def test_ingest_readers_accept_the_files(files, labelled):
    formats = pytest.importorskip("pipeline_steps.formats")
    for name in ("en.train.tsv", "de.test.tsv", "es.dev.tsv"):
        df = formats.read(str(files[name]), "tsv", name[:2], "x")
        assert [list(t) for t in df["tokens"]] == [t for t, _ in labelled[name]]
        assert [list(t) for t in df["tags"]] == [g for _, g in labelled[name]]
    df = formats.read(str(files["parallel.en-de.de.txt"]), "lines", "de", "x")
    assert len(df) == 400


# -- the generator itself ------------------------------------------------------------------------


def _template(english_prefix: str):
    return next(t for t in gen.TEMPLATES if t.text["en"].startswith(english_prefix))


def _render_all(template, fill: dict[str, str], values: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    return {
        lang: list(zip(s.tokens, s.tags, strict=True))
        for lang in gen.LANGS
        for s in [gen.render(template, fill, values, lang)]
    }


def test_render_contracts_articles_and_inflects_case():
    """'in dem Baskenland' -> 'im Baskenland'; the article stays O, outside the entity."""
    t = _template("Unemployment in {R1}")
    out = _render_all(t, {"R1": "LOC:Basque Country"}, {"MON": 4, "PCT": 0})
    assert out["en"][:5] == [
        ("Unemployment", "O"),
        ("in", "O"),
        ("the", "O"),
        ("Basque", "B-LOC"),
        ("Country", "I-LOC"),
    ]
    assert out["de"][:4] == [("Die", "O"), ("Arbeitslosigkeit", "O"), ("im", "O"), ("Baskenland", "B-LOC")]
    assert out["es"][:5] == [("El", "O"), ("desempleo", "O"), ("en", "O"), ("el", "O"), ("País", "B-LOC")]
    assert ("mayo", "O") in out["es"] and ("Mai", "O") in out["de"] and ("May", "O") in out["en"]


def test_render_genitive_and_spanish_del():
    t = _template("The {N1} government has rejected")
    out = _render_all(t, {"N1": "MISC:German", "IN1": "ORG:International Monetary Fund"}, {})
    de = " ".join(tok for tok, _ in out["de"])
    assert de == "Die deutsche Regierung hat den Vorschlag des Internationalen Währungsfonds abgelehnt ."
    assert [tag for _, tag in out["de"]][1] == "B-MISC"
    assert out["de"][6:9] == [("des", "O"), ("Internationalen", "B-ORG"), ("Währungsfonds", "I-ORG")]
    es = " ".join(tok for tok, _ in out["es"])
    assert es == "El Gobierno alemán ha rechazado la propuesta del Fondo Monetario Internacional ."
    assert [tag for _, tag in out["es"]][-4:] == ["B-ORG", "I-ORG", "I-ORG", "O"]


def test_render_gender_and_a_an_alternations():
    t = _template("{P1} , <N1@vowel:an|a> {N1} citizen")
    she = _render_all(t, {"P1": "PER:Anna Weber", "N1": "MISC:Austrian", "CI1": "LOC:Munich"}, {})
    he = _render_all(t, {"P1": "PER:Thomas Keller", "N1": "MISC:Swiss", "CI1": "LOC:Munich"}, {})
    assert [tok for tok, _ in she["en"][3:6]] == ["an", "Austrian", "citizen"]
    assert [tok for tok, _ in he["en"][3:6]] == ["a", "Swiss", "citizen"]
    assert [tok for tok, _ in she["de"][3:6]] == ["eine", "österreichische", "Staatsbürgerin"]
    assert [tok for tok, _ in he["de"][3:6]] == ["ein", "Schweizer", "Staatsbürger"]  # invariant adjective
    assert [tok for tok, _ in she["es"][3:5]] == ["ciudadana", "austriaca"]
    assert ("detenida", "O") in she["es"] and ("detenido", "O") in he["es"]


def test_genitive_slot_never_gets_an_entity_without_genitive():
    t = _template("Heavy rain caused flooding")  # {R1.gen}
    pool = [e for e in gen.ENTITIES_BY_KIND["R"] if gen.supports(e, t.uses["R1"])]
    assert pool and all("gen" in e.forms["de"] for e in pool)
    rng = random.Random(0)
    for _ in range(30):
        inst = gen.instantiate(t, rng)
        assert gen.ENTITY_BY_KEY[inst.fill["R1"]] in pool


def test_template_with_mismatched_slots_is_rejected():
    with pytest.raises(ValueError, match="different slots"):
        gen.Template(0, {"en": "{P1} met {P2} .", "de": "{P1} traf {P2} .", "es": "{P1} se reunió ."})
    with pytest.raises(ValueError, match="unknown slot kind"):
        gen.Template(0, {"en": "{XYZ1} .", "de": "{XYZ1} .", "es": "{XYZ1} ."})
    with pytest.raises(ValueError, match="bad German form"):
        gen.entity("ORG", "CO", "Acme", "f:Acme/lok=Acme", "Acme")


@pytest.mark.parametrize(
    ("name", "loader", "lines"),
    [
        ("gazetteers.tsv", "load_gazetteers", ["LOC\tC\tGermany\tDeutschland\tAlemania\t", "LOC\tC\tSpain"]),
        ("gazetteers.tsv", "load_gazetteers", ["ORG\tCO\tAcme\tAcme\tAcme\t", "ORG\tCO\tX\tf:X/lok=X\tX\t"]),
        (
            "templates.tsv",
            "load_templates",
            ["{P1} met {P2} .\t{P1} traf {P2} .\t{P1} y {P2} .", "{P1} .\t{P1} .\t{P2} ."],
        ),
        ("values.tsv", "load_values", ["DAY\tMonday\tMontag\tlunes", "DAY\tTuesday\tDienstag\t martes"]),
    ],
)
def test_malformed_data_line_is_rejected_with_its_file_and_line(tmp_path, name, loader, lines):
    """The generator's inputs are validated when read: the error names the file and the bad line (3)."""
    header = {"gazetteers.tsv": "label\tkinds\ten\tde\tes\tattrs", "templates.tsv": "en\tde\tes"}
    path = tmp_path / name
    path.write_text("\n".join([header.get(name, "kind\ten\tde\tes"), *lines]) + "\n", encoding="utf-8")
    with pytest.raises(gen.DataError, match=f"^{re.escape(str(path))}:3: "):
        getattr(gen, loader)(path)
    # the committed inputs are well-formed, and are not part of the corpus
    assert getattr(gen, loader)(DEMO / name)
    assert name in gen.INPUT_FILES


def test_moses_round_trip_check_rejects_untokenisable_sentences():
    """German reads '3.' before a full stop as an ordinal, so '... seit 3 .' cannot round-trip."""
    with pytest.raises(ValueError, match="round trip"):
        gen.check_round_trip(["Das", "ist", "seit", "3", "."], "de")
    assert gen.check_round_trip(["Das", "ist", "seit", "2015", "."], "de") == "Das ist seit 2015."


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(gen.TEMPLATES) - 1), seed=st.integers(0, 2**32 - 1))
def test_any_fill_of_any_template_is_parallel_and_well_formed(index, seed):
    inst = gen.instantiate(gen.TEMPLATES[index], random.Random(seed))
    by_lang = inst.sentences
    for lang, sent in by_lang.items():
        assert 6 <= len(sent.tokens) <= 30
        assert spans(sent.tags) == sorted((s, e, lab) for _, s, e, lab in sent.mentions)
        assert gen.check_round_trip(sent.tokens, lang)
    slots = {lang: sorted((k, lab) for k, _, _, lab in s.mentions) for lang, s in by_lang.items()}
    assert slots["en"] == slots["de"] == slots["es"]
