"""Check your understanding: notebook 01 (wrapping GPT-2 with LoRA)."""

from typing import Any

from peft import LoraConfig
from peft.tuners.lora import LoraLayer
from torch import nn

from adapterlab import judging
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion

q1 = ValueQuestion(
    id="01.rank4_count",
    prompt="How many trainable parameters does LoRA with r=4 on `c_fc` alone (the MLP's first layer, 768 -> 3,072) "
           "add to GPT-2 small?",
    answer=12 * 4 * (768 + 3072),
    wrong={
        12 * 8 * (768 + 3072): "That is r=8; the question asks for r=4.",
        9216: "9,216 is the tutorial's printed count, which is wrong even for r=8 on c_attn.",
        4 * (768 + 3072): "That is one layer; GPT-2 small has 12 blocks, each with its own c_fc.",
        12 * 4 * (768 + 2304): "That is c_attn (768 -> 2,304); c_fc maps 768 -> 3,072.",
        12 * 4 * 768 * 3072: "LoRA does not train a d_in x d_out matrix: A is r x d_in and B is d_out x r.",
    },
    hints=["Per wrapped module: A is r x d_in, B is d_out x r.",
           "c_fc maps 768 -> 3,072; there is one per block, 12 blocks."],
    solution_text="12 blocks x 4 x (768 + 3072) = 184,320.",
    alternatives=["184,320", 1.8432e5, " 184320 "],
    other_wrong=[2 * 12 * 4 * (768 + 3072), 12 * 4 * 3072, 12 * 4 * 768, "184 thousand"],
)

q2 = CodeQuestion(
    id="01.lora_params",
    prompt="Write `lora_params(d_in, d_out, r)`: the parameters LoRA adds to one d_in -> d_out layer.",
    cases=[((768, 2304, 8), 24_576), ((4096, 4096, 16), 131_072), ((3072, 768, 1), 3_840)],
    reference_function=lambda d_in, d_out, r: r * (d_in + d_out),
    wrong_functions=[lambda d_in, d_out, r: r * d_in * d_out, lambda d_in, d_out, r: 2 * r * d_in],
    hints=["Two matrices: A (r x d_in) and B (d_out x r)."],
    solution_text="def lora_params(d_in, d_out, r):\n    return r * (d_in + d_out)  # A: r x d_in, B: d_out x r",
    alternatives=["def lora_params(d_in, d_out, r):\n    return d_in * r + r * d_out",
                  "import torch\n\ndef lora_params(d_in, d_out, r):\n"
                  "    a = torch.nn.Linear(d_in, r, bias=False, device='meta')  # shapes only\n"
                  "    b = torch.nn.Linear(r, d_out, bias=False, device='meta')\n"
                  "    return a.weight.numel() + b.weight.numel()"],
    other_wrong=["def lora_params(d_in, d_out, r):\n    return r * (d_in + d_out) + d_out",
                 "def lora_params(d_in, d_out, r):\n    return 2 * r * (d_in + d_out)",
                 "def lora_params(d_in, d_out, r):\n    return r * r + d_in * d_out"],
)

q3 = ChoiceQuestion(
    id="01.zero_b",
    prompt="Right after `get_peft_model`, before any training, how do the wrapped model's outputs compare "
           "with the base model's?",
    choices={
        "a": ("They are identical, because B starts at zero so B·A = 0.",
              "Right: PEFT initialises lora_B to zeros, so the update (alpha/r)·B·A is exactly zero."),
        "b": ("They differ by a factor alpha/r.",
              "No: alpha/r scales the update B·A, which is zero at the start; it does not scale W."),
        "c": ("They differ a little, because A is random.",
              "No: A is random, but it is multiplied by B, which is all zeros."),
    },
    answer="a",
    hints=["Look at lora_B's weights right after wrapping."],
    solution_text="(a). B = 0, so W + (alpha/r)·B·A = W.",
    alternatives=["A", " a "],
)

# Hands-on: the checks diagnose the learner's live model from its layers (adapterlab.judging), whatever
# spelling of `target_modules` built them; nb02's checks reuse these helpers.
MINI_SHAPE = {"n_layer": 4, "n_embd": 128}  # gpt2-mini, as adapterlab.models builds it


