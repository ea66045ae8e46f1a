"""Small data sets in the on-disk layouts that the `paper` presets read, generated on the spot.

Every writer takes a folder and a seed and writes random content (the same seed, the same files):

- :func:`image_folder`: ``train/<class>/*.jpg`` and ``val/<class>/*.jpg`` (ImageFolder, as ImageNet);
- :func:`ucf_frames`: ``<class>/<video>/frame_XXXX.jpg`` with the split files of both UCF-101
  (``ucfTrainTestlist/``) and HMDB-51 (``testTrainMulti_7030_splits/``), read as ``frames:PATH``;
- :func:`phototour`: torchvision's raw PhotoTour folders ``<scene>/patchesNNNN.bmp`` (64×64 patches
  in rows of 16 on 1024-px sheets), ``info.txt`` and ``m50_100000_100000_0.txt``;
- :func:`random_weights`: ``<arch>.pth`` state_dicts of randomly initialised backbones, stand-ins
  for ImageNet weights so that the frozen-backbone code paths run (their accuracies mean nothing).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

PATCH, SHEET = 64, 1024


def _smooth_image(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Random blobs of colour (a coarse random grid upsampled) with pixel noise: (height, width, 3) RGB."""
    coarse = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    pixels = np.asarray(coarse.resize((width, height), Image.BICUBIC), dtype=np.int16)
    pixels = pixels + rng.integers(-12, 13, pixels.shape, dtype=np.int16)
    return Image.fromarray(pixels.clip(0, 255).astype(np.uint8))


def image_folder(root: Path, classes: int, per_class: dict[str, int], sides: tuple[int, int], seed: int) -> Path:
    """JPEGs of random width and height in ``sides`` (inclusive) under ``root/<split>/class<k>/``."""
    rng = np.random.default_rng(seed)
    for split, count in per_class.items():
        for k in range(classes):
            folder = root / split / f"class{k:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                width, height = (int(v) for v in rng.integers(sides[0], sides[1] + 1, 2))
                _smooth_image(rng, width, height).save(folder / f"{split}_{k}_{i}.jpg", quality=85)
    return root


def ucf_frames(root: Path, classes: int, videos: dict[str, int], frames: int, size: tuple[int, int],
               seed: int) -> Path:
    """``videos[split]`` videos per class of ``frames`` JPEG frames of ``size`` (width, height), split 1 of both formats.

    The UCF-101 lists (``classInd.txt``, ``trainlist01.txt``, ``testlist01.txt``) and the HMDB-51
    lists (``<class>_test_split1.txt``: 1 train, 2 test) name the same videos.
    """
    rng = np.random.default_rng(seed)
    names = [f"Action{k:02d}" for k in range(classes)]
    listed: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for split, count in videos.items():
        for name in names:
            for i in range(count):
                video = f"v_{name}_{split}{i:02d}_c01"
                folder = root / name / video
                folder.mkdir(parents=True, exist_ok=True)
                first = _smooth_image(rng, *size)
                for t in range(frames):
                    # a slowly drifting picture, as consecutive video frames are
                    first.rotate(2 * t, translate=(t, 0)).save(folder / f"frame_{t + 1:04d}.jpg", quality=85)
                listed[split].append((name, video))
    ucf, hmdb = root / "ucfTrainTestlist", root / "testTrainMulti_7030_splits"
    ucf.mkdir(exist_ok=True)
    hmdb.mkdir(exist_ok=True)
    (ucf / "classInd.txt").write_text("".join(f"{k + 1} {name}\n" for k, name in enumerate(names)))
    (ucf / "trainlist01.txt").write_text("".join(f"{c}/{v}.avi {names.index(c) + 1}\n" for c, v in listed["train"]))
    (ucf / "testlist01.txt").write_text("".join(f"{c}/{v}.avi\n" for c, v in listed["test"]))
    for name in names:
        lines = [f"{v}.avi {1 if split == 'train' else 2}\n" for split in ("train", "test")
                 for c, v in listed[split] if c == name]
        (hmdb / f"{name}_test_split1.txt").write_text("".join(lines))
    return root


def phototour(root: Path, scenes: Sequence[str], points: int, per_point: int, pairs: int, seed: int) -> Path:
    """For each scene, ``points`` 3-D points with ``per_point`` noisy 64×64 views each, and ``pairs`` test pairs
    (half matching) in the file torchvision reads."""
    rng = np.random.default_rng(seed)
    for scene in scenes:
        folder = root / scene
        folder.mkdir(parents=True, exist_ok=True)
        base = np.asarray(_smooth_image(rng, PATCH, points * PATCH).convert("L"), dtype=np.int16)
        views = [(base[p * PATCH:(p + 1) * PATCH] + rng.integers(-20, 21, (PATCH, PATCH))).clip(0, 255)
                 for p in range(points) for _ in range(per_point)]
        per_sheet = (SHEET // PATCH) ** 2
        for s in range(0, len(views), per_sheet):
            sheet = np.zeros((SHEET, SHEET), dtype=np.uint8)
            for j, view in enumerate(views[s:s + per_sheet]):
                row, col = divmod(j, SHEET // PATCH)
                sheet[row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = view
            Image.fromarray(sheet).save(folder / f"patches{s // per_sheet:04d}.bmp")
        labels = np.repeat(np.arange(points), per_point)
        (folder / "info.txt").write_text("".join(f"{label} 0\n" for label in labels))
        lines = []
        for i in range(pairs):
            a = int(rng.integers(len(labels)))
            if i % 2 == 0:   # a match: another view of the same point
                b = int(labels[a]) * per_point + (a % per_point + 1) % per_point
            else:
                b = int(rng.integers(len(labels)))
            lines.append(f"{a} {labels[a]} 0 {b} {labels[b]} 0 0\n")
        (folder / "m50_100000_100000_0.txt").write_text("".join(lines))
    return root


def random_weights(root: Path, archs: Sequence[str], seed: int) -> Path:
    """``root/<arch>.pth``: state_dicts of randomly initialised quadrant backbones (not ImageNet weights)."""
    from fullconv.experiments.pretrain import check_arch
    from fullconv.models import create

    root.mkdir(parents=True, exist_ok=True)
    for arch in archs:
        torch.manual_seed(seed)
        torch.save(create(check_arch(arch), num_classes=1000).state_dict(), root / f"{arch}.pth")
    return root
