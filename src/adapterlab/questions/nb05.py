"""Check your understanding: notebook 05 (switching between adapters on one base)."""

from functools import cache
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from torch import nn

from adapterlab import tasks
from adapterlab.adapter_files import SAFETENSORS_WEIGHTS_NAME
from adapterlab.adapter_state import held_adapters, served_logits
from adapterlab.adapters import trained_adapter
from adapterlab.exercises import ChoiceQuestion, CodeQuestion, Slip, TaskQuestion, ValueQuestion
from adapterlab.judging import active_adapters, adapters_disabled, holds_adapter, merged_adapters
from adapterlab.models import load_model, load_tokenizer
from adapterlab.workspace import lesson_adapter

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
    alternatives=["3", 3.0, " 3 "],
    other_wrong=[2, 6, 4],
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
    alternatives=["A", " a "],
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
    alternatives=["def cat_rank(ranks):\n    total = 0\n    for r in ranks:\n        total += r\n    return total",
                  "cat_rank = lambda ranks: sum(r for r in ranks)"],
    other_wrong=["def cat_rank(ranks):\n    return len(ranks) * max(ranks)",  # right only when the ranks are equal
                 "def cat_rank(ranks):\n    return sum(ranks) // len(ranks)",  # the mean: 'linear'-style
                 "def cat_rank(ranks):\n    return 2 * max(ranks)"],
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
    alternatives=["1", 1.0],
    other_wrong=[3, 2.5],
)


# Hands-on: the checks look at the state the learner's code left in their live model and the tensors it gave.
PROBE = "The old cat sat beside Leo. Ana vive en Lima."  # any text: the checks compare logits, not answers


@cache
def _probe_ids() -> torch.Tensor:
    return load_tokenizer("gpt2-mini")(PROBE, return_tensors="pt")["input_ids"]  # (1, T)


@cache
def _folder_logits(weights: Path, stamp: tuple[int, int]) -> torch.Tensor:
    """gpt2-mini's logits for PROBE with the adapter saved beside `weights` (`stamp`: the file's mtime and size)."""
    return served_logits(PeftModel.from_pretrained(load_model("gpt2-mini"), weights.parent), _probe_ids())


def _adapter_logits(folder: Path) -> torch.Tensor:
    weights = (Path(folder) / SAFETENSORS_WEIGHTS_NAME).resolve()
    return _folder_logits(weights, (weights.stat().st_mtime_ns, weights.stat().st_size))


# A loading call's return value is a report, not the model.
_REPORTS = {"_IncompatibleKeys": "PeftModel's `load_adapter`", "LoadStateDictInfo": "transformers' `load_adapter`"}


def _not_a_model(obj: Any, wanted: str) -> tuple[str, str] | None:
    if isinstance(obj, nn.Module):
        return None
    said = f"Expected {wanted}, not {type(obj).__name__}."
    if type(obj).__name__ in _REPORTS:
        said += f" This is what {_REPORTS[type(obj).__name__]} returns: a loading report; call it on its own line."
    return "not_model", said


def diagnose_server(server: Any) -> tuple[str, str] | None:
    """q5: one model holding the learner's adapter (`lesson_adapter()`) as 'mine' and the shipped Spanish adapter as
    'spanish_sentiment', 'mine' active, neither merged nor switched off (a PeftModel, or transformers' load_adapter)."""
    problem = _not_a_model(server, "the model that holds both adapters")
    if problem:
        return problem
    held = held_adapters(server)
    if not held:
        return "no_adapters", f"This {type(server).__name__} holds no LoRA layer: no adapter is loaded into it."
    if held != {"mine", "spanish_sentiment"}:
        if "default" in held:
            return ("default_name", f"This model holds adapters {sorted(held)}: 'default' is the name an adapter gets "
                                    "when it is loaded without `adapter_name=`. Name them 'mine' and "
                                    "'spanish_sentiment'.")
        return "names", f"This model holds adapters {sorted(held)}; the task is 'mine' and 'spanish_sentiment'."
    mine = lesson_adapter()[0]
    folders = {"your adapter's folder (`lesson_adapter()`)": mine,
               **{f"the shipped {task!r} folder": trained_adapter(task) for task in tasks.TASKS}}
    for name, wanted in (("mine", mine), ("spanish_sentiment", trained_adapter("spanish_sentiment"))):
        if not holds_adapter(server, name, wanted):
            what = next((label for label, folder in folders.items() if holds_adapter(server, name, folder)),
                        "the weights of none of these folders")
            return ("wrong_weights", f"It ran, but the adapter named {name!r} holds {what}: a name is only a label, so "
                                     "load each folder under its own name.")
    if merged_adapters(server):
        return ("merged", f"The adapter(s) {sorted(merged_adapters(server))} are merged into the base weights: the "
                          "model no longer switches cleanly. Serve them unmerged (`unmerge_adapter()`).")
    if adapters_disabled(server):
        return ("disabled", "Its adapter layers are switched off, so the model computes the base model. Switch them "
                            "back on (`enable_adapter_layers()`, or transformers' `enable_adapters()`).")
    active = active_adapters(server)
    if active != {"mine"}:
        why = (" (PeftModel's `load_adapter` adds an adapter without switching to it.)"
               if isinstance(server, PeftModel) else "")
        return ("not_switched", f"Both adapters are loaded, but the active one is {', '.join(sorted(active))}, not "
                                f"'mine': call `set_adapter('mine')`.{why}")
    gap = (served_logits(server, _probe_ids()) - _adapter_logits(mine)).abs().max().item()
    if gap > 1e-4:
        return ("outputs", f"'mine' is active, but the model's logits differ from your adapter's on a fresh gpt2-mini "
                           f"by up to {gap:.2g}: is its base a fresh gpt2-mini?")
    return None


