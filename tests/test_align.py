"""Word alignment: symmetrization heuristics, AER, the eflomal and fast_align backends, align.main."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_steps import align
from pipeline_steps.align import build_fast_align, symmetrize
from pipeline_steps.align.aer import aer, read_talp
from pipeline_steps.errors import ArtifactError, ConfigError, InputFormatError
from pipeline_steps.io import read_artifact, write_artifact
from pipeline_steps.runner import StepContext
from pipeline_steps.schemas import ALIGNMENTS, PAIRS

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# ---------------------------------------------------------------------------------------------
# Symmetrization. Hand-computed example (source 5 x target 5 words):
#   forward F = {00, 11, 31, 24}, reverse R = {00, 11, 01, 22, 43}
#   intersection = {00, 11}; union = F | R
#   grow-diag, candidates in (s, t) order: 01 both words aligned -> no; 22 s2 free, neighbour 11
#   -> add; 24 no aligned neighbour; 31 s3 free, diagonal neighbour 22 -> add; 43 no neighbour;
#   second pass adds nothing -> {00, 11, 22, 31}
#   final-and: F's 24 has s2 aligned -> no; R's 43 has both words free -> add
#   final:     F's 24 has t4 free -> add; R's 01 both aligned -> no; 43 -> add
F = {(0, 0), (1, 1), (3, 1), (2, 4)}
R = {(0, 0), (1, 1), (0, 1), (2, 2), (4, 3)}
EXPECTED = {
    "intersection": {(0, 0), (1, 1)},
    "union": {(0, 0), (1, 1), (0, 1), (2, 2), (3, 1), (2, 4), (4, 3)},
    "grow-diag": {(0, 0), (1, 1), (2, 2), (3, 1)},
    "grow-diag-final-and": {(0, 0), (1, 1), (2, 2), (3, 1), (4, 3)},
    "grow-diag-final": {(0, 0), (1, 1), (2, 2), (3, 1), (2, 4), (4, 3)},
}


@pytest.mark.parametrize("method", sorted(EXPECTED))
def test_symmetrize_hand_computed(method):
    assert symmetrize.symmetrize(F, R, method) == EXPECTED[method]


def test_final_steps_take_the_forward_links_first():
    # Two conflicting directional links, both words free: the forward one wins (atools, symal).
    assert symmetrize.grow_diag_final_and({(0, 0)}, {(0, 1)}) == {(0, 0)}
    assert symmetrize.grow_diag_final_and({(0, 1)}, {(0, 0)}) == {(0, 1)}


def test_unknown_symmetrization():
    with pytest.raises(ValueError, match="unknown symmetrization"):
        symmetrize.symmetrize(F, R, "grow")


links_st = st.sets(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=20)


@settings(max_examples=200, deadline=None)
@given(fwd=links_st, rev=links_st)
def test_symmetrization_invariants(fwd, rev):
    inter, uni = symmetrize.intersection(fwd, rev), symmetrize.union(fwd, rev)
    gd = symmetrize.grow_diag(fwd, rev)
    for final in (symmetrize.grow_diag_final_and, symmetrize.grow_diag_final):
        out = final(fwd, rev)
        assert inter <= gd <= out <= uni
        assert inter <= final(rev, fwd) <= uni
    for method in ("intersection", "union", "grow-diag"):
        assert symmetrize.symmetrize(fwd, rev, method) == symmetrize.symmetrize(rev, fwd, method)
    # the final-and step only adds links between two words no other link touches
    gdfa = symmetrize.grow_diag_final_and(fwd, rev)
    for link in gdfa - gd:
        assert not any(o != link and (o[0] == link[0] or o[1] == link[1]) for o in gdfa)


# ---------------------------------------------------------------------------------------------
# AER and the TALP reader


def test_aer_hand_computed():
    hyp = [{(0, 0), (1, 1), (2, 2)}]
    sure, possible = [{(0, 0), (1, 2)}], [{(1, 1)}]
    # |A&S| = 1, |A&P| = 2 (P = possible | sure), |A| = 3, |S| = 2 -> 1 - 3/5
    assert aer(hyp, sure, possible) == pytest.approx(0.4)
    assert aer(sure, sure, [set()]) == 0.0
    assert aer([set()], sure, [set()]) == 1.0
    # counts summed over the corpus (A&S 2, A&P 3, A 4, S 3), not a mean of sentence AERs (0.2)
    assert aer(hyp + [{(0, 0)}], sure + [{(0, 0)}], possible + [set()]) == pytest.approx(1 - 5 / 7)


def test_read_talp(tmp_path):
    path = tmp_path / "gold.talp"
    path.write_text("1-1 2p3 2-2\n3-1\n\n", encoding="latin-1")
    sure, possible = read_talp(path, src_lengths=[2, 3], tgt_lengths=[3, 1])
    assert sure == [{(0, 0), (1, 1)}, {(2, 0)}]
    assert possible == [{(1, 2)}, set()]
    path.write_text("1-1\n1x2\n", encoding="latin-1")
    with pytest.raises(InputFormatError) as err:
        read_talp(path)
    assert err.value.line == 2 and "1x2" in str(err.value)
    path.write_text("1-1\n3-1\n", encoding="latin-1")
    with pytest.raises(InputFormatError, match="outside") as err:
        read_talp(path, src_lengths=[1, 2], tgt_lengths=[1, 1])
    assert err.value.line == 2


# ---------------------------------------------------------------------------------------------
# Backends on a synthetic corpus with a known alignment: a one-to-one word "translation" that
# swaps words 1 and 2 and translates source word 0 of the vocabulary ("w0") into two words.


def synthetic_corpus(n: int, seed: int = 0):
    rng = random.Random(seed)
    src, tgt, gold = [], [], []
    for _ in range(n):
        words = [f"w{rng.randrange(40)}" for _ in range(rng.randint(3, 9))]
        order = list(range(len(words)))
        order[1], order[2] = order[2], order[1]
        out, links = [], set()
        for s in order:
            pieces = ["Y0a", "Y0b"] if words[s] == "w0" else [words[s].replace("w", "V")]
            for piece in pieces:
                links.add((s, len(out)))
                out.append(piece)
        src.append(words)
        tgt.append(out)
        gold.append(links)
    return src, tgt, gold


def precision_recall(hyp, gold):
    tp = sum(len(h & g) for h, g in zip(hyp, gold, strict=True))
    return tp / sum(map(len, hyp)), tp / sum(map(len, gold))


def test_clean_token_keeps_one_token_per_word():
    assert align.clean_token("New\u00a0York", True) == "new_york"
    assert align.clean_token("", False) == "_"
    assert align.clean_token("|||", False) == "<|||>"
    assert align.clean_token("Ab", False) == "Ab"


def test_eflomal_recovers_a_synthetic_alignment():
    src, tgt, gold = synthetic_corpus(400)
    hyp = align.align_corpus(src, tgt, backend="eflomal", symmetrization="grow-diag-final-and", seed=1)
    # A quality bar, not exact links: the links are a property of the seed, not of the method.
    p, r = precision_recall(hyp, gold)
    assert p > 0.95 and r > 0.95
    assert all(
        0 <= s < len(a) and 0 <= t < len(b) for h, a, b in zip(hyp, src, tgt, strict=True) for s, t in h
    )


def test_eflomal_directions_are_source_target():
    src, tgt, gold = synthetic_corpus(300)
    clean = [[w.lower() for w in sent] for sent in tgt]
    forward, reverse = align.get_backend("eflomal").directional(src, clean, seed=0)
    # forward: each target word has at most one link; reverse: each source word at most one
    assert all(len({t for _, t in f}) == len(f) for f in forward)
    assert all(len({s for s, _ in r}) == len(r) for r in reverse)
    # both are (s, t): with words 1 and 2 swapped, a (t, s) orientation would score far lower
    for links in (forward, reverse):
        p, r = precision_recall(links, gold)
        assert p > 0.95 and r > 0.85


def test_align_corpus_n_keep_and_empty_sentences():
    src, tgt, gold = synthetic_corpus(300)
    src[1], tgt[2] = [], []
    hyp = align.align_corpus(src, tgt, backend="eflomal", n_keep=5, seed=0)
    assert len(hyp) == 5 and hyp[1] == set() and hyp[2] == set()
    p, r = precision_recall(hyp[3:], gold[3:5])
    assert p > 0.8 and r > 0.8


# eflomal seeding: a copy of its binary reads 8 seed bytes from ./xlt_seed.bin instead of
# /dev/urandom, and each direction runs in its own single-threaded process.


def noise_corpus(n: int, seed: int = 0):
    """Unrelated random sentences: no alignment to recover, so the links are the sampler's choice."""
    rng = random.Random(seed)
    src = [[f"s{rng.randrange(30)}" for _ in range(rng.randint(2, 8))] for _ in range(n)]
    tgt = [[f"t{rng.randrange(30)}" for _ in range(rng.randint(2, 8))] for _ in range(n)]
    return src, tgt


