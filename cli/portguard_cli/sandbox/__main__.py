"""``python -m portguard_cli.sandbox``: ``make run``."""

from portguard_cli.runner import run_guarded
from portguard_cli.sandbox.demo import main

# As every portguard command: a failure is one line, a closed pipe ends the output quietly.
raise SystemExit(run_guarded("portguard sandbox", main))
