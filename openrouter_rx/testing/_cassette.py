"""Replaying recorded traffic: VCR-style YAML cassettes and folders of recorded files."""

from __future__ import annotations

import base64
import codecs
import importlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ._replies import Reply, serve_recorded
from ._wire import ResponseWriter

__all__ = ["CassetteReply", "RecordedFolderReply", "RecordedInteraction", "load_cassette"]

_HOP_BY_HOP = frozenset({"transfer-encoding", "content-length", "connection", "keep-alive", "content-encoding"})


@dataclass(frozen=True)
class RecordedInteraction:
    """One recorded request/response pair."""

    status: int
    headers: dict[str, list[str]]
    body: bytes
    request_body: bytes | None
    method: str = "GET"
    uri: str = ""
    status_message: str = ""
    request_headers: dict[str, list[str]] = field(default_factory=dict)
    recorded_at: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        lowered = name.lower()
        for key, values in self.headers.items():
            if key.lower() == lowered and values:
                return values[0]
        return None

    @property
    def content_type(self) -> str:
        """The response ``Content-Type`` (empty if none was recorded)."""
        return self.header("Content-Type") or ""

    @property
    def request_json(self) -> Any:
        """The request body as JSON, or ``None``."""
        if not self.request_body:
            return None
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None

    def serve(self, out: ResponseWriter, pace: float | None = None) -> None:
        """Write this recorded response (SSE bodies event by event, ``pace`` seconds apart)."""
        serve_recorded(out, self.status, self.reply_headers(), self.body, pace=pace, reason=self.status_message or None)

    def reply_headers(self) -> list[tuple[str, str]]:
        """Response headers to replay: all recorded ones except hop-by-hop framing headers.

        ``Content-Encoding`` is kept only when the stored body really is gzip data.
        """
        pairs = []
        for name, values in self.headers.items():
            lowered = name.lower()
            if lowered == "content-encoding" and self.body.startswith(b"\x1f\x8b"):
                pairs += [(name, value) for value in values]
            elif lowered not in _HOP_BY_HOP:
                pairs += [(name, value) for value in values]
        return pairs


def _import_yaml() -> ModuleType:
    try:
        return importlib.import_module("yaml")
    except ImportError as exc:
        raise ImportError(
            "Reading YAML cassettes needs PyYAML, which is not installed: pip install 'openrouter-rx[yaml]'"
            " (from a checkout: pip install -e '.[yaml]')"
        ) from exc


def _encode(text: str, encoding: Any) -> bytes:
    name = str(encoding or "utf-8")
    if name.upper() in ("ASCII-8BIT", "BINARY"):
        name = "latin-1"
    try:
        codecs.lookup(name)
        return text.encode(name)
    except (LookupError, UnicodeEncodeError):
        return text.encode("utf-8")


def _body_bytes(node: Any) -> bytes:
    if node is None:
        return b""
    if isinstance(node, bytes):
        return node
    if isinstance(node, str):
        return node.encode("utf-8")
    if isinstance(node, Mapping):
        if node.get("base64_string") is not None:
            return base64.b64decode(str(node["base64_string"]))
        value = node.get("string")
        if isinstance(value, bytes):
            return value
        if value is None:
            return b""
        return _encode(str(value), node.get("encoding"))
    raise ValueError(f"unsupported cassette body: {type(node).__name__}")


