"""portguard: decides whether a security group opens a high-risk port to the whole internet.

The core (``model``, ``reader``, ``parameters``, ``ports``, ``decision``, ``annotation``) uses the
standard library only and is shared by the Lambda handler, the CLI and the CDK app's parameter
validation. AWS access lives in ``portguard.adapters``; the Lambda entry point in ``handler``.
"""

from __future__ import annotations

__version__ = "0.1.0"
