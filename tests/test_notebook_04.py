"""How peft 0.21.2 is written, where notebooks 04 and 04a state it in a sentence instead of reading its source."""

import inspect
import json

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.mapping import PEFT_TYPE_TO_PREFIX_MAPPING
from peft.tuners.lora import LoraLayer
from peft.tuners.tuners_utils import BaseTuner
from peft.utils import PeftType
from peft.utils.hotswap import hotswap_adapter, prepare_model_for_compiled_hotswap
from tests.common import tiny_gpt2


def _config(**changes) -> LoraConfig:
    return LoraConfig(**{**dict(r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True), **changes})


def _saved(tmp_path, name="adapter", **changes):
    torch.manual_seed(0)
    get_peft_model(tiny_gpt2(), _config(init_lora_weights=False, **changes)).save_pretrained(tmp_path / name)
    return tmp_path / name


def test_reload_is_frozen_by_the_argument_not_the_file(tmp_path):
    """`from_pretrained` sets `config.inference_mode = not is_trainable` (04 section 2, link to 03): a file that
    says inference_mode=false still reloads frozen."""
    folder = _saved(tmp_path)
    config_file = folder / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "inference_mode": False}))
    reloaded = PeftModel.from_pretrained(tiny_gpt2(), folder)
    assert reloaded.get_nb_trainable_parameters()[0] == 0 and reloaded.peft_config["default"].inference_mode
    assert "config.inference_mode = not is_trainable" in inspect.getsource(PeftModel.from_pretrained)


def test_active_adapter_is_an_attribute_and_active_adapters_a_property():
    """On a PeftModel `active_adapters` is a property; `active_adapter` is a plain attribute set in its
    __init__ (review item 2; notebook 04 section 3)."""
    model = get_peft_model(tiny_gpt2(), _config())
    assert isinstance(inspect.getattr_static(PeftModel, "active_adapters"), property)
    assert not hasattr(PeftModel, "active_adapter") and "active_adapter" in vars(model)
    assert "self.active_adapter = adapter_name" in inspect.getsource(PeftModel.__init__)


def test_lora_layers_are_built_on_their_base_layers_device():
    """`LoraLayer.update_layer` moves every new adapter to its base layer's device (04 section 5)."""
    assert "_move_adapter_to_device_of_base_layer" in inspect.getsource(LoraLayer.update_layer)


def test_autocast_adapter_dtype_is_documented_as_needed_for_stable_training():
    """`from_pretrained`'s docstring gives float32 adapters on half-precision bases as 'typically required for
    stable training' (04 section 5)."""
    assert "stable training" in inspect.getdoc(PeftModel.from_pretrained)


def test_an_adapter_named_lora_round_trips_because_loading_is_structural(tmp_path):
    """Loading maps file keys to model keys by walking the LoRA layers (`_remap_adapter_state_dict_for_load`) and
    removing the adapter name only where it stands, so an adapter named 'lora', inside the prefix 'lora_', warns
    but loads exactly (04a section 9; review item 5: the loading code, not `_mark_only_adapters_as_trainable`)."""
    assert PEFT_TYPE_TO_PREFIX_MAPPING[PeftType.LORA] == "lora_"
    assert "built structurally" in inspect.getdoc(BaseTuner._remap_adapter_state_dict_for_load)
    assert "determined structurally" in inspect.getdoc(BaseTuner._get_adapter_state_dict)
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="should not be contained in the prefix 'lora_'"):
        named = get_peft_model(tiny_gpt2(), _config(init_lora_weights=False), adapter_name="lora").eval()
    named.save_pretrained(tmp_path)
    back = PeftModel.from_pretrained(tiny_gpt2(), tmp_path / "lora", adapter_name="lora")
    ids = torch.arange(8).reshape(1, 8)
    with torch.no_grad():
        assert torch.equal(back(input_ids=ids).logits, named(input_ids=ids).logits)


def test_hotswap_reads_config_and_weights_and_copies_into_existing_layers(tmp_path):
    """`hotswap_adapter` reads the config and the weights file as loading does; what it saves is building and
    deleting LoRA modules: the tensors stay the same objects (04a section 11; review item 6). Its helper for
    compiled models exists to 'avoid re-compilation'."""
    source = inspect.getsource(hotswap_adapter)
    assert "config_cls.from_pretrained(" in source and "load_peft_weights(" in source
    first, second = _saved(tmp_path, "a"), tmp_path / "b"
    torch.manual_seed(1)
    get_peft_model(tiny_gpt2(), _config(init_lora_weights=False)).save_pretrained(second)
    served = PeftModel.from_pretrained(tiny_gpt2(), first)
    layer = served.base_model.model.transformer.h[0].attn.c_attn
    before = layer.lora_A["default"].weight
    hotswap_adapter(served, str(second), adapter_name="default", torch_device="cpu")
    assert layer.lora_A["default"].weight is before
    reference = PeftModel.from_pretrained(tiny_gpt2(), second)
    assert torch.equal(before, reference.base_model.model.transformer.h[0].attn.c_attn.lora_A["default"].weight)
    assert "avoid re-compilation" in prepare_model_for_compiled_hotswap.__doc__
