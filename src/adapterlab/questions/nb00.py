"""Check your understanding: notebook 00 (the base models)."""

from functools import cache
from typing import Any

import torch
from torch import nn

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.models import load_model

q1 = ValueQuestion(
    id="00.wte_params",
    prompt="How many parameters does GPT-2 small's token embedding `transformer.wte` hold?",
    answer=50257 * 768,
    wrong={
        1024 * 768: "That is the position embedding `wpe` (1,024 positions x 768), not the token embedding.",
        50257 * 768 * 2: "The output layer `lm_head` shares (ties) its weight with `wte`: count it once.",
    },
    hints=["It is a table with one row per token in the vocabulary.",
           "Rows = vocabulary size (config.vocab_size), columns = width (config.n_embd)."],
    solution_text="50,257 tokens x 768 = 38,597,376: `model.transformer.wte.weight.numel()`.",
    explanation="50,257 x 768 = 38,597,376: almost a third of GPT-2 small is its vocabulary table.",
    alternatives=["38,597,376", 3.8597376e7, "38_597_376"],
    other_wrong=[50257 * 768 + 1024 * 768, 124_439_808, 50256 * 768, "38.6 million"],
)

q2 = ChoiceQuestion(
    id="00.random_weights",
    prompt="The workbook's `gpt2` has GPT-2 small's exact shapes. What can you trust it for?",
    choices={
        "a": ("Parameter counts, file sizes and adapter sizes, but not the quality of its text.",
              "Right: every count and byte depends only on the shapes, and its weights are random."),
        "b": ("Everything the real GPT-2 does, including fluent text.",
              "No: its weights are seeded random numbers, so its text is noise."),
        "c": ("Nothing: a model with random weights is a different model.",
              "No: the architecture, and so every shape, count and file size, is the real GPT-2's."),
    },
    answer="a",
    hints=["What does a parameter count depend on: the values or the shapes?"],
    solution_text="(a). Counts and sizes depend on shapes alone; fluency depends on trained values.",
    alternatives=["A", " a "],
)

q3 = CodeQuestion(
    id="00.linear_params",
    prompt="Write `linear_params(d_in, d_out, bias)` returning the parameters of a dense layer from d_in to d_out.",
    cases=[((768, 2304, True), 1_771_776), ((768, 768, False), 589_824), ((3, 2, True), 8)],
    reference_function=lambda d_in, d_out, bias: d_in * d_out + (d_out if bias else 0),
    wrong_functions=[lambda d_in, d_out, bias: d_in * d_out, lambda d_in, d_out, bias: d_in * d_out + d_in],
    hints=["A weight matrix of d_in x d_out numbers, plus one bias per output."],
    solution_text="def linear_params(d_in, d_out, bias):\n    return d_in * d_out + (d_out if bias else 0)",
    alternatives=["def linear_params(d_in, d_out, bias):\n    return d_out * (d_in + int(bool(bias)))",
                  "import torch\n\ndef linear_params(d_in, d_out, bias):\n"
                  "    layer = torch.nn.Linear(d_in, d_out, bias=bias, device='meta')  # shapes only, no memory\n"
                  "    return sum(p.numel() for p in layer.parameters())"],
    other_wrong=["def linear_params(d_in, d_out, bias):\n    return (d_in + 1) * d_out",
                 "def linear_params(d_in, d_out, bias):\n    return d_in + d_out + (d_out if bias else 0)",
                 "def linear_params(d_in, d_out, bias):\n    return d_in * d_out + (d_in if bias else 0)"],
)


# Hands-on: the checks look at which tensors of the learner's live model require gradients.
@cache
def _mini_embedding() -> torch.Tensor:
    """gpt2-mini's trained token embedding, to tell a fresh gpt2-mini from another model of its shape."""
    return load_model("gpt2-mini").transformer.wte.weight.detach().clone()


