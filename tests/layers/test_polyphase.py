"""Adaptive polyphase subsampling on a constant canvas: the kept samples move with the content, for every shift."""
import contextlib
import itertools

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fullconv.layers import polyphase
from fullconv.layers.padding import pad_constant
from fullconv.layers.polyphase import (merge_groups, phase_groups, phase_norms, phases, polyphase_downsample, select_phase,
                                       take_phase, window_at_phase)

D = torch.float64


def _canvas(content, offset, size, background):
    """content (B, C, *s) at ``offset`` on a canvas (B, C, *size) of ``background``."""
    out = torch.full((*content.shape[:2], *size), background, dtype=D)
    out[(Ellipsis, *(slice(o, o + n) for o, n in zip(offset, content.shape[2:])))] = content
    return out


def _kept(x, stride, background, select=None):
    """(mask, values) on x's grid: where the subsampling keeps a sample, and its value there."""
    y, phase = polyphase_downsample(x, stride, background) if select is None else select(x, stride)
    mask = torch.zeros(x.shape[:1] + x.shape[2:], dtype=torch.bool)
    values = torch.zeros_like(x)
    for b in range(x.shape[0]):
        index = tuple(slice(int(p), None, s) for p, s in zip(phase[b], stride))
        sizes = mask[(b, *index)].shape
        mask[(b, *index)] = True
        values[(b, slice(None), *index)] = y[(b, slice(None), *(slice(0, n) for n in sizes))]
    return mask, values


def _moves_with_the_content(stride, nd, background, select=None, shifts=None, side=16):
    torch.manual_seed(0)
    content = torch.rand((3, 2) + (5,) * nd, dtype=D)
    content[0, :, 0] = background  # a first row of background: the first element is not at the corner
    size, base = (side,) * nd, (4,) * nd
    reference = _kept(_canvas(content, base, size, background), stride, background, select)
    worst = 0.0
    for shift in shifts or itertools.product(*(range(2 * s + 1) for s in stride)):
        mask, values = _kept(_canvas(content, [b + t for b, t in zip(base, shift)], size, background), stride,
                             background, select)
        # compare on the canvas positions both see: the reference moved by ``shift``
        here = (slice(None), *(slice(t, n) for t, n in zip(shift, size)))
        there = (slice(None), *(slice(0, n - t) for t, n in zip(shift, size)))
        if not torch.equal(mask[here], reference[0][there]):
            return False
        here_v, there_v = (slice(None), *here), (slice(None), *there)   # values also have a channel dim
        keep = mask[here].unsqueeze(1).expand_as(values[here_v])
        worst = max(worst, float((values[here_v] - reference[1][there_v]).abs()[keep].max()))
    return worst == 0.0


@pytest.mark.parametrize("nd, stride", [(1, (2,)), (1, (3,)), (2, (2, 2)), (2, (2, 3)), (3, (2, 2, 2))])
@pytest.mark.parametrize("background", [0.0, 0.7])
def test_the_kept_samples_move_with_the_content_for_every_shift(nd, stride, background):
    assert _moves_with_the_content(stride, nd, background)


def test_a_fixed_phase_does_not_move_with_the_content():
    """Negative control: plain subsampling x[..., ::2] keeps other samples after an odd shift."""
    def fixed(x, stride):
        return x[(Ellipsis, *(slice(None, None, s) for s in stride))], torch.zeros((x.shape[0], len(stride)),
                                                                                    dtype=torch.long)
    assert _moves_with_the_content((2, 2), 2, 0.7, select=fixed, shifts=[(0, 0), (2, 2)])  # even shifts: fine
    assert not _moves_with_the_content((2, 2), 2, 0.7, select=fixed, shifts=[(0, 1)])


