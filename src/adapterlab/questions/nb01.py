"""Check your understanding: notebook 01 (wrapping GPT-2 with LoRA)."""

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

q1 = ValueQuestion(
    id="01.rank4_count",
    prompt="How many trainable parameters does LoRA with r=4 on `c_attn` add to GPT-2 small?",
    answer=12 * 4 * (768 + 2304),
    wrong={
        12 * 8 * (768 + 2304): "That is r=8, the lesson's example; halve the rank.",
        9216: "9,216 is the seed's printed count, which is wrong even for r=8.",
        4 * (768 + 2304): "That is one layer; GPT-2 small has 12 blocks, each with its own c_attn.",
        12 * 4 * 768 * 2304: "LoRA does not train a d_in x d_out matrix: A is r x d_in and B is d_out x r.",
    },
    hints=["Per wrapped module: A is r x d_in, B is d_out x r.",
           "c_attn maps 768 -> 2304 (query, key and value together); there is one per block, 12 blocks."],
    solution_text="12 blocks x 4 x (768 + 2304) = 147,456.",
)

q2 = CodeQuestion(
    id="01.lora_params",
    prompt="Write `lora_params(d_in, d_out, r)`: the parameters LoRA adds to one d_in -> d_out layer.",
    cases=[((768, 2304, 8), 24_576), ((4096, 4096, 16), 131_072), ((3072, 768, 1), 3_840)],
    reference_function=lambda d_in, d_out, r: r * (d_in + d_out),
    wrong_functions=[lambda d_in, d_out, r: r * d_in * d_out, lambda d_in, d_out, r: 2 * r * d_in],
    hints=["Two matrices: A (r x d_in) and B (d_out x r)."],
    solution_text="def lora_params(d_in, d_out, r):\n    return r * (d_in + d_out)  # A: r x d_in, B: d_out x r",
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
)

q4 = ChoiceQuestion(
    id="01.c_proj",
    prompt="`target_modules=['c_proj']` on GPT-2 small wraps how many modules?",
    choices={
        "a": ("12: one attention output projection per block.",
              "No: `mlp.c_proj` is also called c_proj, and target_modules matches the name's last part."),
        "b": ("24: attn.c_proj and mlp.c_proj in each of the 12 blocks.",
              "Right: a plain name matches every module whose name ends with it."),
        "c": ("1: the first module called c_proj.", "No: every matching module is wrapped."),
    },
    answer="b",
    hints=["Print the names of all modules that end in 'c_proj'."],
    solution_text="(b): [n for n, _ in model.named_modules() if n.endswith('c_proj')] has 24 entries.",
)
