"""seq2bert: helpers for the course "attention from Seq2Seq to BERT".

Importing this package has no side effects; notebooks call :func:`setup` explicitly.
"""
from __future__ import annotations

from seq2bert.session import Session, setup

__all__ = ["Session", "setup"]
__version__ = "0.1.0"
