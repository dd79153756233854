"""One-shot pruning layer by layer: what the pruning device holds when the model stays on the CPU and one decoder block
at a time is onloaded (`elsa-wb prune --onload`), against the whole model on the device.

    python bench/onload.py                          # LLaMA-2-7B blocks at width 512, 16 layers (55M parameters), SparseGPT 50%, on the CPU
    python bench/onload.py --hidden 2048 --layers 24 --device cuda   # on a GPU: also the allocator's measured peak of both ways

On the CPU the device is the CPU itself, so the onloaded path is forced through fresh copies (`copy=True`) and what the
device holds is *accounted* by the walk's meter: the bytes of the block onloaded now (one at a time), of the modules
outside the blocks (onloaded while block 0's inputs are captured), and of the calibration activations. On a GPU,
`torch.cuda.max_memory_allocated` measures both ways side by side: that is the real check (bench/gpu.sh). Both ways must
give the same masks bit for bit. Writes bench/results/onload.json (command, versions, commit).
"""
from __future__ import annotations
import argparse, json, shlex, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(hidden: int, layers: int, vocab: int, seed: int = 0):
    "A random model of LLaMA-2-7B's blocks at width `hidden` (head_dim 128, the 7B's MLP ratio), `layers` deep (fp32, on the CPU)."
    import dataclasses, torch, transformers as T
    from elsa_wb.memory import LLAMA2_7B, hf_config
    heads = hidden // 128
    shape = dataclasses.replace(LLAMA2_7B, name=f"LLaMA-2-7B blocks at width {hidden}, {layers} layers, vocabulary {vocab}", vocab=vocab,
                                hidden=hidden, intermediate=round(hidden * 11008 / 4096), layers=layers, heads=heads, kv_heads=heads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return T.AutoModelForCausalLM.from_config(hf_config(shape)).eval(), shape


def prune_one_way(model, calib, device, onload: bool, sparsity: float, method: str):
    "Prune `model` (a copy) in place or onloaded; returns masks, meter, the allocator's peak on a GPU, seconds."
    import torch
    from elsa_wb.baselines import prune
    from elsa_wb.sparsity import SparsitySpec
    cuda = str(device).startswith("cuda")
    if cuda: torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(device)
    if not onload: model.to(device)
    meter, t0 = {}, time.time()
    masks = prune(model, method, SparsitySpec(sparsity), calib.to(device), progress=False, meter=meter,
                  device=device if onload else None, copy=onload and not cuda)
    peak = torch.cuda.max_memory_allocated(device) if cuda else None
    model.to("cpu")
    return {n: m.cpu() for n, m in masks.items()}, meter, peak, time.time() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=512, help="width of the LLaMA-2-7B-like blocks (default 512; the 7B's is 4096)")
    p.add_argument("--layers", type=int, default=16, help="decoder blocks (default 16; the 7B has 32)")
    p.add_argument("--vocab", type=int, default=4000, help="vocabulary (default 4000: about the 7B's share of embedding weights)")
    p.add_argument("--method", default="sparsegpt", choices=("wanda", "sparsegpt"))
    p.add_argument("--sparsity", type=float, default=0.5)
    p.add_argument("--calib-windows", type=int, default=8); p.add_argument("--calib-seqlen", type=int, default=256)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "onload.json"))
    a = p.parse_args(argv)
    import torch
    from elsa_wb.provenance import environment
    from elsa_wb.models import decoder_blocks
    model, shape = build(a.hidden, a.layers, a.vocab)
    calib = torch.randint(0, int(shape.vocab), (a.calib_windows, a.calib_seqlen), generator=torch.Generator().manual_seed(0))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    nbytes = lambda ts: sum(t.numel() * t.element_size() for t in ts)
    model_bytes = nbytes([*model.parameters(), *model.buffers()])
    block_bytes = max(nbytes([*b.parameters(), *b.buffers()]) for b in decoder_blocks(model)[1])
    ways = {}
    for way in ("whole", "onload"):
        model.load_state_dict(state)
        masks, meter, peak, secs = prune_one_way(model, calib, a.device, way == "onload", a.sparsity, a.method)
        ways[way] = dict(masks=masks, meter=meter, peak_allocated=peak, seconds=round(secs, 2))
    same = all(torch.equal(ways["whole"]["masks"][n], ways["onload"]["masks"][n]) for n in ways["whole"]["masks"])
    m = ways["onload"]["meter"]
    onloaded_peak = m["blocks"] + m.get("outside", 0) + m["activations"]   # at worst all at once (the capture holds the outside and a block)
    rec = dict(command=shlex.join(["python", "bench/onload.py", *(sys.argv[1:] if argv is None else argv)]), **environment(),
               model=shape.name, n_params=int(shape.n_params), layers=int(shape.layers), method=a.method, sparsity=a.sparsity,
               calib=[a.calib_windows, a.calib_seqlen], pruning_device=a.device, same_masks=same, model_bytes=model_bytes, block_bytes=block_bytes,
               onload_meter=m, onload_accounted_peak=onloaded_peak, accounted_peak_over_model=onloaded_peak / model_bytes,
               measured_peak=dict(whole=ways["whole"]["peak_allocated"], onload=ways["onload"]["peak_allocated"]),
               seconds=dict(whole=ways["whole"]["seconds"], onload=ways["onload"]["seconds"]))
    Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")
    print(f"{shape.name}: model {model_bytes / 2**20:,.1f} MiB, one block {block_bytes / 2**20:,.1f} MiB; onloaded peak (accounted): "
          f"{onloaded_peak / 2**20:,.1f} MiB = {onloaded_peak / model_bytes:.1%} of the model (blocks {m['blocks'] / 2**20:,.1f}, outside "
          f"{m.get('outside', 0) / 2**20:,.1f}, activations {m['activations'] / 2**20:,.1f}); same masks: {same}"
          + (f"; measured peak whole {ways['whole']['peak_allocated'] / 2**20:,.1f} MiB, onload {ways['onload']['peak_allocated'] / 2**20:,.1f} MiB"
             if ways["whole"]["peak_allocated"] else "") + f" -> {a.out}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