def lora_module_names(model: nn.Module) -> list[str]:
    """Returns the names of the LoRA-wrapped modules, relative to GPT-2 (`transformer.h.0.attn.c_attn`)."""
    return judging.wrapped_modules(model)


def peft_model_problem(model: Any, transformers_ok: bool = False, *, base_name: str = "gpt2-mini",
                       expected: dict | None = None, variable: str = "my_model") -> tuple[str, str] | None:
    """The first thing that makes `model` other than a PeftModel wrapping a fresh `base_name`, or None.

    Args:
        transformers_ok: a plain model given its adapter by transformers' own `add_adapter`/`load_adapter`
            is judged like a PeftModel.
        expected: the config fields that tell `base_name` apart (default: gpt2-mini's `MINI_SHAPE`).
        variable: the learner's variable, for the message that tells them what to keep.
    """
    expected = MINI_SHAPE if expected is None else expected
    if model is None:
        return ("none", "You passed None. `print_trainable_parameters()` prints and returns None: keep what "
                        "`get_peft_model` returns in the variable, and print on a line of its own.")
    if isinstance(model, LoraConfig):
        return "config", "That is the config. Pass the model `get_peft_model(base, config)` returns."
    host = judging.adapter_host(model)
    if host is None or (host == "transformers" and not transformers_ok):
        if isinstance(model, nn.Module) and lora_module_names(model) and host is None:
            return ("base_passed", f"This is the {type(model).__name__} you gave `get_peft_model`: it changed it in "
                                   "place (it holds LoRA layers now), but the PeftModel is what it returns. "
                                   f"Keep that: `{variable} = get_peft_model(base, config)`.")
        return "not_peft", f"Expected the PeftModel that `get_peft_model` returns, not {type(model).__name__}."
    base = model.get_base_model() if host == "peft" else model
    shape = {key: getattr(base.config, key, None) for key in expected}
    if shape != expected:
        differ = ", ".join(f"{key} {shape[key]!r} (not {value!r})" for key, value in expected.items()
                           if shape[key] != value)
        return ("wrong_base", f"This wraps a {type(base).__name__} with {differ}; the task is on {base_name}: "
                              f"`load_model('{base_name}')`.")
    if len(model.peft_config) != 1:
        return ("adapters", f"This model holds {len(model.peft_config)} adapters {list(model.peft_config)}; wrap a "
                            f"fresh {base_name} once, which gives one adapter.")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    outside = [name for name in trainable if ".lora_" not in name]
    if outside:
        return ("unfrozen", f"{len(outside)} tensors outside the adapter train too (e.g. {outside[0]}): "
                            f"{base_name}'s own weights must stay frozen. Wrap a fresh model and leave them as PEFT "
                            "set them.")
    if not trainable:
        return ("frozen", "Nothing in this model is trainable, not even the adapter's lora_A and lora_B: an "
                          "optimizer would have nothing to update.")
    return None


def lora_settings_problem(model: nn.Module, r: int, alpha: int) -> tuple[str, str] | None:
    """A problem if the adapter's layers were not built with rank `r`, lora_alpha `alpha` and plain LoRA, else
    None (read per layer, so a `rank_pattern` shows too)."""
    (name,) = model.peft_config
    settings = judging.layer_settings(model, name)
    ranks, alphas = sorted({rank for rank, _ in settings}), sorted({a for _, a in settings})
    if ranks != [r]:
        return "rank", f"The adapter's layers have rank r={', '.join(map(str, ranks))}; the task asks for r={r}."
    if alphas != [alpha]:
        return ("alpha", f"lora_alpha is {', '.join(f'{a:g}' for a in alphas)}; the task asks for {alpha} "
                         f"(so the update is scaled by alpha/r = {alpha / r:g}).")
    if any(layer.use_dora.get(name) for layer in model.modules() if isinstance(layer, LoraLayer)):
        return ("dora", "This is DoRA (`use_dora=True`): it trains a magnitude vector per module on top of A and B. "
                        "The task asks for plain LoRA.")
    return None


