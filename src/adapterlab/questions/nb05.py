"""Check your understanding: notebook 05 (switching between adapters on one base)."""

from functools import cache
from typing import Any

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file

from adapterlab import tasks
from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.adapters import trained_adapter
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.models import generate, load_model, load_tokenizer

q1 = ValueQuestion(
    id="05.save_count",
    prompt="A PeftModel holds adapters 'a', 'b' and 'c'; 'b' is active. How many adapter_model.safetensors "
           "files does `model.save_pretrained(folder)` write?",
    answer=3,
    wrong={
        1: "That is the transformers-integrated save_pretrained with one active adapter (and the seed's claim); "
           "PeftModel.save_pretrained writes every adapter it holds.",
        0: "It writes adapters, never the base weights; and it writes one file per adapter, in a subfolder each.",
    },
    hints=["Look at what `show_files(workdir / 'peft_both')` listed in section 7.",
           "Without `selected_adapters=`, PeftModel.save_pretrained saves all adapters, active or not."],
    solution_text="3: a/, b/ and c/, each with adapter_config.json and adapter_model.safetensors "
                  "(an adapter named 'default' would go to the top folder instead).",
)

q2 = ChoiceQuestion(
    id="05.disable_without_with",
    prompt="What does `model.disable_adapter()` do when it is called on its own line, without `with`?",
    choices={
        "a": ("Nothing: it returns a context manager that never runs, and the adapter stays active.",
              "Right: PEFT writes disable_adapter with @contextmanager; its body runs only inside `with`."),
        "b": ("It disables the adapter until `enable_adapters()` is called.",
              "No: the outputs after such a call are still the adapter's (section 5 asserts it)."),
        "c": ("It raises an error telling you to use `with`.",
              "No: nothing is raised, which is what makes the slip easy to miss."),
        "d": ("It deletes the active adapter.",
              "No: deleting is `delete_adapter(name)`; disable_adapter never removes weights."),
    },
    answer="a",
    hints=["Section 5 calls it without `with` and compares the logits."],
    solution_text="(a): it only builds a _GeneratorContextManager; the adapter keeps computing.",
)

q3 = CodeQuestion(
    id="05.cat_rank",
    prompt="Write `cat_rank(ranks)`: the rank of the adapter that add_weighted_adapter(..., "
           "combination_type='cat') builds from adapters of ranks `ranks`.",
    cases=[(([8, 8],), 16), (([4, 16],), 20), (([8],), 8), (([2, 4, 8],), 14)],
    reference_function=lambda ranks: sum(ranks),
    wrong_functions=[lambda ranks: max(ranks), lambda ranks: ranks[0]],
    hints=["'cat' stacks the A matrices and the B matrices of all adapters.",
           "05a, section 1, printed the rank of 'cat' built from two rank-8 adapters."],
    solution_text="def cat_rank(ranks):\n    return sum(ranks)  # the A's and B's are concatenated, so ranks add",
)

q4 = ValueQuestion(
    id="05.base_rows",
    prompt="A batch uses adapter_names=['es', '__base__', 'es', 'en']. How many rows get exactly the base "
           "model's output?",
    answer=1,
    wrong={
        0: "'__base__' is the name for 'no adapter': that row gets exactly the base model's output.",
        2: "Each row follows its own entry: only one entry is '__base__'.",
        4: "Rows with an adapter name go through that adapter; only the '__base__' row skips them.",
    },
    hints=["Section 6 sends one row to '__base__' and compares it with disable_adapter()."],
    solution_text="1: the row marked '__base__'; the others go through 'es' or 'en'.",
)


# Hands-on: the checks look inside the learner's live PeftModel and tensors.
def _holds_adapter_of(model: PeftModel, name: str) -> str | None:
    """The task whose shipped adapter `model` holds under `name`, or None if it matches neither."""
    held = get_peft_model_state_dict(model, adapter_name=name)
    for task in tasks.TASKS:
        shipped = load_file(trained_adapter(task) / SAFETENSORS_WEIGHTS_NAME)
        if held.keys() == shipped.keys() and all(torch.equal(held[k], shipped[k]) for k in shipped):
            return task
    return None


def diagnose_server(server: Any) -> tuple[str, str] | None:
    """q5: a PeftModel holding both shipped adapters under their task names, english_ner active and answering."""
    if not isinstance(server, PeftModel):
        return ("not_peft", f"Expected the PeftModel that `PeftModel.from_pretrained` returns, not "
                            f"{type(server).__name__}. (`load_adapter` returns None: call it on its own line.)")
    names = list(server.peft_config)
    if "default" in names:
        return ("default_name", f"This model holds adapters {names}: one is called 'default' because "
                                "`PeftModel.from_pretrained(base, folder)` was given no `adapter_name=`. Name it "
                                "after its task: `adapter_name='spanish_sentiment'`.")
    if sorted(names) != sorted(tasks.TASKS):
        return ("names", f"This model holds adapters {names}; the task asks for exactly "
                         f"{' and '.join(map(repr, tasks.TASKS))}.")
    for name in names:
        held = _holds_adapter_of(server, name)
        if held != name:
            what = f"the weights of the {held!r} folder" if held else "weights of neither shipped adapter"
            return ("wrong_weights", f"It ran, but the adapter named {name!r} holds {what}: a name is only a "
                                     "label, so load each folder under its own task's name.")
    if server.active_adapter != "english_ner":
        return ("not_switched", f"Both adapters are loaded, but the active one is {server.active_adapter!r}: "
                                "PeftModel's `load_adapter` adds an adapter without switching to it. Call "
                                "`set_adapter('english_ner')`.")
    example = tasks.split("english_ner")[1][0]
    said = generate(server, load_tokenizer("gpt2-mini"), example.prompt, max_new_tokens=3)[len(example.prompt):]
    if said != example.answer:
        return ("outputs", f"'english_ner' is active, but the model answers {example.prompt!r} with {said!r}, "
                           f"not {example.answer!r}: are its adapter layers disabled or merged?")
    return None


