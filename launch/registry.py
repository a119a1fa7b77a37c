"""The experiment registry with every experiment registered, and the error a
launcher raises when it cannot start. Imports no JAX: `research list` and
`research --help` load only this and the experiments' declarations."""

import importlib


class LaunchError(RuntimeError):
  """A launcher cannot start: no scheduler here, no network, a missing module."""


def load_registry():
  """research.registry with the experiments registered (importing the
  `experiments` package registers them)."""
  importlib.import_module('experiments')
  return importlib.import_module('research.registry')