def _kind(name: str) -> str:
    """'attn.c_attn' for 'transformer.h.3.attn.c_attn'; a module outside the blocks keeps its name."""
    return name.split(".", 3)[3] if name.startswith("transformer.h.") else name


def wraps_problem(model: nn.Module, suffix: str) -> tuple[str, str] | None:
    """A problem if the wrapped modules are not exactly one `suffix` per block of gpt2-mini."""
    wrapped = lora_module_names(model)
    wanted = [f"transformer.h.{i}.{suffix}" for i in range(MINI_SHAPE["n_layer"])]
    if wrapped == wanted:
        return None
    kinds = sorted({_kind(name) for name in wrapped})
    extra = [name for name in wrapped if name not in wanted]
    if suffix == "attn.c_proj" and any(name.endswith("mlp.c_proj") for name in extra) and "attn.c_proj" in kinds:
        return ("mlp_too", f"It ran, and wrapped {len(wrapped)} modules: the MLP's `c_proj` too "
                           f"({next(n for n in extra if n.endswith('mlp.c_proj'))}, ...). A name in `target_modules` "
                           "matches every module whose full name equals it or ends with '.' + it, and both "
                           "projections are called c_proj; name the parent as well: `target_modules=['attn.c_proj']`.")
    if suffix == "attn.c_proj" and kinds == ["attn.c_attn"]:
        return ("c_attn", "You wrapped `c_attn`, the attention's *input* projection (query, key and value in "
                          "one matrix); its output projection is `attn.c_proj`.")
    if kinds == [suffix]:
        blocks = sorted(int(name.split(".")[2]) for name in wrapped)
        return ("blocks", f"You wrapped `{suffix}` in block{'s' if len(blocks) > 1 else ''} "
                          f"{', '.join(map(str, blocks))} only; the task asks for every block (0 to "
                          f"{MINI_SHAPE['n_layer'] - 1}).")
    return ("targets", f"You wrapped {len(wrapped)} modules ({', '.join(kinds) or 'none'}); the task asks for "
                       f"the {len(wanted)} `{suffix}` modules, one per block.")


def diagnose_wrapped(model: Any) -> tuple[str, str] | None:
    """q5: a model around a fresh gpt2-mini, r=4, alpha 8, on every c_attn and nothing else."""
    return (peft_model_problem(model, transformers_ok=True) or wraps_problem(model, "attn.c_attn")
            or lora_settings_problem(model, 4, 8))


def diagnose_attn_only(model: Any) -> tuple[str, str] | None:
    """q6: LoRA r=4 on the attention output projections of gpt2-mini only."""
    return (peft_model_problem(model, transformers_ok=True) or wraps_problem(model, "attn.c_proj")
            or lora_settings_problem(model, 4, 8))


def _wrap_code(name: str, targets: str, base: str = "gpt2-mini", r: int = 4, alpha: int = 8) -> str:
    """The line a learner writes: `name = get_peft_model(load_model(base), LoraConfig(...))`."""
    indent = " " * (len(name) + len(" = get_peft_model("))
    return (f'{name} = get_peft_model(load_model("{base}"),\n'
            f"{indent}LoraConfig(r={r}, lora_alpha={alpha}, target_modules={targets}, fan_in_fan_out=True))")


