"""Check your understanding: notebook 04 (reloading adapters)."""

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

q1 = ValueQuestion(
    id="04.trainable_after_load",
    prompt="You reload GPT-2 small's r=8 `c_attn` adapter with `PeftModel.from_pretrained(base, path)` and no "
           "other argument. How many parameters are trainable?",
    answer=0,
    wrong={
        12 * 8 * (768 + 2304): "That is the count with is_trainable=True; by default the adapter loads frozen.",
        124_439_808: "The base model is frozen too; nothing is trainable by default.",
        9216: "9,216 is a widely copied tutorial's number, and wrong for any of these questions.",
    },
    hints=["Look at `is_trainable`, an argument of `from_pretrained`, and its default.",
           "`get_nb_trainable_parameters()` on a default reload."],
    solution_text="0: from_pretrained loads the adapter frozen unless you pass is_trainable=True (whatever "
                  "inference_mode says in adapter_config.json: it is overwritten with not is_trainable).",
)


def _lora_shapes(d_in: int, d_out: int, r: int) -> tuple[tuple[int, int], tuple[int, int]]:
    return (r, d_in), (d_out, r)


q2 = CodeQuestion(
    id="04.lora_shapes",
    prompt="Write `lora_shapes(d_in, d_out, r)` returning the shapes (lora_A, lora_B) as saved in the "
           "safetensors file for a layer mapping d_in -> d_out, as tuples.",
    cases=[((768, 2304, 8), ((8, 768), (2304, 8))), ((128, 384, 4), ((4, 128), (384, 4))),
           ((64, 64, 2), ((2, 64), (64, 2)))],
    reference_function=_lora_shapes,
    wrong_functions=[
        lambda d_in, d_out, r: ((d_in, r), (r, d_out)),
        lambda d_in, d_out, r: ((r, d_out), (d_in, r)),
        lambda d_in, d_out, r: [[r, d_in], [d_out, r]],
    ],
    hints=["lora_A reads the input: it has d_in columns; lora_B writes the output: it has d_out rows.",
           "They are stored like nn.Linear weights, (out, in), also for GPT-2's Conv1D."],
    solution_text="def lora_shapes(d_in, d_out, r):\n    return (r, d_in), (d_out, r)",
)

q3 = ChoiceQuestion(
    id="04.load_activates",
    prompt="`model` is a PeftModel with adapter 'default'. After `model.load_adapter(path, adapter_name='fr')`, "
           "which adapter computes the outputs?",
    choices={
        "a": ("Still 'default'.", "Right: PEFT's load_adapter loads without activating; call model.set_adapter('fr')."),
        "b": ("'fr', the one just loaded.", "No: that is what transformers' own load_adapter does on a plain model, "
              "not PEFT's."),
        "c": ("Both, added together.", "No: one adapter is active unless you combine them explicitly."),
    },
    answer="a",
    hints=["Compare model.active_adapter before and after the call."],
    solution_text="(a). Check with model.active_adapter; switch with model.set_adapter('fr').",
)

q4 = ChoiceQuestion(
    id="04.silent_mismatch",
    prompt="Which mismatch does `PeftModel.from_pretrained` let through without an error?",
    choices={
        "a": ("An adapter trained on a 4-block model, loaded onto a 2-block one.",
              "Right: the weights of blocks 2 and 3 have no layer to go to and are dropped without a word."),
        "b": ("An adapter trained on a 128-wide model, loaded onto a 768-wide one.",
              "No: copying an 8 x 128 lora_A into an 8 x 768 slot raises a size-mismatch RuntimeError."),
        "c": ("An adapter whose config says r=4 while its tensors have r=8.",
              "No: PEFT builds r=4 layers and the copy raises a size mismatch."),
    },
    answer="a",
    hints=["Which mismatch changes the number of layers rather than their shapes?"],
    solution_text="(a). Depth changes which layers exist, not any shape; adapterlab.loading.check_adapter_fits "
                  "catches it.",
)
