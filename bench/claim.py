"""ELSA's claim, measured: ELSA against the masked fine-tuning control over seeds and over the training budget.

    python bench/claim.py seeds --seeds 0 1 2 --sparsity 0.7 0.8 0.9   # the CPU recipe vs its control, with dense+ft and SparseGPT rows
    python bench/claim.py budget --steps 480 960 --sparsity 0.9         # the paper's algorithm (ADMM from the dense weights) vs the control
    python bench/claim.py budget --steps 480 --seeds 1 --only elsa-cpu-0.9-480steps-s1 control-cpu-0.9-480steps-s1   # another seed of a budget pair
    python bench/claim.py rho --rho 0.003 --seeds 0 1 2 --sparsity 0.9  # the recipe with another penalty weight, paired with the seeds study's controls
    python bench/claim.py report                                        # bench/results/claim.{json,md} from the finished cells

Every cell is an `elsa-wb prune` run directory under --runs (git-ignored): the same command again skips finished cells and
resumes an interrupted one. When a cell finishes its record is written at once to bench/results/claim/<cell>.json (with
--commit it is also committed), so a study of many hours grows over several sittings; `report` reads only those files.

Cells (the evaluation protocol of bench/quality.py: the first 64 windows of 512 tokens of the handbook and of Austen):
  seeds    per seed and sparsity: `sparsegpt` (one-shot), `control` (SparseGPT's mask + masked fine-tuning), `elsa` (the
           CPU recipe: z0 and W from SparseGPT, magnitude projection, 90 ADMM + 30 fine-tuning steps, 10 warm-up steps);
           per seed `dense+ft` (the same fine-tuning with nothing pruned: the domain shift of training on pydocs alone).
           The seed draws the calibration sample and the data order.
  budget   at each step count: `elsa-paper` (W dense, z0 = Proj(W0), hessian projection, no fine-tuning), `elsa-paper-ramp`
           (the same, rho 0.01 -> 1 exponentially) and `control` (the same tokens); `elsa-cpu` (the seeds study's recipe scaled
           to the step count: ElsaConfig.cpu_budget) and `control-cpu` (its control: the same warm-up); each z/u update logs
           its primal residual and the mask's agreement with SparseGPT's mask.
  neardense at 0% and 50%: the control and ELSA under the budget rule (its lr x0.1 below 70%) and the control at the full lr.
  rho      per seed and sparsity: `elsa-rho<r>` (the seeds study's ELSA with rho r instead of 0.01), measured against the
           seeds study's control of the same seed: is the 90% loss the recipe's penalty weight or the method?
  lowmem   ELSA-L (sparse FP8 z, bf16 u, 8-bit Adam, bit-packed masks) on the seeds recipe: quality and bytes as run.
"""
from __future__ import annotations
import argparse, dataclasses, json, re, shlex, statistics, subprocess, sys, time
from pathlib import Path
import os
for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
CELLS = ROOT / "bench" / "results" / "claim"
def recipe(total_steps: int) -> dict:
    "ELSA's CPU recipe (`ElsaConfig.cpu_budget`) for `total_steps`: z0 and W from SparseGPT, magnitude projection, the last quarter masked fine-tuning."
    from elsa_wb.config import ElsaConfig
    keys = ("steps", "finetune_steps", "warmup_steps", "init", "projection", "warm_start")
    return {k: getattr(ElsaConfig.cpu_budget(total_steps), k) for k in keys}
RECIPE = recipe(120)   # quality.md's elsa-cpu: 90 ADMM + 30 fine-tuning steps, 10 warm-up steps
PAPER = dict(finetune_steps=0, init="magnitude", projection="hessian", warm_start=False)   # ADMM from the dense weights (the spec's algorithm)
# the same with rho ramped 100x over the run: at rho 0.01 the 480-step run never closed its primal residual (about 1.0 at every
# update) and its masks swapped most of their kept set at every other update; a growing rho makes W follow z before the end
PAPER_RAMP = dict(PAPER, rho_schedule="exponential", rho_final=1.0)


