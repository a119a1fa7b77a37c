"""The `research recipe` command's arguments: its steps, their defaults and
its parser. Light to import (the CLI builds every parser for --help); running
the recipe is launch/recipe.py."""

import argparse

DESCRIPTION = """Runs, in order, on the experiment's config (with the
overrides): the initial-loss check, overfitting a few batches, the
learning-rate range test, the coarse learning-rate step (a few rates for ~100
iterations, each diagnosed too small / ok / too large) and a coarse-to-fine
search of the learning rate and weight decay (`research.recipe`), prints each
outcome, and writes them as JSON to OUTPUT_DIR/recipe_NAME/recipe.json (beside
the search's runs and, without --results, the figures) and, with --results, as
a markdown report. The exit code is 1 when a check failed (the initial loss is
off, or the batches were never memorized)."""
STEPS = ('initial_loss', 'overfit', 'lr_range', 'coarse_lr', 'coarse_to_fine')
# Every option's default (the library's own, checked by the tests): the
# command written into a report lists only the options that differ.
DEFAULTS = {
    'steps': ','.join(STEPS), 'output_dir': 'runs', 'results': None,
    'tolerance': 0.25, 'loss_batches': 5,
    'overfit_batches': 5, 'overfit_steps': 500,
    'lr_min': 1e-6, 'lr_max': 10.0, 'lr_steps': 200, 'lr_rule': 'steepest',
    'coarse_lrs': '0.1,0.01,0.001,0.0001', 'coarse_steps': 100,
    'coarse_weight_decay': 1e-4,
    'rounds': 3, 'points': 8, 'top_k': 3, 'epoch_fraction': 0.1,
    'fine_epoch_fraction': 0.3, 'weight_decay_range': '1e-06,0.01',
    'margin': 0.1, 'experiment_axes': False,
}


def add_parser(subparsers) -> argparse.ArgumentParser:
  """Adds `recipe` to the `research` command's subparsers."""
  p = subparsers.add_parser(
      'recipe', help='the recipe for a new network: initial loss, overfit a '
      'few batches, learning-rate range test, coarse learning-rate step, '
      'coarse-to-fine search',
      description=DESCRIPTION,
      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
  p.add_argument('experiment')
  p.add_argument('--set', action='append', metavar='KEY=VALUE',
                 help='override a config value (as `research run`)')
  p.add_argument('--steps', help=f'comma-separated, of {", ".join(STEPS)}')
  p.add_argument('--output-dir', help="the JSON record and the search's runs "
                 'go to OUTPUT_DIR/recipe_EXPERIMENT/')
  p.add_argument('--results', metavar='FILE',
                 help='write a markdown report there, its figures in '
                 'figures/recipe_EXPERIMENT/ beside it')
  g = p.add_argument_group('1. loss at initialization')
  g.add_argument('--tolerance', type=float,
                 help='relative distance from the expected loss that is flagged')
  g.add_argument('--loss-batches', type=int, help='batches averaged')
  g = p.add_argument_group('2. overfitting a few batches')
  g.add_argument('--overfit-batches', type=int,
                 help='the first N batches of train.batch_size')
  g.add_argument('--overfit-steps', type=int, help='steps at most')
  g = p.add_argument_group('3. learning-rate range test')
  g.add_argument('--lr-min', type=float, help='first learning rate')
  g.add_argument('--lr-max', type=float, help='last learning rate')
  g.add_argument('--lr-steps', type=int, help='steps from the first to the last')
  g.add_argument('--lr-rule', help='suggestion: steepest or minimum')
  g = p.add_argument_group('4. coarse learning-rate step')
  g.add_argument('--coarse-lrs', metavar='LR,...',
                 help='learning rates tried, comma-separated')
  g.add_argument('--coarse-steps', type=int, help='iterations at each rate')
  g.add_argument('--coarse-weight-decay', type=float,
                 help='the small weight decay they train with (0: none)')
  g = p.add_argument_group('5. coarse-to-fine search')
  g.add_argument('--rounds', type=int, help='rounds of random search')
  g.add_argument('--points', type=int, help='points per round')
  g.add_argument('--top-k', type=int, help='best points a round narrows to')
  g.add_argument('--epoch-fraction', type=float,
                 help='of train.num_epochs, the budget of a point of the '
                 'first (coarse) round')
  g.add_argument('--fine-epoch-fraction', type=float,
                 help='of train.num_epochs, the budget of a point of the '
                 'later (fine) rounds')
  g.add_argument('--weight-decay-range', metavar='LOW,HIGH',
                 help="log-uniform range of optimizer.weight_decay searched "
                 "with the learning rate; 'none': the learning rate alone")
  g.add_argument('--margin', type=float, help='widening of the narrowed span, '
                 'as a fraction of the current range (log space for log axes)')
  g.add_argument('--experiment-axes', action='store_true',
                 help="search the experiment's registered axes instead of the "
                 "learning rate, a decade each side of the coarse step's pick "
                 "(else the range test's suggestion), and the weight decay")
  p.set_defaults(**DEFAULTS, set=[])
  return p
