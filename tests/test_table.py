"""`research table`: trial records into a results table, figures and W&B.

Records, metrics.jsonl and summary.json files are fabricated here; the
expected cells are computed from the fabricated numbers with NumPy and SciPy.
"""

import dataclasses
import json
import sys
import types

import numpy as np
import pytest
from scipy import stats

from launch import local
from launch import trials as trials_lib
from launch.cli import main
from research import results
from research import tables
from research.search import Discrete, LogUniform

registry = trials_lib.load_registry()  # with the experiments registered

NAME = '_table_test'
LRS = (0.03, 0.001, 0.01)  # written out of order: rows sort numerically
SEEDS = {0.03: (0, 1, 2), 0.001: (0, 1), 0.01: (0, 1, 2)}
DIVERGED = (0.03, 2)  # (lr, seed)
N_TEST, EPOCHS = 1000, 4
PUBLISHED = '95.1% (Someone 2020, Table 2)'
COMMON = 'train.num_epochs=4'


def _write(path, obj):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(obj))


def fabricate(output_dir, rng):
  """Writes the trials of NAME; returns {lr: [finished records]} and all."""
  finished, everything = {}, []
  for lr in LRS:
    finished[lr] = []
    for seed in SEEDS[lr]:
      run_dir = output_dir / NAME / f'seed{seed}-{lr}'
      status = 'diverged' if (lr, seed) == DIVERGED else 'done'
      final = {} if status == 'diverged' else {
          'train/accuracy': rng.uniform(0.9, 1.0),
          'dev/accuracy': rng.uniform(0.8, 0.9),
          'test/accuracy': rng.uniform(0.8, 0.9)}
      data = {'source': 'x', 'train': 100, 'dev': 50, 'test': N_TEST}
      record = {
          'status': status, 'experiment': NAME, 'seed': seed,
          'overrides': [COMMON, f'optimizer.learning_rate={lr!r}'],
          'run_dir': str(run_dir), 'final': final,
          'best': None if status == 'diverged' else {
              'monitor': 'dev/accuracy', 'epoch': 3,
              'test/accuracy': rng.uniform(0.8, 0.9)},
          # The 1e-3 records are older: their test size is in summary.json.
          'data': None if lr == 0.001 else data,
          'wall_time_s': rng.uniform(5, 15),
          'hardware': {'cpu_count': 2, 'jax_backend': 'cpu', 'device_kind': 'cpu',
                       'device_count': 1, 'packages': {'jax': '9.9', 'flax': '8.8',
                                                       'optax': '7.7'}},
          'git': {'commit': 'abcdef1234567890', 'dirty': False},
          'recorded_at': '2026-01-01T00:00:00+00:00',
          'config': {'tracking': {'wandb': 'disabled', 'project': 'p'}},
      }
      _write(run_dir / 'trial.json', record)
      _write(run_dir / 'summary.json', {'data': data})
      rows = [{'epoch': e, 'step': 10 * e, 'train/loss': 2.0 / e,
               'train/accuracy': 0.5 + 0.1 * e, 'dev/loss': 2.2 / e,
               'dev/accuracy': 0.45 + 0.1 * e, 'test/accuracy': 0.4 + 0.1 * e}
              for e in range(1, EPOCHS + 1)]
      (run_dir / 'metrics.jsonl').write_text(
          ''.join(json.dumps(r) + '\n' for r in rows))
      everything.append(record)
      if status == 'done':
        finished[lr].append(record)
  sweep = {'command': f'research sweep {NAME} --seeds 3', 'search': 'grid',
           'launcher': 'local', 'seeds': [0, 1, 2], 'run_dirs': [],
           'wall_time_s': 60.0}
  _write(output_dir / NAME / 'sweeps' / '20260101T000000Z-1.json', sweep)
  return finished, everything, sweep


def mean_std(xs):
  xs = 100 * np.asarray(xs)
  return (f'{xs[0]:.2f}' if len(xs) == 1 else
          f'{np.mean(xs):.2f} ± {np.std(xs, ddof=1):.2f}')


