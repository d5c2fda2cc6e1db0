"""The numbers printed in the lectures, and their comparison with the book's reproductions.

``published_tables.csv`` (package data of :mod:`lmmbook`) holds one row per published number:

``table_id``   short id of the table (e.g. ``fox-re-anova``)
``deck``       lecture it comes from (``fox-lmm`` or ``anderson-clustered``)
``slide``      title of the slide that prints it
``row``, ``column``  the cell of the table (``row`` uses plain-text symbols: beta_1, psi_1, sigma)
``published``  the value exactly as printed (``12.637``, ``-23,357.12``, ``.008``, ``< .0001``)
``decimals``   number of decimals printed (for e-notation, of the mantissa)
``rule``       how the lecture went from the full value to the printed one:
               ``round`` (to nearest) or ``truncate`` (digits cut off)

``discrepancies.csv`` lists the published numbers that the book does not
reproduce, each with a ``reason`` key and a written ``explanation``.  A comparison
marks every number ``match`` or ``differs``; the tests require that the numbers
that differ are exactly those explained.

>>> from lmmbook.published import published_values
>>> first = published_values("fox-re-anova").iloc[0]
>>> first["row"], first["column"], first["published"], float(first["value"])
('beta_1', 'ML Estimate', '12.637', 12.637)
"""
from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from lmmlib import InputError

PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data"

PUBLISHED_TABLES_FILE: Path = PACKAGE_DATA_DIR / "published_tables.csv"
DISCREPANCIES_FILE: Path = PACKAGE_DATA_DIR / "discrepancies.csv"
COLUMNS = ["table_id", "deck", "slide", "row", "column", "published", "decimals", "rule"]
DISCREPANCY_COLUMNS = ["table_id", "row", "column", "reason", "explanation"]
RULES = ("round", "truncate")
#: Why a published number may differ from the book's: key -> short description.
REASONS = {
    "flat-likelihood": "the likelihood is nearly flat there; the lecture's optimizer stopped elsewhere on the ridge",
    "wrong-models": "the lecture's statistic compares a different pair of models",
    "rounded-inputs": "the lecture computed it from rounded intermediate values",
    "truncated": "the lecture truncated rather than rounded",
    "lecture-slip": "a slip in the lecture (a wrong label or value)",
    "different-variable": "the lecture used a differently defined variable",
}

_NUMBER = re.compile(r"^(?P<relation><|>|≃)?\s*(?P<number>[-+]?(\d{1,3}(,\d{3})+|\d*)(\.\d+)?(e[-+]?\d+)?)$",
                     re.IGNORECASE)


def parse_printed(text: str) -> tuple[str, float]:
    """Split a printed number into its relation ('', '<', '>'; '≃' counts as '') and its value.

    >>> parse_printed("-23,357.12")
    ('', -23357.12)
    >>> parse_printed("< .0001")
    ('<', 0.0001)
    """
    match = _NUMBER.match(str(text).strip())
    if not match or not any(ch.isdigit() for ch in match.group("number")):
        raise InputError(f"cannot read {text!r} as a printed number (expected e.g. 12.637, -23,357.12, "
                         "'.008' or '< .0001')")
    relation = match.group("relation") or ""
    return ("" if relation == "≃" else relation), float(match.group("number").replace(",", ""))


def printed_decimals(text: str) -> int:
    """Number of decimals shown in a printed number: ``printed_decimals('.008') == 3``."""
    number = str(text).split("e")[0].split("E")[0]
    return len(number.split(".")[1]) if "." in number else 0


def published_values(table_id: str | None = None) -> pd.DataFrame:
    """Published numbers (all, or one table's) with the parsed ``relation`` and ``value``."""
    table = pd.read_csv(PUBLISHED_TABLES_FILE, dtype={"published": str, "decimals": int})
    if table_id is not None:
        if table_id not in set(table["table_id"]):
            known = ", ".join(sorted(set(table["table_id"])))
            raise InputError(f"no published table {table_id!r} in {PUBLISHED_TABLES_FILE.name}; known: {known}")
        table = table[table["table_id"] == table_id].reset_index(drop=True)
    parsed = table["published"].map(parse_printed)
    table["relation"] = parsed.map(lambda p: p[0])
    table["value"] = parsed.map(lambda p: p[1])
    return table


