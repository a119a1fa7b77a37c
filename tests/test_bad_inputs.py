"""Every bad input a user can give `research run` gets one clean line.

A table of bad command lines (issue 18: a new user's 45 tries), each run in
process through `launch.cli.main`: exit code 2, one `error:` line on stderr
naming the key, option or file, no traceback, and nothing created under the
test's directory (no run directory, no W&B run). They fail before anything
compiles, so the whole table takes seconds.
"""

import errno
import gzip
import json
import os
import pathlib
from typing import Callable, NamedTuple

import numpy as np
import pytest

import research.train
from launch.cli import main
from research.data import idx


class Case(NamedTuple):
  argv: list[str]  # after `research`; '{tmp}' and setup's keys are filled in
  words: list[str]  # each must appear in stderr (the key, option or file)
  setup: Callable[[pathlib.Path], dict] | None = None  # makes files; -> names


def _quickstart(*overrides: str) -> list[str]:
  return ['run', 'quickstart', *(a for o in overrides for a in ('--set', o))]


# --- files that the cases below point at -------------------------------------


def _write(path: pathlib.Path, data: bytes) -> pathlib.Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(data)
  return path


def _idx_dir(tmp: pathlib.Path, train_images: bytes,
             train_labels: bytes = b'') -> dict:
  """An MNIST directory whose train-images file is `train_images` (it is read
  first, so the other files are never reached unless it is valid)."""
  d = tmp / 'data'
  _write(d / 'train-images-idx3-ubyte', train_images)
  _write(d / 'train-labels-idx1-ubyte', train_labels)
  _write(d / 't10k-images-idx3-ubyte', b'')
  _write(d / 't10k-labels-idx1-ubyte', b'')
  return {'data': d}


def _idx_bytes(array: np.ndarray, tmp: pathlib.Path) -> bytes:
  path = tmp / 'scratch.idx'
  idx.write_idx(path, array)
  data = path.read_bytes()
  path.unlink()
  return data


def _truncated_images(tmp):
  header = bytes([0, 0, 8, 3]) + np.asarray((60000, 28, 28), '>u4').tobytes()
  return _idx_dir(tmp, header + bytes(100))


def _labels_as_images(tmp):
  return _idx_dir(tmp, _idx_bytes(np.zeros(60000, np.uint8), tmp))


def _not_idx(tmp):
  return _idx_dir(tmp, b'<html>404 Not Found</html>')