def _mini_problem(model: Any) -> tuple[str, str] | None:
    """A problem if `model` is not a gpt2-mini (4 blocks, 128 wide, its trained weights), else None."""
    if not isinstance(model, nn.Module):
        return ("not_model", f"Expected the model `load_model('gpt2-mini')` returns, not {type(model).__name__}. "
                             "(`requires_grad_` returns the model; a `for` loop returns nothing.)")
    config = getattr(model, "config", None)
    if (getattr(config, "n_layer", None), getattr(config, "n_embd", None)) != (4, 128):
        return "wrong_base", "This is not gpt2-mini (4 blocks, 128 wide): `load_model('gpt2-mini')`."
    embedding = getattr(getattr(model, "transformer", None), "wte", None)
    if embedding is None or not torch.equal(embedding.weight.detach().cpu().float(), _mini_embedding()):
        return ("weights", "This has gpt2-mini's shape but not its trained weights (a randomly initialised model, "
                           "or one changed since it was loaded): freeze a fresh `load_model('gpt2-mini')`.")
    return None


def _trainable(model: nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def _parts(names: list[str]) -> str:
    """The kinds of tensor among `names`, said plainly: 'the embeddings, the biases, ...'."""
    kinds = {"transformer.wte": "the token embedding", "transformer.wpe": "the position embedding",
             "transformer.ln_f": "the final layer norm", "transformer.h.": "the blocks"}
    found = [said for prefix, said in kinds.items() if any(name.startswith(prefix) for name in names)]
    return ", ".join(found) or ", ".join(names[:3])


def diagnose_frozen(model: Any) -> tuple[str, str] | None:
    """q4: a fresh gpt2-mini in which no parameter requires grad."""
    problem = _mini_problem(model)
    if problem:
        return problem
    trainable = _trainable(model)
    if not trainable:
        return None
    total = len(list(model.parameters()))
    if getattr(model, "requires_grad", None) is False:
        return ("attribute", f"It ran, but all {len(trainable)} tensors still require grad: "
                             "`model.requires_grad = False` only sets a new attribute on the Python object. "
                             "The method is `requires_grad_(False)` (with the underscore), or set it on each "
                             "parameter.")
    if len(trainable) == total:
        return ("not_frozen", f"It ran, but all {total} tensors still require grad: nothing is frozen. (`eval()` "
                              "only switches dropout off, and `torch.no_grad()` only stops recording for the code "
                              "inside it.) Freezing is each parameter's `requires_grad`: `requires_grad_(False)`.")
    return ("partly", f"{len(trainable)} of {total} tensors still require grad, in {_parts(trainable)} (e.g. "
                      f"{trainable[0]}): freeze every parameter of the model.")


q4 = TaskQuestion(
    id="00.freeze",
    prompt="Load a fresh gpt2-mini and freeze it: no parameter an optimizer could update. Keep it in "
           "`frozen_mini`.",
    diagnose=diagnose_frozen,
    success="No tensor of `frozen_mini` requires grad: an optimizer would have nothing to update. PEFT does "
            "the same to the base model right after it adds the LoRA layers (notebook 01).",
    hints=["Every `nn.Parameter` has a `requires_grad` flag; a module can set it on all of its parameters.",
           "Mind the underscore: `requires_grad_` is the method."],
    solution_text="Module.requires_grad_(False) sets the flag on every parameter and returns the module.",
    solution_code='frozen_mini = load_model("gpt2-mini").requires_grad_(False)',
    alternatives=[
        'frozen_mini = load_model("gpt2-mini")\nfor p in frozen_mini.parameters():\n    p.requires_grad = False',
        'frozen_mini = load_model("gpt2-mini")\nfor _, p in frozen_mini.named_parameters():\n'
        "    p.requires_grad_(False)",
        'frozen_mini = load_model("gpt2-mini").eval()\nfrozen_mini.requires_grad_(False)',
    ],
    slips=[
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.eval()', "not_frozen"),
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.requires_grad = False', "attribute"),
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.transformer.h.requires_grad_(False)', "partly"),
        Slip('with torch.no_grad():\n    frozen_mini = load_model("gpt2-mini")', "not_frozen"),
        Slip('frozen_mini = load_model("gpt2-mini")\nfor name, p in frozen_mini.named_parameters():\n'
             '    if name.endswith("weight"):\n        p.requires_grad_(False)', "partly"),
        Slip('frozen_mini = [p.requires_grad_(False) for p in load_model("gpt2-mini").parameters()]', "not_model"),
        Slip('frozen_mini = load_model("gpt2").requires_grad_(False)', "wrong_base"),
        Slip("frozen_mini = random_mini.requires_grad_(False)", "weights"),
    ],
)
