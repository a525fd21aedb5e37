"""Check your understanding: notebook 01a (a second architecture: LoRA on llama-mini's `nn.Linear` layers)."""

from typing import Any

from torch import nn

from adapterlab import judging
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.questions.nb01 import lora_settings_problem, peft_model_problem

# llama-mini as adapterlab.llama_mini builds it: 4 layers, 128 wide, 4 query heads of 32, 2 key/value heads.
LLAMA_MINI_SHAPE = {"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 128}
ATTENTION = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
# The LoRA pairs on q, k, v and o at r=8: per layer 8 x ((128 + 128) + 2 x (128 + 64) + (128 + 128)), 4 layers.
ATTENTION_R8 = 4 * 8 * ((128 + 128) + (128 + 64) + (128 + 64) + (128 + 128))
# The safetensors header of that adapter as PeftModel.save_pretrained writes it (8 + its JSON, padded to 8):
# tests/test_notebook_01a.py holds it against the saved file and storage.estimate.
ATTENTION_R8_HEADER = 4_072


def _kind(name: str) -> str:
    """'model.layers.0.mlp.gate_proj' -> 'mlp.gate_proj'."""
    return ".".join(name.split(".")[3:])


def _llama_model_problem(model: Any) -> tuple[str, str] | None:
    """The first thing that makes `model` other than a fresh llama-mini with one trainable adapter, held by a
    PeftModel or given by transformers' own `add_adapter` (notebook 01's check, on llama-mini)."""
    return peft_model_problem(model, transformers_ok=True, base_name="llama-mini", expected=LLAMA_MINI_SHAPE,
                              variable="llama_mlp")


def _mlp_wraps_problem(model: nn.Module) -> tuple[str, str] | None:
    """A problem if the wrapped modules are not exactly the MLP's three linear layers in each of the 4 layers."""
    wrapped = set(judging.wrapped_modules(model))
    layers = range(LLAMA_MINI_SHAPE["num_hidden_layers"])
    wanted = {f"model.layers.{i}.{kind}" for i in layers for kind in MLP}
    if wrapped == wanted:
        return None
    kinds = sorted({_kind(name) for name in wrapped})
    attention = [kind.split(".")[1] for kind in ATTENTION if kind in kinds]
    if wanted < wrapped and attention:
        return ("attention_too", f"It wrapped {len(wrapped)} modules: the attention's {', '.join(attention)} as well "
                                 "as the MLP's gate_proj, up_proj and down_proj. The task asks for the MLP's alone.")
    if kinds and set(kinds) <= set(ATTENTION):
        default = " (PEFT's default for llama when no target_modules is given)" if attention == ["q_proj",
                                                                                               "v_proj"] else ""
        return ("attention", f"You wrapped {len(wrapped)} modules, all in attention: {', '.join(attention)}{default}. "
                             "The task asks for the MLP's linear layers.")
    if wrapped < wanted:
        missing = [kind.split(".")[1] for kind in MLP if kind not in kinds]
        if missing:
            return ("missing", f"Not wrapped: the MLP's {' and '.join(missing)}. Llama's MLP has three linear layers: "
                               "gate_proj and up_proj (128 -> 384), down_proj (384 -> 128).")
        covered = sorted({int(name.split(".")[2]) for name in wrapped})
        return ("layers", f"Only layers {covered} are wrapped; the task asks for all {len(layers)} layers.")
    return ("targets", f"You wrapped {len(wrapped)} modules ({', '.join(kinds) or 'none'}); the task asks for the "
                       f"{len(wanted)} linear layers of the MLP: gate_proj, up_proj and down_proj in each layer.")


def diagnose_llama_mlp(model: Any) -> tuple[str, str] | None:
    """q1: a fresh llama-mini with LoRA r=8, alpha 16 on gate_proj, up_proj, down_proj, nothing else."""
    return _llama_model_problem(model) or _mlp_wraps_problem(model) or lora_settings_problem(model, 8, 16)


def _wrap_code(targets: str, base: str = "llama-mini", options: str = "r=8, lora_alpha=16, ") -> str:
    """The lines a learner writes: a fresh base, a LoraConfig, and `llama_mlp = get_peft_model(...)`."""
    return (f'base = load_model("{base}")\n'
            f"config = LoraConfig({options}target_modules={targets})\n"
            "llama_mlp = get_peft_model(base, config)")


q1 = TaskQuestion(
    id="01a.llama_mlp",
    prompt="Wrap a fresh llama-mini with LoRA of rank 8 and lora_alpha 16 on every linear layer of its MLP, and "
           "nothing else, and keep the wrapped model in `llama_mlp`.",
    diagnose=diagnose_llama_mlp,
    success="A PeftModel around llama-mini: the MLP's 12 linear layers wrapped (gate_proj, up_proj, down_proj in "
            "each of 4 layers) at r=8, alpha 16, and only lora_A and lora_B trainable: "
            "4 x 8 x ((128 + 384) + (128 + 384) + (384 + 128)) = 49,152 parameters. No fan_in_fan_out: "
            "nn.Linear stores (out, in), as LoRA's B·A is.",
    hints=["Section 1 printed one layer of llama-mini: which modules sit under `mlp`, and which of them are "
           "nn.Linear?",
           "A name in `target_modules` matches a module whose full name equals it or ends with '.' + it: "
           "`['gate_proj', 'up_proj', 'down_proj']`."],
    solution_text="Llama's MLP (SwiGLU) has three linear layers where GPT-2's has two; `act_fn` has no weights.",
    solution_code=_wrap_code('["gate_proj", "up_proj", "down_proj"]'),
    slips=[
        Slip(_wrap_code('"all-linear"'), "attention_too"),
        Slip(_wrap_code('["gate_proj", "up_proj"]'), "missing"),
        Slip('base = load_model("llama-mini")\n'
             "config = LoraConfig(r=8, lora_alpha=16)  # no target_modules: PEFT's default for llama\n"
             "llama_mlp = get_peft_model(base, config)", "attention"),
        Slip('base = load_model("llama-mini")\n'
             'get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["gate_proj", "up_proj", '
             '"down_proj"]))\n'
             "llama_mlp = base", "base_passed"),
        Slip(_wrap_code('["gate_proj", "up_proj", "down_proj"]', options=""), "alpha"),
        Slip(_wrap_code('["gate_proj", "up_proj", "down_proj"]', options="r=16, lora_alpha=32, "), "rank"),
        Slip(_wrap_code('["c_fc", "mlp.c_proj"]', base="gpt2-mini",
                        options="r=8, lora_alpha=16, fan_in_fan_out=True, "), "wrong_base"),
        Slip(_wrap_code('["gate_proj", "up_proj", "down_proj"]') + ".print_trainable_parameters()", "none"),
        Slip(_wrap_code('["gate_proj", "up_proj", "down_proj"]', options="r=8, lora_alpha=16, use_dora=True, "),
             "dora"),
    ],
    alternatives=[
        _wrap_code('["mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]'),
        _wrap_code(r'r".*\.mlp\.(gate|up|down)_proj"'),
        _wrap_code('"all-linear", exclude_modules=["q_proj", "k_proj", "v_proj", "o_proj"]'),
        _wrap_code('{"down_proj", "gate_proj", "up_proj"}', options='task_type="CAUSAL_LM", r=8, lora_alpha=16, ')
        .replace("get_peft_model(base, config)", 'get_peft_model(base, config, adapter_name="mlp")'),
        'llama_mlp = load_model("llama-mini")  # transformers\' own adapter API wraps the same modules in place\n'
        'llama_mlp.add_adapter(LoraConfig(r=8, lora_alpha=16, target_modules=["gate_proj", "up_proj", "down_proj"]))',
    ],
)

q2 = ValueQuestion(
    id="01a.attention_count",
    prompt="How many trainable parameters does LoRA with r=8 on all four attention projections of llama-mini "
           "(q_proj, k_proj, v_proj and o_proj) add?",
    answer=ATTENTION_R8,
    wrong={
        4 * 8 * 4 * (128 + 128): "That counts k_proj and v_proj as 128 -> 128. With grouped-query attention they "
                                 "map 128 -> 64: 2 key/value heads of 32, not 4.",
        ATTENTION_R8 // 4: "That is one layer; llama-mini has 4, each with its own four projections.",
        4 * 8 * 4 * 128: "That counts A (r x d_in) only; B (d_out x r) trains too.",
        4 * 8 * (128 + 64 + 64 + 128): "That counts B (d_out x r) only; A (r x d_in) trains too.",
        4 * 8 * ((128 + 128) + (128 + 64)): "That is q_proj and v_proj only, PEFT's default for llama; the question "
                                            "adds k_proj and o_proj.",
        4 * (128 * 128 + 64 * 128 + 64 * 128 + 128 * 128): "That is the four projections' own weights (d_out x d_in); "
                                                           "LoRA trains r x (d_in + d_out) per module.",
    },
    alternatives=[f"{ATTENTION_R8:,}", float(ATTENTION_R8)],
    other_wrong=[ATTENTION_R8 + 1, 4 * 8 * 4 * (128 + 32)],
    hints=["Per module: r x (d_in + d_out). q_proj and o_proj are 128 -> 128.",
           "k_proj and v_proj output num_key_value_heads x head_dim = 2 x 32 = 64."],
    solution_text=f"4 layers x 8 x ((128 + 128) + (128 + 64) + (128 + 64) + (128 + 128)) = {ATTENTION_R8:,}.",
)

_BYTES = 4 * ATTENTION_R8  # float32: PEFT makes the LoRA weights in the base's dtype, float32 here
q3 = ValueQuestion(
    id="01a.attention_file",
    prompt=f"Save that adapter (r=8 on q_proj, k_proj, v_proj, o_proj of llama-mini, in float32) with "
           f"`save_pretrained`. Its `adapter_model.safetensors` starts with a header of {ATTENTION_R8_HEADER:,} "
           "bytes. How many bytes is the whole file?",
    answer=ATTENTION_R8_HEADER + _BYTES,
    wrong={
        _BYTES: f"That is the tensor data alone; the file also holds its {ATTENTION_R8_HEADER:,}-byte header.",
        ATTENTION_R8_HEADER + 2 * ATTENTION_R8: "That is 2 bytes a number (float16). llama-mini is float32, and the "
                                                "LoRA weights are too: 4 bytes each.",
        ATTENTION_R8_HEADER + 4 * 4 * 8 * 4 * (128 + 128): "That counts k_proj and v_proj as 128 -> 128; with GQA "
                                                           "they map 128 -> 64.",
        ATTENTION_R8_HEADER + ATTENTION_R8: "That adds the parameter count, not its bytes: each float32 takes 4.",
    },
    alternatives=[f"{ATTENTION_R8_HEADER + _BYTES:_}", str(ATTENTION_R8_HEADER + _BYTES)],
    other_wrong=[ATTENTION_R8_HEADER + _BYTES + 8, _BYTES - ATTENTION_R8_HEADER],
    hints=["File = header + tensor data; the data is every LoRA number at 4 bytes (float32).",
           f"The previous question's count, times 4, plus {ATTENTION_R8_HEADER:,}."],
    solution_text=f"{ATTENTION_R8_HEADER:,} + 4 x {ATTENTION_R8:,} = {ATTENTION_R8_HEADER + _BYTES:,} bytes.",
)


def _attention_lora_params(n_layers: int, hidden: int, n_heads: int, n_kv_heads: int, r: int) -> int:
    kv = n_kv_heads * (hidden // n_heads)
    return n_layers * r * (2 * (hidden + hidden) + 2 * (hidden + kv))


q4 = CodeQuestion(
    id="01a.gqa_params",
    prompt="Write `attention_lora_params(n_layers, hidden, n_heads, n_kv_heads, r)`: the parameters of LoRA of rank "
           "r on q_proj, k_proj, v_proj and o_proj of a Llama-style model whose heads are hidden // n_heads wide.",
    cases=[((4, 128, 4, 2, 8), ATTENTION_R8),                # llama-mini
           ((32, 4096, 32, 8, 16), 13_631_488),              # Llama 3 8B, Mistral 7B: 8 key/value heads
           ((32, 4096, 32, 32, 16), 16_777_216),             # Llama 2 7B: no GQA
           ((2, 64, 8, 1, 1), 2 * 1 * (2 * 128 + 2 * 72))],  # one key/value head (multi-query attention)
    reference_function=_attention_lora_params,
    wrong_functions=[lambda n_layers, hidden, n_heads, n_kv_heads, r: n_layers * r * 4 * (2 * hidden),
                     lambda n_layers, hidden, n_heads, n_kv_heads, r: n_layers * r * 4 * hidden],
    alternatives=["def attention_lora_params(n_layers, hidden, n_heads, n_kv_heads, r):\n"
                  "    head_dim = hidden // n_heads\n"
                  "    shapes = [(hidden, hidden), (hidden, n_kv_heads * head_dim), (hidden, n_kv_heads * head_dim),\n"
                  "              (hidden, hidden)]\n"
                  "    return sum(n_layers * r * (d_in + d_out) for d_in, d_out in shapes)",
                  "attention_lora_params = lambda L, h, nh, nkv, r: L * r * (6 * h + 2 * nkv * h // nh)"],
    other_wrong=["def attention_lora_params(n_layers, hidden, n_heads, n_kv_heads, r):\n"
                 "    return n_layers * r * 8 * hidden  # k and v as wide as q",
                 "def attention_lora_params(n_layers, hidden, n_heads, n_kv_heads, r):\n"
                 "    return n_layers * r * (6 * hidden + 2 * n_kv_heads)  # heads, not their width"],
    hints=["q_proj and o_proj are hidden -> hidden; k_proj and v_proj are hidden -> n_kv_heads x head_dim.",
           "head_dim = hidden // n_heads; each module adds r x (d_in + d_out)."],
    solution_text="def attention_lora_params(n_layers, hidden, n_heads, n_kv_heads, r):\n"
                  "    kv = n_kv_heads * (hidden // n_heads)  # k_proj's and v_proj's output width\n"
                  "    return n_layers * r * (2 * (hidden + hidden) + 2 * (hidden + kv))",
)

q5 = ChoiceQuestion(
    id="01a.fan_in_fan_out",
    prompt="You reuse a GPT-2 config, `LoraConfig(r=8, target_modules=['q_proj', 'v_proj'], fan_in_fan_out=True)`, "
           "on llama-mini. What happens?",
    choices={
        "a": ("PEFT warns, sets fan_in_fan_out to False in your config, and builds the same adapter as without it.",
              "Right: `nn.Linear` stores (out, in), the layout of B·A, so nothing is transposed. PEFT sees the "
              "layer type, warns, and corrects the config object you passed."),
        "b": ("The update B·A is added transposed, so the adapter is silently wrong after merging.",
              "No: PEFT checks each layer's type when it wraps it, and switches fan_in_fan_out off for nn.Linear "
              "(with a warning) before anything is transposed."),
        "c": ("get_peft_model raises: the shapes do not fit.",
              "No: it warns and corrects the flag; nothing is raised."),
        "d": ("Nothing at all: the flag only matters for GPT-2's Conv1D, so PEFT ignores it silently.",
              "No: it is not silent. PEFT warns, and your config object now says fan_in_fan_out=False."),
    },
    answer="a",
    alternatives=["A", " a "],
    hints=["Section 2 ran exactly this."],
    solution_text="(a). PEFT decides per layer type: Conv1D needs the transpose, nn.Linear must not have it.",
)
