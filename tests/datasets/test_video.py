import importlib.util
from pathlib import Path

import pytest
import torch
from PIL import Image

from fullconv.datasets import video
from fullconv.datasets.video import ClipTransform, FrameClips, video_dataset

# Video -> number of frames; frame k of every video has the grey level 5·k + 1 (readable back).
VIDEOS = {("Archery", "v_Archery_g01_c01"): 40, ("Archery", "v_Archery_g02_c01"): 10,
          ("Bowling", "v_Bowling_g01_c01"): 20, ("Bowling", "v_Bowling_g02_c01"): 33}


def write_frames(root: Path) -> None:
    for (class_name, name), count in VIDEOS.items():
        folder = root / class_name / name
        folder.mkdir(parents=True)
        for k in range(count):
            Image.new("RGB", (24, 18), (5 * k + 1,) * 3).save(folder / f"frame_{k + 1:04d}.png")


@pytest.fixture
def ucf_frames(tmp_path: Path) -> Path:
    write_frames(tmp_path)
    splits = tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 Archery\n2 Bowling\n")
    (splits / "trainlist01.txt").write_text("Archery/v_Archery_g01_c01.avi 1\nBowling/v_Bowling_g02_c01.avi 2\n")
    (splits / "testlist01.txt").write_text("Archery/v_Archery_g02_c01.avi\nBowling/v_Bowling_g01_c01.avi\n"
                                           "Archery/v_Archery_g01_c01.avi\n")
    return tmp_path


def frame_indices(clip: torch.Tensor) -> list[int]:
    """Frame numbers of an untransformed clip (T, 3, H, W) uint8."""
    return [(int(frame[0, 0, 0]) - 1) // 5 for frame in clip]


def test_test_list_gives_every_non_overlapping_window(ucf_frames):
    data = FrameClips(ucf_frames, "ucf101", train=False, transform=lambda frames: frames)
    assert data.classes == ["Archery", "Bowling"]
    # 10 frames -> 1 looped window; 20 -> 1; 40 -> windows at 0 and 16.
    assert len(data) == 4
    items = [data[i] for i in range(len(data))]
    assert [label for _, label in items] == [0, 1, 0, 0]
    assert frame_indices(items[0][0]) == [k % 10 for k in range(16)]
    assert frame_indices(items[1][0]) == list(range(16))
    assert frame_indices(items[3][0]) == list(range(16, 32))
    assert items[0][0].shape == (16, 3, 18, 24) and items[0][0].dtype == torch.uint8


def test_train_list_gives_one_random_window_per_video(ucf_frames):
    data = FrameClips(ucf_frames, "ucf101", train=True, transform=lambda frames: frames)
    assert len(data) == 2 and [label for _, label in (data[0], data[1])] == [0, 1]
    torch.manual_seed(0)
    starts = {frame_indices(data[1][0])[0] for _ in range(30)}
    assert starts <= set(range(33 - 16 + 1)) and len(starts) > 5
    torch.manual_seed(0)
    again = {frame_indices(data[1][0])[0] for _ in range(30)}
    assert again == starts


def test_clips_are_normalised_112_crops(ucf_frames):
    clip, label = FrameClips(ucf_frames, "ucf101", train=False)[1]
    assert clip.shape == (3, 16, 112, 112) and clip.dtype == torch.float32
    grey = (5 * torch.arange(16) + 1).float() / 255
    expected = (grey.view(1, 16) - torch.tensor(video.MEAN).view(3, 1)) / torch.tensor(video.STD).view(3, 1)
    torch.testing.assert_close(clip.mean(dim=(2, 3)), expected, atol=1e-4, rtol=0)


def test_train_crop_is_random_but_seeded():
    frames = torch.randint(0, 256, (4, 3, 128, 171), dtype=torch.uint8)
    transform = ClipTransform(train=True)
    torch.manual_seed(1)
    first = transform(frames)
    torch.manual_seed(1)
    assert torch.equal(first, transform(frames))
    assert not torch.equal(first, transform(frames))


def test_hmdb_split_files(tmp_path):
    write_frames(tmp_path)
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "Archery_test_split1.txt").write_text("v_Archery_g01_c01.avi 1 \nv_Archery_g02_c01.avi 2 \n")
    (splits / "Bowling_test_split1.txt").write_text("v_Bowling_g01_c01.avi 0 \nv_Bowling_g02_c01.avi 1 \n")
    train = video_dataset(f"frames:{tmp_path}", "hmdb51", train=True)
    test = video_dataset(f"frames:{tmp_path}", "hmdb51", train=False)
    assert [(v[0][0].parent.name, v[1]) for v in train.videos] == [("v_Archery_g01_c01", 0), ("v_Bowling_g02_c01", 1)]
    assert [v[0][0].parent.name for v in test.videos] == ["v_Archery_g02_c01"]


def test_missing_frames_and_folders(ucf_frames, tmp_path):
    with pytest.raises(FileNotFoundError, match="frames folder .* not found"):
        FrameClips(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="split folder"):
        FrameClips(ucf_frames, "hmdb51")
    for frame in (ucf_frames / "Archery" / "v_Archery_g02_c01").iterdir():
        frame.unlink()
    with pytest.raises(FileNotFoundError, match="no frames"):
        FrameClips(ucf_frames, "ucf101", train=False)
    with pytest.raises(ValueError, match="unknown video data set 'kinetics'"):
        FrameClips(ucf_frames, "kinetics")


def test_corrupt_frame(ucf_frames):
    (ucf_frames / "Bowling" / "v_Bowling_g01_c01" / "frame_0003.png").write_bytes(b"not an image")
    data = FrameClips(ucf_frames, "ucf101", train=False)
    with pytest.raises(ValueError, match="cannot read frame .*frame_0003.png"):
        data[1]


def test_videos_without_decoder_name_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install fullconv\[video\]") as error:
        video_dataset(str(tmp_path), "ucf101", train=True)
    assert isinstance(error.value, ValueError) and error.value.name == "av"  # the CLI's one-line errors
