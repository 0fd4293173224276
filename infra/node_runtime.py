"""The Node.js runtime the CDK app runs on (jsii runs aws-cdk-lib's JavaScript in it).

jsii prints a banner on every synth when the running Node major is past its end of life (Node 20
since 2026-10-30, for jsii 1.142). It documents one way to silence it: the environment variable
``JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION``, a comma-separated list of Node majors; jsii
stays silent only when the running major is in that list. Listing the majors this project is
tested on silences it there, and anywhere else the banner still warns.

No jsii import here: this runs before ``aws_cdk`` is first imported, which is when jsii starts Node.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import MutableMapping

END_OF_LIFE_BANNER_VARIABLE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"
TESTED_NODE_MAJORS = ("20",)
"""The Node majors ``make test`` runs on (aws-cdk-lib 2.275 requires Node 20 or later)."""


def silence_end_of_life_banner(environ: MutableMapping[str, str] | None = None) -> None:
    """Let jsii skip its end-of-life banner on the tested Node majors (``environ``, by default
    the process environment, which Node inherits). A value the user set is kept."""
    target = os.environ if environ is None else environ
    target.setdefault(END_OF_LIFE_BANNER_VARIABLE, ",".join(TESTED_NODE_MAJORS))
