"""Claims notebook 01a states about peft 0.21.2 on a Llama-style model, and what its exercises' checks judge."""

import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer, LoraModel
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from peft.utils.error import NoMatchingPeftModuleError

from adapterlab.models import load_model, model_dir
from adapterlab.questions import nb01a
from adapterlab.shapes import KNOWN_MODELS
from adapterlab.storage import estimate

MLP = ["gate_proj", "up_proj", "down_proj"]
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def _kinds(model) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer):
            kind = name.rsplit(".", 1)[-1]
            kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def test_llamas_mlp_is_silu_of_gate_times_up_then_down():
    """Section 1's reading of Llama's MLP (SwiGLU): down_proj(silu(gate_proj(x)) * up_proj(x)), three linear layers
    and an activation without weights."""
    mlp = load_model("llama-mini").model.layers[0].mlp
    x = torch.randn(2, 3, 128)
    with torch.no_grad():
        assert torch.allclose(mlp(x), mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(x)) * mlp.up_proj(x)))
    assert not list(mlp.act_fn.parameters())


def test_peft_default_targets_for_llama_and_gpt2():
    """Without target_modules, LoRA takes its targets from TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING by
    model_type: q_proj and v_proj for llama, c_attn for gpt2; the PEFT config then holds that set."""
    assert LoraModel.target_module_mapping is TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    assert TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["llama"] == ["q_proj", "v_proj"]
    assert TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING["gpt2"] == ["c_attn"]
    model = get_peft_model(load_model("llama-mini"), LoraConfig())
    assert _kinds(model) == {"q_proj": 4, "v_proj": 4}
    assert model.peft_config["default"].target_modules == {"q_proj", "v_proj"}


def test_fan_in_fan_out_on_linear_warns_and_is_switched_off_in_the_callers_config():
    """On nn.Linear, fan_in_fan_out=True makes PEFT warn and set the flag to False in the config object it was
    given, so the adapter is the one built without the flag: same weights, same delta, same outputs."""
    config = LoraConfig(target_modules=["q_proj", "v_proj"], fan_in_fan_out=True, init_lora_weights=False)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=r"fan_in_fan_out is set to True but the target module is `torch\.nn\."
                                         r"Linear`\. Setting fan_in_fan_out to False\."):
        habit = get_peft_model(load_model("llama-mini"), config)
    torch.manual_seed(0)
    plain = get_peft_model(load_model("llama-mini"), LoraConfig(target_modules=["q_proj", "v_proj"],
                                                                init_lora_weights=False))
    assert config.fan_in_fan_out is False
    for a, b in zip(habit.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.equal(habit(ids).logits, plain(ids).logits)


def test_gpt2_names_on_llama_raise_a_value_error():
    """A target list that matches nothing raises NoMatchingPeftModuleError, a ValueError, naming the targets."""
    assert issubclass(NoMatchingPeftModuleError, ValueError)
    with pytest.raises(NoMatchingPeftModuleError, match=r"Target modules \{'c_attn'\} not found in the base model"):
        get_peft_model(load_model("llama-mini"), LoraConfig(target_modules=["c_attn"]))


def test_all_linear_is_every_projection_but_lm_head_and_exclude_modules_narrows_it():
    """'all-linear' wraps the seven projections of each layer and not the output layer; with the attention's four
    in exclude_modules it wraps exactly the MLP's three (one of exercise 1's right answers)."""
    everything = get_peft_model(load_model("llama-mini"), LoraConfig(target_modules="all-linear"))
    assert _kinds(everything) == {kind: 4 for kind in ATTENTION + MLP}
    mlp = get_peft_model(load_model("llama-mini"), LoraConfig(target_modules="all-linear", exclude_modules=ATTENTION))
    assert _kinds(mlp) == {kind: 4 for kind in MLP}


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], ATTENTION, MLP, ["all-linear"]])
def test_storage_estimate_predicts_llama_adapters_to_the_byte(tmp_path, targets):
    """adapterlab.storage sizes nn.Linear models with GQA exactly: its count is PEFT's, its file_bytes the size of
    the adapter_model.safetensors save_pretrained writes, header included."""
    config_targets = targets[0] if targets == ["all-linear"] else targets
    model = get_peft_model(load_model("llama-mini"), LoraConfig(r=8, target_modules=config_targets))
    model.save_pretrained(tmp_path)
    predicted = estimate(model_dir("llama-mini"), targets, 8)
    assert predicted.params == model.get_nb_trainable_parameters()[0]
    assert predicted.file_bytes == (tmp_path / "adapter_model.safetensors").stat().st_size