def _corrupt_gzip(tmp):
  d = _idx_dir(tmp, b'')
  (d['data'] / 'train-images-idx3-ubyte').unlink()
  good = gzip.compress(_idx_bytes(np.zeros((60000, 28, 28), np.uint8), tmp))
  _write(d['data'] / 'train-images-idx3-ubyte.gz', good[:len(good) // 2])
  return d


def _too_few_images(tmp):
  return _idx_dir(tmp, _idx_bytes(np.zeros((100, 28, 28), np.uint8), tmp),
                  _idx_bytes(np.zeros(100, np.uint8), tmp))


def _images_and_labels_disagree(tmp):
  return _idx_dir(tmp, _idx_bytes(np.zeros((100, 28, 28), np.uint8), tmp),
                  _idx_bytes(np.zeros(99, np.uint8), tmp))


def _empty_dir(tmp):
  (tmp / 'empty').mkdir()
  return {'empty': tmp / 'empty'}


def _a_file(tmp):
  return {'file': _write(tmp / 'a_file', b'not a directory')}


def _finished_run(tmp, config, name='teacher', summary=None) -> pathlib.Path:
  d = tmp / name
  _write(d / 'config.json', config if isinstance(config, bytes)
         else json.dumps(config).encode())
  _write(d / 'summary.json', json.dumps(summary or {'status': 'done'}).encode())
  return d


def _teacher_with_unknown_data_key(tmp):
  return {'run': _finished_run(tmp, {'data': {'name': 'mnist1d', 'colour': 1}})}


def _teacher_with_damaged_config(tmp):
  return {'run': _finished_run(tmp, b'{"data": {"name": ')}


def _teacher_not_finished(tmp):
  return {'run': _finished_run(tmp, {'data': {'name': 'mnist1d'}},
                               summary={'status': 'running'})}


def _init_from_with_bad_config(tmp):
  return {'run': _finished_run(tmp, {'model': {'hidden': 'wide'}})}


def _init_from_with_list_config(tmp):
  return {'run': _finished_run(tmp, [1, 2, 3])}


def _config_file_without_get_config(tmp):
  return {'file': _write(tmp / 'my_config.py', b'x = 1\n')}


def _config_file_with_bad_key(tmp):
  return {'file': _write(tmp / 'my_config.py', b'''
from research.config import base_config
def get_config():
  c = base_config()
  c.train.batch_size = 64
  with c.unlocked():
    c.train.batchsize = 64
  return c
''')}


LONG_NAME = 'x' * 300

CASES = {
    # The command line itself.
    'unknown experiment': Case(['run', 'nosuch'], ['nosuch', 'quickstart']),
    'no experiment': Case(['run'], ['EXPERIMENT', '--config']),
    'experiment and --config': Case(
        ['run', 'quickstart', '--config', '{file}'], ['--config'], _a_file),
    '--config not a python file': Case(['run', '--config', '{file}'],
                                       ['--config', 'a_file'], _a_file),
    '--config without get_config': Case(
        ['run', '--config', '{file}'], ['get_config'],
        _config_file_without_get_config),
    '--config with a misspelt key': Case(
        ['run', '--config', '{file}'], ['train.batchsize'],
        _config_file_with_bad_key),
    '--from not a run': Case(['run', '--from', '{empty}'], ['--from', 'empty'],
                             _empty_dir),
    'table-only experiment': Case(['run', 'test_set_size'], ['research table']),
    # --set syntax and keys.
    'override without =': Case(_quickstart('optimizer.learning_rate'),
                               ['optimizer.learning_rate', 'key=value']),
    'empty key': Case(_quickstart('=1'), ['unknown']),
    'unknown top key': Case(_quickstart('nosuch=1'), ['nosuch']),
    'misspelt key': Case(_quickstart('optimizer.lr=0.1'),
                         ['optimizer.lr', 'optimizer.learning_rate']),
    'a section set to a value': Case(_quickstart('model=1'), ['model']),
    'a value used as a section': Case(_quickstart('seed.x=1'), ['seed']),
    'unknown optimizer hparam': Case(_quickstart('optimizer.hparams.nosuch=1'),
                                     ['optimizer.hparams.nosuch']),
    # Types.
    'string for an int': Case(_quickstart('train.batch_size=abc'),
                              ['train.batch_size']),
    'float for an int': Case(_quickstart('train.num_epochs=1.5'),
                             ['train.num_epochs']),
    'bool for a float': Case(_quickstart('optimizer.learning_rate=true'),
                             ['optimizer.learning_rate']),
    'nan as a word': Case(_quickstart('model.dropout=nan'), ['model.dropout']),
    'bad hidden widths': Case(_quickstart('model.hidden=abc'),
                              ['model.hidden']),
    'zero hidden width': Case(_quickstart('model.hidden=(0,)'),
                              ['model.hidden']),
    # Numbers out of range.
    'huge seed': Case(_quickstart('seed=99999999999999999999999'),
                      ['seed', '2**32']),
    'negative seed': Case(_quickstart('seed=-1'), ['seed', '2**32']),
    'bool seed': Case(_quickstart('seed=true'), ['seed']),
    'zero epochs': Case(_quickstart('train.num_epochs=0'), ['train.num_epochs']),
    'negative batch size': Case(_quickstart('train.batch_size=-5'),
                                ['train.batch_size']),
    'zero batch size': Case(_quickstart('train.batch_size=0'),
                            ['train.batch_size']),
    'negative learning rate': Case(_quickstart('optimizer.learning_rate=-1'),
                                   ['optimizer.learning_rate']),
    'dropout of 1': Case(_quickstart('model.dropout=1'), ['model.dropout']),
    'alpha above 1': Case(_quickstart('distill.alpha=2'), ['distill.alpha']),
    'sparsity above 1': Case(_quickstart('prune.sparsity=1.5'),
                             ['prune.sparsity']),
    'one checkpoint kept': Case(_quickstart('train.keep_checkpoints=1'),
                                ['train.keep_checkpoints']),
    'negative dev size': Case(_quickstart('data.dev_size=-1'),
                              ['data.dev_size']),
    'epochs beyond any int': Case(
        _quickstart('train.num_epochs=99999999999999999999999'),
        ['train.num_epochs', '2**31']),
    # Past int32 XLA aborts the process (a failed check), no exception.
    'width beyond int32': Case(_quickstart('model.hidden=(1099511627776,)'),
                               ['model.hidden', '2**31']),
    'data seed beyond uint32': Case(_quickstart('data.split_seed=4294967296'),
                                    ['data.split_seed', '2**32']),
    # Non-finite numbers: every range check passes inf.
    'inf learning rate': Case(_quickstart('optimizer.learning_rate=1e999'),
                              ['optimizer.learning_rate', 'finite']),
    '-inf learning rate': Case(_quickstart('optimizer.learning_rate=-1e999'),
                               ['optimizer.learning_rate']),
    'inf optimizer hparam': Case(_quickstart('optimizer.hparams.b2=1e999'),
                                 ['optimizer.hparams.b2', 'finite']),
    'inf penalty': Case(_quickstart('regularization.l2=1e999'),
                        ['regularization.l2']),
    'inf in a tuple': Case(_quickstart('optimizer.schedule.name=step',
                                       'optimizer.schedule.step_epochs=(1e999,)'),
                           ['optimizer.schedule.step_epochs', 'finite']),
    'inf schedule gamma': Case(_quickstart('optimizer.schedule.gamma=1e999'),
                               ['optimizer.schedule.gamma', 'finite']),
    # Names.
    'unknown activation': Case(_quickstart('model.activation=swishy'),
                               ['model.activation', 'relu']),
    'unknown initializer': Case(_quickstart('model.init=nope'), ['model.init']),
    'unknown optimizer': Case(_quickstart('optimizer.name=nope'),
                              ['optimizer.name']),
    'unknown schedule': Case(_quickstart('optimizer.schedule.name=nope'),
                             ['optimizer.schedule.name']),
    'unknown loss': Case(_quickstart('loss.name=nope'), ['loss.name']),
    'unknown normalization': Case(_quickstart('data.normalization=zscore'),
                                  ['data.normalization']),
    'unknown batching': Case(_quickstart('train.batching=nope'),
                             ['train.batching']),
    'unknown parallel mode': Case(_quickstart('parallel.mode=nope'),
                                  ['parallel.mode']),
    'a population mode for one run': Case(_quickstart('parallel.mode=vmap'),
                                          ['parallel.mode', 'sweep']),
    'unknown wandb mode': Case(_quickstart('tracking.wandb=sometimes'),
                               ['tracking.wandb']),
    'image shift of a 1-D signal': Case(_quickstart('data.shift=rotate',
                                                    'data.shift_amount=10.0'),
                                        ['data.shift']),
    'repeated class': Case(_quickstart('data.classes=(3,3)'), ['data.classes']),
    'negative class': Case(_quickstart('data.classes=(-1,)'), ['data.classes']),
    # The experiment is one directory under tracking.output_dir.
    '300-character experiment': Case(_quickstart(f'experiment={LONG_NAME}'),
                                     ['experiment', '300 characters']),
    'experiment climbing out': Case(_quickstart('experiment=../../x'),
                                    ['experiment']),
    'experiment as an absolute path': Case(
        _quickstart('experiment={tmp}/abs'), ['experiment']),
    'experiment with a slash': Case(_quickstart('experiment=a/b'),
                                    ['experiment']),
    'experiment ..': Case(_quickstart('experiment=..'), ['experiment']),
    # Monitoring.
    'loss monitored with max': Case(_quickstart('train.monitor=train/loss'),
                                    ['train.monitor_mode', 'min']),
    'accuracy monitored with min': Case(
        _quickstart('data.dev_size=100', 'train.monitor=dev/accuracy',
                    'train.monitor_mode=min'),
        ['train.monitor_mode', 'max']),
    'monitor on the test set': Case(_quickstart('train.monitor=test/accuracy'),
                                    ['train.monitor', 'test']),
    'unknown monitor': Case(_quickstart('train.monitor=dev/f1'),
                            ['train.monitor']),
    'unknown monitor mode': Case(_quickstart('train.monitor_mode=up'),
                                 ['train.monitor_mode']),
    'patience without a monitor': Case(_quickstart('train.patience=3'),
                                       ['train.patience']),
    # Runs that a run starts from.
    'teacher not a directory': Case(_quickstart('distill.teacher={tmp}/nowhere'),
                                    ['distill.teacher', 'nowhere']),
    'teacher with a bad config': Case(
        _quickstart('distill.teacher={run}'),
        ['distill.teacher: {run}', 'data.colour'],
        _teacher_with_unknown_data_key),
    'teacher with a damaged config': Case(
        _quickstart('distill.teacher={run}'), ['distill.teacher', 'config.json'],
        _teacher_with_damaged_config),
    'teacher not finished': Case(_quickstart('distill.teacher={run}'),
                                 ['distill.teacher', 'not finished'],
                                 _teacher_not_finished),
    'init_from with a bad config': Case(
        _quickstart('train.init_from={run}'),
        ['train.init_from: {run}', 'model.hidden'], _init_from_with_bad_config),
    'init_from with a list for a config': Case(
        _quickstart('train.init_from={run}'), ['train.init_from: {run}'],
        _init_from_with_list_config),
    # Where the run goes.
    'workdir is a file': Case(['run', 'quickstart', '--workdir', '{file}'],
                              ['--workdir', 'a_file'], _a_file),
    'workdir under a file': Case(
        ['run', 'quickstart', '--workdir', '{file}/run'],
        ['--workdir', 'a_file'], _a_file),
    'output_dir is a file': Case(
        ['run', 'quickstart', '--set', 'tracking.output_dir={file}'],
        ['tracking.output_dir', 'a_file'], _a_file),
    'empty output_dir': Case(_quickstart('tracking.output_dir='),
                             ['tracking.output_dir']),
    'workdir name too long': Case(
        ['run', 'quickstart', '--workdir', '{tmp}/' + 'y' * 300],
        ['--workdir', '255']),
    # The data. Cases marked LEAD load the data, which the lead's runner
    # change does before it creates the run directory or the W&B run; until
    # it lands they leave a run directory behind.
    'unknown dataset': Case(  # LEAD
        _quickstart('data.name=nosuch', 'data.tfds_dir={tmp}/tfds'),
        ['data.name', 'nosuch']),
    'class out of range': Case(_quickstart('data.classes=(3,77)'),  # LEAD
                               ['data.classes', '77']),
    'dev split takes everything': Case(  # LEAD
        _quickstart('data.dev_size=100000'), ['data.dev_size']),
    'batch larger than the training split': Case(  # LEAD
        _quickstart('train.batch_size=100000'),
        ['train.batch_size', 'larger than']),
    'image augmentation of a 1-D signal': Case(  # LEAD
        _quickstart('augment.flip=true'), ['augment.flip']),
    'missing data files': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={empty}',
                    'data.tfds_dir={tmp}/tfds'),
        ['data not found', 'train-images-idx3-ubyte'], _empty_dir),
    'truncated IDX file': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-images-idx3-ubyte', 'truncated'],
        _truncated_images),
    'labels where images go': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-images-idx3-ubyte', 'magic number 2049'],
        _labels_as_images),
    'not an IDX file': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-images-idx3-ubyte', 'magic number'], _not_idx),
    'truncated gzip': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-images-idx3-ubyte.gz', 'gzip'], _corrupt_gzip),
    'too few images': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-images-idx3-ubyte', 'expected 60000'],
        _too_few_images),
    'images and labels disagree': Case(  # LEAD
        _quickstart('data.name=mnist', 'data.dir={data}'),
        ['bad data', 'train-labels-idx1-ubyte', '99 labels'],
        _images_and_labels_disagree),
}

