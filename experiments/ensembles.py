"""Ensembles of independently seeded MLPs on Fashion-MNIST: single model vs
the average of k predicted distributions.

    python -m experiments.ensembles_run [--data-dir ../shared/data] [--members 5]

Writes experiments/results/ensembles.md (experiments/ensembles_run.py trains
the members and scores the ensembles).
"""

from experiments.common import image_mlp_config
from research.registry import register


@register('ensembles', description='k independently seeded MLPs, predicted distributions averaged (python -m experiments.ensembles_run)',
          reference='table: experiments/results/ensembles.md')
def get_config():
  c = image_mlp_config()
  c.model.dropout = 0.3
  return c


if __name__ == '__main__':
  # The table's command; importing it here keeps registering this experiment
  # light (`research list` imports every experiment, and ensembles_run JAX).
  from experiments import ensembles_run  # pylint: disable=g-import-not-at-top
  ensembles_run.main()