def test_the_norm_without_the_background_does_not_move_with_the_content():
    """Negative control: APS's norm of x itself counts the canvas, whose share per phase depends on
    where the canvas ends (17 px: phase 0 has one sample more), not on the content."""
    def aps(x, stride):
        phase = torch.tensor(phases(stride))[phase_norms(x, stride, 0.0).argmax(1)]
        kept = [x[(b, slice(None), *(slice(int(p), None, s) for p, s in zip(phase[b], stride)))]
                for b in range(x.shape[0])]
        size = [max(k.shape[1 + d] for k in kept) for d in range(len(stride))]
        y = torch.full((*x.shape[:2], *size), 0.7, dtype=x.dtype)
        for b, k in enumerate(kept):
            y[(b, slice(None), *(slice(0, n) for n in k.shape[1:]))] = k
        return y, phase
    assert not _moves_with_the_content((2,), 1, 0.7, select=aps, side=17)
    assert _moves_with_the_content((2,), 1, 0.7, side=17)  # the background-subtracted norm does


def test_ties_are_broken_by_the_first_element_that_differs_from_the_background():
    x = torch.zeros(1, 1, 10, dtype=D)
    x[0, 0, 4:6] = 1.0   # phases 0 and 1 hold equal norms; the first content element is at 4 (phase 0)
    assert select_phase(x, (2,)).tolist() == [[0]]
    assert select_phase(torch.roll(x, 1, dims=-1), (2,)).tolist() == [[1]]   # it moves to 5: phase 1
    blank = torch.full((2, 3, 6, 6), 0.5, dtype=D)   # background everywhere: phase 0, background out
    y, phase = polyphase_downsample(blank, (2, 2), 0.5)
    assert phase.tolist() == [[0, 0], [0, 0]] and torch.equal(y, torch.full((2, 3, 3, 3), 0.5, dtype=D))


def test_each_sample_keeps_its_own_phase_padded_with_background_to_one_size():
    x = torch.zeros(2, 1, 5, dtype=D)
    x[0, 0, 1], x[1, 0, 2] = 3.0, 4.0
    y, phase = polyphase_downsample(x, (2,), torch.tensor([[[0.0]], [[0.0]]], dtype=D))
    assert phase.tolist() == [[1], [0]] and y.shape == (2, 1, 3)
    assert y[0, 0].tolist() == [3.0, 0.0, 0.0] and y[1, 0].tolist() == [0.0, 4.0, 0.0]
    with pytest.raises(ValueError, match="2 spatial dims for stride"):
        phase_norms(torch.zeros(1, 1, 4), (2, 2))


# window_at_phase: the grouped computation equals the reference (pad, take_phase, unpadded window)

_CONV = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
_MAX = {1: torch.nn.functional.max_pool1d, 2: torch.nn.functional.max_pool2d, 3: torch.nn.functional.max_pool3d}


