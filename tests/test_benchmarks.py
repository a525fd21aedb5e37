"""Smoke test of benchmarks/ at tiny scale (gpt2-mini, one repetition), so `make bench` cannot rot.

The figures themselves are not checked here (they depend on the machine); what is checked is that
every measurement is taken, that the checks inside the benchmark run, and that the files are written.
"""

import json
from pathlib import Path

import nbformat
import pytest
from benchmarks import bench_adapters, bench_notebooks, report, timing
from benchmarks.__main__ import main


@pytest.fixture(scope="module")
def adapters_section():
    """The adapter benchmark on gpt2-mini, one target set, one repetition, one generated token."""
    section = bench_adapters.run("gpt2-mini", reps=1, new_tokens=1, prompt_tokens=4,
                                 target_sets={"c_attn": ["c_attn"]})
    return {**section, "machine_start": report.machine(), "machine_end": report.machine()}


def test_adapter_benchmark_measures_everything(adapters_section):
    """Every measurement of the issue is taken, and the adapter is the smaller file (r=8 on c_attn)."""
    s = adapters_section["sets"]["c_attn"]
    assert set(s["switch"]) == {"set_adapter", "load_adapter", "load_full"}
    assert set(s["inference"]) == {"base", "unmerged", "merged"}
    stats = [stat for group in ("save", "load", "switch", "inference") for stat in s[group].values()]
    for stat in stats + [s["mixed_batch"]["mixed"]]:  # one repetition each, summarised from what was measured
        assert stat["n"] == len(stat["values"]) == 1 and stat["min"] == stat["median"] == stat["max"] > 0, stat
    assert s["checks"]["mixed_batch_equals_one_at_a_time"]
    # The benchmark's own claim, which holds by a wide margin even for gpt2-mini: switching adapters in
    # memory is cheaper than loading another full model.
    assert s["switch"]["set_adapter"]["median"] < s["switch"]["load_full"]["median"]
    assert s["checks"]["merged_vs_unmerged_max_abs_logit_diff"] < 1e-3
    # gpt2-mini: 4 layers x r * (128 in + 384 out) = 16,384 LoRA parameters for c_attn.
    assert s["params"]["adapter"] == 4 * 8 * (128 + 3 * 128)
    assert "adapter_model.safetensors" in " ".join(s["bytes"]["adapter_files"])
    assert s["bytes"]["adapter"] * 10 < s["bytes"]["full"]


def test_adapter_report_files(adapters_section, tmp_path):
    """The JSON, the markdown table (with ratios and repetition counts) and the PNG plot are written."""
    record = report.update("adapters", adapters_section, tmp_path / "benchmarks.json")
    assert json.loads((tmp_path / "benchmarks.json").read_text()) == record
    text = report.adapters_markdown(record["adapters"])
    assert "| bytes on disk | adapter folder:" in text and "× less disk" in text and "(n=1)" in text
    assert report.plot(record["adapters"], tmp_path / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["report", "--docs", str(tmp_path)]) == 0
    assert "## 2. What does an adapter save?" in (tmp_path / "benchmarks.md").read_text()


def _notebook(path: Path, *sources: str) -> Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def test_notebook_benchmark_cold_and_warm_cache_and_peak_memory(tmp_path):
    """Cold runs see an empty ADAPTERLAB_CACHE, warm runs what was built but its locks; the time counts the
    cells; a 300 MB buffer in one kernel shows as 300 MB more peak than the same cells without it."""
    built = tmp_path / "built"
    (built / "gpt2-mini").mkdir(parents=True)
    (built / ".build.lock").touch()
    results = {}
    for kind, expected, last in (("cold", [], "buffer = b''"), ("warm", ["gpt2-mini"], "buffer = b'x' * 300_000_000")):
        path = _notebook(tmp_path / f"{kind}.ipynb",
                         "import os, pathlib, time\ncache = pathlib.Path(os.environ['ADAPTERLAB_CACHE'])",
                         f"assert sorted(p.name for p in cache.iterdir()) == {expected!r}",
                         "time.sleep(0.5)", last)
        with bench_notebooks.model_cache(kind, built) as cache:
            results[kind] = bench_notebooks.run_notebook(path, cache, timeout=60)
        assert results[kind]["error"] is None, (kind, results[kind]["error"])
        assert results[kind]["code_cells"] == 4 and results[kind]["wall_s"] >= 0.5
    grown = results["warm"]["peak_rss_bytes"] - results["cold"]["peak_rss_bytes"]
    assert 280e6 < grown < 340e6, (grown, results)


def test_failing_notebook_is_reported_not_raised(tmp_path):
    """A notebook whose cell raises is recorded with the cell and the error; the kernel's peak is still read."""
    path = _notebook(tmp_path / "01_broken.ipynb", "x = 1", "raise ValueError('seeded failure')", "x = 2")
    section = {"budget_seconds": 45, "budget_bytes": 3e9, "repetitions": 1,
               "rows": {path.name: {"warm": None}}}
    with bench_notebooks.model_cache("cold") as cache:
        result = bench_notebooks.run_notebook(path, cache, timeout=60)
    assert result["error"].startswith("cell 1: ValueError: seeded failure"), result["error"]
    assert result["peak_rss_bytes"] > 0
    section["rows"][path.name] = {"warm": result}
    section["machine_start"] = section["machine_end"] = report.machine()
    assert "FAILED (cell 1: ValueError" in report.notebooks_markdown(section)


def test_compare_times_only_fn_and_summarises(clock):
    """compare times fn alone (setup and teardown are outside the timing), in turns, and summarises each case."""
    order = []

    def case(name, cost):
        def fn(_):
            order.append(name)
            clock["now"] += cost

        def setup():
            clock["now"] += 100  # untimed work must not count
        return timing.Case(fn, setup=setup)

    result = timing.compare({"x": case("x", 1.0), "y": case("y", 3.0)}, reps=3)
    assert order == ["x", "y"] * 3
    assert result["x"]["median"] == 1.0 and result["y"]["values"] == [3.0, 3.0, 3.0] and result["y"]["n"] == 3
    assert timing.ratio(result["y"], result["x"]) == 3.0


def test_format_summary_gives_median_range_and_count():
    """A time is shown in the unit a person would say, with its min–max range and repetition count."""
    assert timing.format_summary(timing.summary([0.012, 0.011, 0.013], "s")) == "12 ms (11–13, n=3)"
    assert timing.format_summary(timing.summary([2.5], "s")) == "2.5 s (n=1)"
    assert timing.format_summary(timing.summary([1160.0, 999.7], "ms/token")) == "1080 ms/token (1000–1160, n=2)"
    with pytest.raises(ValueError, match="at least one"):
        timing.summary([], "s")