def expected_rows(finished):
  """The table's rows, from the fabricated numbers."""
  rows, means = [], []
  for lr, label in ((0.001, '1e-3'), (0.01, '1e-2'), (0.03, '3e-2')):
    runs = finished[lr]
    test = [r['final']['test/accuracy'] for r in runs]
    errors = (1 - np.mean(test)) * N_TEST
    low, high = stats.beta.ppf([0.025, 0.975], errors + 1, N_TEST - errors + 1)
    means.append(np.mean(test))
    rows.append([
        label, str(len(runs)),
        mean_std([r['final']['train/accuracy'] for r in runs]),
        mean_std([r['final']['dev/accuracy'] for r in runs]),
        mean_std(test),
        mean_std([r['best']['test/accuracy'] for r in runs]),
        f'{100 * low:.2f}–{100 * high:.2f}',
        PUBLISHED if lr == 0.01 else '—',
        f"{np.mean([r['wall_time_s'] for r in runs]):.1f} s",
        '1 diverged' if lr == 0.03 else ''])
  best = int(np.argmax(means))
  rows[best][4] = f'**{rows[best][4]}**'
  return rows


def table_rows(markdown: str) -> list[list[str]]:
  lines = [l for l in markdown.splitlines() if l.startswith('| ')]
  return [[c.strip() for c in l.strip('|').split(' | ')] for l in lines]


@pytest.fixture
def report_calls():
  return []


@pytest.fixture
def experiment(monkeypatch, report_calls):
  def report(inputs):
    report_calls.append(inputs)
    (inputs.figures_dir / 'extra.png').write_bytes(
        (inputs.figures_dir / 'learning_curves.png').read_bytes())
    return '## Extra section\n\nfrom the report'

  monkeypatch.setitem(registry._REGISTRY, NAME, dataclasses.replace(
      registry.get('quickstart'), name=NAME, description='A fabricated sweep.',
      reference='REFERENCES.md §0',
      axes={'optimizer.learning_rate': LogUniform(1e-3, 3e-2, grid=(1e-3, 1e-2, 3e-2))},
      published={'optimizer.learning_rate=1e-2': PUBLISHED}, report=report))
  return NAME


@pytest.fixture
def fabricated(tmp_path, experiment):
  finished, records, sweep = fabricate(tmp_path / 'runs', np.random.default_rng(0))
  return finished, records, sweep, tmp_path / 'runs', tmp_path / 'results'


def _table(output_dir, results_dir, *extra):
  return main(['table', NAME, '--output-dir', str(output_dir),
               '--results-dir', str(results_dir), *extra])


def test_table_has_exactly_the_expected_rows_figures_and_report(
    fabricated, report_calls, capsys):
  finished, records, sweep, output_dir, results_dir = fabricated
  assert _table(output_dir, results_dir, '--wandb', 'disabled', '--window', '2') == 0
  path = results_dir / f'{NAME}.md'
  assert f'wrote {path}' in capsys.readouterr().out
  markdown = path.read_text()
  assert markdown.startswith(f'# {NAME}\n\nA fabricated sweep.\n\n'
                             'Reference: REFERENCES.md §0\n\n## Results\n')

  header, align, *rows = table_rows(markdown)
  assert header == ['learning_rate', 'seeds', 'train acc. %', 'dev acc. %',
                    'test acc. %', 'test acc. % at best checkpoint',
                    'test error % (95% interval)', 'published',
                    'wall time / trial', 'left out']
  assert all(a == '---:' for a in align)
  assert rows == expected_rows(finished)
  assert '(n_test = 1000). It measures test-set sampling noise' in markdown
  assert 'Every trial: `train.num_epochs=4`.' in markdown
  assert 'Left out of the means: 1 diverged run(s).' in markdown

  figures = results_dir / 'figures' / NAME
  for name in ('learning_curves', 'generalization_gap'):
    assert (figures / f'{name}.png').stat().st_size > 1000
    assert f'](figures/{NAME}/{name}.png)' in markdown
  assert 'moving average over 2 epochs' in markdown
  assert 'Train accuracy minus dev accuracy' in markdown

  [inputs] = report_calls
  assert inputs.experiment == NAME and inputs.figures_dir == figures
  assert sorted((r['seed'], r['overrides'][1], r['status']) for r in inputs.records) == \
      sorted((r['seed'], r['overrides'][1], r['status']) for r in records)
  assert inputs.sweeps == [sweep]
  # The sections in order: results, figures, the report's, provenance.
  order = [markdown.index(s) for s in ('## Results', '## Learning curves',
                                       '## Extra section', '## Provenance')]
  assert order == sorted(order)

  provenance = markdown[markdown.index('## Provenance'):]
  assert f'- Sweep command: `research sweep {NAME} --seeds 3`' in provenance
  assert (f'- Command: `research table {NAME} --output-dir {output_dir} '
          f'--results-dir {results_dir} --wandb disabled --window 2`') in provenance
  assert '- Seeds: 0, 1, 2' in provenance
  assert '2 CPU cores, JAX backend cpu (cpu)' in provenance
  assert 'jax 9.9, flax 8.8, optax 7.7; commit abcdef123456' in provenance
  walls = sum(r['wall_time_s'] for r in records)
  # The sweep's elapsed time, not the trials' sum (a population overcounts).
  assert 'in 1.0 min (the elapsed time of 1 sweep(s), 1.0 min, plus' in provenance
  assert f"the 8 trials' own wall times add up to {walls / 60:.1f} min" in provenance


