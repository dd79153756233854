"""The fast projection (radix select, position-keyed topk) on real weights: the embedded SmolLM2's matrices are
dequantised 4-bit values, so their magnitudes tie often, also at the threshold. Every mask must equal the definition
(a stable sort: the lowest scores dropped, equal scores the earlier first) and keep exactly what `torch.topk` keeps
wherever the scores do not tie at the threshold."""
import pytest, torch
from elsa_wb.models import load_model, prunable
from elsa_wb.sparsity import SparsitySpec, keep_mask, as_rows, from_rows


@pytest.fixture(scope="module")
def weights():
    model, _ = load_model("smollm2-135m")
    w = prunable(model)
    return {n: p.detach() for n, p in w.items() if ".layers.0." in n or ".layers.29." in n}   # first and last blocks: 14 matrices


def stable_sort_keep(score: torch.Tensor, n_drop: int, dim=None) -> torch.Tensor:
    flat = score.reshape(-1) if dim is None else score
    d = 0 if dim is None else dim
    idx = torch.sort(flat, dim=d, stable=True).indices.narrow(d, 0, n_drop)
    return torch.ones_like(flat, dtype=torch.bool).scatter_(d, idx, False).view_as(score)


@pytest.mark.parametrize("sparsity", [0.5, 0.7, 0.9])
def test_unstructured_masks_follow_the_definition(weights, sparsity):
    spec, tied = SparsitySpec(sparsity), 0
    for n, w in weights.items():
        score = w.float().square()
        k = spec.n_pruned(score.numel())
        got = keep_mask(score, spec)
        assert torch.equal(got, stable_sort_keep(score, k)), n
        assert int((~got).sum()) == k, n
        # against topk: the same kept set except among the scores equal to the threshold
        t = score.reshape(-1).kthvalue(k).values
        ref = torch.zeros(score.numel(), dtype=torch.bool).index_fill_(0, score.reshape(-1).topk(score.numel() - k).indices, True).view_as(score)
        off_tie = score != t
        assert torch.equal(got[off_tie], ref[off_tie]), n
        tied += int((score == t).sum()) > 1
    assert tied > 0, "no matrix ties at its threshold: the tie rule was not exercised"


def test_row_and_nm_masks_follow_the_definition(weights):
    for n, w in weights.items():
        score = w.float().square()
        rows = as_rows(score, 1)
        row = SparsitySpec(0.7, scope="row")
        assert torch.equal(keep_mask(score, row), from_rows(stable_sort_keep(rows, row.n_pruned(rows.shape[1]), 1), score, 1)), n
        nm = rows.reshape(rows.shape[0], -1, 4)
        want = from_rows(stable_sort_keep(nm, 2, 2).reshape(rows.shape), score, 1)
        assert torch.equal(keep_mask(score, SparsitySpec(0.5, "2:4")), want), n
