"""Base configs that several experiments share."""

from research.config import base_config


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
