"""The reproducibility report: every published number, its reproduction and its status.

Statuses:

``match``
    reproduced at the printed precision;
``differs``
    not reproduced, and ``data/discrepancies.csv`` explains why (``explanation`` key);
``not run (data file missing)``
    the table needs a data file that is absent (the explanation says how to get it);
``UNEXPLAINED DIFFERENCE``
    not reproduced and not explained (a failure);
``EXPLAINED BUT MATCHES``
    explained as a difference but now reproduced (a failure: remove the explanation).

>>> report = reproducibility_report(["fox-re-anova-icc"])
>>> report[["table_id", "row", "status"]].values.tolist()
[['fox-re-anova-icc', 'rho', 'match']]
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from lmmlib import BoundaryWarning, InputError

from .data import DataFileMissingError
from .published import REASONS, discrepancies, published_values
from .reproductions import REPRODUCERS, clear_caches, reproduce

MATCH, DIFFERS, NOT_RUN = "match", "differs", "not run (data file missing)"
UNEXPLAINED, STALE = "UNEXPLAINED DIFFERENCE", "EXPLAINED BUT MATCHES"
#: statuses that make the report fail
FAILURES = (UNEXPLAINED, STALE)
DECKS = {"fox-lmm": "Random-effects models (HSB)", "anderson-clustered": "Models for clustered data (NELS:88)"}
COLUMNS = ["lecture", "table_id", "row", "column", "published", "decimals", "rule", "reproduced",
           "at printed precision", "status", "explanation", "explanation text"]


def reproducibility_report(tables: Sequence[str] | None = None,
                           progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    """Recompute the published tables (all, or *tables*) and give every published number a status.

    *progress*, if given, is called as ``progress(done, total, table_id)`` before each table.
    Fits that land on the boundary of the parameter space (such as the lecture's model
    without random intercepts) are listed in ``report.attrs["boundary"]``.
    """
    published = published_values()
    table_ids = list(dict.fromkeys(published["table_id"])) if tables is None else list(tables)
    unknown = [t for t in table_ids if t not in REPRODUCERS]
    if unknown:
        raise InputError(f"unknown table ids {unknown}; known: {', '.join(sorted(REPRODUCERS))}")
    texts = discrepancies().set_index(["table_id", "row", "column"])["explanation"]
    clear_caches()   # recompute everything, so that every fit (and its boundary note) is fresh
    frames, boundary = [], []
    for done, table_id in enumerate(table_ids):
        if progress:
            progress(done, len(table_ids), table_id)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", BoundaryWarning)
                frames.append(reproduce(table_id).assign(table_id=table_id, missing=""))
            boundary += [f"{table_id}: {w.message}" for w in caught if issubclass(w.category, BoundaryWarning)]
        except DataFileMissingError as missing:
            rows = published[published["table_id"] == table_id]
            frames.append(pd.DataFrame({
                "row": rows["row"], "column": rows["column"], "published": rows["published"],
                "reproduced": np.nan, "at printed precision": "", "rule": rows["rule"], "match": False,
                "reason": "", "table_id": table_id, "missing": str(missing)}))
    if progress:
        progress(len(table_ids), len(table_ids), "")
    report = pd.concat(frames, ignore_index=True)
    report = report.merge(published[["table_id", "row", "column", "deck", "decimals"]],
                          on=["table_id", "row", "column"], how="left")
    report["lecture"] = report["deck"].map(DECKS)
    report["status"] = [_status(match, reason, missing) for match, reason, missing
                        in zip(report["match"], report["reason"], report["missing"])]
    report["explanation"] = np.where(report["missing"] != "", "data-file-missing", report["reason"])
    report["explanation text"] = [
        missing or (texts.get((t, r, c), "") if reason else "")
        for t, r, c, reason, missing in zip(report["table_id"], report["row"], report["column"],
                                            report["reason"], report["missing"])]
    report = report[COLUMNS]
    report.attrs["boundary"] = boundary
    return report


def _status(match: bool, reason: str, missing: str) -> str:
    if missing:
        return NOT_RUN
    if match:
        return STALE if reason else MATCH
    return DIFFERS if reason else UNEXPLAINED


def summary(report: pd.DataFrame) -> pd.DataFrame:
    """Counts of published numbers per lecture and status, with a total row."""
    counts = report.groupby(["lecture", "status"]).size().unstack(fill_value=0)
    counts.loc["all lectures"] = counts.sum()
    counts["published numbers"] = counts.sum(axis=1)
    return counts


def differences_by_reason(report: pd.DataFrame) -> pd.DataFrame:
    """How many numbers differ for each explanation key, with the key's short description."""
    differing = report[report["status"] == DIFFERS]
    counts = differing.groupby("explanation").size().rename("numbers")
    return pd.DataFrame({"numbers": counts, "meaning": [REASONS[k] for k in counts.index]})


def failed(report: pd.DataFrame) -> bool:
    """True when some number differs without an explanation, or is explained but matches."""
    return bool(report["status"].isin(FAILURES).any())
