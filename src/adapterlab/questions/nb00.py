"""Check your understanding: notebook 00 (the base models)."""

from typing import Any

from torch import nn

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion

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
)

q3 = CodeQuestion(
    id="00.linear_params",
    prompt="Write `linear_params(d_in, d_out, bias)` returning the parameters of a dense layer from d_in to d_out.",
    cases=[((768, 2304, True), 1_771_776), ((768, 768, False), 589_824), ((3, 2, True), 8)],
    reference_function=lambda d_in, d_out, bias: d_in * d_out + (d_out if bias else 0),
    wrong_functions=[lambda d_in, d_out, bias: d_in * d_out, lambda d_in, d_out, bias: d_in * d_out + d_in],
    hints=["A weight matrix of d_in x d_out numbers, plus one bias per output."],
    solution_text="def linear_params(d_in, d_out, bias):\n    return d_in * d_out + (d_out if bias else 0)",
)


# Hands-on: the checks look at which tensors of the learner's live model require gradients.
def _mini_problem(model: Any) -> tuple[str, str] | None:
    """A problem if `model` is not a gpt2-mini (4 blocks, 128 wide), else None."""
    if not isinstance(model, nn.Module):
        return ("not_model", f"Expected the model `load_model('gpt2-mini')` returns, not {type(model).__name__}. "
                             "(`requires_grad_` returns the model; a `for` loop returns nothing.)")
    config = getattr(model, "config", None)
    if (getattr(config, "n_layer", None), getattr(config, "n_embd", None)) != (4, 128):
        return "wrong_base", "This is not gpt2-mini (4 blocks, 128 wide): `load_model('gpt2-mini')`."
    return None


def _trainable(model: nn.Module) -> list[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def diagnose_frozen(model: Any) -> tuple[str, str] | None:
    """q4: a gpt2-mini in which no parameter requires grad."""
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
        return ("not_frozen", f"It ran, but all {total} tensors still require grad. `eval()` only switches dropout "
                              "off (and `load_model` returns eval mode already); `torch.no_grad()` only stops "
                              "recording for the code inside it. Freezing is each parameter's `requires_grad`: "
                              "`requires_grad_(False)`.")
    return ("partly", f"{len(trainable)} of {total} tensors still require grad (e.g. {trainable[0]}): freeze the "
                      "whole model, embeddings and final layer norm included, not only its blocks.")


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
    slips=[
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.eval()', "not_frozen"),
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.requires_grad = False', "attribute"),
        Slip('frozen_mini = load_model("gpt2-mini")\nfrozen_mini.transformer.h.requires_grad_(False)', "partly"),
    ],
)

