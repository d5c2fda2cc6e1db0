"""The same models fitted with statsmodels' MixedLM, to cross-check :func:`lmmlib.fit_mixed`.

statsmodels' optimizers can stop well short of the optimum and still report
convergence: on the HSB random-coefficients model its default chain stops about
100 log-likelihood units below the maximum.  :func:`fit_statsmodels` therefore

1. runs several optimizers from the default start (``OPTIMIZERS``),
2. keeps the one with the highest (restricted) log-likelihood,
3. polishes it with a gradient method started from that point, and
4. accepts the result only if the gradient of the profiled log-likelihood is
   small there; otherwise it raises :class:`~lmmlib.errors.ConvergenceError`.

Every attempt is recorded in :attr:`MixedFit.attempts`.  Standard errors of the
fixed effects are computed from the fixed-effects block sigma^2 (X'V^-1 X)^-1, as
:func:`lmmlib.fit_mixed` computes them, not from statsmodels' joint Hessian (the
two differ in the third decimal on random-slope models).

:func:`compare_with_statsmodels` puts a fit from :func:`lmmlib.fit_mixed` next to
the statsmodels fit of the same model.

>>> import lmmlib
>>> check = compare_with_statsmodels(lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)"))
>>> check.agrees
True
"""
from __future__ import annotations

import html
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM

from .checks import require_single_factor_independent_errors
from .display import fixed_decimals, resolved
from .errors import BoundaryWarning, ConvergenceError, InputError, warn
from .fitting import GRADIENT_TOLERANCE, MixedFit, boundary_messages
from .model import MixedModel
from .model_frame import check_method

#: Optimizers tried from the default start, in this order.
OPTIMIZERS = ("lbfgs", "powell", "nm")
#: Gradient method used to polish the best point, and its options.
POLISHER = "bfgs"
POLISH_OPTIONS = {"gtol": 1e-8}
#: Largest relative difference (|difference| / max(1, |value|)) at which the two fits agree.
TOLERANCE = 1e-4


def fit_statsmodels(data: pd.DataFrame, formula: str, group: str | None = None, random: str | None = None,
                    method: str = "REML") -> MixedFit:
    """Fit the model of :func:`lmmlib.fit_mixed` (same arguments) with statsmodels' MixedLM.

    Slower (0.5-6 s per HSB model against a few milliseconds) and kept for
    cross-checks; ``attempts`` shows each optimizer's log-likelihood and whether
    statsmodels claimed convergence.

    >>> import lmmlib
    >>> fit = fit_statsmodels(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)", method="REML")
    >>> round(float(fit.random_sd["Intercept"]), 3)
    1.109
    """
    return statsmodels_fit_of(MixedModel(data, formula, group, random), check_method(method))


