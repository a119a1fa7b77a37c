"""Registered experiments: one file per table. Importing this package registers them."""

from experiments import mnist_mlp, optimizers, quickstart  # pylint: disable=unused-import