q5 = TaskQuestion(
    id="01.wrap_mini",
    prompt="Wrap a fresh gpt2-mini with LoRA of rank 4 and lora_alpha 8 on every `c_attn`, configured as "
           "GPT-2's `Conv1D` layers need, and keep the wrapped model in `my_model`.",
    diagnose=diagnose_wrapped,
    success="gpt2-mini with its 4 `c_attn` modules wrapped at r=4, alpha 8 (scaling 2), "
            "and only lora_A and lora_B trainable: 4 x 4 x (128 + 384) = 8,192 parameters. (Without "
            "`fan_in_fan_out=True`, PEFT would have warned and set it for you, as in section 2.)",
    hints=["`load_model('gpt2-mini')` gives a fresh base; `get_peft_model(base, config)` returns the wrapped "
           "model.",
           "Section 3: GPT-2's layers are Conv1D, so the config says `fan_in_fan_out=True`."],
    solution_text="Keep what get_peft_model returns (it also changed the base you gave it, in place).",
    solution_code=_wrap_code("my_model", '["c_attn"]'),
    alternatives=[
        _wrap_code("my_model", '["attn.c_attn"]'),
        _wrap_code("my_model", r'r".*\.c_attn"'),
        'my_model = load_model("gpt2-mini")  # transformers\' own adapter API wraps the same modules in place\n'
        'my_model.add_adapter(LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True))',
        'my_model = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], '
        'fan_in_fan_out=True, task_type="CAUSAL_LM"), adapter_name="mine")',
    ],
    slips=[
        Slip('base = load_model("gpt2-mini")\n'
             'get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True))\n'
             "my_model = base", "base_passed"),
        Slip(_wrap_code("my_model", '["c_attn"]') + ".print_trainable_parameters()", "none"),
        Slip(_wrap_code("my_model", '["c_attn"]', base="gpt2"), "wrong_base"),
        Slip(_wrap_code("my_model", '["c_attn"]', r=8, alpha=16), "rank"),
        Slip(_wrap_code("my_model", '["c_attn"]', alpha=16), "alpha"),
        Slip(_wrap_code("my_model", '"all-linear"'), "targets"),
        Slip(_wrap_code("my_model", '["c_attn"]') + "\nmy_model.requires_grad_(True)", "unfrozen"),
        Slip('my_model = LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True)', "config"),
        Slip(_wrap_code("my_model", '["c_attn"]') + '\nmy_model.add_adapter("second", LoraConfig(r=4, lora_alpha=8, '
             'target_modules=["c_attn"], fan_in_fan_out=True))', "adapters"),
    ],
)

q6 = TaskQuestion(
    id="01.attn_c_proj",
    prompt="Wrap a fresh gpt2-mini with LoRA (r=4, lora_alpha 8, fan_in_fan_out=True) on the attention's "
           "output projection only, in every block, and keep it in `attn_only`.",
    diagnose=diagnose_attn_only,
    success="Only the 4 attention output projections are wrapped (`transformer.h.N.attn.c_proj`); the MLP's "
            "`c_proj` is left alone.",
    hints=["Section 7 listed the modules whose names end in c_proj: how many are there per block?",
           "A `target_modules` entry matches a full module name that equals it or ends with '.' + it: a longer "
           "ending, dots included, is more specific."],
    solution_text="'c_proj' alone also matches `mlp.c_proj`; 'attn.c_proj' matches only the attention's.",
    solution_code=_wrap_code("attn_only", '["attn.c_proj"]'),
    alternatives=[
        _wrap_code("attn_only", r'r".*\.attn\.c_proj"'),
        _wrap_code("attn_only", '[f"transformer.h.{i}.attn.c_proj" for i in range(4)]'),
        'attn_only = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=4, lora_alpha=8, target_modules=["c_proj"], '
        'exclude_modules=["mlp.c_proj"], fan_in_fan_out=True))',
    ],
    slips=[Slip(_wrap_code("attn_only", '["c_proj"]'), "mlp_too"),
           Slip(_wrap_code("attn_only", '["c_attn"]'), "c_attn"),
           Slip(_wrap_code("attn_only", r'r".*c_proj"'), "mlp_too"),
           Slip(_wrap_code("attn_only", '["mlp.c_proj"]'), "targets"),
           Slip(_wrap_code("attn_only", '["attn.c_proj"]', r=8, alpha=16), "rank"),
           Slip('attn_only = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=4, lora_alpha=8, '
                'target_modules=["attn.c_proj"], layers_to_transform=[0, 1], fan_in_fan_out=True))', "blocks"),
           Slip('attn_only = get_peft_model(load_model("gpt2-mini"), LoraConfig(r=4, lora_alpha=8, '
                'target_modules=["c_attn", "attn.c_proj"], fan_in_fan_out=True))', "targets")],
)
