"""Base configs, and the tally of final results, that several experiments share."""

from research.config import base_config
from research.results import FINISHED


def image_mlp_config(dataset: str = 'fashion_mnist'):
  """The MLP the regularization, augmentation and ensemble tables compare on:
  784-256-256-10 ReLU (He-normal init), pixels / 255, 5,000 dev examples held
  out, Adam 1e-3, batch 128, 15 epochs, best checkpoint by dev accuracy."""
  c = base_config()
  c.data.name = dataset
  c.data.normalization = 'unit_interval'
  c.data.dev_size = 5000
  c.model.hidden = (256, 256)
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = 15
  c.train.monitor = 'dev/accuracy'
  c.train.checkpoint_every_epochs = 15
  return c


def mnist1d_residual_config(*, depth: int = 2, dev_size: int = 0):
  """The quickstart's residual MLP on MNIST-1D: 40-100-...-100-10 ReLU with a
  skip around each hidden layer after the first, PyTorch's default init;
  `depth` hidden layers, `dev_size` examples held out of training. Callers
  set the optimizer and the budget."""
  c = base_config()
  c.data.name = 'mnist1d'
  c.data.dev_size = dev_size
  c.model.hidden = (100,) * depth
  c.model.residual = True
  c.model.init = 'pytorch'
  return c


def mnist1d_momentum_config(*, learning_rate: float, batch_size: int,
                            num_epochs: int):
  """`mnist1d_residual_config` with SGD + momentum 0.9, trained to the end
  (no monitor): the base of the schedules and batch-size tables, which vary
  the rate around it."""
  c = mnist1d_residual_config()
  c.optimizer.name = 'momentum'
  c.optimizer.hparams.momentum = 0.9
  c.optimizer.learning_rate = learning_rate
  c.train.batch_size = batch_size
  c.train.num_epochs = num_epochs
  c.train.monitor = ''  # the final model counts
  c.train.checkpoint_every_epochs = num_epochs
  return c


def final_outcomes(**extra) -> dict:
  """An empty tally of a point's runs: final test accuracies, final train
  losses, and how many runs were left out (with `extra` keys beside)."""
  return {'test': [], 'train_loss': [], 'left_out': 0, **extra}


def add_final_outcome(outcomes: dict, record) -> None:
  """Adds a trial record to its point's `final_outcomes` tally; a run that did
  not finish (diverged, failed) or has no test accuracy counts as left out."""
  final = record.get('final') or {}
  if record.get('status') in FINISHED and 'test/accuracy' in final:
    outcomes['test'].append(final['test/accuracy'])
    if 'train/loss' in final:
      outcomes['train_loss'].append(final['train/loss'])
  else:
    outcomes['left_out'] += 1
