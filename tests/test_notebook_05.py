"""How peft 0.21.2 is written, where notebook 05 states it in a sentence instead of reading its source."""

import inspect
from unittest import mock

from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.tuners_utils import BaseTunerLayer
from tests.common import tiny_gpt2

from adapterlab import tasks
from adapterlab.adapters import trained_adapter
from adapterlab.models import load_model, load_tokenizer


def _two_adapters() -> PeftModel:
    config = dict(r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True)
    model = get_peft_model(tiny_gpt2(), LoraConfig(**config), adapter_name="first")
    model.add_adapter("second", LoraConfig(**config))
    return model


def test_set_adapter_updates_each_lora_layer_once():
    """`PeftModel.set_adapter` calls `set_adapter` once on every LoRA layer and reads no weights: a switch's cost
    grows with the number of LoRA layers (05 section 4)."""
    model = _two_adapters()
    with mock.patch.object(BaseTunerLayer, "set_adapter", autospec=True,
                           side_effect=BaseTunerLayer.set_adapter) as layer_calls:
        model.set_adapter("second")
    n_lora_layers = sum(isinstance(m, BaseTunerLayer) for m in model.modules())
    assert layer_calls.call_count == n_lora_layers == 2 * 3  # c_attn, attn.c_proj, mlp.c_proj x 2 blocks


def test_mixed_batch_runs_the_base_layer_once_then_each_adapter_on_its_rows():
    """In a mixed batch (`adapter_names=`) each LoRA layer runs its base layer once on every row, then each adapter
    on its own rows only (05 section 6)."""
    source = inspect.getsource(LoraLinear._mixed_batch_forward)
    assert "result = self.base_layer(x, *args, **kwargs)" in source
    assert "sub_batch = x[sub_batch_indices_list[i]]" in source


def test_disable_adapter_is_a_generator_context_manager():
    """`disable_adapter` is written with @contextmanager: called without `with`, it runs nothing (05 section 5)."""
    assert "@contextmanager" in inspect.getsource(PeftModel.disable_adapter)
    assert type(_two_adapters().disable_adapter()).__name__ == "_GeneratorContextManager"


def test_a_mixed_batch_over_both_held_out_sets_scores_what_each_adapter_scores_alone():
    """The shipped task adapters, served in one mixed batch, answer each held-out set as well as each does alone
    (moved from notebook 05, section 6)."""
    tokenizer = load_tokenizer("gpt2-mini")
    model = PeftModel.from_pretrained(load_model("gpt2-mini"), trained_adapter("spanish_sentiment"),
                                      adapter_name="spanish_sentiment")
    model.load_adapter(trained_adapter("english_ner"), adapter_name="english_ner")
    tests = {task: tasks.split(task)[1] for task in tasks.TASKS}
    rows = tests["spanish_sentiment"] + tests["english_ner"]
    names = [task for task in tasks.TASKS for _ in tests[task]]
    matches = tasks.exact_matches(model, tokenizer, rows, adapter_names=names)
    n = len(tests["spanish_sentiment"])
    alone = {}
    for task in tasks.TASKS:
        model.set_adapter(task)
        alone[task] = tasks.accuracy(model, tokenizer, tests[task])
    assert sum(matches[:n]) / n == alone["spanish_sentiment"]
    assert sum(matches[n:]) / len(matches[n:]) == alone["english_ner"]


def test_on_the_other_tasks_prompts_the_english_adapter_stops_and_the_spanish_one_labels_most():
    """On every Spanish held-out prompt the English adapter writes end-of-text at once; on most English held-out
    prompts the Spanish adapter writes ' bueno' or ' malo' anyway (05 section 3's prose)."""
    tokenizer = load_tokenizer("gpt2-mini")
    tests = {task: tasks.split(task)[1] for task in tasks.TASKS}
    first_tokens = {}
    for task, other in zip(tasks.TASKS, reversed(tasks.TASKS), strict=True):
        model = PeftModel.from_pretrained(load_model("gpt2-mini"), trained_adapter(task))
        batch = tasks.encode(tokenizer, tests[other])
        ends = batch["attention_mask"].sum(1) - (batch["labels"] != -100).sum(1) - 1  # each prompt's last position
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.detach()
        first_tokens[task] = [tokenizer.decode(logits[row, end].argmax()) for row, end in enumerate(ends.tolist())]
    assert set(first_tokens["english_ner"]) == {tokenizer.eos_token}
    labelled = sum(token in (" bueno", " malo") for token in first_tokens["spanish_sentiment"])
    assert labelled > len(tests["english_ner"]) / 2
