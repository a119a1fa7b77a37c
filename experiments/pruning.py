"""Magnitude pruning of LeNet-300-100 on MNIST: test accuracy against sparsity,
one-shot against iterative (Han et al., 2015, "Learning both Weights and
Connections for Efficient Neural Networks").

    python -m experiments.pruning_run --data-dir ../shared/data [--seeds 2]

Trains the dense net per seed, then for each sparsity: one-shot pruning without
fine-tuning (evaluated here), one-shot pruning + fine-tuning, iterative pruning
(rounds of prune + fine-tune, the same fine-tuning epochs in total), and one-shot
per-layer pruning + fine-tuning. Every fine-tuning is a run started with
`train.init_from`, so the command reuses the runs it finished before.
Writes experiments/results/pruning.md (experiments/pruning_run.py trains,
prunes and evaluates).
"""

from research.config import base_config
from research.registry import register

PUBLISHED = ('Han et al. (2015), Table 1 and 2: LeNet-300-100 on MNIST (Caffe), '
             '1.64% test error dense; 1.59% after iterative pruning with '
             'retraining (L2 regularization) to 8% of the weights kept '
             '(267K -> 22K, 12x): fc1 8%, fc2 9%, fc3 26% kept.')


@register('pruning', description='LeNet-300-100 on MNIST, magnitude pruning: one-shot vs iterative, global vs per layer (python -m experiments.pruning_run)',
          reference='Han et al. 2015 (1.64% dense error, 12x pruned without loss); table: experiments/results/pruning.md')
def get_config():
  """The dense net: 784-300-100-10 ReLU (Glorot-uniform, as Caffe's LeNet),
  pixels / 255, Adam 1e-3, batch 128, trained on all 60,000 images."""
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = (300, 100)
  c.model.init = 'xavier_uniform'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = 15
  c.train.monitor = ''  # the final net is pruned and reported
  c.train.checkpoint_every_epochs = 100  # only the final state is needed
  return c


if __name__ == '__main__':
  # The table's command; importing it here keeps registering this experiment
  # light (`research list` imports every experiment, and pruning_run JAX).
  from experiments import pruning_run  # pylint: disable=g-import-not-at-top
  pruning_run.main()
