"""The translation provider interface and the registry that builds providers by name.

A provider turns a batch of source sentences into target sentences, one output per input, in
order. Providers are built from the ``options`` mapping of the ``translate`` config section
(``make_provider(name, options)``); unknown option keys are a ``ConfigError`` so typos surface
before any sentence is translated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import pandas as pd

from pipeline_steps.errors import ArtifactError, ConfigError, XltError


class TranslationError(XltError):
    """A provider failed to translate (tool crashed, server refused, output did not map back)."""


@runtime_checkable
class Provider(Protocol):
    """Translates sentences; ``identity`` names the model/pair so two systems never share cache rows."""

    name: str
    cacheable: bool

    def identity(self, src_lang: str, tgt_lang: str) -> str: ...

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]: ...


Factory = Callable[..., Provider]
_REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Class/function decorator: make ``name`` buildable with ``make_provider``."""

    def deco(factory: Factory) -> Factory:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_providers() -> list[str]:
    return sorted(_REGISTRY)


def make_provider(name: str, options: Mapping[str, Any] | None = None, *, threads: int = 1) -> Provider:
    """Build the provider registered as ``name`` from its ``options``."""
    if name not in _REGISTRY:
        raise ConfigError(
            f"translate.provider: unknown provider {name!r}; choose one of {available_providers()}"
        )
    return _REGISTRY[name](dict(options or {}), threads=threads)


def take_options(
    provider: str, options: Mapping[str, Any], defaults: Mapping[str, Any], required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Merge ``options`` over ``defaults``; reject unknown keys and missing ``required`` ones."""
    unknown = sorted(set(options) - set(defaults) - set(required))
    if unknown:
        allowed = sorted(set(defaults) | set(required))
        raise ConfigError(f"translate.{provider}: unknown option(s) {unknown}; allowed: {allowed}")
    missing = [k for k in required if options.get(k) in (None, "")]
    if missing:
        raise ConfigError(f"translate.{provider}: missing required option(s) {missing}")
    return {**defaults, **options}


def check_output(provider: str, texts: list[str], out: list[Any]) -> list[str]:
    """Check that a provider returned one string per input sentence."""
    if len(out) != len(texts):
        raise TranslationError(f"{provider}: got {len(out)} translations for {len(texts)} sentences")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TranslationError(f"{provider}: translation {i} is {type(t).__name__}, not a string")
    return list(out)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def public_url(url: str) -> str:
    """``url`` without user info, query string and fragment: what may be logged or stored."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_source_lang(frame: pd.DataFrame, path: str, src_lang: str) -> None:
    """Every row of an artifact to translate must be in ``src_lang`` (an ArtifactError names the row)."""
    wrong = (frame["lang"] != src_lang).to_numpy().nonzero()[0]
    if len(wrong):
        row = int(wrong[0])
        raise ArtifactError(path, row, "lang", f"{frame['lang'].iloc[row]!r} is not src_lang {src_lang!r}")


def redact_urls(text: str) -> str:
    """``text`` with every URL in it replaced by its ``public_url``."""
    return _URL.sub(lambda m: public_url(m.group(0)), text)
