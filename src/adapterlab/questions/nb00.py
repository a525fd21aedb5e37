"""Check your understanding: notebook 00 (the base models)."""

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

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