def test_eflomal_same_seed_same_links_whatever_the_threads():
    src, tgt = noise_corpus(150)
    backend = align.get_backend("eflomal")
    first = backend.directional(src, tgt, seed=5, threads=1)
    assert backend.directional(src, tgt, seed=5, threads=2) == first
    assert backend.directional(src, tgt, seed=5, threads=1) == first
    other = backend.directional(src, tgt, seed=6, threads=1)
    # with no signal to align, another seed changes many sentences' links
    for ours, theirs in zip(first, other, strict=True):
        assert sum(a != b for a, b in zip(ours, theirs, strict=True)) > len(src) // 4


def test_eflomal_unseeded_runs_differ():
    src, tgt = noise_corpus(150)
    backend = align.get_backend("eflomal")
    assert backend.directional(src, tgt, seed=None) != backend.directional(src, tgt, seed=None)


def test_eflomal_seeded_binary_differs_only_in_the_seed_path(tmp_path):
    backend = align.get_backend("eflomal")
    original = backend.eflomal_binary().read_bytes()
    out = backend.make_seeded_binary(backend.eflomal_binary(), tmp_path / "eflomal")
    assert out == tmp_path / "eflomal" and os.access(out, os.X_OK)
    patched = out.read_bytes()
    diff = [i for i, (a, b) in enumerate(zip(original, patched, strict=True)) if a != b]
    at = original.index(b"/dev/urandom\x00")
    assert patched[at : at + 13] == b"xlt_seed.bin\x00"
    assert diff and at <= min(diff) and max(diff) < at + 12
    assert b"/dev/urandom\x00" not in patched


