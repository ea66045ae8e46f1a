"""UCF-101 and HMDB-51 (official splits) as 16-frame clips at 112×112, from videos or extracted frames.

Two sources, chosen by the ``--data`` string:

- ``PATH``: the official archives unpacked under PATH — ``UCF-101/`` and ``ucfTrainTestlist/``, or
  ``hmdb51/`` and ``testTrainMulti_7030_splits/`` — read through ``torchvision.datasets.UCF101`` /
  ``HMDB51``. Decoding videos needs PyAV: ``pip install fullconv[video]``.
- ``frames:PATH``: extracted frames ``PATH/<class>/<video>/frame_XXXX.jpg`` (the video folder is named
  after the video file without its extension) and the split folder above inside PATH. No decoder needed.

Evaluation clips are every non-overlapping 16-frame window, centre-cropped: the accuracy over them
is the paper's clip accuracy. Training clips get a random 112×112 crop (or, ``crop="corner"``, the
multi-scale corner crop of Hara et al.'s code that the paper trained with) and a random flip; from
frames they are one random window per video and epoch, from videos every non-overlapping window
(torchvision's clip index is fixed).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from ..utils.constants import KINETICS_MEAN, KINETICS_STD

#: Folders of the official archives: (videos, split files) per data set.
LAYOUT: dict[str, tuple[str, str]] = {
    "ucf101": ("UCF-101", "ucfTrainTestlist"),
    "hmdb51": ("hmdb51", "testTrainMulti_7030_splits"),
}
MEAN, STD = KINETICS_MEAN, KINETICS_STD
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def check_video_set(name: str) -> str:
    if name not in LAYOUT:
        raise ValueError(f"unknown video data set {name!r}; choose one of: {', '.join(LAYOUT)}")
    return name


class MissingExtraError(ModuleNotFoundError, ValueError):
    """An optional dependency is missing; a ValueError too, so the CLI reports it in one line (exit 2)."""


def require_av() -> None:
    """Raise a one-line error naming the extra when the video decoder PyAV is not installed."""
    if importlib.util.find_spec("av") is None:
        raise MissingExtraError(
            "reading UCF-101/HMDB-51 videos needs the video decoder PyAV: install it with "
            "'pip install fullconv[video]', or pass extracted frames as --data frames:PATH", name="av")


#: Hara et al.'s multi-scale corner crop (opts.py): 5 scales, each 0.84089641525 (2^-1/4) of the last.
CORNER_SCALES = tuple(0.84089641525 ** i for i in range(5))
CROPS = ("random", "corner")


@dataclass(frozen=True)
class ClipTransform:
    """uint8 frames (T, C, H, W) -> normalised clip (C, T, size, size).

    Frames are resized to ``resize`` (height, width), then cropped to ``size``: in the centre when
    not ``train``; in training at random (``crop="random"``), or (``crop="corner"``, Hara et al.'s
    ``MultiScaleCornerCrop``) a square of side ``scale · min(height, width)``, scale one of
    :data:`CORNER_SCALES`, at one of the four corners or the centre, resized to ``size``; then
    flipped with probability 1/2 when ``flip``. Randomness comes from torch's global generator,
    which the training loop seeds.
    """

    train: bool
    size: int = 112
    resize: tuple[int, int] = (128, 171)
    crop: str = "random"
    flip: bool = True

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"unknown clip crop {self.crop!r}; choose one of: {', '.join(CROPS)}")

    def __call__(self, frames: Tensor) -> Tensor:
        clip = F.interpolate(frames.float() / 255, size=self.resize, mode="bilinear", antialias=True,
                             align_corners=False)
        height, width = self.resize
        side = self.size
        if self.train and self.crop == "corner":
            side = int(min(height, width) * CORNER_SCALES[int(torch.randint(len(CORNER_SCALES), ()))])
            corner = int(torch.randint(5, ()))  # centre, top-left, top-right, bottom-left, bottom-right
            top, left = [((height - side) // 2, (width - side) // 2), (0, 0), (0, width - side),
                         (height - side, 0), (height - side, width - side)][corner]
        elif self.train:
            top = int(torch.randint(height - side + 1, ()))
            left = int(torch.randint(width - side + 1, ()))
        else:
            top, left = (height - side) // 2, (width - side) // 2
        clip = clip[..., top:top + side, left:left + side]
        if side != self.size:
            clip = F.interpolate(clip, size=(self.size, self.size), mode="bilinear", antialias=True,
                                 align_corners=False)
        if self.train and self.flip and bool(torch.rand(()) < 0.5):
            clip = clip.flip(-1)
        mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        std = torch.tensor(STD).view(1, 3, 1, 1)
        return ((clip - mean) / std).permute(1, 0, 2, 3).contiguous()


def read_split(split_dir: Path, dataset: str, fold: int, train: bool) -> tuple[list[tuple[str, str]], list[str]]:
    """Videos of one official split as (class, video name without extension), and the sorted class names."""
    if not split_dir.is_dir():
        raise FileNotFoundError(f"split folder {split_dir} not found; unpack the official "
                                f"{LAYOUT[dataset][1]} archive there")
    if dataset == "ucf101":
        classes = sorted(line.split()[1] for line in _lines(split_dir / "classInd.txt"))
        listed = _lines(split_dir / f"{'train' if train else 'test'}list0{fold}.txt")
        videos = [tuple(Path(line.split()[0]).with_suffix("").parts[-2:]) for line in listed]
    else:
        files = sorted(split_dir.glob(f"*_test_split{fold}.txt"))
        if not files:
            raise FileNotFoundError(f"no '*_test_split{fold}.txt' files in {split_dir}; unpack the "
                                    f"official HMDB-51 split archive there")
        classes = sorted(f.name[: -len(f"_test_split{fold}.txt")] for f in files)
        wanted = "1" if train else "2"  # 1: train, 2: test, 0: unused in this fold
        videos = [(f.name[: -len(f"_test_split{fold}.txt")], Path(name).stem)
                  for f in files for name, tag in (line.split() for line in _lines(f)) if tag == wanted]
    return videos, classes


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise FileNotFoundError(f"split file {path} not found; unpack the official split archive there")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


class FrameClips(Dataset):
    """16-frame clips from a folder of extracted frames; items are (clip (3, T, 112, 112), label).

    Args:
        root: folder with ``<class>/<video>/frame_XXXX.jpg`` and the official split folder.
        dataset: ``ucf101`` or ``hmdb51`` (which split-file format to read).
        train: the training list (one random window per video and epoch) or the test list (every
            non-overlapping window, in order).
        fold: official split (1 in the paper).
        frames_per_clip: clip length; videos shorter than that are looped.
        transform: frames (T, C, H, W) uint8 -> clip; default :class:`ClipTransform`.
    """

    def __init__(self, root: Path | str, dataset: str = "ucf101", train: bool = True, fold: int = 1,
                 frames_per_clip: int = 16, transform=None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"frames folder {self.root} not found; pass --data frames:PATH with "
                                    f"PATH/<class>/<video>/frame_XXXX.jpg")
        videos, self.classes = read_split(self.root / LAYOUT[check_video_set(dataset)][1], dataset, fold, train)
        label_of = {name: i for i, name in enumerate(self.classes)}
        self.videos: list[tuple[list[Path], int]] = []
        for class_name, video in videos:
            folder = self.root / class_name / video
            frames = sorted(p for p in folder.glob("*") if p.suffix.lower() in FRAME_SUFFIXES)
            if not frames:
                raise FileNotFoundError(f"no frames (*.jpg, *.png) in {folder}, listed in the split files; "
                                        f"extract the video's frames there")
            self.videos.append((frames, label_of[class_name]))
        self.train, self.frames_per_clip = train, frames_per_clip
        self.transform = transform or ClipTransform(train=train)
        # Evaluation: every non-overlapping window (at least one per video).
        self.windows = [(v, start) for v, (frames, _) in enumerate(self.videos)
                        for start in range(0, max(len(frames) - frames_per_clip, 0) + 1, frames_per_clip)]

    def __len__(self) -> int:
        return len(self.videos) if self.train else len(self.windows)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        if self.train:
            video, start = index, None
        else:
            video, start = self.windows[index]
        frames, label = self.videos[video]
        if start is None:
            start = int(torch.randint(max(len(frames) - self.frames_per_clip, 0) + 1, ()))
        picked = [frames[(start + i) % len(frames)] for i in range(self.frames_per_clip)]
        return self.transform(torch.stack([_read_frame(p) for p in picked])), label


def _read_frame(path: Path) -> Tensor:
    """One frame as (3, H, W) uint8."""
    try:
        with Image.open(path) as image:
            array = torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8)
            width, height = image.size
    except OSError as error:
        raise ValueError(f"cannot read frame {path} ({error}); re-extract that video's frames") from error
    return array.view(height, width, 3).permute(2, 0, 1)


class VideoClips(Dataset):
    """torchvision's UCF101/HMDB51 as (clip (3, T, 112, 112), label) items.

    Training takes every ``frames_per_clip``-frame window with a random crop and flip; evaluation
    every non-overlapping window centre-cropped.
    """

    def __init__(self, root: Path | str, dataset: str = "ucf101", train: bool = True, fold: int = 1,
                 frames_per_clip: int = 16, transform=None, num_workers: int = 1) -> None:
        require_av()
        from torchvision.datasets import HMDB51, UCF101

        videos, splits = LAYOUT[check_video_set(dataset)]
        root = Path(root)
        for folder in (root / videos, root / splits):
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder} not found; unpack the official {dataset} archives into {root} "
                                        f"({videos}/ and {splits}/) or pass extracted frames as --data frames:PATH")
        reader = UCF101 if dataset == "ucf101" else HMDB51
        self.data = reader(str(root / videos), str(root / splits), frames_per_clip,
                           step_between_clips=frames_per_clip, fold=fold, train=train,
                           num_workers=num_workers, output_format="TCHW")
        self.classes = self.data.classes
        self.transform = transform or ClipTransform(train=train)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        frames, _, label = self.data[index]
        return self.transform(frames), label


def video_dataset(data: str, dataset: str, train: bool, fold: int = 1, frames_per_clip: int = 16,
                  transform=None) -> Dataset:
    """The data set that a ``--data`` string names: ``frames:PATH`` or a folder of the official archives."""
    if data.startswith("frames:"):
        return FrameClips(data[len("frames:"):], dataset, train, fold, frames_per_clip, transform)
    return VideoClips(data, dataset, train, fold, frames_per_clip, transform)
