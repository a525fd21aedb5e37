"""tools/gpu_figures.py measures the QLoRA and device_map rows on whatever device it is given; on the CPU here."""

import pytest
from tools import gpu_figures


@pytest.mark.slow
def test_report_on_the_cpu_measures_every_row():
    """On the CPU: real Linear4bit layers, PEFT's four merge warnings, a reload, and the disk-offloaded block's LoRA
    weights on meta with PeftModel.from_pretrained's meta error; the report is one Markdown table."""
    text = gpu_figures.report("cpu")
    rows = dict(line.strip("|").split(" | ", 1) for line in text.splitlines()[6:])
    rows = {what.strip(): value.strip() for what, value in rows.items()}
    assert rows["layer type"] == "Linear4bit"
    assert rows["merge warnings"].startswith("4 x Merge lora module to 4-bit linear")
    assert float(rows["4-bit vs float32 logits"]) > 0
    assert rows["split: blocks 0-1 on cpu, 2-3 on disk; get_peft_model puts LoRA weights on"] == "cpu, meta"
    assert "Cannot copy out of meta tensor" in rows["PeftModel.from_pretrained raises"]
