"""Border reach: the analytic prefix/suffix count per layer equals a brute-force check that perturbs the padding."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from fullconv.probing import border_reach

WINDOWS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


class Residual(nn.Module):
    """Strided residual block: 3×3/s2 and dilated 3×3 on one branch, a 1×1/s2 shortcut on the other."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.shortcut = nn.Conv2d(4, 4, 1, stride=2)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.act(self.conv2(self.act(self.conv1(x)))) + self.shortcut(x)


def small_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 4, 5, padding=2), nn.LeakyReLU(0.1), nn.MaxPool2d(3, 2, padding=1),
                         Residual(), nn.Conv2d(4, 4, (3, 1), padding=(1, 0)), nn.AvgPool2d(3, 1, padding=1),
                         nn.Conv2d(4, 4, 3, stride=3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def leaky_resnet18() -> nn.Module:
    net = torchvision.models.resnet18()
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.ReLU):  # a dead ReLU would hide a changed input from the brute force
                setattr(module, name, nn.LeakyReLU(0.1))
    return net


def _padded_forward(module: nn.Module, generator: torch.Generator):
    """forward of a conv/pool layer that pads with random values instead of its own constant."""
    pad = tuple(module.padding) if isinstance(module.padding, tuple) else (module.padding,) * 2

    def forward(x):
        noisy = 50 * torch.randn(x.shape[0], x.shape[1], x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1],
                                 generator=generator, dtype=x.dtype)
        noisy[:, :, pad[0]:pad[0] + x.shape[2], pad[1]:pad[1] + x.shape[3]] = x
        if isinstance(module, nn.Conv2d):
            return F.conv2d(noisy, module.weight, module.bias, module.stride, 0, module.dilation, module.groups)
        if isinstance(module, nn.MaxPool2d):
            return F.max_pool2d(noisy, module.kernel_size, module.stride, 0, module.dilation)
        return F.avg_pool2d(noisy, module.kernel_size, module.stride, 0)
    return forward


@torch.no_grad()
def brute_force(net: nn.Module, size: int, channels: int) -> dict[str, torch.Tensor]:
    """Per layer, the (H', W') mask of outputs that change when every padding holds random values."""
    net = net.double().eval()
    layers = {name: m for name, m in net.named_modules() if isinstance(m, WINDOWS)}
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = [m.register_forward_hook(lambda m, a, y, name=name: outputs[name].append(y)) for name, m in layers.items()]
    x = torch.randn(1, channels, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    net(x)
    generator = torch.Generator().manual_seed(2)
    for m in layers.values():
        m.forward = _padded_forward(m, generator)
    net(x)
    for hook in hooks:
        hook.remove()
    return {name: (clean != noisy).any(0).any(0) for name, (clean, noisy) in outputs.items()}


def analytic_mask(layer) -> torch.Tensor:
    rows = torch.zeros(layer.size[0], dtype=torch.bool)
    cols = torch.zeros(layer.size[1], dtype=torch.bool)
    rows[:layer.prefix[0]] = True
    rows[layer.size[0] - layer.suffix[0]:] = True
    cols[:layer.prefix[1]] = True
    cols[layer.size[1] - layer.suffix[1]:] = True
    return rows[:, None] | cols[None, :]


@pytest.mark.parametrize("make,size,channels", [(small_net, 37, 2), (leaky_resnet18, 72, 3)],
                         ids=["small-net", "resnet18"])
def test_reach_matches_brute_force(make, size, channels):
    net = make()
    reach = border_reach(net, (size, size), channels)
    masks = brute_force(net, size, channels)
    assert [layer.name for layer in reach["layers"]] == list(masks)
    for layer in reach["layers"]:
        expected = masks[layer.name]
        assert analytic_mask(layer).equal(expected), layer.name
        assert layer.fraction == pytest.approx(expected.double().mean().item(), abs=1e-12)
    fractions = [layer.fraction for layer in reach["layers"]]
    assert 0 < min(fractions) and any(0 < f < 1 for f in fractions)  # not a trivial all-or-nothing case


def test_reach_negative_control_ignoring_dilation_disagrees():
    """The brute force resolves one pixel of geometry: treating the dilated conv as undilated is caught."""
    masks = brute_force(small_net(), 37, 2)
    net = small_net()
    net[3].conv2.dilation, net[3].conv2.padding = (1, 1), (1, 1)
    wrong = {layer.name: analytic_mask(layer) for layer in border_reach(net, (37, 37), 2)["layers"]}
    assert not wrong["3.conv2"].equal(masks["3.conv2"])


def test_total_stride_and_stride_per_layer():
    reach = border_reach(torchvision.models.resnet18(), (64, 64))
    assert reach["total_stride"] == 32
    assert {layer.name: layer.stride for layer in reach["layers"]}["layer2.0.downsample.0"] == (8, 8)
