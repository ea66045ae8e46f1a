"""Border convolutions against scipy, and the properties of each variant."""
import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from fullconv.layers import BORDERS, BorderConv1d, BorderConv2d, BorderConv3d

SCIPY_MODE = {"valid": "valid", "same": "same", "full": "full", "full-exact": "full"}


def _scipy(x: torch.Tensor, w: torch.Tensor, mode: str, dilation=(1, 1)) -> np.ndarray:
    kernel = w.numpy()
    if any(d > 1 for d in dilation):
        dilated = np.zeros(tuple((k - 1) * d + 1 for k, d in zip(kernel.shape, dilation)), kernel.dtype)
        dilated[tuple(slice(None, None, d) for d in dilation)] = kernel
        kernel = dilated
    return signal.correlate2d(x.numpy(), kernel, mode=mode)


@pytest.mark.parametrize("border", list(SCIPY_MODE))
@given(h=st.integers(10, 14), w=st.integers(10, 14), kh=st.integers(1, 5), kw=st.integers(1, 5),
       dilation=st.integers(1, 2), stride=st.integers(1, 3))
@settings(max_examples=15, deadline=None)
def test_matches_scipy_2d(border, h, w, kh, kw, dilation, stride):
    torch.manual_seed(h * 100 + w)
    conv = BorderConv2d(1, 1, (kh, kw), stride=stride, dilation=dilation, bias=False, border=border,
                        background=0.0 if border == "full-exact" else None)
    x = torch.randn(1, 1, h, w, dtype=torch.float64)
    conv = conv.double()
    expected = _scipy(x[0, 0], conv.weight[0, 0].detach(), SCIPY_MODE[border], (dilation, dilation))
    expected = expected[::stride, ::stride]
    got = conv(x)[0, 0].detach().numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-10)


@pytest.mark.parametrize("border", list(SCIPY_MODE))
@pytest.mark.parametrize("nd,cls", [(1, BorderConv1d), (3, BorderConv3d)])
def test_matches_scipy_1d_3d(border, nd, cls):
    # odd kernels: for even ones scipy's n-d correlate centres 'same' unlike correlate2d (which we follow)
    sizes, kernel = ((9, 7, 8), (3, 1, 5)) if nd == 3 else ((11,), (5,))
    conv = cls(1, 1, kernel, bias=False, border=border, background=0.0 if border == "full-exact" else None).double()
    x = torch.randn((1, 1) + tuple(sizes), dtype=torch.float64)
    expected = signal.correlate(x[0, 0].numpy(), conv.weight[0, 0].detach().numpy(), mode=SCIPY_MODE[border])
    np.testing.assert_allclose(conv(x)[0, 0].detach().numpy(), expected, atol=1e-10)


@pytest.mark.parametrize("border,mode", [("same-circular", "wrap"), ("same-reflect", "reflect"),
                                         ("same-replicate", "edge")])
def test_named_padding_matches_numpy_pad(border, mode):
    conv = BorderConv2d(1, 1, 3, bias=False, border=border).double()
    x = torch.randn(1, 1, 8, 9, dtype=torch.float64)
    padded = np.pad(x[0, 0].numpy(), 1, mode="symmetric" if mode == "symmetric" else mode)
    expected = signal.correlate(padded, conv.weight[0, 0].detach().numpy(), mode="valid")
    np.testing.assert_allclose(conv(x)[0, 0].detach().numpy(), expected, atol=1e-10)


def test_circular_pads_half_the_kernel_not_k_minus_1():
    """A circular pad of (k-1)/2 keeps the size; the paper's code on current PyTorch padded k-1."""
    conv = BorderConv2d(1, 1, 5, border="same-circular")
    assert conv(torch.randn(1, 1, 10, 10)).shape[-2:] == (10, 10)
    assert conv.pads == ((2, 2), (2, 2))


def test_partial_conv_reweights_by_taps_inside():
    conv = BorderConv2d(1, 1, 3, bias=True, border="same-partial")
    nn.init.constant_(conv.weight, 1.0)
    nn.init.constant_(conv.bias, 0.5)
    y = conv(torch.ones(1, 1, 6, 7))
    # every window of ones gives 9 after re-weighting by 9 / (taps inside), plus the bias
    torch.testing.assert_close(y, torch.full_like(y, 9.5))


def test_full_exact_constant_map_stays_constant():
    conv = BorderConv2d(3, 4, 3, stride=2, border="full-exact")
    x = torch.full((2, 3, 9, 9), 0.7)
    y = conv(x)
    torch.testing.assert_close(y, y[:, :, :1, :1].expand_as(y))


@pytest.mark.parametrize("border", BORDERS)
def test_state_dict_loads_both_ways(border):
    plain = nn.Conv2d(3, 5, 3, padding=1, groups=1)
    converted = BorderConv2d(3, 5, 3, border=border)
    converted.load_state_dict(plain.state_dict())
    plain.load_state_dict(converted.state_dict())
    assert list(plain.state_dict()) == list(converted.state_dict())


@pytest.mark.parametrize("border", BORDERS)
def test_output_size_formula(border):
    k, s, d, n = 3, 2, 2, 13
    conv = BorderConv2d(1, 1, k, stride=s, dilation=d, border=border)
    left, right = conv.pads[0]
    expected = (n + left + right - d * (k - 1) - 1) // s + 1
    assert conv(torch.randn(1, 1, n, n)).shape[-1] == expected
    assert {"valid": 0, "same": 2, "full": 4}[BORDERS[border].extent] == left


def test_unknown_border_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown border 'fulll'; choose one of: valid, same"):
        BorderConv2d(1, 1, 3, border="fulll")


def test_spatial_only_3d_pads_time_with_zeros():
    conv = BorderConv3d(1, 1, 3, border="full", border_dims=(1, 2))
    assert conv.pads == ((1, 1), (2, 2), (2, 2))
    assert conv(torch.randn(1, 1, 4, 6, 6)).shape[2:] == (4, 8, 8)
