"""How many test examples an error rate needs: the width of its 95% interval
against the test-set size, and REFERENCES.md's statistical yardstick.

    research table test_set_size

Computed, not trained (a `register_table` experiment): the interval is the
equal-tailed credible interval of `research.metrics.error_interval`, the sizes
come from `research.metrics.test_set_size`. Takes about a second. The tables
and the figure are experiments/test_set_size_report.py's.
"""

from research.registry import register_table


register_table('test_set_size',
               description='95% interval width of an error rate against test-set size '
                           '(computed, no training)',
               reference='REFERENCES.md statistical yardstick',
               report='experiments.test_set_size_report:report')
