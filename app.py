#!/usr/bin/env python3
"""The CDK app: reads the settings from context and synthesizes the portguard stack, offline."""

from __future__ import annotations

import os
from pathlib import Path

from aws_cdk import App, Aspects
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks

from infra.settings import Settings, cdk_json_context
from infra.stack import PortguardStack

# Run directly (`python app.py`, `make run`), a bare App would read neither cdk.json nor an output
# directory: give it cdk.json's context (the CLI's own context, with -c, still wins) and ./cdk.out.
OUTDIR = None if "CDK_OUTDIR" in os.environ else str(Path(__file__).resolve().parent / "cdk.out")

app = App(context=cdk_json_context(), outdir=OUTDIR)
PortguardStack(app, "Portguard", settings=Settings.from_context(app))
# Gates: any finding of either pack not acknowledged (with its reason) fails the synth.
Aspects.of(app).add(AwsSolutionsChecks())
Aspects.of(app).add(HIPAASecurityChecks())
app.synth()
