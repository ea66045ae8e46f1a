"""Every model of the registry (tests/zoo.py): full-exact certified exact in float64, same and full not.

The certificate (fullconv.check_equivariance) places random content on a zero canvas, shifts it
by the total stride, and compares the logits in float64 with BatchNorm statistics calibrated on
such canvases (with the random statistics of a fresh model, a deep net's logits can ignore the
content, and a small error would then certify nothing: each test also asserts that the logits
depend on the content).
"""
from functools import lru_cache

import pytest
import torch
import torch.nn as nn

from fullconv import check_equivariance, convert
from zoo import ZOO, ZooModel, zoo_params

EXACT = 1e-9     # float64 rounding stays many orders below
BROKEN = 1e-4    # what zero padding gives is many orders above


pytestmark = pytest.mark.usefixtures("one_thread")


@lru_cache(maxsize=4)
def _converted(name: str, border: str) -> nn.Module:
    model = ZOO[name]
    return convert(model.create(), border, **model.convert_kwargs)


def _certificate(model: ZooModel, border: str, train: bool, infer_stride: bool = False):
    net = _converted(model.name, border).train(train)
    return check_equivariance(net, model.input_shape, shifts=[model.total_stride],
                              total_stride=None if infer_stride else model.total_stride, calibrate=1)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("model", zoo_params())
def test_full_exact_is_certified_exact(model, train):
    cert = _certificate(model, "full-exact", train, infer_stride=not train)
    assert cert.total_stride == model.total_stride
    check, = cert.checks
    assert check.on_stride and check.error <= EXACT, str(cert)
    assert check.first_break is None
    assert cert.sensitivity > 1e-3, str(cert)


def _assert_not_exact(model: ZooModel, border: str) -> None:
    cert = _certificate(model, border, train=False)
    assert cert.checks[0].error > BROKEN and not cert.exact_on_stride, str(cert)
    assert cert.checks[0].first_break is not None


@pytest.mark.parametrize("model", zoo_params())
def test_same_is_not_exact(model):
    """Negative control: the same check fails where the zero padding draws a frame around the canvas."""
    _assert_not_exact(model, "same")


@pytest.mark.parametrize("model", zoo_params(lambda model: model.same_is_original))
def test_same_computes_the_original_model(model):
    """``same`` keeps every layer's own padding amounts (unpadded stems and pools included), so it
    computes what the original model computes, bit for bit in float64. The control, ``same-partial``
    (the same amounts, renormalised), differs, so the inputs reach the padding."""
    original = model.create().double().eval()
    batch, channels, *size = model.input_shape
    x = torch.randn(batch, channels, *(max(4 * n, 2 * t) for n, t in zip(size, model.total_stride)),
                    dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = original(x)
        assert torch.equal(convert(original, "same", **model.convert_kwargs)(x), expected)
        partial = convert(original, "same-partial", **model.convert_kwargs)(x)
        assert (partial - expected).abs().max() > 1e-6 * expected.abs().max()


@pytest.mark.parametrize("model", zoo_params(lambda model: not model.slow))
def test_full_is_not_exact(model):
    """``full`` keeps every response but pads with zeros where the background is not zero."""
    _assert_not_exact(model, "full")


def test_registry_names_are_unique_and_tagged():
    assert all(name == model.name and "/" in name for name, model in ZOO.items())
