"""Checks that a model's parameters are determined by its data, made before any fit.

lme4 is the anchor: a grouping factor needs fewer levels than there are
observations, and more observations than random effects.  Beyond lme4, the
checks here refuse the designs for which a variance cannot be estimated at all,
whatever the optimizer reports:

* a random effect that the fixed part already contains (group indicators in the
  fixed part together with a random intercept for the same groups; a fixed
  group-by-slope interaction together with a random slope);
* a random effect that, within every group, is a combination of the other random
  effects (a random slope on a predictor that is constant within every group,
  beside a random intercept);
* a response that is constant, or that the fixed and random parts reproduce
  exactly, so that no residual variance is left.

All of them work on the per-group cross-products and are scale-free: rescaling
or shifting a predictor never changes their verdict.  Each raises
:class:`~lmmlib.errors.InputError` naming the term and what to do.

>>> import numpy as np, pandas as pd, lmmlib
>>> data = pd.DataFrame({"y": np.arange(8.0) % 3, "g": np.repeat(list("abcd"), 2)})
>>> lmmlib.fit_mixed(data, "y ~ C(g) + (1 | g)")
Traceback (most recent call last):
...
lmmlib.errors.InputError: the random 'Intercept' effect of 'g' is confounded with the fixed part ...
"""
from __future__ import annotations

import numpy as np

from .engine import CrossProducts
from .errors import InputError
from .model_frame import ModelDesign

#: Relative size below which a quantity counts as zero in the rank decisions.
RANK_TOLERANCE = 1e-9


def check_identifiable(design: ModelDesign, cp: CrossProducts) -> None:
    """Raise InputError if the model's variance parameters cannot be told apart from the data."""
    text, group = design.formula.text, design.formula.group
    q, m = cp.q, len(cp.groups)
    if cp.n <= m:
        raise InputError(f"{text!r}: the grouping factor {group!r} has {m} levels for {cp.n} observations; "
                         "it needs fewer levels than observations (every group has one row, so a group's "
                         "random effect cannot be told from its residual): use an ordinary regression")
    if cp.n <= q * m:
        raise InputError(f"{text!r}: {cp.n} observations for {q * m} random effects ({q} per group of "
                         f"{group!r}); the random effects and the residual variance cannot be told apart: "
                         "simplify the random part or use groups with more rows")
    check_random_terms(text, group, design.random_names, cp)


def check_random_terms(text: str, group: str, names: list[str], cp: CrossProducts) -> None:
    """Raise InputError if a random effect of the grouping factor *group* (columns *names*, with
    per-group cross-products *cp*) is confounded with the fixed part or, within every group, with
    the factor's other random effects (used for each factor of a model with several)."""
    _check_against_fixed_part(text, group, names, cp)
    if cp.q > 1:
        _check_against_other_random_terms(text, group, names, cp)


def _check_against_fixed_part(text: str, group: str, names: list[str], cp: CrossProducts) -> None:
    """Each random effect must have at least one group-level contrast that the fixed part does not span.

    For random column k, the fixed columns lying in the span of {z_k restricted to
    group i} are the null space of X'X - sum_i F_ik F_ik' / G_ikk (X with the
    column-k group effects projected out); if their number reaches the number of
    groups where z_k is not zero, the fixed part absorbs every group effect.
    """
    scale = 1.0 / np.sqrt(np.diag(cp.xtx))
    xtx = cp.xtx * np.outer(scale, scale)
    limit = RANK_TOLERANCE * np.linalg.eigvalsh(xtx).max()
    for k, name in enumerate(names):
        g = cp.ztz[k, k]
        active = g > 0
        f = cp.ztx[k][:, active] * scale[:, None]
        projected = xtx - (f / g[active]) @ f.T
        absorbed = int(np.sum(np.linalg.eigvalsh(projected) <= limit))
        if absorbed >= int(active.sum()):
            raise InputError(
                f"the random {name!r} effect of {group!r} is confounded with the fixed part of "
                f"{text!r}: the fixed effects already span all {int(active.sum())} group-level "
                f"values of {name!r}, so its variance cannot be estimated; drop the group indicators (or "
                "group-by-predictor terms) from the fixed part, or drop the random term")


def _check_against_other_random_terms(text: str, group: str, names: list[str], cp: CrossProducts) -> None:
    """A random column must vary, within at least one group, apart from the other random columns."""
    q = cp.q
    blocks = np.moveaxis(cp.ztz, -1, 0)                              # (m, q, q)
    for k, name in enumerate(names):
        others = [j for j in range(q) if j != k]
        g_kk = blocks[:, k, k]
        cross = blocks[:, k, others]                                  # (m, q - 1)
        inverse = np.linalg.pinv(blocks[:, others][:, :, others], hermitian=True)
        left = g_kk - np.einsum("mi,mij,mj->m", cross, inverse, cross)
        if np.all(left <= RANK_TOLERANCE * np.maximum(g_kk, np.finfo(float).tiny)):
            raise InputError(
                f"the random {name!r} effect of {group!r} in {text!r} is, within "
                f"every group, a combination of the other random effects {[names[j] for j in others]} "
                "(for example a predictor that is constant within groups): its variance cannot be told from "
                "theirs; drop it from the random part (a group-level predictor belongs in the fixed part)")


def check_response(design: ModelDesign, cp: CrossProducts) -> None:
    """Raise InputError if the response is constant or reproduced exactly by the fixed and random parts.

    The residual sum of squares after projecting y on X and on every group's Z_i
    is computed from the cross-products (within-group projection, then X); when
    it is zero, the likelihood is unbounded as the residual variance goes to 0.
    """
    y, text = design.y, design.formula.text
    if np.ptp(y) == 0:
        raise InputError(f"the response of {text!r} is constant (every value is {y[0]:g}): there is nothing "
                         "to model")
    total = float(np.sum((y - y.mean()) ** 2))
    g_inverse = np.moveaxis(np.linalg.pinv(np.moveaxis(cp.ztz, -1, 0), hermitian=True), 0, -1)
    gy = np.einsum("ijm,jm->im", g_inverse, cp.zty)
    gx = np.einsum("ijm,jkm->ikm", g_inverse, cp.ztx)
    yy = cp.yty - float(np.vdot(cp.zty, gy))
    xy = cp.xty - np.einsum("ikm,im->k", cp.ztx, gy)
    xx = cp.xtx - np.einsum("ikm,ilm->kl", cp.ztx, gx)
    left = yy - float(xy @ np.linalg.lstsq(xx, xy, rcond=1e-12)[0])
    if left <= max(1e-10 * total, 1e-13 * cp.yty):
        raise InputError(f"the fixed and random parts of {text!r} reproduce the response exactly (no residual "
                         "variation is left within the groups), so the residual variance would be 0 and the "
                         "likelihood unbounded; remove terms from the model")
