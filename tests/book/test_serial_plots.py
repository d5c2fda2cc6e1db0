"""The residual-correlation helpers of the chapter on serial correlation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmbook import serial_plots


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for person in range(40):
        level, error, previous = rng.normal(), 0.0, None
        for age in [8.0, 10.0, 12.0, 13.5 + rng.uniform()][: 2 + person % 3]:
            rho = 0.0 if previous is None else 0.7 ** (age - previous)
            error, previous = rho * error + np.sqrt(1 - rho ** 2) * rng.normal(), age
            rows.append((f"p{person:02d}", age, level + 0.1 * age + error))
    return pd.DataFrame(rows, columns=["person", "age", "y"])


def test_pairs_count_every_pair_of_occasions_once(panel):
    pairs = serial_plots.within_pairs(panel, "y", "person", "age")
    sizes = panel.groupby("person").size()
    assert len(pairs) == int((sizes * (sizes - 1) // 2).sum())
    assert (pairs["gap"] > 0).all() and (pairs["lag"] >= 1).all()


def test_implied_correlation_is_the_marginal_correlation(panel):
    fit = lmmlib.fit_mixed(panel, "y ~ age + (1 | person)", correlation=lmmlib.CAR1("age"))
    pairs = serial_plots.within_pairs(panel, "y", "person", "age")
    implied = serial_plots.implied_pair_correlation(fit, panel, pairs, "person")
    psi, sigma2, phi = fit.random_cov.iloc[0, 0], fit.residual_sd ** 2, fit.correlation.phi
    expected = serial_plots.serial_curve(psi, sigma2, phi, pairs["gap"].to_numpy())
    assert implied.to_numpy() == pytest.approx(expected, rel=1e-10)


def test_lag_table_averages_the_implied_correlations_by_lag(panel):
    pairs = serial_plots.within_pairs(panel, "y", "person", "age")
    table = serial_plots.lag_table(pairs, implied={"one": pd.Series(np.ones(len(pairs)))})
    assert list(table.index) == [1.0, 2.0, 3.0]
    assert (table["one"] == 1.0).all()
    assert table["pairs"].sum() == len(pairs)