def _header_lists(node: Any) -> dict[str, list[str]]:
    if not isinstance(node, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for name, values in node.items():
        if isinstance(values, (list, tuple)):
            out[str(name)] = [str(v) for v in values]
        elif values is not None:
            out[str(name)] = [str(values)]
    return out


def _interaction(entry: Mapping[str, Any]) -> RecordedInteraction:
    request = entry.get("request") or {}
    response = entry.get("response") or {}
    status_node = response.get("status")
    if isinstance(status_node, Mapping):
        status, message = int(status_node.get("code", 200)), str(status_node.get("message") or "")
    else:
        status, message = int(status_node or 200), ""
    request_body = _body_bytes(request.get("body")) if request.get("body") is not None else None
    recorded_at = entry.get("recorded_at")
    return RecordedInteraction(
        status=status,
        headers=_header_lists(response.get("headers")),
        body=_body_bytes(response.get("body")),
        request_body=request_body,
        method=str(request.get("method") or "GET").upper(),
        uri=str(request.get("uri") or ""),
        status_message=message,
        request_headers=_header_lists(request.get("headers")),
        recorded_at=str(recorded_at) if recorded_at is not None else None,
    )


def load_cassette(path: str | os.PathLike[str]) -> list[RecordedInteraction]:
    """Read a VCR-style YAML cassette (``http_interactions:``, or vcrpy's ``interactions:``).

    Response bodies are given as ``{encoding, string}`` or ``{base64_string}``; Ruby's
    ``!binary`` tag is understood. Needs PyYAML (``pip install openrouter-rx[yaml]``).
    """
    yaml = _import_yaml()

    loader_class: Any = type("_CassetteLoader", (yaml.SafeLoader,), {})

    def _binary(loader: Any, node: Any) -> bytes:
        return base64.b64decode(str(loader.construct_scalar(node)))

    loader_class.add_constructor("!binary", _binary)
    loader_class.add_constructor("tag:yaml.org,2002:binary", _binary)
    document = yaml.load(Path(path).read_text("utf-8"), Loader=loader_class)
    if not isinstance(document, Mapping):
        raise ValueError(f"{path}: not a cassette (expected a mapping at the top level)")
    entries = document.get("http_interactions", document.get("interactions"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: no http_interactions list")
    return [_interaction(entry) for entry in entries if isinstance(entry, Mapping)]


@dataclass
class CassetteReply(Reply):
    """Replays one interaction of a YAML cassette: status, headers and body exactly as recorded.

    With ``interaction=None`` each use serves the next unused interaction, in order (enqueue the
    same object several times, or return it from a responder, to replay a whole cassette).
    SSE bodies are written event by event, ``pace`` seconds apart.
    """

    path: str | os.PathLike[str]
    _: KW_ONLY
    interaction: int | None = None
    pace: float | None = None
    _loaded: list[RecordedInteraction] | None = field(default=None, init=False, repr=False)
    _next: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _import_yaml()  # a missing PyYAML is an ImportError here, not a 500 from the fake server later

    @property
    def interactions(self) -> list[RecordedInteraction]:
        """All interactions of the cassette (loaded once)."""
        with self._lock:
            if self._loaded is None:
                self._loaded = load_cassette(self.path)
            return self._loaded

    @property
    def remaining(self) -> int:
        """How many interactions have not been served yet (in ``interaction=None`` mode)."""
        return max(0, len(self.interactions) - self._next)

    def take(self) -> RecordedInteraction:
        """The interaction to serve now (advancing the cursor when ``interaction`` is ``None``)."""
        interactions = self.interactions
        if self.interaction is not None:
            return interactions[self.interaction]
        with self._lock:
            if self._next >= len(interactions):
                raise IndexError(f"cassette {os.fspath(self.path)} has no unused interactions left")
            self._next += 1
            return interactions[self._next - 1]

    def write(self, out: ResponseWriter) -> None:
        """Serve the interaction."""
        self.take().serve(out, self.pace)


@dataclass
class RecordedFolderReply(Reply):
    """Serves one folder of recorded traffic (``meta.json`` plus ``body.sse`` or ``body.json``).

    ``meta.json`` gives ``status``, ``content_type`` and ``response_headers`` (name to list of
    values); framing headers such as ``Transfer-Encoding`` are dropped and the body is replayed
    byte for byte, SSE bodies event by event ``pace`` seconds apart.
    """

    path: str | os.PathLike[str]
    pace: float | None = None

    def load(self) -> RecordedInteraction:
        """The folder's recorded response as a :class:`RecordedInteraction`."""
        folder = Path(self.path)
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        name = meta.get("body_file")
        body_file = (
            folder / name
            if name
            else next(
                (folder / n for n in ("body.sse", "body.json", "body.txt", "body") if (folder / n).is_file()), None
            )
        )
        body = body_file.read_bytes() if body_file is not None and body_file.is_file() else b""
        headers = _header_lists(meta.get("response_headers"))
        if not any(k.lower() == "content-type" for k in headers) and meta.get("content_type"):
            headers["Content-Type"] = [str(meta["content_type"])]
        request_file = folder / "request.json"
        request_body = request_file.read_bytes() if request_file.is_file() else None
        return RecordedInteraction(
            status=int(meta.get("status", 200)),
            headers=headers,
            body=body,
            request_body=request_body,
            method=str(meta.get("method") or "POST"),
            uri=str(meta.get("uri") or ""),
            status_message=str(meta.get("status_message") or ""),
            recorded_at=meta.get("recorded_at"),
        )

    def write(self, out: ResponseWriter) -> None:
        """Serve the recorded response."""
        self.load().serve(out, self.pace)
