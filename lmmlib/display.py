"""Results that display themselves: fixed-precision tables and the summary of a fit.

Numbers are written at fixed decimals, so that a notebook's stored outputs are
identical from run to run (nbval compares them as text).

>>> fixed_decimals(pd.DataFrame({"x": [1.23456, None]}), 2)["x"].tolist()
['1.23', '']
"""
from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype


def fixed_decimals(table: pd.DataFrame, decimals: int | Mapping[str, int]) -> pd.DataFrame:
    """Return a copy of *table* with float columns written as text at fixed decimals.

    *decimals* is one number for every float column, or a mapping from column name
    to decimals (columns not named keep their values).  Missing values become ''.
    Booleans become a check mark or a cross.
    """
    result = table.copy()
    for column in result.columns:
        series = result[column]
        if is_bool_dtype(series):
            result[column] = series.map({True: "✓", False: "✗"})
            continue
        places = decimals.get(column) if isinstance(decimals, Mapping) else decimals
        if places is None or not is_float_dtype(series):
            continue
        result[column] = series.map(lambda v, d=places: "" if pd.isna(v) else f"{v:.{d}f}")
    return result


class DisplaysAsTable:
    """For results with a ``table()`` and a ``title()``: they show themselves as that table.

    ``to_frame()`` is the table with its numbers; printing, or a notebook cell, shows the
    title and the table at 4 decimals.
    """

    def to_frame(self) -> pd.DataFrame:
        return self.table()

    def _shown(self) -> pd.DataFrame:
        table = self.table()
        shown = fixed_decimals(table, 4)
        for column in (c for c in table.columns if c.startswith("p (")):
            shown[column] = table[column].map(p_value)
        return shown

    def __repr__(self) -> str:
        return f"{self.title()}\n{self._shown().to_string(index=False)}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.title())}</p>{self._shown().to_html(index=False)}"


def p_value(value: float) -> str:
    """A p-value as a table shows it: three decimals, or "< 0.001" below that.

    More digits would claim a precision that the reference distribution (a chi-square
    or mixture approximation, a finite bootstrap) does not have.

    >>> p_value(0.04321), p_value(1.4477e-48), p_value(float("nan"))
    ('0.043', '< 0.001', '')
    """
    if pd.isna(value):
        return ""
    return f"{value:.3f}" if value >= 0.001 else "< 0.001"


