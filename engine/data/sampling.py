"""A shuffling, rank-sharded sampler that can resume mid-epoch (its state is two integers)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Like DistributedSampler(shuffle=True, drop_last=False), plus ``state``/``load_state``.

    Each epoch is a permutation seeded by (seed, epoch), padded to a multiple of the world size and
    strided by rank; ``offset`` skips the samples this rank has already consumed in the epoch. It yields
    draws, ``epoch * size + index``, so datasets can seed per-epoch augmentation (datasets.SeededDataset).
    """

    def __init__(self, size: int, *, rank: int = 0, world_size: int = 1, seed: int = 0) -> None:
        if size == 0:
            raise ValueError("cannot sample from an empty dataset")
        self.size = size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0
        self.offset = 0
        self.per_rank = -(-size // world_size)

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = (torch.randperm(self.size, generator=g) + self.epoch * self.size).tolist()
        order += order[: self.per_rank * self.world_size - self.size]
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.offset :])

    def __len__(self) -> int:
        return self.per_rank - self.offset

    def advance(self, consumed: int) -> None:
        """Record that ``consumed`` more samples were used; rolls over to the next epoch at the end."""
        self.offset += consumed
        if self.offset >= self.per_rank:
            self.epoch += 1
            self.offset = 0

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.offset = int(state["epoch"]), int(state["offset"])
