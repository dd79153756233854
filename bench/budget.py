"""How ELSA and the masked fine-tuning control scale with the training budget: one table from several quality benches.

Each budget is one run of bench/quality.py with its own --steps/--finetune-steps, --runs and --out, e.g.

    python bench/quality.py --sparsity 0.7 --methods sparsegpt+ft elsa --steps 45 --finetune-steps 15 \\
        --init sparsegpt --projection magnitude --runs runs/budget/60 --out bench/results/budget/60
    python bench/budget.py bench/results/quality.json bench/results/budget/*/quality.json

This script only reads those JSON files (it trains nothing): per sparsity and total training steps it lists the
perplexity of SparseGPT one-shot, SparseGPT + masked fine-tuning (the control) and ELSA on both evaluation texts, and
the ratio ELSA / control, measured side by side in each bench. Writes bench/results/budget.{json,md}.
"""
from __future__ import annotations
import argparse, json, shlex, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTROL = "sparsegpt+ft"
def is_control(method: str) -> bool: return method == CONTROL or method.startswith(CONTROL + "-")
def trained(method: str) -> bool: return is_control(method) or method == "elsa" or method.startswith("elsa-")
def control_of(method: str, present) -> str:
    "The control measured with an ELSA variant's own training settings (`sparsegpt+ft-NAME` for `elsa-NAME`) if present, else the plain one."
    own = CONTROL + method[len("elsa"):]
    return own if own in present else CONTROL


def budget_rows(bench: dict, source: str) -> list[dict]:
    "One row per (sparsity, method) of a quality bench, with its training budget in steps and tokens."
    cfgs = {"elsa": bench["config"]["elsa"], CONTROL: bench["config"]["elsa"],
            **{f"{m}-{k}": v for k, v in bench["config"].get("variants", {}).items() for m in ("elsa", CONTROL)}}
    out = []
    for r in bench["rows"]:
        if not (trained(r["method"]) or r["method"] == "sparsegpt"): continue
        e = cfgs[r["method"]] if trained(r["method"]) else None
        out.append(dict(sparsity=r["sparsity"], label=r["label"], method=r["method"], steps=e["steps"] + e["finetune_steps"] if e else 0,
                        admm_steps=e["steps"] if e and not is_control(r["method"]) else 0, train_tokens=r.get("train_tokens"),
                        ppl=r["ppl"], ppl_austen=r.get("ppl_austen"), seconds=r.get("seconds"), source=source,
                        command=bench["command"], git_commit=bench["git_commit"]))
    return out


def check_protocol(benches: dict[str, dict]):
    "All benches must share the evaluation protocol, calibration and training data and batch shape."
    keys = lambda b: json.dumps(dict(protocol=b["protocol"], model=b["config"]["model"], calib=b["config"]["calib"],
                                     train=b["config"]["train_text"], seqlen=b["config"]["elsa"]["seqlen"], batch=b["config"]["elsa"]["batch_size"]),
                                sort_keys=True, default=str)
    first, *rest = benches
    bad = [p for p in rest if keys(benches[p]) != keys(benches[first])]
    if bad: raise ValueError(f"{bad[0]} was measured with another protocol or setting than {first}: compare benches that differ only in the training budget.")


def table(rows: list[dict]) -> tuple[list[str], list[dict]]:
    "The trained methods, and per (sparsity, steps) their perplexities beside SparseGPT one-shot's, with each ELSA / control."
    methods = sorted({r["method"] for r in rows if trained(r["method"])}, key=lambda m: (not is_control(m), m))
    by = {}
    for r in rows:
        if trained(r["method"]): by.setdefault((r["sparsity"], r["steps"]), {})[r["method"]] = r
    one_shot = {r["sparsity"]: r for r in rows if r["method"] == "sparsegpt"}
    out = []
    for (s, steps), m in sorted(by.items()):
        o = one_shot.get(s)
        row = dict(sparsity=s, steps=steps, train_tokens=next(iter(m.values()))["train_tokens"])
        for sfx in ("", "_austen"):
            row[f"sparsegpt{sfx}"] = o and o[f"ppl{sfx}"]
            for meth in methods:
                v = m.get(meth, {}).get(f"ppl{sfx}")
                row[f"{meth}{sfx}"] = v
                if not is_control(meth):
                    row[f"{meth}_control"] = ctl = control_of(meth, m)
                    c = m.get(ctl)
                    row[f"{meth}_vs_control{sfx}"] = v / c[f"ppl{sfx}"] if v and c and c.get(f"ppl{sfx}") else None
        row["sources"] = sorted({r["source"] for r in m.values()})
        out.append(row)
    return methods, out


def markdown(methods: list[str], tab: list[dict], command: str, env: dict) -> str:
    f = lambda x: "-" if x is None else f"{x:,.1f}"
    g = lambda x: "-" if x is None else f"{x:.2f}x"
    elsas = [m for m in methods if not is_control(m)]
    head = ["SparseGPT one-shot", *methods, *[f"{m} / control" for m in elsas]]
    lines = ["# ELSA vs SparseGPT + masked fine-tuning (the control) across training budgets", "",
             f"`{command}` at {env['git_commit']}, {env['time']}. Each row comes from one quality bench run, where the control and "
             "ELSA trained side by side on the same tokens; perplexity on the handbook, then on Austen. `elsa-NAME / control` divides by "
             "`sparsegpt+ft-NAME` (the control with the same training settings) where the bench has it, else by `sparsegpt+ft`.", ""]
    for sfx, name in (("", "handbook"), ("_austen", "Austen")):
        lines += [f"**{name}**", "", "| sparsity | steps | train tokens | " + " | ".join(head) + " |", "|---|" + "---:|" * (2 + len(head))]
        for r in tab:
            cells = [f(r[f"sparsegpt{sfx}"]), *[f(r[f"{m}{sfx}"]) for m in methods], *[g(r[f"{m}_vs_control{sfx}"]) for m in elsas]]
            lines.append(f"| {r['sparsity']:.0%} | {r['steps']} | {r['train_tokens']:,} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/budget.py", description=__doc__.split("\n\n")[0])
    p.add_argument("benches", nargs="+", help="quality.json files of bench/quality.py runs that differ only in the budget")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "budget"), help="output stem (default bench/results/budget)")
    a = p.parse_args(argv)
    from elsa_wb.provenance import environment
    try:
        benches = {b: json.loads(Path(b).read_text()) for b in a.benches}
        check_protocol(benches)
    except (OSError, ValueError, KeyError) as e:
        print(f"bench/budget.py: error: {e}", file=sys.stderr); return 2
    rows = [r for b, d in benches.items() for r in budget_rows(d, str(Path(b).resolve().relative_to(ROOT)) if Path(b).resolve().is_relative_to(ROOT) else b)]
    methods, tab = table(rows)
    env = environment()
    command = shlex.join(["python", "bench/budget.py", *(sys.argv[1:] if argv is None else argv)])
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(dict(methods=methods, table=tab, rows=rows, command=command, **env), indent=1, default=str))
    out.with_suffix(".md").write_text(markdown(methods, tab, command, env))
    print(markdown(methods, tab, command, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
