"""Evidence for the differences between the clustered-data lecture and the book (NELS:88).

The Errata appendix of that lecture (``chapters/errata_clustered.ipynb``) explains why a
few printed numbers differ from the book's reproduction.  The computations it needs more
than once, or that would hide the argument in a long cell, are here:

* :func:`full_comparison` -- a lecture's table in full, every printed number beside the
  reproduced one, ready to display;
* :func:`explanations` -- the recorded reasons for the differences, worded for readers;
* :func:`rounding_rules` -- was a printed number rounded or truncated?
* :func:`group_summaries` and :func:`r2_search` -- which group-level variable of a data
  file could a published regression have used?
* :func:`implied_predictor_moments` -- the mean and standard deviation of the predictor
  of a published simple regression, recovered from the printed numbers alone.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .published import discrepancies, to_printed_precision
from .style import comparison_table


def full_comparison(comparison: pd.DataFrame) -> pd.DataFrame:
    """A published-versus-reproduced comparison as the Errata appendix shows it.

    The table of :func:`lmmbook.comparison_table` (one row per printed number), indexed by
    the lecture's row and column instead of row numbers, and without the table's internal
    id in its header (readers never see the ids).  *comparison* is the output of
    :func:`lmmbook.reproduce` or :func:`lmmbook.compare_with_published`.

    >>> comparison = pd.DataFrame({"row": ["rho"], "column": ["REML Estimate"], "published": ["0.180"],
    ...                            "reproduced": [0.18035], "at printed precision": ["0.180"],
    ...                            "rule": ["round"], "match": [True], "reason": [""]})
    >>> comparison.attrs["table_id"] = "fox-re-anova-icc"
    >>> shown = full_comparison(comparison)
    >>> shown.columns.tolist(), "fox-re-anova-icc" in shown.to_html()
    (['published', 'reproduced', 'at printed precision', 'match', 'reason'], False)
    """
    shown = comparison_table(comparison).set_index(["row", "column"])
    shown.columns.name = None
    return shown


def explanations(table_ids: str | Sequence[str], width: int = 76) -> str:
    """The recorded reasons why printed numbers of *table_ids* differ, for a reader.

    Like :func:`lmmbook.explain_differences`, each explanation appears once, followed by
    the cells (row / column) it covers, but without the tables' internal ids; an empty
    string means that every number of these tables is reproduced.

    >>> print(explanations("fox-cao-refit", width=60))  # doctest: +ELLIPSIS
    [flat-likelihood] The estimate lies just above a rounding
        boundary ...
        cells: psi_1 / REML Estimate
    """
    ids = [table_ids] if isinstance(table_ids, str) else list(table_ids)
    table = discrepancies()
    table = table[table["table_id"].isin(ids)]
    blocks = []
    for (reason, explanation), cells in table.groupby(["reason", "explanation"], sort=False):
        listed = "; ".join(f"{r} / {c}" for r, c in zip(cells["row"], cells["column"]))
        blocks.append("\n".join(
            textwrap.wrap(f"[{reason}] {explanation}", width=width, subsequent_indent="    ")
            + textwrap.wrap(f"cells: {listed}", width=width, initial_indent="    ",
                            subsequent_indent="        ")))
    return "\n\n".join(blocks)


def rounding_rules(exact: pd.Series, printed: pd.Series, decimals: int) -> pd.DataFrame:
    """Exact values beside their rounding, their truncation and the printed value.

    *exact* and *printed* share an index.  The result keeps the cells where rounding and
    truncation to *decimals* decimals disagree -- the only cells that can tell the two
    rules apart -- and says which rule gives the printed value (``rule``: ``round``,
    ``truncate`` or ``neither``).

    >>> exact = pd.Series({"a": 45.7391, "b": 8.3179, "c": 42.15})
    >>> printed = pd.Series({"a": 45.73, "b": 8.31, "c": 42.15})
    >>> rounding_rules(exact, printed, 2)[["rounded", "truncated", "rule"]]
       rounded  truncated      rule
    a    45.74      45.73  truncate
    b     8.32       8.31  truncate
    """
    table = pd.DataFrame({
        "exact": exact,
        "rounded": [to_printed_precision(v, decimals) for v in exact],
        "truncated": [to_printed_precision(v, decimals, "truncate") for v in exact],
        "printed": printed.reindex(exact.index),
    })
    table = table[~np.isclose(table["rounded"], table["truncated"])].copy()
    close = 0.5 * 10 ** (-decimals - 3)
    table["rule"] = np.select(
        [np.abs(table["printed"] - table["rounded"]) < close,
         np.abs(table["printed"] - table["truncated"]) < close],
        ["round", "truncate"], "neither")
    return table


def group_summaries(data: pd.DataFrame, group: str) -> pd.DataFrame:
    """Every group-level quantity a data file offers, one column each, one row per group.

    Columns: the group size; each column that is constant within groups (a group-level
    variable); and the mean, median and standard deviation of every other column.

    >>> d = pd.DataFrame({"g": [1, 1, 2, 2], "size": [7, 7, 3, 3], "x": [1.0, 3.0, 5.0, 9.0]})
    >>> group_summaries(d, "g").columns.tolist()
    ['group size', 'size', 'mean(x)', 'median(x)', 'std(x)']
    """
    by_group = data.groupby(group)
    constant = by_group.nunique(dropna=False).le(1).all()
    columns = {"group size": by_group.size().astype(float)}
    for column in data.columns.drop(group):
        if constant[column]:
            columns[column] = by_group[column].first().astype(float)
        else:
            for statistic in ("mean", "median", "std"):
                columns[f"{statistic}({column})"] = by_group[column].agg(statistic).astype(float)
    return pd.DataFrame(columns)


def r2_search(candidates: pd.DataFrame, outcomes: pd.DataFrame, target: dict[str, float]) -> pd.DataFrame:
    """Rank candidate predictors by how well they give a published set of R^2 values.

    Each column of *candidates* is used as the single predictor of each column of
    *outcomes* (same index); the R^2 of a simple regression is the squared correlation,
    which no change of scale or origin of the predictor alters.  *target* maps each
    outcome to its published R^2.  Candidates that give the same R^2 values (one is a
    linear function of another) are merged into one row, their names joined by " = ".
    Returned, best first: ``candidate``, for each outcome ``R^2 <outcome>`` and the
    signed correlation ``r <outcome>``, and ``distance``, the Euclidean distance between
    the candidate's R^2 values and the target's.  Constant candidates are skipped.

    >>> x = pd.Series([1.0, 2.0, 3.0, 4.0])
    >>> candidates = pd.DataFrame({"x": x, "2x": 2 * x, "noise": [1.0, -1.0, -1.0, 1.0]})
    >>> outcomes = pd.DataFrame({"y": [1.1, 1.9, 3.2, 3.9]})
    >>> r2_search(candidates, outcomes, {"y": 0.99})[["candidate", "distance"]].round(3)
      candidate  distance
    0    x = 2x     0.003
    1     noise     0.989
    """
    rows = []
    for name, values in candidates.items():
        if values.nunique() < 2:
            continue
        row = {"candidate": name}
        for outcome in outcomes:
            r = float(np.corrcoef(values, outcomes[outcome])[0, 1])
            row[f"R^2 {outcome}"], row[f"r {outcome}"] = r ** 2, r
        row["distance"] = math.dist([row[f"R^2 {o}"] for o in target], list(target.values()))
        rows.append(row)
    table = pd.DataFrame(rows)
    key = table[[f"R^2 {o}" for o in outcomes]].round(6).astype(str).agg(" ".join, axis=1)
    merged = table.groupby(key, sort=False).agg({**{c: "first" for c in table.columns},
                                                 "candidate": " = ".join})
    return merged.sort_values("distance").reset_index(drop=True)


def implied_predictor_moments(mean_y: float, var_y: float, constant: float, slope: float,
                              r2: float) -> tuple[float, float]:
    """Mean and standard deviation of the predictor of a published simple regression.

    A least-squares line passes through the point of means, so the predictor's mean is
    (mean_y - constant) / slope; and R^2 = slope^2 var(x) / var(y) gives its standard
    deviation.  *mean_y* and *var_y* are the outcome's mean and variance.

    >>> x = np.array([-1.0, 0.0, 0.5, 2.5])
    >>> y = 3.0 - 2.0 * x + np.array([0.1, -0.2, 0.2, -0.1])
    >>> slope, constant = np.polyfit(x, y, 1)
    >>> r2 = np.corrcoef(x, y)[0, 1] ** 2
    >>> mean, sd = implied_predictor_moments(y.mean(), y.var(ddof=1), constant, slope, r2)
    >>> bool(np.isclose(mean, x.mean())), bool(np.isclose(sd, x.std(ddof=1)))
    (True, True)
    """
    return (mean_y - constant) / slope, math.sqrt(r2 * var_y) / abs(slope)