# Every case gets these (a case's own --set of the same key comes first and
# the later one wins, so the cases about output_dir set it again after).
COMMON = ['--set', 'tracking.wandb=disabled', '--set', 'tracking.progress=false']


def _tree(root: pathlib.Path) -> set[pathlib.Path]:
  return set(root.rglob('*'))


def _fill(text: str, names: dict) -> str:
  for key, value in names.items():
    text = text.replace('{' + key + '}', str(value))
  return text


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_one_clean_line_and_creates_nothing(name, tmp_path, capsys,
                                                         monkeypatch):
  case = CASES[name]
  monkeypatch.delenv('RESEARCH_DATA_DIR', raising=False)
  names = {'tmp': tmp_path, **(case.setup(tmp_path) if case.setup else {})}
  argv = [_fill(a, names) for a in case.argv]
  # Deep enough that `experiment=../../x` would still land under tmp_path.
  output_dir = tmp_path / 'a' / 'b' / 'runs'
  if argv[0] == 'run':
    defaults = ['--set', f'tracking.output_dir={output_dir}', *COMMON]
    argv = [argv[0], *defaults, *argv[1:]]
  before = _tree(tmp_path)

  code = main(argv)

  out, err = capsys.readouterr()
  assert code == 2, (out, err)
  assert 'Traceback' not in out + err
  lines = [line for line in err.splitlines() if line.startswith('error:')]
  assert len(lines) == 1, err
  for word in case.words:
    assert _fill(word, names) in err, err
  created = sorted(map(str, _tree(tmp_path) - before))
  assert not created, f'{name} created {created}'


