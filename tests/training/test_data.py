"""Batch order: a function of (seed, epoch), every item once per epoch, shards that cover the data."""
import torch
from torch.utils.data import TensorDataset

from fullconv.training.data import InMemory, epoch_order, eval_batches, shard, train_batches

CPU = torch.device("cpu")


def test_order_depends_on_seed_and_epoch_only():
    assert torch.equal(epoch_order(50, 3, 2), epoch_order(50, 3, 2))
    assert not torch.equal(epoch_order(50, 3, 2), epoch_order(50, 3, 3))
    assert not torch.equal(epoch_order(50, 3, 2), epoch_order(50, 4, 2))
    assert torch.equal(epoch_order(50, 3, 2).sort().values, torch.arange(50))


def test_shards_cover_every_item_like_distributed_sampler():
    order = epoch_order(11, 0, 0)
    parts = [shard(order, r, 3) for r in range(3)]
    assert {len(p) for p in parts} == {4}
    assert set(torch.cat(parts).tolist()) == set(range(11))


def test_in_memory_members_get_their_own_orders():
    data = InMemory(torch.arange(10.0)[:, None], torch.arange(10))
    batches = list(train_batches(data, 4, [0, 1], epoch=0, device=CPU))
    assert [tuple(x.shape) for x, _ in batches] == [(2, 4, 1), (2, 4, 1), (2, 2, 1)]
    ys = torch.cat([y for _, y in batches], 1)
    assert torch.equal(ys[0], epoch_order(10, 0, 0)) and torch.equal(ys[1], epoch_order(10, 1, 0))


def test_dataset_path_repeats_its_order_and_sees_every_item():
    data = TensorDataset(torch.arange(10.0)[:, None], torch.arange(10))
    first = torch.cat([y for _, y in train_batches(data, 3, [5], epoch=1, device=CPU)])
    again = torch.cat([y for _, y in train_batches(data, 3, [5], epoch=1, device=CPU)])
    other = torch.cat([y for _, y in train_batches(data, 3, [5], epoch=2, device=CPU)])
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert sorted(first.tolist()) == list(range(10))


def test_eval_shards_are_disjoint_and_complete():
    data = InMemory(torch.arange(7.0)[:, None], torch.arange(7))
    seen = [y for r in range(2) for _, y in eval_batches(data, 2, device=CPU, rank=r, world_size=2)]
    assert sorted(torch.cat(seen).tolist()) == list(range(7))


def test_dataset_path_follows_the_in_memory_order_also_with_workers():
    x, y = torch.arange(23.0)[:, None], torch.arange(23)
    expected = [b for _, b in train_batches(InMemory(x, y), 5, [4, 9], epoch=3, device=CPU)]
    for workers in (0, 2):
        got = [b for _, b in train_batches(TensorDataset(x, y), 5, [4, 9], epoch=3, device=CPU, num_workers=workers)]
        assert len(got) == len(expected) and all(torch.equal(a, b) for a, b in zip(got, expected))
    sharded = [b for _, b in train_batches(TensorDataset(x, y), 5, [4], epoch=3, device=CPU, rank=1, world_size=2)]
    assert torch.equal(torch.cat(sharded), shard(epoch_order(23, 4, 3), 1, 2))
