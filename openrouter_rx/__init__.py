"""openrouter_rx: OpenRouter streaming chat completions as cold RxPY observables."""

from ._version import __version__

__all__ = ["__version__"]
