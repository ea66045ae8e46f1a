"""Seeded synthetic data generators and readers of the experiments' data sets."""
from .splits import disjoint_indices, split_generator, split_seed

__all__ = ["disjoint_indices", "split_generator", "split_seed"]
