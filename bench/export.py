"""Bytes on disk of an exported pruned SmolLM2-135M: the dense layout (what transformers and vLLM load) against the
compressed-tensors layout (kept values + bitmasks), at 50/70/90% unstructured and 2:4, in bf16 and fp32.

    python bench/export.py             # writes bench/results/export.json (about 2 minutes on one CPU thread)

Each cell prunes the embedded model by magnitude (the bytes depend only on the sparsity and its pattern, not on
which weights a method keeps), exports it in both layouts with `elsa_wb.export.export_model`, measures the files,
loads each export back with `load_exported` and checks the weights bit for bit. The dense, unpruned model's
safetensors in the same dtype is the reference ("dense model"). Every number is measured here; none is typed in.
"""
from __future__ import annotations
import argparse, json, os, shlex, sys, tempfile, time
from pathlib import Path

for _v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"): os.environ.setdefault(_v, "1")
ROOT = Path(__file__).resolve().parents[1]
CELLS = ("0.5", "0.7", "0.9", "2:4")
DTYPES = ("bfloat16", "float32")


def weight_bytes(folder: Path) -> int:
    "Bytes of the model's weight files (top-level *.safetensors; masks and tokenizer not counted)."
    return sum(p.stat().st_size for p in folder.glob("*.safetensors"))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def cell(model_name: str, dtype: str, sparsity: str, work: Path) -> dict:
    import torch
    from elsa_wb.models import load_model, sparsity_report
    from elsa_wb.sparsity import SparsitySpec
    from elsa_wb.baselines import magnitude_prune
    from elsa_wb.export import export_model, load_exported
    model, tok = load_model(model_name, dtype=dtype)
    spec = SparsitySpec.parse(sparsity)
    magnitude_prune(model, spec)
    row = dict(dtype=dtype, sparsity=str(spec), pattern=spec.pattern, measured_sparsity=sparsity_report(model)["total"])
    for layout in ("dense", "compressed-tensors"):
        out = work / f"{dtype}-{sparsity.replace(':', 'of')}-{layout}"
        t0 = time.perf_counter()
        export_model(model, tok, out, layout=layout, pattern=spec.pattern)
        t1 = time.perf_counter()
        back = load_exported(out)[0]
        t2 = time.perf_counter()
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
        if not same: raise AssertionError(f"{out} did not load back bit for bit")
        row[layout] = dict(weight_bytes=weight_bytes(out), folder_bytes=folder_bytes(out), export_seconds=round(t1 - t0, 2),
                           load_seconds=round(t2 - t1, 2), bit_exact=same)
    row["compressed_over_dense"] = row["compressed-tensors"]["weight_bytes"] / row["dense"]["weight_bytes"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "export.json"))
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    from elsa_wb.models import load_model
    from elsa_wb.provenance import environment
    t0, rows, reference = time.time(), [], {}
    with tempfile.TemporaryDirectory() as d:
        for dtype in DTYPES:
            m, _ = load_model(a.model, dtype=dtype)
            m.save_pretrained(Path(d, f"unpruned-{dtype}")); reference[dtype] = weight_bytes(Path(d, f"unpruned-{dtype}"))
            del m
            for s in CELLS:
                rows.append(cell(a.model, dtype, s, Path(d)))
                r = rows[-1]
                print(f"{dtype:>9} {r['sparsity']:>5}: dense {r['dense']['weight_bytes'] / 1e6:7.1f} MB, compressed "
                      f"{r['compressed-tensors']['weight_bytes'] / 1e6:7.1f} MB ({r['compressed_over_dense']:.3f}x), bit exact", flush=True)
    for r in rows: r["compressed_over_unpruned"] = r["compressed-tensors"]["weight_bytes"] / reference[r["dtype"]]
    env = environment()
    rec = dict(bench="export", command=shlex.join([sys.executable, *sys.argv]), model=a.model, git_commit=env["git_commit"],
               versions=env["versions"], environment=env, unpruned_weight_bytes=reference, rows=rows, wall_seconds=round(time.time() - t0, 1),
               note="weight_bytes: the model's top-level *.safetensors (the dense layout's masks live in elsa_wb/ and count in folder_bytes)")
    Path(a.out).write_text(json.dumps(rec, indent=1) + "\n")
    print(f"wrote {a.out} in {rec['wall_seconds']} s")


if __name__ == "__main__":
    main()
