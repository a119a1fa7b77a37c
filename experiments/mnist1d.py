"""MNIST-1D's published baselines (REFERENCES.md §1, Greydanus & Kobak 2020).

    research sweep mnist1d --launcher population --seeds 3
    research table mnist1d

Logistic regression (40 -> 10) and the authors' residual MLP, each on the
raw inputs and under one fixed random permutation of the 40 positions, with
the authors' recipe (the `quickstart` config: Adam 1e-2, batch 100 in order
without shuffling, 6000 steps, cross-entropy, PyTorch's default init). The
report sets each mean over seeds beside its accept band.
"""

from experiments import bands, quickstart
from research import results
from research.registry import register
from research.search import Choice, Discrete
from research.tables import markdown_table

LOGISTIC = {'model.hidden': (), 'model.residual': False}
MLP = {'model.hidden': (100, 100), 'model.residual': True}
MODELS = {'logistic regression': LOGISTIC, 'MLP': MLP}

# (model, permuted) -> (published test accuracy, accept band in %, a note).
BANDS = {
    ('logistic regression', False): ('31.5% (README: 32%)', (30.0, 33.5), 'train ≈ 37%'),
    ('MLP', False): ('64.6% / 65.1% (README: 68%)', (62.5, 68.0), 'train ≥ 98%'),
    ('logistic regression', True): ('31.5%', None, 'within 2 points of unpermuted'),
    ('MLP', True): ('66.0%', None, 'within 2 points of unpermuted'),
}


def _override_items(model: str, permuted: bool) -> tuple[str, ...]:
  keys = {**MODELS[model], 'data.permute_inputs': permuted}
  return results.format_overrides(keys)


def _overrides(model: str, permuted: bool) -> str:
  return ' '.join(_override_items(model, permuted))


def report(inputs) -> str:
  def mean(point, key='test/accuracy'):
    return bands.mean_accuracy(inputs.records, _override_items(*point), key)

  rows = []
  for (model, permuted), (published, band, note) in BANDS.items():
    (test, seeds), (train, _) = mean((model, permuted)), mean(
        (model, permuted), 'train/accuracy')
    if test is None:
      rows.append([model, 'yes' if permuted else 'no', '0', '—', '—', published,
                   note, 'not run'])
      continue
    if band is not None:
      accept = f'{band[0]:.1f}–{band[1]:.1f}%'
      verdict = band[0] <= test <= band[1]
      if model == 'MLP':
        verdict = verdict and train >= 98.0
    else:
      unpermuted, _ = mean((model, False))
      accept = 'within 2 points of unpermuted'
      verdict = unpermuted is not None and abs(test - unpermuted) <= 2.0
    rows.append([model, 'yes' if permuted else 'no', str(seeds),
                 f'{test:.1f}%', f'{train:.1f}%', published,
                 accept + (f' ({note})' if band is not None else ''),
                 '**yes**' if verdict else '**no**'])
  return '\n\n'.join([
      '## Against REFERENCES.md §1',
      'Means over seeds of the final test and train accuracy. The MLP\'s band '
      'also asks train ≥ 98%; the permuted rows are judged against the '
      'unpermuted mean of the same model. On 1,000 test examples one accuracy '
      'near 65% is known to about ±3 points (95% interval), near 32% to ±2.9.',
      markdown_table(['model', 'permuted', 'seeds', 'test acc.', 'train acc.',
                      'published', 'accept', 'in band'], rows,
                     align='llrrrlll'),
  ])


@register('mnist1d',
          description='MNIST-1D baselines: logistic regression and the residual MLP, '
                      'raw and under a fixed permutation of the 40 inputs, the authors\' recipe',
          reference='REFERENCES.md §1: logistic 30.0-33.5% (train ≈ 37%), MLP 62.5-68.0% '
                    '(train ≥ 98%), permuted within 2 points of unpermuted; means of ≥ 3 seeds',
          axes={'model': Choice(MODELS),
                'data.permute_inputs': Discrete((False, True))},
          published={_overrides(m, p): text for (m, p), (text, _, _) in BANDS.items()},
          report=report)
def get_config():
  return quickstart.get_config()
