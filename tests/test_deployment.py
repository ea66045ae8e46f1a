"""Deployment paths of a converted model: each gives the eager outputs (within the stated tolerance).

The model is a small residual network, so the forward that convert() generates (with its branch
alignment) is what every path has to capture.
"""
import copy

import pytest
import torch
import torch.nn as nn

from fullconv import convert
from fullconv.metrics import relative_difference
from fullconv.models import small_resnet

BORDERS = ["full-exact", "full"]
#: the eager paths also with downsample="polyphase" (its phase groups depend on the data, so the
#: tracing and export paths do not capture it; see the README)
EAGER = BORDERS + ["full-exact+polyphase"]
#: the tracing and export paths also with blurpool=True (its blur is a depthwise convolution whose
#: kernel must have a static shape for ONNX)
TRACED = BORDERS + ["full-exact+blurpool"]
FLOAT32 = 1e-5   # a different kernel order than eager: float32 rounding only
BFLOAT16 = 2e-2  # 8 mantissa bits


pytestmark = pytest.mark.usefixtures("one_thread")


def _net(border: str) -> nn.Module:
    torch.manual_seed(0)
    border, _, option = border.partition("+")
    return convert(small_resnet(layers=(1, 1), width=4, in_channels=3), border, blurpool=option == "blurpool",
                   downsample="strided" if option in ("", "blurpool") else option).eval()


def _input(size: int = 16) -> torch.Tensor:
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def _eager(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x)


@pytest.mark.parametrize("border", EAGER)
def test_deepcopy(border):
    net, x = _net(border), _input()
    twin = copy.deepcopy(net)
    assert torch.equal(_eager(twin, x), _eager(net, x))
    with torch.no_grad():
        twin.conv1.weight.add_(1.0)
    assert not torch.equal(twin.conv1.weight, net.conv1.weight)  # nothing shared


@pytest.mark.parametrize("border", EAGER)
def test_channels_last(border):
    net, x = _net(border), _input()
    expected = _eager(net, x)
    fast = copy.deepcopy(net).to(memory_format=torch.channels_last)
    assert fast.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert relative_difference(expected, _eager(fast, x.to(memory_format=torch.channels_last))) <= FLOAT32


@pytest.mark.parametrize("border", EAGER)
def test_bfloat16_autocast_on_cpu(border):
    net, x = _net(border), _input()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        low = net(x)
    assert low.dtype == torch.bfloat16
    assert relative_difference(_eager(net, x), low.float()) <= BFLOAT16


@pytest.mark.parametrize("border", TRACED)
def test_jit_trace(border):
    net, x = _net(border), _input()
    with torch.no_grad():
        traced = torch.jit.trace(net, x)
    assert relative_difference(_eager(net, x), traced(x)) <= FLOAT32
    other = _input(24)  # the alignment pads follow the traced map sizes: trace once per input size
    assert relative_difference(_eager(net, other), traced(other)) <= FLOAT32


@pytest.mark.parametrize("border", TRACED)
def test_torch_export(border):
    net, x = _net(border), _input()
    program = torch.export.export(net, (x,))
    assert relative_difference(_eager(net, x), program.module()(x)) <= FLOAT32


@pytest.mark.parametrize("border", BORDERS)
def test_torch_compile_graph_capture(border):
    """torch.compile's graph capture (dynamo + AOT autograd) of the generated forward, without codegen."""
    net, x = _net(border), _input()
    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    with torch.no_grad():
        assert relative_difference(_eager(net, x), compiled(x)) <= FLOAT32


@pytest.mark.slow
def test_torch_compile_inductor():
    """The default backend: inductor generates C++ (needs a C compiler) for the full-exact model."""
    net, x = _net("full-exact"), _input()
    compiled = torch.compile(net)
    with torch.no_grad():
        assert relative_difference(_eager(net, x), compiled(x)) <= FLOAT32


def _onnx_outputs(path, x: torch.Tensor) -> torch.Tensor:
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    session = ReferenceEvaluator(onnx.load(str(path)))
    return torch.from_numpy(session.run(None, {session.input_names[0]: x.numpy()})[0])


@pytest.mark.parametrize("border", TRACED)
def test_onnx_export_torchscript(border, tmp_path):
    pytest.importorskip("onnx")
    net, x = _net(border), _input()
    path = tmp_path / "net.onnx"
    with torch.no_grad():
        torch.onnx.export(net, (x,), str(path), dynamo=False)
    assert relative_difference(_eager(net, x), _onnx_outputs(path, x)) <= FLOAT32


@pytest.mark.slow
def test_onnx_export_dynamo(tmp_path):
    pytest.importorskip("onnxscript")
    net, x = _net("full-exact"), _input()
    path = tmp_path / "net.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=True)
    assert relative_difference(_eager(net, x), _onnx_outputs(path, x)) <= FLOAT32
