"""Fitting linear mixed models with statsmodels, checked so that no short fit gets through.

statsmodels' ``MixedLM`` optimizers can stop well short of the optimum and still
report convergence: on the HSB random-coefficients model its default chain stops
about 100 log-likelihood units below the maximum.  :func:`fit_mixed` therefore

1. runs several optimizers from the default start (``OPTIMIZERS``),
2. keeps the one with the highest (restricted) log-likelihood,
3. polishes it with a gradient method started from that point, and
4. accepts the result only if the gradient of the profiled log-likelihood is
   small there; otherwise it raises :class:`~lmmlib.errors.ConvergenceError`.

Every attempt is recorded in :attr:`MixedFit.attempts`, and a variance that lands
on the boundary of the parameter space (zero, or a singular covariance matrix)
is reported in :attr:`MixedFit.boundary` and with a :class:`BoundaryWarning`.

Standard errors of the fixed effects are computed as nlme and lme4 report them,
from the fixed-effects block ``sigma^2 (X' V^-1 X)^-1`` evaluated at the estimates,
not from statsmodels' joint Hessian (the two differ in the third decimal on
random-slope models).

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school", method="ML")
>>> round(float(fit.fixed.loc["Intercept", "estimate"]), 3), round(fit.residual_sd, 3)
(12.637, 6.257)
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from statsmodels.regression.mixed_linear_model import MixedLM

from .checks import require_columns, require_frame, require_numeric
from .errors import ConvergenceError, InputError

#: Optimizers tried from the default start, in this order.
OPTIMIZERS = ("lbfgs", "powell", "nm")
#: Gradient method used to polish the best point, and its options.
POLISHER = "bfgs"
POLISH_OPTIONS = {"gtol": 1e-8}
#: Largest accepted norm of the gradient of the profiled log-likelihood.
GRADIENT_TOLERANCE = 1e-2
#: A random-effect variance below this fraction of the residual variance is "on the boundary".
BOUNDARY_TOLERANCE = 1e-6

_METHODS = {"ML": False, "REML": True}


class BoundaryWarning(UserWarning):
    """A variance estimate sits on the boundary of the parameter space."""


@dataclass(frozen=True)
class MixedFit:
    """A fitted linear mixed model in tidy form.

    Attributes
    ----------
    formula, group, random, method
        What was fitted: fixed-effects formula, grouping column, random part
        (e.g. ``"1"`` or ``"1 + cses"``) and ``"ML"`` or ``"REML"``.
    n_obs, n_groups
        Number of rows used and number of groups.
    fixed
        DataFrame indexed by term with columns ``estimate``, ``se``, ``z``.
    random_cov
        Covariance matrix of the random effects (Psi) as a DataFrame.
    residual_sd
        Estimated SD of the level-1 errors (sigma).
    loglik
        Maximised log-likelihood (ML) or restricted log-likelihood (REML).
    boundary
        Messages about estimates on the boundary of the parameter space (empty if none).
    attempts
        One row per optimizer run: optimizer, log-likelihood, statsmodels' own
        convergence flag (not trusted: lmmlib checks the gradient instead), an error
        message if the run failed, and whether it was kept.
    gradient_norm
        Norm of the gradient of the profiled log-likelihood at the estimate.
    """

    formula: str
    group: str
    random: str
    method: str
    n_obs: int
    n_groups: int
    fixed: pd.DataFrame
    random_cov: pd.DataFrame
    residual_sd: float
    loglik: float
    boundary: tuple[str, ...]
    attempts: pd.DataFrame = field(repr=False)
    gradient_norm: float = field(repr=False)

    @property
    def random_sd(self) -> pd.Series:
        """Standard deviations of the random effects (square roots of Psi's diagonal)."""
        return pd.Series(np.sqrt(np.diag(self.random_cov.to_numpy())), index=self.random_cov.index,
                         name="sd")

    def parameters(self) -> pd.DataFrame:
        """All estimates in one long table: fixed effects, random-effect SDs and covariances, residual SD.

        Columns: ``kind`` (fixed / random / residual), ``estimate`` and ``se``
        (standard errors are given for fixed effects only).

        >>> import lmmlib
        >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school")
        >>> fit.parameters().index.tolist()
        ['Intercept', 'sd(Intercept)', 'sd(residual)']
        """
        rows = [("fixed", term, r.estimate, r.se) for term, r in self.fixed.iterrows()]
        names = list(self.random_cov.index)
        cov = self.random_cov.to_numpy()
        for k, name in enumerate(names):
            rows.append(("random", f"sd({name})", float(np.sqrt(cov[k, k])), np.nan))
        for k in range(len(names)):
            for m in range(k + 1, len(names)):
                rows.append(("random", f"cov({names[k]},{names[m]})", float(cov[k, m]), np.nan))
        rows.append(("residual", "sd(residual)", self.residual_sd, np.nan))
        table = pd.DataFrame(rows, columns=["kind", "parameter", "estimate", "se"])
        return table.set_index("parameter")

    def __str__(self) -> str:
        lines = [
            f"Linear mixed model fitted by {self.method}: {self.formula}, random = ~{self.random} | {self.group}",
            f"{self.n_obs} observations in {self.n_groups} groups; "
            f"{'restricted ' if self.method == 'REML' else ''}log-likelihood {self.loglik:.2f}",
            self.parameters().to_string(float_format=lambda v: f"{v:.4f}", na_rep=""),
        ]
        lines += [f"Boundary: {message}" for message in self.boundary]
        return "\n".join(lines)


def fit_mixed(data: pd.DataFrame, formula: str, group: str, random: str = "1",
              method: str = "REML") -> MixedFit:
    """Fit a two-level linear mixed model and return a checked, tidy :class:`MixedFit`.

    Parameters
    ----------
    data
        One row per level-1 unit.
    formula
        Fixed part as a patsy formula, e.g. ``"mathach ~ cses"``.
    group
        Column identifying the groups (level-2 units).
    random
        Random part as the right-hand side of a formula: ``"1"`` for a random
        intercept, ``"1 + cses"`` for a random intercept and slope (with an
        unstructured covariance), ``"0 + cses"`` for a slope only.
    method
        ``"REML"`` (default) or ``"ML"``.

    Rows with a missing value in a column the model uses are dropped with a warning
    that says how many.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school", method="REML")
    >>> round(float(fit.random_sd["Intercept"]), 3)
    2.935
    """
    method = _check_method(method)
    frame = _model_frame(data, formula, group, random)
    model = MixedLM.from_formula(formula, frame, groups=frame[group], re_formula=f"~{random}")
    best, attempts = _best_of_optimizers(model, reml=_METHODS[method])
    gradient_norm = float(np.linalg.norm(model.score(best.params_object, profile_fe=True)))
    if not np.isfinite(best.llf) or gradient_norm > GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the {method} fit of {formula} (random ~{random} | {group}) did not reach an optimum: "
            f"the best log-likelihood {best.llf:.4f} has a gradient of norm {gradient_norm:.3g} "
            f"(accepted: below {GRADIENT_TOLERANCE}). Attempts:\n{attempts.to_string()}\n"
            "Simplify the random part (fewer random terms) or rescale the predictors."
        )
    # statsmodels renames the random intercept "Group"; patsy gives the names as written
    random_names = patsy.dmatrix(f"~{random}", frame.head(1)).design_info.column_names
    random_cov = pd.DataFrame(np.asarray(best.cov_re), index=random_names, columns=random_names)
    residual_var = float(best.scale)
    boundary = _boundary_messages(random_cov, residual_var)
    for message in boundary:
        warnings.warn(f"{method} fit of {formula}: {message}", BoundaryWarning, stacklevel=2)
    fe = np.asarray(best.fe_params)
    se = np.sqrt(np.diag(_fixed_effects_covariance(model, random_cov.to_numpy(), residual_var)))
    fixed = pd.DataFrame({"estimate": fe, "se": se, "z": fe / se}, index=model.exog_names[: len(fe)])
    fixed.index.name = "term"
    return MixedFit(
        formula=formula, group=group, random=random, method=method,
        n_obs=int(model.nobs), n_groups=int(model.n_groups), fixed=fixed,
        random_cov=random_cov, residual_sd=float(np.sqrt(residual_var)), loglik=float(best.llf),
        boundary=tuple(boundary), attempts=attempts, gradient_norm=gradient_norm,
    )


