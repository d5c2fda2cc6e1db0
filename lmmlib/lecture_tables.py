"""The lectures' tables rebuilt from fitted models, and a registry that recomputes each one.

The chapters fit the models in view of the reader and pass the fits to the
layout functions here; :func:`reproduce` fits the same models itself, so tests
and reports check exactly what the chapters print.

>>> import lmmlib
>>> from lmmlib.lecture_tables import reproduce
>>> bool(reproduce("fox-re-anova-icc")["match"].all())
True
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import pandas as pd

from .data import load_hsb
from .errors import InputError
from .fitting import MethodComparison, MixedFit, compare_ml_reml, intraclass_correlation
from .published import compare_with_published


def re_anova_table(fits: MethodComparison) -> pd.DataFrame:
    """The random-effects one-way ANOVA table: beta_1, psi_1 and sigma by ML and REML."""
    def column(fit: MixedFit) -> list[float]:
        return [fit.fixed.loc["Intercept", "estimate"], fit.random_sd["Intercept"], fit.residual_sd]
    return pd.DataFrame({"ML Estimate": column(fits.ml), "REML Estimate": column(fits.reml)},
                        index=pd.Index(["beta_1", "psi_1", "sigma"], name="parameter"))


def icc_table(fit: MixedFit) -> pd.DataFrame:
    """The estimated intra-class correlation of a random-intercept fit, as a one-cell table."""
    return pd.DataFrame({f"{fit.method} Estimate": [intraclass_correlation(fit)]},
                        index=pd.Index(["rho"], name="parameter"))


@lru_cache(maxsize=1)
def _hsb_re_anova_fits() -> MethodComparison:
    return compare_ml_reml(load_hsb(), "mathach ~ 1", group="school")


#: table id -> function that recomputes the table from the data.
REPRODUCERS: dict[str, Callable[[], pd.DataFrame]] = {
    "fox-re-anova": lambda: re_anova_table(_hsb_re_anova_fits()),
    "fox-re-anova-icc": lambda: icc_table(_hsb_re_anova_fits().reml),
}


def reproduce(table_id: str) -> pd.DataFrame:
    """Recompute one published table and compare it with the published values."""
    if table_id not in REPRODUCERS:
        raise InputError(f"no reproduction is defined for table {table_id!r}; "
                         f"known: {', '.join(sorted(REPRODUCERS))}")
    return compare_with_published(table_id, REPRODUCERS[table_id]())
