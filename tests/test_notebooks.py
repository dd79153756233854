"""The notebooks read as chapters: no code cell longer than about a screen (60 lines), so each definition sits beside
its explanation and its test."""
import json
from pathlib import Path

NBS = Path(__file__).resolve().parents[1] / "nbs"
MAX_LINES = 60


def test_no_code_cell_is_longer_than_a_screen():
    long = []
    for nb in sorted(NBS.glob("*.ipynb")):
        for i, c in enumerate(json.loads(nb.read_text())["cells"]):
            n = len("".join(c["source"]).splitlines())
            if c["cell_type"] == "code" and n > MAX_LINES: long.append(f"{nb.name} cell {i}: {n} lines")
    assert not long, f"code cells over {MAX_LINES} lines (split them, with a sentence between):\n" + "\n".join(long)
