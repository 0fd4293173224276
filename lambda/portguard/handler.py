"""The Lambda's entry point: AWS Config invokes ``portguard.handler.lambda_handler`` on every
security-group change (``ConfigurationItemChangeNotification``, or ``Oversized…`` for items over
256 KB) and periodically (``ScheduledNotification``), and portguard answers with
``PutEvaluations``.

It is :func:`portguard.rule.make_handler` around the container's rule, whose clients are made on
first use and kept while the container lives: one account's rule, or an organization's hub when
the function's environment says so (:func:`portguard.rule.container_rule`). Importing this module
freezes the collector (below), so only the Lambda imports it (and the tests and the cold-start
benchmark of this entry point); the command line builds its own handler with ``make_handler`` and
never imports this one.
"""

from __future__ import annotations

import gc
import os

from portguard.rule import container_rule, make_handler

rule = container_rule(os.environ)
"""The container's rule: its clients are made on first use and kept while the container lives."""

lambda_handler = make_handler(rule)
"""What Lambda calls with each event (the function's ``Handler`` setting names it)."""

# Everything imported so far lives as long as the container. Freezing it keeps the collector
# from walking it again: without this, making the first client set off a full collection over
# boto3's and Powertools' objects, ~45 ms of the cold start (measured by `make bench`).
gc.freeze()