@pytest.mark.parametrize("content", [b"no seed path here", b"/dev/urandom\x00 and /dev/urandom\x00"])
def test_eflomal_seeded_binary_refuses_an_unknown_layout(tmp_path, caplog, content):
    (tmp_path / "bin").write_bytes(content)
    backend = align.get_backend("eflomal")
    with caplog.at_level("WARNING"):
        assert backend.make_seeded_binary(tmp_path / "bin", tmp_path / "out") is None
    assert "running unseeded" in caplog.text and not (tmp_path / "out").exists()


def test_eflomal_falls_back_to_unseeded_runs(tmp_path, monkeypatch, caplog):
    backend = align.get_backend("eflomal")
    src, tgt, gold = synthetic_corpus(200)
    # 1. a binary with the seed path twice (its warning message cut at the path): not patched
    data = backend.eflomal_binary().read_bytes()
    (tmp_path / "bin").mkdir()
    twice = tmp_path / "bin" / "eflomal"
    twice.write_bytes(data.replace(b"/dev/urandom, ", b"/dev/urandom\x00 "))
    twice.chmod(0o755)
    monkeypatch.setattr(backend, "eflomal_binary", lambda: twice)
    with caplog.at_level("WARNING"):
        fwd, rev = backend.directional(src, tgt, seed=1)
    assert "2 times" in caplog.text and "running unseeded" in caplog.text
    assert precision_recall(fwd, gold)[0] > 0.95 and precision_recall(rev, gold)[0] > 0.95
    # 2. a seeded copy that cannot be executed (as in a noexec temp dir)
    monkeypatch.undo()
    make = backend.make_seeded_binary

    def not_executable(original, dest):
        out = make(original, dest)
        out.chmod(0o644)
        return out

    monkeypatch.setattr(backend, "make_seeded_binary", not_executable)
    caplog.clear()
    with caplog.at_level("WARNING"):
        fwd, rev = backend.directional(src, tgt, seed=1)
    assert "cannot run the seeded copy" in caplog.text
    assert precision_recall(fwd, gold)[0] > 0.95 and precision_recall(rev, gold)[0] > 0.95
    # 3. the seed file is not where the copy looks for it: the binary says so, we warn
    monkeypatch.undo()

    def seed_file_elsewhere(original, dest):
        out = make(original, dest)
        monkeypatch.setattr(backend, "SEED_FILE", "elsewhere.bin")
        return out

    monkeypatch.setattr(backend, "make_seeded_binary", seed_file_elsewhere)
    caplog.clear()
    with caplog.at_level("WARNING"):
        fwd, rev = backend.directional(src, tgt, seed=1)
    assert "could not read its seed file" in caplog.text
    assert precision_recall(fwd, gold)[0] > 0.95 and precision_recall(rev, gold)[0] > 0.95


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(-(2**70), 2**70))
def test_eflomal_seed_bytes(seed):
    backend = align.get_backend("eflomal")
    fwd, rev = backend.seed_bytes(seed, False), backend.seed_bytes(seed, True)
    assert len(fwd) == len(rev) == 8 and any(fwd) and any(rev) and fwd != rev
    assert backend.seed_bytes(seed, False) == fwd and backend.seed_bytes(seed + 1, False) != fwd