def test_published_points_match_as_parsed_values():
  assert results.parse_point('model.hidden=(800, 800) optimizer.learning_rate=1e-2') \
      == {'model.hidden': (800, 800), 'optimizer.learning_rate': 0.01}
  assert results.parse_point('') == {}
  point = {'optimizer.learning_rate': 0.01, 'data.dir': '/x'}
  keys = ['optimizer.learning_rate']
  assert results.published_for(point, keys, {'optimizer.learning_rate=1e-2': 'p'}) == 'p'
  assert results.published_for(point, keys, {'optimizer.learning_rate=1e-3': 'p'}) is None
  assert results.published_for(point, keys, {'': 'p'}) is None  # names no varied key
  assert results.short_names(['a.x.lr', 'b.x.lr', 'c.wd']) == {
      'a.x.lr': 'a.x.lr', 'b.x.lr': 'b.x.lr', 'c.wd': 'wd'}
  assert [tables.format_value(v, log_scale=True) for v in (3e-3, 2.5e-4, 1.0)] == \
      ['3e-3', '2.5e-4', '1']


def test_discrete_points_sort_in_the_axis_order():
  axes = {'model.activation': Discrete(('tanh', 'relu', 'elu'))}
  records = [{'status': 'done', 'seed': 0, 'overrides': [f'model.activation={a!r}'],
              'final': {'test/accuracy': 0.5}} for a in ('elu', 'tanh', 'relu')]
  table = results.results_table(records, axes=axes)
  assert [row[0] for row in table.rows] == ['tanh', 'relu', 'elu']


def test_table_only_experiment_needs_no_records(tmp_path, monkeypatch, capsys):
  def report(inputs):
    assert inputs.records == [] and inputs.sweeps == []
    return '## Widths\n\ncomputed'

  monkeypatch.setitem(registry._REGISTRY, '_table_only', registry.Experiment(
      '_table_only', None, 'Computed without runs.', report=report))
  assert main(['table', '_table_only', '--output-dir', str(tmp_path / 'runs'),
               '--results-dir', str(tmp_path), '--wandb', 'disabled']) == 0
  markdown = (tmp_path / '_table_only.md').read_text()
  assert markdown.startswith('# _table_only\n\nComputed without runs.\n\n## Widths')
  assert '## Results' not in markdown and '- Seeds: no trials (any seeds are stated in the sections above)' in markdown

  # Nothing to run or sweep; `list` says so.
  capsys.readouterr()
  for command in ('run', 'sweep'):
    assert main([command, '_table_only']) == 2
    assert 'research table _table_only' in capsys.readouterr().err
  assert main(['list']) == 0
  [line] = [l for l in capsys.readouterr().out.splitlines() if '_table_only' in l]
  assert line.endswith('(table only)')


def test_report_named_by_module_is_imported_for_the_table(tmp_path, monkeypatch):
  """A report given as 'module:function' is imported when the table is
  written, not when the experiment is registered."""
  (tmp_path / '_lazy_table_report.py').write_text(
      'def report(inputs):\n'
      '  return f"## Lazy\\n\\nloaded for {inputs.experiment}"\n')
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.delitem(sys.modules, '_lazy_table_report', raising=False)
  monkeypatch.setitem(registry._REGISTRY, '_lazy_table', registry.Experiment(
      '_lazy_table', None, 'Computed by a module imported on demand.',
      report='_lazy_table_report:report'))
  assert '_lazy_table_report' not in sys.modules
  assert main(['table', '_lazy_table', '--output-dir', str(tmp_path / 'runs'),
               '--results-dir', str(tmp_path), '--wandb', 'disabled']) == 0
  assert '_lazy_table_report' in sys.modules
  markdown = (tmp_path / '_lazy_table.md').read_text()
  assert '## Lazy\n\nloaded for _lazy_table' in markdown


