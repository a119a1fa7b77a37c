"""One hidden layer of sigmoid units fitting f(x) = sin(3 pi x) + x on [-1, 1].

    research table universal_approximation

The universal approximation theorem (Cybenko 1989; Hornik 1991) says a wide
enough single hidden layer of sigmoids gets within any epsilon of a continuous
function on a compact set; it says nothing of how wide, nor whether training
finds those weights. Here: `research.models.MLP` with hidden=(width,),
sigmoid units, PyTorch's default init, fitted by least squares on 256 evenly
spaced points, full batch: Adam (`research.optim.adam`) first, to leave the
near-linear start, then L-BFGS (`research.optim.lbfgs`) to converge. Three
seeds per width train as one vmapped program. Errors are measured on 2,001
evenly spaced points (between the training points too): the largest absolute
error and the root mean square. The fits, table and figures are
experiments/universal_approximation_report.py's.

Beside them, the theorem's own construction (Cybenko's boxcars, as telescoped
sigmoid steps: research/universal_construction.py), written into the same MLP
and measured on the same points for widths 1-1024 and six steepnesses, with
its error bound: how many units the proof needs where training needs few
(experiments/universal_construction_report.py).
"""

from research.registry import register_table

TARGET = 'sin(3πx) + x on [-1, 1]'
DOMAIN = (-1.0, 1.0)
NUM_TEST = 2001  # evenly spaced points where errors are measured


register_table(
    'universal_approximation',
    description=f'One hidden layer of sigmoid units fitting {TARGET} by least squares: error against width 1-128, 3 seeds (Adam then L-BFGS, full batch), beside Cybenko\'s construction (sums of steep sigmoid steps) at widths 1-1024',
    reference='Cybenko 1989; Hornik 1991: universal approximation by one hidden layer',
    report='experiments.universal_approximation_report:report')
