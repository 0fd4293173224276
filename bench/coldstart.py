"""Section 2: cold start, in fresh interpreters: boto3 and a client, against portguard's import
and its first client. Plus ``python -X importtime``: what portguard.handler imports beyond boto3.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Section

REGION = "us-east-1"
_CLOCK = "import gc, time; t0, c0 = time.perf_counter(), time.process_time()\n"
_PRINT = (
    "\nprint(time.perf_counter() - t0, time.process_time() - c0, "
    'gc.get_stats()[2]["collections"])\n'
)
BASELINE = f'import boto3\nboto3.client("config", region_name="{REGION}")'
CANDIDATE = "import portguard.handler\nportguard.handler.rule.config"
_BOTO_FAMILY = ("boto3", "botocore", "s3transfer", "urllib3")


def child_env(*, portguard_from: Path | None = None) -> dict[str, str]:
    """Fake credentials, the deployed settings, and no shared AWS files read.

    ``portguard_from``: a folder holding a copy of the package without ``__pycache__``, put first
    on the path with bytecode writing off, so that its modules compile at every start, as in the
    deployed function (the asset excludes ``__pycache__`` and /var/task is read-only).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - fake credentials for the fake AWS
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        POWERTOOLS_SERVICE_NAME="portguard",
        POWERTOOLS_METRICS_NAMESPACE="portguard",
        LOG_LEVEL="INFO",
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let the libraries' .pyc be written once
    env.pop("PYTHONPATH", None)
    if portguard_from is not None:
        env.update(PYTHONPATH=str(portguard_from), PYTHONDONTWRITEBYTECODE="1")
    return env


def _run(
    code: str, *, importtime: bool = False, portguard_from: Path | None = None
) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        args,
        env=child_env(portguard_from=portguard_from),
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"the child interpreter failed ({done.returncode}):\n{code}\n{tail}")
    return done


@dataclass
class _Samples:
    inner: list[float] = field(default_factory=list)  # ms inside the process, wall clock
    cpu: list[float] = field(default_factory=list)  # ms inside the process, CPU time
    whole: list[float] = field(default_factory=list)  # ms of the whole process
    full_gcs: list[int] = field(default_factory=list)  # generation-2 collections in the process

    def take(self, code: str, portguard_from: Path | None = None) -> None:
        start = time.perf_counter()
        done = _run(_CLOCK + code + _PRINT, portguard_from=portguard_from)
        self.whole.append((time.perf_counter() - start) * 1e3)
        wall, cpu, full_gcs = done.stdout.strip().splitlines()[-1].split()
        self.inner.append(float(wall) * 1e3)
        self.cpu.append(float(cpu) * 1e3)
        self.full_gcs.append(int(full_gcs))


def run_coldstart(*, quick: bool) -> Section:
    import portguard

    runs = 5 if quick else 15
    with tempfile.TemporaryDirectory(prefix="portguard-src-") as tmp:
        source = Path(tmp)
        shutil.copytree(
            Path(portguard.__file__).parent,
            source / "portguard",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        cases: dict[str, tuple[str, Path | None]] = {
            "baseline": (BASELINE, None),
            "portguard": (CANDIDATE, None),
            "from source": (CANDIDATE, source),
        }
        samples = {name: _Samples() for name in cases}
        for code, where in cases.values():  # warm the file cache, write the libraries' .pyc
            _Samples().take(code, where)
        for _ in range(runs):
            for name, (code, where) in cases.items():
                samples[name].take(code, where)

    med = {name: _median_of(s) for name, s in samples.items()}
    section = Section(f"2. Cold start: fresh interpreters, median of {runs} runs each, alternating")
    section.goal_ratio(
        "import portguard.handler + rule.config",
        med["portguard"]["inner"],
        med["baseline"]["inner"],
        limit=1.25,
        unit="ms",
    )
    section.info_ratio(
        "  same, fastest run of each",
        min(samples["portguard"].inner),
        min(samples["baseline"].inner),
        unit="ms",
    )
    section.info_ratio(
        "  same, whole process incl. interpreter start",
        med["portguard"]["whole"],
        med["baseline"]["whole"],
        unit="ms",
    )
    section.info_ratio(
        "  as deployed: portguard compiled at start",
        med["from source"]["inner"],
        med["baseline"]["inner"],
        unit="ms",
    )
    spread = {k: f"{min(v.inner):.0f}-{max(v.inner):.0f} ms" for k, v in samples.items()}
    section.notes += [
        'baseline: import boto3; boto3.client("config", region_name=...) in the same kind of '
        "process; every case has warm .pyc for boto3, botocore and Powertools",
        f"range of the samples: baseline {spread['baseline']}, portguard {spread['portguard']}, "
        f"compiled at start {spread['from source']}; CPU time within the process "
        f"(median): baseline {med['baseline']['cpu']:.0f} ms, portguard "
        f"{med['portguard']['cpu']:.0f} ms, so the spread is the shared host, not waiting",
        "full (generation-2) garbage collections during the measured code, median: baseline "
        f"{med['baseline']['full_gcs']:g}, portguard {med['portguard']['full_gcs']:g}",
        "as deployed: the Lambda asset excludes __pycache__ and /var/task is read-only, so "
        "portguard's own modules are compiled from source at every cold start",
    ]
    section.notes.append(importtime_report(3 if quick else 5))
    return section


def _median_of(samples: _Samples) -> dict[str, float]:
    return {
        "inner": statistics.median(samples.inner),
        "cpu": statistics.median(samples.cpu),
        "whole": statistics.median(samples.whole),
        "full_gcs": statistics.median(samples.full_gcs),
    }


def importtime_report(runs: int, top: int = 8) -> str:
    """The modules portguard.handler imports once boto3 is in, by median cumulative time."""
    cumulative: dict[str, list[int]] = defaultdict(list)
    own: dict[str, list[int]] = defaultdict(list)
    depth: dict[str, int] = {}
    totals = []
    for _ in range(runs):
        code = "import boto3\nimport portguard.handler\nportguard.handler.rule.config"
        stderr = _run(code, importtime=True).stderr
        seen_boto3 = False
        for line in stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cum_us, name_field = line[len("import time:") :].split("|")
            name = name_field.strip()
            level = (len(name_field) - len(name_field.lstrip()) - 1) // 2
            if not seen_boto3:  # boto3's own lines come first; its top-level line ends them
                seen_boto3 = name == "boto3" and level == 0
                continue
            if name == "portguard.handler":
                totals.append(int(cum_us))
            if name.split(".")[0] in _BOTO_FAMILY:
                continue
            cumulative[name].append(int(cum_us))
            own[name].append(int(self_us))
            depth[name] = level
    ranked = sorted(cumulative, key=lambda m: statistics.median(cumulative[m]), reverse=True)
    lines = [
        f"python -X importtime, after `import boto3` (median of {runs} runs): portguard.handler "
        f"took {statistics.median(totals) / 1e3:.0f} ms cumulative; top {top} modules outside "
        f"{'/'.join(_BOTO_FAMILY)}:",
        f"    {'cumulative':>10}  {'self':>8}  module (indented by import depth)",
    ]
    for module in ranked[:top]:
        lines.append(
            f"    {statistics.median(cumulative[module]) / 1e3:>7.1f} ms  "
            f"{statistics.median(own[module]) / 1e3:>5.1f} ms  {'  ' * depth[module]}{module}"
        )
    return "\n".join(lines)
