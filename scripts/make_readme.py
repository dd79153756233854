"""Write README.md from nbs/index.ipynb: markdown cells as they are, code cells as python blocks without nbdev directives,
and every table marker replaced by a table rendered from the committed results in bench/results/.
nbdev-readme needs a Quarto docs setup; this keeps README.md generated from the notebook without one.

No result number is typed in the docs: a markdown cell asks for a table with a line of its own,

    <!-- table: NAME key=value ... -->

and this script puts the table (with a caption naming its JSON, protocol and date) under the marker, which stays in
README.md as an invisible comment. The tables (RENDERERS):

    demo      bench/results/demo.json     `make demo`'s table; until that file exists, one sentence asking to run it
    quality   bench/results/quality.json  perplexity of every method at every sparsity   (text=austen: the second text;
                                          methods=a,b,...: these columns only)
    recipe    bench/results/quality.json  ELSA's CPU recipe against SparseGPT one-shot and the control trained beside it
                                          (variant=cpu: the `elsa-cpu` / `sparsegpt+ft-cpu` rows)
    budget    bench/results/budget.json   ELSA / control as the training budget grows (variants=a,b,...: these ELSA
                                          rows; default the ones measured at several budgets)
    export    bench/results/export.json   bytes on disk of the dense and compressed-tensors exports (dtype=float32: fp32)
    claim     bench/results/claim.json    ELSA's CPU recipe against the control over seeds (bench/claim.py report)
    claim_budget  bench/results/claim.json  ELSA / control at 90% per training budget and seed (sparsity=0.8: another)
    gpu7b     elsa_wb.memory + bench/results/onload.json   what the 7B commands need per GPU (the memory model), onloading's peak

An unknown marker or a missing JSON (but demo.json) is an error: a README must not silently lose a table.
nbs/92_results.ipynb imports these renderers, so the chapter and the README show the same tables.
"""
from __future__ import annotations
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path("bench") / "results"
MARKER = re.compile(r"^<!-- table: (?P<name>[\w-]+)(?P<opts>(?: [\w-]+=[^\s]+)*) -->$")

# how the methods of bench/quality.py read in a table header
LABELS = {"dense": "dense", "magnitude": "magnitude", "wanda": "Wanda", "sparsegpt": "SparseGPT", "sparsegpt+ft": "control",
          "sparsegpt+ft-cpu": "control, warm-up", "elsa": "ELSA, dense start", "elsa-warm": "ELSA, warm start",
          "elsa-cpu": "ELSA `cpu_budget`"}
ORDER = ("dense", "magnitude", "wanda", "sparsegpt", "sparsegpt+ft", "elsa")
TEXTS = {"handbook": "the Debian handbook", "austen": "Austen", "pydocs": "the Python docs"}


def label(method: str) -> str: return LABELS.get(method, f"`{method}`")


def ppl(x) -> str:
    "A perplexity as a table shows it: 1 decimal below 1,000, whole numbers below 100,000, then 2 significant digits."
    if x is None: return "-"
    if x < 1000: return f"{x:.1f}"
    if x < 1e5: return f"{x:,.0f}"
    m, e = f"{x:.1e}".split("e")
    return f"{m}e{int(e)}"


def ratio(x) -> str: return "-" if x is None else f"{x:.2f}x"
def pct(s) -> str: return "-" if s is None else f"{s:.0%}"
def bold(s: str) -> str: return f"**{s}**"
def day(t: str | None) -> str: return (t or "?")[:10]


def md_table(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    "A markdown table; columns from `right_from` on are right-aligned (numbers)."
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(r) + " |" for r in [header, align, *rows])


def load(name: str, root: Path = ROOT) -> dict:
    "A committed result file, bench/results/NAME (a missing one is an error naming the bench that writes it)."
    p = Path(root) / RESULTS / name
    if not p.exists(): raise FileNotFoundError(f"{p} is missing: the README's tables are rendered from it (see bench/).")
    return json.loads(p.read_text())


def _rows_by(q: dict) -> dict:
    "{(method, sparsity): row} of a quality.json."
    return {(r["method"], round(r["sparsity"], 4)): r for r in q["rows"]}


