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
TRAINED = ("sparsegpt+ft", "elsa")


def budget_rows(bench: dict, source: str) -> list[dict]:
    "One row per (sparsity, method) of a quality bench, with its training budget in steps and tokens."
    e = bench["config"]["elsa"]
    steps = e["steps"] + e["finetune_steps"]
    out = []
    for r in bench["rows"]:
        if r["method"] not in (*TRAINED, "sparsegpt"): continue
        out.append(dict(sparsity=r["sparsity"], label=r["label"], method=r["method"], steps=steps if r["method"] in TRAINED else 0,
                        admm_steps=e["steps"] if r["method"] == "elsa" else 0, train_tokens=r.get("train_tokens"),
                        ppl=r["ppl"], ppl_austen=r.get("ppl_austen"), seconds=r.get("seconds"), source=source,
                        command=bench["command"], git_commit=bench["git_commit"]))
    return out


def check_protocol(benches: dict[str, dict]):
    "All benches must share the evaluation protocol and everything but the budget."
    keys = lambda b: json.dumps(dict(protocol=b["protocol"], model=b["config"]["model"], calib=b["config"]["calib"],
                                     train=b["config"]["train_text"], seqlen=b["config"]["elsa"]["seqlen"], batch=b["config"]["elsa"]["batch_size"],
                                     init=b["config"]["elsa"]["init"], projection=b["config"]["elsa"]["projection"]), sort_keys=True, default=str)
    first, *rest = benches
    bad = [p for p in rest if keys(benches[p]) != keys(benches[first])]
    if bad: raise ValueError(f"{bad[0]} was measured with another protocol or setting than {first}: compare benches that differ only in --steps/--finetune-steps.")


def table(rows: list[dict]) -> list[dict]:
    "Per (sparsity, steps): one-shot, control and ELSA perplexities side by side, with ELSA / control."
    by = {}
    for r in rows:
        if r["method"] == "sparsegpt": continue
        by.setdefault((r["sparsity"], r["steps"]), {})[r["method"]] = r
    one_shot = {r["sparsity"]: r for r in rows if r["method"] == "sparsegpt"}
    out = []
    for (s, steps), m in sorted(by.items()):
        c, e, o = m.get("sparsegpt+ft"), m.get("elsa"), one_shot.get(s)
        ratio = lambda k: (e[k] / c[k]) if c and e and c.get(k) and e.get(k) else None
        out.append(dict(sparsity=s, steps=steps, train_tokens=(e or c)["train_tokens"], sparsegpt=o and o["ppl"],
                        control=c and c["ppl"], elsa=e and e["ppl"], elsa_vs_control=ratio("ppl"),
                        sparsegpt_austen=o and o["ppl_austen"], control_austen=c and c["ppl_austen"], elsa_austen=e and e["ppl_austen"],
                        elsa_vs_control_austen=ratio("ppl_austen"), source=(e or c)["source"]))
    return out


def markdown(tab: list[dict], command: str, env: dict) -> str:
    f = lambda x: "-" if x is None else f"{x:,.1f}"
    g = lambda x: "-" if x is None else f"{x:.2f}x"
    lines = ["# ELSA vs SparseGPT + masked fine-tuning across training budgets", "",
             f"`{command}` at {env['git_commit']}, {env['time']}. Each row's numbers come from one quality bench (`source`), "
             "where the control and ELSA ran side by side with the same tokens.", "",
             "| sparsity | steps | train tokens | SparseGPT one-shot | SparseGPT + FT | ELSA | ELSA / control | Austen: one-shot | control | ELSA | ELSA / control |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in tab:
        lines.append(f"| {r['sparsity']:.0%} | {r['steps']} | {r['train_tokens']:,} | {f(r['sparsegpt'])} | {f(r['control'])} | {f(r['elsa'])} | "
                     f"{g(r['elsa_vs_control'])} | {f(r['sparsegpt_austen'])} | {f(r['control_austen'])} | {f(r['elsa_austen'])} | {g(r['elsa_vs_control_austen'])} |")
    return "\n".join(lines) + "\n"


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
    tab = table(rows)
    env = environment()
    command = shlex.join(["python", "bench/budget.py", *(sys.argv[1:] if argv is None else argv)])
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(dict(table=tab, rows=rows, command=command, **env), indent=1, default=str))
    out.with_suffix(".md").write_text(markdown(tab, command, env))
    print(markdown(tab, command, env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
