"""How tests of fixed effects behave: their actual size for a fitted design, their power for planned designs.

Three tests of a fixed effect (or of several jointly) are compared:

- ``z``: the Wald test of the fit's summary, beta_hat / se referred to the normal
  distribution (a joint test: the Wald chi-square), which treats the estimated
  covariance of beta_hat as known;
- ``satterthwaite``: the same statistic referred to a t (or F) distribution with
  Satterthwaite's degrees of freedom (:func:`lmmlib.satterthwaite_tests`);
- ``kenward-roger``: Kenward and Roger's inflated covariance, scaled statistic and
  degrees of freedom (:func:`lmmlib.kenward_roger_tests`; REML fits only).

:func:`fixed_effect_tests` puts the three side by side for one fit.
:func:`simulated_size` estimates how often each rejects a true null hypothesis for the
design of a fit: it simulates responses from the fit with the tested coefficients set to
zero, refits the model to each and counts the rejections.  :func:`power_curve` does the
same for designs that do not exist yet: a design function draws the predictors for a
number of groups and a group size, responses are drawn from population values, and the
model is refitted to each (:class:`lmmlib.ResponseRefit`: only the cross-products with y
are recomputed).

Every rate comes with its Monte Carlo standard error sqrt(r (1 - r) / B) over the B
replicates used, and every replicate that could not be used is counted in ``failed``,
never dropped silently: a refit that does not pass the gradient check fails for every
test; a fit on the boundary of the parameter space (a variance estimated as 0) fails for
Satterthwaite's test only, whose degrees of freedom need the curvature of the likelihood
there.  The same *seed* gives the same numbers.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
>>> fixed_effect_tests(fit, ["x"]).columns.tolist()[:4]
['estimate', 'se', 'p (z)', 'df (Satterthwaite)']
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from itertools import islice

import numpy as np
import pandas as pd
from scipy import stats

from .bootstrap import _check_replicates_and_seed, simulated_responses
from .errors import ConvergenceError, InputError, LmmlibWarning
from .fitting import MixedFit, lme4_theta
from .model import MixedModel
from .progress import ProgressBar
from .refit import ResponseRefit
from .small_sample import _FixedCovariance, _joint_degrees_of_freedom, _KenwardRoger

#: the tests, by the names the functions of this module take
TESTS = ("z", "satterthwaite", "kenward-roger")
#: how the tables name them
LABELS = {"z": "z", "satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}


# ---------------------------------------------------------------------------- one fit, three tests
def fixed_effect_tests(fit: MixedFit, terms: str | Iterable[str] | None = None, joint: bool = False,
                       tests: str | Iterable[str] | None = None) -> pd.DataFrame:
    """The z, Satterthwaite and Kenward-Roger tests of fixed effects of *fit*, side by side.

    One row per term of *terms* (default: every fixed effect), each tested as zero, and,
    with ``joint=True``, a last row ``"a & b"`` for the joint hypothesis that all of them
    are zero (Wald chi-square for z, F tests for the others).  Columns: ``estimate`` and
    ``se`` (the fit's), ``p (z)``, ``df (Satterthwaite)``, ``p (Satterthwaite)``,
    ``se (Kenward-Roger)`` (the adjusted standard error), ``df (Kenward-Roger)`` and
    ``p (Kenward-Roger)``; only the columns of the *tests* asked for (default: all three for a
    REML fit, z and Satterthwaite for an ML fit).  The df of a joint row are the denominator df
    of its F test.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")
    >>> table = fixed_effect_tests(fit, ["Intercept", "x"], joint=True)
    >>> table.index.tolist()
    ['Intercept', 'x', 'Intercept & x']
    >>> expected = lmmlib.satterthwaite_tests(fit)["p"]
    >>> bool(np.allclose(table["p (Satterthwaite)"].iloc[:2], expected))
    True
    """
    tests = _check_tests(tests, fit)
    terms = _check_terms(fit, terms)
    hypotheses = _hypotheses(fit, terms, joint)
    results = _test_fit(fit, hypotheses, tests)
    single = [name for name, matrix in hypotheses.items() if len(matrix) == 1]
    table = pd.DataFrame(index=pd.Index(list(hypotheses), name="hypothesis"))
    table["estimate"] = fit.fixed["estimate"].reindex(single)
    table["se"] = fit.fixed["se"].reindex(single)
    for test in tests:
        label = LABELS[test]
        if test == "kenward-roger":
            table[f"se ({label})"] = results[test]["se"]
        if test != "z":
            table[f"df ({label})"] = results[test]["df"]
        table[f"p ({label})"] = results[test]["p"]
    return table


def _check_tests(tests, fit: MixedFit | None = None, method: str | None = None) -> tuple[str, ...]:
    """The tests asked for, checked; None: every test the method allows (Kenward-Roger needs REML)."""
    method = fit.method if fit is not None else method
    if tests is None:
        return TESTS if method == "REML" else TESTS[:2]
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    unknown = [test for test in tests if test not in TESTS]
    if unknown or not tests:
        raise InputError(f"the tests must be one or more of {', '.join(TESTS)}, not {list(tests)}")
    if "kenward-roger" in tests and method != "REML":
        raise InputError("Kenward-Roger's test is defined for REML fits only; refit with method='REML' or "
                         "leave 'kenward-roger' out of the tests")
    return tests


def _check_terms(fit_or_names, terms) -> list[str]:
    names = list(fit_or_names.fixed.index) if isinstance(fit_or_names, MixedFit) else list(fit_or_names)
    if terms is None:
        return names
    terms = [terms] if isinstance(terms, str) else list(terms)
    if not terms:
        raise InputError(f"name at least one fixed effect to test; the fixed effects are {names}")
    unknown = [term for term in terms if term not in names]
    if unknown:
        raise InputError(f"no fixed effect named {', '.join(map(repr, unknown))}; the fixed effects are {names}")
    if len(set(terms)) < len(terms):
        raise InputError(f"a term is named twice in {terms}")
    return terms


def _hypotheses(fit_or_names, terms: list[str], joint: bool) -> dict[str, np.ndarray]:
    """Name -> L (rows: contrasts on the fixed effects) for each term alone and, if *joint*, all together."""
    names = list(fit_or_names.fixed.index) if isinstance(fit_or_names, MixedFit) else list(fit_or_names)
    identity = np.eye(len(names))
    hypotheses = {term: identity[[names.index(term)]] for term in terms}
    if joint:
        if len(terms) < 2:
            raise InputError("a joint test needs at least two terms")
        hypotheses[" & ".join(terms)] = identity[[names.index(term) for term in terms]]
    return hypotheses


def _p_z(beta: np.ndarray, covariance: np.ndarray, matrix: np.ndarray) -> float:
    """The Wald test of L beta = 0 with the covariance taken as known (normal / chi-square)."""
    estimate = matrix @ beta
    wald = float(estimate @ np.linalg.solve(matrix @ covariance @ matrix.T, estimate))
    return float(stats.chi2.sf(wald, len(matrix)))


def _test_fit(fit: MixedFit, hypotheses: dict[str, np.ndarray], tests: tuple[str, ...]) -> dict[str, dict]:
    """p-values (and df, adjusted se) of every hypothesis by every test; raises what the tests raise."""
    beta = fit.fixed["estimate"].to_numpy()
    results = {}
    c = _fixed_covariance(fit)
    if "z" in tests:
        results["z"] = {"p": [_p_z(beta, c, matrix) for matrix in hypotheses.values()]}
    if "satterthwaite" in tests:
        satterthwaite = _FixedCovariance(fit)
        p, df = [], []
        for matrix in hypotheses.values():
            eigenvalues, vectors = np.linalg.eigh(matrix @ c @ matrix.T)
            directions = vectors.T @ matrix                 # uncorrelated contrasts (lmerTest's contest)
            nu = np.array([satterthwaite.degrees_of_freedom(row) for row in directions])
            f = float(np.mean((directions @ beta) ** 2 / eigenvalues))
            df.append(_joint_degrees_of_freedom(nu))
            p.append(float(stats.f.sf(f, len(matrix), df[-1])))
        results["satterthwaite"] = {"p": p, "df": df}
    if "kenward-roger" in tests:
        adjustment = _KenwardRoger(fit)
        adjusted = adjustment.covariance()
        p, df, se = [], [], []
        for matrix in hypotheses.values():
            test = adjustment.test(matrix)
            df.append(test["denominator df"])
            if len(matrix) == 1:        # the t-test of lmerTest's summary(fit, ddf = "Kenward-Roger")
                se.append(float(np.sqrt(matrix[0] @ adjusted @ matrix[0])))
                p.append(float(2 * stats.t.sf(abs(matrix[0] @ beta) / se[-1], df[-1])))
            else:                       # pbkrtest's KRmodcomp
                se.append(np.nan)
                p.append(float(stats.f.sf(test["F"], len(matrix), df[-1])))
        results["kenward-roger"] = {"p": p, "df": df, "se": se}
    return results


def _fixed_covariance(fit: MixedFit) -> np.ndarray:
    """sigma^2 (X'V^-1 X)^-1 at the estimate, in the units of the data."""
    from .engine import _solve, lambda_from_theta
    cp = fit.model.cross_products
    solution = _solve(lambda_from_theta(fit.internal_theta, cp.structure), cp)
    return fit.model.fixed_effects(solution.beta, solution.w, fit.residual_sd ** 2)[1]


# ---------------------------------------------------------------------------- the simulations
class _Tally:
    """Rejections and failures of each (hypothesis, test) over the replicates of one design."""

    def __init__(self, hypotheses: dict[str, np.ndarray], tests: tuple[str, ...]) -> None:
        self.hypotheses, self.tests = hypotheses, tests
        self.rejections = {(h, t): 0 for h in hypotheses for t in tests}
        self.used = {(h, t): 0 for h in hypotheses for t in tests}
        self.failed = {(h, t): 0 for h in hypotheses for t in tests}
        self.boundary = 0

    def fail(self, test: str | None = None) -> None:
        for key in self.failed:
            if test is None or key[1] == test:
                self.failed[key] += 1

    def count(self, test: str, p_values: list[float], alpha: float) -> None:
        for hypothesis, p in zip(self.hypotheses, p_values):
            self.used[hypothesis, test] += 1
            self.rejections[hypothesis, test] += int(p < alpha)

    def rows(self, rate: str) -> list[dict]:
        rows = []
        for (hypothesis, test), used in self.used.items():
            share = self.rejections[hypothesis, test] / used if used else np.nan
            rows.append({"hypothesis": hypothesis, "test": LABELS[test], rate: share,
                         "Monte Carlo SE": float(np.sqrt(share * (1 - share) / used)) if used else np.nan,
                         "replicates": used, "failed": self.failed[hypothesis, test]})
        return rows


def _run(refit: ResponseRefit, responses: Iterator[np.ndarray], tally: _Tally, alpha: float,
         bar: ProgressBar | None, done: int) -> int:
    """Refit every response and count the rejections of every test; returns the replicates done so far."""
    only_z = tally.tests == ("z",)
    for y in responses:
        if only_z:                      # the fast path: the refit's beta and covariance are enough
            refitted = refit.refit(y)
            if not refitted.converged:
                tally.fail()
            else:
                ev = refitted.evaluation
                covariance = refit.model.fixed_effects(ev.beta, ev.w, ev.sigma2)[1]
                tally.count("z", [_p_z(refitted.beta, covariance, m) for m in tally.hypotheses.values()], alpha)
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", LmmlibWarning)
                    fit = refit.fit(y)
            except ConvergenceError:
                tally.fail()
            else:
                tally.boundary += bool(fit.boundary)
                for test in tally.tests:
                    try:
                        p = _test_fit(fit, tally.hypotheses, (test,))[test]["p"]
                    except InputError:  # Satterthwaite's df on the boundary
                        tally.fail(test)
                    else:
                        tally.count(test, p, alpha)
        done += 1
        if bar:
            bar.update(done)
    return done


def _check_alpha(alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 1:
        raise InputError(f"alpha (the nominal level of the tests) must lie strictly between 0 and 1, not {alpha!r}")
    return float(alpha)


def simulated_size(fit: MixedFit, terms: str | Iterable[str], replicates: int = 500, seed: int = 2024,
                   alpha: float = 0.05, joint: bool = False, tests: str | Iterable[str] | None = None,
                   progress: bool = True) -> pd.DataFrame:
    """The actual size of the z, Satterthwaite and Kenward-Roger tests of *terms* for the design of *fit*.

    The null hypothesis is made true: each replicate draws a response from *fit*
    (:func:`lmmlib.simulated_responses`: its fixed effects, Psi and sigma) with the
    coefficients of *terms* set to zero, refits the model by its method (a whole, checked
    fit: :meth:`lmmlib.ResponseRefit.fit`) and tests each term alone at level *alpha*
    (and, with ``joint=True``, all of them together) by each of *tests* (default: every test
    the fit's method allows; ``tests="z"`` alone is several times faster).  A test whose size
    is alpha rejects in a share alpha of the replicates.

    Returns one row per hypothesis and test: ``hypothesis``, ``test``, ``size`` (the share
    of the replicates used that rejected), ``Monte Carlo SE``, ``replicates`` (used) and
    ``failed`` (refits that failed the gradient check; for Satterthwaite also fits on the
    boundary).  ``attrs`` holds ``alpha``, ``seed``, ``replicates`` (asked for) and
    ``boundary`` (the number of fits on the boundary).

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> size = simulated_size(fit, "x", replicates=20, seed=1, progress=False)
    >>> size[["test", "replicates", "failed"]].values.tolist()
    [['z', 20, 0], ['Satterthwaite', 20, 0], ['Kenward-Roger', 20, 0]]
    """
    _check_replicates_and_seed(replicates, seed)
    alpha = _check_alpha(alpha)
    tests = _check_tests(tests, fit)
    terms = _check_terms(fit, terms)
    hypotheses = _hypotheses(fit, terms, joint)
    columns = [fit.model.fixed_names.index(term) for term in terms]
    shift = fit.model.design.x[:, columns] @ fit.fixed["estimate"].to_numpy()[columns]
    responses = (y - shift for y in islice(simulated_responses(fit, seed), replicates))
    tally = _Tally(hypotheses, tests)
    bar = ProgressBar(replicates, "size") if progress else None
    _run(ResponseRefit.of_fit(fit), responses, tally, alpha, bar, 0)
    table = pd.DataFrame(tally.rows("size"))
    table.attrs.update(alpha=alpha, seed=int(seed), replicates=int(replicates), boundary=tally.boundary)
    return table


# ---------------------------------------------------------------------------- planned designs
def two_level_design(n_groups: int, group_size: int, rng: np.random.Generator) -> pd.DataFrame:
    """The default design of :func:`power_curve`: *n_groups* groups of *group_size* rows.

    Columns ``group`` (1, 2, ...), ``x``, a level-1 predictor drawn standard normal for
    every row, and ``w``, a level-2 indicator that is 1 in half of the groups (chosen at
    random; one fewer when *n_groups* is odd), like a treatment assigned to whole groups.

    >>> design = two_level_design(4, 3, np.random.default_rng(1))
    >>> design.shape, int(design.groupby("group")["w"].first().sum())
    ((12, 3), 2)
    """
    groups = np.repeat(np.arange(1, n_groups + 1), group_size)
    treated = rng.permutation(n_groups) < n_groups // 2
    return pd.DataFrame({"group": groups, "x": rng.standard_normal(len(groups)),
                         "w": treated.astype(float)[groups - 1]})


def power_curve(formula: str, fixed: dict[str, float] | pd.Series, random_cov, sigma: float,
                n_groups: Iterable[int], group_sizes: Iterable[int],
                design: Callable[[int, int, np.random.Generator], pd.DataFrame] = two_level_design,
                terms: str | Iterable[str] | None = None, tests: Iterable[str] = ("z",),
                replicates: int = 200, seed: int = 2024, alpha: float = 0.05, method: str = "REML",
                progress: bool = True) -> pd.DataFrame:
    """The power of tests of fixed effects for every design of a grid of numbers of groups and group sizes.

    For each pair (number of groups, group size), *design* draws the predictors once
    (a DataFrame with the columns *formula* uses, apart from the response); then
    *replicates* responses are drawn from the population values -- the fixed effects
    *fixed* (a mapping from the model's fixed-effect names, as a fit names them, to
    values; a name left out is 0), the covariance matrix of the random effects
    *random_cov* (Psi, in the order of the random terms, or a DataFrame labelled with their
    names; a number is the variance of a single random effect) and the residual SD
    *sigma* -- and the model is refitted to each by *method*.  Each term of *terms*
    (default: every fixed effect but the intercept) is tested alone at level *alpha*.

    The default *tests* is the z-test, for which :meth:`lmmlib.ResponseRefit.refit`
    suffices (a few milliseconds a refit); ``"satterthwaite"`` and ``"kenward-roger"``
    need a whole fit per replicate and are several times slower.  Each design point has its
    own random stream, made from *seed* and the point, so a point's result does not depend
    on the rest of the grid.

    Returns one row per design point, term and test: ``groups``, ``group size``, ``term``,
    ``test``, ``power`` (the share of the replicates used that rejected), ``Monte Carlo SE``,
    ``replicates`` (used) and ``failed``.  With an effect of zero, ``power`` is the size.

    >>> curve = power_curve("y ~ x * w + (1 | group)", {"w": 1.0}, 1.0, 1.0, [6], [4],
    ...                     replicates=10, seed=3, progress=False)
    >>> curve[["groups", "group size", "term", "replicates", "failed"]].values.tolist()
    [[6, 4, 'x', 10, 0], [6, 4, 'w', 10, 0], [6, 4, 'x:w', 10, 0]]
    """
    _check_replicates_and_seed(replicates, seed)
    alpha = _check_alpha(alpha)
    tests = _check_tests(tests, method=method)
    grid = [(_whole(g, "numbers of groups", 2), _whole(n, "group sizes", 1))
            for g in _listed(n_groups, "n_groups") for n in _listed(group_sizes, "group_sizes")]
    if not (isinstance(sigma, (int, float, np.floating)) and np.isfinite(sigma) and sigma > 0):
        raise InputError(f"sigma (the residual standard deviation) must be a positive number, not {sigma!r}")
    if not callable(design):
        raise InputError(f"design must be a function (n_groups, group_size, rng) -> DataFrame, not {design!r}")
    total = replicates * len(grid)
    bar = ProgressBar(total, "power") if progress else None
    rows, done = [], 0
    for groups, size in grid:
        rng = np.random.default_rng([seed, groups, size])
        model = _planned_model(formula, design, groups, size, rng)
        beta = _population_beta(model, fixed)
        psi = _population_psi(model, random_cov)
        chosen = _check_terms(model.fixed_names, [t for t in model.fixed_names if t != "Intercept"]
                              if terms is None else terms)
        refit = ResponseRefit(model, reml=method == "REML", start=_internal_theta(model, psi, float(sigma)))
        tally = _Tally(_hypotheses(model.fixed_names, chosen, False), tests)
        responses = islice(_responses(model, beta, psi, float(sigma), rng), replicates)
        done = _run(refit, responses, tally, alpha, bar, done)
        rows += [{"groups": groups, "group size": size, "term": row.pop("hypothesis"), **row}
                 for row in tally.rows("power")]
    return pd.DataFrame(rows)


def _listed(values, name: str) -> list:
    values = [values] if np.isscalar(values) else list(values)
    if not values:
        raise InputError(f"{name} must hold at least one value")
    return values


def _whole(value, what: str, smallest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
        raise InputError(f"{what} must be whole numbers of at least {smallest}, not {value!r}")
    return int(value)


def _planned_model(formula: str, design, groups: int, size: int, rng: np.random.Generator) -> MixedModel:
    """The model for one drawn design; the response column holds a placeholder until responses are drawn."""
    frame = design(groups, size, rng)
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"the design function must return a DataFrame, not {type(frame).__name__}")
    response = formula.split("~", 1)[0].strip()
    placeholder = np.random.default_rng(0).standard_normal(len(frame))   # not drawn from rng: see _responses
    return MixedModel(frame.assign(**{response: placeholder}), formula)


def _population_beta(model: MixedModel, fixed) -> np.ndarray:
    values = pd.Series(fixed, dtype=float)
    unknown = sorted(set(values.index) - set(model.fixed_names))
    if unknown:
        raise InputError(f"the population values name fixed effects the model does not have: {unknown}; "
                         f"its fixed effects are {model.fixed_names}")
    return values.reindex(model.fixed_names, fill_value=0.0).to_numpy()


def _population_psi(model: MixedModel, random_cov) -> np.ndarray:
    names = model.random_names
    if isinstance(random_cov, pd.DataFrame):
        if set(random_cov.index) != set(names) or set(random_cov.columns) != set(names):
            raise InputError(f"random_cov is labelled {list(random_cov.index)}; the model's random effects are "
                             f"{names}")
        random_cov = random_cov.loc[names, names]
    psi = np.atleast_2d(np.asarray(random_cov, dtype=float))
    if psi.shape != (len(names), len(names)) or not np.all(np.isfinite(psi)) or not np.allclose(psi, psi.T):
        raise InputError(f"random_cov must be a symmetric {len(names)} x {len(names)} covariance matrix (of "
                         f"{names}), not {psi.tolist()}")
    if np.linalg.eigvalsh(psi).min() < -1e-10 * max(1.0, np.abs(psi).max()):
        raise InputError(f"random_cov is not a covariance matrix: it has a negative eigenvalue ({psi.tolist()})")
    blocks = np.repeat(np.arange(len(model.blocks)), model.blocks)
    if np.any(psi[blocks[:, None] != blocks[None, :]] != 0):
        raise InputError("random_cov has covariances between random effects that the model keeps "
                         "uncorrelated (||, or separate random terms); set them to 0")
    return psi


def _factor(psi: np.ndarray) -> np.ndarray:
    """A square factor F with F F' = Psi that exists when Psi is singular."""
    values, vectors = np.linalg.eigh(psi)
    return vectors * np.sqrt(np.clip(values, 0.0, None))


def _internal_theta(model: MixedModel, psi: np.ndarray, sigma: float) -> np.ndarray:
    """The optimizer's theta at the population values: where the refits start."""
    internal = np.linalg.solve(model.scaling, _factor(psi / sigma ** 2))
    return lme4_theta(internal, model.blocks)


def _responses(model: MixedModel, beta: np.ndarray, psi: np.ndarray, sigma: float,
               rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Endless draws y = X beta + Z b + e for the model's rows, b ~ N(0, Psi), e ~ N(0, sigma^2 I)."""
    design = model.design
    mean, factor = design.x @ beta, _factor(psi)
    codes, m = design.group_codes, len(design.group_labels)
    while True:
        b = rng.standard_normal((m, len(psi))) @ factor.T
        yield mean + np.einsum("nq,nq->n", design.z, b[codes]) + sigma * rng.standard_normal(len(mean))
