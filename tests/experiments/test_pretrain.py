import pytest
import torch

from fullconv.experiments.pretrain import check_arch, main, state_file, total_stride
from fullconv.experiments.quadrant import quadrant_model
from fullconv.models import create


def test_pretrain_saves_a_backbone_that_loads_into_the_quadrant_model(tmp_path, capsys):
    out = tmp_path / "backbone.pt"
    assert main(["--arch", "resnet18-w4", "--out", str(out), "--images", "40", "--size", "14", "--epochs", "1",
                 "--batch-size", "20"]) == 0
    assert "Fashion-MNIST" in capsys.readouterr().out
    state = state_file("resnet18-w4", out)
    assert state["fc.weight"].shape == (10, 32)  # 10 Fashion-MNIST classes at width 4·2^3
    model = quadrant_model("resnet18-w4", "same", [0.0] * 3, state)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], value) for key, value in state.items() if not key.startswith("fc."))
    assert loaded["fc.weight"].shape == (2, 32)


def test_architectures():
    assert total_stride("resnet18") == total_stride("resnet18-w8") == total_stride("densenet121") == 32
    assert total_stride("bagnet33") == 8
    assert create("densenet121", num_classes=2).classifier.out_features == 2
    with pytest.raises(ValueError, match="unknown architecture 'resnet19'"):
        check_arch("resnet19")
