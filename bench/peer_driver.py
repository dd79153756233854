"""llm-compressor's one-shot SparseGPT / Wanda on saved calibration windows; run by bench/peer.py with .venv-peer/bin/python.

    .venv-peer/bin/python bench/peer_driver.py --model ~/.cache/elsa_wb/models/smollm2-135m --calib runs/peer/calib-s0.pt \
        --method sparsegpt --sparsity 0.7 --out runs/peer/sparsegpt-0.7

Imports nothing of elsa_wb (it runs in its own venv). Writes the pruned model (dense fp32 safetensors + tokenizer) to --out and
peer_info.json beside it (config, calib_tokens, seconds, versions).
"""
from __future__ import annotations
import argparse, importlib.metadata as md, json, os, time
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1")

KEY_PACKAGES = ("llmcompressor", "compressed-tensors", "torch", "transformers", "accelerate", "datasets")


def versions() -> dict:
    return {k: md.version(k) for k in KEY_PACKAGES}


def calib_dataset(path: str):
    "The windows [n, seqlen] as a datasets.Dataset of input_ids / attention_mask (no padding, no BOS: exactly our tokens)."
    import torch
    from datasets import Dataset
    ids = torch.load(path)
    return Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": torch.ones_like(ids).tolist()}), ids.shape


def modifier(method: str, sparsity: float):
    """The llm-compressor modifier: unstructured, every Linear in the decoder blocks, lm_head left dense; their defaults otherwise.

    targets name the decoder layers (their Linear submodules are pruned). Not targets=["Linear"], ignore=["lm_head"]: with a
    Linear as the target llm-compressor names the module "lm_head." (trailing dot), the plain ignore does not match, and the
    lm_head -- tied to the input embedding in SmolLM2 -- is pruned to the same sparsity (0.14.0.1; we measured it)."""
    from llmcompressor.modifiers.pruning import SparseGPTModifier, WandaPruningModifier
    common = dict(sparsity=sparsity, mask_structure="0:0", targets=[r"re:model\.layers\.\d+$"], ignore=["re:.*lm_head"])
    if method == "sparsegpt": return SparseGPTModifier(**common)   # block_size=128, dampening_frac=0.01 (their defaults = ours)
    return WandaPruningModifier(**common)


def save(model, tok, out: Path) -> None:
    "Dense safetensors (no compressed-tensors config: our venv loads it as a plain checkpoint)."
    model.save_pretrained(out, save_compressed=False)
    tok.save_pretrained(out)
    cfg = json.loads((out / "config.json").read_text())
    if cfg.pop("quantization_config", None) is not None: (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True); ap.add_argument("--calib", required=True)
    ap.add_argument("--method", choices=["sparsegpt", "wanda"], required=True); ap.add_argument("--sparsity", type=float, required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from llmcompressor import oneshot
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(a.model)
    ds, (n, seqlen) = calib_dataset(a.calib)
    mod = modifier(a.method, a.sparsity)
    t0 = time.time()
    oneshot(model=model, tokenizer=tok, dataset=ds, recipe=[mod], num_calibration_samples=n, max_seq_length=seqlen,
            shuffle_calibration_samples=False, batch_size=1)
    seconds = round(time.time() - t0, 1)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    save(model, tok, out)
    cfg = dict(modifier=type(mod).__name__, **{k: v for k, v in mod.model_dump().items() if not k.startswith("_") and k not in ("index", "group", "start", "end", "update")},
               num_calibration_samples=n, max_seq_length=seqlen, batch_size=1, shuffle_calibration_samples=False, pipeline="independent (default)")
    info = dict(config=cfg, calib_tokens=n * seqlen, seconds=seconds, versions=versions(), threads=torch.get_num_threads())
    (out / "peer_info.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    print(json.dumps(info, default=str))


if __name__ == "__main__":
    main()
