"""`make docs`: the notebooks as a website, built offline, in _docs/site (not committed).

nbdev's own docs command renders with Quarto; the `quarto-cli` package on PyPI is a source archive that downloads the
Quarto binary from GitHub while it builds, which an offline machine (package registries only) cannot do, and no
registry here ships the binary. So the site is built with MkDocs (Material theme) and mkdocs-jupyter, which install
from PyPI as wheels:

1. every notebook of nbs/ is copied to _docs/src and executed there with nbdev's own test runner (the same flags as
   `nbdev-test`: `slow` and `gpu` cells are skipped), two notebooks at a time with one thread each; a notebook that
   fails fails the build;
2. what a reader should not see goes: `#| hide` cells and the `#|` directive lines;
3. the home page is nbs/index.ipynb with its table markers filled from bench/results/*.json (scripts/make_readme.py,
   as in README.md), and the panels chapter shows the screenshot the real-browser test takes of the panels in
   JupyterLab (tests/artifacts/panel_smoke.png; the test is run first when the picture is missing);
4. `mkdocs build` writes _docs/site, which is then checked: a page per chapter, figures drawn by plotly in the views
   chapter, the README's tables on the home page.

Open _docs/site/index.html through a local server (`python -m http.server -d _docs/site`) to read it.
"""
from __future__ import annotations
import json, os, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from make_readme import expand   # noqa: E402  the README's table renderer

SRC, SITE = ROOT / "_docs" / "src", ROOT / "_docs" / "site"
PANEL_SHOT = ROOT / "tests" / "artifacts" / "panel_smoke.png"
SKIP_FLAGS = ("slow", "gpu")   # as pyproject's tst_flags: cells run only when asked for


def copy_notebooks() -> list[Path]:
    "nbs/*.ipynb into _docs/src (a sibling of bench/ one level down, so the notebooks' relative paths still hold)."
    if SRC.parent.exists(): shutil.rmtree(SRC.parent)
    SRC.mkdir(parents=True)
    (SRC.parent / "bench").symlink_to(ROOT / "bench")   # _docs/src/../bench is the repository's bench/
    nbs = sorted((ROOT / "nbs").glob("*.ipynb"))
    for nb in nbs: shutil.copy(nb, SRC / nb.name)
    return [SRC / nb.name for nb in nbs]


def execute(nbs: list[Path], workers: int = 2) -> None:
    "Run every notebook with nbdev's test runner, saving the outputs into the copy; raise when one fails."
    from nbdev.test import test_nb
    from fastcore.parallel import parallel
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.time()
    results = parallel(test_nb, nbs, skip_flags=list(SKIP_FLAGS), save=True, n_workers=workers, pause=0.5)
    failed = [nb.name for nb, (ok, _) in zip(nbs, results) if not ok]
    if failed: sys.exit(f"build_docs: these notebooks failed to run (see above): {', '.join(failed)}")
    print(f"build_docs: ran {len(nbs)} notebooks in {time.time() - t0:.0f} s", flush=True)


def tidy(nb_path: Path) -> None:
    "Drop hidden cells, directive lines and nbdev's timing metadata (not nbformat); fill the home page's table markers."
    nb = json.loads(nb_path.read_text())
    cells = []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "code":
            if re.search(r"^#\|\s*hide\b", src, re.M): continue
            src = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip("\n")
            if not src and not c.get("outputs"): continue
            c.get("metadata", {}).pop("execution", None)
        elif c["cell_type"] == "markdown":
            if nb_path.name == "index.ipynb": src = expand(src, ROOT)
            src = re.sub(r"^# .*$", lambda m: m[0].replace("`", ""), src, count=1, flags=re.M)   # the page title: the nav drops code spans
        c["source"] = src
        cells.append(c)
    nb["cells"] = cells
    nb_path.write_text(json.dumps(nb, indent=1))


def panel_picture() -> None:
    "Put the real-browser screenshot of the panels at the top of the panels chapter (taking it when it is missing)."
    if not PANEL_SHOT.exists():
        print("build_docs: no panel screenshot yet: running the real-browser test to take it", flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "-q", str(ROOT / "tests" / "test_browser.py")], check=True, cwd=ROOT)
    import base64
    png = base64.b64encode(PANEL_SHOT.read_bytes()).decode()   # inside the page: no image path to get wrong
    p = SRC / "71_panels.ipynb"
    nb = json.loads(p.read_text())
    shot = dict(cell_type="markdown", metadata={}, id="panelshot", source=(
        f"![The panels in JupyterLab](data:image/png;base64,{png})\n\n*The panels as a user sees them in JupyterLab: a screenshot "
        "the real-browser test (`tests/test_browser.py`) took while it drove them in headless Chromium.*"))
    first_md = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown")
    nb["cells"].insert(first_md + 1, shot)
    p.write_text(json.dumps(nb, indent=1))


def build_site() -> None:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--config-file", str(ROOT / "mkdocs.yml")], check=True, cwd=ROOT, env=env)


def check_site(nbs: list[Path]) -> None:
    "The site has a page per chapter, plotly figures in the views chapter, the README's tables on the home page."
    missing = [nb.stem for nb in nbs if nb.stem != "index" and not (SITE / nb.stem / "index.html").exists()]
    assert not missing, f"no page for {missing}"
    views = (SITE / "50_views" / "index.html").read_text()
    assert views.count('class="plotly-graph-div') >= 3, "the views chapter shows no plotly figures"
    home = (SITE / "index.html").read_text()
    assert "<table>" in home, "the home page has no table (from bench/results)"
    assert "data:image/png;base64" in (SITE / "71_panels" / "index.html").read_text(), "the panels chapter has no screenshot"
    print(f"build_docs: {SITE} ({sum(f.stat().st_size for f in SITE.rglob('*') if f.is_file()) / 1e6:.0f} MB, {len(nbs)} pages)")


if __name__ == "__main__":
    nbs = copy_notebooks()
    execute(nbs)
    for nb in nbs: tidy(nb)
    panel_picture()
    build_site()
    check_site(nbs)
