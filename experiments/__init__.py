"""Registered experiments: one file per table. Importing this package
registers them all (every module directly in this package)."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  if not _module.ispkg and _module.name not in ('at_init', 'bands', 'common', 'grid'):
    importlib.import_module(f'{__name__}.{_module.name}')
