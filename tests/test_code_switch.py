"""Code-switch substitution (pipeline_steps/augment/code_switch.py)."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps.augment.code_switch import (
    code_switch,
    code_switch_frame,
    load_dictionary,
    read_dictionary,
    switch_rate,
)
from pipeline_steps.errors import ConfigError, InputFormatError

LANGS = ("de", "es", "fr")
KNOWN = ("house", "dog", "green", "run", "the")
UNKNOWN = ("zyx", "Qwerty", "42")
# Disjoint translations: a replacement names the language it came from.
DICTS = {lang: {w: [f"{w}_{lang}_{k}" for k in range(3)] for w in KNOWN} for lang in LANGS}
CHI2_2DF_P001 = 13.816  # chi-square critical value, 2 degrees of freedom, p = 0.001


def _origin(word: str, replacement: str) -> str:
    """The language whose entry for ``word`` holds ``replacement`` (asserts there is exactly one)."""
    langs = [lang for lang, d in DICTS.items() if replacement in d.get(word.lower(), ())]
    assert len(langs) == 1, (word, replacement)
    return langs[0]


words_st = st.lists(st.sampled_from(KNOWN + UNKNOWN + ("House", "DOG")), max_size=30)


@settings(max_examples=150, deadline=None)
@given(tokens=words_st, ratio=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_word_count_kept_and_only_dictionary_words_switch(tokens, ratio, seed):
    new, switched = code_switch(tokens, DICTS, ratio, random.Random(seed))
    assert len(new) == len(switched) == len(tokens)
    for old, word, done in zip(tokens, new, switched, strict=True):
        if done:
            _origin(old, word)  # one of the translations of the lower-cased word
        else:
            assert word == old
            assert old.lower() not in KNOWN or ratio < 1.0


@settings(max_examples=60, deadline=None)
@given(
    sentences=st.lists(words_st, min_size=1, max_size=8),
    ratio=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_frame_keeps_tags_and_word_counts(sentences, ratio, seed):
    tags = [[f"T{i % 3}" for i in range(len(s))] for s in sentences]
    frame = pd.DataFrame({"id": range(len(sentences)), "tokens": sentences, "tags": tags})
    out, rate = code_switch_frame(frame, DICTS, ratio, seed)
    assert list(out["tags"]) == tags and list(out["id"]) == list(frame["id"])
    assert [len(t) for t in out["tokens"]] == [len(s) for s in sentences]
    assert [len(s) for s in out["switched"]] == [len(s) for s in sentences]
    assert list(frame["tokens"]) == sentences  # the input frame is not modified
    flat = [b for s in out["switched"] for b in s]
    assert rate == pytest.approx(switch_rate(flat))


def test_achieved_rate_is_binomial_around_ratio_when_every_word_is_known():
    n, ratio = 20000, 0.3
    rng = random.Random(1)
    tokens = [rng.choice(KNOWN) for _ in range(n)]
    _, switched = code_switch(tokens, DICTS, ratio, random.Random(2024))
    sigma = math.sqrt(ratio * (1 - ratio) / n)
    assert abs(switch_rate(switched) - ratio) < 4 * sigma


def test_unknown_words_never_switch():
    tokens = list(UNKNOWN) * 200
    new, switched = code_switch(tokens, DICTS, 1.0, random.Random(0))
    assert new == tokens and not any(switched)
    assert switch_rate(switched) == 0.0


def test_lookup_is_lower_cased():
    tokens = ["House", "HOUSE", "house", "Dog"]
    new, switched = code_switch(tokens, DICTS, 1.0, random.Random(0))
    assert all(switched)
    for old, word in zip(tokens, new, strict=True):
        _origin(old, word)  # a translation of "house"/"dog"
    upper_only = {"de": {"House": ["Haus"]}}  # keys must be lower case: "House" is never looked up
    assert code_switch(["House"], upper_only, 1.0, random.Random(0)) == (["House"], [False])


def test_languages_are_drawn_uniformly_per_word():
    tokens = ["house"] * 6000
    new, switched = code_switch(tokens, DICTS, 1.0, random.Random(7))
    assert all(switched)
    counts = Counter(_origin("house", w) for w in new)
    expected = len(tokens) / len(LANGS)
    chi2 = sum((counts[lang] - expected) ** 2 / expected for lang in LANGS)
    assert chi2 < CHI2_2DF_P001, counts
    # per word, not per sentence: a 30-word "sentence" mixes languages
    one_sentence, _ = code_switch(["house"] * 30, DICTS, 1.0, random.Random(8))
    assert len({_origin("house", w) for w in one_sentence}) > 1
    translations = Counter(new)
    assert set(translations) == {t for d in DICTS.values() for t in d["house"]}  # all 9 entries drawn


def test_a_word_missing_in_the_drawn_language_is_kept_not_retried():
    dicts = {"de": {"house": ["haus"]}, "fr": {"dog": ["chien"]}}
    tokens = ["house"] * 4000
    new, switched = code_switch(tokens, dicts, 1.0, random.Random(3))
    assert set(new) <= {"house", "haus"}  # never a French word, and only switched words change
    assert all((w == "haus") == s for w, s in zip(new, switched, strict=True))
    sigma = math.sqrt(0.25 / len(tokens))  # switched iff "de" was drawn: p = 1/2
    assert abs(switch_rate(switched) - 0.5) < 4 * sigma


def test_same_seed_same_output_and_different_seed_differs():
    frame = pd.DataFrame({"tokens": [["The", "green", "dog", "zyx"], ["run", "house"]] * 50})
    a, rate_a = code_switch_frame(frame, DICTS, 0.5, seed=11)
    b, rate_b = code_switch_frame(frame, DICTS, 0.5, seed=11)
    c, _ = code_switch_frame(frame, DICTS, 0.5, seed=12)
    assert a.equals(b) and rate_a == rate_b
    assert list(a["tokens"]) != list(c["tokens"])
    # dictionary insertion order does not matter (languages are sorted)
    reordered = {lang: DICTS[lang] for lang in reversed(LANGS)}
    assert code_switch_frame(frame, reordered, 0.5, seed=11)[0].equals(a)


def test_ratio_zero_and_one():
    tokens = list(KNOWN) * 20
    assert code_switch(tokens, DICTS, 0.0, random.Random(0)) == (tokens, [False] * len(tokens))
    assert all(code_switch(tokens, DICTS, 1.0, random.Random(0))[1])


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan"), "0.3", True])
def test_bad_ratio_is_a_config_error(ratio):
    with pytest.raises(ConfigError, match="ratio must be a number in"):
        code_switch(["house"], DICTS, ratio, random.Random(0))


def test_empty_dictionary_set_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one bilingual dictionary"):
        code_switch(["house"], {}, 0.3, random.Random(0))
    with pytest.raises(ConfigError, match="without entries: fr"):
        code_switch_frame(pd.DataFrame({"tokens": [["house"]]}), {"de": DICTS["de"], "fr": {}}, 0.3, 0)


def _write(tmp_path, text: str, name: str = "en-xx.dict"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_dictionary_small_file(tmp_path):
    text = (
        "die @ the\nder @ the\nHaus @ House\nzu Hause @ home\ndaheim @ home\ndie @ the\n"
        "Cafe\u0301 @ Cafe\u0301\nNew York @ new york\n"
    )
    d, stats = load_dictionary(_write(tmp_path, text))
    assert d == {"the": ["die", "der"], "house": ["Haus"], "home": ["daheim"], "caf\u00e9": ["Caf\u00e9"]}
    assert stats.lines == 8 and stats.pairs == 5 and stats.headwords == 4
    assert stats.multiword == 2 and stats.duplicates == 1
    assert read_dictionary(_write(tmp_path, text)) == d
    new, switched = code_switch(["HOUSE", "Café"], {"de": d}, 1.0, random.Random(0))
    assert new == ["Haus", "Café"] and switched == [True, True]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("haus house", "found no ' @ ' separator"),
        (" @ house", "empty target word"),
        ("haus @ ", "empty english word"),
        ("a @ b @ c", "found 2 ' @ ' separator"),
        ("", "found no ' @ ' separator"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path, f"die @ the\nder @ the\n{bad}\nhund @ dog\n")
    with pytest.raises(InputFormatError) as info:
        read_dictionary(path)
    assert info.value.path == str(path) and info.value.line == 3
    assert message in info.value.message
    assert str(info.value).startswith(f"{path}:3: ")


def test_empty_or_all_multiword_file_is_an_error(tmp_path):
    with pytest.raises(InputFormatError, match="empty file"):
        read_dictionary(_write(tmp_path, ""))
    with pytest.raises(InputFormatError, match="no single-word entries"):
        read_dictionary(_write(tmp_path, "zu Hause @ home\n"))


def test_real_muse_en_de(shared_data):
    folder = shared_data / "muse-dictionaries"
    if not (folder / "en-de.dict").is_file():
        pytest.skip(f"MUSE dictionaries not available: {folder / 'en-de.dict'} is absent")
    source = (folder / "SOURCE.txt").read_text(encoding="utf-8")
    pairs, headwords = map(int, re.search(r"en-de (\d+)/(\d+)", source).groups())
    raw = (folder / "en-de.dict").read_text(encoding="utf-8").splitlines()
    multiword = sum(1 for line in raw if any(len(side.split()) != 1 for side in line.split(" @ ")))
    d, stats = load_dictionary(folder / "en-de.dict")
    assert stats.lines == len(raw) == pairs
    assert stats.multiword == multiword
    assert sum(map(len, d.values())) == stats.pairs == pairs - multiword - stats.duplicates
    assert len(d) == stats.headwords == headwords  # no headword lost (nothing skipped in en-de)
    assert d["the"] == ["die", "der", "dem", "den", "das"]  # the file's first lines, in order
    assert "für" in d["for"]