def _check_method(method: str) -> str:
    key = str(method).upper()
    if key not in _METHODS:
        raise InputError(f"method must be 'ML' or 'REML', not {method!r}")
    return key


def _model_frame(data: pd.DataFrame, formula: str, group: str, random: str) -> pd.DataFrame:
    """Check the inputs and return the rows and columns the model needs (complete cases)."""
    require_frame(data, "fit_mixed")
    if not isinstance(group, str):
        raise InputError(f"group must be the name of a column, not {group!r}")
    require_columns(data, [group], f"the grouping variable of {formula!r}")
    used = _formula_variables(data, formula) | _formula_variables(data, f"~{random}")
    require_columns(data, sorted(used), f"the model {formula!r} with random part ~{random}")
    response = formula.split("~")[0].strip()
    if response in data.columns:
        require_numeric(data, [response], f"the response of {formula!r}")
    random_columns = _formula_variables(data, f"~{random}")
    require_numeric(data, sorted(random_columns), f"the random part ~{random}")
    frame = data[sorted(used | {group})]
    complete = frame.notna().all(axis=1)
    if not complete.all():
        dropped = int((~complete).sum())
        warnings.warn(f"fit_mixed dropped {dropped} row{'s' if dropped != 1 else ''} with missing "
                      f"values in {sorted(used | {group})}", UserWarning, stacklevel=3)
        frame = frame[complete]
    if frame[group].nunique() < 2:
        raise InputError(f"a mixed model needs at least 2 groups in {group!r}; "
                         f"the data have {frame[group].nunique()}")
    return frame


