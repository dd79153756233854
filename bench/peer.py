"""A peer implementation beside ours: llm-compressor's SparseGPT and Wanda on elsa_wb's model, calibration and evaluation windows.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python bench/peer.py --method sparsegpt --sparsity 0.7
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python bench/peer.py --method wanda --sparsity 0.7
    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 .venv/bin/python bench/peer.py --method sparsegpt --sparsity 0.8 0.9

Run it with OUR venv. Per cell it
  1. makes `.venv-peer` (git-ignored) once: `python3 -m venv` + `pip install llmcompressor==0.14.0.1 torch==<our torch>` (the same
     torch build as ours when pip can find it, e.g. the local CPU wheel; else whatever llmcompressor resolves to);
  2. saves the calibration windows of the cell `bench/claim.py` would run (`spec_of(method, p, seed)`, `elsa_wb.run.calibrate`:
     32 x 512 tokens of pydocs' train split) to runs/peer/calib-s<seed>.pt;
  3. runs bench/peer_driver.py in .venv-peer: llm-compressor's `oneshot` with SparseGPTModifier / WandaPruningModifier on those
     windows, the pruned model saved (dense safetensors) to runs/peer/<method>-<p>/;
  4. back in our venv: perplexity of that model under quality.py's protocol (first 64 windows of 512 tokens of the handbook and
     of Austen), and the IoU of its kept set with our own pruner's (elsa_wb.baselines.prune on the same windows; masks cached
     in runs/peer/ours-<method>-<p>-s<seed>-masks.pt) per prunable matrix;
  5. writes bench/results/claim/peer-<method>-<p>-s<seed>.json (the keys of our claim cells plus peer_versions, mask_iou_vs_ours).
A finished cell (its record exists) is skipped; --force redoes it. The peer model folder is reused when present.
"""
from __future__ import annotations
import argparse, json, os, shlex, subprocess, sys, time
from pathlib import Path
for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from claim import spec_of, CELLS, MODEL   # the cells' RunSpec, their record folder, the model

PEER_VENV = ROOT / ".venv-peer"
PEER_PY = PEER_VENV / "bin" / "python"
PEER_REQ = "llmcompressor==0.14.0.1"
KEY_PACKAGES = ("llmcompressor", "compressed-tensors", "torch", "transformers", "accelerate", "datasets")
WORK = ROOT / "runs" / "peer"


def ensure_venv() -> None:
    "Create .venv-peer with llmcompressor (pinned to our torch build when pip finds it); reuse it when llmcompressor imports."
    if PEER_PY.exists() and subprocess.run([str(PEER_PY), "-c", "import llmcompressor"], capture_output=True).returncode == 0: return
    import torch
    subprocess.run(["python3", "-m", "venv", str(PEER_VENV)], check=True)
    pip = [str(PEER_PY), "-m", "pip", "install", "-q"]
    if subprocess.run(pip + [PEER_REQ, f"torch=={torch.__version__}"]).returncode != 0:   # our build (e.g. 2.13.0+cpu from a local wheel)
        print(f"peer: torch=={torch.__version__} not installable beside {PEER_REQ}; letting pip resolve torch", flush=True)
        subprocess.run(pip + [PEER_REQ], check=True)


def peer_versions() -> dict:
    "The key packages of .venv-peer, as pip freeze lists them."
    out = subprocess.run([str(PEER_PY), "-m", "pip", "freeze"], capture_output=True, text=True, check=True).stdout
    pins = dict(line.split("==", 1) for line in out.splitlines() if "==" in line)
    norm = {k.lower().replace("_", "-"): v for k, v in pins.items()}
    return {k: norm.get(k) for k in KEY_PACKAGES}


def save_calib(seed: int) -> Path:
    "The calibration windows of the claim cells at this seed (token ids [32, 512]), saved once."
    import torch
    from elsa_wb.models import load_model
    from elsa_wb.run import calibrate
    path = WORK / f"calib-s{seed}.pt"
    if path.exists(): return path
    spec = spec_of("sparsegpt", 0.7, seed)   # the windows depend on the seed and the calibration flags only, not on method or sparsity
    _, tok = load_model(MODEL, tokenizer=True)
    calib = calibrate(spec, tok)
    WORK.mkdir(parents=True, exist_ok=True)
    torch.save(calib.clone(), path)
    return path


def model_dir() -> Path:
    "The local folder elsa_wb loads the embedded model from (fp32 safetensors)."
    from elsa_wb.models import fetch
    return fetch(MODEL)


