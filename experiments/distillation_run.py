"""Distillation on MNIST: writes experiments/results/distillation.md.

    python -m experiments.distillation_run --data-dir ../shared/data

Trains the teachers, then the students alone and distilled at each
temperature, in the two settings of experiments/distillation.py (the
registered student config); experiments/distillation_report.py writes the
text of the table.
"""

import argparse
import pathlib
import sys
from collections.abc import Sequence

from experiments import distillation_report as report
from experiments.distillation import STUDENT_HIDDEN
from experiments.grid import Cell, command_line, run_cells, write
from research import ensembles
from research.train.restore import load_trained

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'
TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 20.0)
MNIST_TRAIN_SIZE = 60_000
SMALL_STUDENT_HIDDEN = (300, 100)


def teacher_overrides(epochs: int) -> tuple[str, ...]:
  """The teacher in the spirit of Hinton et al.: 784-1200-1200-10 ReLU,
  dropout 0.2 on the inputs and 0.5 on the hidden units, sized to this CPU."""
  return ('model.hidden=(1200, 1200)', 'model.dropout=0.5',
          'model.input_dropout=0.2', f'train.num_epochs={epochs}')


def small_data_overrides(train_size: int, epochs: int) -> list[str]:
  """Train on `train_size` MNIST images: the rest becomes the dev split
  (drawn with `data.split_seed`, the same images for every run seed), which
  is evaluated once, after the last epoch, not every epoch."""
  if not 0 < train_size < MNIST_TRAIN_SIZE:
    raise SystemExit(f'--small-train: {train_size} must be in '
                     f'(0, {MNIST_TRAIN_SIZE})')
  return [f'data.dev_size={MNIST_TRAIN_SIZE - train_size}',
          f'train.num_epochs={epochs}', f'train.eval_every_epochs={epochs}']


def distilled_cells(teacher_dirs: Sequence[str], temperatures: Sequence[float],
                    alpha: float) -> list[Cell]:
  """The student alone, then distilled from `teacher_dirs` (an ensemble when
  several) at each temperature."""
  teacher = ','.join(teacher_dirs)
  return [Cell('alone')] + [
      Cell(f'T={t:g}', (f'distill.teacher={teacher}', f'distill.temperature={t}',
                        f'distill.alpha={alpha}'))
      for t in temperatures]


def ensemble_test_accuracy(run_dirs: Sequence[str]) -> float:
  """Test accuracy of the members' averaged predicted distributions: the
  distribution an ensemble teacher hands its student, at T = 1."""
  dataset, probabilities = None, []
  for run_dir in run_dirs:
    trained = load_trained(run_dir, dataset=dataset)
    dataset = trained.dataset
    probabilities.append(ensembles.predict_probabilities(
        trained.model, trained.state, dataset.x_test))
  return ensembles.scores(ensembles.average_probabilities(probabilities),
                          dataset.y_test)['accuracy']


def run_setting(*, teacher: Sequence[str], teacher_seeds: Sequence[int],
                student: Sequence[str], seeds: Sequence[int],
                temperatures: Sequence[float], alpha: float,
                output_dir: str) -> report.SettingResults:
  """Trains the teacher(s) (one per seed), then the student alone and
  distilled from all of them."""
  teachers = run_cells('distillation', [Cell('teacher', tuple(teacher))],
                       teacher_seeds, output_dir=output_dir)['teacher']
  if any(t is None for t in teachers):
    raise SystemExit('a teacher diverged: no table')
  dirs = [t['run_dir'] for t in teachers]
  accuracy = (teachers[0]['final']['test/accuracy'] if len(dirs) == 1
              else ensemble_test_accuracy(dirs))
  students = run_cells('distillation', distilled_cells(dirs, temperatures, alpha),
                       seeds, common=student, output_dir=output_dir)
  return report.SettingResults(teachers=teachers, teacher_accuracy=accuracy,
                               students=students, alpha=alpha)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data-dir', default='')
  parser.add_argument('--output-dir', default='runs')
  parser.add_argument('--seeds', type=int, default=3, help='seeds per student row')
  parser.add_argument('--temperatures', default=','.join(f'{t:g}' for t in TEMPERATURES))
  parser.add_argument('--alpha', type=float, default=0.9,
                      help='weight of the soft term (1 - alpha on the hard labels)')
  parser.add_argument('--teacher-epochs', type=int, default=12)
  parser.add_argument('--student-epochs', type=int, default=15)
  parser.add_argument('--student-hidden', type=int, default=STUDENT_HIDDEN,
                      help='units of the student\'s one hidden layer')
  parser.add_argument('--small-train', type=int, default=5000,
                      help='training images of the second setting (0: skip it)')
  parser.add_argument('--small-teachers', type=int, default=3,
                      help='members of the second setting\'s ensemble teacher')
  parser.add_argument('--small-teacher-epochs', type=int, default=60)
  parser.add_argument('--small-student-epochs', type=int, default=30)
  parser.add_argument('--results', default=str(RESULTS / 'distillation.md'),
                      help='where the table is written')
  args = parser.parse_args(argv)
  temperatures = [float(t) for t in args.temperatures.split(',') if t.strip()]
  seeds = list(range(args.seeds))
  data = [f'data.dir={args.data_dir}'] if args.data_dir else []

  full = run_setting(
      teacher=[*data, *teacher_overrides(args.teacher_epochs)], teacher_seeds=[0],
      student=[*data, f'train.num_epochs={args.student_epochs}',
               f'model.hidden=({args.student_hidden},)'],
      seeds=seeds, temperatures=temperatures, alpha=args.alpha,
      output_dir=args.output_dir)
  small = None
  if args.small_train:
    hidden = ', '.join(map(str, SMALL_STUDENT_HIDDEN))
    small = run_setting(
        teacher=[*data, *teacher_overrides(args.small_teacher_epochs),
                 *small_data_overrides(args.small_train, args.small_teacher_epochs)],
        teacher_seeds=list(range(args.small_teachers)),
        student=[*data, f'model.hidden=({hidden})',
                 *small_data_overrides(args.small_train, args.small_student_epochs)],
        seeds=seeds, temperatures=temperatures, alpha=args.alpha,
        output_dir=args.output_dir)

  text = report.document(
      full, small, args=args, seeds=seeds,
      command=command_line('experiments.distillation_run', argv),
      small_student_hidden=SMALL_STUDENT_HIDDEN)
  write(pathlib.Path(args.results), text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
