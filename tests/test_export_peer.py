"""elsa_wb's compressed-tensors sparse layout against the library that defined it.

compressed-tensors 0.14.0.1 is the last release with the sparse compressors (0.15 removed them; transformers 5 needs
0.15+). Its wheel is pure Python: the test downloads it once from the package index into elsa_wb's cache and runs it
in a subprocess with the wheel first on PYTHONPATH, beside this environment's torch and transformers. Both directions:
what `elsa-wb export --format compressed-tensors` writes, compressed-tensors 0.14 decompresses bit for bit; what
compressed-tensors 0.14 writes, elsa_wb reads bit for bit.
"""
import json, os, subprocess, sys, zipfile
from pathlib import Path
import pytest, torch
from elsa_wb.models import load_model, cache_dir, prunable
from elsa_wb.sparsity import SparsitySpec
from elsa_wb.baselines import magnitude_prune
from elsa_wb.export import export_model, read_compressed, load_saved, CT_VERSION

PEER = f"compressed-tensors=={CT_VERSION}"

DECOMPRESS = """
import sys, torch
from compressed_tensors import ModelCompressor, __version__
from transformers import AutoConfig, AutoModelForCausalLM
assert __version__ == sys.argv[3], __version__
folder = sys.argv[1]
cfg = AutoConfig.from_pretrained(folder); cfg.quantization_config = None
model = AutoModelForCausalLM.from_config(cfg, dtype=getattr(torch, sys.argv[4]))
ModelCompressor.from_pretrained(folder).decompress(folder, model)
model.tie_weights()
torch.save(model.state_dict(), sys.argv[2])
"""

COMPRESS = """
import sys, torch
from compressed_tensors import ModelCompressor
from compressed_tensors.config import SparsityCompressionConfig
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
fmt, structure = sys.argv[3], sys.argv[4]
scfg = SparsityCompressionConfig.load_from_registry(fmt, targets=["re:model\\\\.layers\\\\.\\\\d+\\\\..*_proj$"], ignore=["lm_head"],
                                                    global_sparsity=0.5, sparsity_structure=structure)
comp = ModelCompressor(sparsity_config=scfg)
sd = comp.compress(model, show_progress=False)
model.save_pretrained(sys.argv[2], state_dict=sd)
comp.update_config(sys.argv[2])
"""


@pytest.fixture(scope="module")
def peer() -> Path:
    "The unpacked compressed-tensors 0.14.0.1 wheel (downloaded once)."
    import tempfile
    home = cache_dir() / "peers" / PEER.replace("==", "-")
    if (home / "compressed_tensors" / "__init__.py").exists(): return home
    home.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=home.parent))   # private to this process: parallel test workers do not collide
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--dest", str(work / "wheels"), PEER], capture_output=True, text=True)
    assert r.returncode == 0, f"could not download {PEER} from the package index: {r.stderr[-500:]}"
    zipfile.ZipFile(next((work / "wheels").glob("compressed_tensors-*.whl"))).extractall(work / "unpacked")
    try: os.replace(work / "unpacked", home)
    except OSError: pass   # another worker finished first: use theirs
    return home


def run_peer(peer: Path, script: str, *args) -> None:
    env = dict(os.environ, PYTHONPATH=str(peer), OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("pattern, dtype", [("0.7", "float32"), ("2:4", "bfloat16")])
def test_peer_decompresses_our_export(peer, tmp_path, pattern, dtype):
    model, tok = load_model("tiny-llama", dtype=dtype)
    magnitude_prune(model, SparsitySpec.parse(pattern))
    man = export_model(model, tok, tmp_path / "ct", layout="compressed-tensors", pattern=pattern if ":" in pattern else None)
    assert json.loads((tmp_path / "ct" / "config.json").read_text())["quantization_config"]["sparsity_config"]["format"] == \
        ("sparse-24-bitmask" if pattern == "2:4" else "sparse-bitmask")
    run_peer(peer, DECOMPRESS, tmp_path / "ct", tmp_path / "peer.pt", CT_VERSION, dtype)
    theirs, ours = torch.load(tmp_path / "peer.pt"), model.state_dict()
    assert set(theirs) == set(ours)
    bad = [k for k in ours if theirs[k].dtype != ours[k].dtype or not torch.equal(theirs[k], ours[k])]
    assert not bad, f"compressed-tensors {CT_VERSION} decompressed other weights for {bad[:3]}"
    assert man["sparsity_report"]["matrices"] == {n: int((w == 0).sum()) / w.numel() for n, w in prunable(model).items()}


@pytest.mark.parametrize("pattern, fmt, structure", [("0.5", "sparse-bitmask", "unstructured"), ("2:4", "sparse-24-bitmask", "2:4")])
def test_we_read_the_peers_files(peer, tmp_path, pattern, fmt, structure):
    model, tok = load_model("tiny-llama", dtype="bf16")
    magnitude_prune(model, SparsitySpec.parse(pattern))
    model.save_pretrained(tmp_path / "dense"); tok.save_pretrained(tmp_path / "dense")
    run_peer(peer, COMPRESS, tmp_path / "dense", tmp_path / "theirs", fmt, structure)
    sd, ours = read_compressed(tmp_path / "theirs"), model.state_dict()
    assert all(torch.equal(sd[k], ours[k]) for k in sd) and set(ours) - set(sd) <= {"lm_head.weight"}
    tok.save_pretrained(tmp_path / "theirs")
    back, _ = load_saved(tmp_path / "theirs")   # no manifest: found by its config.json
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), ours.values()))
    with pytest.raises(ValueError, match="load it with elsa_wb.export.load_exported"):
        load_model(str(tmp_path / "theirs"))
