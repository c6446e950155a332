"""Build fast_align (Dyer et al. 2013) from a git URL or a local checkout with cmake + make.

``build(source, commit, dest_dir)`` clones ``source`` (any URL or path ``git clone`` accepts, a bare
repository included), checks out the pinned ``commit``, builds in a temporary folder under
``dest_dir`` and copies the ``fast_align`` and ``atools`` binaries into ``dest_dir``. A local source
directory that is not a git repository is built as it is (``commit`` must then be empty/None).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipeline_steps.errors import ConfigError

log = logging.getLogger(__name__)

BINARIES = ("fast_align", "atools")
COMMIT_RE = re.compile(r"[0-9a-f]{7,40}")


def _run(cmd: list[str], cwd: Path | None = None) -> None:
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.stdout:
        log.info("%s", proc.stdout[-4000:])
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")


def _is_git_source(source: str) -> bool:
    path = Path(source)
    if not path.exists():
        return True  # a URL
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def build(source: str, commit: str | None, dest_dir: str | os.PathLike, jobs: int = 1) -> Path:
    """Build fast_align from ``source`` at ``commit``; return the path of the binary in ``dest_dir``."""
    for tool in ("cmake", "make"):
        if shutil.which(tool) is None:
            raise ConfigError(f"building fast_align needs '{tool}' on PATH")
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fast_align-build.", dir=dest) as tmp:
        tmp_path = Path(tmp)
        if _is_git_source(source):
            if not commit:
                raise ConfigError(f"fast_align source {source} is a git repository: pin a commit")
            if not COMMIT_RE.fullmatch(commit):
                raise ConfigError(f"align.fast_align.commit: {commit!r} is not a hex commit SHA")
            if shutil.which("git") is None:
                raise ConfigError("building fast_align from git needs 'git' on PATH")
            src = tmp_path / "src"
            _run(["git", "clone", "--quiet", "--", source, str(src)])
            _run(["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", commit, "--"], cwd=src)
            head = subprocess.run(
                ["git", "rev-parse", "--verify", "HEAD^{commit}"],
                cwd=src,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            if not head.startswith(commit):
                raise RuntimeError(f"checked out {head}, expected {commit}")
        else:
            if commit:
                msg = f"fast_align source {source} is a plain directory: it cannot be pinned to {commit}"
                raise ConfigError(msg)
            src = Path(source)
        if not (src / "CMakeLists.txt").is_file():
            raise ConfigError(f"fast_align source {source} has no CMakeLists.txt")
        build_dir = tmp_path / "build"
        build_dir.mkdir()
        _run(["cmake", "-DCMAKE_BUILD_TYPE=Release", str(src.resolve())], cwd=build_dir)
        _run(["make", f"-j{max(1, jobs)}", *BINARIES], cwd=build_dir)
        for name in BINARIES:
            built = build_dir / name
            if not built.is_file():
                raise RuntimeError(f"build finished but {built} is missing")
            target = dest / name
            staged = dest / f".{name}.tmp"
            shutil.copy2(built, staged)
            os.replace(staged, target)
    binary = dest / "fast_align"
    log.info("built %s", binary)
    return binary


def main(ctx) -> None:
    """Rule entry point: params {source, commit}; output {binary} (``atools`` is written beside it)."""
    out = Path(ctx.output["binary"])
    built = build(ctx.params["source"], ctx.params.get("commit"), out.parent, jobs=ctx.threads)
    if built.resolve() != out.resolve():
        shutil.copy2(built, out)
