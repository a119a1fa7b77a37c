"""Dotted keys: reading, setting and overriding a config's values, and the
difference between two configs.

A config's keys are those of `sections.base_config()`, except under an open
section (`optimizer.hparams`), whose keys the selected optimizer defines and
`research.train.resolve` checks.
"""

import ast
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import ml_collections

from research.config.sections import SELECTORS, base_config
from research.errors import ConfigError

# Sections whose keys are not fixed by the base config.
OPEN_SECTIONS = tuple(SELECTORS.values())


def parse_value(text: str) -> Any:
  """`'1e-3'` -> 0.001, `'(512, 512)'` -> tuple, `'true'` -> True, else the string."""
  lowered = text.strip().lower()
  if lowered in ('true', 'false'):
    return lowered == 'true'
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text
  return tuple(value) if isinstance(value, list) else value


def get_value(config, key: str) -> Any:
  node = config
  for part in key.split('.'):
    node = node[part]
  return node


def flatten(config: ml_collections.ConfigDict | Mapping[str, Any],
            prefix: str = '') -> dict[str, Any]:
  """{dotted key: value} of every leaf; an empty section is left out."""
  items = config.items() if hasattr(config, 'items') else config
  flat = {}
  for key, value in items:
    if isinstance(value, (ml_collections.ConfigDict, Mapping)):
      flat.update(flatten(value, f'{prefix}{key}.'))
    else:
      flat[f'{prefix}{key}'] = value
  return flat


def _known(node: ml_collections.ConfigDict, prefix: str) -> str:
  return ', '.join(f'{prefix}{k}' for k in sorted(node.keys()))


def _unknown_key(key: str, node, prefix: str, part: str) -> ConfigError:
  close = difflib.get_close_matches(part, list(node.keys()), n=1)
  hint = f' Did you mean {prefix}{close[0]}?' if close else ''
  for open_section in OPEN_SECTIONS:
    if prefix == open_section.rsplit('.', 1)[0] + '.':
      hint += (f' Its own hyperparameters are set as {open_section}.<name> '
               f'(e.g. {open_section}.{part}).')
  return ConfigError(f'{key}: unknown config key.{hint} Known keys here: '
                     f'{_known(node, prefix)}')


def _resolve_parent(config: ml_collections.ConfigDict, key: str):
  """(parent section, leaf name) of a dotted key, or a ConfigError."""
  parts = key.split('.')
  node = config
  for depth, part in enumerate(parts):
    prefix = '.'.join(parts[:depth])
    is_open = prefix in OPEN_SECTIONS
    prefix = prefix + '.' if prefix else ''
    if not isinstance(node, ml_collections.ConfigDict):
      raise ConfigError(f'{key}: {prefix[:-1]} is a value, not a section')
    last = depth == len(parts) - 1
    if part not in node:
      if is_open and last:
        return node, part  # a new hyperparameter: resolve checks its name
      raise _unknown_key(key, node, prefix, part)
    if last:
      if isinstance(node[part], ml_collections.ConfigDict):
        raise ConfigError(f'{key}: is a section; set one of its keys: '
                          f'{_known(node[part], key + ".") or "(none yet)"}')
      return node, part
    node = node[part]
  raise AssertionError('unreachable')


def checked_value(key: str, current: Any, value: Any) -> Any:
  """`value` in the type of the value it replaces, or a ConfigError."""
  if current is None:
    return value
  if isinstance(current, tuple) and isinstance(value, (int, float, str)):
    return (value,)  # `--set model.hidden=100` means one hidden layer
  if isinstance(current, tuple) and isinstance(value, list):
    return tuple(value)
  if isinstance(current, bool) != isinstance(value, bool):
    raise ConfigError(f'{key}: expected a {type(current).__name__}, '
                      f'got {value!r}')
  if isinstance(current, float) and isinstance(value, int):
    return float(value)
  if not isinstance(value, type(current)):
    raise ConfigError(f'{key}: expected a {type(current).__name__}, '
                      f'got {value!r} ({type(value).__name__})')
  return value


def set_value(config: ml_collections.ConfigDict, key: str, value: Any) -> None:
  """Sets a dotted key, keeping the type of the value it replaces. Setting a
  selector (`optimizer.name`) to another value empties the section it
  selects (`optimizer.hparams`): those settings were the other optimizer's."""
  parent, leaf = _resolve_parent(config, key)
  if leaf in parent:
    value = checked_value(key, parent[leaf], value)
  dependent = SELECTORS.get(key)
  with parent.unlocked():
    changed = parent.get(leaf) != value
    parent[leaf] = value
  if dependent and changed:
    section, name = dependent.rsplit('.', 1)
    owner = get_value(config, section)
    with owner.unlocked():
      owner[name] = ml_collections.ConfigDict()


def _selectors_first(items: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
  """Selectors before the rest, so that `optimizer.hparams.momentum=0.5` holds
  whether it comes before or after `optimizer.name=momentum`."""
  items = list(items)
  return sorted(items, key=lambda kv: kv[0] not in SELECTORS)


def split_override(item: str) -> tuple[str, str]:
  if '=' not in item:
    raise ConfigError(f'{item!r}: an override is written key=value, '
                      'e.g. optimizer.learning_rate=0.01')
  key, text = item.split('=', 1)
  return key.strip(), text


def copy(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A mutable deep copy (also of a resolved, frozen config)."""
  return ml_collections.ConfigDict(config.to_dict())


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Iterable[str]) -> ml_collections.ConfigDict:
  """Applies `key=value` strings to a copy of `config` (selectors first)."""
  parsed = [(key, parse_value(text))
            for key, text in map(split_override, overrides)]
  return merge(config, parsed)


def merge(config: ml_collections.ConfigDict,
          values: Mapping[str, Any] | Iterable[tuple[str, Any]]
         ) -> ml_collections.ConfigDict:
  """Applies {dotted key: value} (or (key, value) pairs, in order, selectors
  first) to a copy of `config`."""
  config = copy(config)
  items = values.items() if isinstance(values, Mapping) else values
  for key, value in _selectors_first(items):
    set_value(config, key, value)
  return config


def from_dict(values: Mapping[str, Any],
              base: ml_collections.ConfigDict | None = None
             ) -> ml_collections.ConfigDict:
  """`base` (the base config) with every value of `values` (a run
  directory's config.json) set; keys added since it was written keep their
  defaults."""
  return merge(base_config() if base is None else base, flatten(values))


def differences(config: ml_collections.ConfigDict | Mapping[str, Any],
                reference: ml_collections.ConfigDict | Mapping[str, Any]
               ) -> dict[str, Any]:
  """{dotted key: value} of `config` where it differs from `reference` (or
  where `reference` lacks the key); tuples and lists compare equal."""
  mine, theirs = flatten(config), flatten(reference)
  missing = object()
  return {k: v for k, v in mine.items()
          if not same_value(v, theirs.get(k, missing))}


def same_value(a: Any, b: Any) -> bool:
  """Equal as config values: a tuple and a list (its JSON form) with equal
  items are; True and 1 are not; 1 and 1.0 are (an int given for a float)."""
  if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
    return list(a) == list(b)
  if isinstance(a, bool) or isinstance(b, bool):
    return a is b
  return a == b
