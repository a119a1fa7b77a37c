"""Optimizers as Optax transforms, a name -> factory registry, and the builder."""

from research.optim.build import build_optimizer, validate_optimizer_config
from research.optim.registry import get, names

__all__ = ['build_optimizer', 'get', 'names', 'validate_optimizer_config']
