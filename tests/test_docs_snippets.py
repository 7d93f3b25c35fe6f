"""Every ``python`` block of the docs pages runs, in order, as written (offline, fake server)."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_the_snippets_of_a_docs_page_run_in_order(page: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{page.name} has no python snippet"
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    sys.modules[module.__name__] = module  # dataclasses and pickling look the module up
    namespace: dict[str, Any] = module.__dict__
    try:
        for number, block in enumerate(blocks, 1):
            # dont_inherit: the snippets run as a user's file would, without this module's __future__ imports
            exec(compile(block, f"{page.name} (snippet {number})", "exec", dont_inherit=True), namespace)
    finally:
        sys.modules.pop(module.__name__, None)
        for name in ("client", "fake"):  # never leave a server or a pool behind when a snippet fails
            resource = namespace.get(name)
            closer = getattr(resource, "close", None) or getattr(resource, "stop", None)
            if callable(closer):
                closer()
