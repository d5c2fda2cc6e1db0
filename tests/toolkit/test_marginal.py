"""Design matrices, marginal covariances, fixed-part predictions and the coverage simulation."""
import numpy as np
import pandas as pd
import pytest

import lmmlib


@pytest.fixture(scope="module")
def slope_fit(hsb):
    return lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1 + cses")


def test_random_intercept_covariance_is_compound_symmetric(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", "school")
    v = lmmlib.marginal_covariance(fit, hsb[hsb.school == 1224]).to_numpy()
    psi2, sigma2 = fit.random_cov.iloc[0, 0], fit.residual_sd ** 2
    off_diagonal = v[~np.eye(len(v), dtype=bool)]
    np.testing.assert_allclose(off_diagonal, psi2)
    np.testing.assert_allclose(np.diag(v), psi2 + sigma2)


def test_marginal_variance_is_the_quadratic_in_the_random_regressor(slope_fit):
    z = np.array([-1.0, 0.0, 0.5, 2.0])
    psi = slope_fit.random_cov.to_numpy()
    expected = psi[0, 0] + 2 * z * psi[0, 1] + z ** 2 * psi[1, 1] + slope_fit.residual_sd ** 2
    got = lmmlib.marginal_variance(slope_fit, pd.DataFrame({"cses": z}))
    np.testing.assert_allclose(got, expected)
    v = lmmlib.marginal_covariance(slope_fit, pd.DataFrame({"cses": z}))
    np.testing.assert_allclose(np.diag(v), expected)


def test_design_matrices_and_predictions(hsb, slope_fit):
    rows = hsb[hsb.school == 1224]
    x, z = lmmlib.design_matrices(slope_fit, rows)
    assert list(x.columns) == ["Intercept", "cses"] and list(z.columns) == ["Intercept", "cses"]
    np.testing.assert_allclose(lmmlib.predict_fixed(slope_fit, rows),
                               slope_fit.fixed.loc["Intercept", "estimate"]
                               + slope_fit.fixed.loc["cses", "estimate"] * rows["cses"])
    with pytest.raises(lmmlib.InputError, match="lack what the model"):
        lmmlib.design_matrices(slope_fit, rows[["mathach"]])