def statsmodels_fit_of(mixed_model: MixedModel, method: str) -> MixedFit:
    """The statsmodels fit of *mixed_model* by *method* (see :func:`fit_statsmodels`)."""
    design, formula = mixed_model.design, mixed_model.formula.text
    if len(mixed_model.blocks) > 1:
        raise InputError(f"statsmodels' MixedLM fits one unstructured covariance matrix; {formula!r} has "
                         "uncorrelated random terms, which it cannot express")
    model = MixedLM(design.y, pd.DataFrame(design.x, columns=design.fixed_names), groups=design.groups,
                    exog_re=pd.DataFrame(design.z, columns=design.random_names))
    best, attempts = _best_of_optimizers(model, reml=method == "REML")
    gradient_norm = float(np.linalg.norm(model.score(best.params_object, profile_fe=True)))
    if not np.isfinite(best.llf) or gradient_norm > GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the statsmodels {method} fit of {formula} did not reach an "
            f"optimum: the best log-likelihood {best.llf:.4f} has a gradient of norm {gradient_norm:.3g} "
            f"(accepted: below {GRADIENT_TOLERANCE}). Attempts:\n{attempts.to_string()}\n"
            "Simplify the random part (fewer random terms) or rescale the predictors."
        )
    names = design.random_names
    random_cov = pd.DataFrame(np.asarray(best.cov_re), index=names, columns=names)
    residual_var = float(best.scale)
    inverse = np.linalg.inv(mixed_model.scaling)
    internal = inverse @ random_cov.to_numpy() @ inverse.T / residual_var
    values, vectors = np.linalg.eigh(internal)
    boundary = boundary_messages(vectors * np.sqrt(np.clip(values, 0, None)), random_cov, residual_var,
                                 mixed_model.column_scale)
    for message in boundary:
        warn(f"statsmodels {method} fit of {formula}: {message}", BoundaryWarning)
    fe = np.asarray(best.fe_params)
    se = np.sqrt(np.diag(_fixed_effects_covariance(model, random_cov.to_numpy(), residual_var)))
    fixed = pd.DataFrame({"estimate": fe, "se": se, "z": fe / se}, index=design.fixed_names)
    fixed.index.name = "term"
    labels = pd.Index(list(best.random_effects), name=mixed_model.group)
    modes = pd.DataFrame([np.asarray(best.random_effects[g]) for g in labels], index=labels, columns=names)
    modes_se = pd.DataFrame([np.sqrt(np.diag(np.asarray(best.random_effects_cov[g]))) for g in labels],
                            index=labels, columns=names)
    index = design.frame.index
    return MixedFit(
        formula=formula, group=mixed_model.group, random=mixed_model.formula.random_text, method=method,
        n_obs=int(model.nobs), n_groups=int(model.n_groups), fixed=fixed,
        random_cov=random_cov, residual_sd=float(np.sqrt(residual_var)), loglik=float(best.llf),
        boundary=tuple(boundary), attempts=attempts, gradient_norm=gradient_norm,
        random_effects=modes, random_effects_se=modes_se,
        fitted=pd.Series(np.asarray(best.fittedvalues), index=index, name="fitted"),
        response=pd.Series(design.y, index=index, name=mixed_model.formula.response),
        singular=bool(boundary), hessian_positive_definite=None, n_dropped=mixed_model.n_dropped,
        model=mixed_model,
    )


@dataclass(frozen=True)
class StatsmodelsComparison:
    """Every estimate of a fit next to statsmodels' fit of the same model, and whether they agree.

    ``table`` has one row per parameter (as :meth:`MixedFit.parameters`, plus the
    fixed-effect standard errors and the log-likelihood) and columns ``lmmlib``,
    ``statsmodels``, ``difference`` and ``relative difference`` (the difference over
    the larger of 1 and the value).  The fits agree when every relative difference
    is below ``tolerance``.
    """

    table: pd.DataFrame
    tolerance: float

    @property
    def largest(self) -> float:
        """The largest relative difference."""
        return float(self.table["relative difference"].abs().max())

    @property
    def agrees(self) -> bool:
        return self.largest < self.tolerance

    def verdict(self) -> str:
        """One line (it fits a book's code column): do the two fits agree, and how closely.

        >>> table = pd.DataFrame({"relative difference": [2e-9, -3e-5]})
        >>> StatsmodelsComparison(table=table, tolerance=1e-4).verdict()
        'statsmodels agrees to 3.0e-05 (relative; 2 numbers, tolerance 1e-04)'
        """
        word = "agrees" if self.agrees else "DISAGREES"
        return (f"statsmodels {word} to {resolved(self.largest)} "
                f"(relative; {len(self.table)} numbers, tolerance {self.tolerance:.0e})")

    def shown(self) -> pd.DataFrame:
        """The table as text: estimates at 4 decimals, differences in e-notation (below 1e-6: ``< 1e-06``)."""
        shown = fixed_decimals(self.table, {"lmmlib": 4, "statsmodels": 4})
        for column in ("difference", "relative difference"):
            shown[column] = self.table[column].map(resolved)
        return shown

    def __repr__(self) -> str:
        return f"{self.verdict()}\n{self.shown().to_string()}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.verdict())}</p>{self.shown().to_html()}"


