"""LeCun's MNIST table, the elastic-distortion row (REFERENCES.md §7).

    research sweep lecun_elastic --seeds 1 --set data.dir=../shared/data
    research table lecun_elastic

Published: 2-layer MLP, 800 hidden units, cross-entropy, elastic distortions:
0.7% test error (Simard, Steinkraus & Platt 2003; without distortions 1.6%).
Simard et al. distort every training image anew each time it is shown with a
uniform(-1, 1) displacement field per axis, smoothed by a Gaussian of std
sigma = 4 pixels and scaled by alpha = 34 (the MNIST values usually cited
from the paper, as in its common reimplementations; not rechecked here),
interpolated bilinearly; research/augment/geometric.py does the same on the
device, inside the train step.

The net and data are lecun_mnist's (784-800-10 ReLU, He-normal, pixels / 255,
all 60,000 training images, no dev split, the last epoch is reported), whose
'2-layer, 800 HU' row (Adam, 20 epochs, no distortion: 1.68% error) is the
control. The optimizer is SGD with Nesterov momentum 0.9, batch 128, learning
rate 0.02 with one warmup epoch and a cosine decay to 0 over the run: a
distorted training set is never fit, so the error keeps falling as long as
the rate stays up, and the final decay settles it. The epochs are the budget:
NUM_EPOCHS (the default) runs in about an hour on 2 idle CPU cores (measured
~4.5 s an epoch; ~12 s on the same cores shared with other jobs). Simard et
al. do not state their epochs; the full budget here is 3 seeds of a run 2.5
times longer (~2.5 h a seed on 2 idle cores):

    research sweep lecun_elastic --seeds 3 --set data.dir=../shared/data \\
        --set train.num_epochs=2000
"""

from experiments import bands
from research import results
from research.config import base_config
from research.registry import register
from research.search import Choice

NUM_EPOCHS = 800
PUBLISHED = '0.7% error (Simard et al. 2003, cross-entropy, elastic distortions)'
DISTORTIONS = {
    'elastic, alpha 34, sigma 4': {'augment.elastic_alpha': 34.0,
                                   'augment.elastic_sigma': 4.0},
}


# Accept: test error <= 0.88%, i.e. 0.7% plus the 95% test-set sampling noise
# of an error rate of 0.7% on 10,000 test images (Beta interval 0.55-0.88%);
# lower is agreement too (a better result does not contradict the row).
BAND = (99.12, 100.0)
CLAIM = f'''## The claim and the control

Simard et al. (2003): the same 784-800-10 cross-entropy MLP reaches
1.6% test error on the plain training set and 0.7% with elastic distortions.
Here the control without distortion is lecun_mnist's '2-layer, 800 HU' row
([lecun_mnist.md](lecun_mnist.md), Adam, 20 epochs, 3 seeds); the row below
agrees with the claim when its test error is at most 0.88% (accept band on
the test accuracy: 0.7% plus the 95% sampling noise of 10,000 test images).
The run is train.num_epochs = {NUM_EPOCHS} unless the trial line above says
otherwise; a shorter run than Simard's that lands above the band measures
the budget as much as the method.'''


def report(inputs) -> str:
  return CLAIM + '\n\n' + bands.accept_section(
      inputs.records,
      [bands.Target(name, results.format_overrides(keys), PUBLISHED, BAND)
       for name, keys in DISTORTIONS.items()],
      'REFERENCES.md §7')


@register('lecun_elastic',
          description='LeCun\'s MNIST table: 784-800-10, cross-entropy, elastic distortions '
                      '(Simard 2003, alpha 34, sigma 4); SGD + Nesterov, cosine '
                      f'(needs the MNIST files; {NUM_EPOCHS} epochs, ~1 h on 2 CPU cores)',
          reference='REFERENCES.md §7: 0.7% test error (Simard et al. 2003); accept <= 0.88%',
          axes={'distortion': Choice(DISTORTIONS)},
          published={' '.join(results.format_overrides(k)): PUBLISHED
                     for k in DISTORTIONS.values()},
          report=report)
def get_config():
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = (800,)
  c.model.activation = 'relu'
  c.model.init = 'he_normal'
  c.loss.name = 'cross_entropy'
  c.augment.elastic_alpha = 34.0
  c.augment.elastic_sigma = 4.0
  c.optimizer.name = 'momentum'
  c.optimizer.learning_rate = 0.02
  c.optimizer.hparams.momentum = 0.9
  c.optimizer.hparams.nesterov = True
  c.optimizer.schedule.name = 'cosine'
  c.optimizer.schedule.warmup_epochs = 1.0
  c.train.batch_size = 128
  c.train.num_epochs = NUM_EPOCHS
  c.train.monitor = ''
  c.train.checkpoint_every_epochs = 20
  return c