def test_trainable_experiment_without_records_exits_2(tmp_path, experiment, capsys):
  assert _table(tmp_path / 'runs', tmp_path, '--wandb', 'disabled') == 2
  assert capsys.readouterr().err.strip() == (
      f'error: no runs of {NAME} under {tmp_path / "runs"}; run '
      f'`research sweep {NAME} ...` or `research run {NAME}` first')
  assert not (tmp_path / f'{NAME}.md').exists()


def test_sweep_writes_a_sweep_record(tmp_path, monkeypatch):
  def fake_launch(trials, *, output_dir, **options):
    return [{'status': 'done', 'overrides': list(t.overrides), 'seed': t.seed,
             'final': {'test/accuracy': 0.5}, 'wall_time_s': 1.0,
             'run_dir': f'{output_dir}/quickstart/seed{t.seed}-{i}'}
            for i, t in enumerate(trials)]

  monkeypatch.setattr(local, 'launch', fake_launch)
  output_dir = tmp_path / 'runs'
  argv = ['sweep', 'quickstart', '--seeds', '2', '--output-dir', str(output_dir),
          '--set', 'model.hidden=(16,)']
  assert main(argv) == 0
  [path] = (output_dir / 'quickstart' / 'sweeps').glob('*.json')
  record = json.loads(path.read_text())
  assert record['command'] == (f'research sweep quickstart --seeds 2 --output-dir '
                               f"{output_dir} --set 'model.hidden=(16,)'")
  assert (record['search'], record['launcher'], record['seeds']) == ('grid', 'local', [0, 1])
  assert record['num_trials'] == 6 and record['statuses'] == {'done': 6}
  assert record['run_dirs'] == [f'{output_dir}/quickstart/seed{s}-{i}'
                                for i, s in enumerate([0, 1] * 3)]
  assert record['started'] <= record['finished'] and record['wall_time_s'] >= 0


def test_trial_records_carry_the_data_sizes(tmp_path):
  data = {'source': 'mnist1d', 'train': 4000, 'dev': 0, 'test': 1000}
  record = trials_lib.record_trial(
      trials_lib.Trial('quickstart', (), 0), None, tmp_path, 'done',
      summary={'data': data, 'environment': {'git': {'commit': 'x'}}})
  assert record['data'] == data
  assert trials_lib.read_record(tmp_path)['data'] == data


class FakeWandb(types.ModuleType):
  """What the table logs, without W&B."""

  def __init__(self, fail_on_table=False):
    super().__init__('wandb')
    self.inits, self.logged, self.finished = [], [], 0
    self.fail_on_table = fail_on_table
    fake = self

    class Run:
      config = types.SimpleNamespace(update=lambda *a, **k: None)
      summary = {}

      def log(self, data, step=None):
        fake.logged.append((data, step))

      def finish(self):
        fake.finished += 1

    class Table:
      def __init__(self, columns, data):
        if fake.fail_on_table:
          raise RuntimeError('no tables today')
        self.columns, self.data = columns, data

    class Image:
      def __init__(self, path):
        self.path = path

    self.Table, self.Image, self._run = Table, Image, Run
    self.Settings = lambda **kwargs: kwargs

  def init(self, **kwargs):
    self.inits.append(kwargs)
    return self._run()


def test_table_and_figures_are_logged_to_wandb(fabricated, monkeypatch, report_calls):
  finished, _, sweep, output_dir, results_dir = fabricated
  fake = FakeWandb()
  monkeypatch.setitem(sys.modules, 'wandb', fake)
  # The records say tracking.wandb=disabled: by default nothing is logged.
  assert _table(output_dir, results_dir) == 0
  assert not fake.inits

  assert _table(output_dir, results_dir, '--wandb', 'offline') == 0
  [init] = fake.inits
  assert (init['mode'], init['job_type'], init['name']) == ('offline', 'table', f'table-{NAME}')
  assert init['project'] == 'p'
  assert init['config'] == {'experiment': NAME, 'sweep_commands': [sweep['command']]}
  [(logged, _)] = fake.logged
  assert logged['results'].columns[:2] == ['learning_rate', 'seeds']
  assert logged['results'].data == [[c.replace('**', '') for c in row]
                                    for row in expected_rows(finished)]
  figures = results_dir / 'figures' / NAME
  assert {k: v.path for k, v in logged.items() if k != 'results'} == {
      f'figures/{n}': str(figures / f'{n}.png')
      for n in ('extra', 'generalization_gap', 'learning_curves')}
  assert fake.finished == 1


