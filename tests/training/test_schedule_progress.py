"""Learning-rate schedules as functions of the epoch, and progress bars that stay quiet off a terminal."""
import math

import pytest

from fullconv.training import TrainConfig
from fullconv.training.loop import LrSchedule
from fullconv.training.progress import progress, progress_enabled


def _lrs(**kwargs):
    cfg = TrainConfig(epochs=6, batch_size=1, lr=1.0, **kwargs)
    schedule = LrSchedule(cfg)
    return [schedule.lr(e) for e in range(cfg.epochs)]


def test_step_cosine_and_warmup():
    assert _lrs(schedule="step", step_size=2, gamma=0.5) == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert _lrs(schedule="cosine") == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 6)) for e in range(6)])
    assert _lrs(warmup_epochs=2) == [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert _lrs(schedule="cosine", warmup_epochs=2)[2] == 1.0


def test_progress_is_silent_off_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("FULLCONV_PROGRESS", raising=False)
    assert not progress_enabled()  # pytest captures stderr: not a TTY
    assert list(progress(range(3), desc="quiet")) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("FULLCONV_PROGRESS", "1")
    assert progress_enabled()
