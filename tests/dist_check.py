"""Run by tests/test_distributed.py under `torchrun --nproc_per_node=2`: the distributed k-th value and keep-mask against
torch.kthvalue / keep_mask on the gathered tensor. Prints OK on success; any mismatch raises."""
import torch, torch.distributed as dist
from elsa_wb.distributed import kth_smallest, distributed_keep_mask
from elsa_wb.sparsity import SparsitySpec, keep_mask

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
for seed in range(6):
    g = torch.Generator().manual_seed(100 * seed + rank)
    rows = 7 + 3 * rank if seed % 2 else 16                              # uneven shards too
    x = torch.randn(rows, 24, generator=g).square()
    if seed >= 4: x = torch.randint(0, 5, (rows, 24), generator=g).float()   # heavy ties
    parts = [None] * world
    dist.all_gather_object(parts, x)   # gloo's all_gather needs equal shapes; the shards here are uneven on purpose
    full, sizes = torch.cat(parts), [len(p) for p in parts]
    for k in (1, 5, full.numel() // 3, full.numel() - 1, full.numel()):
        got, want = kth_smallest(x, k), torch.kthvalue(full.reshape(-1), k).values
        assert got == want, (seed, k, got, want)
    for r in (0.5, 0.7, 0.9):
        n_drop = SparsitySpec(r).n_pruned(full.numel())
        m = distributed_keep_mask(x, n_drop)
        dropped = torch.tensor([int((~m).sum())]); dist.all_reduce(dropped)
        assert int(dropped) == n_drop, (seed, r, int(dropped), n_drop)
        if seed < 4:   # no ties: the same mask as one process computing on the whole matrix
            offset = sum(int(s) for s in sizes[:rank])
            assert torch.equal(m, keep_mask(full, SparsitySpec(r))[offset:offset + rows]), (seed, r)
dist.destroy_process_group()
print(f"rank {rank}: OK")