def discrepancies(table_id: str | None = None) -> pd.DataFrame:
    """The explained discrepancies (all, or one table's), one row per published number."""
    table = pd.read_csv(DISCREPANCIES_FILE, dtype=str)
    unknown = sorted(set(table["reason"]) - set(REASONS))
    if unknown:
        raise InputError(f"{DISCREPANCIES_FILE.name} uses unknown reasons {unknown}; known: {sorted(REASONS)}")
    if table_id is not None:
        table = table[table["table_id"] == table_id]
    return table.reset_index(drop=True)


def explain_differences(table_ids: str | Sequence[str], width: int = 78) -> str:
    """The recorded reasons why published numbers of *table_ids* are not reproduced.

    Each explanation appears once, followed by the cells (table: row / column) it
    covers; an empty string means every number of these tables is reproduced.

    >>> print(explain_differences("fox-cao-refit", width=60))  # doctest: +ELLIPSIS
    [flat-likelihood] The estimate lies just above a rounding
        boundary ...
        fox-cao-refit: psi_1 / REML Estimate
    """
    ids = [table_ids] if isinstance(table_ids, str) else list(table_ids)
    unknown = sorted(set(ids) - set(published_values()["table_id"]))
    if unknown:
        raise InputError(f"no published tables {unknown} in {PUBLISHED_TABLES_FILE.name}")
    table = discrepancies()
    table = table[table["table_id"].isin(ids)]
    blocks = []
    for (reason, explanation), cells in table.groupby(["reason", "explanation"], sort=False):
        lines = textwrap.wrap(f"[{reason}] {explanation}", width=width, subsequent_indent="    ")
        for table_id, rows in cells.groupby("table_id", sort=False):
            listed = "; ".join(f"{r} / {c}" for r, c in zip(rows["row"], rows["column"]))
            lines += textwrap.wrap(f"{table_id}: {listed}", width=width, initial_indent="    ",
                                   subsequent_indent="        ")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def to_printed_precision(value: float, decimals: int, rule: str = "round") -> float:
    """*value* rounded (or truncated toward zero) to *decimals* decimals.

    >>> to_printed_precision(2.93509, 3), to_printed_precision(45.7391, 2, "truncate")
    (2.935, 45.73)
    """
    if rule not in RULES:
        raise InputError(f"rule must be one of {RULES}, not {rule!r}")
    if rule == "round":
        return round(value, decimals)
    scale = 10 ** decimals
    return math.trunc(value * scale) / scale


def compare_with_published(table_id: str, reproduced: pd.DataFrame) -> pd.DataFrame:
    """Set the reproduced values of one table beside the published ones.

    *reproduced* is indexed by the published ``row`` labels and has the published
    ``column`` names as columns.  Returns one row per published number with the
    published text, the reproduced value, the reproduced value at the printed
    precision (by the row's rule), ``match`` (True when they agree) and, for numbers
    listed in ``discrepancies.csv``, the ``reason`` they differ (else '').

    >>> import pandas as pd
    >>> mine = pd.DataFrame({"REML Estimate": [0.18035]}, index=["rho"])
    >>> compare_with_published("fox-re-anova-icc", mine)["match"].tolist()
    [True]
    """
    published = published_values(table_id)
    explained = discrepancies(table_id).set_index(["row", "column"])["reason"].to_dict()
    rows = []
    for item in published.itertuples(index=False):
        if item.row not in reproduced.index or item.column not in reproduced.columns:
            raise InputError(f"the reproduction of {table_id!r} has no value for row {item.row!r}, "
                             f"column {item.column!r}; it must cover every published number")
        value = float(reproduced.loc[item.row, item.column])
        scientific = "e" in item.published.lower()
        if scientific:   # decimals count the mantissa's digits: compare significant figures
            printed = f"{value:.{item.decimals}e}"
            at_precision = float(printed)
        else:
            at_precision = to_printed_precision(value, item.decimals, item.rule)
            printed = f"{at_precision:.{item.decimals}f}"
        if item.relation == "<":
            match = value < item.value
        elif item.relation == ">":
            match = value > item.value
        elif scientific:
            match = at_precision == float(f"{item.value:.{item.decimals}e}")
        else:
            match = abs(at_precision - item.value) < 0.5 * 10 ** (-item.decimals - 3)
        rows.append({"row": item.row, "column": item.column, "published": item.published,
                     "reproduced": value, "at printed precision": printed,
                     "rule": item.rule, "match": bool(match),
                     "reason": explained.get((item.row, item.column), "")})
    result = pd.DataFrame(rows)
    result.attrs["table_id"] = table_id
    return result
