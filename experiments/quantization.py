"""Post-training quantization of the Keras mnist_mlp model: float32 vs
bfloat16, float16 and int8 inference (accuracy, agreement, size, speed).

    python -m experiments.quantization_run [--data-dir ../shared/data] [--seeds 3]

Reuses (or trains) the mnist_mlp sweep's runs, then quantizes each one; writes
experiments/results/quantization.md (experiments/quantization_run.py).
"""

from experiments.mnist_mlp import get_config as mnist_mlp_config
from research.registry import register


@register('quantization', description='float32 / bf16 / fp16 / int8 inference of the mnist_mlp runs (python -m experiments.quantization_run)',
          reference='table: experiments/results/quantization.md')
def get_config():
  return mnist_mlp_config()


if __name__ == '__main__':
  # The table's command; importing it here keeps registering this experiment
  # light (`research list` imports every experiment, and quantization_run JAX).
  from experiments import quantization_run  # pylint: disable=g-import-not-at-top
  quantization_run.main()
