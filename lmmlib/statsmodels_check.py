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
>>> hsb = lmmlib.load_hsb()
>>> check = compare_with_statsmodels(lmmlib.fit_mixed(hsb, "mathach ~ 1", "school"), hsb)
>>> bool(check["relative difference"].abs().max() < 1e-5)
True
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.regression.mixed_linear_model import MixedLM

from .errors import ConvergenceError, InputError
from .fitting import GRADIENT_TOLERANCE, BoundaryWarning, MixedFit, boundary_messages
from .model_frame import check_method, model_design

#: Optimizers tried from the default start, in this order.
OPTIMIZERS = ("lbfgs", "powell", "nm")
#: Gradient method used to polish the best point, and its options.
POLISHER = "bfgs"
POLISH_OPTIONS = {"gtol": 1e-8}


def fit_statsmodels(data: pd.DataFrame, formula: str, group: str, random: str = "1",
                    method: str = "REML") -> MixedFit:
    """Fit the model of :func:`lmmlib.fit_mixed` (same arguments) with statsmodels' MixedLM.

    Slower (0.5-6 s per HSB model against a few milliseconds) and kept for
    cross-checks; ``attempts`` shows each optimizer's log-likelihood and whether
    statsmodels claimed convergence.

    >>> import lmmlib
    >>> fit = fit_statsmodels(lmmlib.load_hsb(), "mathach ~ 1", "school", method="REML")
    >>> round(float(fit.random_sd["Intercept"]), 3)
    2.935
    """
    method = check_method(method)
    design = model_design(data, formula, group, random)
    model = MixedLM(design.y, pd.DataFrame(design.x, columns=design.fixed_names), groups=design.groups,
                    exog_re=pd.DataFrame(design.z, columns=design.random_names))
    best, attempts = _best_of_optimizers(model, reml=method == "REML")
    gradient_norm = float(np.linalg.norm(model.score(best.params_object, profile_fe=True)))
    if not np.isfinite(best.llf) or gradient_norm > GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the statsmodels {method} fit of {formula} (random ~{random} | {group}) did not reach an "
            f"optimum: the best log-likelihood {best.llf:.4f} has a gradient of norm {gradient_norm:.3g} "
            f"(accepted: below {GRADIENT_TOLERANCE}). Attempts:\n{attempts.to_string()}\n"
            "Simplify the random part (fewer random terms) or rescale the predictors."
        )
    names = design.random_names
    random_cov = pd.DataFrame(np.asarray(best.cov_re), index=names, columns=names)
    residual_var = float(best.scale)
    boundary = boundary_messages(random_cov, residual_var)
    for message in boundary:
        warnings.warn(f"statsmodels {method} fit of {formula}: {message}", BoundaryWarning, stacklevel=2)
    fe = np.asarray(best.fe_params)
    se = np.sqrt(np.diag(_fixed_effects_covariance(model, random_cov.to_numpy(), residual_var)))
    fixed = pd.DataFrame({"estimate": fe, "se": se, "z": fe / se}, index=design.fixed_names)
    fixed.index.name = "term"
    labels = pd.Index(list(best.random_effects), name=group)
    modes = pd.DataFrame([np.asarray(best.random_effects[g]) for g in labels], index=labels, columns=names)
    modes_se = pd.DataFrame([np.sqrt(np.diag(np.asarray(best.random_effects_cov[g]))) for g in labels],
                            index=labels, columns=names)
    index = design.frame.index
    return MixedFit(
        formula=formula, group=group, random=random, method=method,
        n_obs=int(model.nobs), n_groups=int(model.n_groups), fixed=fixed,
        random_cov=random_cov, residual_sd=float(np.sqrt(residual_var)), loglik=float(best.llf),
        boundary=tuple(boundary), attempts=attempts, gradient_norm=gradient_norm,
        random_effects=modes, random_effects_se=modes_se,
        fitted=pd.Series(np.asarray(best.fittedvalues), index=index, name="fitted"),
        response=pd.Series(design.y, index=index, name=formula.split("~")[0].strip()),
        singular=bool(boundary), hessian_positive_definite=None, n_dropped=len(data) - len(design.y),
    )


def compare_with_statsmodels(fit: MixedFit, data: pd.DataFrame, statsmodels_fit: MixedFit | None = None) -> pd.DataFrame:
    """Every estimate of *fit* next to statsmodels' fit of the same model to *data*.

    One row per parameter (as :meth:`MixedFit.parameters`, plus the fixed-effect
    standard errors and the log-likelihood), with columns ``lmmlib``,
    ``statsmodels``, ``difference`` (lmmlib minus statsmodels) and ``relative
    difference`` (the difference divided by the larger of 1 and the value).  Pass
    *statsmodels_fit* if you already have it from :func:`fit_statsmodels`.
    """
    other = statsmodels_fit
    if other is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            other = fit_statsmodels(data, fit.formula, fit.group, fit.random, fit.method)
    if (other.formula, other.group, other.random, other.method) != (fit.formula, fit.group, fit.random, fit.method):
        raise InputError(f"statsmodels_fit is a different model ({other.method} {other.formula}, "
                         f"random ~{other.random}) from the fit ({fit.method} {fit.formula}, random ~{fit.random})")
    table = pd.DataFrame({"lmmlib": _long_form(fit), "statsmodels": _long_form(other)})
    table["difference"] = table["lmmlib"] - table["statsmodels"]
    table["relative difference"] = table["difference"] / np.maximum(1.0, table["statsmodels"].abs())
    return table


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


