"""Check your understanding: notebook 07 (the storage formula, checked against bytes on disk)."""

from adapterlab.exercises import ChoiceQuestion, CodeQuestion, ValueQuestion

q1 = ValueQuestion(
    id="07.mistral_k_proj",
    prompt="Mistral-7B has 32 layers, hidden size 4096 and grouped-query attention: its k_proj maps 4096 -> 1024. "
           "How many parameters does LoRA with r=8 on `k_proj` alone add?",
    answer=32 * 8 * (4096 + 1024),
    wrong={
        32 * 8 * (4096 + 4096): "That treats k_proj as square (4096 -> 4096); with 8 key/value heads of 128 "
                                "it outputs 8 x 128 = 1024.",
        8 * (4096 + 1024): "That is one layer; every one of the 32 layers has its own k_proj.",
        32 * 8 * (4096 + 1024) * 2: "That is the size in bytes in float16, not the parameter count.",
    },
    hints=["Per module: r x (d_in + d_out). Which d_out does k_proj have with 8 key/value heads of 128?",
           "32 x 8 x (4096 + 1024)."],
    solution_text="32 layers x 8 x (4096 + 1024) = 1,310,720; check it with "
                  "estimate('mistral-7b', ['k_proj'], 8).params.",
)

q2 = ChoiceQuestion(
    id="07.bf16_base",
    prompt="You load Llama-2-7B in bfloat16, wrap it with LoRA r=16 on q/k/v/o_proj using get_peft_model's "
           "default arguments, and save. The formula in bfloat16 predicts 33.6 MB of tensors. About how big is "
           "adapter_model.safetensors?",
    choices={
        "a": ("33.6 MB, as predicted.",
              "No: PEFT's get_peft_model(autocast_adapter_dtype=True) keeps the adapter in float32 on a "
              "half-precision base, so each parameter takes 4 bytes, not 2."),
        "b": ("67.1 MB: twice the prediction.",
              "Right: the adapter weights are float32 by default (autocast_adapter_dtype=True), 4 bytes each. "
              "Pass autocast_adapter_dtype=False, or cast before saving, to get the bfloat16 size."),
        "c": ("13.5 GB: the base model is saved with it.",
              "No: save_pretrained on a PeftModel writes the adapter only."),
        "d": ("16.8 MB: bfloat16 halves float16.", "No: float16 and bfloat16 both take 2 bytes per parameter."),
    },
    answer="b",
    hints=["Which dtype do the lora_A weights have after get_peft_model on a half-precision model?"],
    solution_text="(b): 16,777,216 parameters x 4 bytes = 67.1 MB, because PEFT upcasts the adapter to float32.",
)


def _infer_rank(file_bytes: int, header_bytes: int, params_at_rank_1: int, bytes_per_param: int) -> int:
    return (file_bytes - header_bytes) // (params_at_rank_1 * bytes_per_param)


q3 = CodeQuestion(
    id="07.infer_rank",
    prompt="Write `infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param)`: the LoRA rank of an "
           "adapter file, from its size, its safetensors header size, the adapter's parameters at rank 1 "
           "(sum of d_in + d_out over all wrapped modules) and the bytes per parameter. Return an int.",
    cases=[((1_182_680, 3_032, 36_864, 4), 8), ((5_128, 1_032, 512, 2), 4), ((76_776, 3_048, 36_864, 2), 1),
           ((2_362_328, 3_032, 73_728, 2), 16)],
    reference_function=_infer_rank,
    wrong_functions=[
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # forgets the header
            file_bytes // (params_at_rank_1 * bytes_per_param),
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # forgets the bytes per parameter
            (file_bytes - header_bytes) // params_at_rank_1,
        lambda file_bytes, header_bytes, params_at_rank_1, bytes_per_param:  # counts A and B twice
            (file_bytes - header_bytes) // (2 * params_at_rank_1 * bytes_per_param),
    ],
    hints=["The file is header + tensors; the tensors are rank x params_at_rank_1 x bytes_per_param.",
           "Subtract the header first, then divide by the bytes one unit of rank costs."],
    solution_text="def infer_rank(file_bytes, header_bytes, params_at_rank_1, bytes_per_param):\n"
                  "    return (file_bytes - header_bytes) // (params_at_rank_1 * bytes_per_param)",
)

q4 = ChoiceQuestion(
    id="07.biggest_jump",
    prompt="A GPT-2 small adapter (r=8 on c_attn, float32) is 1.18 MB. Which change makes the file about "
           "130 times bigger?",
    choices={
        "a": ("Doubling the rank to 16.", "No: size is linear in the rank, so that doubles it (2.36 MB)."),
        "b": ("Adding modules_to_save=['lm_head'].",
              "Right: modules_to_save stores a whole trainable copy of the module, 50,257 x 768 parameters "
              "(154 MB), not a low-rank pair."),
        "c": ("Loading the base in float16 before get_peft_model.",
              "No: PEFT keeps the adapter in float32 by default, so the file stays 1.18 MB."),
        "d": ("Targeting c_fc as well.",
              "No: c_fc adds 12 x 8 x (768 + 3072) parameters, about 1.5 MB: roughly double, not 130x."),
    },
    answer="b",
    hints=["Which of these stores a full matrix instead of A and B?"],
    solution_text="(b): modules_to_save saves lm_head whole: 38,597,376 parameters x 4 bytes = 154 MB.",
)
