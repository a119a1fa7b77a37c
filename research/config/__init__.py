"""The run config: its sections and defaults, dotted overrides, files.

A config is an `ml_collections.ConfigDict` whose keys are those of
`base_config()`. Experiments start from the base and change values; users
change them with `--set key=value`, an unknown key stopped here with a
`ConfigError` that names it. This package imports neither JAX nor the
components: `research.train.resolve` checks the values (each section by its
owner), fills in the optimizer's hyperparameters and gives a run its
identity, once, before anything is read or compiled.
"""

from research.config.files import load_config_file, read_run_config
from research.config.keys import (OPEN_SECTIONS, apply_overrides,
                                  checked_value, copy, differences, flatten,
                                  from_dict, get_value, merge, parse_value,
                                  same_value, set_value, split_override)
from research.config.sections import (BATCHINGS, MONITOR_METRICS, MONITOR_MODES,
                                      MONITOR_SPLITS, PARALLEL_MODES,
                                      PRESENTATION_SECTIONS, SELECTORS,
                                      WANDB_MODES, base_config)

__all__ = [
    'BATCHINGS', 'MONITOR_METRICS', 'MONITOR_MODES',
    'MONITOR_SPLITS', 'OPEN_SECTIONS', 'PARALLEL_MODES', 'PRESENTATION_SECTIONS',
    'SELECTORS', 'WANDB_MODES', 'apply_overrides', 'base_config',
    'checked_value', 'copy', 'differences', 'flatten', 'from_dict', 'get_value',
    'load_config_file', 'merge', 'parse_value', 'read_run_config',
    'same_value', 'set_value', 'split_override',
]
