"""Residuals at both levels and the conditional modes laid out for a caterpillar plot."""
import numpy as np
import pytest

import lmmlib
from lmmlib import InputError, conditional_modes, residuals

FORMULA = "mathach ~ cses + (1 + cses | school)"


@pytest.mark.parametrize("method, dof", [("ML", 0), ("REML", 2)])
def test_standardized_marginal_residuals_are_whitened(hsb, method, dof):
    fit = lmmlib.fit_mixed(hsb, FORMULA, method=method)
    scaled = residuals(fit, "marginal", "standardized")
    # at the optimum sigma^2 = r'(V / sigma^2)^-1 r / (n - dof), so r'V^-1 r = n - dof exactly
    assert float((scaled ** 2).sum()) == pytest.approx(fit.model.n_obs - dof, rel=1e-9)
    # school 1224 by hand: L^-1 r with V = Z Psi Z' + sigma^2 I = L L'
    rows = (hsb["school"] == 1224).to_numpy()
    z = np.column_stack([np.ones(rows.sum()), hsb.loc[rows, "cses"]])
    v = z @ fit.random_cov.to_numpy() @ z.T + fit.residual_sd ** 2 * np.eye(rows.sum())
    raw = residuals(fit, "marginal")[rows].to_numpy()
    np.testing.assert_allclose(scaled[rows], np.linalg.solve(np.linalg.cholesky(v), raw), rtol=1e-10)


def test_conditional_residuals_and_their_scale(hsb):
    fit = lmmlib.fit_mixed(hsb, FORMULA)
    raw = residuals(fit)
    fitted = (hsb["mathach"] - raw)
    np.testing.assert_allclose(fitted, fit.fitted, rtol=1e-12)
    np.testing.assert_allclose(residuals(fit, scale="standardized"), raw / fit.residual_sd)
    marginal = residuals(fit, "marginal")
    modes = fit.random_effects.loc[hsb["school"]]
    part = modes["Intercept"].to_numpy() + modes["cses"].to_numpy() * hsb["cses"].to_numpy()
    np.testing.assert_allclose(marginal - raw, part, atol=1e-10)


def test_modes_in_long_form_with_intervals(hsb):
    fit = lmmlib.fit_mixed(hsb, FORMULA)
    table = conditional_modes(fit, level=0.9)
    assert len(table) == 2 * hsb["school"].nunique()
    one = table[(table["school"] == 1224) & (table["term"] == "cses")].iloc[0]
    assert one["estimate"] == fit.random_effects.loc[1224, "cses"]
    assert one["upper"] - one["estimate"] == pytest.approx(1.6448536 * fit.random_effects_se.loc[1224, "cses"])
    figure = lmmlib.plots.coefficient_intervals(table, "school", "Intercept", reference=0)
    assert figure.get_figwidth() == pytest.approx(lmmlib.plots.FIGURE_WIDTH)


@pytest.mark.parametrize("arguments, message", [({"kind": "pearson"}, "kind must be one of"),
                                                ({"scale": "studentized"}, "scale must be one of")])
def test_unknown_kinds_and_scales_are_refused(hsb, arguments, message):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)")
    with pytest.raises(InputError, match=message):
        residuals(fit, **arguments)
    with pytest.raises(InputError, match="level must lie strictly between 0 and 1"):
        conditional_modes(fit, level=1.2)
