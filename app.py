#!/usr/bin/env python3
"""The CDK app: reads the settings from context and synthesizes the portguard stack, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infra.node_runtime import silence_end_of_life_banner

# Before aws_cdk is imported: that starts Node, which prints jsii's banner then.
silence_end_of_life_banner()

from aws_cdk import App, Aspects  # noqa: E402
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks  # noqa: E402

from infra.organization import MEMBER_ROLE_STACK_ID, MemberRoleStack  # noqa: E402
from infra.settings import ContextError, Settings, cdk_json_context  # noqa: E402
from infra.stack import PortguardStack  # noqa: E402

# Run directly (`python app.py`, `make run`), a bare App would read neither cdk.json nor an output
# directory: give it cdk.json's context (the CLI's own context, with -c, still wins) and ./cdk.out.
OUTDIR = None if "CDK_OUTDIR" in os.environ else str(Path(__file__).resolve().parent / "cdk.out")

app = App(context=cdk_json_context(), outdir=OUTDIR)
try:
    settings = Settings.from_context(app)
except ContextError as error:
    # One line that says which key and value, not a traceback through jsii.
    sys.exit(f"portguard: {error}")
PortguardStack(app, "Portguard", settings=settings)
if settings.organization is not None:
    # The member role for the management account, which the StackSet never reaches.
    MemberRoleStack(app, MEMBER_ROLE_STACK_ID, organization=settings.organization)
# Gates: any finding of either pack not acknowledged (with its reason) fails the synth.
Aspects.of(app).add(AwsSolutionsChecks())
Aspects.of(app).add(HIPAASecurityChecks())
app.synth()