def _window_case(draw_shape, nd, stride, kernel, dilation, pads, phase, pool):
    """(fast, reference, inputs) for a conv or max pool at the given phases, float64 with gradients."""
    torch.manual_seed(0)
    x = torch.randn((phase.shape[0], 2, *draw_shape), dtype=D, requires_grad=True)
    weight = torch.randn((3, 2, *kernel), dtype=D, requires_grad=True)
    reach = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
    if pool:
        def window(z, padding):
            return _MAX[nd](z, kernel, stride, padding, dilation)
        fast = window_at_phase(x, phase, stride, pads, window, value=0.0)
    else:
        def window(z, padding):
            return _CONV[nd](z, weight, None, stride, padding, dilation)
        fast = window_at_phase(x, phase, stride, pads, window, stride=stride, reach=reach)
    reference = window(take_phase(pad_constant(x, pads, 0.0), phase, stride, 0.0), (0,) * nd)
    return fast, reference, (x, weight)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_window_at_phase_equals_padding_and_moving_each_sample(data):
    """Every layout: 1-3 dims, strides 1-3, kernels 1-4, dilation 1-2, pads that crop or pad either
    side, a batch that keeps one or several phases; values and both gradients."""
    nd = data.draw(st.integers(1, 3))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    shape = tuple(data.draw(st.integers(6, 9)) for _ in range(nd))
    pads = tuple((data.draw(st.integers(-1, 5)), data.draw(st.integers(-1, 5))) for _ in range(nd))
    assume(all(n + left + right > d * (k - 1) for n, (left, right), d, k in zip(shape, pads, dilation, kernel)))
    batch = data.draw(st.integers(1, 5))
    phase = torch.tensor([[data.draw(st.integers(0, s - 1)) for s in stride] for _ in range(batch)])
    pool = data.draw(st.booleans())
    for group_work in (0, 10 ** 9):  # each phase group on its own / the groups padded into one batch
        with _group_work(group_work):
            fast, reference, inputs = _window_case(shape, nd, stride, kernel, dilation, pads, phase, pool)
        assert fast.shape == reference.shape
        assert torch.allclose(fast, reference, rtol=0, atol=1e-12)
        probe = torch.randn_like(reference)
        for a, b in zip(torch.autograd.grad((fast * probe).sum(), inputs, allow_unused=True),
                        torch.autograd.grad((reference * probe).sum(), inputs, allow_unused=True)):
            assert (a is None and b is None) or torch.allclose(a, b, rtol=0, atol=1e-11)


@contextlib.contextmanager
def _group_work(value):
    kept, polyphase._GROUP_WORK = polyphase._GROUP_WORK, value
    try:
        yield
    finally:
        polyphase._GROUP_WORK = kept


def test_window_at_phase_keeps_each_samples_own_phase():
    """Negative control: the same batch at other phases gives other outputs, sample by sample."""
    phase = torch.tensor([[0, 1], [1, 0], [1, 1], [0, 0]])
    for group_work in (0, 10 ** 9):
        with _group_work(group_work):
            fast, reference, _ = _window_case((8, 8), 2, (2, 2), (3, 3), (1, 1), ((3, 3), (3, 3)), phase, False)
        assert torch.allclose(fast, reference, rtol=0, atol=1e-12)
    for pool in (False, True):
        other, _, _ = _window_case((8, 8), 2, (2, 2), (3, 3), (1, 1), ((3, 3), (3, 3)), phase.flip(0), pool)
        moved, _, _ = _window_case((8, 8), 2, (2, 2), (3, 3), (1, 1), ((3, 3), (3, 3)), phase, pool)
        assert all((other[b] - moved[b]).abs().max() > 1e-3 for b in range(4))


def test_phase_groups_are_disjoint_and_cover_the_batch():
    phase = torch.tensor([[2, 1], [0, 0], [2, 1], [1, 0], [0, 0]])
    groups = phase_groups(phase, (3, 2))
    assert [q for q, _ in groups] == [(0, 0), (1, 0), (2, 1)]
    assert sorted(i for _, idx in groups for i in idx.tolist()) == list(range(5))
    assert all((phase[idx] == torch.tensor(q)).all() for q, idx in groups)
    rows = [torch.full((len(idx), 1), float(sum(q))) for q, idx in groups]
    assert merge_groups(rows, groups).flatten().tolist() == [3.0, 0.0, 3.0, 1.0, 0.0]


def test_low_precision_maps_choose_by_norm_not_by_tie():
    """bfloat16 norms with a bfloat16 tie tolerance (256 ulps = twice the value) would tie every
    phase; the norms are summed in float32, so a 10 % larger phase still wins."""
    x = torch.zeros(1, 1, 8, dtype=torch.bfloat16)
    x[0, 0, 2], x[0, 0, 5] = 1.0, 1.1   # phase 0 comes first in content order, phase 1 is larger
    assert phase_norms(x, (2,)).dtype == torch.float32
    assert select_phase(x, (2,)).tolist() == [[1]]
    assert select_phase(x.double(), (2,)).tolist() == [[1]]
