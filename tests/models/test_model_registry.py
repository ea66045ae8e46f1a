import pytest
import torch
import torchvision

from fullconv.models import (
    SmallResNet, UnknownModelError, create, list_models, register, resolve, small_resnet, with_head,
)
from fullconv.models import registry

# One row per zoo entry: (kwargs, input shape, output shape as documented in the entry's docstring).
# A new entry without a row fails test_every_entry_has_an_example.
EXAMPLES = {
    "small_resnet": ({"layers": (1, 1), "width": 4, "in_channels": 1, "num_classes": 3}, (2, 1, 16, 16), (2, 3)),
    "resnet18-w{width}": ({"width": 4, "num_classes": 5}, (2, 3, 32, 32), (2, 5)),
    "bagnet33": ({"num_classes": 4}, (1, 3, 40, 40), (1, 4)),
    "hardnet": ({"width": 4}, (2, 1, 32, 32), (2, 128)),
    "resnet3d": ({"depth": 10, "num_classes": 5, "width": 4, "in_channels": 1}, (2, 1, 8, 32, 32), (2, 5)),
    "rook_net": ({}, (2, 1, 12, 12), (2, 2)),
    "red_green_net": ({"border": "full"}, (2, 3, 16, 16), (2, 2)),
}


def _name(entry: str, kwargs: dict) -> tuple[str, dict]:
    """A concrete name for an entry with integer fields: resnet18-w{width} with width=4 -> resnet18-w4."""
    fields = registry._FIELD.findall(entry)
    return entry.format(**{f: kwargs[f] for f in fields}), {k: v for k, v in kwargs.items() if k not in fields}


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return model.state_dict()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = _params(a), _params(b)
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_every_entry_has_an_example():
    assert set(list_models("fullconv")) == set(EXAMPLES)


@pytest.mark.parametrize("entry", sorted(EXAMPLES))
def test_each_entry_builds_with_its_documented_output_shape(entry):
    kwargs, input_shape, output_shape = EXAMPLES[entry]
    name, rest = _name(entry, kwargs)
    torch.manual_seed(0)
    model = create(name, **rest).eval()
    with torch.no_grad():
        assert tuple(model(torch.rand(input_shape)).shape) == output_shape


def test_zoo_names_do_not_shadow_torchvision():
    zoo, tv = list_models("fullconv"), list_models("torchvision")
    assert not set(zoo) & set(tv)
    assert list_models() == zoo + tv and "resnet50" in tv


def _pair(build_new, build_old):
    """Both builds from seed 0: the models and the RNG state each leaves behind."""
    torch.manual_seed(0)
    new = build_new()
    after_new = torch.get_rng_state()
    torch.manual_seed(0)
    old = build_old()
    return new, old, after_new, torch.get_rng_state()


@pytest.mark.parametrize("case", ["small_resnet", "small-resnet alias", "resnet18-w8", "torchvision", "bnneck"])
def test_create_gives_the_previous_builders_parameters_bit_for_bit(case):
    """Same seed: identical parameters and the same random numbers drawn as the builders the experiments used."""
    new_old = {
        # shift's and data-efficiency's small ResNet
        "small_resnet": (lambda: create("small_resnet", layers=(1, 1, 1), width=8, in_channels=1, num_classes=10,
                                        stem_stride=2),
                         lambda: SmallResNet((1, 1, 1), 8, 1, 10, 2)),
        "small-resnet alias": (lambda: create("small-resnet", layers=(1, 1), width=4),
                               lambda: small_resnet((1, 1), 4)),
        # pretrain.build's narrow ResNet-18 (quadrant's resnet18-w<W>)
        "resnet18-w8": (lambda: create("resnet18-w8", num_classes=2),
                        lambda: SmallResNet((2, 2, 2, 2), width=8, in_channels=3, num_classes=2, stem_stride=2)),
        # shift / data-efficiency / pretrain: getattr(torchvision.models, arch)(weights=None, num_classes=...)
        "torchvision": (lambda: create("resnet18", num_classes=10),
                        lambda: torchvision.models.resnet18(weights=None, num_classes=10)),
        "bnneck": (lambda: create("small_resnet", layers=(1,), width=4, head="bnneck"),
                   lambda: with_head(SmallResNet((1,), 4), "bnneck")),
    }[case]
    new, old, rng_new, rng_old = _pair(*new_old)
    assert type(new) is type(old) and _same(new, old)
    assert torch.equal(rng_new, rng_old)
    torch.manual_seed(1)
    assert not _same(new_old[0](), old)  # another seed gives other weights: the comparison can fail


def test_timm_names_build_as_timm_does():
    timm = pytest.importorskip("timm")
    new, old, rng_new, rng_old = _pair(lambda: create("timm:resnet10t", num_classes=3),
                                       lambda: timm.create_model("resnet10t", pretrained=False, num_classes=3))
    assert _same(new, old) and torch.equal(rng_new, rng_old)


def test_name_fields_become_keywords_and_cannot_be_given_twice():
    assert create("resnet18-w4").layer1[0].conv1.out_channels == 4
    assert create("resnet18-w12").fc.in_features == 12 * 8
    with pytest.raises(ValueError, match="sets width by its name"):
        create("resnet18-w4", width=8)


def test_unknown_name_is_one_line_listing_close_and_valid_names():
    with pytest.raises(UnknownModelError) as error:
        create("small_resnt")
    text = str(error.value)
    assert "\n" not in text and text.startswith("unknown model 'small_resnt' (closest: small_resnet")
    assert all(name in text for name in list_models("fullconv")) and "timm:NAME" in text
    assert isinstance(error.value, ValueError)
    with pytest.raises(UnknownModelError, match="'timm:resnet10' .closest: resnet10t"):
        create("timm:resnet10")
    with pytest.raises(UnknownModelError, match="unknown model 'resnet19'"):
        resolve("resnet19")


def test_resolve_gives_the_canonical_spelling():
    assert resolve("small-resnet") == "small_resnet"
    assert [resolve(n) for n in ("small_resnet", "resnet18-w8", "resnet50", "timm:resnet10t")] == [
        "small_resnet", "resnet18-w8", "resnet50", "timm:resnet10t"]


def test_register_refuses_a_taken_name():
    with pytest.raises(ValueError, match="'small-resnet' is registered twice"):
        register("another", aliases=("small-resnet",))(small_resnet)
    assert "another" not in list_models("fullconv")
