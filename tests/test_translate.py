"""The translate step: providers (file, apertium, hf, http), the Parquet cache and ``main``."""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import threading
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from _helpers_translate import (
    TINY_WORDS,
    FakeLibreTranslate,
    ReverseWordsProvider,
    build_tiny_seq2seq,
    sentences_frame,
    write_sentences,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_steps.translate as tr
from pipeline_steps.errors import ArtifactError, ConfigError, InputFormatError
from pipeline_steps.io import read_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import PAIRS, TRANSLATION_CACHE
from pipeline_steps.translate.apertium import default_mode, split_output
from pipeline_steps.translate.hf import HFProvider

HOUSE = ["the", "house", "is", "red"]
DOG = ["John", "lives", "in", "a", "big", "house", "."]


def count_calls(monkeypatch, provider_class) -> list[list[str]]:
    """The texts of every ``translate`` call of ``provider_class`` from now on (calls still run)."""
    calls: list[list[str]] = []
    original = provider_class.translate

    def counting(self, texts, src_lang, tgt_lang):
        calls.append(list(texts))
        return original(self, texts, src_lang, tgt_lang)

    monkeypatch.setattr(provider_class, "translate", counting)
    return calls


def run_main(tmp_path: Path, token_lists, provider: str, options: dict, cache: bool = True, **params):
    sentences = write_sentences(tmp_path / "ingest" / "train.parquet", token_lists)
    out = tmp_path / "pairs" / "translated.es.parquet"
    ctx = StepContext(
        input={"sentences": str(sentences), "file": []},
        output={"pairs": str(out)},
        params={
            "provider": provider,
            "src_lang": "en",
            "tgt_lang": "es",
            "cache_dir": str(tmp_path / "cache") if cache else None,
            "chunk_size": 1000,
            "options": options,
            **params,
        },
    )
    tr.main(ctx)
    return read_artifact(out, PAIRS)


# --- tokenisation ------------------------------------------------------------------------------


def test_source_is_moses_detokenized_and_translation_moses_tokenized():
    toks = ["EU", "rejects", "German", "call", "(", "again", ")", ",", "he", "said", "."]
    assert tr.detokenize([toks], "en") == ["EU rejects German call (again), he said."]
    assert tr.tokenize(['La casa es roja, ¿verdad? "Sí" & AT&T', "  "], "es") == [
        ["La", "casa", "es", "roja", ",", "¿", "verdad", "?", '"', "Sí", '"', "&", "AT", "&", "T"],
        [],
    ]


# --- cache -------------------------------------------------------------------------------------


def test_text_key_is_sha256_of_utf8():
    assert tr.text_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert tr.text_key("año") == hashlib.sha256("año".encode()).hexdigest()


def test_second_run_makes_no_provider_calls(tmp_path):
    texts = ["the house is red", "a dog", "the house is red", "", "John lives here"]
    first = ReverseWordsProvider()
    out1, stats1 = tr.translate_cached(first, texts, "en", "es", tmp_path)
    assert out1 == ["RED IS HOUSE THE", "DOG A", "RED IS HOUSE THE", "", "HERE LIVES JOHN"]
    assert first.calls == [["the house is red", "a dog", "John lives here"]]  # distinct, non-empty
    assert (stats1.unique, stats1.cached, stats1.translated, stats1.parts_written) == (3, 0, 3, 1)

    second = ReverseWordsProvider()
    out2, stats2 = tr.translate_cached(second, texts, "en", "es", tmp_path)
    assert out2 == out1 and second.calls == [] and stats2.cached == 3 and stats2.parts_written == 0

    third = ReverseWordsProvider()  # one new text: only it is translated, in a new part with one row
    tr.translate_cached(third, [*texts, "new one"], "en", "es", tmp_path)
    assert third.calls == [["new one"]]
    parts = sorted(tmp_path.glob("part-*.parquet"))
    assert sorted(len(read_artifact(p, TRANSLATION_CACHE)) for p in parts) == [1, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in parts)  # no temp files


def test_cache_rows_follow_the_schema_and_keys(tmp_path):
    tr.translate_cached(ReverseWordsProvider(), ["a dog"], "en", "es", tmp_path)
    (part,) = tmp_path.glob("part-*.parquet")
    assert pq.read_schema(part).names == TRANSLATION_CACHE.columns
    row = read_artifact(part, TRANSLATION_CACHE).iloc[0].to_dict()
    assert row == {
        "key": tr.text_key("a dog"),
        "src_lang": "en",
        "tgt_lang": "es",
        "provider": "reverse:v1",
        "source_text": "a dog",
        "translation": "DOG A",
    }


def test_cache_entries_are_separate_per_provider_identity_and_language(tmp_path):
    tr.translate_cached(ReverseWordsProvider("v1"), ["a dog"], "en", "es", tmp_path)
    for tag, tgt in (("v2", "es"), ("v1", "de")):
        p = ReverseWordsProvider(tag)
        tr.translate_cached(p, ["a dog"], "en", tgt, tmp_path)
        assert p.calls == [["a dog"]]
    assert len(tr.TranslationCache(tmp_path, "en", "es", "reverse:v1")) == 1
    assert len(tr.TranslationCache(tmp_path, "en", "de", "reverse:v1")) == 1


def test_chunks_are_written_as_separate_parts(tmp_path):
    texts = [f"sentence number {i}" for i in range(7)]
    p = ReverseWordsProvider()
    _, stats = tr.translate_cached(p, texts, "en", "es", tmp_path, chunk_size=3)
    assert [len(c) for c in p.calls] == [3, 3, 1] and stats.parts_written == 3
    assert len(tr.TranslationCache(tmp_path, "en", "es", "reverse:v1")) == 7


def test_concurrent_runs_do_not_corrupt_the_cache(tmp_path):
    texts_a = [f"text {i}" for i in range(0, 60)]
    texts_b = [f"text {i}" for i in range(30, 90)]
    providers = [ReverseWordsProvider(), ReverseWordsProvider()]
    results: dict[int, list[str]] = {}

    def run(k, texts):
        results[k], _ = tr.translate_cached(providers[k], texts, "en", "es", tmp_path, chunk_size=7)

    threads = [threading.Thread(target=run, args=(k, t)) for k, t in enumerate((texts_a, texts_b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] == [ReverseWordsProvider.expected(t) for t in texts_a]
    assert results[1] == [ReverseWordsProvider.expected(t) for t in texts_b]
    cache = tr.TranslationCache(tmp_path, "en", "es", "reverse:v1")
    assert len(cache) == 90 and all(cache.get(f"text {i}") == f"{i} TEXT" for i in range(90))
    later = ReverseWordsProvider()
    tr.translate_cached(later, texts_a + texts_b, "en", "es", tmp_path)
    assert later.calls == []


def test_corrupt_cache_part_is_skipped_with_a_warning_and_recomputed(tmp_path, caplog):
    tr.translate_cached(ReverseWordsProvider(), ["a b", "c d"], "en", "es", tmp_path, chunk_size=1)
    tr.translate_cached(ReverseWordsProvider(), ["e f"], "en", "es", tmp_path)
    broken = tr.TranslationCache(tmp_path, "en", "es", "reverse:v1").parts()[0]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # e.g. a disk that filled up under another tool
    junk = tmp_path / "part-junk.parquet"
    junk.write_bytes(b"not parquet")
    p = ReverseWordsProvider()
    with caplog.at_level(logging.WARNING, logger="pipeline_steps.translate.cache"):
        out, stats = tr.translate_cached(p, ["a b", "c d", "e f"], "en", "es", tmp_path)
    assert out == ["B A", "D C", "F E"]
    assert len(p.texts_asked) == 1 and stats.cached == 2  # only the entry of the corrupt part
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all(w.startswith("translation cache: skipping unreadable part ") for w in warnings)
    assert any(str(broken) in w for w in warnings) and any(str(junk) in w for w in warnings)
    again = ReverseWordsProvider()
    tr.translate_cached(again, ["a b", "c d", "e f"], "en", "es", tmp_path)
    assert again.calls == []  # the recomputed entry was cached in a new part


def test_cache_keys_are_nfc(tmp_path):
    decomposed, composed = "Mu\u0308nchen ist gross", "M\u00fcnchen ist gross"
    assert tr.text_key(decomposed) == tr.text_key(composed) == hashlib.sha256(composed.encode()).hexdigest()
    first = ReverseWordsProvider()
    tr.translate_cached(first, [decomposed], "en", "es", tmp_path)
    assert first.texts_asked == [composed]  # what the provider gets is NFC too
    later = ReverseWordsProvider()
    out, _ = tr.translate_cached(later, [composed, decomposed], "en", "es", tmp_path)
    assert later.calls == [] and out == ["GROSS IST MÜNCHEN"] * 2
    rows = pd.concat(read_artifact(p, TRANSLATION_CACHE) for p in tmp_path.glob("part-*.parquet"))
    assert list(rows["source_text"]) == [composed]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.sampled_from(["a", "b c", "d e f", "", " ", "ñ ü", "a"]), max_size=12),
    seen=st.lists(st.sampled_from(["a", "b c", "zz"]), max_size=3),
    chunk=st.integers(1, 5),
)
def test_cached_translation_equals_direct_translation(tmp_path_factory, texts, seen, chunk):
    cache_dir = tmp_path_factory.mktemp("cache")
    tr.translate_cached(ReverseWordsProvider(), seen, "en", "es", cache_dir)
    p = ReverseWordsProvider()
    out, _ = tr.translate_cached(p, texts, "en", "es", cache_dir, chunk_size=chunk)
    assert out == [ReverseWordsProvider.expected(t) if t.strip() else "" for t in texts]
    asked = p.texts_asked
    assert len(asked) == len(set(asked)) and set(asked) == {t for t in texts if t.strip()} - set(seen)


# --- file provider -----------------------------------------------------------------------------


def test_file_provider_tsv_and_parquet(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("the house is red\tla casa es roja\n\nJohn lives in a big house .\tJuan vive\n")
    p = tr.make_provider("file", {"path": str(tsv)})
    # exact match, and the space-separated tokens of a sentence match its detokenized form
    assert p.translate(["the house is red", "John lives in a big house."], "en", "es") == [
        "la casa es roja",
        "Juan vive",
    ]
    pqf = tmp_path / "t.parquet"
    pd.DataFrame({"source": ["a dog"], "translation": ["un perro"]}).to_parquet(pqf)
    assert tr.make_provider("file", {"path": str(pqf)}).translate(["a dog"], "en", "es") == ["un perro"]


def test_file_provider_names_file_and_first_missing_sentence(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("the house is red\tla casa es roja\n")
    p = tr.make_provider("file", {"path": str(tsv)})
    with pytest.raises(tr.TranslationError, match=r"t\.tsv.*'a dog' \(2 of 3 sentences missing"):
        p.translate(["the house is red", "a dog", "a cat"], "en", "es")


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("a\tb\nno tab here\n", 2, "2 fields"),
        ("a\tb\tc\n", 1, "got 3"),
        ("a\tb\n\ta\n", 2, "empty source"),
        ("a\tb\nc\td\na\tX\n", 3, "translated differently on line 1"),
    ],
)
def test_bad_tsv_lines_are_input_format_errors(tmp_path, content, line, message):
    tsv = tmp_path / "bad.tsv"
    tsv.write_text(content)
    with pytest.raises(InputFormatError, match=message) as err:
        tr.make_provider("file", {"path": str(tsv)})
    assert err.value.line == line and err.value.path == str(tsv)


def test_translation_tsv_with_bom_and_other_normalisation(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes("\ufeffthe house is red\tla casa es roja\nMu\u0308nchen\tMunich\n".encode())
    p = tr.make_provider("file", {"path": str(tsv)})
    assert p.translate(["the house is red", "M\u00fcnchen", "Mu\u0308nchen"], "en", "es") == [
        "la casa es roja",
        "Munich",
        "Munich",
    ]


def test_translation_tsv_in_latin1_names_the_line(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes("the house\tla casa\n\nEspa\u00f1a\tSpain\n".encode("latin-1"))
    with pytest.raises(InputFormatError) as err:
        tr.make_provider("file", {"path": str(tsv)})
    assert (err.value.path, err.value.line) == (str(tsv), 3)
    assert err.value.message == (
        "not valid utf-8: byte(s) b'\\xf1' (invalid continuation byte); translation files must be UTF-8"
    )


def test_bad_parquet_translation_files(tmp_path):
    f = tmp_path / "bad.parquet"
    pd.DataFrame({"source": ["a"], "target": ["b"]}).to_parquet(f)
    with pytest.raises(ArtifactError, match="translation") as err:
        tr.make_provider("file", {"path": str(f)})
    assert err.value.field == "translation"
    pd.DataFrame({"source": ["a", "b"], "translation": ["x", None]}).to_parquet(f)
    with pytest.raises(ArtifactError) as err:
        tr.make_provider("file", {"path": str(f)})
    assert (err.value.row, err.value.field) == (1, "translation")


def test_provider_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown provider 'deepl'"):
        tr.make_provider("deepl", {})
    with pytest.raises(ConfigError, match="not found"):
        tr.make_provider("file", {"path": str(tmp_path / "nope.tsv")})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['beams'\]"):
        tr.make_provider("hf", {"name_or_path": "x", "beams": 4})
    with pytest.raises(ConfigError, match="missing required option"):
        tr.make_provider("http", {})


# --- main --------------------------------------------------------------------------------------


def test_main_writes_pairs_with_lineage_and_drops_empty_translations(tmp_path, caplog):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("the house is red\tla casa es roja.\nJohn lives in a big house.\t \n")
    caplog.set_level(logging.INFO)
    pairs = run_main(tmp_path, [HOUSE, DOG, HOUSE], "file", {"path": str(tsv)})
    assert pairs["id"].tolist() == ["translated-en-es-000000", "translated-en-es-000002"]
    assert pairs["src_id"].tolist() == ["train-en-000000", "train-en-000002"]
    assert pairs["tgt_id"].isna().all() and set(pairs["provider"]) == {f"file:{tsv}"}
    assert pairs["src_tokens"].iloc[0] == HOUSE
    assert pairs["tgt_tokens"].iloc[0] == ["la", "casa", "es", "roja", "."]
    assert "dropped 1 of 3 sentences with an empty translation" in caplog.text


def test_main_rejects_wrong_language_and_writes_nothing(tmp_path):
    sentences = tmp_path / "train.parquet"
    df = sentences_frame([HOUSE, HOUSE])
    df.loc[1, "lang"] = "de"
    from pipeline_steps.io import write_artifact
    from pipeline_steps.schemas import SENTENCES

    write_artifact(df, sentences, SENTENCES)
    out = tmp_path / "pairs.parquet"
    ctx = StepContext(
        input={"sentences": str(sentences)},
        output={"pairs": str(out)},
        params={
            "provider": "file",
            "src_lang": "en",
            "tgt_lang": "es",
            "cache_dir": None,
            "chunk_size": 1000,
            "options": {},
        },
    )
    with pytest.raises(ArtifactError) as err:
        tr.main(ctx)
    assert (err.value.row, err.value.field) == (1, "lang") and not out.exists()
    ctx.params["src_lang"] = None
    with pytest.raises(ConfigError, match="src_lang"):
        tr.main(ctx)


def test_main_missing_translation_writes_nothing(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("the house is red\tla casa es roja\n")
    with pytest.raises(tr.TranslationError, match="John lives in a big house."):
        run_main(tmp_path, [HOUSE, DOG], "file", {"path": str(tsv)})
    assert not (tmp_path / "pairs").exists()


# --- apertium ----------------------------------------------------------------------------------

needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None,
    reason="apertium is not on PATH (Debian: apt-get install apertium apertium-eng-spa)",
)


def test_apertium_output_splitting():
    assert split_output("uno\n\ndos\n\n", 2) == ["uno", "dos"]
    assert split_output("  uno \n\ndos\n\n\n", 2) == ["uno", "dos"]
    for bad in ("uno\ndos\n\n", "uno\n\n", "uno\n\ndos\n\ntres\n\n"):
        with pytest.raises(tr.TranslationError, match="does not map back"):
            split_output(bad, 2)
    assert default_mode("en", "es") == "eng-spa" and default_mode("xx", "es") == "xx-spa"


@needs_apertium
def test_apertium_translates_english_to_spanish_and_back():
    p = tr.make_provider("apertium", {})
    assert p.identity("en", "es") == "apertium:eng-spa"
    assert p.translate(["the house is red"], "en", "es") == ["La casa es roja"]
    assert p.translate(["la casa es roja"], "es", "en") == ["The house is red"]


@needs_apertium
def test_apertium_batch_maps_back_one_to_one():
    # Without punctuation, apertium would reorder words across plain line breaks ("leading spaces"
    # + "EU rejects ..." came out as "que dirige UE" / "de espacios rehusa ..."): each sentence
    # must come back on its own, as when translated alone.
    texts = ["Second line without period", "leading spaces", "", "EU rejects German call to boycott lamb."]
    p = tr.make_provider("apertium", {})
    batch = p.translate(texts, "en", "es")
    assert batch == [p.translate([t], "en", "es")[0] for t in texts]
    assert batch[2] == "" and all(batch[i] for i in (0, 1, 3))


@needs_apertium
def test_apertium_unknown_mode_is_a_config_error():
    with pytest.raises(ConfigError, match=r"mode 'eng-xyz' is not installed.*eng-spa"):
        tr.make_provider("apertium", {"mode": "eng-xyz"}).translate(["a dog"], "en", "es")
    with pytest.raises(ConfigError, match="not found on PATH"):
        tr.make_provider("apertium", {"binary": "no-such-apertium"}).translate(["a"], "en", "es")


@needs_apertium
def test_main_with_apertium_and_cache(tmp_path, monkeypatch):
    from pipeline_steps.translate.apertium import ApertiumProvider

    calls = count_calls(monkeypatch, ApertiumProvider)
    pairs = run_main(tmp_path, [HOUSE, ["a", "dog"]], "apertium", {"binary": "apertium"})
    assert pairs["tgt_tokens"].iloc[0] == ["La", "casa", "es", "roja"]
    assert set(pairs["provider"]) == {"apertium:eng-spa"} and len(calls) == 1
    again = run_main(tmp_path, [HOUSE, ["a", "dog"]], "apertium", {"binary": "apertium"})
    assert len(calls) == 1 and again.equals(pairs)


@needs_apertium
def test_apertium_on_real_conll_sentences(tmp_path, shared_data):
    path = shared_data / "conll2003" / "eng.train"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    sents, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            continue
        if line.strip():
            cur.append(line.split()[0])
        elif cur:
            sents.append(cur)
            cur = []
        if len(sents) == 40:
            break
    pairs = run_main(tmp_path, sents, "apertium", {})
    assert len(pairs) == 40 and pairs["src_id"].tolist() == [f"train-en-{i:06d}" for i in range(40)]
    first = pairs["tgt_tokens"].iloc[0]  # "EU rejects German call to boycott British lamb ."
    assert first[0] == "UE" and first[-1] == "." and "británico" in first


# --- hf ----------------------------------------------------------------------------------------

SENTS = [
    "the house is red",
    "a dog",
    "John lives in New York .",
    "green cat",
    "the big dog is a cat , la casa",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_seq2seq(tmp_path_factory.mktemp("tiny-marian") / "model")


def hf_opts(model: Path, **kw) -> dict:
    return {"name_or_path": str(model), "batch_size": 2, "num_beams": 2, "max_length": 10, **kw}


def test_hf_is_deterministic_and_batching_does_not_change_output(tiny_model):
    out = tr.make_provider("hf", hf_opts(tiny_model)).translate(SENTS, "en", "es")
    assert all(isinstance(t, str) and t for t in out) and len(set(out)) > 1
    assert all(set(t.split()) <= set(TINY_WORDS) for t in out)
    again = tr.make_provider("hf", hf_opts(tiny_model)).translate(SENTS, "en", "es")
    assert again == out
    for bs in (1, 16):
        assert tr.make_provider("hf", hf_opts(tiny_model, batch_size=bs)).translate(SENTS, "en", "es") == out


def test_hf_forced_target_language_code(tiny_model):
    out = tr.make_provider("hf", hf_opts(tiny_model, tgt_lang_code="spa_Latn")).translate(SENTS, "en", "es")
    assert all(t.split()[0] == "spa_Latn" for t in out)
    with pytest.raises(ConfigError, match="'fra_Latn' is not a token"):
        tr.make_provider("hf", hf_opts(tiny_model, tgt_lang_code="fra_Latn")).translate(["a"], "en", "fr")


def test_hf_identity_names_model_and_decoding():
    a = tr.make_provider("hf", {"name_or_path": "m", "num_beams": 4, "max_length": 256})
    b = tr.make_provider("hf", {"name_or_path": "m", "num_beams": 1, "max_length": 256, "batch_size": 8})
    assert a.identity("en", "es") == "hf:m?num_beams=4&max_length=256"
    assert b.identity("en", "es") == "hf:m?num_beams=1&max_length=256"
    with pytest.raises(ConfigError, match="batch_size"):
        tr.make_provider("hf", {"name_or_path": "m", "batch_size": 0})


def test_main_with_hf_uses_the_cache(tiny_model, tmp_path, monkeypatch):
    calls = count_calls(monkeypatch, HFProvider)
    tokens = [s.split() for s in SENTS]
    first = run_main(tmp_path, tokens, "hf", hf_opts(tiny_model))
    assert len(calls) == 1 and len(calls[0]) == len(SENTS)
    second = run_main(tmp_path, tokens, "hf", hf_opts(tiny_model))
    assert len(calls) == 1 and second.equals(first)
    third = run_main(tmp_path, tokens, "hf", hf_opts(tiny_model, num_beams=1))  # another identity
    assert len(calls) == 2
    assert set(third["provider"]) == {f"hf:{tiny_model}?num_beams=1&max_length=10"}


# --- http --------------------------------------------------------------------------------------

SECRET = "s3cr3t-key-0123456789"


def http_opts(url: str, **kw) -> dict:
    return {
        "url": url,
        "api_key_env": "XLT_TEST_LT_KEY",
        "timeout": 5,
        "batch_size": 2,
        "backoff": 0.01,
        **kw,
    }


def test_http_translates_in_batches(monkeypatch):
    monkeypatch.setenv("XLT_TEST_LT_KEY", SECRET)
    texts = ["the house is red", "a dog", "John lives in the house", "a big dog", "the dog"]
    with FakeLibreTranslate(api_key=SECRET) as srv:
        out = tr.make_provider("http", http_opts(srv.url)).translate(texts, "en", "es")
    assert out == ["la casa es roja", "un perro", "juan vive en la casa", "un grande perro", "la perro"]
    assert [r["q"] for r in srv.requests] == [texts[0:2], texts[2:4], texts[4:5]]
    assert all(r["source"] == "en" and r["target"] == "es" and r["format"] == "text" for r in srv.requests)


def test_http_retries_5xx_and_timeouts_then_succeeds(monkeypatch):
    monkeypatch.setenv("XLT_TEST_LT_KEY", SECRET)
    with FakeLibreTranslate(api_key=SECRET, plan=[503, 500, "ok"]) as srv:
        out = tr.make_provider("http", http_opts(srv.url)).translate(["a dog"], "en", "es")
    assert out == ["un perro"] and len(srv.requests) == 3
    with FakeLibreTranslate(api_key=SECRET, plan=["hang"]) as srv:
        out = tr.make_provider("http", http_opts(srv.url, timeout=1)).translate(["a dog"], "en", "es")
    assert out == ["un perro"] and len(srv.requests) == 2


def test_http_gives_up_after_retries_and_fails_fast_on_4xx(monkeypatch):
    monkeypatch.setenv("XLT_TEST_LT_KEY", SECRET)
    with (
        FakeLibreTranslate(api_key=SECRET, plan=[503] * 10) as srv,
        pytest.raises(tr.TranslationError, match="giving up after 3 attempts.*HTTP 503"),
    ):
        tr.make_provider("http", http_opts(srv.url, retries=2)).translate(["a"], "en", "es")
    assert len(srv.requests) == 3
    monkeypatch.setenv("XLT_TEST_LT_KEY", "wrong-key")
    with (
        FakeLibreTranslate(api_key=SECRET) as srv,
        pytest.raises(tr.TranslationError, match="HTTP 403: Invalid API key"),
    ):
        tr.make_provider("http", http_opts(srv.url)).translate(["a"], "en", "es")
    assert len(srv.requests) == 1


def test_http_missing_key_variable_is_a_config_error(monkeypatch):
    monkeypatch.delenv("XLT_TEST_LT_KEY", raising=False)
    with pytest.raises(ConfigError, match="XLT_TEST_LT_KEY is not set"):
        tr.make_provider("http", http_opts("http://127.0.0.1:9"))


def test_http_key_never_logged_cached_or_written(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XLT_TEST_LT_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with FakeLibreTranslate(api_key=SECRET, plan=[502]) as srv:
        pairs = run_main(tmp_path, [HOUSE, ["a", "dog"], HOUSE], "http", http_opts(srv.url))
        with pytest.raises(tr.TranslationError) as err:  # a server that echoes the key it got
            srv.state.plan = [*srv.state.plan, *(["echo-key"] * 5)]
            tr.make_provider("http", http_opts(srv.url)).translate(["x"], "en", "es")
    house = ["la", "casa", "es", "roja"]
    assert pairs["tgt_tokens"].tolist() == [house, ["un", "perro"], house]
    assert set(pairs["provider"]) == {f"http:{srv.url}/translate"}
    assert "retry 1/4" in caplog.text  # the 502 was logged...
    assert SECRET not in caplog.text and SECRET not in str(err.value) and "***" in str(err.value)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_http_url_credentials_never_logged_cached_or_written(tmp_path, monkeypatch, caplog):
    token, qkey = "tok-s3cret-42", "q-s3cret-99"
    monkeypatch.delenv("XLT_TEST_LT_KEY", raising=False)
    caplog.set_level(logging.DEBUG, logger="pipeline_steps")
    with FakeLibreTranslate(plan=[502]) as srv:
        host = srv.url.removeprefix("http://")
        url = f"http://user:{token}@{host}/?key={qkey}"
        opts = {"url": url, "timeout": 5, "batch_size": 2, "backoff": 0.01}
        pairs = run_main(tmp_path, [HOUSE, ["a", "dog"]], "http", opts)
    # the requests used the full URL: query string and basic auth (user:token)
    assert srv.state.queries == [f"key={qkey}"] * 2
    assert srv.state.authorizations[0] == "Basic " + base64.b64encode(f"user:{token}".encode()).decode()
    assert pairs["tgt_tokens"].tolist() == [["la", "casa", "es", "roja"], ["un", "perro"]]
    assert set(pairs["provider"]) == {f"http:http://{host}/translate"}
    assert "retry 1/4" in caplog.text
    # a connection error (its text names the requested path and query) and the provider's repr
    dead = tr.make_provider(
        "http", {**opts, "url": f"http://user:{token}@127.0.0.1:9/x?key={qkey}", "retries": 0}
    )
    with pytest.raises(tr.TranslationError) as err:
        dead.translate(["a"], "en", "es")
    assert str(err.value).startswith("http://127.0.0.1:9/x/translate: giving up after 1 attempts")
    for text in (caplog.text, str(err.value), repr(dead), dead.identity("en", "es")):
        assert token not in text and qkey not in text and "user" not in text, text
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert token.encode() not in f.read_bytes() and qkey.encode() not in f.read_bytes(), f
