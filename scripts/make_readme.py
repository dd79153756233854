"""Write README.md from nbs/index.ipynb (markdown cells as they are, code cells as python blocks without nbdev directives).
nbdev-readme needs a Quarto docs setup; this keeps README.md generated from the notebook without one."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
nb = json.loads((root / "nbs" / "index.ipynb").read_text())
parts = ["<!-- generated from nbs/index.ipynb by scripts/make_readme.py: edit the notebook, then `make readme` -->"]
for c in nb["cells"]:
    src = "".join(c["source"])
    if c["cell_type"] == "markdown": parts.append(src)
    elif c["cell_type"] == "code":
        code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
        if code: parts.append(f"```python\n{code}\n```")
(root / "README.md").write_text("\n\n".join(parts) + "\n")
print("README.md written", file=sys.stderr)