_SPANISH_FIRST = ('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish_sentiment"],\n'
                  '                                      adapter_name="spanish_sentiment")\n')

q5 = TaskQuestion(
    id="05.two_adapters",
    prompt="On a fresh gpt2-mini, build `my_server`: one model holding your adapter from notebook 02 (its folder is "
           "`mine`, from `lesson_adapter()`) under the name 'mine' and the shipped Spanish adapter "
           "(`folders['spanish_sentiment']`) under 'spanish_sentiment', with 'mine' active.",
    diagnose=diagnose_server,
    success="One base, your adapter and a shipped one under their own names, 'mine' active: the model computes "
            "exactly what your adapter computes, and `set_adapter('spanish_sentiment')` switches task in a "
            "millisecond.",
    hints=["Section 3 loaded two adapters into one model; here the folders and the names are yours to choose.",
           "`PeftModel.from_pretrained(base, folder, adapter_name=...)`, then `my_server.load_adapter(folder, "
           "adapter_name=...)`. Which one is active after that? Section 3 asserts it."],
    solution_text="Any folder loads under any name; PeftModel's load_adapter adds without switching, set_adapter "
                  "picks.",
    solution_code=_SPANISH_FIRST + 'my_server.load_adapter(mine, adapter_name="mine")\nmy_server.set_adapter("mine")',
    slips=[
        Slip(_SPANISH_FIRST + 'my_server.load_adapter(mine, adapter_name="mine")', "not_switched"),
        Slip('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish_sentiment"])\n'
             'my_server.load_adapter(mine, adapter_name="mine")\nmy_server.set_adapter("mine")', "default_name"),
        Slip(_SPANISH_FIRST + 'my_server.load_adapter(folders["spanish_sentiment"], adapter_name="mine")\n'
                              'my_server.set_adapter("mine")', "wrong_weights"),
        Slip(_SPANISH_FIRST + 'my_server.load_adapter(mine, adapter_name="mine")\n'
                              'my_server.load_adapter(folders["english_ner"], adapter_name="english_ner")\n'
                              'my_server.set_adapter("mine")', "names"),
        Slip('my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), folders["spanish_sentiment"],\n'
             '                                      adapter_name="spanish_sentiment").load_adapter(mine, '
             'adapter_name="mine")', "not_model"),
    ],
    alternatives=[
        # your adapter first: PeftModel's load_adapter leaves it active
        'my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), mine, adapter_name="mine")\n'
        'my_server.load_adapter(folders["spanish_sentiment"], adapter_name="spanish_sentiment")',
        # transformers' own adapter API: its load_adapter activates the adapter it loads
        'my_server = load_model("gpt2-mini")\n'
        'my_server.load_adapter(str(folders["spanish_sentiment"]), adapter_name="spanish_sentiment")\n'
        'my_server.load_adapter(str(mine), adapter_name="mine")',
        'my_server = PeftModel.from_pretrained(load_model("gpt2-mini"), str(mine), adapter_name="mine")\n'
        'my_server.load_adapter(str(folders["spanish_sentiment"]), adapter_name="spanish_sentiment")\n'
        'my_server.set_adapter("spanish_sentiment")\nmy_server.set_adapter("mine")',
    ],
)


@cache
def _batch() -> dict[str, torch.Tensor]:
    """Section 5's `batch`: the first held-out Spanish prompt, ids and attention mask."""
    return dict(load_tokenizer("gpt2-mini")(tasks.split("spanish_sentiment")[1][0].prompt, return_tensors="pt"))


@cache
def _batch_logits(task: str | None) -> torch.Tensor:
    """gpt2-mini's logits for `_batch()`, with the shipped adapter of `task` (None: the base model alone)."""
    base = load_model("gpt2-mini")
    return served_logits(base if task is None else PeftModel.from_pretrained(base, trained_adapter(task)), _batch())


