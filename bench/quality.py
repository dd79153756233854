"""Quality bench: perplexity of the embedded SmolLM2-135M pruned by every method at 50-90% sparsity.

    python bench/quality.py                                                  # the full bench (hours on a CPU)
    python bench/quality.py --sparsity 0.7 --steps 2 --windows 2 --out /tmp/q --runs /tmp/q/runs   # a smoke run

Every number comes from the product: the bench is one call of `elsa_wb.compare.compare` (the cells are
`elsa-wb prune` runs), with the issue's protocol fixed here:
  methods      dense, magnitude, wanda, sparsegpt, sparsegpt+ft (SparseGPT's mask, then masked fine-tuning with ELSA's
               training tokens), elsa; ElsaConfig's defaults unless an ElsaConfig option is given (--steps, --lr, ...)
  data         calibration windows and training batches from pydocs (train split);
  evaluation   perplexity on the first --windows windows of 512 tokens of the Debian handbook (the held-out evaluation
               text) and of Jane Austen's novels (a second domain).
The cells live in --runs (default runs/quality, git-ignored): the same command again reuses finished cells and resumes an
interrupted one. Results: OUT/quality.json (rows with method, sparsity, ppl (handbook), ppl_austen, the budget columns,
the ratios to the best one-shot method, plus protocol, command, versions and git commit) and OUT/quality.md.
"""
from __future__ import annotations
import argparse, json, os, shlex, sys, time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from elsa_wb.cli import add_config_options, spec_from_args
from elsa_wb.run import RunSpec, METHODS, FINETUNED
from elsa_wb.config import Protocol
from elsa_wb.files import write_json
from elsa_wb.compare import compare, markdown_table, ratio_lines, text_key, add_ratios, SPARSITIES, COMPARE_METHODS
from elsa_wb.elsa import NonFiniteLoss
from elsa_wb.models import EMBEDDED

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2-135m"
TRAIN_TEXT, EVAL_TEXT, SECOND_TEXT = "pydocs", "handbook", "austen"
SEQLEN, WINDOWS = 512, 64   # the evaluation protocol: the first WINDOWS non-overlapping windows of SEQLEN tokens


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench/quality.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=MODEL, help=f"model to prune (default {MODEL})")
    p.add_argument("--sparsity", nargs="+", default=list(SPARSITIES), help=f"sparsities (default {' '.join(SPARSITIES)})")
    p.add_argument("--methods", nargs="+", default=["dense", *COMPARE_METHODS], metavar="METHOD",
                   help=f"any of {', '.join(METHODS)}; dense is always included (default dense {' '.join(COMPARE_METHODS)})")
    p.add_argument("--windows", type=int, default=WINDOWS, help=f"evaluation windows of {SEQLEN} tokens per text (default {WINDOWS})")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"), help="folder of quality.json and quality.md (default bench/results)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "quality"), help="folder of the cells (default runs/quality)")
    p.add_argument("--owl", action="store_true", help="OWL's per-block allocation for every method")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of OUT/quality.json that this invocation does not measure (the protocol and settings "
                        "must match; each row records which command measured it)")
    p.add_argument("--variant", metavar="NAME", help="name these training settings: the rows are `elsa-NAME` and, for the controls, "
                   "`sparsegpt+ft-NAME` (e.g. with --merge, beside the plain `elsa` and `sparsegpt+ft` rows)")
    p.add_argument("--zero-shot", type=int, default=None, metavar="N",
                   help="also score the offline zero-shot suite per cell (first N items per task; 0: all 500)")
    add_config_options(p)   # --steps, --lr, --calib-windows, ...: every ElsaConfig field, with ElsaConfig's defaults
    return p.parse_args(argv)


def zero_shot_of(runs: Path, rows: list[dict]) -> dict:
    "{cell dir: the cell's zero-shot record} for the cells that scored the offline suite."
    out = {}
    for r in rows:
        f = runs / r["dir"] / "summary.json"
        zs = json.loads(f.read_text()).get("zero_shot") if f.exists() else None
        if zs: out[r["dir"]] = zs
    return out


