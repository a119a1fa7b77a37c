"""How fast the `research` command answers where it needs no JAX.

  python -m experiments.benchmarks.cli_startup [--repeats 5]

Times, as fresh processes (the way a person types them), `research --help`,
`research list`, a run refused for an unknown key, and for comparison a bare
`python -c "import jax"`; prints the median and range of `--repeats` runs of
each, and which heavy modules each command imported (none is the goal: those
three must answer in under 1.5 s on a 2-core machine).
"""

import argparse
import platform
import statistics
import subprocess
import sys
import time

HEAVY = ('jax', 'optax', 'flax', 'orbax', 'scipy', 'matplotlib', 'wandb',
         'tensorflow_datasets')
# (label, Python code run as `python -c`); each exits as the command would.
COMMANDS = (
    ('research --help', 'from launch.cli import main; main(["--help"])'),
    ('research list', 'from launch.cli import main; main(["list"])'),
    ('research run quickstart --set model.hiden=3 (refused)',
     'from launch.cli import main; main(["run", "quickstart", "--set", "model.hiden=3"])'),
    ('python -c "import jax" (baseline)', 'import jax'),
)


def heavy_imports(code: str) -> list[str]:
  """The HEAVY modules that `code` imported."""
  probe = (f'import sys\ntry:\n  {code}\nexcept SystemExit:\n  pass\n'
           f'print("HEAVY:", *(m for m in {HEAVY!r} if m in sys.modules))')
  result = subprocess.run([sys.executable, '-c', probe], capture_output=True,
                          text=True, check=False)
  marked = [line for line in result.stdout.splitlines() if line.startswith('HEAVY:')]
  return marked[-1].split()[1:] if marked else ['(did not finish)']


def seconds(code: str) -> float:
  started = time.perf_counter()
  subprocess.run([sys.executable, '-c', code], capture_output=True, check=False)
  return time.perf_counter() - started


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args(argv)
  print(f'{platform.processor() or platform.machine()}, Python '
        f'{platform.python_version()}, {args.repeats} runs each (after one '
        'untimed warm-up)\n')
  print('| command | median (s) | min-max (s) | heavy modules imported |')
  print('|---|---|---|---|')
  for label, code in COMMANDS:
    seconds(code)  # warm the file cache
    times = [seconds(code) for _ in range(args.repeats)]
    heavy = ', '.join(heavy_imports(code)) or 'none'
    print(f'| `{label}` | {statistics.median(times):.2f} | '
          f'{min(times):.2f}-{max(times):.2f} | {heavy} |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
