"""Learning-rate schedules at one learning rate, with and without warmup.

    research sweep schedules --launcher population --seeds 3
    research table schedules

MNIST-1D with the quickstart's residual MLP, SGD with momentum 0.9 at a peak
rate of 0.1 (high enough that a constant rate ends noisy), batch 100, 60
epochs. The axes are the schedules of research/optim/schedules.py (constant,
cosine, linear, inverse_sqrt, sgdr, step) times linear warmup over 0 or 5
epochs. The schedule is a Choice axis: the 'step' option also sets its
`step_epochs` (the rate / 10 at epochs 30 and 45), which every other schedule
must leave at its default (the schedule config rejects a key its schedule
ignores); SGDR keeps its default periods (10, 20, 40 epochs, so a 60-epoch
run ends inside the third). Population launcher: the seeds of each point train
as one vmapped program.
"""

from experiments.common import mnist1d_momentum_config
from research.registry import register
from research.search import Choice, Discrete

WARMUP_EPOCHS = (0.0, 5.0)
NUM_EPOCHS = 60
# The step schedule: the rate / 10 at half and at three quarters of the run.
STEP_EPOCHS = (30.0, 45.0)
# Each schedule with the settings it needs besides the defaults: only the
# step schedule has one, and no other schedule may set it.
SCHEDULE = Choice({
    **{name: {'optimizer.schedule.name': name}
       for name in ('constant', 'cosine', 'linear', 'inverse_sqrt', 'sgdr')},
    'step': {'optimizer.schedule.name': 'step',
             'optimizer.schedule.step_epochs': STEP_EPOCHS},
})
SCHEDULE_NAMES = SCHEDULE.values
AXES = {'schedule': SCHEDULE,
        'optimizer.schedule.warmup_epochs': Discrete(WARMUP_EPOCHS)}


@register('schedules',
          description='Learning-rate schedules (constant, cosine, linear, inverse sqrt, SGDR, step at epochs 30 / 45) x warmup 0 / 5 epochs: MNIST-1D residual MLP, SGD + momentum 0.9 at peak lr 0.1, 60 epochs',
          reference='Loshchilov & Hutter 2017 (SGDR); Goyal et al. 2017 (warmup); Vaswani et al. 2017 (inverse sqrt)',
          axes=AXES, report='experiments.schedules_report:report')
def get_config():
  return mnist1d_momentum_config(learning_rate=0.1, batch_size=100,
                                 num_epochs=NUM_EPOCHS)
