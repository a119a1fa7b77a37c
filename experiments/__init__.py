"""Registered experiments: one file per table. Importing this package registers them."""

from experiments import (augmentation, batchnorm, ensembles, mnist_mlp,  # pylint: disable=unused-import
                         optimizers, quickstart, regularization)