def _formula_variables(data: pd.DataFrame, formula: str) -> set[str]:
    """Names of the data columns a patsy formula refers to; InputError for unknown names."""
    try:
        description = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as error:
        raise InputError(f"cannot read the formula {formula!r}: {error}") from None
    codes = [factor.code for term in description.lhs_termlist + description.rhs_termlist
             for factor in term.factors]
    sample = data.head(20)
    for code in codes:
        try:
            patsy.dmatrix(f"0 + {code}", sample, NA_action="raise")
        except patsy.PatsyError as error:
            unknown = re.search(r"name '([^']+)' is not defined", str(error))
            if unknown:
                raise InputError(
                    f"the formula {formula!r} uses {unknown.group(1)!r}, which is not a column of "
                    "the data; check the spelling or add the column"
                ) from None
    tokens = {token for code in codes for token in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", code)}
    return tokens & set(data.columns)


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


def _boundary_messages(random_cov: pd.DataFrame, residual_var: float) -> list[str]:
    names = list(random_cov.index)
    cov = random_cov.to_numpy()
    messages = [f"the variance of the random {name!r} effect is estimated as 0"
                for k, name in enumerate(names) if cov[k, k] <= BOUNDARY_TOLERANCE * residual_var]
    if not messages and len(names) > 1:
        eigenvalues = np.linalg.eigvalsh(cov)
        if eigenvalues.min() <= BOUNDARY_TOLERANCE * eigenvalues.max():
            messages.append("the random-effects covariance matrix is singular "
                            "(a correlation of +1 or -1 between random effects)")
    return messages


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


@dataclass(frozen=True)
class MethodComparison:
    """An ML fit and a REML fit of the same model, side by side.

    >>> import lmmlib
    >>> both = lmmlib.compare_ml_reml(lmmlib.load_hsb(), "mathach ~ 1", group="school")
    >>> both.table().columns.tolist()
    ['ML estimate', 'ML se', 'REML estimate', 'REML se']
    """

    ml: MixedFit
    reml: MixedFit

    def table(self) -> pd.DataFrame:
        """Estimates and standard errors of both fits, one row per parameter."""
        ml, reml = self.ml.parameters(), self.reml.parameters()
        return pd.DataFrame({
            "ML estimate": ml["estimate"], "ML se": ml["se"],
            "REML estimate": reml["estimate"], "REML se": reml["se"],
        })


def compare_ml_reml(data: pd.DataFrame, formula: str, group: str, random: str = "1") -> MethodComparison:
    """Fit the same model by ML and by REML (see :func:`fit_mixed` for the arguments)."""
    return MethodComparison(ml=fit_mixed(data, formula, group, random, method="ML"),
                            reml=fit_mixed(data, formula, group, random, method="REML"))


def intraclass_correlation(fit: MixedFit) -> float:
    """psi^2 / (psi^2 + sigma^2) for a random-intercept-only fit.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school")
    >>> round(lmmlib.intraclass_correlation(fit), 3)
    0.18
    """
    if list(fit.random_cov.index) != ["Intercept"]:
        raise InputError("the intra-class correlation is defined here for a random-intercept-only "
                         f"model; this fit has random terms {list(fit.random_cov.index)}")
    psi2 = float(fit.random_cov.iloc[0, 0])
    return psi2 / (psi2 + fit.residual_sd ** 2)
