import torch

from fullconv import training
from fullconv.metrics import shift
from fullconv.utils import distributed


def test_one_process_is_rank_zero_of_one_and_reductions_are_identity():
    info = distributed.info()
    assert (info.rank, info.world_size, info.is_main) == (0, 1, True)
    tensor = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_sum(tensor) is tensor and tensor.tolist() == [1.0, 2.0]
    assert distributed.broadcast({"a": 1}) == {"a": 1}


def test_training_and_metrics_use_the_one_implementation():
    assert training.distributed.all_reduce_sum is distributed.all_reduce_sum
    assert training.distributed.info is distributed.info and training.DistInfo is distributed.DistInfo
    assert shift.distributed is distributed