@pytest.mark.parametrize(
    ("n_sentences", "options"),
    [
        (300, {}),
        (1, {}),
        (7, {"model": 1, "rel_iterations": 0.5}),
        (120000, {"model": 2, "n_samplers": 1, "null_prior": 0.1}),
        (50, {"n_iterations": (3, 0, 4)}),
    ],
)
def test_eflomal_command_is_the_wrappers(tmp_path, monkeypatch, n_sentences, options):
    """Per direction, the arguments eflomal's own wrapper (eflomal.cython.align) gives the binary."""
    import eflomal
    import eflomal.cython

    backend = align.get_backend("eflomal")
    (tmp_path / "src").write_text(f"{n_sentences} 10\n")
    aligner = eflomal.Aligner(**options)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append(list(args)))
    eflomal.cython.align(
        str(tmp_path / "src"),
        "T",
        links_filename_fwd="F",
        links_filename_rev="R",
        model=aligner.model,
        n_iterations=aligner.n_iterations,
        n_samplers=aligner.n_samplers,
        rel_iterations=aligner.rel_iterations,
        null_prior=aligner.null_prior,
        quiet=True,
    )
    monkeypatch.undo()
    (theirs,) = calls
    assert theirs[0] == str(backend.eflomal_binary())
    cfg = backend._settings(options, n_sentences)
    kwargs = {k: cfg[k] for k in ("model", "n_iterations", "n_samplers", "null_prior")}
    fwd = backend.command(theirs[0], str(tmp_path / "src"), "T", "F", reverse=False, **kwargs)
    rev = backend.command(theirs[0], str(tmp_path / "src"), "T", "R", reverse=True, **kwargs)
    assert fwd == theirs[:-2] and rev == theirs[:-4] + theirs[-2:]


