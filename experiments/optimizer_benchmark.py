"""The optimizer benchmark's workloads (AlgoPerf-style, external tuning).

    research bench-optimizers --quick                # minutes: the MNIST-1D workloads
    research bench-optimizers --set data.dir=../shared/data    # all five

A workload is a registered experiment with a validation target
(`research.registry.Target`) and a step budget (its `train.num_epochs`). Each
is small enough that a tuning study of every trial trains as one vmapped
population on a CPU in under a minute:

  bench_mnist1d_mlp            MNIST-1D, 40-100-100-10 ReLU MLP
  bench_mnist1d_deep_residual  MNIST-1D, 16 residual ReLU layers of width 64
  bench_mnist_mlp              MNIST (10,000 training examples), 784-128-10
  bench_fashion_mlp            Fashion-MNIST (10,000), 784-128-10
  bench_mnist_bn_sigmoid       MNIST (10,000), 3 x 100 sigmoid with BatchNorm

Every workload trains with batch 100, a 5% linear warmup and then cosine
decay to 0 at the budget (AlgoPerf's baseline schedule), evaluates the dev
split (held out of training) once per epoch and checkpoints only at the end.
An optimizer that evaluates an average (Schedule-Free) keeps the warmup and
drops the decay: that is its point (`launch.bench_optimizers`).

The targets were calibrated by one rule, on NAdamW (AlgoPerf's baseline):
the median over its studies of the best dev accuracy that its fastest trial
reached within the first third of the budget, floored to 0.5 points
(`research bench-optimizers --calibrate`, whose output is in
experiments/results/optimizer_benchmark.md). NAdamW thus reaches each target
in about a third of the budget, and an optimizer up to 3 times slower still
reaches it. Calibrated on 2026-12-02 with `RESEARCH_DATA_DIR=../shared/data
research bench-optimizers --calibrate` (3 studies of 5 trials, 2-core CPU).
"""

import ml_collections

from research.config import base_config
from research.registry import Target, register

EVAL_METRIC = 'dev/accuracy'
WARMUP_FRACTION = 0.05
# Each study is `TRIALS_PER_STUDY` Halton points of the optimizer's own
# search space (AlgoPerf's external tuning: 5 studies of 5 trials).
STUDIES = 3
TRIALS_PER_STUDY = 5
QUICK = {'workloads': ('bench_mnist1d_mlp', 'bench_mnist1d_deep_residual'),
         'studies': 3, 'trials_per_study': 4}
# The optimizers of the table; the default is every registered one
# with a tuning space.
HEADLINE = ('nesterov', 'adam', 'adamw', 'nadamw', 'lion', 'muon',
            'schedule_free_adamw', 'prodigy', 'soap')


def _workload(data: str, hidden: tuple[int, ...], num_epochs: int, *,
              dev_size: int, train_size: int = 0, **model) -> ml_collections.ConfigDict:
  c = base_config()
  c.data.name = data
  c.data.dev_size = dev_size
  c.data.train_size = train_size
  c.data.normalization = 'standardize'
  c.model.hidden = hidden
  for key, value in model.items():
    c.model[key] = value
  c.optimizer.name = 'nadamw'
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule.name = 'cosine'
  c.optimizer.schedule.warmup_epochs = WARMUP_FRACTION * num_epochs
  c.train.batch_size = 100
  c.train.num_epochs = num_epochs
  c.train.monitor = ''  # the benchmark reads the curve: no best checkpoint
  c.train.checkpoint_every_epochs = num_epochs
  c.train.eval_every_epochs = 1
  return c


@register('bench_mnist1d_mlp',
          description='Optimizer benchmark workload: MNIST-1D (3,000 train / 1,000 dev), 40-100-100-10 ReLU MLP, batch 100, 1,200 steps',
          target=Target(EVAL_METRIC, 0.6))
def mnist1d_mlp():
  return _workload('mnist1d', (100, 100), 40, dev_size=1000)


@register('bench_mnist1d_deep_residual',
          description='Optimizer benchmark workload: MNIST-1D (3,000 train / 1,000 dev), 16 residual ReLU layers of width 64, batch 100, 1,200 steps',
          target=Target(EVAL_METRIC, 0.6))
def mnist1d_deep_residual():
  return _workload('mnist1d', (64,) * 16, 40, dev_size=1000, residual=True,
                   init='pytorch')


@register('bench_mnist_mlp',
          description='Optimizer benchmark workload: MNIST (10,000 train / 5,000 dev), 784-128-10 ReLU MLP, batch 100, 1,000 steps',
          target=Target(EVAL_METRIC, 0.935))
def mnist_mlp():
  return _workload('mnist', (128,), 10, dev_size=5000, train_size=10000)


@register('bench_fashion_mlp',
          description='Optimizer benchmark workload: Fashion-MNIST (10,000 train / 5,000 dev), 784-128-10 ReLU MLP, batch 100, 1,000 steps',
          target=Target(EVAL_METRIC, 0.855))
def fashion_mlp():
  return _workload('fashion_mnist', (128,), 10, dev_size=5000, train_size=10000)


@register('bench_mnist_bn_sigmoid',
          description='Optimizer benchmark workload: MNIST (10,000 train / 5,000 dev), 784-100-100-100-10 sigmoid net with BatchNorm before each activation, batch 100, 1,000 steps',
          target=Target(EVAL_METRIC, 0.92))
def mnist_bn_sigmoid():
  return _workload('mnist', (100, 100, 100), 10, dev_size=5000,
                   train_size=10000, activation='sigmoid', batchnorm='before',
                   init='xavier_normal')