def zero_shot_lines(rec: dict) -> list[str]:
    "The zero-shot protocol line of quality.md (none when no cell scored the suite)."
    zs = rec.get("zero_shot_cells") or {}
    if not zs: return []
    p = next(iter(zs.values()))["protocol"]
    tasks = ", ".join(f"{t} ({p['metric'][t]}, chance {next(iter(zs.values()))['results'][t].get('chance')})" for t in p["tasks"])
    n = sorted({v for z in zs.values() for v in z["protocol"]["n"].values()})
    se = max(r.get(f"{p['metric'][t]}_stderr", 0) for z in zs.values() for t, r in z["results"].items())
    return [f"- zero-shot: the offline suite (data/tasks; lm-eval {p['lm_eval']}), {'/'.join(map(str, n))} items per task, {tasks}, "
            f"scored for {', '.join(sorted(zs))} (empty columns: not scored); standard errors up to {se:.3f} (per cell in quality.json)"]


def invocation_lines(rec: dict) -> list[str]:
    "Which command measured which rows, when the table merges several invocations (--merge)."
    inv = rec.get("invocations") or []
    if len(inv) < 2: return []
    cells = {}
    for r in rec["rows"]:
        if r["method"] != "dense": cells.setdefault(r.get("invocation", 0), {}).setdefault(r["label"], []).append(r["method"])
    return ["Rows merged from several invocations (same protocol and settings, checked by --merge):", ""] + [
        f"- `{v['command']}` at {v['git_commit']}, {v['time']} ({v['seconds']:,.0f} s): "
        + "; ".join(f"{lab} {', '.join(ms)}" for lab, ms in cells.get(i, {}).items()) for i, v in enumerate(inv) if i in cells]


def report(rec: dict) -> str:
    "quality.md: the table, the ratios to the best one-shot method on both texts, and the protocol."
    p, c, e, ft = rec["protocol"], rec["config"], rec["config"]["elsa"], rec["config"]["finetune"]
    q = p["extra"].get(SECOND_TEXT, {})
    weights = EMBEDDED.get(c["model"], {}).get("source")
    lines = [f"# Quality bench: {c['model']}, perplexity after pruning", "",
             f"`{rec['command']}` at {rec['git_commit']}, {rec['time']}, {rec['device']} ({rec['threads']} threads); "
             f"{rec['seconds']:,.0f} s in this invocation (cells reused from an earlier one cost nothing here). Raw rows in quality.json.", "",
             *invocation_lines(rec), "",
             markdown_table([{k: v for k, v in r.items() if not k.endswith("_stderr")} for r in rec["rows"]]), "",
             *[f"- {l}" for t in (None, SECOND_TEXT) for l in ratio_lines(rec["rows"], t)], "",
             "Protocol:", "",
             f"- evaluation: perplexity on the first {p['windows']} non-overlapping windows of {p['seqlen']} tokens of {p['text']} "
             f"({p['tokens']:,} predicted tokens) and of {SECOND_TEXT} ({q.get('predicted_tokens', 0):,} predicted tokens), {p['dtype']}",
             f"- sparsity per prunable matrix ({c['scope']} scope{', OWL allocation' if c['owl'] else ''}); `vs best one-shot`: perplexity "
             f"divided by the best of magnitude / Wanda / SparseGPT at that sparsity (below 1: better than every one-shot method)",
             f"- calibration: {c['calib']['windows']} windows of {c['calib']['seqlen']} tokens of {c['train_text']} (train split), seed {c['calib']['seed']}",
             f"- ELSA: {e['steps']} ADMM steps (+ {e['finetune_steps']} fine-tuning) x {e['batch_size']}x{e['grad_accum']}x{e['seqlen']} tokens of "
             f"{c['train_text']}, lr {e['lr']:.3g} (lr_scale {e['lr_scale']}), rho {e['rho']}, interval {e['interval']}, {e['projection']} projection, z0 from {e['init']}",
             *[f"- elsa-{name}: as ELSA but " + ", ".join(f"{k} {v}" for k, v in _elsa_settings(v).items() if _elsa_settings(e).get(k) != v)
               + "".join(f", {k} default" for k in _elsa_settings(e) if k not in _elsa_settings(v)) for name, v in c.get("variants", {}).items()],
             f"- sparsegpt+ft: SparseGPT's pruned model, then {ft['finetune_steps']} masked fine-tuning steps ({ft['tokens']:,} tokens, the same as ELSA) at lr {ft['lr']:.3g}",
             *[f"- sparsegpt+ft-{name}: the control with elsa-{name}'s training settings: {v['finetune_steps']} masked steps ({v['tokens']:,} tokens) "
               f"at lr {v['lr']:.3g}, {c['variants'][name].get('warmup_steps', 0)} warm-up steps" for name, v in c.get("variant_finetune", {}).items()],
             f"- `seconds`: wall time of calibration, pruning and training (not loading or evaluation), summed over resumed sessions",
             *zero_shot_lines(rec),
             f"- model weights: {weights or c['model']}" + (" (4-bit dequantised: numbers differ from bf16-checkpoint papers)" if weights else ""),
             f"- versions: {json.dumps(rec['versions'])}"]
    return "\n".join(lines) + "\n"