def _server_problem(server: Any) -> tuple[str, str] | None:
    """What is wrong with `server` now, if anything: it must still serve both task adapters, on and unmerged."""
    problem = _not_a_model(server, "`server`, the model of section 8, as the first of the pair")
    if problem:
        return problem
    held = held_adapters(server)
    if not held:
        return ("unloaded", "`server` holds no LoRA layer any more: its adapters were removed from it, so it no longer "
                            "serves either task. (`unload()` and `merge_and_unload()` change the model they are called "
                            "on; `with server.disable_adapter():` switches off and back on.)")
    if held != set(tasks.TASKS):
        return "deleted", f"`server` now holds {sorted(held)}; leave it holding both task adapters."
    if merged_adapters(server):
        return ("served_merged", f"`server`'s adapter {', '.join(sorted(merged_adapters(server)))} is merged into its "
                                 "base weights now; leave it unmerged (`unmerge_adapter()`).")
    if adapters_disabled(server):
        return ("left_disabled", "`server`'s adapter layers are still switched off: every request it serves from now "
                                 "on gets the base model. `with server.disable_adapter():` switches them off only "
                                 "inside the block.")
    return None


def diagnose_base_logits(pair: Any) -> tuple[str, str] | None:
    """q6: (server, my_base_logits): the base model's logits for section 5's `batch`, from `server`, which still serves
    both adapters afterwards."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        return "pair", "Pass both, the model and your logits: `q6.check((server, my_base_logits))`."
    server, logits = pair
    problem = _server_problem(server)
    if problem:
        return problem
    if hasattr(logits, "logits") and not isinstance(logits, torch.Tensor):
        return ("output_object", f"This is the model's whole output ({type(logits).__name__}); keep its "
                                 "`.logits`.")
    if not isinstance(logits, torch.Tensor):
        return "not_tensor", f"Expected the logits tensor, not {type(logits).__name__}."
    wanted = _batch_logits(None)
    if logits.shape != wanted.shape:
        return ("shape", f"These logits have shape {tuple(logits.shape)}; section 5's `batch` gives "
                         f"{tuple(wanted.shape)}. Keep all of `server(**batch).logits`.")
    got = logits.detach().float()
    if torch.equal(got, wanted):
        return None
    gap = (got - wanted).abs().max().item()
    for task in tasks.TASKS:
        if torch.allclose(got, _batch_logits(task), atol=1e-5):
            return ("adapter_on", f"It ran, but these are the {task!r} adapter's logits, not the base model's (largest "
                                  f"difference to the base {gap:.2f}): an adapter was on. `disable_adapter()` switches "
                                  "adapters off only inside `with server.disable_adapter(): ...`.")
    if torch.allclose(got, wanted, atol=1e-4):
        return ("not_exact", f"These are within {gap:.1g} of the base model's logits, but not the same floats: "
                             "switched-off LoRA layers give exactly the base model's output. Were the base weights "
                             "changed on the way (a merge and an unmerge round)?")
    return ("other", f"These are neither the base model's logits for section 5's `batch` nor an adapter's (largest "
                     f"difference to the base {gap:.2g}): which input and model gave them?")


_SPARE = "import copy\n\nintact = server  # each slip breaks a copy; the right answers use `intact` again\n"

q6 = TaskQuestion(
    id="05.base_logits",
    prompt="Using `server` (section 8; no new base model), compute the base model's logits for section 5's "
           "`batch` and keep them in `my_base_logits`; afterwards `server` must still serve both adapters.",
    diagnose=diagnose_base_logits,
    success="Exactly the base model's logits, the same floats, from a model that holds two adapters; and `server` "
            "still serves both: after the `with` block its adapter is back on.",
    hints=["Section 5 compares `disable_adapter()` with and without `with`.",
           "The check looks at `server` too: is it still serving both adapters, switched on?"],
    solution_text="disable_adapter is a context manager: only inside `with` are the LoRA layers skipped, and they are "
                  "switched back on when the block ends.",
    solution_code="with torch.no_grad(), server.disable_adapter():\n    my_base_logits = server(**batch).logits",
    slips=[
        Slip("server.disable_adapter()\nwith torch.no_grad():\n    my_base_logits = server(**batch).logits",
             "adapter_on"),
        Slip("with torch.no_grad(), server.disable_adapter():\n    my_base_logits = server(**batch)",
             "output_object"),
        Slip("with torch.no_grad(), server.disable_adapter():\n    my_base_logits = server(**batch).logits[0, -1]",
             "shape"),
        Slip(_SPARE + "server = copy.deepcopy(intact)\nserver.base_model.disable_adapter_layers()\n"
                      "with torch.no_grad():\n    my_base_logits = server(**batch).logits", "left_disabled"),
        Slip("server = copy.deepcopy(intact)\nwith torch.no_grad():\n"
             "    my_base_logits = server.unload()(**batch).logits", "unloaded"),
    ],
    alternatives=[
        "server = intact\nserver.base_model.disable_adapter_layers()\nwith torch.no_grad():\n"
        "    my_base_logits = server(**batch).logits\nserver.base_model.enable_adapter_layers()",
        "with server.disable_adapter():\n    my_base_logits = server(input_ids=batch['input_ids']).logits.detach()",
        # one row of a mixed batch, routed to no adapter
        "with torch.no_grad():\n    my_base_logits = server(**batch, adapter_names=['__base__']).logits",
    ],
)
