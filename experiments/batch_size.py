"""Batch size and the linear scaling rule with warmup (Goyal et al. 2017).

    research sweep batch_size --launcher population --seeds 2
    research table batch_size

MNIST-1D with the quickstart's residual MLP, SGD with momentum 0.9, a fixed
budget of 30 epochs: larger batches take fewer steps. Three rules for the
learning rate at batch size B, a Choice axis crossed with the batch sizes:
'fixed lr', 0.02 whatever B; 'linear scaling', 0.02 * B / 32
(`optimizer.reference_batch_size=32`); 'linear scaling + warmup', the same
reached by linear warmup over the first 5 epochs, Goyal et al.'s recipe;
'lr / N (the slides)', 0.02 * 32 / B (`optimizer.batch_scaling='inverse'`),
the lecture slides' "batch x N -> learning rate / N", which contradicts
Goyal's "x N": the slides' rule keeps the step of a loss summed over the
batch, the code's loss is a mean (see the report). Each
rule sets both keys, so the rows of the generic table are the rules. At batch
32 'fixed lr' and 'linear scaling' are the same rate: the product of the axes
trains that point twice, the only repeat. Population launcher: the seeds of
each point train as one vmapped program.
"""

from experiments.common import mnist1d_momentum_config
from research.registry import register
from research.search import Choice, Discrete

BATCH_SIZES = (32, 64, 128, 256, 512, 1024, 2048)
REFERENCE_BATCH_SIZE = 32
BASE_LEARNING_RATE = 0.02
WARMUP_EPOCHS = 5.0
NUM_EPOCHS = 30

# The rules for the rate at batch size B. 'fixed lr + warmup' is left out:
# warmup is the remedy for the large early steps of a scaled rate, and the
# fixed rate takes no large steps.
RULE = Choice({
    'fixed lr': {'optimizer.reference_batch_size': 0,
                 'optimizer.batch_scaling': 'linear',
                 'optimizer.schedule.warmup_epochs': 0.0},
    'linear scaling': {'optimizer.reference_batch_size': REFERENCE_BATCH_SIZE,
                       'optimizer.batch_scaling': 'linear',
                       'optimizer.schedule.warmup_epochs': 0.0},
    'linear scaling + warmup': {
        'optimizer.reference_batch_size': REFERENCE_BATCH_SIZE,
        'optimizer.batch_scaling': 'linear',
        'optimizer.schedule.warmup_epochs': WARMUP_EPOCHS},
    'lr / N (the slides)': {'optimizer.reference_batch_size': REFERENCE_BATCH_SIZE,
                            'optimizer.batch_scaling': 'inverse',
                            'optimizer.schedule.warmup_epochs': 0.0},
})
RULES = RULE.values
AXES = {'rule': RULE, 'train.batch_size': Discrete(BATCH_SIZES)}


@register('batch_size',
          description='Batch size 32-2048 x {fixed lr 0.02, linear scaling 0.02 * batch / 32, linear scaling + 5 epochs of warmup, the slides\' lr / N: 0.02 * 32 / batch} at a fixed 30 epochs: MNIST-1D residual MLP, SGD + momentum 0.9',
          reference='Goyal et al. 2017, "Accurate, large minibatch SGD": the linear scaling rule with warmup keeps the small-batch accuracy up to a large batch, then breaks down; the lecture slides: batch x N -> learning rate / N',
          axes=AXES, report='experiments.batch_size_report:report')
def get_config():
  return mnist1d_momentum_config(learning_rate=BASE_LEARNING_RATE,
                                 batch_size=REFERENCE_BATCH_SIZE, num_epochs=NUM_EPOCHS)
