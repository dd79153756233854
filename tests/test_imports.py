"""The package's dependency rule, read from the code: a module imports only modules of lower-numbered notebooks (its
own number included), lazy imports inside functions included, so there is no import circle. Each module's number is the
notebook named in its `# %% ../nbs/NN_name.ipynb` headers."""
import ast, re
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "elsa_wb"
HEADER = re.compile(r"^# %% \.\./nbs/(\d+)_[\w.]+\.ipynb", re.M)


def chapter_numbers() -> dict[str, int]:
    "{module: notebook number} for every exported module of elsa_wb."
    out = {}
    for p in PKG.glob("*.py"):
        nums = {int(n) for n in HEADER.findall(p.read_text())}
        if nums:
            assert len(nums) == 1, f"{p.name} is exported from several notebooks: {sorted(nums)}"
            out[p.stem] = nums.pop()
    return out


def imported_modules(path: Path) -> set[str]:
    "The elsa_wb modules `path` imports anywhere (top level or inside functions)."
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1: base = node.module
            elif node.module and node.module.startswith("elsa_wb."): base = node.module[len("elsa_wb."):]
            elif node.module == "elsa_wb": base = None
            else: continue
            if base: found.add(base.split(".")[0])
            else: found |= {a.name for a in node.names}   # `from elsa_wb import views` / `from . import cli`
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("elsa_wb.")}
    return found


def test_every_import_points_down():
    nums = chapter_numbers()
    assert len(nums) > 10, nums
    bad = []
    for mod, n in sorted(nums.items(), key=lambda kv: kv[1]):
        for dep in sorted(imported_modules(PKG / f"{mod}.py") & set(nums)):
            if dep != mod and nums[dep] > n:
                bad.append(f"{mod} ({n:02d}) imports {dep} ({nums[dep]:02d})")
    assert not bad, "upward imports (a chapter may import only lower-numbered ones):\n" + "\n".join(bad)


def test_no_two_modules_share_a_number():
    nums = chapter_numbers()
    seen = {}
    for mod, n in nums.items(): seen.setdefault(n, []).append(mod)
    assert all(len(v) == 1 for v in seen.values()), {n: v for n, v in seen.items() if len(v) > 1}
