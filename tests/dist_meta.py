"""Run by tests/test_distributed.py under `torchrun --nproc_per_node=2`: process 0 alone reads the model, process 1 builds a
meta-device skeleton (no storage) that FSDP2 fills from process 0; the run ends with a single process's masks and weights,
and a load that fails on process 0 fails on process 1 with the same sentence. Prints OK on success; any mismatch raises."""
import torch, torch.distributed as dist
from elsa_wb.config import ElsaConfig
from elsa_wb.distributed import DistributedElsa, load_on_rank0, is_skeleton, init_distributed
from elsa_wb.elsa import Elsa
from elsa_wb.models import load_model, prunable

def stream(seed=0, batch=2, seqlen=32, vocab=512):
    g = torch.Generator().manual_seed(seed)
    while True: yield torch.randint(0, vocab, (batch, seqlen), generator=g)

def tiny():
    torch.manual_seed(0)
    model, tok = load_model("tiny-llama", dtype="float64")
    return model, tok

cfg = ElsaConfig(sparsity=0.75, steps=10, interval=3, lr=1e-2, batch_size=2, seqlen=32, eval_every=0, projection="hessian",
                 finetune_steps=2, init="sparsegpt", calib_windows=4, dtype="float64")
mesh = init_distributed("cpu")
rank = dist.get_rank()
try: load_on_rank0(lambda: load_model("no-such-model-here"))
except ValueError as e: assert "no-such-model-here" in str(e), e
else: raise AssertionError("a failed load on process 0 must fail every process")

model, tok = load_on_rank0(tiny)
vocab = model.config.vocab_size
assert is_skeleton(model) == (rank != 0), (rank, is_skeleton(model))
if rank: assert all(p.device.type == "meta" for p in model.parameters())   # shapes and dtypes, no data
calib = next(stream(seed=2, batch=4, vocab=vocab)) if rank == 0 else None   # only process 0 needs the calibration windows
run = DistributedElsa(model, cfg, calib=calib, mesh=mesh)
run.fit(stream(vocab=vocab), eval_windows=next(stream(seed=1, vocab=vocab)))
full = run.gather_model()
if rank == 0:
    one = Elsa(tiny()[0], cfg, calib=calib)
    one.fit(stream(vocab=vocab), eval_windows=next(stream(seed=1, vocab=vocab)))
    for n, w in prunable(full).items():
        assert torch.equal(w != 0, prunable(one.model)[n] != 0), n
        torch.testing.assert_close(w, prunable(one.model)[n].to(w.dtype), rtol=1e-6, atol=1e-8)
dist.destroy_process_group()
print(f"rank {rank}: OK")