def test_eflomal_failure_names_the_command_and_its_message(tmp_path, monkeypatch):
    backend = align.get_backend("eflomal")
    fake = tmp_path / "eflomal"
    fake.write_text("#!/bin/sh\necho 'out of memory' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setattr(backend, "eflomal_binary", lambda: fake)
    for threads in (1, 2):
        with pytest.raises(RuntimeError, match="status 3") as err:
            backend.directional([["a", "b"]], [["c"]], seed=None, threads=threads)
        assert "out of memory" in str(err.value) and str(fake) in str(err.value)


def test_eflomal_empty_corpus_and_bad_options():
    backend = align.get_backend("eflomal")
    assert backend.directional([], [], seed=1) == ([], [])
    with pytest.raises(ValueError, match="3 numbers"):
        backend.directional([["a"]], [["b"]], seed=1, options={"n_iterations": (1, 2)})
    with pytest.raises(ValueError, match="model must be"):
        backend.directional([["a"]], [["b"]], seed=1, options={"model": 4})


def test_unknown_backend_and_symmetrization():
    with pytest.raises(ConfigError, match="unknown alignment backend"):
        align.align_corpus([["a"]], [["b"]], backend="giza")
    with pytest.raises(ConfigError, match="unknown symmetrization"):
        align.align_corpus([["a"]], [["b"]], backend="eflomal", symmetrization="grow")


# ---------------------------------------------------------------------------------------------
# fast_align: built from XLT_FAST_ALIGN_SOURCE (git URL or directory) at XLT_FAST_ALIGN_COMMIT, else
# from ../shared/tools/fast_align-src (the pinned commit's unchanged source; CI always has it), else
# found on PATH. Never faked.

SHARED_FAST_ALIGN = ROOT.parent / "shared" / "tools" / "fast_align-src"
NO_FAST_ALIGN = (
    f"fast_align not available: {SHARED_FAST_ALIGN} is absent; set XLT_FAST_ALIGN_SOURCE (git URL/dir of "
    "the fast_align source) and XLT_FAST_ALIGN_COMMIT, or put fast_align (and atools) on PATH"
)


def fast_align_source() -> tuple[str | None, str | None]:
    """(source, commit) to build fast_align from: the environment's, else the shared source tree."""
    if os.environ.get("XLT_FAST_ALIGN_SOURCE"):
        return os.environ["XLT_FAST_ALIGN_SOURCE"], os.environ.get("XLT_FAST_ALIGN_COMMIT")
    if SHARED_FAST_ALIGN.is_dir():
        return str(SHARED_FAST_ALIGN), None
    return None, None


@pytest.fixture(scope="module")
def fast_align_tools(tmp_path_factory) -> dict[str, Path | None]:
    source, commit = fast_align_source()
    if source:
        out = tmp_path_factory.mktemp("fast_align") / "bin" / "fast_align"
        ctx = StepContext(input={}, output={"binary": str(out)}, params={"source": source, "commit": commit})
        build_fast_align.main(ctx)
        return {"fast_align": out, "atools": out.parent / "atools"}
    found = shutil.which("fast_align")
    if found is None:
        pytest.skip(NO_FAST_ALIGN)
    atools = shutil.which("atools")
    return {"fast_align": Path(found), "atools": Path(atools) if atools else None}


def test_build_fast_align_writes_both_tools(fast_align_tools):
    if fast_align_source()[0] is None:
        pytest.skip(NO_FAST_ALIGN)
    out = fast_align_tools["fast_align"]
    assert os.access(out, os.X_OK) and os.access(fast_align_tools["atools"], os.X_OK)
    assert {p.name for p in out.parent.iterdir()} == {"fast_align", "atools"}  # build dir removed
    usage = subprocess.run([str(out)], capture_output=True, text=True)
    assert "Usage" in usage.stderr and "-d" in usage.stderr


def test_build_fast_align_rejects_bad_sources(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(ConfigError, match="no CMakeLists.txt"):
        build_fast_align.build(str(tmp_path / "src"), None, tmp_path / "bin")
    with pytest.raises(ConfigError, match="cannot be pinned"):
        build_fast_align.build(str(tmp_path / "src"), "abc123", tmp_path / "bin")
    with pytest.raises(ConfigError, match="pin a commit"):
        build_fast_align.build("https://example.invalid/fast_align.git", None, tmp_path / "bin")


def test_fast_align_binary_lookup(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        align.get_backend("fast_align").find_binary(tmp_path / "nope")


def test_fast_align_recovers_a_synthetic_alignment(fast_align_tools):
    src, tgt, gold = synthetic_corpus(400)
    options = {"binary": str(fast_align_tools["fast_align"])}
    hyp = align.align_corpus(src, tgt, backend="fast_align", options=options)
    p, r = precision_recall(hyp, gold)
    assert p > 0.9 and r > 0.9
    # EM from a uniform start: deterministic
    assert align.align_corpus(src, tgt, backend="fast_align", options=options) == hyp


def _pharaoh(links) -> str:
    return " ".join(f"{s}-{t}" for s, t in sorted(links))


def test_symmetrization_matches_atools(fast_align_tools, tmp_path):
    atools = fast_align_tools["atools"]
    if atools is None:
        pytest.skip("atools not available next to fast_align")
    rng = random.Random(7)
    fwd, rev = [], []
    for _ in range(300):
        n, m = rng.randint(1, 8), rng.randint(1, 8)
        fwd.append({(rng.randrange(n), t) for t in range(m) if rng.random() < 0.8})
        rev.append({(s, rng.randrange(m)) for s in range(n) if rng.random() < 0.8})
    (tmp_path / "f").write_text("".join(_pharaoh(x) + "\n" for x in fwd))
    (tmp_path / "r").write_text("".join(_pharaoh(x) + "\n" for x in rev))
    names = {"intersection": "intersect", "union": "union"}
    for method in symmetrize.METHODS:
        cmd = [
            str(atools),
            "-i",
            str(tmp_path / "f"),
            "-j",
            str(tmp_path / "r"),
            "-c",
            names.get(method, method),
        ]
        lines = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
        theirs = [{tuple(map(int, x.split("-"))) for x in line.split()} for line in lines]
        ours = [symmetrize.symmetrize(f, r, method) for f, r in zip(fwd, rev, strict=True)]
        assert ours == theirs, method


# ---------------------------------------------------------------------------------------------
# align.main


def pairs_frame(src, tgt, prefix="gold", tgt_lang="es") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"{prefix}-en-{tgt_lang}-{i:06d}" for i in range(len(src))],
            "src_id": [f"{prefix}-en-{i:06d}" for i in range(len(src))],
            "tgt_id": None,
            "src_lang": "en",
            "tgt_lang": tgt_lang,
            "src_tokens": src,
            "tgt_tokens": tgt,
            "provider": "parallel",
        }
    )


