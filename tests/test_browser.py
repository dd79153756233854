"""The panels in a real browser: JupyterLab on a free local port, tests/panel_smoke.ipynb opened in headless Chromium
(Playwright, the system's chromium), all cells run from the menu; the run browser must overlay its two runs and its
Save figure button write a PNG (kaleido, the same chromium); then Start is clicked in the rendered run panel, whose
live plotly figures must render and fill. No cell may show a traceback. Screenshots go to tests/artifacts/.

Without chromium or playwright the test is skipped, with the reason; under CI (env CI set) it fails instead."""
import json, os, secrets, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "panel_smoke.ipynb"
ARTIFACTS = HERE / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]
POINTS_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).filter(d => !d.closest('.elsa-browser')).map(
    d => (d.data || []).reduce((n, t) => n + ((t.x && t.x.length) || 0), 0))"""   # the run panel's live figures
BROWSER_JS = """() => Array.from(document.querySelectorAll('.elsa-browser .js-plotly-plot')).map(
    d => (d.data || []).map(t => (t.x && t.x.length) || 0))"""   # the run browser's overlay: points per trace


def _missing_or_fail(reason: str):
    "Skip with the reason; under CI a missing browser is a failure, not a skip."
    if os.environ.get("CI"): pytest.fail(f"{reason} (CI is set, so the browser test must run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET"):
    req = urllib.request.Request(f"{base}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


def _start_lab(root: Path, token: str, port: int, log: Path) -> subprocess.Popen:
    "JupyterLab on 127.0.0.1:port serving `root`, isolated from the user's Jupyter settings and workspaces."
    for d in ("config", "runtime", "workspaces"): (root.parent / d).mkdir(exist_ok=True)
    settings = root.parent / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)   # no "fetch news?" notification over the notebook
    (settings / "notification.jupyterlab-settings").write_text(json.dumps(dict(fetchNews="false", checkForUpdates=False)))
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(root.parent / "config"), "JUPYTER_RUNTIME_DIR": str(root.parent / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root.parent / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / "workspaces"),
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    jupyter = Path(sys.executable).parent / "jupyter"
    cmd = [str(jupyter), "lab", "--no-browser", f"--IdentityProvider.token={token}", f"--port={port}", "--ServerApp.port_retries=0",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}"] + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def _wait_for_server(proc, base: str, token: str, log: Path, timeout: float = 90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: pytest.fail(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _api(base, token, "/api/status"); return
        except OSError: time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop_lab(proc, base: str, token: str):
    "Shut the kernels down through the API, then the server; kill it if it does not exit."
    try:
        for k in _api(base, token, "/api/kernels") or []: _api(base, token, f"/api/kernels/{k['id']}", "DELETE")
    except OSError: pass
    proc.terminate()
    try: proc.wait(20)
    except subprocess.TimeoutExpired: proc.kill(); proc.wait(10)


def test_run_panel_in_jupyterlab(tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None: _missing_or_fail("No chromium on PATH: install it (Debian: apt-get install chromium) to run the browser test.")
    try: from playwright.sync_api import sync_playwright, TimeoutError as PlaywrightTimeout
    except ImportError: _missing_or_fail("The playwright package is missing: pip install playwright (its browsers are not needed; the system chromium is used).")

    root = tmp_path / "lab"; root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    token, port, log = secrets.token_hex(16), _free_port(), tmp_path / "jupyterlab.log"
    base = f"http://127.0.0.1:{port}"
    t0, phases = time.time(), {}
    mark = lambda what: phases.setdefault(what, round(time.time() - t0, 1))
    proc = _start_lab(root, token, port, log)
    try:
        _wait_for_server(proc, base, token, log); mark("server")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=dict(width=1400, height=1100))
            try:
                page.set_default_timeout(90_000)
                page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}&reset")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell")
                page.wait_for_function("() => /[|] Idle/.test(document.querySelector('#jp-main-statusbar')?.innerText || '')")   # the kernel is up
                mark("kernel")
                page.click(".lm-MenuBar-item:has-text('Run')")
                page.click(".lm-Menu-item:has-text('Run All Cells')")
                dialog = page.locator(".jp-Dialog:has-text('Select Kernel') .jp-Dialog-button.jp-mod-accept")
                try: dialog.click(timeout=3_000)   # JupyterLab asks for a kernel if the session was not attached yet
                except PlaywrightTimeout: pass
                page.wait_for_function(f"({BROWSER_JS})().length == 1 && ({BROWSER_JS})()[0].length == 2", timeout=120_000)
                overlay = page.evaluate(BROWSER_JS)[0]; mark("browser")
                page.locator(".elsa-browser").scroll_into_view_if_needed()
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "run_browser.png"))
                page.click(".elsa-browser .widget-button:has-text('Save figure')")
                page.wait_for_function("() => /figure saved|rror|needs Chrome/.test(document.querySelector('.elsa-browser-status')?.innerText || '')", timeout=120_000)
                saved_text = page.locator(".elsa-browser-status").inner_text(); mark("figure")
                start = page.locator(".jp-OutputArea-output .widget-button:has-text('Start')")
                start.wait_for(state="visible", timeout=60_000)
                page.wait_for_function(f"({POINTS_JS})().length >= 5")   # the panel's live figures are drawn, still empty
                mark("panel")
                before = page.evaluate(POINTS_JS)
                start.click()
                status = page.locator(".elsa-status")
                page.wait_for_function("() => /finished|failed|stopped|rror/.test(document.querySelector('.elsa-status')?.innerText || '')", timeout=120_000)
                text = status.inner_text(); mark("run")
                page.wait_for_function(f"({POINTS_JS})().filter(n => n > 0).length >= 5", timeout=30_000)
                after = page.evaluate(POINTS_JS)
                page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "panel_smoke.png"))
                stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
            except Exception:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "panel_smoke_failure.png"))   # what the page showed when it failed
                raise
            finally: browser.close()
    finally:
        _stop_lab(proc, base, token)
    took = time.time() - t0
    print(f"browser test: {took:.0f} s (seconds from the start: {phases}); run browser overlay points per run {overlay}, {saved_text}; "
          f"points per figure before Start {before}, after {after}; status: {text}")
    assert all(n > 0 for n in overlay), f"the run browser drew an empty curve: {overlay}"
    assert "figure saved" in saved_text, saved_text
    pngs = list((root / "browse" / "figures").glob("*.png"))
    assert len(pngs) == 1 and pngs[0].read_bytes()[:4] == b"\x89PNG", pngs
    assert "finished" in text, f"the run did not finish: {text}"
    assert before == [0] * len(before) and len(after) == 5 and all(n > 0 for n in after), (before, after)
    tracebacks = [s for s in stderr if "Traceback" in s]
    assert not tracebacks, tracebacks[0][-3000:]
    assert (root / "runs").is_dir() and any((d / "summary.json").exists() for d in (root / "runs").iterdir())   # the run directory, as the CLI writes it