def _elsa_settings(elsa: dict) -> dict:
    "ELSA fields not at ElsaConfig's defaults (a field added later must not split old rows from new ones)."
    from elsa_wb.elsa import ElsaConfig
    default = {k: (list(v) if isinstance(v, tuple) else v) for k, v in ElsaConfig().to_dict().items()}
    return json.loads(json.dumps({k: v for k, v in elsa.items() if k in default and v != default[k]}, default=str))


def _settings(rec: dict, variant: bool = False) -> dict:
    "What must match for two invocations' rows to share one table: the protocol and the config but for the sparsities,\n    methods and zero-shot flag; the ELSA settings too unless the new rows are a named variant (they carry their own)."
    c = {k: v for k, v in rec["config"].items() if k not in ("sparsities", "methods", "zero_shot", "variants", "variant_finetune", "elsa")}
    if not variant: c["elsa"] = _elsa_settings(rec["config"]["elsa"])
    return json.loads(json.dumps(dict(config=c, protocol=rec["protocol"]), default=str))


def merge_earlier(rec: dict, rows: list[dict], path: Path, variant: str | None = None) -> list[dict]:
    "`rows` plus the rows of the earlier `path` that this invocation did not measure (same method and sparsity: the new\n    row wins); every row keeps the index of the invocation that measured it in rec['invocations']."
    if not path.exists(): return rows
    old = json.loads(path.read_text())
    a, b = _settings(old, bool(variant)), _settings(rec, bool(variant))
    if a != b:
        diff = sorted(k for part in ("config", "protocol") for k in set(a[part]) | set(b[part]) if a[part].get(k) != b[part].get(k))
        raise ValueError(f"--merge: {path} was measured with other settings ({', '.join(diff)} differ): rerun with the same "
                         f"settings{'' if variant else ' (or name the new ELSA settings with --variant)'}, or write to another --out.")
    invocations = old.get("invocations") or [{k: old[k] for k in ("command", "git_commit", "time", "seconds")}]
    here = {(r["method"], r["label"]) for r in rows}
    kept = [{**r, "invocation": r.get("invocation", 0)} for r in old["rows"] if (r["method"], r["label"]) not in here]
    me = len(invocations)
    rec["invocations"] = invocations + [{k: rec[k] for k in ("command", "git_commit", "time", "seconds")}]
    if variant:   # the plain `elsa` and control rows keep their settings; the variant's are in config.variants
        for k in ("elsa", "finetune"): rec["config"][k] = old["config"][k]
    for k in ("variants", "variant_finetune"):
        both = {**old["config"].get(k, {}), **rec["config"].get(k, {})}
        if both: rec["config"][k] = both
    out = kept + [{**r, "invocation": me} for r in rows]
    rec["config"]["sparsities"] = sorted({r["label"] for r in out if r["method"] != "dense"}, key=lambda x: float(x.rstrip("%")))
    rec["config"]["methods"] = list(dict.fromkeys(r["method"] for r in out if r["method"] != "dense"))
    for k in ("ppl", text_key(SECOND_TEXT)): add_ratios(out, k)   # the best one-shot row may come from either invocation
    order = {m: i for i, m in enumerate(("dense", "magnitude", "wanda", "sparsegpt", "sparsegpt+ft", "elsa"))}
    base = lambda m: m if m in order else m.rsplit("-", 1)[0]   # a variant sits after its plain method: elsa, elsa-cpu, ...
    return sorted(out, key=lambda r: (r["method"] != "dense", float(r["sparsity"]), order.get(base(r["method"]), 9), r["method"]))


