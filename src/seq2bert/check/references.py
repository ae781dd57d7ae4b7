"""Where the course's own implementations of the exercises live, per framework."""
from __future__ import annotations

from seq2bert.units import FRAMEWORKS

_PACKAGES = {"pytorch": "seq2bert.torch", "tensorflow": "seq2bert.tf"}


def references(function: str, module: str = "ops") -> dict[str, str]:
    """{"pytorch": "seq2bert.torch.<module>:<function>", "tensorflow": "seq2bert.tf.<module>:<function>"}."""
    return {framework: f"{_PACKAGES[framework]}.{module}:{function}" for framework in FRAMEWORKS}