MODEL = "smollm2-135m"
FULL_LR = 5e-4   # the budget rule's lr at 120 steps and >= 70% sparsity (LR_MAX binds): what the control gets at 70-90%

def spec_of(method: str, sparsity: float, seed: int, **elsa):
    "The RunSpec of one cell under quality.py's protocol."
    from elsa_wb.run import RunSpec
    from elsa_wb.config import Protocol, ElsaConfig
    return RunSpec(method=method, model=MODEL, elsa=ElsaConfig(sparsity=sparsity, seed=seed, **elsa), train_text="pydocs",
                   protocol=Protocol(text="handbook", seqlen=512, windows=64, extra_texts=("austen",)))


def seed_cells(seeds, sparsities) -> dict:
    "{cell name: (study, RunSpec)} of the seeds study."
    out = {"dense": ("seeds", spec_of("dense", 0.0, 0))}   # the unpruned model, untrained (no seed reaches it)
    for s in seeds:
        out[f"dense+ft-s{s}"] = ("seeds", spec_of("magnitude+ft", 0.0, s, **RECIPE, lr=FULL_LR))   # nothing pruned: the control's fine-tuning alone
        for p in sparsities:
            for name, method, extra in (("sparsegpt", "sparsegpt", {}), ("control", "sparsegpt+ft", RECIPE), ("elsa", "elsa", RECIPE)):
                out[f"{name}-{p:g}-s{s}"] = ("seeds", spec_of(method, p, s, **extra))
    return out


def neardense_cells(seeds, sparsities) -> dict:
    "{cell name: (study, RunSpec)} of the near-dense study: the control and ELSA at 0% / 50% under the budget rule (its lr shrinks below 70%) and at the full lr."
    out = {}
    for s in seeds:
        out[f"dense+ft-rule-s{s}"] = ("neardense", spec_of("magnitude+ft", 0.0, s, **RECIPE))
        for p in sparsities:
            out[f"sparsegpt-{p:g}-s{s}"] = ("neardense", spec_of("sparsegpt", p, s))
            out[f"control-{p:g}-s{s}"] = ("neardense", spec_of("sparsegpt+ft", p, s, **RECIPE))
            out[f"control-fulllr-{p:g}-s{s}"] = ("neardense", spec_of("sparsegpt+ft", p, s, **RECIPE, lr=FULL_LR))
            out[f"elsa-{p:g}-s{s}"] = ("neardense", spec_of("elsa", p, s, **RECIPE))
    return out


def lowmem_cells(seeds, sparsities) -> dict:
    "{cell name: (study, RunSpec)} of ELSA-L (sparse FP8 z, bf16 u, 8-bit Adam, bit-packed masks) on the seeds study's recipe."
    from elsa_wb.config import LOW_MEMORY
    return {f"elsa-l-{p:g}-s{s}": ("lowmem", spec_of("elsa", p, s, **RECIPE, **LOW_MEMORY)) for s in seeds for p in sparsities}


def rho_cells(seeds, sparsities, rhos) -> dict:
    "{cell name: (study, RunSpec)} of the rho study: the seeds study's ELSA with another rho (its control is the seeds study's, same seed)."
    return {f"elsa-rho{r:g}-{p:g}-s{s}": ("rho", spec_of("elsa", p, s, **RECIPE, rho=r)) for r in rhos for p in sparsities for s in seeds}


def rho_curves(recs: list[dict]) -> dict[float, dict[float, dict[int, float]]]:
    "{sparsity: {rho: {seed: ELSA / the seeds study's control of that seed}}}: the rho study's cells beside the seeds study's ELSA (rho 0.01)."
    by = {r["cell"]: r for r in recs}
    out = {}
    for e in recs:
        if e["method"] != "elsa" or e["study"] not in ("seeds", "rho"): continue
        k = by.get(f"control-{e['sparsity']:g}-s{e['seed']}")
        if k: out.setdefault(e["sparsity"], {}).setdefault(e["config"]["elsa"]["rho"], {})[e["seed"]] = e["ppl"] / k["ppl"]
    studied = {r["sparsity"] for r in recs if r["study"] == "rho"}   # only the sparsities where another rho was run
    return {p: {rho: dict(sorted(v.items())) for rho, v in sorted(c.items())} for p, c in sorted(out.items()) if p in studied}