def _method_order(methods, variants=()) -> list[str]:
    "One-shot methods first, then per training setting (the plain one, then each named variant) the control and ELSA."
    variants = list(variants)
    def key(m):
        base, _, var = m.partition("-") if m.startswith(("elsa-", "sparsegpt+ft-")) else (m, "", "")
        if base not in ("sparsegpt+ft", "elsa"): return (0, ORDER.index(base) if base in ORDER else 9, m)
        return (1, variants.index(var) + 1 if var in variants else (0 if not var else len(variants) + 1), base == "elsa", m)
    return sorted(methods, key=key)


def _quality_caption(q: dict, text: str) -> str:
    p = q["protocol"]
    c = q["config"]
    times = sorted(day(i.get("time")) for i in q.get("invocations") or [q])
    dense = next((r for r in q["rows"] if r["method"] == "dense"), None)
    key = "ppl" if text == p["text"] else f"ppl_{text}"
    trained = max((r.get("train_tokens") or 0) for r in q["rows"])
    return (f"*`bench/results/quality.json`: perplexity on the first {p['windows']} windows of {p['seqlen']} tokens of {TEXTS.get(text, text)}"
            + (f"; dense {dense[key]:.2f}" if dense and dense.get(key) else "")
            + f"; trained rows: {trained:,} tokens of {TEXTS.get(c['train_text'], c['train_text'])}; calibration {c['calib']['windows']}x{c['calib']['seqlen']} tokens;"
            f" measured {times[0]}" + (f" to {times[-1]}" if times[-1] != times[0] else "") + " (commands and commits: `bench/results/quality.md`).*")


def quality(root: Path = ROOT, text: str | None = None, methods: str | None = None) -> str:
    "Every method's perplexity per sparsity (the lowest of a row in bold), from quality.json."
    q = load("quality.json", root)
    text = text or q["protocol"]["text"]
    key = "ppl" if text == q["protocol"]["text"] else f"ppl_{text}"
    ms = methods.split(",") if methods else _method_order({r["method"] for r in q["rows"] if r["method"] != "dense"}, q["config"].get("variants") or ())
    by = _rows_by(q)
    out = []
    for s in sorted({round(r["sparsity"], 4) for r in q["rows"] if r["method"] != "dense"}):
        vals = {m: by.get((m, s), {}).get(key) for m in ms}
        best = min((v for v in vals.values() if v is not None), default=None)
        out.append([pct(s), *[bold(ppl(v)) if v is not None and v == best else ppl(v) for v in vals.values()]])
    return md_table(["sparsity", *map(label, ms)], out) + "\n\n" + _quality_caption(q, text)


def recipe(root: Path = ROOT, variant: str = "cpu") -> str:
    "ELSA `elsa-VARIANT` against SparseGPT one-shot and its control `sparsegpt+ft-VARIANT`, on both texts, from quality.json."
    q = load("quality.json", root)
    by, second = _rows_by(q), next(iter(q["protocol"].get("extra") or {}), None)
    e, c = f"elsa-{variant}", f"sparsegpt+ft-{variant}"
    out = []
    for s in sorted({k[1] for k in by if k[0] == e}):
        o, ct, el = by.get(("sparsegpt", s)), by.get((c, s)), by[(e, s)]
        vals = [o and o["ppl"], ct and ct["ppl"], el["ppl"]]
        best = min(v for v in vals if v is not None)
        div = lambda a, b, k="ppl": a[k] / b[k] if a and b and a.get(k) and b.get(k) else None
        row = [pct(s), *[bold(ppl(v)) if v == best else ppl(v) for v in vals], ratio(div(el, o)), ratio(div(el, ct))]
        if second: row.append(ratio(div(el, ct, f"ppl_{second}")))
        out.append(row)
    head = ["sparsity", "SparseGPT one-shot", label(c), label(e), "ELSA / SparseGPT", "ELSA / control"] + ([f"{TEXTS.get(second, second)}: ELSA / control"] if second else [])
    v = (q["config"].get("variants") or {}).get(variant, {})
    how = (f"; ELSA and the control trained side by side: {v['steps']} ADMM + {v['finetune_steps']} masked steps for ELSA, "
           f"{v['steps'] + v['finetune_steps']} masked steps for the control, {v.get('warmup_steps', 0)} warm-up steps, "
           f"{v['batch_size'] * v['grad_accum']}x{v['seqlen']} tokens a step" if v else "")
    return md_table(head, out) + "\n\n" + _quality_caption(q, q["protocol"]["text"])[:-2] + how + ".*"


