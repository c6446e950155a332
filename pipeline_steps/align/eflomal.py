"""eflomal backend (Östling & Tiedemann 2016): Bayesian IBM1+HMM+fertility with Gibbs sampling.

Runs the PyPI ``eflomal`` 2.0 package (``eflomal.Aligner``) in both directions in one call; both
link files come back in ``s-t`` orientation. eflomal lowercases the tokens itself.

Determinism: eflomal 2.0 exposes no seed -- its C sampler seeds itself from ``/dev/urandom`` -- so
two runs on the same data can give (slightly) different links. ``seed`` is accepted for the common
backend interface and ignored. The number of OpenMP threads (``threads``) does not change the
result distribution, only the speed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline_steps.align.symmetrize import Link

log = logging.getLogger(__name__)

#: The common align layer lowercases tokens before calling this backend.
LOWERCASE = True
#: A statistical aligner: trained on every row it gets (pairs + extra parallel data).
TRAINS_ON_CORPUS = True

#: Options forwarded to ``eflomal.Aligner`` (defaults are eflomal's).
ALIGNER_OPTIONS = ("model", "n_iterations", "n_samplers", "rel_iterations", "null_prior")


@contextlib.contextmanager
def _omp_threads(threads: int) -> Iterator[None]:
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(max(1, threads))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old


def parse_links(line: str, where: str = "<links>") -> set[Link]:
    """'0-1 2-2' -> {(0, 1), (2, 2)} (Pharaoh format)."""
    links: set[Link] = set()
    for item in line.split():
        s, sep, t = item.partition("-")
        if not sep or not s.isdigit() or not t.isdigit():
            raise ValueError(f"{where}: bad link {item!r} (expected 'i-j')")
        links.add((int(s), int(t)))
    return links


def directional(
    src: Sequence[Sequence[str]],
    tgt: Sequence[Sequence[str]],
    *,
    seed: int | None = None,
    threads: int = 1,
    options: Mapping[str, Any] | None = None,
) -> tuple[list[set[Link]], list[set[Link]]]:
    """Forward (src->tgt) and reverse (tgt->src) links of every sentence pair, both as ``(s, t)``."""
    import eflomal  # imported lazily: the module is also imported by code that never aligns

    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    opts = {k: v for k, v in (options or {}).items() if k in ALIGNER_OPTIONS and v is not None}
    if seed is not None:
        log.info("eflomal has no seed option (it seeds from /dev/urandom): seed %s is ignored", seed)
    aligner = eflomal.Aligner(**opts)
    with tempfile.TemporaryDirectory(prefix="xlt-eflomal.") as tmp, _omp_threads(threads):
        fwd_path, rev_path = Path(tmp) / "fwd", Path(tmp) / "rev"
        log.info("eflomal: aligning %d sentence pairs (options %s)", len(src), opts)
        aligner.align(
            [" ".join(s) for s in src],
            [" ".join(t) for t in tgt],
            links_filename_fwd=str(fwd_path),
            links_filename_rev=str(rev_path),
            quiet=True,
        )
        fwd_lines = fwd_path.read_text(encoding="utf-8").splitlines()
        rev_lines = rev_path.read_text(encoding="utf-8").splitlines()
    for name, lines in (("forward", fwd_lines), ("reverse", rev_lines)):
        if len(lines) != len(src):
            raise RuntimeError(f"eflomal wrote {len(lines)} {name} alignment lines for {len(src)} pairs")
    forward = [parse_links(line, f"eflomal forward line {i + 1}") for i, line in enumerate(fwd_lines)]
    reverse = [parse_links(line, f"eflomal reverse line {i + 1}") for i, line in enumerate(rev_lines)]
    return forward, reverse
