"""Small simulated data sets for examples and quick checks (no download, same rows every time).

>>> data = two_level_data()
>>> data.shape, data["group"].nunique()
((240, 3), 30)
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def two_level_data(n_groups: int = 30, group_size: int = 8, seed: int = 5) -> pd.DataFrame:
    """y = 10 + 2 x + (u_0 + u_1 x) + e in *n_groups* groups of *group_size* rows.

    Random intercepts with SD 1.5, random slopes with SD 0.5 (correlation 0.3), residual
    SD 1; x is standard normal.  Columns ``y``, ``x`` and ``group`` (g01, g02, ...).
    """
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), group_size)
    x = rng.normal(size=len(group))
    cov = np.array([[1.5 ** 2, 0.3 * 1.5 * 0.5], [0.3 * 1.5 * 0.5, 0.5 ** 2]])
    u = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    y = 10 + 2 * x + u[group, 0] + u[group, 1] * x + rng.normal(size=len(group))
    labels = np.array([f"g{k + 1:02d}" for k in range(n_groups)])
    return pd.DataFrame({"y": y, "x": x, "group": labels[group]})