def budget_cells(steps, sparsities, seeds=(0,)) -> dict:
    "{cell name: (study, RunSpec)} of the budget study; seed 0's cells carry no seed suffix (they came first), others end in -s<seed>."
    return {f"{name}-{p:g}-{n}steps" + (f"-s{s}" if s else ""): ("budget", spec_of(method, p, s, **{"steps": n, **extra}))
            for n in steps for p in sparsities for s in seeds
            for name, method, extra in (("elsa-paper", "elsa", PAPER), ("control", "sparsegpt+ft", PAPER), ("elsa-paper-ramp", "elsa", PAPER_RAMP),
                                        ("elsa-cpu", "elsa", recipe(n)), ("control-cpu", "sparsegpt+ft", recipe(n)))}


class SparseGPTAgreement:
    "An event sink: at each z/u update, the fraction of the current mask's kept weights that SparseGPT's mask also keeps (IoU)."
    def __init__(self, spec):
        import torch
        from elsa_wb.run import load_for_run, calibrate
        from elsa_wb.baselines import prune
        model, tok = load_for_run(spec)
        prune(model, "sparsegpt", spec.spec, calibrate(dataclasses.replace(spec, method="sparsegpt"), tok), progress=False)
        self.ref = {n: p.detach() != 0 for n, p in model.named_parameters() if p.dim() == 2}
        self.torch = torch
    def __call__(self, ev: dict):
        if ev.get("event") != "admm_update": return
        from elsa_wb.run import _LIVE   # the running loop (the run layer keeps it for its stop message)
        admm = _LIVE["runner"].admm
        inter = union = 0
        for n in admm.mask:
            m = admm.mask_of(n)   # bool, whether the run stores its masks as bool or bit-packed
            ref = self.ref[n.removeprefix("_orig_mod.")]
            inter += int(self.torch.count_nonzero(m & ref)); union += int(self.torch.count_nonzero(m | ref))
        ev["iou_sparsegpt"] = inter / max(union, 1)


def versions() -> dict:
    from elsa_wb.provenance import environment
    return environment()


def heldout_ppl(run_dir: Path) -> float | None:
    "The run's last held-out evaluation (pydocs validation windows, the training text's own domain), from its metrics.jsonl."
    f = Path(run_dir) / "metrics.jsonl"
    if not f.exists(): return None
    evals = [e for e in map(json.loads, f.read_text().splitlines()) if e.get("event") == "eval"]
    return evals[-1]["sparse_ppl"] if evals else None


CURVE_KEYS = ("step", "primal_rel", "hamming", "hamming_init", "iou_init", "iou_sparsegpt", "rho")


def admm_curve(run_dir: Path, live: list[dict]) -> list[dict] | None:
    "The run's z/u updates from its metrics.jsonl (every sitting; a resumed run's repeated steps once, the last), with the IoU with SparseGPT's mask where this sitting's sink saw the update."
    f = Path(run_dir) / "metrics.jsonl"
    ups = {}
    for e in (map(json.loads, f.read_text().splitlines()) if f.exists() else ()):
        if e.get("event") == "admm_update": ups[(e["step"], e.get("rho") is None)] = {k: e.get(k) for k in CURVE_KEYS}
    for x in live:   # the sink's values (iou_sparsegpt is computed live, never logged)
        ups.setdefault((x["step"], x.get("rho") is None), {}).update({k: v for k, v in x.items() if v is not None})
    return [ups[k] for k in sorted(ups)] or None


def backfill_heldout(runs: Path, commit: bool = False) -> list[str]:
    "Add `ppl_heldout` to the records written before it existed, from their run directories where those are still here."
    done = []
    for f in sorted(CELLS.glob("*.json")):
        r = json.loads(f.read_text())
        if "ppl_heldout" in r or not r.get("steps") or (v := heldout_ppl(runs / r["cell"])) is None: continue
        r["ppl_heldout"] = v
        f.write_text(json.dumps(r, indent=1, default=str) + "\n"); done.append(r["cell"])
    if commit and done:
        subprocess.run(["git", "-C", str(ROOT), "commit", "-q", "-m", f"bench/claim.py: held-out pydocs perplexity of {', '.join(done)} from their runs", "--", str(CELLS)], check=False)
    return done


