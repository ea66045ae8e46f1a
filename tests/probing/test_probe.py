"""probe(): a same-padded locator decodes location past the border, its full-exact conversion never does,
shift sensitivity is zero at stride multiples after conversion, the cache recomputes nothing, and bad input
is a one-line error."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from fullconv import ConversionError
from fullconv.datasets.quadrant import QuadrantCanvas
from fullconv.probing import ProbeConfig, load_model, load_weights, probe

ITEM = 8
CONFIG = ProbeConfig(item=ITEM, train_items=24, test_items=24, shift_items=4, frames=(0, 2, 4, 8), batch_size=64)


def items(n: int = 60, seed: int = 0) -> torch.Tensor:
    """Distinct smooth grey patterns (n, 1, ITEM, ITEM) in [0, 1]."""
    noise = torch.rand(n, 1, ITEM // 2, ITEM // 2, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(noise, size=(ITEM, ITEM), mode="bilinear", align_corners=False)


def locator() -> nn.Module:
    """Zero-padded CNN with global average pooling, total stride 4."""
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                         nn.Conv2d(8, 16, 3, padding=2, dilation=2), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2))


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    """The locator trained to tell top-left from bottom-right on frame-0 quadrant canvases."""
    torch.manual_seed(0)
    net = locator()
    data = QuadrantCanvas(items(200, seed=1), canvas=2 * ITEM, frame=0, mean=(0.0,), std=(1.0,))
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.tensor([data[i][1] for i in range(len(data))])
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(100):
        batch = torch.randint(len(x), (64,), generator=torch.Generator().manual_seed(step))
        loss = F.cross_entropy(net(x[batch]), y[batch])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return net.eval()


@pytest.fixture(scope="module")
def result(trained):
    return probe(trained, items(), name="locator", config=CONFIG, dtype=torch.float64, progress=False)


def test_same_padded_locator_decodes_location_beyond_the_border(result):
    original = result.decodability["original"]
    assert original["largest_decodable_frame"] is not None and original["largest_decodable_frame"] > 0
    assert result.geometry["total_stride"] == 4 and result.geometry["offset"] == 8
    assert result.verdict.startswith("locator locates content") and result.verdict.endswith("full-exact: never")


def test_full_exact_conversion_is_exactly_chance_at_every_frame(result):
    converted = result.decodability["converted"]
    assert converted["chance_everywhere"] and converted["largest_decodable_frame"] is None
    for row in converted["frames"]:
        assert row["correct"] * 2 == row["n"] and not row["decodable"]
        # the features are equal to float64 rounding, far below the tolerance that merges them
        assert row["max_pair_difference"] < 1e-12
        assert row["identical_pairs"] == CONFIG.train_items + CONFIG.test_items
    # negative control: the same-padded original tells the placements apart
    assert all(row["max_pair_difference"] > 1e-3 for row in result.decodability["original"]["frames"][:1])


def test_full_exact_shift_sensitivity_is_zero_at_stride_multiples(result):
    converted, original = result.shift["converted"], result.shift["original"]
    assert converted["of"] == "logits"
    assert converted["zero_at_stride_multiples"] and converted["stride_multiple_max"] < 1e-12
    assert sum(converted["stride_multiple"]) >= 3  # distances 0, 4, ... of a travel of 8 at stride 4
    # negative controls: the zero-padded original, and shifts between stride multiples, do change the logits
    assert original["stride_multiple_max"] > 1e-3 and not original["zero_at_stride_multiples"]
    assert converted["between_max"] > 1e-6


def test_border_reach_of_both_models(result):
    original = [layer["fraction"] for layer in result.reach["original"]["layers"]]
    assert len(original) == 4 and all(0 < f < 1 for f in original) and original == sorted(original)
    converted = [layer["fraction"] for layer in result.reach["converted"]["layers"]]
    assert len(converted) == 4 and all(c >= o for c, o in zip(converted, original))  # full pads more


def test_second_run_recomputes_nothing(trained, tmp_path):
    calls = []
    hook = trained[0].register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        first = probe(trained, items(), name="locator", out=tmp_path, config=CONFIG, progress=False)
        assert first.computed_units > 0 and calls
        calls.clear()
        second = probe(trained, items(), name="locator", out=tmp_path, config=CONFIG, progress=False)
    finally:
        hook.remove()
    assert second.computed_units == 0 and not calls
    assert second.as_dict() == first.as_dict() | {"computed_units": 0}
    other = probe(trained, items(), name="locator", out=tmp_path, progress=False,
                  config=ProbeConfig(**{**CONFIG.__dict__, "frames": (0, 2)}))
    assert other.computed_units > 0  # other settings, other keys


def test_card_files(result, tmp_path):
    written = result.save(tmp_path)
    assert sorted(p.name for p in written) == ["decodability.png", "probe.html", "probe.json", "reach.png",
                                                 "shift.png"]
    page = (tmp_path / "probe.html").read_text()
    assert result.verdict in page and "data:image/png;base64," in page and "http" not in page


def test_batchnorm_at_initial_values_is_calibrated():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    config = ProbeConfig(item=ITEM, train_items=4, test_items=4, shift_items=2, frames=(0,))
    out = probe(net, items(), config=config, progress=False)
    assert any("BatchNorm" in note for note in out.notes)
    assert all(before[k].equal(v) for k, v in net.state_dict().items())  # the user's model is untouched


# --------------------------------------------------------------------------- one-line errors

def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


def test_unknown_model_name():
    with pytest.raises(ValueError) as error:
        load_model("resnet_does_not_exist")
    assert "unknown model 'resnet_does_not_exist'" in _one_line(error) and "timm:NAME" in str(error.value)


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(nn.Sequential(nn.Conv2d(3, 5, 3)).state_dict(), path)
    with pytest.raises(ValueError) as error:
        load_weights(locator(), path, "locator")
    assert "do not fit locator" in _one_line(error) and "shape mismatches" in str(error.value)


def test_folder_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("no pictures here")
    with pytest.raises(ValueError) as error:
        probe(locator(), f"folder:{tmp_path}", config=CONFIG, progress=False)
    assert "no image files" in _one_line(error)


class FunctionalConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.kernel = nn.Parameter(torch.randn(2, 2, 3, 3))

    def forward(self, x):
        return F.conv2d(self.conv(x), self.kernel, padding=1).mean((2, 3))


def test_model_convert_cannot_handle_names_the_operation():
    with pytest.raises(ConversionError) as error:
        probe(FunctionalConv(), items(), name="functional", config=CONFIG, progress=False)
    text = _one_line(error)
    assert text.startswith("functional cannot be converted to full-exact") and "functional convolution" in text
