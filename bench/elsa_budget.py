"""Budget-aware ELSA on the embedded SmolLM2: which settings work at a CPU budget?

Runs named variants of ElsaConfig (and one-shot-mask + masked fine-tuning controls) at one sparsity and one token
budget, side by side in one process, and records per variant: final handbook perplexity, the ADMM diagnostics
(final relative primal residual, mask flips per z-update, drift from the initial mask), the projected-loss curve and
wall time. Results are appended to bench/results/elsa_budget.jsonl as each variant finishes (a killed bench keeps
what it measured) and summarised in bench/results/elsa_budget.json / .md.

    python bench/elsa_budget.py --sparsity 0.7 --steps 120 --variants paper rms rms_ft
"""
import argparse, dataclasses, json, math, os, sys, time
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("HF_DATASETS_OFFLINE", "1"); os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
import torch
from elsa_wb.models import load_model
from elsa_wb.data import corpus, train_stream, calibration_windows
from elsa_wb.elsa import Elsa, ElsaConfig, weight_rms
from elsa_wb.evaluate import text_perplexity
from elsa_wb.sparsity import SparsitySpec
from elsa_wb.baselines import magnitude_prune
from elsa_wb.provenance import environment

def variants(steps: int) -> dict:
    "name -> (ElsaConfig overrides, init method or None, mode). mode 'elsa' (W dense, z0 from the init mask), 'elsa_warm' (W and z0 from\n    the init method's pruned weights) or 'masked_ft' (steps=0: fine-tune the init method's pruned model)."
    q = max(1, steps // 4)
    return {
        "paper":        (dict(lr=2e-4, lr_scale="none", projection="hessian", interval=32), None, "elsa"),
        "paper_mag":    (dict(lr=2e-4, lr_scale="none", projection="magnitude", interval=32), None, "elsa"),
        "lr2e-3_mag":   (dict(lr=2e-3, lr_scale="none", projection="magnitude", interval=max(1, steps // 16)), None, "elsa"),
        "rms2":         (dict(lr=4e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16)), None, "elsa"),
        "rms":          (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16)), None, "elsa"),
        "rms_hloss":    (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="hessian", hessian_source="loss", hessian_warmup=q, interval=max(1, steps // 16)), None, "elsa"),
        "rms_rhoramp":  (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), rho=1e-3, rho_final=1e-1, rho_schedule="exponential"), None, "elsa"),
        "rms_ft":       (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), steps=steps - q, finetune_steps=q), None, "elsa"),
        "mag_ft":       (dict(lr=2e-3, lr_scale="none", steps=0, finetune_steps=steps), "magnitude", "masked_ft"),
        "wanda_ft":     (dict(lr=2e-3, lr_scale="none", steps=0, finetune_steps=steps), "wanda", "masked_ft"),
        "sparsegpt_ft": (dict(lr=2e-3, lr_scale="none", steps=0, finetune_steps=steps), "sparsegpt", "masked_ft"),
        "sparsegpt_ft_rule": (dict(lr=None, lr_scale="rms", steps=0, finetune_steps=steps), "sparsegpt", "masked_ft"),   # the +ft control of `elsa-wb compare`
        "rms_wanda0":   (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16)), "wanda", "elsa"),
        "rms_wanda0_ft": (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), steps=steps - q, finetune_steps=q), "wanda", "elsa"),
        "rms4_sgpt0_ft": (dict(lr=8e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), steps=steps - q, finetune_steps=q), "sparsegpt", "elsa"),
        "rms2_sgpt0_ft": (dict(lr=4e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), steps=steps - q, finetune_steps=q), "sparsegpt", "elsa"),
        "rms_sgpt0_ft": (dict(lr=2e-4 * 200 / steps, lr_scale="rms", projection="magnitude", interval=max(1, steps // 16), steps=steps - q, finetune_steps=q), "sparsegpt", "elsa"),
        # session 4: the budget rule's lr and interval (what bench/quality.py's ELSA row uses), then one change at a time
        "rule_sgpt0_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q), "sparsegpt", "elsa"),
        "warm_ft":       (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, warm_start=True), "sparsegpt", "elsa_warm"),
        "prox_sgpt0_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, penalty="proximal", rho=5.0 / (steps - q)), "sparsegpt", "elsa"),
        "prox_warm_ft":  (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, penalty="proximal", rho=5.0 / (steps - q), warm_start=True), "sparsegpt", "elsa_warm"),
        "prox_warm_hess_ft": (dict(lr=None, lr_scale="rms", projection="hessian", steps=steps - q, finetune_steps=q, penalty="proximal", rho=5.0 / (steps - q), warm_start=True), "sparsegpt", "elsa_warm"),
        "warm_hloss_ft": (dict(lr=None, lr_scale="rms", projection="hessian", hessian_source="loss", hessian_warmup=q, steps=steps - q, finetune_steps=q, warm_start=True), "sparsegpt", "elsa_warm"),
        "warm_lowrho_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", rho=1e-3, steps=steps - q, finetune_steps=q, warm_start=True), "sparsegpt", "elsa_warm"),
        "warm_wu_ft":    (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, warm_start=True, warmup_steps=max(1, steps // 12)), "sparsegpt", "elsa_warm"),
        "warm_wu_hirho_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", rho=3e-2, steps=steps - q, finetune_steps=q, warm_start=True, warmup_steps=max(1, steps // 12)), "sparsegpt", "elsa_warm"),
        "warm_wu_lorho_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", rho=3e-3, steps=steps - q, finetune_steps=q, warm_start=True, warmup_steps=max(1, steps // 12)), "sparsegpt", "elsa_warm"),
        "sparsegpt_ft_wu": (dict(lr=None, lr_scale="rms", steps=0, finetune_steps=steps, warmup_steps=max(1, steps // 12)), "sparsegpt", "masked_ft"),
        "prox_warm_hi_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, penalty="proximal", rho=20.0 / (steps - q), warm_start=True), "sparsegpt", "elsa_warm"),
        "prox_warm_lo_ft": (dict(lr=None, lr_scale="rms", projection="magnitude", steps=steps - q, finetune_steps=q, penalty="proximal", rho=1.0 / (steps - q), warm_start=True), "sparsegpt", "elsa_warm"),
    }

_ONE_SHOT = {}   # (method, sparsity) -> (masks, pruned weights): several variants of one invocation share one SparseGPT run

def one_shot(model, tok, method, spec, calib_text):
    "Prune `model` in place with a one-shot method (cached per invocation); returns the masks."
    from elsa_wb.baselines import prune
    from elsa_wb.models import prunable
    key = (method, spec)
    if key not in _ONE_SHOT:
        masks = prune(model, method, spec, calibration_windows(tok, calib_text, 32, 512, seed=0), progress=False)
        _ONE_SHOT[key] = (masks, {n: w.detach().clone() for n, w in prunable(model).items()})
    masks, weights = _ONE_SHOT[key]
    with torch.no_grad():
        for n, w in prunable(model).items(): w.copy_(weights[n])
    return {n: m.clone() for n, m in masks.items()}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sparsity", type=float, default=0.7); ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=2); ap.add_argument("--seqlen", type=int, default=256)
    ap.add_argument("--windows", type=int, default=16, help="handbook windows of 512 tokens for the final perplexity")
    ap.add_argument("--variants", nargs="*", default=["paper", "rms", "rms_hloss", "rms_ft", "mag_ft"])
    ap.add_argument("--out", default="bench/results/elsa_budget")
    a = ap.parse_args()
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    table = variants(a.steps)
    unknown = [v for v in a.variants if v not in table]
    if unknown: sys.exit(f"Unknown variant(s) {unknown}: choose from {', '.join(table)}.")
    text, val = corpus("pydocs", "train"), corpus("pydocs", "validation")
    for name in a.variants:
        over, init, mode = table[name]
        model, tok = load_model("smollm2-135m")
        spec = SparsitySpec(a.sparsity)
        cfg = ElsaConfig(**{**dict(sparsity=a.sparsity, steps=a.steps, batch_size=a.batch_size, grad_accum=1, seqlen=a.seqlen,
                                   eval_every=max(1, a.steps // 4), eval_windows=4), **over})
        t0 = time.time()
        rms = weight_rms(model)   # the lr rule reads the dense weights in every mode (the controls are pruned next)
        if mode in ("masked_ft", "elsa_warm"):   # one-shot weights + mask, then fine-tune with the mask fixed / ELSA from there
            masks = magnitude_prune(model, spec) if init == "magnitude" else one_shot(model, tok, init, spec, text)
        else:   # ELSA from the dense weights, z0 from the init method's mask: what Elsa does with cfg.init (elsa.start_masks)
            masks = None
            if init not in (None, "magnitude"): cfg = dataclasses.replace(cfg, init=init)
        t_init = time.time() - t0
        stream = train_stream(tok, text, cfg.batch_size, cfg.seqlen, seed=cfg.seed)
        held = calibration_windows(tok, val, cfg.eval_windows, cfg.seqlen, seed=0)
        calib = calibration_windows(tok, text, cfg.calib_windows, 512, seed=cfg.seed) if masks is None and cfg.init != "magnitude" else None
        runner = Elsa(model, cfg, init_masks=masks, calib=calib, dense_rms=rms)
        summary = runner.fit(stream, eval_windows=held)
        r = text_perplexity(model, tok, "handbook", seqlen=512, max_windows=a.windows)
        ups = [h for h in runner.history if h["event"] == "admm_update" and not h.get("final")]
        evs = [h for h in runner.history if h["event"] == "eval"]
        rec = dict(variant=name, mode=mode, init=init, sparsity=a.sparsity, ppl=r["ppl"], seconds=round(time.time() - t0, 1), init_seconds=round(t_init, 1),
                   tokens=cfg.tokens, config={k: v for k, v in cfg.to_dict().items()},
                   final_residual=ups[-1]["primal_rel"] if ups else None, flips=[round(u["hamming"], 4) for u in ups],
                   residuals=[round(u["primal_rel"], 4) for u in ups], hamming_vs_initial=ups[-1]["hamming_init"] if ups else 0.0,
                   projected_loss=[(e["step"], round(e["sparse_loss"], 4)) for e in evs], dense_loss=[(e["step"], round(e["dense_loss"], 4)) for e in evs],
                   protocol=r["protocol"], command=" ".join(sys.argv))
        with open(str(out) + ".jsonl", "a") as f: f.write(json.dumps(rec, default=str) + "\n")
        print(f"{name:<16} ppl {r['ppl']:>12,.1f}  residual {rec['final_residual']}  vs-initial {rec['hamming_vs_initial']:.4f}  {rec['seconds']:.0f}s", flush=True)
        del model, runner
    write_summary(out)

def write_summary(out: Path):
    recs = [json.loads(l) for l in open(str(out) + ".jsonl")]
    env = environment()
    json.dump(dict(results=recs, git_commit=env["git_commit"], versions=env["versions"], device=env["device"]), open(str(out) + ".json", "w"), indent=1, default=str)
    lines = ["| variant | sparsity | tokens | ppl (handbook 16x512) | final rel. residual | mask flips per update (first, last) | drift vs initial mask | time s |", "|---|---|---|---|---|---|---|---|"]
    for r in recs:
        fl = f"{r['flips'][1] if len(r['flips']) > 1 else '-'} / {r['flips'][-1] if r['flips'] else '-'}"
        res = f"{r['final_residual']:.3f}" if r["final_residual"] is not None else "-"
        lines.append(f"| {r['variant']} | {r['sparsity']:.0%} | {r['tokens']:,} | {r['ppl']:,.1f} | {res} | {fl} | {r['hamming_vs_initial']:.4f} | {r['seconds']:.0f} |")
    Path(str(out) + ".md").write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
