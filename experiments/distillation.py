"""Knowledge distillation on MNIST (Hinton, Vinyals & Dean 2015, §3): a small
student trained alone vs trained on a teacher's softened distribution, in two
settings.

    python -m experiments.distillation_run --data-dir ../shared/data

1. All 60,000 training images: one large dropout teacher, a 784-30-10 student.
2. Few training images (5,000; the other 55,000 held out as an unused dev
   split): an ensemble of dropout teachers and an unregularized 784-300-100-10
   student that overfits its hard labels, the regime where Hinton et al. say
   soft targets help.

In each, the teacher trains first, then the student alone and distilled at
each temperature (3 seeds each); a run already finished (same config hash) is
reused. Writes experiments/results/distillation.md (experiments/
distillation_run.py trains, experiments/distillation_report.py writes the
text).
"""

from research.config import base_config
from research.registry import register

STUDENT_HIDDEN = 30


@register('distillation',
          description='MNIST: a student alone vs distilled from a dropout teacher over T, on all 60,000 and on 5,000 training images (python -m experiments.distillation_run)',
          reference='table: experiments/results/distillation.md; Hinton et al. 2015 §3')
def get_config():
  """The student: 784-30-10 ReLU, no dropout, Adam 1e-3, batch 128,
  pixels / 255, all 60,000 training images, evaluated at the last epoch."""
  c = base_config()
  c.data.name = 'mnist'
  c.data.normalization = 'unit_interval'
  c.model.hidden = (STUDENT_HIDDEN,)
  c.model.init = 'he_normal'
  c.optimizer.name = 'adam'
  c.optimizer.learning_rate = 1e-3
  c.train.batch_size = 128
  c.train.num_epochs = 15
  c.train.monitor = ''
  c.train.checkpoint_every_epochs = 100  # the last epoch is always saved
  return c


if __name__ == '__main__':
  # The table's command; importing it here keeps registering this experiment
  # light (`research list` imports every experiment, and distillation_run JAX).
  from experiments import distillation_run  # pylint: disable=g-import-not-at-top
  distillation_run.main()