def _budget_pairs(b: dict, variants: list[str] | None):
    "(sparsity, ELSA method) pairs to show: the named ELSA methods, or those measured with their control at several budgets."
    seen = {}
    for r in b["table"]:
        for m in b["methods"]:
            if m.startswith("elsa") and r.get(m) is not None and r.get(f"{m}_vs_control") is not None:
                seen.setdefault((r["sparsity"], m), []).append(r["steps"])
    if variants: return sorted(k for k in seen if k[1] in variants)
    return sorted(k for k, steps in seen.items() if len(steps) > 1)


def budget(root: Path = ROOT, variants: str | None = None) -> str:
    "ELSA against the control trained beside it, per sparsity and training budget, from budget.json (bench/budget.py)."
    b = load("budget.json", root)
    pairs = _budget_pairs(b, variants.split(",") if variants else None)
    out = []
    for s, m in pairs:
        for r in sorted((r for r in b["table"] if r["sparsity"] == s and r.get(m) is not None), key=lambda r: r["steps"]):
            ctl, v = r[f"{m}_control"], r.get(f"{m}_vs_control")
            if v is None: continue
            ctl_v, el_v = r[ctl], r[m]
            out.append([pct(s), label(m), f"{r['steps']} ({r['train_tokens']:,})", ppl(r.get("sparsegpt")),
                        bold(ppl(ctl_v)) if ctl_v < el_v else ppl(ctl_v), bold(ppl(el_v)) if el_v <= ctl_v else ppl(el_v),
                        ratio(v), ratio(r.get(f"{m}_vs_control_austen"))])
    head = ["sparsity", "ELSA", "steps (train tokens)", "SparseGPT one-shot", "control", "ELSA", "ELSA / control", "Austen: ELSA / control"]
    srcs = sorted({s for r in b["table"] for s in r.get("sources", [])})
    return (md_table(head, out, right_from=2) + "\n\n" + f"*`bench/results/budget.json` (`bench/budget.py`, {day(b.get('time'))}) over "
            + ", ".join(f"`{s}`" for s in srcs) + ": handbook perplexity, each row one bench where ELSA and its control (the same "
            "training settings, masked) trained side by side on the same tokens.*")


def _mean_spread(xs: list[float]) -> str:
    "mean ± half the range of the seeds' values (just the value for one seed)."
    if not xs: return "-"
    m = sum(xs) / len(xs)
    return ppl(m) if len(xs) == 1 else f"{ppl(m)} ± {ppl((max(xs) - min(xs)) / 2)}"


def claim_rows(cells: list[dict]) -> list[dict]:
    "Per sparsity of the seeds study: the cells' perplexities by arm and the per-seed ELSA / control ratios (paired by seed)."
    seeds = [r for r in cells if r["study"] == "seeds" and r["sparsity"]]
    out = []
    for p in sorted({r["sparsity"] for r in seeds}):
        arm = lambda n: {r["seed"]: r for r in seeds if r["cell"] == f"{n}-{p:g}-s{r['seed']}"}
        one, ctl, els = arm("sparsegpt"), arm("control"), arm("elsa")
        out.append(dict(sparsity=p, sparsegpt=[r["ppl"] for r in one.values()], control=[r["ppl"] for r in ctl.values()],
                        elsa=[r["ppl"] for r in els.values()], ratios={s: els[s]["ppl"] / ctl[s]["ppl"] for s in sorted(els) if s in ctl}))
    return out


