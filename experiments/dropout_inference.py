"""Dropout at test time: vanilla vs inverted dropout, and Monte-Carlo
averaging over masks (the lecture's E_z f(x, z)) vs the weight-scaling rule.

    research sweep dropout_inference --launcher population --seeds 3 --set data.dir=../shared/data
    research table dropout_inference

Permutation-invariant MNIST (all 60,000 training images, pixels / 255), a
784-256-256-10 ReLU MLP, dropout 0.5 on the hidden units and 0.2 on the
inputs, Adam 1e-3, batch 128, EPOCHS epochs, the final model. Two runs per
seed that differ only in `model.dropout_scaling`: 'inverted' (kept units
scaled by 1 / (1 - p) in training, nothing at test) and 'vanilla' (unscaled
in training, every unit times 1 - p at test). The report
(experiments/dropout_inference_report.py) then evaluates each trained net on
the 10,000 test images with the weight-scaling rule (one deterministic pass)
and with MC dropout, the predicted distribution averaged over K sampled masks
for K in MC_SAMPLES (research/mc_dropout.py): test error and NLL against K.

The lecture's claims: the two scalings are the same network reparametrized,
so they should reach the same test error; weight scaling is a cheap, good
approximation of the ensemble over masks, which MC averaging approaches (or
beats) only with many samples (Srivastava et al. 2014, Fig. 11: about 50).
"""

from research.config import base_config
from research.registry import register
from research.search import Discrete

EPOCHS = 8
HIDDEN = (256, 256)
DROPOUT, INPUT_DROPOUT = 0.5, 0.2
MC_SAMPLES = (1, 2, 5, 10, 20, 50, 100)
MC_SEED = 0  # of the test-time masks (the same draws for every run)
PAPER_SAMPLES = 50  # Srivastava et al. 2014, Fig. 11: MC matches weight scaling


@register('dropout_inference',
          description='Vanilla vs inverted dropout on MNIST 784-256-256-10 (p 0.5, input 0.2), '
                      f'{EPOCHS} epochs; each evaluated with weight scaling and with MC dropout '
                      f'over K = {", ".join(map(str, MC_SAMPLES))} masks',
          reference='the lecture: vanilla and inverted dropout are equivalent; weight scaling '
                    'approximates the ensemble over masks, MC averaging matches it with ~50 '
                    'samples (Srivastava et al. 2014, Fig. 11)',
          axes={'model.dropout_scaling': Discrete(('inverted', 'vanilla'))},
          report='experiments.dropout_inference_report:report')
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = HIDDEN
  c.model.init = 'he_normal'
  c.model.dropout = DROPOUT
  c.model.input_dropout = INPUT_DROPOUT
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = EPOCHS
  c.train.monitor = ''  # nothing is chosen: the final model, all 60,000 images
  c.train.eval_every_epochs = EPOCHS
  c.train.checkpoint_every_epochs = EPOCHS
  return c
