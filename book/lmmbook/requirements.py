"""Which chapters need data that are not shipped, and whether those data are here.

A chapter declares its needs in its notebook metadata::

    "metadata": {"lmmlib": {"requires": ["nels88"]}, ...}

The test suite skips such chapters, and the book build renders them from their
stored outputs instead of executing them, when the data cannot be found; both
say why and what to do.

>>> missing_data_message("nels88") is None or "imm10.dta" in missing_data_message("nels88")
True
"""
from __future__ import annotations

import json
from pathlib import Path

from lmmlib import InputError

from .data import DataFileMissingError, find_nels88

#: data set name -> function that raises DataFileMissingError when the data are absent
_FINDERS = {"nels88": find_nels88}


def missing_data_message(name: str) -> str | None:
    """None when data set *name* is available, else the loader's message saying what to do."""
    if name not in _FINDERS:
        raise InputError(f"unknown data set {name!r}; known: {sorted(_FINDERS)}")
    try:
        _FINDERS[name]()
    except DataFileMissingError as missing:
        return str(missing)
    return None


def notebook_requirements(path: str | Path) -> list[str]:
    """The data sets a chapter notebook declares in its metadata (``lmmlib.requires``)."""
    metadata = json.loads(Path(path).read_text(encoding="utf-8")).get("metadata", {})
    return list(metadata.get("lmmlib", {}).get("requires", []))


def unmet_requirements(path: str | Path) -> list[str]:
    """Messages for the data a notebook needs but that cannot be found (empty when all are here)."""
    messages = (missing_data_message(name) for name in notebook_requirements(path))
    return [message for message in messages if message]
