"""Check your understanding: notebook 05 (switching between adapters on one base)."""

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

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
           "Section 8 printed the rank of 'cat' built from two rank-8 adapters."],
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
