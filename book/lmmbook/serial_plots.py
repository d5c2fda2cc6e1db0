"""Residual correlation at a time lag, for the chapter on serial correlation.

Each group (a person) is measured on a few occasions.  :func:`within_pairs` lists every
pair of occasions of one group, with the time between them; :func:`lag_table` gives the
empirical correlation of a residual over the pairs of each lag, next to the correlation
that fitted models imply for the same pairs (:func:`implied_pair_correlation`);
:func:`plot_lag_correlation` draws it.

>>> data = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "t": [0.0, 2, 4] * 2,
...                      "r": [1.0, 2, 3, -1, 0, -2]})
>>> pairs = within_pairs(data, "r", "g", "t")
>>> pairs[["lag", "gap"]].drop_duplicates().to_numpy().tolist()
[[1.0, 2.0], [2.0, 4.0]]
>>> lag_table(pairs, by="lag")["pairs"].tolist()
[4, 2]
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["within_pairs", "lag_table", "implied_pair_correlation", "serial_curve",
           "plot_lag_correlation"]


def within_pairs(data: pd.DataFrame, value: str, group: str, time: str) -> pd.DataFrame:
    """Every pair of rows (earlier, later) of one group, in the order of the data.

    Columns: the group, ``first`` and ``second`` (the rows' index labels), ``lag`` (how
    many occasions apart), ``gap`` (the time between them), ``time_first`` and the two
    values ``value_first`` and ``value_second``.
    """
    rows = []
    for label, part in data.groupby(group, sort=False):
        times, values, index = part[time].to_numpy(float), part[value].to_numpy(float), part.index
        for j in range(len(part)):
            for k in range(j + 1, len(part)):
                rows.append((label, index[j], index[k], float(k - j), times[k] - times[j],
                             times[j], values[j], values[k]))
    return pd.DataFrame(rows, columns=[group, "first", "second", "lag", "gap", "time_first",
                                       "value_first", "value_second"])


def lag_table(pairs: pd.DataFrame, by: str = "lag", implied: Mapping[str, pd.Series] | None = None,
              min_pairs: int = 1) -> pd.DataFrame:
    """Per value of *by* (``"lag"`` in occasions, or a binned gap column): the number of
    pairs, their mean time gap, the empirical correlation of the two values, and for each
    entry of *implied* (label -> correlation of each pair) the mean implied correlation.

    >>> pairs = pd.DataFrame({"lag": [1.0, 1, 1, 2], "gap": [2.0, 2, 3, 4],
    ...                       "value_first": [1.0, 2, 3, 1], "value_second": [1.0, 2, 4, 0]})
    >>> table = lag_table(pairs, implied={"model": pd.Series([0.5, 0.5, 0.2, 0.1])})
    >>> table["pairs"].tolist(), table["model"].round(3).tolist()
    ([3, 1], [0.4, 0.1])
    >>> round(float(table["empirical"].iloc[0]), 3)
    0.982
    """
    groups = pairs.groupby(by)
    table = pd.DataFrame({
        "pairs": groups.size(),
        "mean gap": groups["gap"].mean(),
        "empirical": groups.apply(lambda p: p["value_first"].corr(p["value_second"])
                                  if len(p) > 2 else np.nan, include_groups=False),
    })
    for label, values in (implied or {}).items():
        table[label] = pd.Series(np.asarray(values, float), index=pairs.index).groupby(pairs[by]).mean()
    return table[table["pairs"] >= min_pairs]


def implied_pair_correlation(fit, data: pd.DataFrame, pairs: pd.DataFrame, group: str) -> pd.Series:
    """The correlation that *fit* implies for each pair of *pairs* (from :func:`within_pairs`):
    the entry of the group's ``lmmlib.marginal_correlation``."""
    import lmmlib
    result = pd.Series(np.nan, index=pairs.index)
    for label, part in data.groupby(group, sort=False):
        if len(part) < 2:
            continue
        corr = lmmlib.marginal_correlation(fit, part)
        mine = pairs[pairs[group] == label]
        result[mine.index] = [corr.loc[a, b] for a, b in zip(mine["first"], mine["second"])]
    return result


def serial_curve(psi: float, sigma2: float, phi: float, gaps: np.ndarray) -> np.ndarray:
    """Correlation of two measurements *gaps* apart with a random intercept (variance *psi*)
    and CAR(1) errors (variance *sigma2*, correlation *phi* per unit of time).

    >>> serial_curve(1.0, 1.0, 0.5, np.array([0.0, 1.0, 50.0])).round(3).tolist()
    [1.0, 0.75, 0.5]
    """
    return (psi + sigma2 * phi ** np.asarray(gaps, float)) / (psi + sigma2)


def plot_lag_correlation(table: pd.DataFrame, curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
                         ax=None, colors=None, xlabel: str = "time between the two occasions (years)",
                         ylabel: str = "correlation within a group"):
    """The empirical correlations of *table* (from :func:`lag_table`) at their mean gaps,
    sized by the number of pairs, with *curves* (label -> (gaps, correlations)) as lines."""
    if ax is None:
        ax = plt.gca()
    colors = list(colors or ["#1f77b4", "#d62728", "0.3", "#2ca02c"])
    size = 12 + 100 * table["pairs"] / table["pairs"].max()
    ax.scatter(table["mean gap"], table["empirical"], s=size, color="black", zorder=3,
               label="empirical (dot area: pairs)")
    for (label, (x, y)), color in zip((curves or {}).items(), colors):
        dashed = "part" in label
        ax.plot(x, y, color=color, linewidth=1.5 if dashed else 2.5, linestyle="--" if dashed else "-",
                label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.legend(frameon=False, fontsize=9)
    return ax
