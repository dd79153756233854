"Zero-shot columns in a compare: every cell scores the offline suite, the rows and the printed table carry one column per task."
from elsa_wb.compare import compare, format_table
from elsa_wb.run import RunSpec
from elsa_wb.config import Protocol


def test_compare_adds_zero_shot_columns(tmp_path):
    rec = compare(RunSpec(model="tiny-llama", protocol=Protocol(seqlen=32, windows=1, zero_shot=3)), ["0.5"], ["magnitude"], tmp_path / "cmp",
                  progress=False, quiet=True)
    assert [r["method"] for r in rec["rows"]] == ["dense", "magnitude"]
    for r in rec["rows"]:
        assert 0 <= r["zs_wb_lastword"] <= 1 and 0 <= r["zs_wb_nextsent"] <= 1, r
    head = format_table(rec["rows"]).splitlines()[0]
    assert "wb_lastword" in head and "wb_nextsent" in head
    assert rec["config"]["zero_shot"] == 3