class FitSummary:
    """A fit laid out as lme4's ``summary()``; prints as text, shows as HTML in a notebook.

    ``criteria``, ``random`` and ``fixed`` are the three tables as DataFrames
    (numbers, not text); ``notes`` the checks made at the optimum.
    """

    def __init__(self, fit) -> None:
        self.title = f"Linear mixed model fitted by {fit.method}"
        self.formula = fit.formula
        criterion = "REML criterion" if fit.method == "REML" else "deviance"
        self.criteria = pd.DataFrame({criterion: [-2 * fit.loglik], "logLik": [fit.loglik], "AIC": [fit.aic],
                                      "BIC": [fit.bic]})
        self.random = _random_table(fit)
        self.fixed = fit.fixed.rename(columns={"estimate": "Estimate", "se": "Std. Error", "z": "z value"})
        counts = getattr(fit, "n_levels", None) or {fit.group: fit.n_groups}
        self.counts = f"Number of obs: {fit.n_obs}, groups: " + "; ".join(f"{g}, {m}" for g, m in counts.items())
        if fit.n_dropped:
            self.counts += f" ({fit.n_dropped} rows with missing values left out)"
        self.notes = _notes(fit)
        if getattr(fit, "correlation", None) is not None:
            self.counts += f"\nWithin-group correlation of the errors: {fit.correlation}"
        if getattr(fit, "variance", None) is not None:
            self.counts += f"\nVariance of the errors: {fit.variance}"

    def _texts(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        criteria = fixed_decimals(self.criteria, 2)
        random = fixed_decimals(self.random, {"Variance": 4, "Std.Dev.": 4, "Corr": 2, "": 2})
        for column in ("Groups", "Name"):          # names read from the left, as in lme4
            width = max(len(column), *(len(text) for text in random[column]))
            random[column] = random[column].str.ljust(width)
        random.columns = [name.ljust(len(random[name].iloc[0])) if name in ("Groups", "Name") else name
                          for name in random.columns]
        fixed = fixed_decimals(self.fixed, 4).rename_axis(None)
        return criteria, random, fixed

    def __str__(self) -> str:
        criteria, random, fixed = self._texts()
        return "\n".join([
            self.title, f"Formula: {self.formula}", "",
            criteria.to_string(index=False), "",
            "Random effects:", random.to_string(index=False), self.counts, "",
            "Fixed effects:", fixed.to_string(), "", *self.notes,
        ])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        criteria, random, fixed = self._texts()
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        return (f"<div><p><b>{html.escape(self.title)}</b><br>Formula: <code>{html.escape(self.formula)}</code></p>"
                f"{criteria.to_html(index=False)}<p><b>Random effects</b></p>{random.to_html(index=False)}"
                f"<p>{html.escape(self.counts)}</p><p><b>Fixed effects</b></p>{fixed.to_html()}"
                f"<ul>{notes}</ul></div>")


def fit_summary(fit) -> FitSummary:
    """The summary of *fit* (what :meth:`lmmlib.MixedFit.summary` returns)."""
    return FitSummary(fit)


class ShowsSummary:
    """For fits: ``summary()`` lays the fit out as lme4's ``summary()`` (criteria, random effects,
    fixed effects, the checks at the optimum), and printing the fit, or a notebook cell that ends
    with it, shows that summary."""

    def summary(self) -> FitSummary:
        return fit_summary(self)

    def __repr__(self) -> str:
        return str(self.summary())

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def _random_table(fit) -> pd.DataFrame:
    """Groups, Name, Variance, Std.Dev. and the correlations of each random effect, then the residual."""
    rows, width = [], 0
    for group, random_cov, pairs in fit.random_components:
        names, cov = list(random_cov.index), random_cov.to_numpy()
        sd = np.sqrt(np.diag(cov))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(sd, sd)
        width = max(width, len(names) - 1)
        for k, name in enumerate(names):
            row = {"Groups": group if k == 0 else "", "Name": name, "Variance": cov[k, k], "Std.Dev.": sd[k]}
            correlated = {col for row_, col in pairs if row_ == k and col != k}
            row["Corr"] = [corr[k, j] if j in correlated else np.nan for j in range(len(names) - 1)]
            rows.append(row)
    for row in rows:
        row["Corr"] += [np.nan] * (width - len(row["Corr"]))
    table = pd.DataFrame(rows)
    corr_columns = pd.DataFrame([r["Corr"] for r in rows], columns=["Corr"] + [""] * (width - 1)) if width else None
    table = table.drop(columns="Corr")
    residual = pd.DataFrame([{"Groups": "Residual", "Name": "", "Variance": fit.residual_sd ** 2,
                              "Std.Dev.": fit.residual_sd}])
    if corr_columns is not None and corr_columns.notna().any().any():
        table = pd.concat([table, corr_columns], axis=1)
    return pd.concat([table, residual], ignore_index=True)


def resolved(value: float, floor: float = 1e-6) -> str:
    """*value* in e-notation, or ``< floor`` when it is below *floor* (rounding noise that differs by machine).

    >>> resolved(3.2e-4), resolved(-2e-11), resolved(0.0)
    ('3.2e-04', '< 1e-06', '< 1e-06')
    """
    return f"< {floor:.0e}" if abs(value) < floor else f"{value:.1e}"


def bound(value: float, floor: float = 1e-6) -> str:
    """*value* as the next step above it of the grid 1, 3, 10, 30, ... times a power of ten
    ("< 3e-04"), or ``< floor``: a form that the last digits of a computation, which differ
    between machines, do not change.

    >>> bound(1.6e-4), bound(6.2e-5), bound(2e-9)
    ('< 3e-04', '< 1e-04', '< 1e-06')
    """
    if value < floor:
        return f"< {floor:.0e}"
    exponent = int(np.floor(np.log10(value)))
    mantissa, exponent = (3, exponent) if value < 3 * 10.0 ** exponent else (1, exponent + 1)
    return f"< {mantissa}e{exponent:+03d}".replace("+", "")


def _notes(fit) -> list[str]:
    """The checks made at the optimum, in words.  A fit with several grouping factors, whose
    gradient comes from differences, shows it and the predicted Newton gain as bounds."""
    gain = getattr(fit, "newton_gain", np.nan)
    shown = resolved if np.isnan(gain) else bound
    notes = [f"Optimum: gradient norm {shown(fit.gradient_norm)} (scaled coordinates)"
             + ("" if np.isnan(gain) else f", Newton step would gain {bound(gain)} in logLik")
             + ("" if fit.hessian_positive_definite is None else
                ", Hessian positive definite" if fit.hessian_positive_definite else
                ", Hessian NOT positive definite")]
    notes += [f"Boundary (singular) fit: {message}" for message in fit.boundary]
    return notes