def test_main_aligns_pairs_with_extra_data(tmp_path):
    src, tgt, gold = synthetic_corpus(400)
    write_artifact(pairs_frame(src[:20], tgt[:20]), tmp_path / "pairs.parquet", PAIRS)
    write_artifact(pairs_frame(src[20:], tgt[20:], "par"), tmp_path / "par.parquet", PAIRS)
    ctx = StepContext(
        input={"pairs": str(tmp_path / "pairs.parquet"), "extra": [str(tmp_path / "par.parquet")]},
        output={"alignments": str(tmp_path / "align.parquet")},
        params={"backend": "eflomal", "symmetrize": "intersection", "fast_align_bin": None, "seed": 3},
    )
    align.main(ctx)
    out = read_artifact(tmp_path / "align.parquet", ALIGNMENTS)
    assert out["pair_id"].tolist() == [f"gold-en-es-{i:06d}" for i in range(20)]
    assert set(out["backend"]) == {"eflomal"} and set(out["symmetrization"]) == {"intersection"}
    hyp = [align.links_of(v) for v in out["links"]]
    p, r = precision_recall(hyp, gold[:20])
    assert p > 0.95 and r > 0.8


def test_main_rejects_extra_data_of_another_language(tmp_path):
    src, tgt, _ = synthetic_corpus(10)
    write_artifact(pairs_frame(src, tgt), tmp_path / "pairs.parquet", PAIRS)
    write_artifact(pairs_frame(src, tgt, "par", tgt_lang="de"), tmp_path / "par.parquet", PAIRS)
    ctx = StepContext(
        input={"pairs": str(tmp_path / "pairs.parquet"), "extra": [str(tmp_path / "par.parquet")]},
        output={"alignments": str(tmp_path / "align.parquet")},
        params={"backend": "eflomal", "symmetrize": "grow-diag-final-and", "fast_align_bin": None, "seed": 1},
    )
    with pytest.raises(ArtifactError) as err:
        align.main(ctx)
    assert err.value.field == "tgt_lang" and err.value.row == 0 and "par.parquet" in str(err.value)
    assert not (tmp_path / "align.parquet").exists()


# ---------------------------------------------------------------------------------------------
# Real gold alignments (de-en, Vilar et al.): a sanity bound on eflomal's AER


def test_eflomal_aer_on_gold_deen():
    root = SHARED_DATA / "gold-alignments" / "deen-vilar" / "DeEn"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root} is absent")
    de = [line.split() for line in (root / "de").read_text(encoding="latin-1").splitlines() if line.strip()]
    en = [line.split() for line in (root / "en").read_text(encoding="latin-1").splitlines() if line.strip()]
    sure, possible = read_talp(root / "alignmentDeEn.talp", [len(s) for s in de], [len(s) for s in en])
    hyp = align.align_corpus(de, en, backend="eflomal", symmetrization="grow-diag-final-and", seed=0)
    # 508 sentences only: far from the ~0.2 of a large corpus, yet far better than chance (~0.9+).
    assert aer(hyp, sure, possible) < 0.5


