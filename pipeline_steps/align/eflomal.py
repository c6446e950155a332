"""eflomal backend (Östling & Tiedemann 2016): Bayesian IBM1+HMM+fertility with Gibbs sampling.

Uses the PyPI ``eflomal`` 2.0 package: ``eflomal.Aligner.prepare_files`` writes its input files and
its C binary (``eflomal/bin/eflomal``) aligns them, once per direction; both link files come back in
``s-t`` orientation. eflomal lowercases the tokens itself.

Seeding. The binary has no seed option: each direction seeds its sampler state (8 bytes,
xorshift*) from ``fopen("/dev/urandom")``, and with several OpenMP threads the samplers take their
split-off states in thread-arrival order. For a given ``seed`` the output is made reproducible by

- running a copy of the binary whose ``"/dev/urandom"`` string is replaced by the relative path
  ``"xlt_seed.bin"`` (same length), in a working directory holding 8 seed bytes derived from
  ``(seed, direction)`` (:func:`seed_bytes`); no compiler or ``LD_PRELOAD`` is needed;
- running each direction in its own process with ``OMP_NUM_THREADS=1`` (samplers in a fixed order);
  with ``threads >= 2`` the two processes run at the same time, so the result does not depend on
  ``threads``. eflomal's own sampler parallelism (``n_samplers`` threads per direction) is given up.

If the copy cannot be made or run (eflomal built differently, a ``noexec`` scratch folder) or the binary
reports it could not open its seed file, the run goes on unseeded with a logged warning.
``seed=None`` runs the unmodified binary (seeded from ``/dev/urandom``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import operator
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_steps.align.symmetrize import Link
from pipeline_steps.io import scratch_dir

log = logging.getLogger(__name__)

#: The common align layer lowercases tokens before calling this backend.
LOWERCASE = True


def trains_on_corpus(options: Mapping[str, Any] | None = None) -> bool:
    """A statistical aligner: trained on every row it gets (pairs + extra parallel data)."""
    return True


#: Options of ``eflomal.Aligner`` this backend takes (defaults are eflomal's).
ALIGNER_OPTIONS = ("model", "n_iterations", "n_samplers", "rel_iterations", "null_prior")
#: Backend option naming the job's output artifact: the scratch folder (corpus text, links) is a
#: hidden ``.xlt-<backend>.<output name>.*`` folder next to it, and one left by a killed run is
#: removed at the next start (``io.scratch_dir``). Without it: the system temp dir.
SCRATCH_OPTION = "scratch_next_to"

#: The path the binary reads its seed from, and its replacement in the seeded copy (same length).
URANDOM = b"/dev/urandom\x00"
SEED_FILE = "xlt_seed.bin"
#: The binary's message when it cannot open its seed source (it then seeds from ``time()``).
UNSEEDED_WARNING = "can not open"

assert len(SEED_FILE.encode()) + 1 == len(URANDOM)


def parse_links(line: str, where: str = "<links>") -> set[Link]:
    """'0-1 2-2' -> {(0, 1), (2, 2)} (Pharaoh format)."""
    links: set[Link] = set()
    for item in line.split():
        s, sep, t = item.partition("-")
        if not sep or not s.isdigit() or not t.isdigit():
            raise ValueError(f"{where}: bad link {item!r} (expected 'i-j')")
        links.add((int(s), int(t)))
    return links


def eflomal_binary() -> Path:
    """The C binary the ``eflomal`` package runs (``eflomal/bin/eflomal`` next to its wrapper)."""
    import eflomal.cython  # imported lazily: the module is also imported by code that never aligns

    return Path(eflomal.cython.__file__).parent / "bin" / "eflomal"


def seed_bytes(seed: int, reverse: bool) -> bytes:
    """The 8 bytes (eflomal's 64-bit sampler state) one direction is seeded with.

    The two directions get independent states; an all-zero state (a fixed point of xorshift) is
    never returned.
    """
    seed = operator.index(seed)
    key = f"xlt-eflomal/{seed}/{'reverse' if reverse else 'forward'}".encode()
    state = hashlib.blake2b(key, digest_size=8).digest()
    return state if any(state) else b"\x01" + state[1:]


def make_seeded_binary(original: Path, dest: Path) -> Path | None:
    """Copy ``original`` to ``dest`` with ``/dev/urandom`` replaced by ``./xlt_seed.bin``.

    Returns ``dest``, or None (with a warning) when the binary does not contain the path exactly
    once or cannot be copied.
    """
    try:
        data = original.read_bytes()
    except OSError as err:
        log.warning("eflomal: cannot read %s (%s); running unseeded", original, err)
        return None
    count = data.count(URANDOM)
    if count != 1:
        log.warning(
            "eflomal: %s contains %r %d times (expected once); cannot seed it, running unseeded",
            original,
            URANDOM.decode(errors="replace").rstrip("\0"),
            count,
        )
        return None
    try:
        dest.write_bytes(data.replace(URANDOM, SEED_FILE.encode() + b"\x00"))
        shutil.copymode(original, dest)
        dest.chmod(dest.stat().st_mode | 0o100)
    except OSError as err:
        log.warning(
            "eflomal: cannot write a seeded copy of the binary to %s (%s); running unseeded", dest, err
        )
        return None
    return dest


def iteration_counts(n_sentences: int, model: int = 3, rel_iterations: float = 1.0) -> tuple[int, int, int]:
    """Iterations per model (IBM1, HMM, fertility), chosen as ``eflomal.cython.align`` does."""
    iters = max(2, int(round(rel_iterations * 5000 / math.sqrt(n_sentences))))
    iters4 = max(1, iters // 4)
    if model == 1:
        return (iters, 0, 0)
    if model == 2:
        return (max(2, iters4), iters, 0)
    return (max(2, iters4), iters4, iters)


def command(
    binary: Path | str,
    source_file: str,
    target_file: str,
    links_file: str,
    *,
    reverse: bool,
    model: int,
    n_iterations: Sequence[int],
    n_samplers: int,
    null_prior: float,
) -> list[str]:
    """The binary's arguments for one direction, as ``eflomal.cython.align`` builds them for both."""
    args = [str(binary), "-m", str(model), "-s", source_file, "-t", target_file]
    args += ["-n", str(n_samplers), "-N", str(null_prior), "-1", str(n_iterations[0]), "-q"]
    if model >= 2:
        args += ["-2", str(n_iterations[1])]
    if model >= 3:
        args += ["-3", str(n_iterations[2])]
    return args + (["-r", links_file] if reverse else ["-f", links_file])


def _settings(options: Mapping[str, Any] | None, n_sentences: int) -> dict[str, Any]:
    import eflomal

    unknown = sorted(set(options or {}) - set(ALIGNER_OPTIONS) - {SCRATCH_OPTION})
    if unknown:
        log.info("eflomal: ignoring options %s (takes %s)", unknown, list(ALIGNER_OPTIONS))
    opts = {k: v for k, v in (options or {}).items() if k in ALIGNER_OPTIONS and v is not None}
    aligner = eflomal.Aligner(**opts)  # eflomal's defaults for what is not given
    model = int(aligner.model)
    if model not in (1, 2, 3):
        raise ValueError(f"eflomal model must be 1, 2 or 3, not {model}")
    if aligner.n_iterations is None:
        n_iterations = iteration_counts(n_sentences, model, float(aligner.rel_iterations))
    else:
        n_iterations = tuple(int(n) for n in aligner.n_iterations)
        if len(n_iterations) != 3:
            raise ValueError(f"eflomal n_iterations must be 3 numbers (IBM1, HMM, fertility): {n_iterations}")
    return {
        "aligner": aligner,
        "model": model,
        "n_iterations": n_iterations,
        "n_samplers": int(aligner.n_samplers),
        "null_prior": float(aligner.null_prior),
    }


def _run(cmds: list[tuple[list[str], Path]], parallel: bool) -> list[str]:
    """Run each ``(args, cwd)`` with one OpenMP thread; their stderr texts. Raises on failure."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs: list[subprocess.Popen] = []
    try:
        for args, cwd in cmds:
            with open(cwd / "stderr.txt", "wb") as err:
                procs.append(subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err))
            if not parallel:
                procs[-1].wait()
        stderr = []
        for proc, (args, cwd) in zip(procs, cmds, strict=True):
            code = proc.wait()
            text = (cwd / "stderr.txt").read_text(encoding="utf-8", errors="replace")
            if code != 0:
                raise RuntimeError(f"eflomal exited with status {code}: {' '.join(args)}\n{text[-2000:]}")
            stderr.append(text)
        return stderr
    finally:  # never leave a sampler running (e.g. the other direction after a failure)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def directional(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    *,
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Forward (src->tgt) and reverse (tgt->src) links of every sentence pair, both as ``(s, t)``.

    The same ``seed`` and options give the same links, whatever ``threads`` (see the module doc).
    """
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    if not src:
        return [], []
    binary = eflomal_binary()
    if not binary.is_file():
        raise RuntimeError(f"the eflomal binary is missing: {binary}")
    cfg = _settings(options, len(src))
    with scratch_dir((options or {}).get(SCRATCH_OPTION), "eflomal") as tmp:
        src_file, tgt_file = tmp / "source.txt", tmp / "target.txt"
        with open(src_file, "wb") as sf, open(tgt_file, "wb") as tf:
            cfg["aligner"].prepare_files(
                [" ".join(s) for s in src], sf, [" ".join(t) for t in tgt], tf, None, None
            )
        run_binary = None
        if seed is None:
            log.info("eflomal: no seed given, sampling from /dev/urandom (not reproducible)")
        else:
            run_binary = make_seeded_binary(binary, tmp / "eflomal-seeded")
        cmds, link_files = [], []
        for reverse in (False, True):
            workdir = tmp / ("reverse" if reverse else "forward")
            workdir.mkdir()
            if run_binary is not None:
                (workdir / SEED_FILE).write_bytes(seed_bytes(seed, reverse))
            link_files.append(workdir / "links")
            args = command(
                run_binary or binary,
                str(src_file),
                str(tgt_file),
                str(link_files[-1]),
                reverse=reverse,
                model=cfg["model"],
                n_iterations=cfg["n_iterations"],
                n_samplers=cfg["n_samplers"],
                null_prior=cfg["null_prior"],
            )
            cmds.append((args, workdir))
        log.info(
            "eflomal: aligning %d sentence pairs (model %d, iterations %s, %d samplers, seed %s)",
            len(src),
            cfg["model"],
            cfg["n_iterations"],
            cfg["n_samplers"],
            seed if run_binary is not None else "none",
        )
        try:
            stderr = _run(cmds, parallel=threads >= 2)
        except PermissionError as err:  # e.g. a temp dir mounted noexec
            if run_binary is None:
                raise
            log.warning("eflomal: cannot run the seeded copy (%s); running unseeded", err)
            for args, _ in cmds:
                args[0] = str(binary)
            stderr = _run(cmds, parallel=threads >= 2)
            run_binary = None
        if run_binary is not None and any(UNSEEDED_WARNING in text for text in stderr):
            log.warning(
                "eflomal could not read its seed file (seeded from time()): this run is not reproducible"
            )
        lines = [path.read_text(encoding="utf-8").splitlines() for path in link_files]
    for name, rows in zip(("forward", "reverse"), lines, strict=True):
        if len(rows) != len(src):
            raise RuntimeError(f"eflomal wrote {len(rows)} {name} alignment lines for {len(src)} pairs")
    forward = [parse_links(line, f"eflomal forward line {i + 1}") for i, line in enumerate(lines[0])]
    reverse = [parse_links(line, f"eflomal reverse line {i + 1}") for i, line in enumerate(lines[1])]
    return forward, reverse