def run_peer(method: str, p: float, calib: Path, out: Path) -> dict:
    "Prune with llm-compressor in .venv-peer into `out` (skipped when it holds a model); the driver's info record."
    info = out / "peer_info.json"
    if not info.exists():
        cmd = [str(PEER_PY), str(ROOT / "bench" / "peer_driver.py"), "--model", str(model_dir()), "--calib", str(calib),
               "--method", method, "--sparsity", str(p), "--out", str(out)]
        print("peer:", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(info.read_text())


def evaluate(path: Path, spec) -> dict:
    "{text: perplexity record} of the model in `path` under the cell's protocol."
    from elsa_wb.models import load_model
    from elsa_wb.evaluate import text_perplexity
    model, tok = load_model(str(path), dtype="float32")
    p = spec.protocol
    return {t: text_perplexity(model, tok, t, seqlen=p.seqlen, max_windows=p.windows) for t in (p.text, *p.extra_texts)}


def our_masks(method: str, p: float, seed: int, calib: Path) -> dict:
    "{weight name: keep-mask} of our own pruner on the same windows, cached in runs/peer/."
    import torch
    path = WORK / f"ours-{method}-{p:g}-s{seed}-masks.pt"
    if path.exists(): return torch.load(path)
    from elsa_wb.run import load_for_run
    from elsa_wb.baselines import prune
    spec = spec_of(method, p, seed)
    model, _ = load_for_run(spec)
    masks = prune(model, method, spec.spec, torch.load(calib), progress=False)
    torch.save(masks, path)
    return masks


def mask_iou(peer_path: Path, ours: dict) -> dict:
    "IoU of the peer model's nonzero set with our keep-masks, per prunable matrix: mean, min, and the per-matrix values."
    import torch
    from safetensors.torch import load_file
    w = {}
    for f in sorted(peer_path.glob("*.safetensors")): w.update(load_file(str(f)))
    per = {}
    for n, m in ours.items():
        k = w[n] != 0
        per[n] = int(torch.count_nonzero(k & m)) / max(int(torch.count_nonzero(k | m)), 1)
    kept = sum(int(torch.count_nonzero(w[n])) for n in ours) / sum(m.numel() for m in ours.values())
    return dict(mean=sum(per.values()) / len(per), min=min(per.values()), matrices=len(per), peer_density=kept, per_matrix=per)


def outside_changed(peer_path: Path) -> list[str]:
    "Names of the tensors outside the prunable matrices (embedding = tied lm_head, norms) that the peer changed: should be none."
    import torch
    from safetensors.torch import load_file
    from elsa_wb.models import load_model, prunable
    dense, _ = load_model(MODEL, tokenizer=False)
    skip = set(prunable(dense))
    w = {}
    for f in sorted(peer_path.glob("*.safetensors")): w.update(load_file(str(f)))
    return [n for n, t in dense.state_dict().items() if n not in skip and n in w and not torch.equal(t, w[n])]


def run_cell(method: str, p: float, seed: int, force: bool, command: str) -> None:
    "One peer cell, end to end, into bench/results/claim/peer-<method>-<p>-s<seed>.json."
    from elsa_wb.provenance import environment
    name = f"peer-{method}-{p:g}-s{seed}"
    rec_path = CELLS / f"{name}.json"
    if rec_path.exists() and not force: print(f"{name}: done ({rec_path})"); return
    spec = spec_of(method, p, seed)
    calib = save_calib(seed)
    out = WORK / f"{method}-{p:g}"
    info = run_peer(method, p, calib, out)
    ev = evaluate(out, spec)
    iou = mask_iou(out, our_masks(method, p, seed, calib))
    hb, au = ev[spec.protocol.text], ev.get("austen")
    rec = dict(cell=name, study="peer", method=f"peer-{method}", sparsity=p, seed=seed, steps=0, ppl=hb["ppl"],
               ppl_austen=au["ppl"] if au else None, train_tokens=0, calib_tokens=info["calib_tokens"], seconds=info["seconds"],
               admm_curve=None, eval_protocol={**hb["protocol"], "model": f"{MODEL} pruned by llm-compressor ({out.relative_to(ROOT)})"},
               config=dict(spec.to_json(), peer=info["config"]), command=command, **environment(),
               peer_versions=info["versions"], mask_iou_vs_ours={k: v for k, v in iou.items() if k != "per_matrix"},
               mask_iou_per_matrix=iou["per_matrix"], peer_changed_outside_prunable=outside_changed(out))
    CELLS.mkdir(parents=True, exist_ok=True)
    rec_path.write_text(json.dumps(rec, indent=1, default=str) + "\n")
    print(f"{name}: ppl {hb['ppl']:.2f} (austen {rec['ppl_austen']:.2f}), mask IoU vs ours mean {iou['mean']:.4f} min {iou['min']:.4f} -> {rec_path}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", nargs="+", default=["sparsegpt"], choices=["sparsegpt", "wanda"])
    ap.add_argument("--sparsity", nargs="+", type=float, default=[0.7])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="redo cells whose record exists (the peer model folder is still reused)")
    a = ap.parse_args(argv)
    command = "python " + shlex.join(["bench/peer.py", *(argv if argv is not None else sys.argv[1:])])
    ensure_venv()
    for m in a.method:
        for p in a.sparsity: run_cell(m, p, a.seed, a.force, command)


if __name__ == "__main__":
    main()
