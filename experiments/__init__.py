"""Registered experiments: one file per table. Importing this package registers them."""

from experiments import mnist_mlp, quickstart  # pylint: disable=unused-import
