"""The lecture's 1-D optimal learning rate: eta_opt = 1 / E'', convergence in
one step there, oscillation up to 2 eta_opt, divergence above.

    research table optimal_learning_rate

Computed, not trained (a `register_table` experiment): on a quadratic, and
along the gradient of the quickstart's MLP on MNIST-1D (the whole training
split as one batch) at initialization, where E''_u comes from a
Hessian-vector product (`research.learning_rate_1d`). About ten seconds.
The tables and the figure are experiments/optimal_learning_rate_report.py's.
"""

from research.registry import register_table

register_table('optimal_learning_rate',
               description="1-D optimal learning rate eta_opt = 1/E'' and divergence "
                           'above 2 eta_opt: a quadratic and the loss along an MLP\'s '
                           'gradient on MNIST-1D (computed, no training)',
               reference="the lecture: eta_opt = 1 / E''(w); divergence for eta > 2 eta_opt",
               report='experiments.optimal_learning_rate_report:report')
