"""Process-wide defaults: :class:`Settings`, :func:`configure` and :func:`settings`.

::

    import openrouter_rx as orx

    orx.configure(auto_heal_responses=True, healer_model="openai/gpt-4o-mini")
    orx.settings().healer_model          # "openai/gpt-4o-mini"
    orx.configure(reset=True)            # back to the defaults

A :class:`~openrouter_rx.StreamingClient` reads the settings once, when it is made; its own
arguments win. :class:`~openrouter_rx.Client` never reads them (it stays explicit).
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

from ._spec import Timeout
from .client import DEFAULT_MODEL

__all__ = ["DEFAULT_HEALER_MODEL", "Settings", "configure", "settings"]

DEFAULT_HEALER_MODEL = "openai/gpt-4o-mini"
"""The model that fixes invalid structured outputs unless ``healer_model`` says otherwise."""


@dataclass(frozen=True)
class Settings:
    """The process-wide defaults a :class:`~openrouter_rx.StreamingClient` starts from.

    Immutable: :func:`configure` replaces the whole object, so a reader never sees half of an
    update. The repr never shows the API key (only whether one is set).

    Attributes:
        api_key: the OpenRouter key (``None``: ``$OPENROUTER_API_KEY``, read by the Client).
        base_url: the API root (``None``: ``$OPENROUTER_BASE_URL``, else OpenRouter's, read by the Client).
        request_timeout: a number (seconds without data: the idle timeout) or a
            :class:`~openrouter_rx.Timeout`; ``None`` keeps the Client's defaults.
        site_name: sent as ``X-Title``.
        site_url: sent as ``HTTP-Referer``.
        auto_heal_responses: ask ``healer_model`` to fix a structured output that fails its schema.
        healer_model: the model that heals.
        max_heal_attempts: healer calls at most per response (>= 1).
        default_model: the model of a StreamingClient made without ``model=``.
        track_usage: give each new StreamingClient a :class:`~openrouter_rx.UsageTracker`.
        retries: retries of a request that fails before any output (0: none).
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    request_timeout: Timeout | float | None = None
    site_name: str | None = None
    site_url: str | None = None
    auto_heal_responses: bool = False
    healer_model: str = DEFAULT_HEALER_MODEL
    max_heal_attempts: int = 2
    default_model: str = DEFAULT_MODEL
    track_usage: bool = False
    retries: int = 2

    def __post_init__(self) -> None:
        if self.api_key is not None and not isinstance(self.api_key, str):
            raise TypeError(f"api_key must be a str, not {type(self.api_key).__name__}")
        for name, kind, optional in _TYPES:
            value = getattr(self, name)
            if (value is None and not optional) or (
                value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool)))
            ):
                wanted = f"{kind.__name__} or None" if optional else kind.__name__
                raise TypeError(f"{name} must be a {wanted}, not {value!r}")
        if isinstance(self.request_timeout, bool) or not (
            self.request_timeout is None or isinstance(self.request_timeout, int | float | Timeout)
        ):
            raise TypeError(f"request_timeout must be seconds or an orx.Timeout, not {self.request_timeout!r}")
        if isinstance(self.request_timeout, int | float) and not self.request_timeout > 0:
            raise ValueError(f"request_timeout must be a positive number of seconds, not {self.request_timeout!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {self.retries!r}")
        if self.max_heal_attempts < 1:
            raise ValueError(f"max_heal_attempts must be an int >= 1, not {self.max_heal_attempts!r}")

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.name != "api_key"
        )
        return f"Settings(api_key=<{'set' if self.api_key else 'unset'}>, {shown})"


_TYPES: tuple[tuple[str, type, bool], ...] = (
    ("base_url", str, True),
    ("site_name", str, True),
    ("site_url", str, True),
    ("auto_heal_responses", bool, False),
    ("healer_model", str, False),
    ("max_heal_attempts", int, False),
    ("default_model", str, False),
    ("track_usage", bool, False),
    ("retries", int, False),
)
"""(field, type, ``None`` allowed) of the settings checked in ``Settings.__post_init__`` (a bool is no int)."""

_NAMES = tuple(f.name for f in dataclasses.fields(Settings))
_lock = threading.Lock()
_current = Settings()


def settings() -> Settings:
    """The current process-wide :class:`Settings`."""
    return _current


def configure(*, reset: bool = False, **changes: Any) -> Settings:
    """Change the process-wide defaults; returns the new :class:`Settings`.

    Thread-safe: the settings are replaced as a whole. Clients already made keep what they read.

    Example::

        orx.configure(auto_heal_responses=True, healer_model="openai/gpt-4o-mini", retries=3)
        orx.configure(reset=True)                    # every default back

    Args:
        reset: start from the defaults instead of the current settings (then apply ``changes``).
        **changes: new values, by :class:`Settings` field name (``access_token``: an alias of
            ``api_key``, as in the Ruby gem).

    Raises:
        TypeError: an unknown name (the message lists the valid ones), or a value of the wrong type.
        ValueError: a value out of range (``retries < 0``, ``max_heal_attempts < 1``, ...).
    """
    if "access_token" in changes:  # the Ruby gem's name for the key
        token = changes.pop("access_token")
        if "api_key" in changes and changes["api_key"] != token:
            raise TypeError("configure() got both api_key and access_token (its alias) with different values")
        changes["api_key"] = token
    unknown = sorted(set(changes) - set(_NAMES))
    if unknown:
        raise TypeError(f"configure() got unknown setting(s) {', '.join(unknown)}; valid: {', '.join(_NAMES)}")
    global _current
    with _lock:
        base = Settings() if reset else _current
        _current = dataclasses.replace(base, **changes)
        return _current
