"""The profiled deviance itself: gradient, the unprofiled form, the parametrisation."""
import numpy as np
import pytest

import lmmlib
from lmmlib import engine


@pytest.fixture(scope="module")
def slope_products(hsb):
    design = lmmlib.MixedModel(hsb, "mathach ~ meanses * cses + sector * cses + (1 + cses | school)").design
    return engine.CrossProducts.from_arrays(design.y, design.x, design.z, design.groups)


@pytest.mark.parametrize("reml", [False, True])
def test_analytic_gradient_matches_central_differences(slope_products, reml):
    theta = np.array([0.3, -0.1, 0.2])
    analytic = engine.evaluate(theta, slope_products, reml).gradient
    step = 1e-5
    numeric = [(engine.evaluate(theta + step * e, slope_products, reml).deviance
                - engine.evaluate(theta - step * e, slope_products, reml).deviance) / (2 * step) for e in np.eye(3)]
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5)


def test_cross_products_equal_the_direct_sums(hsb):
    design = lmmlib.MixedModel(hsb, "mathach ~ cses + (1 + cses | school)").design
    cp = engine.CrossProducts.from_arrays(design.y, design.x, design.z, design.groups)
    first = design.groups == cp.groups[0]
    z, x, y = design.z[first], design.x[first], design.y[first]
    np.testing.assert_allclose(cp.ztz[:, :, 0], z.T @ z)
    np.testing.assert_allclose(cp.ztx[:, :, 0], z.T @ x)
    np.testing.assert_allclose(cp.zty[:, 0], z.T @ y)
    assert cp.n == len(hsb) and cp.ztz.shape == (2, 2, 160)


@pytest.mark.parametrize("reml", [False, True])
def test_unprofiled_deviance_equals_the_profiled_one_at_the_profiled_sigma(slope_products, reml):
    theta = np.array([0.25, 0.05, 0.1])
    at_theta = engine.evaluate(theta, slope_products, reml)
    psi = at_theta.sigma2 * at_theta.lam @ at_theta.lam.T
    assert engine.deviance_at(psi, at_theta.sigma2, slope_products, reml) == pytest.approx(at_theta.deviance,
                                                                                              abs=1e-7)
    # and any other sigma^2 is worse, since the profiled value is the minimum over sigma^2
    assert engine.deviance_at(psi * 1.1, at_theta.sigma2 * 1.1, slope_products, reml) > at_theta.deviance


def test_flipping_a_column_of_lambda_leaves_the_deviance_unchanged(slope_products):
    theta = np.array([0.3, -0.1, 0.2])
    flipped = np.array([-0.3, 0.1, 0.2])          # the first column of Lambda negated
    assert engine.evaluate(flipped, slope_products, True).deviance == pytest.approx(
        engine.evaluate(theta, slope_products, True).deviance, abs=1e-8)


def test_optimum_reports_a_nonnegative_diagonal_and_its_checks(slope_products):
    optimum = engine.minimize_deviance(slope_products, reml=True)
    assert np.all(np.diag(optimum.evaluation.lam) >= 0)
    assert optimum.gradient_norm < 1e-3 and optimum.hessian_positive_definite
    assert list(optimum.attempts.columns) == ["deviance", "evaluations", "loglik"]


def test_a_boundary_optimum_is_reached_at_lambda_zero():
    # every group holds the same values, so the between-group variance is exactly zero
    groups = np.repeat(np.arange(8), 4)
    y = np.tile([1.0, 2.0, 4.0, 7.0], 8)
    cp = engine.CrossProducts.from_arrays(y, np.ones((32, 1)), np.ones((32, 1)), groups)
    optimum = engine.minimize_deviance(cp, reml=False)
    assert optimum.gradient_norm < 1e-3 and optimum.evaluation.lam[0, 0] < 1e-4


def test_block_structure_leaves_the_off_diagonal_out(slope_products):
    uncorrelated = engine.CrossProducts(**{**slope_products.__dict__, "blocks": (1, 1)})
    rows, cols = engine.theta_positions(uncorrelated.structure)
    assert rows.tolist() == cols.tolist() == [0, 1]
    at = engine.evaluate(np.array([0.3, 0.2]), uncorrelated, True)
    full = engine.evaluate(np.array([0.3, 0.0, 0.2]), slope_products, True)
    assert at.deviance == pytest.approx(full.deviance, abs=1e-9)
    np.testing.assert_allclose(at.gradient, full.gradient[[0, 2]], atol=1e-9)


@pytest.mark.parametrize("reml", [False, True])
def test_the_internal_coordinates_give_the_deviance_of_the_data(hsb, slope_products, reml):
    # the model centres and scales X and Z and centres y; at any lme4 theta its deviance is the one
    # computed from the untransformed cross-products (REML's log|X'V^-1X| for X itself)
    moved = hsb.assign(cses=hsb["cses"] * 100 + 7)
    model = lmmlib.MixedModel(moved, "mathach ~ meanses * cses + sector * cses + (1 + cses | school)")
    design = model.design
    raw = engine.CrossProducts.from_arrays(design.y, design.x, design.z, design.groups)
    theta = np.array([0.3, -0.001, 0.002])
    assert model.deviance(theta, "REML" if reml else "ML") == pytest.approx(engine.evaluate(theta, raw, reml).deviance,
                                                                           abs=1e-6)


def balanced_random_intercept(seed: int, icc: float = 0.05) -> engine.CrossProducts:
    """40 groups of 25 with a group-level dummy, as in the clustered-data chapter's simulation."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(40), 25)
    y = rng.normal(0, np.sqrt(icc), 40)[groups] + rng.normal(0, np.sqrt(1 - icc), len(groups))
    x = np.column_stack([np.ones(len(groups)), (groups < 20).astype(float)])
    return engine.CrossProducts.from_arrays(y, x, x[:, :1], groups)


def test_a_zero_column_of_lambda_is_left_when_the_deviance_falls_away_from_it():
    # at theta = 0 the gradient vanishes by symmetry, but for these data the deviance has a
    # maximum there; a search started exactly at it must still reach the minimum
    cp = balanced_random_intercept(seed=7)
    assert engine.evaluate(np.array([0.0]), cp, True).gradient[0] == 0.0
    grid = np.linspace(0.01, 1.0, 400)
    best = grid[np.argmin([engine.evaluate(np.array([t]), cp, True).deviance for t in grid])]
    assert best > 0.05
    search = engine.bfgs(cp, True, np.array([0.0]))
    assert search.converged and abs(search.theta[0]) == pytest.approx(best, abs=0.01)
    assert search.evaluation.deviance < engine.evaluate(np.array([0.0]), cp, True).deviance - 1


@pytest.mark.parametrize("seed", range(20))
def test_balanced_random_intercept_fits_reach_the_minimum(seed):
    # a quasi-Newton step on such data can land next to theta = 0; the optimum must not stay there
    cp = balanced_random_intercept(seed)
    grid = np.linspace(0.0, 1.0, 201)
    lowest = min(engine.evaluate(np.array([t]), cp, True).deviance for t in grid)
    assert engine.minimize_deviance(cp, True).evaluation.deviance <= lowest + 1e-6