def test_the_table_holds_the_issue_count():
  # Issue 18 counted 45 bad inputs; the table must not shrink below them.
  assert len(CASES) >= 45, len(CASES)


# --- the disk and memory, simulated: no test can fill or freeze a real one ---


def _raise(error: BaseException):
  def run(*args, **kwargs):
    del args, kwargs
    raise error
  return run


@pytest.mark.parametrize('error, words', [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
     ['no space left on device: {workdir}']),
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), '/elsewhere/file'),
     ['no space left on device: /elsewhere/file']),
    (PermissionError(errno.EACCES, os.strerror(errno.EACCES), '/x/config.json'),
     ['permission denied: /x/config.json']),
    (OSError(errno.EROFS, os.strerror(errno.EROFS), '/x/metrics.jsonl'),
     ['read-only file system: /x/metrics.jsonl']),
    # How orbax reports it, from TensorStore: a ValueError in words.
    (ValueError('RESOURCE_EXHAUSTED: Error writing "params/0" in OCDBT '
                'database at local file "/x/checkpoints/latest/120/": Failed '
                "to write 1349 bytes to file 18: No space left on device "
                "[os_error_code='28']"),
     ['no space left on device: /x/checkpoints/latest/120/']),
    # XLA out of memory, from a size that fits int32 but not the machine.
    (RuntimeError('RESOURCE_EXHAUSTED: Out of memory allocating '
                  '1205000000080 bytes.'),
     ['out of memory', 'train.eval_batch_size']),
])
def test_a_disk_or_memory_error_during_a_run_is_one_line(
    error, words, tmp_path, capsys, monkeypatch):
  monkeypatch.setattr(research.train, 'run', _raise(error))
  workdir = tmp_path / 'run'
  code = main(['run', 'quickstart', '--workdir', str(workdir), *COMMON])
  out, err = capsys.readouterr()
  assert code == 2, (out, err)
  assert 'Traceback' not in out + err
  assert err.count('error:') == 1, err
  for word in words:
    assert word.format(workdir=workdir) in err, err


