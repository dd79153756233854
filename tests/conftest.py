"Shared setup of the pytest suite: offline Hugging Face, and the installed `elsa-wb` console script."
import os, subprocess, sys
from pathlib import Path

for _k, _v in dict(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false").items():
    os.environ.setdefault(_k, _v)   # set before anything imports transformers; inherited by every subprocess

import pytest


@pytest.fixture(scope="session")
def elsa_wb_exe() -> Path:
    "The `elsa-wb` console script of the venv running pytest (installed by `pip install -e .`)."
    exe = Path(sys.executable).parent / "elsa-wb"
    if not exe.exists(): pytest.fail(f"{exe} does not exist: install the package into this venv first (make install).")
    return exe


@pytest.fixture(scope="session")
def cli(elsa_wb_exe):
    "`cli(*args)`: run `elsa-wb args...` to completion in a subprocess; returns the CompletedProcess (text stdout/stderr)."
    def run(*args, timeout: float = 900):
        return subprocess.run([str(elsa_wb_exe), *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return run