def compare_with_statsmodels(fit: MixedFit, statsmodels_fit: MixedFit | None = None,
                             tolerance: float = TOLERANCE) -> StatsmodelsComparison:
    """*fit* next to statsmodels' fit of the same model (fitted here unless *statsmodels_fit* is given)."""
    require_single_factor_independent_errors(fit, "compare_with_statsmodels")
    other = statsmodels_fit
    if other is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            other = statsmodels_fit_of(fit.model, fit.method)
    if (other.formula, other.method) != (fit.formula, fit.method) or fit.model.same_data_problems(other.model):
        raise InputError(f"statsmodels_fit is a different model or data ({other.method} {other.formula}) from "
                         f"the fit ({fit.method} {fit.formula})")
    table = pd.DataFrame({"lmmlib": _long_form(fit), "statsmodels": _long_form(other)})
    table["difference"] = table["lmmlib"] - table["statsmodels"]
    table["relative difference"] = table["difference"] / np.maximum(1.0, table["statsmodels"].abs())
    return StatsmodelsComparison(table=table, tolerance=tolerance)


def _long_form(fit: MixedFit) -> pd.Series:
    estimates = fit.parameters()["estimate"]
    se = fit.fixed["se"].rename(lambda term: f"se({term})")
    loglik = pd.Series({"log-likelihood" if fit.method == "ML" else "REML log-likelihood": fit.loglik})
    return pd.concat([estimates, se, loglik])


def _best_of_optimizers(model: MixedLM, reml: bool):
    """Run every optimizer of OPTIMIZERS, polish the best, return it with a table of attempts."""
    results, rows = [], []
    for name in OPTIMIZERS:
        result = _quiet_fit(model, reml=reml, method=name)
        results.append(result)
        rows.append(_attempt_row(name, result))
    # a collapsed run can report llf = +inf (singular covariance): never a candidate
    best_index = int(np.argmax([r.llf if np.isfinite(r.llf) else -np.inf for r in results]))
    best = results[best_index]
    if not np.isfinite(best.llf):
        raise ConvergenceError("every optimizer failed: " + "; ".join(str(r["message"]) for r in rows))
    polished = _quiet_fit(model, reml=reml, method=POLISHER, start_params=best.params_object,
                          **POLISH_OPTIONS)
    rows.append(_attempt_row(f"{POLISHER} from {OPTIMIZERS[best_index]}", polished))
    if np.isfinite(polished.llf) and polished.llf >= best.llf:
        best, best_index = polished, len(rows) - 1
    attempts = pd.DataFrame(rows)
    attempts["kept"] = attempts.index == best_index
    return best, attempts.set_index("optimizer")


def _quiet_fit(model: MixedLM, reml: bool, method: str, **options):
    """One statsmodels fit with its warnings captured; None if the optimizer raised."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return model.fit(reml=reml, method=method, **options)
        except (np.linalg.LinAlgError, ValueError, OverflowError) as error:
            return _Failed(str(error))


@dataclass
class _Failed:
    message: str
    llf: float = -np.inf
    converged: bool = False


def _attempt_row(name: str, result) -> dict:
    return {"optimizer": name, "loglik": float(result.llf),
            "statsmodels converged": bool(result.converged), "message": getattr(result, "message", "")}


def _fixed_effects_covariance(model: MixedLM, psi: np.ndarray, sigma2: float) -> np.ndarray:
    """sigma^2-scaled (X' V^-1 X)^-1 with V_i = Z_i Psi Z_i' + sigma^2 I, summed over groups.

    Uses V_i^-1 = [I - Z_i Psi (sigma^2 I + Z_i'Z_i Psi)^-1 Z_i'] / sigma^2, which stays
    valid when Psi is singular.
    """
    p, q = model.k_fe, model.k_re
    information = np.zeros((p, p))
    for x, z in zip(model.exog_li, model.exog_re_li):
        xtz = x.T @ z
        inner = np.linalg.solve(sigma2 * np.eye(q) + z.T @ z @ psi, xtz.T)
        information += (x.T @ x - xtz @ psi @ inner) / sigma2
    return np.linalg.inv(information)


