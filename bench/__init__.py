"""portguard's benchmark: ``python -m bench`` (``make bench``).

Every figure is printed beside a baseline measured in the same run, their ratio, the goal and
PASS/MISS. Goals are targets, not timed tests: the command exits 0 whether they are met or not,
and non-zero only when a section crashes. ``docs/benchmarks.md`` says how each figure is measured.

Sections (``--section``): ``decision`` (per-item decision throughput), ``coldstart`` (import and
first client, in fresh processes), ``sweep`` (a periodic sweep of 5,000 groups against moto),
``worst`` (the decision on the largest realistic group), ``evaluate`` (``portguard evaluate``
on a file of 10,000 groups).
"""
