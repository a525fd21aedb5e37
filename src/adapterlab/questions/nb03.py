"""Check your understanding: notebook 03 (saving adapters)."""

import struct

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

q1 = ValueQuestion(
    id="03.tensor_bytes",
    prompt="GPT-2 small, LoRA r=8 on `c_attn`, float32: how many bytes of tensor data (header not counted) "
           "does adapter_model.safetensors hold?",
    answer=12 * 8 * (768 + 2304) * 4,
    wrong={
        12 * 8 * (768 + 2304): "That is the parameter count; each float32 parameter takes 4 bytes.",
        12 * 8 * (768 + 2304) * 2: "That would be float16 (2 bytes); the adapter was saved in float32.",
        1_182_680: "That is the whole file: it includes the 8-byte prefix and the JSON header.",
        9216: "9 kB is a widely copied tutorial's claim; compute it from the shapes instead.",
    },
    hints=["Each of the 12 blocks has lora_A (8 x 768) and lora_B (2304 x 8).",
           "Parameters x 4 bytes per float32."],
    solution_text="12 x 8 x (768 + 2304) = 294,912 parameters x 4 bytes = 1,179,648 bytes.",
)


def _header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


q2 = CodeQuestion(
    id="03.header_length",
    prompt="Write `header_length(data)`: given the first bytes of a safetensors file, return the length "
           "of its JSON header.",
    cases=[
        ((struct.pack("<Q", 1016) + b'{"__metadata__":{}}',), 1016),
        ((struct.pack("<Q", 3032) + b"{",), 3032),
        ((struct.pack("<Q", 2**32 + 7),), 2**32 + 7),
    ],
    reference_function=_header_length,
    wrong_functions=[
        lambda data: int.from_bytes(data[:8], "big"),
        lambda data: int.from_bytes(data[:4], "little"),
        lambda data: len(data) - 8,
    ],
    hints=["The first 8 bytes are one unsigned 64-bit integer.",
           "Little-endian: struct.unpack('<Q', data[:8])[0], or int.from_bytes(data[:8], 'little')."],
    solution_text="def header_length(data):\n    return int.from_bytes(data[:8], 'little')  # u64, little-endian",
)

q3 = ChoiceQuestion(
    id="03.config_fields",
    prompt="You edit one field of a saved adapter's adapter_config.json, then reload it with "
           "`PeftModel.from_pretrained(base, path)`. Which edit makes the load fail with an error?",
    choices={
        "a": ("r from 8 to 4.",
              "Right: PEFT builds lora_A as 4 x d_in, and copying the saved 8 x d_in tensor raises a size mismatch."),
        "b": ("lora_alpha from 16 to 32.",
              "No: it loads without a word, and the outputs change, because the scale alpha/r doubled."),
        "c": ("base_model_name_or_path to a folder that does not exist.",
              "No: you passed the base model yourself, so that field is not even read."),
        "d": ("peft_version to 0.1.0.", "No: it is a record of who wrote the file; loading ignores it."),
    },
    answer="a",
    hints=["Which fields decide the shapes of the tensors PEFT creates before copying the saved ones in?"],
    solution_text="(a). r fixes the shapes; alpha changes outputs silently; the other two are not checked.",
)

q4 = ChoiceQuestion(
    id="03.pickle",
    prompt="Which of these runs code hidden in a crafted adapter_model.bin?",
    choices={
        "a": ("torch.load(path) with the pinned torch.",
              "No: since torch 2.6 torch.load defaults to weights_only=True and refuses unknown globals."),
        "b": ("torch.load(path, weights_only=False).",
              "Right: that is a full unpickle, and a pickle can call any function while it loads."),
        "c": ("safetensors.torch.load_file(path).", "No: safetensors never unpickles; it rejects the file."),
        "d": ("python -m adapterlab inspect on its folder.", "No: inspect refuses pickles without opening them."),
    },
    answer="b",
    hints=["Only one of them unpickles without restrictions."],
    solution_text="(b). Only a full unpickle runs code; weights_only=True, safetensors and inspect refuse it.",
)