def claim(root: Path = ROOT) -> str:
    "ELSA's CPU recipe against the control over seeds, from claim.json (bench/claim.py report)."
    return claim_table(load("claim.json", root)["cells"])


def claim_table(c: list[dict]) -> str:
    "The seeds study's table from bench/claim.py's cell records (the README's and claim.md's)."
    rows = []
    for r in claim_rows(c):
        rs = r["ratios"]
        rows.append([pct(r["sparsity"]), _mean_spread(r["sparsegpt"]), _mean_spread(r["control"]), _mean_spread(r["elsa"]),
                     ", ".join(f"s{k}: {v:.2f}x" for k, v in rs.items()) or "-", ratio(sum(rs.values()) / len(rs)) if rs else "-", str(len(rs))])
    dense = next((r for r in c if r["cell"] == "dense"), None)
    full = sorted((r["seed"], r["ppl"]) for r in c if r["cell"].startswith("dense+ft-s"))      # the control's lr, nothing pruned
    rule = [r["ppl"] for r in c if r["cell"].startswith("dense+ft-rule-")]                      # the budget rule's lr at 0%
    head = ["sparsity", "SparseGPT one-shot", "control", "ELSA `cpu_budget`", "ELSA / control per seed", "mean", "seeds"]
    note = ((f" The dense model scores {ppl(dense['ppl'])}" if dense else "")
            + (f"; the same fine-tuning with nothing pruned, at the control's lr, {', '.join(f'{ppl(v)} (s{k})' for k, v in full)}" if dense and full else "")
            + (f"; at the budget rule's lr for a dense model (a tenth), {ppl(rule[0])}" if dense and rule else "") + ("." if dense else ""))
    commits = sorted({r["git_commit"][:10] for r in c})
    return (md_table(head, rows) + "\n\n" + "*`bench/results/claim.json` (`bench/claim.py`, one record per cell, commits "
            + ", ".join(commits) + "): handbook perplexity, 64 windows of 512 tokens, mean ± half the range over seeds (each seed draws "
            "the calibration sample and the data order); ELSA and the control are paired by seed, same tokens." + note + "*")


def claim_budget_rows(cells: list[dict], sparsity: float = 0.9) -> list[dict]:
    """Per budget and seed at `sparsity`: the CPU recipe (120 steps: the seeds study's pair; longer: the budget study's
    `elsa-cpu` / `control-cpu`) and, where run, the paper's algorithm (`elsa-paper`) with its control."""
    by = {r["cell"]: r for r in cells if r["sparsity"] == sparsity}
    suffix = lambda s: f"-s{s}" if s else ""
    out = []
    for r in sorted(cells, key=lambda r: (r["steps"], r["seed"])):
        if r["sparsity"] != sparsity or r["method"] != "elsa": continue
        if r["study"] == "seeds": k = by.get(r["cell"].replace("elsa-", "control-", 1))
        elif r["study"] == "budget" and r["cell"] == f"elsa-cpu-{sparsity:g}-{r['steps']}steps{suffix(r['seed'])}":
            k = by.get(r["cell"].replace("elsa-cpu-", "control-cpu-", 1))
        else: continue
        if not k: continue
        tag = f"{sparsity:g}-{r['steps']}steps{suffix(r['seed'])}"
        paper, pk = by.get(f"elsa-paper-{tag}"), by.get(f"control-{tag}")
        out.append(dict(steps=r["steps"], seed=r["seed"], tokens=r["train_tokens"], elsa=r, control=k,
                        paper=paper if paper and pk else None, paper_control=pk if paper else None))
    return out


def claim_budget(root: Path = ROOT, sparsity: str = "0.9") -> str:
    "ELSA / control at one sparsity as the training budget grows, per seed, from claim.json (bench/claim.py budget)."
    return claim_budget_table(load("claim.json", root)["cells"], float(sparsity))


