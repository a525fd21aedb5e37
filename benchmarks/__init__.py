"""The workbook's benchmarks: how long each notebook takes, and what an adapter saves.

`python -m benchmarks` (or `make bench`) runs both and writes `docs/benchmarks.json`,
`docs/benchmarks.md` and `docs/benchmarks.png`. Every figure there comes from a run of this code on
the machine at hand; absolute times vary between machines, ratios measured in one run hold.
Times are taken with `benchmarks.timing`, in turns as notebook 06 times its models (`adapterlab.timing`).

- `bench_notebooks.py`: each notebook in a fresh kernel, warm and cold model cache, peak memory.
- `bench_adapters.py`: adapter vs full model on disk, saving, loading, switching, inference.
- `report.py`: the JSON file, the markdown tables and the plot.
"""

# Importing adapterlab before transformers/peft (which every benchmark module imports) switches the hub
# offline and quiets progress bars; importing the package `benchmarks` runs this line first.
import adapterlab  # noqa: F401
