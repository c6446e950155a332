"""Fixtures of the translate tests: a local LibreTranslate-compatible server, a tiny random seq2seq
model saved as an HF folder, a deterministic counting provider and sentence artifacts."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline_steps.io import write_artifact
from pipeline_steps.schemas import SENTENCES

# --- sentences ---------------------------------------------------------------------------------


def sentences_frame(token_lists: list[list[str]], lang: str = "en") -> pd.DataFrame:
    n = len(token_lists)
    return pd.DataFrame(
        {
            "id": [f"train-{lang}-{i:06d}" for i in range(n)],
            "lang": lang,
            "split": "train",
            "doc_id": None,
            "tokens": token_lists,
            "tags": [["O"] * len(t) for t in token_lists],
            "source": "train.conll",
            "line": [1 + 3 * i for i in range(n)],
        }
    )


def write_sentences(path: Path, token_lists: list[list[str]], lang: str = "en") -> Path:
    write_artifact(sentences_frame(token_lists, lang), path, SENTENCES)
    return path


# --- a deterministic provider that counts what it is asked -------------------------------------


class ReverseWordsProvider:
    """Translates by reversing the word order and upper-casing: a pure function, calls recorded."""

    name = "reverse"
    cacheable = True

    def __init__(self, tag: str = "v1"):
        self.tag = tag
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def identity(self, src_lang: str, tgt_lang: str) -> str:
        return f"reverse:{self.tag}"

    @staticmethod
    def expected(text: str) -> str:
        return " ".join(reversed(text.split())).upper()

    def translate(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str]:
        with self._lock:
            self.calls.append(list(texts))
        return [self.expected(t) for t in texts]

    @property
    def texts_asked(self) -> list[str]:
        return [t for call in self.calls for t in call]


# --- a LibreTranslate-compatible server --------------------------------------------------------

EN_ES = {
    "the": "la",
    "house": "casa",
    "is": "es",
    "red": "roja",
    "dog": "perro",
    "a": "un",
    "big": "grande",
    "john": "juan",
    "lives": "vive",
    "in": "en",
}


def fake_translate(text: str) -> str:
    """Word-by-word dictionary translation; unknown words are kept."""
    return " ".join(EN_ES.get(w.lower(), w) for w in text.split())


@dataclass
class ServerState:
    api_key: str | None = None
    # Actions for successive requests, then "ok": "ok", an int status (JSON error body), "hang"
    # (wait until released, so the client times out), "echo-key" (400 echoing the key it got).
    plan: list[Any] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)  # bodies without the api_key
    queries: list[str] = field(default_factory=list)  # the query string of each request
    authorizations: list[str | None] = field(default_factory=list)  # each Authorization header
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence access logs
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        st = self.state
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        key = body.pop("api_key", None)
        path, _, query = self.path.partition("?")
        with st.lock:
            st.requests.append(body)
            st.queries.append(query)
            st.authorizations.append(self.headers.get("Authorization"))
            action = st.plan[len(st.requests) - 1] if len(st.requests) <= len(st.plan) else "ok"
        if path != "/translate":
            return self._reply(404, {"error": "Not Found"})
        if action == "hang":
            st.release.wait(10)
            return None
        if action == "echo-key":
            return self._reply(400, {"error": f"bad request with key {key}"})
        if isinstance(action, int):
            return self._reply(action, {"error": f"failure {action}"})
        if st.api_key is not None and key != st.api_key:
            return self._reply(403, {"error": "Invalid API key"})
        if body.get("format") != "text" or not body.get("source") or not body.get("target"):
            return self._reply(400, {"error": "Invalid request: missing source/target/format"})
        q = body.get("q")
        if isinstance(q, list):
            return self._reply(200, {"translatedText": [fake_translate(t) for t in q]})
        return self._reply(200, {"translatedText": fake_translate(q)})


class FakeLibreTranslate:
    """A real HTTP server on 127.0.0.1 (free port) in a thread: ``with FakeLibreTranslate() as srv``."""

    def __init__(self, api_key: str | None = None, plan: list[Any] | None = None):
        self.state = ServerState(api_key=api_key, plan=list(plan or []))
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.server.handle_error = lambda request, client_address: None  # client gone after a timeout
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests

    def __enter__(self) -> FakeLibreTranslate:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.state.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


# --- a tiny random seq2seq model ---------------------------------------------------------------

TINY_TEXT = (
    "the house is red green a dog cat big small John lives in New York . , la casa es roja verde "
    "un perro gato grande vive en Nueva spa_Latn"
)
TINY_WORDS = TINY_TEXT.split()


def build_tiny_seq2seq(folder: Path, seed: int = 0) -> Path:
    """Save a random MarianMT model (d_model 16, 1 layer) and a WordLevel fast tokenizer in ``folder``.

    Both load back with AutoTokenizer / AutoModelForSeq2SeqLM; ``spa_Latn`` is an ordinary word of
    the vocabulary so a forced first token is visible in the decoded text.
    """
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import MarianConfig, MarianMTModel, PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in TINY_WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=64
    )
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
        forced_eos_token_id=1,
        init_std=1.0,  # large random weights: outputs depend visibly on the input
        dropout=0.0,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