def test_exercise_3s_header_is_the_saved_files(tmp_path):
    """Exercise 3's header (r=8 on q, k, v, o) is the one save_pretrained writes; its answer is the file's size."""
    model = get_peft_model(load_model("llama-mini"), LoraConfig(r=8, target_modules=ATTENTION))
    assert model.get_nb_trainable_parameters()[0] == nb01a.ATTENTION_R8 == nb01a.q2.answer
    model.save_pretrained(tmp_path)
    data = (tmp_path / "adapter_model.safetensors").read_bytes()
    assert 8 + int.from_bytes(data[:8], "little") == nb01a.ATTENTION_R8_HEADER
    assert len(data) == nb01a.q3.answer


@pytest.mark.parametrize("name", ["llama-2-7b", "llama-3-8b", "mistral-7b"])
def test_exercise_4s_formula_agrees_with_storage_for_known_models(name):
    """The GQA formula of exercise 4 gives storage.estimate's count for r=16 on q, k, v, o of published models."""
    fields = KNOWN_MODELS[name]
    args = (fields["num_hidden_layers"], fields["hidden_size"], fields["num_attention_heads"],
            fields["num_key_value_heads"], 16)
    assert nb01a.q4.reference_function(*args) == estimate(name, ATTENTION, 16).params
    assert (args, estimate(name, ATTENTION, 16).params) in nb01a.q4.cases  # the exercise's own cases, checked


def test_the_notebooks_llama_3_fields_are_the_published_ones():
    """The one-layer Llama 3 8B of section 3 uses the config.json fields adapterlab.shapes keeps with their source."""
    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "01a_second_architecture.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    code = next("".join(c["source"]) for c in cells if "llama3 = LlamaConfig(" in "".join(c["source"]))
    for field in ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size"):
        assert f"{field}={KNOWN_MODELS['llama-3-8b'][field]}" in code, field


def _mlp(**options) -> PeftModel:
    options = {"r": 8, "lora_alpha": 16, "target_modules": MLP, **options}
    return get_peft_model(load_model("llama-mini"), LoraConfig(**options))


def test_exercise_1_accepts_the_flag_peft_corrects():
    """fan_in_fan_out=True on llama-mini leaves the same adapter (PEFT switches it off), so the check, which judges
    the result, accepts it."""
    with pytest.warns(UserWarning, match="fan_in_fan_out"):
        model = _mlp(fan_in_fan_out=True)
    assert nb01a.diagnose_llama_mlp(model) is None


@pytest.mark.parametrize("build, mistake", [
    (lambda: _mlp(layers_to_transform=[0, 1]), "layers"),
    (lambda: _mlp(rank_pattern={"down_proj": 4}), "rank"),
    (lambda: _mlp(target_modules=["q_proj", "up_proj"]), "targets"),
    (lambda: _mlp(modules_to_save=["norm"]), "unfrozen"),
    (lambda: LoraConfig(r=8, lora_alpha=16, target_modules=MLP), "config"),
    (lambda: load_model("llama-mini"), "not_peft"),
])
def test_exercise_1_names_mistakes_beyond_its_slips(build, mistake):
    """Wrong answers the solved run does not list are each rejected with the mistake observed: two layers only, a
    rank_pattern, a mixed target list, a trained norm, the config, a bare base model."""
    found = nb01a.diagnose_llama_mlp(build())
    assert found is not None and found[0] == mistake, found


def test_exercise_1_names_a_frozen_reload_and_a_second_adapter(tmp_path):
    """An adapter reloaded without is_trainable trains nothing ('frozen'); a model with two adapters is 'adapters'."""
    _mlp().save_pretrained(tmp_path)
    reloaded = PeftModel.from_pretrained(load_model("llama-mini"), tmp_path)
    assert nb01a.diagnose_llama_mlp(reloaded)[0] == "frozen"
    two = _mlp()
    two.add_adapter("other", LoraConfig(r=8, lora_alpha=16, target_modules=MLP))
    assert nb01a.diagnose_llama_mlp(two)[0] == "adapters"