def run_cell(name: str, study: str, spec, runs: Path, commit: bool, command: str):
    "Run (or resume) one cell; write its record to bench/results/claim/NAME.json; commit it with --commit."
    from elsa_wb.run import execute, _LIVE
    from elsa_wb.memory import measured_bytes
    out = CELLS / f"{name}.json"
    if out.exists(): print(f"{name}: done ({out})"); return
    curve, sinks = [], []
    if study == "budget" and spec.method == "elsa": sinks.append(SparseGPTAgreement(spec))
    sinks.append(lambda ev: curve.append({k: ev.get(k) for k in CURVE_KEYS}) if ev.get("event") == "admm_update" else None)
    print(f"{name}: running into {runs / name}", flush=True)
    t0 = time.time(); _LIVE.pop("runner", None)
    s = execute(spec, runs / name, resume=(runs / name).exists(), reuse=True, save_model=False, progress=False, callbacks=sinks)
    rec = dict(cell=name, study=study, method=spec.method, sparsity=spec.elsa.sparsity, seed=spec.elsa.seed,
               steps=(spec.training_config().total_steps if spec.training_config() else 0), ppl=s["ppl"],
               ppl_austen=(s.get("extra_eval") or {}).get("austen", {}).get("ppl"), ppl_heldout=heldout_ppl(runs / name), train_tokens=s["train_tokens"],
               lr=(spec.training_config().lr if spec.training_config() else None),   # the effective peak lr (before the per-matrix RMS factor)
               calib_tokens=s["calib_tokens"], seconds=s["seconds"], admm_curve=admm_curve(runs / name, curve), eval_protocol=s["eval"]["protocol"],
               config=spec.to_json(), command=command, wall_s_this_sitting=round(time.time() - t0, 1), **versions(),
               bytes_as_run=measured_bytes(_LIVE["runner"]) if _LIVE.get("runner") is not None else None)   # the trained cells
    CELLS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    print(f"{name}: perplexity {s['ppl']:.2f} -> {out}", flush=True)
    if commit:
        subprocess.run(["git", "-C", str(ROOT), "add", "--", str(out)], check=False)
        subprocess.run(["git", "-C", str(ROOT), "commit", "-q", "-m", f"bench/claim.py: cell {name} (ppl {s['ppl']:.2f})", "--", str(out)], check=False)


def spread(xs: list[float]) -> str:
    "mean ± (max - min) / 2 of the seeds, and how many there are."
    if not xs: return "-"
    m = statistics.fmean(xs)
    return f"{m:,.1f}" if len(xs) == 1 else f"{m:,.1f} ± {(max(xs) - min(xs)) / 2:,.1f} (n={len(xs)})"


def cell_records(cells: Path | None = None) -> list[dict]:
    "The finished cells' records (bench/results/claim/*.json), sorted by cell name."
    return [json.loads(f.read_text()) for f in sorted(Path(cells or CELLS).glob("*.json"))]


def report(out: Path) -> str:
    "claim.json (every cell record) and claim.md (report_text) in `out`."
    recs = cell_records()
    text = report_text(recs)
    (out / "claim.json").write_text(json.dumps(dict(cells=recs), indent=1, default=str) + "\n")
    (out / "claim.md").write_text(text)
    return text


