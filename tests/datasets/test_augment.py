"""Random crops: every crop is a window of the (padded) input, offsets cover the whole range, seeded."""
import pytest
import torch

from fullconv.datasets.augment import RandomCrops, centre_crop


def test_crops_are_windows_and_cover_every_offset():
    x = torch.arange(2 * 10 * 10, dtype=torch.float32).view(2, 1, 10, 10)
    data = RandomCrops(x, torch.tensor([0, 1]), (6, 6))
    torch.manual_seed(0)
    seen = set()
    for _ in range(400):
        crop, label = data[1]
        top, left = divmod(int(crop[0, 0, 0] - x[1, 0, 0, 0]), 10)
        torch.testing.assert_close(crop, x[1, :, top:top + 6, left:left + 6])
        seen.add((top, left))
    assert seen == {(t, l) for t in range(5) for l in range(5)} and label == 1


def test_padding_flip_clips_and_seeding():
    clips = torch.rand(3, 1, 8, 12, 12)
    data = RandomCrops(clips, torch.zeros(3), (6, 10, 10), padding=1, flip=True)
    torch.manual_seed(1)
    first = [data[i][0] for i in range(3)]
    torch.manual_seed(1)
    again = [data[i][0] for i in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again)) and first[0].shape == (1, 6, 10, 10)
    torch.testing.assert_close(centre_crop(clips, (6, 10, 10)), clips[:, :, 1:7, 1:11, 1:11])
    with pytest.raises(ValueError, match="does not fit"):
        RandomCrops(clips, torch.zeros(3), (9, 10, 10))
