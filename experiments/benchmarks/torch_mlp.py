"""The benchmark's PyTorch side: the same models and optimizers in eager mode.

Needs the optional extra (`pip install -e '.[torch]'`); `training_speed`
imports this module only when torch is installed.

MNIST MLPs (the Keras `mnist_mlp` recipe of experiments/mnist_mlp.py):
`nn.Linear` layers with ReLU and `nn.Dropout(p)` after each hidden layer,
Glorot-uniform weights and zero biases as the recipe (and ours) initialize,
`torch.optim.RMSprop` with the recipe's learning rate, alpha (our `decay`)
and eps. An epoch is one `torch.randperm` of the training tensors, already in
memory, then batches by index slicing; a last partial batch is dropped, as
ours drops it.

MNIST-1D (REFERENCES.md §1, experiments/quickstart.py): the authors'
residual MLP h1 = relu(W1 x), h = h1 + relu(W2 h1), logits = W3 h, with
PyTorch's default initialization, Adam, batches taken in order.

Threads: PyTorch's default `torch.get_num_threads()` (one per core), left
as it is.
"""

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def threads() -> int:
  return torch.get_num_threads()


def as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
  """(N, features) float32 and (N,) int64 tensors sharing NumPy's memory."""
  x = np.ascontiguousarray(np.asarray(x, np.float32).reshape(len(x), -1))
  return torch.from_numpy(x), torch.from_numpy(np.asarray(y, np.int64))


def mnist_mlp(input_dim: int, hidden: Sequence[int], num_classes: int, *,
              dropout: float, seed: int = 0) -> nn.Sequential:
  """Linear -> ReLU -> Dropout per hidden layer, then Linear."""
  torch.manual_seed(seed)
  layers, fan_in = [], input_dim
  for width in hidden:
    layers += [nn.Linear(fan_in, width), nn.ReLU(), nn.Dropout(dropout)]
    fan_in = width
  layers.append(nn.Linear(fan_in, num_classes))
  model = nn.Sequential(*layers)
  for layer in model:
    if isinstance(layer, nn.Linear):
      nn.init.xavier_uniform_(layer.weight)
      nn.init.zeros_(layer.bias)
  return model


def rmsprop(model: nn.Module, *, learning_rate: float, decay: float,
            eps: float) -> torch.optim.Optimizer:
  return torch.optim.RMSprop(model.parameters(), lr=learning_rate,
                             alpha=decay, eps=eps)


class ResidualMLP(nn.Module):
  """The MNIST-1D authors' MLP: 40 -> 100 -> (+ residual 100) -> 10."""

  def __init__(self, input_dim: int = 40, width: int = 100,
               num_classes: int = 10):
    super().__init__()
    self.linear1 = nn.Linear(input_dim, width)
    self.linear2 = nn.Linear(width, width)
    self.linear3 = nn.Linear(width, num_classes)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    h = F.relu(self.linear1(x))
    h = h + F.relu(self.linear2(h))
    return self.linear3(h)


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer,
                x: torch.Tensor, y: torch.Tensor, batch_size: int,
                generator: torch.Generator) -> float:
  """One shuffled pass in whole batches; returns the mean training loss."""
  model.train()
  order = torch.randperm(len(x), generator=generator)
  steps = len(x) // batch_size
  total = torch.zeros(())
  for i in range(steps):
    batch = order[i * batch_size:(i + 1) * batch_size]
    loss = F.cross_entropy(model(x[batch]), y[batch])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    total += loss.detach()
  return float(total) / steps


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
             batch_size: int = 1000) -> float:
  """Accuracy in evaluation mode (no dropout), in chunks of `batch_size`."""
  model.eval()
  correct = sum(int((model(x[i:i + batch_size]).argmax(-1)
                     == y[i:i + batch_size]).sum())
                for i in range(0, len(x), batch_size))
  return correct / len(x)


def epoch_seconds(model, optimizer, x, y, *, batch_size: int, epochs: int,
                  seed: int = 0) -> list[float]:
  """Wall time of each of `epochs` training epochs."""
  generator = torch.Generator().manual_seed(seed)
  seconds = []
  for _ in range(epochs):
    start = time.perf_counter()
    train_epoch(model, optimizer, x, y, batch_size, generator)
    seconds.append(time.perf_counter() - start)
  return seconds


def time_to_accuracy(model, optimizer, train, test, *, batch_size: int,
                     target: float, max_epochs: int, seed: int = 0) -> dict:
  """Trains epoch by epoch, evaluating the test set after each, until its
  accuracy reaches `target`: {'seconds' (training and evaluation), 'epochs',
  'accuracy', 'reached'}."""
  generator = torch.Generator().manual_seed(seed)
  start = time.perf_counter()
  for epoch in range(1, max_epochs + 1):
    train_epoch(model, optimizer, *train, batch_size, generator)
    test_accuracy = accuracy(model, *test)
    if test_accuracy >= target:
      break
  return {'seconds': time.perf_counter() - start, 'epochs': epoch,
          'accuracy': test_accuracy, 'reached': test_accuracy >= target}


def mnist1d_recipe(x: torch.Tensor, y: torch.Tensor, *, steps: int,
                   batch_size: int, learning_rate: float, seed: int = 0,
                   hidden: int = 100, num_classes: int = 10) -> dict:
  """The authors' recipe: their residual MLP, Adam, `steps` batches taken in
  order (wrapping around the data). Returns {'seconds' (model construction
  and training), 'loss' (of the last step)}."""
  start = time.perf_counter()
  torch.manual_seed(seed)
  model = ResidualMLP(x.shape[1], hidden, num_classes)
  optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
  model.train()
  for step in range(steps):
    first = (step * batch_size) % len(x)
    loss = F.cross_entropy(model(x[first:first + batch_size]),
                           y[first:first + batch_size])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
  return {'seconds': time.perf_counter() - start, 'loss': loss.item()}
