"""Registered experiments: one file per table. Importing this package
registers them all (every module directly in this package that registers).

Importing it must stay light (no JAX, SciPy or matplotlib): `research list`
and `research --help` do. An experiment module imports only what registers
it; its heavy parts live in sibling modules it does not import, which are
skipped here: `X_report` (its `research table` report, named to the registry
as 'experiments.X_report:report'), `X_run` (the command that trains and
writes its table, `python -m experiments.X_run`), and the helpers below.
"""

import importlib
import pkgutil

# Modules that register nothing: shared helpers, and the playground command
# (`python -m experiments.playground`, no registered experiment).
_HELPERS = frozenset(('at_init', 'bands', 'common', 'grid', 'playground',
                       'playground_two_wells'))
_HEAVY_SUFFIXES = ('_report', '_run')

for _module in pkgutil.iter_modules(__path__):
  if not (_module.ispkg or _module.name in _HELPERS
          or _module.name.endswith(_HEAVY_SUFFIXES)):
    importlib.import_module(f'{__name__}.{_module.name}')