def test_eflomal_seeded_on_europarl():
    root = SHARED_DATA / "ner-europarl-parallel"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root} is absent")
    from pipeline_steps import formats

    en = formats.read(root / "en-europarl.test.conll02", "tsv", "en", "gold", "bio")["tokens"][:200]
    es = formats.read(root / "es-europarl.test.conll02", "tsv", "es", "gold", "bio")["tokens"][:200]
    src, tgt = [list(s) for s in en], [list(t) for t in es]
    opts = {"rel_iterations": 0.25}  # fewer iterations (88 instead of 354) to keep the test short
    first = align.align_corpus(src, tgt, backend="eflomal", seed=11, threads=2, options=opts)
    assert align.align_corpus(src, tgt, backend="eflomal", seed=11, threads=1, options=opts) == first
    assert align.align_corpus(src, tgt, backend="eflomal", seed=12, threads=2, options=opts) != first


# ---------------------------------------------------------------------------------------------
# Scratch space: next to the output artifact, never in the system temp dir; a killed run's is removed


def _stale_scratch(out: Path, tool: str) -> tuple[Path, Path]:
    """A scratch folder of a killed run for ``out``, and one of another output (a running job)."""
    stale = out.parent / f".xlt-{tool}.{out.name}.k1ll3d_x"
    stale.mkdir(parents=True)
    (stale / "source.txt").write_text("corpus text of the killed run\n", encoding="utf-8")
    other = out.parent / f".xlt-{tool}.gold.de.parquet.running"
    other.mkdir()
    return stale, other


def test_eflomal_scratch_is_next_to_the_output_and_stale_scratch_is_removed(tmp_path, monkeypatch):
    backend = align.get_backend("eflomal")
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "align" / "translated.de.parquet"
    stale, other = _stale_scratch(out, "eflomal")
    seen = {}
    run = backend._run

    def spy(cmds, parallel):
        seen["workdirs"] = [cwd for _, cwd in cmds]
        seen["system_tmp"] = list(system_tmp.iterdir())
        seen["stale_exists"] = stale.exists()
        return run(cmds, parallel)

    monkeypatch.setattr(backend, "_run", spy)
    src, tgt, gold = synthetic_corpus(60)
    fwd, _ = backend.directional(src, tgt, seed=1, options={backend.SCRATCH_OPTION: str(out)})
    assert len(fwd) == 60
    scratch = seen["workdirs"][0].parent
    assert scratch.parent == out.parent and scratch.name.startswith(".xlt-eflomal.translated.de.parquet.")
    assert seen["system_tmp"] == [] and seen["stale_exists"] is False
    assert sorted(p.name for p in out.parent.iterdir()) == [other.name]  # its own scratch is gone too


def test_fast_align_scratch_is_next_to_the_output_and_stale_scratch_is_removed(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "fast_align"
    fake.parent.mkdir()
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "corpus = sys.argv[sys.argv.index('-i') + 1]\n"
        "with open(os.environ['XLT_FAKE_FA_LOG'], 'a') as log:\n"
        "    log.write(corpus + '\\n')\n"
        "for line in open(corpus):\n"
        "    print('0-0')\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("XLT_FAKE_FA_LOG", str(calls))
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "align" / "gold.es.parquet"
    stale, other = _stale_scratch(out, "fast_align")
    backend = align.get_backend("fast_align")
    fwd, rev = backend.directional(
        [["a", "b"], ["c"]], [["x"], ["y", "z"]], options={"binary": str(fake), "scratch_next_to": str(out)}
    )
    assert fwd == rev == [{(0, 0)}, {(0, 0)}]
    corpora = [Path(p) for p in calls.read_text(encoding="utf-8").splitlines()]
    assert len(corpora) == 2
    assert all(
        c.parent.parent == out.parent and c.parent.name.startswith(f".xlt-fast_align.{out.name}.")
        for c in corpora
    )
    assert list(system_tmp.iterdir()) == [] and not stale.exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [other.name]


def test_scratch_next_to_a_relative_output_path(tmp_path, monkeypatch):
    # rules give relative paths (results/...); eflomal runs with the scratch folder as working directory
    monkeypatch.chdir(tmp_path)
    backend = align.get_backend("eflomal")
    src, tgt, _ = synthetic_corpus(30)
    out = Path("results/demo/align/gold.de.parquet")
    fwd, rev = backend.directional(src, tgt, seed=1, options={backend.SCRATCH_OPTION: str(out)})
    assert len(fwd) == len(rev) == 30
    assert list(out.parent.iterdir()) == []  # the scratch folder is gone
