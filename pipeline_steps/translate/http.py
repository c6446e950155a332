"""``http`` provider: a LibreTranslate-compatible web API.

``POST {url}/translate`` with JSON ``{"q": [...], "source", "target", "format": "text", "api_key"}``
answers ``{"translatedText": [...]}``. Batches of ``batch_size`` sentences; 5xx answers, 429,
timeouts and connection errors are retried ``retries`` times with exponential backoff
(``backoff * 2**attempt`` seconds); any other 4xx is an immediate, clear error. The API key is read
from the environment variable named by ``api_key_env`` and appears in no log, error or cache row.
The ``url`` may carry credentials (``http://user:token@host:5000/path?key=abc``): requests use it
as given, but everything logged or stored (identity, errors, the ``provider`` column) has the user
info and query string removed (``base.public_url``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import requests
from tqdm import tqdm

from pipeline_steps import config_schema
from pipeline_steps.errors import ConfigError
from pipeline_steps.translate.base import (
    TranslationError,
    public_url,
    redact_urls,
    register,
    take_options,
)

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = config_schema.defaults("translate.http")


@register("http")
class HTTPProvider:
    """Batched requests to a LibreTranslate-compatible ``/translate`` endpoint."""

    name = "http"
    cacheable = True

    def __init__(self, options: dict[str, Any], *, threads: int = 1):
        opts = take_options("http", options, DEFAULTS, required=("url",))
        parts = urlsplit(str(opts["url"]))
        path = parts.path.rstrip("/")
        path = path if path.endswith("/translate") else path + "/translate"
        self.url = urlunsplit(parts._replace(path=path))  # what is requested, credentials included
        try:
            self.public_url = public_url(self.url)  # what is logged and stored
        except ValueError as exc:
            raise ConfigError(f"translate.http.url: not a valid URL ({exc})") from None
        self.timeout = float(opts["timeout"])
        self.batch_size = int(opts["batch_size"])
        self.retries = int(opts["retries"])
        self.backoff = float(opts["backoff"])
        if self.batch_size < 1 or self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ConfigError(
                "translate.http: expected batch_size >= 1, retries >= 0, timeout > 0, backoff >= 0"
            )
        self.api_key_env: str | None = opts["api_key_env"]
        self._api_key: str | None = None
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError(
                    f"translate.http.api_key_env: environment variable {self.api_key_env} is not set or empty"
                )
            self._api_key = key
        # Replaced by *** in error texts; short user names / query values (e.g. ?v=1) are not secrets.
        secrets = {parts.password, parts.query, self._api_key}
        secrets |= {v for v in (parts.username, *(v for _, v in parse_qsl(parts.query))) if len(v or "") >= 4}
        self._secrets = sorted((x for x in secrets if x), key=len, reverse=True)
        self.session = requests.Session()
        self.requests_made = 0

    def __repr__(self) -> str:
        return f"HTTPProvider(url={self.public_url!r}, api_key_env={self.api_key_env!r})"

    def identity(self, src_lang: str, tgt_lang: str) -> str:
        return f"http:{self.public_url}"

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact_urls(text)

    def _post(self, batch: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        payload: dict[str, Any] = {"q": batch, "source": src_lang, "target": tgt_lang, "format": "text"}
        if self._api_key:
            payload["api_key"] = self._api_key
        for attempt in range(self.retries + 1):
            self.requests_made += 1
            try:
                resp = self.session.post(self.url, json=payload, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                reason = f"{type(exc).__name__}: {self._redact(str(exc))[:300]}"
            else:
                if resp.status_code < 400:
                    return self._parse(resp, len(batch))
                reason = f"HTTP {resp.status_code}: {self._error_text(resp)}"
                if resp.status_code < 500 and resp.status_code != 429:
                    raise TranslationError(f"{self.public_url}: {reason}")
            if attempt == self.retries:
                raise TranslationError(
                    f"{self.public_url}: giving up after {attempt + 1} attempts; last: {reason}"
                )
            delay = self.backoff * 2**attempt
            log.warning(
                "%s: %s; retry %d/%d in %.2f s", self.public_url, reason, attempt + 1, self.retries, delay
            )
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _error_text(self, resp: requests.Response) -> str:
        try:
            body = resp.json()
            text = str(body.get("error", body)) if isinstance(body, dict) else str(body)
        except ValueError:
            text = resp.text
        return self._redact(text)[:300]

    def _parse(self, resp: requests.Response, n: int) -> list[str]:
        try:
            body = resp.json()
        except ValueError as exc:
            text = self._redact(resp.text)[:200]
            raise TranslationError(f"{self.public_url}: answer is not JSON: {text!r}") from exc
        out = body.get("translatedText") if isinstance(body, dict) else None
        if isinstance(out, str) and n == 1:
            out = [out]
        if not isinstance(out, list) or len(out) != n or not all(isinstance(t, str) for t in out):
            raise TranslationError(
                f"{self.public_url}: expected 'translatedText' with {n} strings, "
                f"got {self._redact(str(body))[:200]}"
            )
        return out

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        out: list[str] = []
        starts = range(0, len(texts), self.batch_size)
        for start in tqdm(starts, desc="http translate", unit="batch", file=sys.stderr, mininterval=5):
            out += [t.strip() for t in self._post(texts[start : start + self.batch_size], src_lang, tgt_lang)]
        return out
