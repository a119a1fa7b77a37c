"""The parameters a run evaluates: an average the optimizer keeps, if any.

A Schedule-Free optimizer trains at an interpolated point y and keeps the
average x, which is what it promises to be good; a parameter EMA
(`optimizer.ema_decay`) keeps the running average of the parameters. Both
are found by their state's type anywhere in the optimizer's state (a chain,
`optax.MultiSteps`, a population's stacked state), so this is decided when
the evaluation is traced, and an optimizer without either costs nothing.
"""

import optax

from research.optim.averaging import ema_params, find_ema_state
from research.optim.schedule_free import (find_schedule_free_states,
                                          schedule_free_eval_params)


def evaluation_params(opt_state: optax.OptState,
                      params: optax.Params) -> optax.Params:
  """The EMA's average, else Schedule-Free's x, else `params` themselves.

  (Resolving a config refuses an EMA over a Schedule-Free optimizer.)"""
  if find_ema_state(opt_state) is not None:
    return ema_params(opt_state, params)
  if find_schedule_free_states(opt_state):
    return schedule_free_eval_params(opt_state, params)
  return params
