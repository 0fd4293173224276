"""The infra tests run the CDK app's code in this process: jsii starts Node when the first test
module imports aws_cdk, so its end-of-life banner is silenced here first, as app.py does."""

from __future__ import annotations

from infra.node_runtime import silence_end_of_life_banner

silence_end_of_life_banner()
