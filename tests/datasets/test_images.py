import numpy as np
from pathlib import Path

import pytest
import torch
from PIL import Image

from fullconv.datasets.images import load_images, parse_source


def _save(path, value: int, size=(20, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full(size + (3,), value, dtype=np.uint8)
    pixels[0, 0] = (value * 7) % 256
    Image.fromarray(pixels).save(path)


def test_folder_source_skips_a_corrupt_file_with_a_warning_naming_it(tmp_path, monkeypatch):
    for i in range(3):
        _save(tmp_path / "a" / "b" / f"img{i}.png", 40 * i + 10)
    broken = tmp_path / "a" / "broken.jpg"
    broken.write_bytes(b"not an image")
    # the order in which files are tried is seeded by the spec: a relative spec keeps it fixed
    # (the broken file comes before the last good one), whatever the temporary folder is called
    monkeypatch.chdir(tmp_path)
    with pytest.warns(UserWarning, match="broken.jpg"):
        images = load_images("folder:.", n=3, size=8, seed=0)
    assert images.images.shape == (3, 3, 8, 8)
    assert sorted(images.ids) == sorted(str(Path(".") / "a" / "b" / f"img{i}.png") for i in range(3))
    assert float(images.images.min()) >= 0.0 and float(images.images.max()) <= 1.0


def test_folder_source_drops_duplicates_and_fails_when_too_few(tmp_path):
    _save(tmp_path / "one.png", 10)
    _save(tmp_path / "copy.png", 10)
    _save(tmp_path / "two.png", 200)
    assert len(load_images(f"folder:{tmp_path}", n=2, size=8, seed=0).ids) == 2
    with pytest.raises(ValueError, match="only 2 distinct readable images, 3 are needed"):
        load_images(f"folder:{tmp_path}", n=3, size=8, seed=0)


def test_missing_and_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_images(f"folder:{tmp_path / 'nowhere'}", n=1, size=8, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_images(f"folder:{tmp_path / 'empty'}", n=1, size=8, seed=0)
    with pytest.raises(ValueError, match="unknown image source"):
        parse_source("imagenet")


def test_imagenet_val_reads_an_image_folder_deterministically(tmp_path):
    for label in ("n01440764", "n01443537"):
        for i in range(4):
            _save(tmp_path / label / f"ILSVRC2012_val_{label}_{i}.JPEG", 30 * i + (5 if label[-1] == "4" else 100))
    (tmp_path / "stray.png").write_bytes(b"")  # not inside a class folder: ignored
    first = load_images(f"imagenet-val:{tmp_path}", n=6, size=16, seed=3)
    again = load_images(f"imagenet-val:{tmp_path}", n=6, size=16, seed=3)
    other = load_images(f"imagenet-val:{tmp_path}", n=6, size=16, seed=4)
    assert first.ids == again.ids and torch.equal(first.images, again.images)
    assert first.ids != other.ids
    assert len(set(first.ids)) == 6 and all("n014" in name for name in first.ids)


def test_fashion_mnist_images_are_distinct_rgb():
    images = load_images("fashion-mnist", n=50, size=14, seed=0)
    assert images.images.shape == (50, 3, 14, 14)
    assert torch.equal(images.images[:, 0], images.images[:, 2])
    flat = images.images.flatten(1)
    assert len({tuple(row.tolist()) for row in flat}) == 50