def test_a_wandb_failure_warns_and_the_table_is_still_written(fabricated, monkeypatch):
  _, _, _, output_dir, results_dir = fabricated
  fake = FakeWandb(fail_on_table=True)
  monkeypatch.setitem(sys.modules, 'wandb', fake)
  with pytest.warns(RuntimeWarning, match='no tables today'):
    assert _table(output_dir, results_dir, '--wandb', 'offline') == 0
  assert (results_dir / f'{NAME}.md').exists() and fake.finished == 1


def test_many_points_are_split_over_figures_in_table_order(tmp_path, monkeypatch):
  from launch import table as table_lib  # pylint: disable=g-import-not-at-top
  from research import plots  # pylint: disable=g-import-not-at-top
  records = []
  for i, rate in enumerate(np.linspace(0.0, 0.55, 12)[::-1]):
    run_dir = tmp_path / f'seed0-{i}'
    run_dir.mkdir()
    (run_dir / 'metrics.jsonl').write_text(json.dumps(
        {'epoch': 1, 'step': 1, 'train/accuracy': 0.9, 'test/accuracy': 0.8}) + '\n')
    records.append({'status': 'done', 'seed': 0, 'record_dir': str(run_dir),
                    'overrides': [f'model.dropout={float(rate)!r}'],
                    'final': {'test/accuracy': 0.8}})
  drawn = []
  monkeypatch.setattr(plots, 'learning_curves', lambda curves, path, **kw: drawn.append(
      ('curves', list(curves), path.name)))
  monkeypatch.setattr(plots, 'generalization_gap', lambda gaps, path, **kw: drawn.append(
      ('gap', list(gaps), path.name)))
  (tmp_path / 'learning_curves_3.png').write_bytes(b'stale')
  (tmp_path / 'other.png').write_bytes(b'a report figure')

  table = results.results_table(records)
  sections = table_lib.figure_sections('x', table, tmp_path, window=5)
  assert [(kind, name) for kind, _, name in drawn] == [
      ('curves', 'learning_curves.png'), ('gap', 'generalization_gap.png'),
      ('curves', 'learning_curves_2.png'), ('gap', 'generalization_gap_2.png')]
  labels = [label for kind, labels, _ in drawn if kind == 'curves' for label in labels]
  assert labels == table.labels and labels[0] == 'dropout=0' and len(labels) == 12
  assert max(len(l) for _, l, _ in drawn) <= table_lib.MAX_POINTS_PER_FIGURE
  assert '![learning curves](figures/x/learning_curves_2.png)' in sections
  assert not (tmp_path / 'learning_curves_3.png').exists()
  assert (tmp_path / 'other.png').exists()


def test_a_choice_axis_is_shown_by_its_option_names_in_option_order():
  from research.search import Choice  # pylint: disable=g-import-not-at-top
  axes = {'unit': Choice({'relu': {'model.activation': 'relu'},
                          'maxout': {'model.activation': 'relu', 'model.maxout_pieces': 2},
                          'tanh': {'model.activation': 'tanh'}}),
          'model.residual': Discrete((False, True))}
  accuracy = {('tanh', False): 0.6, ('maxout', False): 0.7, ('relu', False): 0.8,
              ('tanh', True): 0.65, ('maxout', True): 0.75, ('relu', True): 0.85}
  overrides = {'relu': ["model.activation='relu'"], 'tanh': ["model.activation='tanh'"],
               'maxout': ["model.activation='relu'", 'model.maxout_pieces=2']}
  records = [{'status': 'done', 'seed': 0, 'overrides': [*overrides[u], f'model.residual={r}'],
              'final': {'train/accuracy': 1.0, 'test/accuracy': a},
              'data': {'test': 1000}, 'wall_time_s': 1.0}
             for (u, r), a in accuracy.items()]
  table = results.results_table(
      records, axes=axes,
      published={"model.activation='relu' model.maxout_pieces=2 model.residual=True": '76%'})
  assert table.headers[:2] == ['unit', 'residual']
  assert [row[:2] for row in table.rows] == [
      ['relu', 'False'], ['relu', 'True'], ['maxout', 'False'], ['maxout', 'True'],
      ['tanh', 'False'], ['tanh', 'True']]
  published = table.headers.index('published')
  assert [row[published] for row in table.rows] == ['—', '—', '—', '76%', '—', '—']
  assert table.labels[3] == 'unit=maxout residual=True'


