"""portguard: decides whether a security group opens a high-risk port to the whole internet.

The core (``model``, ``events``, ``reader``, ``parameters``, ``ports``, ``decision``,
``exemptions``, ``annotation``, ``definition``, and ``remediation`` but its ``apply``) uses the
standard library only and is shared by the Lambda handler, the CLI and the CDK app's parameter
validation. The edges talk to AWS and Lambda: ``adapters``, ``rule`` (the rule that reads an
event, decides and delivers), ``remediation.apply``, and the Lambda entry points ``handler`` and
``remediation_handler``. docs/architecture.md shows where each decision lives.
"""

from __future__ import annotations

__version__ = "0.1.0"
