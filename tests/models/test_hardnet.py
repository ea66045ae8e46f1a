import pytest
import torch

from fullconv.layers import BORDERS
from fullconv.models.hardnet import HardNet

SUPPORTED = [b for b in BORDERS if b != "valid"]


def trained_statistics(border: str) -> HardNet:
    """A HardNet whose batch-norm statistics are not the identity, in eval mode."""
    torch.manual_seed(0)
    model = HardNet(border)
    with torch.no_grad():
        model(torch.rand(16, 1, 32, 32))
    return model.eval()


@pytest.mark.parametrize("border", SUPPORTED)
def test_unit_norm_128(border):
    descriptors = trained_statistics(border)(torch.rand(5, 1, 32, 32))
    assert descriptors.shape == (5, 128)
    torch.testing.assert_close(descriptors.norm(dim=1), torch.ones(5))


@pytest.mark.parametrize("border, side", [("same", 8), ("full", 14), ("full-exact", 14)])
def test_map_size(border, side):
    model = HardNet(border)
    assert model.map_size(32) == side
    assert model.feature_map(torch.rand(1, 1, 32, 32)).shape == (1, 128, side, side)


def test_weights_transfer_between_borders():
    same = trained_statistics("same")
    full = HardNet("full-exact")
    full.load_state_dict(same.state_dict())
    assert same.state_dict().keys() == full.state_dict().keys()


def test_valid_border_is_refused():
    with pytest.raises(ValueError, match="use a same or full border"):
        HardNet("valid")


def canvases(shift: int) -> torch.Tensor:
    """A zero-mean patch on a zero 40×40 canvas at (0, 0) and at (shift, shift): (2, 1, 40, 40).

    The canvas mean is the background, so the normalised background is 0, the value that the
    first full-exact layer pads with.
    """
    patch = torch.randn(32, 32, generator=torch.Generator().manual_seed(1))
    patch = patch - patch.mean()
    out = torch.zeros(2, 1, 40, 40)
    out[0, 0, :32, :32] = patch
    out[1, 0, shift:shift + 32, shift:shift + 32] = patch
    return out


def shift_error(border: str) -> float:
    with torch.no_grad():
        maps = trained_statistics(border).feature_map(canvases(4))
    # a shift by the total stride (4) moves the map by one position
    return (maps[0, :, :-1, :-1] - maps[1, :, 1:, 1:]).abs().max().item()


def test_full_exact_shift_equivariance():
    assert shift_error("full-exact") < 1e-4


@pytest.mark.parametrize("border", ["same", "full"])
def test_zero_padding_breaks_shift_equivariance(border):
    # a patch touching the canvas edge sees the zeros of the padding, which are not background
    assert shift_error(border) > 1e-2