def claim_budget_table(cells: list[dict], sparsity: float = 0.9) -> str:
    "The budget study's table: the CPU recipe against its control per budget and seed, with the paper's algorithm where it ran."
    rows = [[str(r["steps"]), f"{r['tokens']:,}", str(r["seed"]), ppl(r["elsa"]["ppl"]), ppl(r["control"]["ppl"]),
             ratio(r["elsa"]["ppl"] / r["control"]["ppl"]), ratio(r["elsa"]["ppl_heldout"] / r["control"]["ppl_heldout"]),
             f"{ppl(r['paper']['ppl'])} / {ppl(r['paper_control']['ppl'])}" if r["paper"] else "-"]
            for r in claim_budget_rows(cells, sparsity)]
    head = ["steps", "training tokens", "seed", "ELSA `cpu_budget`", "control", "ELSA / control", "on held-out pydocs",
            "the paper's algorithm / its control"]
    held = {(e["eval_windows"], min(e["seqlen"], e["calib_seqlen"])) for r in claim_budget_rows(cells, sparsity) for e in [r["elsa"]["config"]["elsa"]]}
    held = " or ".join(f"{n} windows of {t} tokens" for n, t in sorted(held))   # as run/calibrate draws them (elsa_wb.run)
    return (md_table(head, rows) + f"\n\n*`bench/results/claim.json` at {sparsity:.0%} (`bench/claim.py`; 120 steps: the seeds study's cells, "
            "longer: `bench/claim.py budget --steps N [--seeds S]`): handbook perplexity, 64 windows of 512 tokens; ELSA / control "
            f"on held-out pydocs is the ratio at the run's last held-out evaluation ({held} of the training text's validation paragraphs, "
            "never trained on). The control fine-tunes "
            "SparseGPT's model with ELSA's warm-up, lr and tokens; the paper's algorithm (ADMM from the dense weights, rho 0.01) "
            "is paired with a control without the warm-up.*")


def gpu7b(root: Path = ROOT) -> str:
    "What each 7B command needs per GPU, from elsa_wb.memory's model (fsdp_fit), and the onloading bench's accounted peak."
    from elsa_wb.memory import fsdp_fit, LLAMA2_7B, GPU_GIB, SETUPS
    rows = []
    for what, n, gpu, method, kw in (("SparseGPT, whole model on the GPU", 1, 24, "sparsegpt", dict(master="bf16")),
                                     ("SparseGPT `--onload` (one block at a time)", 1, 24, "sparsegpt", dict(master="bf16", onload=True)),
                                     ("ELSA, FSDP2 (`--distributed`)", 4, GPU_GIB["A100-80GB"], "elsa", SETUPS["elsa_wb"]),
                                     ("ELSA + activation checkpointing", 4, GPU_GIB["A100-80GB"], "elsa", dict(SETUPS["elsa_wb"], checkpointing=True)),
                                     ("ELSA, FP8 z / bf16 u + checkpointing", 4, GPU_GIB["A100-80GB"], "elsa",
                                      dict(SETUPS["elsa_wb"], checkpointing=True, z_dtype="fp8_e4m3_sparse", u_dtype="bf16"))):
        f = fsdp_fit(LLAMA2_7B, n, gpu, method, **kw)
        rows.append([what, f"{n} x {gpu:.0f} GiB", f"{f['total']:.1f}", "yes" if f["fits"] else "**no**"])
    o = load("onload.json", root)
    return (md_table(["LLaMA-2-7B, paper protocol (2048-token windows)", "GPUs", "GiB per GPU (model)", "fits"], rows, right_from=2)
            + f"\n\n*`elsa_wb.memory.fsdp_fit` (nbs/62_memory.ipynb: states, working set or activations, 2 GiB overhead). "
            f"`bench/onload.py` ({day(o.get('time'))}, {o['model']}, {o['n_params'] / 1e6:,.0f}M parameters): onloaded, the pruning "
            f"device holds {o['accounted_peak_over_model']:.0%} of the model's bytes at its peak (one block, the embeddings, the calibration "
            f"activations; accounted on the CPU, same masks: {o['same_masks']}); the GPU measurement is in bench/gpu.sh.*")


