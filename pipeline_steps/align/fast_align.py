"""fast_align backend (Dyer et al. 2013, the aligner of paper 001 Sec. 2.2), run as a subprocess.

Both directions are run with the options its README recommends (``-d -o -v``; ``-r`` for the
reverse model) on a ``src ||| tgt`` file; ``-r`` output is already in ``s-t`` orientation.
fast_align is EM without random initialisation, so its output is deterministic (``seed`` unused).

The binary is, in this order: an explicit path (config ``align.fast_align.binary``), ``fast_align``
on PATH, or the one the ``build_fast_align`` rule builds (``pipeline_steps.align.build_fast_align``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_steps.align.eflomal import SCRATCH_OPTION, parse_links
from pipeline_steps.align.symmetrize import Link
from pipeline_steps.errors import ConfigError
from pipeline_steps.io import scratch_dir

log = logging.getLogger(__name__)

LOWERCASE = True


def trains_on_corpus(options: Mapping[str, Any] | None = None) -> bool:
    """A statistical aligner: trained on every row it gets (pairs + extra parallel data)."""
    return True


#: The options of fast_align's README: favour the diagonal, optimise its tension, variational Bayes.
DEFAULT_ARGS = ("-d", "-o", "-v")


def find_binary(explicit: str | os.PathLike | None = None) -> Path:
    """The fast_align binary: ``explicit`` if given (must exist), else ``fast_align`` on PATH."""
    if explicit:
        path = Path(explicit)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ConfigError(f"fast_align binary {path} does not exist or is not executable")
        return path
    found = shutil.which("fast_align")
    if found is None:
        raise ConfigError(
            "no fast_align binary: set align.fast_align.binary, put fast_align on PATH, "
            "or build it (rule build_fast_align / pipeline_steps.align.build_fast_align.build)"
        )
    return Path(found)


def run_fast_align(binary: Path, corpus: Path, reverse: bool, threads: int, n_lines: int) -> list[set[Link]]:
    """Run one direction on a ``src ||| tgt`` file; links in ``(s, t)`` orientation."""
    cmd = [str(binary), "-i", str(corpus), *DEFAULT_ARGS] + (["-r"] if reverse else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads)))
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"fast_align failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    lines = proc.stdout.splitlines()
    if len(lines) != n_lines:
        raise RuntimeError(f"fast_align wrote {len(lines)} lines for {n_lines} sentence pairs")
    direction = "reverse" if reverse else "forward"
    return [parse_links(line, f"fast_align {direction} line {i + 1}") for i, line in enumerate(lines)]


def directional(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    *,
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Forward and reverse links of every (non-empty) sentence pair; ``options['binary']`` optional,
    ``options['scratch_next_to']``: the output artifact the scratch folder goes next to (see eflomal)."""
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    binary = find_binary((options or {}).get("binary"))
    with scratch_dir((options or {}).get(SCRATCH_OPTION), "fast_align") as tmp:
        corpus = tmp / "corpus.src-tgt"
        with corpus.open("w", encoding="utf-8") as f:
            for s, t in zip(src, tgt, strict=True):
                f.write(f"{' '.join(s)} ||| {' '.join(t)}\n")
        forward = run_fast_align(binary, corpus, False, threads, len(src))
        reverse = run_fast_align(binary, corpus, True, threads, len(src))
    return forward, reverse