_LOAD_ES = ('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish_sentiment"],\n'
            '                                      adapter_name="spanish_sentiment")\n')

q5 = TaskQuestion(
    id="05.two_adapters",
    prompt="Load both shipped task adapters (`folders`) into one PeftModel on a fresh gpt2-mini, named "
           "'spanish_sentiment' and 'english_ner' after their tasks, make 'english_ner' the active one, and keep "
           "the model in `my_server`.",
    diagnose=diagnose_server,
    success="One base, two adapters under their own names, 'english_ner' active: the model writes the English "
            "task's answer. `set_adapter('spanish_sentiment')` would switch it in microseconds.",
    hints=["Section 3: `PeftModel.from_pretrained(base, folder, adapter_name=...)`, then "
           "`my_server.load_adapter(folder, adapter_name=...)`.",
           "Which adapter is active right after `load_adapter`? Section 3 asserts it."],
    solution_text="PeftModel's load_adapter adds without switching: set_adapter picks the active one.",
    solution_code=_LOAD_ES + 'my_server.load_adapter(folders["english_ner"], adapter_name="english_ner")\n'
                             'my_server.set_adapter("english_ner")',
    slips=[
        Slip(_LOAD_ES + 'my_server.load_adapter(folders["english_ner"], adapter_name="english_ner")',
             "not_switched"),
        Slip('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish_sentiment"])\n'
             'my_server.load_adapter(folders["english_ner"], adapter_name="english_ner")\n'
             'my_server.set_adapter("english_ner")', "default_name"),
        Slip(_LOAD_ES + 'my_server.load_adapter(folders["spanish_sentiment"], adapter_name="english_ner")\n'
                        'my_server.set_adapter("english_ner")', "wrong_weights"),
    ],
)


@cache
def _base_logits() -> torch.Tensor:
    """gpt2-mini's own logits for section 5's `batch`: the first held-out Spanish prompt."""
    batch = load_tokenizer("gpt2-mini")(tasks.split("spanish_sentiment")[1][0].prompt, return_tensors="pt")
    with torch.no_grad():
        return load_model("gpt2-mini")(**batch).logits


def diagnose_base_logits(logits: Any) -> tuple[str, str] | None:
    """q6: the base model's logits for `batch`, computed with `server` and its adapters switched off."""
    if hasattr(logits, "logits") and not isinstance(logits, torch.Tensor):
        return ("output_object", f"This is the model's whole output ({type(logits).__name__}); keep its "
                                 "`.logits`.")
    if not isinstance(logits, torch.Tensor):
        return "not_tensor", f"Expected the logits tensor, not {type(logits).__name__}."
    wanted = _base_logits()
    if logits.shape != wanted.shape:
        return ("shape", f"These logits have shape {tuple(logits.shape)}; section 5's `batch` gives "
                         f"{tuple(wanted.shape)}. Run `model(**batch)`.")
    if not torch.equal(logits.detach(), wanted):
        return ("adapter_on", "It ran, but these are not the base model's logits: an adapter was still on "
                              f"(largest difference {(logits.detach() - wanted).abs().max().item():.2f}). "
                              "`disable_adapter()` only works as `with server.disable_adapter(): ...`; called on "
                              "its own line it builds a context manager and switches nothing off.")
    return None


q6 = TaskQuestion(
    id="05.base_logits",
    prompt="Using `server` (section 8; no new base model), compute the base model's logits for section 5's "
           "`batch` and keep them in `my_base_logits`.",
    diagnose=diagnose_base_logits,
    success="Exactly the base model's logits, the same floats, from a model that holds two adapters; after "
            "the `with` block its adapter is back on.",
    hints=["Section 5 compares `disable_adapter()` with and without `with`."],
    solution_text="disable_adapter is a context manager: only inside `with` are the LoRA layers skipped.",
    solution_code="with torch.no_grad(), server.disable_adapter():\n    my_base_logits = server(**batch).logits",
    slips=[
        Slip("server.disable_adapter()\nwith torch.no_grad():\n    my_base_logits = server(**batch).logits",
             "adapter_on"),
        Slip("with torch.no_grad(), server.disable_adapter():\n    my_base_logits = server(**batch)",
             "output_object"),
    ],
)