def name_variant(rec: dict, rows: list[dict], variant: str) -> list[dict]:
    "Named training settings: the trained rows become `elsa-NAME` / `sparsegpt+ft-NAME`; the settings go to config.variants\n    (and config.variant_finetune when a control was measured), so --merge can keep them beside the plain rows."
    for r in rows:
        if r["method"] == "elsa" or r["method"] in FINETUNED: r["method"] = f"{r['method']}-{variant}"
    rec["config"]["variants"] = {variant: rec["config"]["elsa"]}
    if any(r["method"].split("-")[0] in FINETUNED for r in rows): rec["config"]["variant_finetune"] = {variant: rec["config"]["finetune"]}
    return rows


def main(argv=None) -> int:
    a = parse(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", "bench/quality.py", *argv])
    try:
        base = RunSpec(model=a.model, elsa=spec_from_args(a).elsa, train_text=TRAIN_TEXT, owl=a.owl,
                       protocol=Protocol(text=EVAL_TEXT, seqlen=SEQLEN, windows=a.windows, extra_texts=(SECOND_TEXT,), zero_shot=a.zero_shot))
        rec = compare(base, a.sparsity, a.methods, a.runs, progress=not a.no_progress, command=command,
                      save_model=False)   # the table needs no weights: 540 MB per SmolLM2 cell otherwise
    except (ValueError, FileNotFoundError, NonFiniteLoss, RuntimeError) as e:
        print(f"bench/quality.py: error: {e}", file=sys.stderr); return 2
    except KeyboardInterrupt:
        print(f"\nbench/quality.py: interrupted. Run the same command again: finished cells in {a.runs} are reused.", file=sys.stderr); return 130
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    key = text_key(SECOND_TEXT)
    rec["zero_shot_cells"] = zs_cells = zero_shot_of(Path(a.runs), [r for r in rec["rows"] if r.get("dir")])
    def stderr(r):   # the standard error beside each accuracy (JSON only: the markdown table shows the accuracies)
        z = zs_cells.get(r.get("dir")) or {}
        return {f"zs_{t}_stderr": res.get(z["protocol"]["metric"][t] + "_stderr") for t, res in z.get("results", {}).items()}
    rows = [{"method": r["method"], "sparsity": r["sparsity"], "label": r["label"], "ppl": r["ppl"], key: r.get(key),
             **{k: r.get(k) for k in ("train_tokens", "calib_tokens", "seconds", "vs_best_one_shot", f"vs_best_one_shot_{SECOND_TEXT}",
                                      "best_one_shot", "actual_sparsity", "owl", "dir", "error")},
             **{k: v for k, v in r.items() if k.startswith("zs_")}, **stderr(r)} for r in rec["rows"]]   # zero-shot accuracy columns (--zero-shot)
    if a.variant: name_variant(rec, rows, a.variant)
    rec["rows"] = rows   # quality.md shows the same names as quality.json
    if a.merge:
        try: rows = merge_earlier(rec, rows, out / "quality.json", a.variant)
        except ValueError as e: print(f"bench/quality.py: error: {e}", file=sys.stderr); return 2
        rec["rows"] = rows
    rec.setdefault("invocations", [{k: rec[k] for k in ("command", "git_commit", "time", "seconds")}])
    write_json(out / "quality.json", dict(rows=rows, invocations=rec["invocations"], protocol=rec["protocol"], command=command, config=rec["config"], runs=str(a.runs),
                                            **{k: rec[k] for k in ("seconds", "versions", "git_commit", "device", "threads", "time")}))
    (out / "quality.md").write_text(report(rec))
    print(f"\nwrote {out / 'quality.json'} and {out / 'quality.md'}")
    failed = [r for r in rows if r.get("error")]
    if failed: print(f"bench/quality.py: {len(failed)} cells failed (first: {failed[0]['dir']}: {failed[0]['error']})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