def demo(root: Path = ROOT) -> str:
    "`make demo`'s table from bench/results/demo.json, or one sentence asking to run it."
    if not (Path(root) / RESULTS / "demo.json").exists():
        return "Run `make demo` to produce this table (bench/results/demo.json)."
    d = load("demo.json", root)
    p = d.get("protocol") or {}
    two = lambda x: f"{x:,.2f}" if x < 1e5 else ppl(x)   # as `make demo` prints it
    out = [[label(r["method"]) if r["method"] != "elsa" else "ELSA", pct(r["sparsity"]), two(r["ppl"]),
            f"{r['seconds']:,.0f}" if r.get("seconds") is not None else "-"] for r in d["rows"]]
    budgets = {}
    for r in d["rows"]:
        if r.get("budget") and r["budget"] not in ("-",): budgets.setdefault(label(r["method"]) if r["method"] != "elsa" else "ELSA", r["budget"])
    when = d.get("time") or p.get("time")
    total = f", {d['seconds'] / 60:.0f} minutes in all" if d.get("seconds") else ""
    where = d.get("device") or p.get("device")
    cap = (f"*`bench/results/demo.json`: perplexity on the first {p.get('windows', '?')} windows of {p.get('seqlen', '?')} tokens of "
           f"{TEXTS.get(p.get('text'), p.get('text', '?'))}; measured {day(when)}" + (f" on {where}" if where else "") + total + ". Budgets: "
           + "; ".join(f"{m}: {b}" for m, b in budgets.items()) + ".*")
    return md_table(["method", "sparsity", "perplexity", "seconds"], out) + "\n\n" + cap


def mb(n: int) -> str: return f"{n / 1e6:,.1f} MB"


def export(root: Path = ROOT, dtype: str = "bfloat16") -> str:
    "Bytes on disk of the two export layouts per sparsity, from export.json (bench/export.py)."
    e = load("export.json", root)
    rows = [[r["sparsity"], mb(r["dense"]["weight_bytes"]), mb(r["compressed-tensors"]["weight_bytes"]), ratio(r["compressed_over_dense"]),
             "yes" if r["dense"]["bit_exact"] and r["compressed-tensors"]["bit_exact"] else "**no**"]
            for r in e["rows"] if r["dtype"] == dtype]
    head = ["sparsity", f"dense layout ({dtype})", "compressed-tensors", "compressed / dense", "loads back bit for bit"]
    return (md_table(head, rows) + f"\n\n*{e['model']} pruned by magnitude, weight files only (the dense layout's bit-packed masks, the tokenizer and the manifest excluded); the unpruned model is "
            f"{mb(e['unpruned_weight_bytes'][dtype])} in {dtype}. From bench/results/export.json (`python bench/export.py` at {e['git_commit'][:8]}, {day(e['environment']['time'])}).*")


RENDERERS = dict(demo=demo, quality=quality, recipe=recipe, budget=budget, export=export, claim=claim, claim_budget=claim_budget, gpu7b=gpu7b)


def render(line: str, root: Path = ROOT) -> str | None:
    "The table a marker line asks for (None when the line is no marker)."
    m = MARKER.match(line.strip())
    if not m: return None
    name, opts = m["name"], dict(o.split("=", 1) for o in m["opts"].split())
    if name not in RENDERERS: raise ValueError(f"unknown table marker {line.strip()!r}: choose from {', '.join(RENDERERS)}")
    return RENDERERS[name](root, **opts)


def expand(md: str, root: Path = ROOT) -> str:
    "A markdown cell with each marker line followed by its table."
    out = []
    for line in md.split("\n"):
        t = render(line, root)
        out.append(line if t is None else f"{line}\n\n{t}")
    return "\n".join(out)


def readme(root: Path = ROOT) -> str:
    nb = json.loads((Path(root) / "nbs" / "index.ipynb").read_text())
    parts = ["<!-- generated from nbs/index.ipynb and bench/results/*.json by scripts/make_readme.py: edit the notebook, then `make readme` -->"]
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] == "markdown": parts.append(expand(src, root))
        elif c["cell_type"] == "code":
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            if code: parts.append(f"```python\n{code}\n```")
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    (ROOT / "README.md").write_text(readme())
    print("README.md written", file=sys.stderr)