def test_other_errors_of_a_run_still_raise(tmp_path, monkeypatch):
  monkeypatch.setattr(research.train, 'run', _raise(KeyError('a bug')))
  with pytest.raises(KeyError):
    main(['run', 'quickstart', '--workdir', str(tmp_path / 'run'), *COMMON])


@pytest.mark.parametrize('where', ['--workdir', 'tracking.output_dir'])
def test_read_only_run_directory_is_refused_before_the_run(where, tmp_path,
                                                           capsys, monkeypatch):
  # Root writes anywhere chmod allows; what a read-only mount answers is
  # simulated where the CLI asks it.
  frozen = tmp_path / 'frozen'
  frozen.mkdir()
  real_access = os.access
  monkeypatch.setattr(os, 'access', lambda path, mode, **kw: (
      pathlib.Path(path) != frozen and real_access(path, mode, **kw)))
  monkeypatch.setattr(research.train, 'run', _raise(AssertionError('ran')))
  target = ['--workdir', str(frozen / 'run')] if where == '--workdir' else [
      '--set', f'tracking.output_dir={frozen}']
  assert main(['run', 'quickstart', *target, *COMMON]) == 2
  err = capsys.readouterr().err
  assert f'error: {where}: {frozen} is not writable' in err, err
  assert not any(frozen.iterdir())
