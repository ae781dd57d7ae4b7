"""Data for the course, all offline except the optional Tatoeba download.

Submodules (imported on first use, so `import seq2bert.data` stays light):
`dates` (date normalisation pairs), `toy` (toy English -> French-like translation),
`text` (tokenisation, vocabularies, padding, batching), `tatoeba` (real English–French pairs),
`subwords` (subword tokenizers for real text).
"""
from __future__ import annotations

import importlib
from types import ModuleType

_SUBMODULES = ("dates", "toy", "text", "tatoeba", "subwords")
__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    """Import a submodule the first time `seq2bert.data.<name>` is used."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