@pytest.mark.slow
def test_plain_runs_and_sweep_trials_make_one_table(tmp_path, capsys):
  """Runs of `research run` (no trial.json) are rows like a sweep's trials:
  their overrides are what they change from the experiment's config, and a
  plain run and a trial of the same point pool their seeds."""
  root, out = tmp_path / 'runs', tmp_path / 'results'
  common = ['--set', 'train.num_epochs=1', '--set', 'model.hidden=(8,)',
            '--set', 'tracking.wandb=disabled', '--set', 'tracking.progress=false',
            '--set', f'tracking.output_dir={root}']
  for seed, lr in ((0, 0.003), (1, 0.003), (0, 0.01)):
    assert main(['run', 'quickstart', *common, '--set', f'seed={seed}',
                 '--set', f'optimizer.learning_rate={lr}']) == 0
  # A sweep's trial of the lr 0.01 point, seed 1.
  trial = trials_lib.Trial('quickstart', (
      'train.num_epochs=1', 'model.hidden=(8,)', 'optimizer.learning_rate=0.01'), 1)
  record = trials_lib.run_trial(trial, root, ['tracking.wandb=disabled'])
  assert record['status'] == 'done'
  plain = [p for p in (root / 'quickstart').iterdir() if not (p / 'trial.json').exists()]
  assert len(plain) == 3
  capsys.readouterr()

  assert main(['table', 'quickstart', '--output-dir', str(root),
               '--results-dir', str(out), '--wandb', 'disabled']) == 0
  markdown = (out / 'quickstart.md').read_text()
  header, _, *rows = table_rows(markdown)
  assert header[:2] == ['learning_rate', 'seeds']
  assert [row[:2] for row in rows] == [['3e-3', '2'], ['1e-2', '2']]
  summaries = {(json.loads((p / 'config.json').read_text())['seed'],
                json.loads((p / 'config.json').read_text())['optimizer']['learning_rate']):
               json.loads((p / 'summary.json').read_text())
               for p in (root / 'quickstart').iterdir() if p.name.startswith('seed')}
  test = [summaries[(s, 0.003)]['final']['test/accuracy'] for s in (0, 1)]
  assert rows[0][header.index('test acc. %')].strip('*') == mean_std(test)
  assert 'Every trial: `model.hidden=(8,)`, `train.num_epochs=1`.' in markdown
  assert '- Seeds: 0, 1' in markdown
  assert (out / 'figures' / 'quickstart' / 'learning_curves.png').exists()


def test_where_a_run_was_shown_or_computed_is_no_point_of_the_table():
  """`--set tracking.wandb=...` or `parallel.*` on a sweep changes how it ran,
  not what: its trials pool with runs that did not set it."""
  records = [
      {'status': 'done', 'seed': 0, 'final': {'test/accuracy': 0.5},
       'overrides': ['optimizer.learning_rate=0.01', 'tracking.wandb=disabled']},
      {'status': 'done', 'seed': 1, 'final': {'test/accuracy': 0.7},
       'overrides': ['optimizer.learning_rate=0.01', 'parallel.mode=pmap']},
      {'status': 'done', 'seed': 2, 'final': {'test/accuracy': 0.6},
       'overrides': ['optimizer.learning_rate=0.01']},
      {'status': 'done', 'seed': 0, 'final': {'test/accuracy': 0.4},
       'overrides': ['optimizer.learning_rate=0.1', 'tracking.wandb=disabled']}]
  table = results.results_table(records)
  assert table.headers[:2] == ['learning_rate', 'seeds']
  assert [row[:2] for row in table.rows] == [['0.01', '3'], ['0.1', '1']]