def heldout_section(seeds: list[dict]) -> list[str]:
    "In-domain against out-of-domain: ELSA and its control on pydocs' held-out windows (the training text) and on the handbook."
    pairs = []
    for e in (r for r in seeds if r["method"] == "elsa" and r.get("ppl_heldout")):
        k = next((r for r in seeds if r["cell"] == e["cell"].replace("elsa-", "control-", 1) and r.get("ppl_heldout")), None)
        if k: pairs.append((e, k))
    if not pairs: return []
    lines = ["", "## In the training domain and out of it", "",
             f"Held-out pydocs (the run's last evaluation: {pairs[0][0]['config']['elsa'].get('eval_windows')} windows of "
             f"{min(pairs[0][0]['config']['elsa'].get('seqlen') or 0, pairs[0][0]['config']['elsa'].get('calib_seqlen') or 0)} tokens from "
             "the validation split of the training text) against the handbook (the evaluation text, 64 x 512): where ELSA wins on the handbook but not on pydocs, its advantage is the penalty keeping the weights near the "
             "pretrained ones (less domain drift); where it wins on both, it fits the data better.", "",
             "| sparsity | seed | pydocs held-out: ELSA | control | ELSA / control | handbook: ELSA | control | ELSA / control |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e, k in sorted(pairs, key=lambda p: (p[0]["sparsity"], p[0]["seed"])):
        lines.append(f"| {e['sparsity']:.0%} | {e['seed']} | {e['ppl_heldout']:,.1f} | {k['ppl_heldout']:,.1f} | {e['ppl_heldout'] / k['ppl_heldout']:.2f}x | "
                     f"{e['ppl']:,.1f} | {k['ppl']:,.1f} | {e['ppl'] / k['ppl']:.2f}x |")
    return lines


def arm_of(cell: str) -> str:
    "A budget cell's arm: elsa-paper-0.9-480steps -> elsa-paper (and elsa-cpu-0.9-480steps-s1 -> elsa-cpu)."
    return re.sub(r"-s\d+$", "", cell).rsplit("-", 2)[0]


def control_arm(arm: str) -> str:
    "The arm a budget arm is measured against: `control-cpu` (the same warm-up) for the CPU recipe, `control` for the paper's arms."
    return "control-cpu" if arm.endswith("-cpu") else "control"


def budget_curves(recs: list[dict], sparsity: float = 0.9) -> dict[str, dict[int, dict[int, float]]]:
    "{arm: {steps: {seed: ELSA / its control}}} of the budget study's ELSA arms at `sparsity`; `elsa-cpu` starts with the seeds study's 120-step pairs."
    by = {r["cell"]: r for r in recs if r["sparsity"] == sparsity}
    out = {}
    for name, e in by.items():
        if e["method"] != "elsa" or e["study"] not in ("seeds", "budget"): continue
        arm = "elsa-cpu" if e["study"] == "seeds" else arm_of(name)   # the seeds study's cells are the recipe at 120 steps
        k = by.get(name.replace("elsa-", "control-", 1) if e["study"] == "seeds" else name.replace(arm, control_arm(arm), 1))
        if k: out.setdefault(arm, {}).setdefault(e["steps"], {})[e["seed"]] = e["ppl"] / k["ppl"]
    return {arm: dict(sorted(c.items())) for arm, c in sorted(out.items())}


def common_seeds(curve: dict[int, dict[int, float]]) -> list[int]:
    "The seeds measured at every budget of a curve."
    return sorted(set.intersection(*(set(v) for v in curve.values()))) if curve else []


def crossing(curve: dict[int, dict[int, float]]) -> float | None:
    "Where ELSA / control would reach 1: a least-squares line in log(steps) through the per-budget means (of the seeds run at every budget, when any is); None unless it moves toward 1."
    import math
    common = common_seeds(curve)
    pts = [(math.log(n), statistics.fmean(x for s, x in v.items() if s in common or not common)) for n, v in curve.items() if v]
    if len(pts) < 2: return None
    mx, my = statistics.fmean(x for x, _ in pts), statistics.fmean(y for _, y in pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    if slope == 0 or (my - 1) * slope > 0: return None   # moving away from 1 (or flat): no crossing ahead
    return math.exp(mx + (1 - my) / slope)


def last_move(curve: dict[int, dict[int, float]]) -> tuple[int, int, float, float] | None:
    "The curve's last step: (previous budget, last budget, mean ratio at each), over the seeds run at every budget (all seeds when none is); None below two budgets."
    if len(curve) < 2: return None
    common = common_seeds(curve)
    mean = lambda v: statistics.fmean(x for s, x in v.items() if s in common or not common)
    (n0, v0), (n1, v1) = sorted(curve.items())[-2:]
    return n0, n1, mean(v0), mean(v1)


def report_text(recs: list[dict]) -> str:
    "The claim as markdown: the seeds table (means ± half-range, paired ELSA / control ratios), dense + ft, the budget curve, near-dense, ELSA-L."
    seeds = [r for r in recs if r["study"] == "seeds"]
    budget = [r for r in recs if r["study"] == "budget"]
    lowmem = [r for r in recs if r["study"] == "lowmem"]
    by = {}
    for r in seeds: by.setdefault(r["cell"].rsplit("-s", 1)[0], []).append(r)
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_readme import claim_table   # the README's table: one renderer
    lines = ["# ELSA's claim, measured (bench/claim.py)", "", "## Seeds", "", claim_table(recs)]
    dense_ft = by.get("dense+ft", [])
    dense = by.get("dense")
    if dense: lines += ["", f"The dense model: {dense[0]['ppl']:,.2f} ({dense[0]['ppl_austen']:,.2f})."]
    if dense_ft: lines += ["", f"Dense + the same fine-tuning (nothing pruned, the control's 120 steps on pydocs): {spread([r['ppl'] for r in dense_ft])} "
                           f"({spread([r['ppl_austen'] for r in dense_ft])}): what training on pydocs alone does to the evaluation texts."]
    if budget:
        lines += ["", "## The long budget at 90%: the paper's algorithm and the CPU recipe against their controls", "",
                  "One row per arm and step count; `vs control` is the arm's perplexity over its control's at the same steps (`elsa-cpu` over "
                  "`control-cpu`, which shares its warm-up; the paper's arms over `control`); the residual "
                  "and the IoU with SparseGPT's mask are read at the z/u updates (first, middle, last).", "",
                  "| sparsity | steps | seed | train tokens | arm | perplexity | Austen | vs control | rel. primal residual | share of entries flipped by the update | IoU with SparseGPT's mask |",
                  "|---|---:|---:|---:|---|---:|---:|---:|---|---|---|"]
        for key in sorted({(r["sparsity"], r["steps"], r["seed"]) for r in budget}):
            arms = {arm_of(r["cell"]): r for r in budget if (r["sparsity"], r["steps"], r["seed"]) == key}
            for name, r in sorted(arms.items(), key=lambda kv: (kv[0].endswith("-cpu"), not kv[0].startswith("control"))):
                k = arms.get(control_arm(name))
                cur = [x for x in (r.get("admm_curve") or []) if x.get("rho") is not None]   # the updates (the last entry repeats the end)
                pick = lambda f: ", ".join(f"{v[i]:.2f}" for i in (0, len(v) // 2, -1)) if (v := [x[f] for x in cur if x.get(f) is not None]) else "-"
                iou = pick("iou_sparsegpt")
                if iou == "-" and r["config"]["elsa"].get("init") == "sparsegpt": iou = pick("iou_init")   # z0 is SparseGPT's mask itself
                vs = f"{r['ppl'] / k['ppl']:.2f}x" if k and r is not k else "-"
                lines.append(f"| {key[0]:.0%} | {key[1]} | {key[2]} | {r['train_tokens']:,} | {name} | {r['ppl']:,.1f} | {r['ppl_austen']:,.1f} | "
                             f"{vs} | {pick('primal_rel')} | {pick('hamming')} | {iou} |")
        for p in sorted({r["sparsity"] for r in budget}):
            if len(curve := budget_curves(recs, p).get("elsa-cpu", {})) > 1:
                lines += ["", f"The CPU recipe's ELSA / control at {p:.0%} as the budget grows (120 steps: the seeds study): " + "; ".join(
                    f"{n} steps " + ", ".join(f"s{s} {v:.2f}x" for s, v in sorted(by_seed.items())) for n, by_seed in curve.items()) + "."]
                x = crossing(curve)
                common = common_seeds(curve)
                lines[-1] += (f" A straight line in log(steps) through the means of {'seed' + 's' * (len(common) > 1) + ' ' + ', '.join(map(str, common)) if common else 'all seeds'} "
                              f"reaches 1.00x at about {x:,.0f} steps (a line through {len(curve)} budgets, not a law)." if x else " The means do not move toward 1.00x: no crossing ahead on this evidence.")
                n0, n1, a, b = last_move(curve)
                if abs(b - 1) >= abs(a - 1):   # the last, longest step moved away: say so beside any line through all the budgets
                    lines[-1] += f" From {n0} to {n1} steps the ratio moved away from 1.00x ({a:.2f}x to {b:.2f}x): no crossing is in sight at the budgets measured."
    if rhos := rho_curves(recs):
        lines += ["", "## The penalty weight: the recipe at another rho, paired with the seeds study's control", "",
                  "ELSA / control per seed (handbook perplexity; the control is the seeds study's, the same seed's calibration sample and data "
                  "order); rho 0.01 is the seeds study's ELSA.", "", "| sparsity | rho | ELSA / control per seed | mean | seeds |", "|---:|---:|---|---:|---:|"]
        for p, by_rho in rhos.items():
            for rho, v in by_rho.items():
                lines.append(f"| {p:.0%} | {rho:g} | {', '.join(f's{s}: {x:.2f}x' for s, x in v.items())} | {statistics.fmean(v.values()):.2f}x | {len(v)} |")
    lines += heldout_section(seeds)
    neardense = [r for r in recs if r["study"] == "neardense"]
    if neardense:
        lines += ["", "## Near-dense: the budget rule's smaller lr below 70% sparsity", "",
                  "The same 120 steps on pydocs; `full lr` is the control's lr at 70-90% (5e-4), `rule` the budget rule's (x0.1 at 50% and below).", "",
                  "| cell | sparsity | lr | perplexity | Austen | pydocs held-out |", "|---|---:|---:|---:|---:|---:|"]
        ref = [r for r in seeds if r["cell"] == "dense" or r["cell"].startswith("dense+ft-s")]
        for r in sorted(ref + neardense, key=lambda r: (r["sparsity"], r["cell"])):
            lr = r.get("lr") or (r["config"]["elsa"].get("lr") if r["steps"] else None)
            lines.append(f"| {r['cell']} | {r['sparsity']:.0%} | {f'{lr:.0e}' if lr else '-'} | {r['ppl']:,.1f} | {r['ppl_austen']:,.1f} | "
                         f"{format(r['ppl_heldout'], ',.1f') if r.get('ppl_heldout') else '-'} |")
    if lowmem:
        lines += ["", "## ELSA-L: the low-memory states against fp32 ones (same recipe, same seed)", "",
                  "| sparsity | seed | ELSA (fp32 states) | ELSA-L | ELSA-L / ELSA | bytes per prunable parameter as run (ELSA, ELSA-L) | per model parameter |",
                  "|---|---:|---:|---:|---:|---|---|"]
        for r in sorted(lowmem, key=lambda r: (r["sparsity"], r["seed"])):
            ref = next((x for x in seeds if x["cell"] == f"elsa-{r['sparsity']:g}-s{r['seed']}"), None)
            b = lambda x, k: f"{x['bytes_as_run'][k]['total']:.2f}" if x and x.get("bytes_as_run") else "-"
            lines.append(f"| {r['sparsity']:.0%} | {r['seed']} | {ref['ppl']:,.1f} |" if ref else f"| {r['sparsity']:.0%} | {r['seed']} | - |")
            lines[-1] += f" {r['ppl']:,.1f} | {r['ppl'] / ref['ppl']:.3f}x |" if ref else f" {r['ppl']:,.1f} | - |"
            fp32 = ref if ref and ref.get("bytes_as_run") else next((x for x in seeds if x["method"] == "elsa" and x.get("bytes_as_run")), None)
            lines[-1] += f" {b(fp32, 'prunable')}, {b(r, 'prunable')} | {b(fp32, 'model')}, {b(r, 'model')} |"   # fp32 states: the same bytes at any sparsity
    peer = [r for r in recs if r["study"] == "peer"]
    if peer:
        lines += ["", "## A peer's implementation beside ours (bench/peer.py: llm-compressor on the same windows)", "",
                  "| method | sparsity | peer | ours | peer Austen | ours Austen | mask IoU with ours (mean, min) |", "|---|---:|---:|---:|---:|---:|---|"]
        for r in sorted(peer, key=lambda r: (r["method"], r["sparsity"])):
            ours = next((x for x in recs if x["cell"] == r["cell"].removeprefix("peer-")), None)
            iou = r.get("mask_iou_vs_ours") or {}
            lines.append(f"| {r['method']} | {r['sparsity']:.0%} | {r['ppl']:,.1f} | {ours['ppl']:,.1f} |" if ours else f"| {r['method']} | {r['sparsity']:.0%} | {r['ppl']:,.1f} | - |")
            lines[-1] += (f" {r['ppl_austen']:,.1f} | {ours['ppl_austen']:,.1f} |" if ours else f" {r['ppl_austen']:,.1f} | - |")
            lines[-1] += f" {iou.get('mean', float('nan')):.3f}, {iou.get('min', float('nan')):.3f} |"
    commits = sorted({r["git_commit"] for r in recs})
    lines += ["", f"Cells: {len(recs)} records in bench/results/claim/ (one per finished cell, measured at commits {', '.join(c[:10] for c in commits)}).", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    global MODEL, CELLS
    p = argparse.ArgumentParser(prog="bench/claim.py", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("seeds", "budget", "rho", "lowmem", "neardense", "report"))
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2; the budget study: 0)")
    p.add_argument("--sparsity", type=float, nargs="+", default=None, help="default: 0.7 0.8 0.9 (seeds), 0.9 (budget, rho)")
    p.add_argument("--rho", type=float, nargs="+", default=[0.003], help="the rho study's penalty weights (the seeds study's is 0.01)")
    p.add_argument("--steps", type=int, nargs="+", default=[480, 960], help="training steps of the budget study's cells")
    p.add_argument("--only", nargs="+", default=None, help="run only the cells with these names (e.g. control-0.9-480steps)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "claim"))
    p.add_argument("--commit", action="store_true", help="git commit each cell's record as it lands")
    p.add_argument("--model", default="smollm2-135m", help="(smoke tests) another model than the embedded SmolLM2")
    p.add_argument("--cells", default=str(ROOT / "bench" / "results" / "claim"), help="(smoke tests) where the cell records go (default bench/results/claim; claim.md goes beside it)")
    a = p.parse_args(argv)
    MODEL, CELLS = a.model, Path(a.cells)
    out = CELLS.parent
    if a.study == "report":
        if filled := backfill_heldout(Path(a.runs), a.commit): print(f"held-out perplexity added to {', '.join(filled)}", file=sys.stderr)
        print(report(out)); return 0
    a.seeds = a.seeds if a.seeds is not None else [0] if a.study == "budget" else [0, 1, 2]
    cells = (seed_cells(a.seeds, a.sparsity or [0.7, 0.8, 0.9]) if a.study == "seeds" else budget_cells(a.steps, a.sparsity or [0.9], a.seeds)
             if a.study == "budget" else rho_cells(a.seeds, a.sparsity or [0.9], a.rho) if a.study == "rho" else lowmem_cells(a.seeds, a.sparsity or [0.7]) if a.study == "lowmem"
             else neardense_cells(a.seeds, a.sparsity or [0.5]))
    if a.only:
        bad = [n for n in a.only if n not in cells]
        if bad: print(f"bench/claim.py: error: no cell {bad[0]!r} in this study: use one of {', '.join(cells)}.", file=sys.stderr); return 2
        cells = {n: cells[n] for n in a.only}
    command = shlex.join(["python", "bench/claim.py", *(sys.argv[1:] if argv is None else argv)])
    for name, (study, spec) in cells.items():
        try: run_cell(name, study, spec, Path(a.runs), a.commit, command)
        except KeyboardInterrupt:
            print(f"\nbench/claim.py: interrupted in {name}. Run the same command again: it resumes there.", file=sys.stderr); return 130
    report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
