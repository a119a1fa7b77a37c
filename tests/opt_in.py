"""Opt-in test sets: cases a marker keeps out of the default run unless an
environment variable or `-m` asks for them (in this project a marker alone
leaves nothing out of the default run)."""

import os


def wanted(config, marker: str, env: str) -> bool:
  """Whether this session asked for `marker`'s cases: `env`=1, or a `-m`
  expression that names the marker without negating it."""
  marks = config.getoption('markexpr', '') or ''
  return (os.environ.get(env) == '1'
          or (marker in marks and f'not {marker}' not in marks))
