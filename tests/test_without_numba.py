"""numba is a dependency, but a machine without it (a bare GPU image) must still run: every CPU kernel then gives way
to the PyTorch path, which writes the same state. A subprocess that cannot import numba runs ELSA-L's and plain
ADMM's updates on a tiny model and must match this process (with numba) bit for bit."""
import subprocess, sys, textwrap
import torch

SCRIPT = textwrap.dedent('''
    import sys, torch
    if sys.argv[1] == "block": sys.modules["numba"] = None   # import numba raises ImportError
    from elsa_wb.lowprec import HAVE_NUMBA
    from elsa_wb.admm import ADMM
    from elsa_wb.models import tiny_model, prunable
    assert HAVE_NUMBA == (sys.argv[1] != "block")
    torch.manual_seed(0)
    m = tiny_model("llama"); ws = prunable(m)
    out = {}
    for codecs in (dict(), dict(z_dtype="fp8_e4m3_sparse", u_dtype="bf16")):
        admm = ADMM(ws, sparsity=0.7, rho=0.05, interval=1, steps=3, projection="magnitude", **codecs)
        with torch.no_grad():
            for step in range(3):
                for w in ws.values(): w.add_(torch.randn_like(w) * 1e-2)
                admm.update(step)
        key = codecs.get("z_dtype", "fp32")
        out[key] = {n: (admm.mask[n], admm.z_of(n), admm.u_of(n)) for n in ws}
    torch.save(out, sys.argv[2])
''')


def test_without_numba_the_pytorch_path_gives_the_same_state(tmp_path):
    results = {}
    for mode in ("block", "allow"):
        f = tmp_path / f"{mode}.pt"
        r = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-3000:]
        results[mode] = torch.load(f)
    for codec, per in results["allow"].items():
        for n, tensors in per.items():
            for a, b in zip(tensors, results["block"][codec][n]): assert torch.equal(a, b), (codec, n)
