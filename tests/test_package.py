"The exported package: importable from a plain interpreter (no Jupyter), and its version is the one pyproject.toml reads."
import importlib, importlib.metadata, re, subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK_ONLY = ("IPython", "ipykernel", "ipywidgets", "anywidget", "jupyter_client", "nbdev", "plotly")


def test_import_without_jupyter():
    code = ("import sys, elsa_wb.elsa, elsa_wb.cli\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {NOTEBOOK_ONLY!r})\n"
            "print(repr(bad))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"importing elsa_wb.elsa/elsa_wb.cli pulled in notebook-only modules: {r.stdout.strip()}"


def test_version_matches_pyproject():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in pp["project"]["dynamic"]
    attr = pp["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    mod, name = attr.rsplit(".", 1)
    import elsa_wb
    v = getattr(importlib.import_module(mod), name)
    assert v == elsa_wb.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc|\.dev|\.post)?\d*", v), f"{v!r} is not a release version"
    installed = importlib.metadata.version("elsa_wb")
    assert installed == v, f"installed metadata says {installed}, {attr} says {v}: reinstall with pip install -e ."
