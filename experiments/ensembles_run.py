"""Ensembles on Fashion-MNIST: writes experiments/results/ensembles.md.

    python -m experiments.ensembles_run [--data-dir ../shared/data] [--members 5]

Trains the members (the registered `ensembles` config, experiments/
ensembles.py), then scores the averaged predicted distributions of every
subset of k of them on the test images.
"""

import argparse
import itertools
import pathlib
import sys

from experiments.grid import Cell, command_line, run_cells, total_wall_time, write
from research import ensembles
from research.tables import markdown_table, mean_std, provenance
from research.train.restore import load_trained

RESULTS = pathlib.Path(__file__).resolve().parent / 'results'


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--data-dir', default='')
  parser.add_argument('--members', type=int, default=5)
  parser.add_argument('--output-dir', default='runs')
  args = parser.parse_args(argv)
  common = [f'data.dir={args.data_dir}'] if args.data_dir else []
  results = run_cells('ensembles', [Cell('member')], range(args.members), common=common,
                      output_dir=args.output_dir)
  runs = [s for s in results['member'] if s]
  dataset = None
  probabilities = []
  for summary in runs:
    trained = load_trained(summary['run_dir'], dataset=dataset)
    dataset = trained.dataset
    probabilities.append(ensembles.predict_probabilities(trained.model, trained.state,
                                                         dataset.x_test))
  labels = dataset.y_test
  rows = []
  for k in range(1, len(probabilities) + 1):
    # Every subset of k members: the spread over which members is the ± column.
    subsets = list(itertools.combinations(range(len(probabilities)), k))
    scored = [ensembles.scores(ensembles.average_probabilities(
        [probabilities[i] for i in subset]), labels) for subset in subsets]
    rows.append((k, len(subsets), mean_std([s['accuracy'] for s in scored]),
                 mean_std([s['nll'] for s in scored], scale=1.0, digits=4)))
  command = command_line('experiments.ensembles_run', argv)
  text = f"""# Ensembles on Fashion-MNIST

{args.members} MLPs (784-256-256-10 ReLU, dropout 0.3, Adam 1e-3, batch 128, 15 epochs),
identical but for the seed (initialization, dropout masks, batch order). An
ensemble of k averages the k predicted distributions (softmax outputs) on the
10,000 test images. Each row scores every subset of k members: mean ± std over
the subsets (k = 1 is the single models' spread).

{markdown_table(['members k', 'subsets', 'test acc. %', 'test NLL'], rows, align='rrrr')}

{provenance(command, total_wall_time(results), list(range(args.members)), time_note='the sum of the member runs')}
"""
  write(RESULTS / 'ensembles.md', text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
