"""The first run (issue 10, section 4): ``make`` notices a ``.venv`` that is missing, made by a
Python older than 3.11, or whose interpreter no longer runs, and makes it again with a suitable
interpreter, or stops and says exactly what to run; ``make run`` installs the ``sandbox`` extra
only, ``make install`` the ``dev`` one.

Interpreters are fakes (shell scripts that answer for a given version, make a "venv", and log
what pip and the sandbox were asked), on a PATH that holds nothing else, so the tests see only
what the script and the Makefile choose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
SCRIPT = REPOSITORY / "scripts" / "ensure-venv.sh"
TOOLS = ("sh", "rm", "mkdir", "cp", "cat", "touch", "make", "dirname")

FAKE_PYTHON = """#!/bin/sh
# A fake Python {version}: enough of one for scripts/ensure-venv.sh and the Makefile.
log="{log}"
case "$1" in
-c)
    case "$2" in *ensurepip*) [ {has_venv} = yes ] || exit 1 ;; esac
    echo {version}
    case "$2" in *sys.exit*) exit {too_old} ;; esac
    ;;
-m)
    case "$2" in
    venv)
        mkdir -p "$3/bin"
        echo "version = {version}" > "$3/pyvenv.cfg"
        cp "$0" "$3/bin/python"
        ;;
    *) echo "{version} $*" >> "$log" ;;
    esac
    ;;
esac
"""


class Machine:
    """A directory with a PATH of fake interpreters and the few tools the script uses."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        self.log = root / "calls.log"
        self.log.touch()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found is not None, tool
            (self.bin / tool).symlink_to(found)

    def python(self, name: str, version: str, *, has_venv: bool = True) -> Path:
        """A fake interpreter ``name`` on the PATH, reporting ``version``."""
        path = self.bin / name
        major, minor = (int(x) for x in version.split(".")[:2])
        path.write_text(
            FAKE_PYTHON.format(
                version=version,
                log=self.log,
                has_venv="yes" if has_venv else "no",
                too_old=int((major, minor) < (3, 11)),
            )
        )
        path.chmod(0o755)
        return path

    def shim(self, name: str) -> None:
        """A pyenv shim for a version that is not selected: it exists, and fails."""
        path = self.bin / name
        path.write_text(f"#!/bin/sh\necho 'pyenv: {name}: command not found' >&2\nexit 127\n")
        path.chmod(0o755)

    def venv(self, version: str) -> Path:
        """A .venv made by a fake Python ``version`` (as ``python -m venv`` would, whatever
        the version: the way an older Makefile made it)."""
        maker = self.python(f"maker-{version}", version)
        subprocess.run([str(maker), "-m", "venv", ".venv"], cwd=self.root, check=True)  # noqa: S603
        maker.unlink()
        return self.root / ".venv"

    def env(self, **extra: str) -> dict[str, str]:
        return {"PATH": str(self.bin), "HOME": str(self.root), **extra}

    def ensure(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own script, fake interpreters
            [str(self.bin / "sh"), str(SCRIPT), ".venv"],
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            check=False,
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


def venv_version(venv: Path) -> str:
    return (venv / "pyvenv.cfg").read_text().split("=")[1].strip()


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


# --- scripts/ensure-venv.sh ------------------------------------------------------------------


def test_a_fresh_clone_gets_a_venv_of_python3(machine: Machine) -> None:
    machine.python("python3", "3.11.7")
    done = machine.ensure()
    assert done.returncode == 0
    assert venv_version(machine.root / ".venv") == "3.11.7"
    assert done.stderr == "portguard: no .venv yet: making it with python3 (Python 3.11.7)\n"


def test_a_good_venv_is_left_as_it_is(machine: Machine) -> None:
    machine.python("python3", "3.12.1")
    venv = machine.venv("3.11.7")
    (venv / ".installed").touch()
    done = machine.ensure()
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert venv_version(venv) == "3.11.7"  # not remade with python3's 3.12
    assert (venv / ".installed").exists()


def test_a_venv_of_an_older_python_is_made_again_with_a_newer_one(machine: Machine) -> None:
    # make run with 3.10, then again with python3 still 3.10 and a 3.12 beside it.
    machine.python("python3", "3.10.13")
    venv = machine.venv("3.10.13")
    (venv / ".installed").touch()
    machine.shim("python3.13")
    machine.python("python3.12", "3.12.1")
    done = machine.ensure()
    assert done.returncode == 0
    assert venv_version(venv) == "3.12.1"
    assert not (venv / ".installed").exists()  # so everything is installed again
    assert done.stderr == (
        "portguard: .venv was made by Python 3.10.13, and portguard needs 3.11 or newer: "
        "making it with python3.12 (Python 3.12.1)\n"
    )


def test_pythons_given_with_python_are_preferred(machine: Machine) -> None:
    machine.python("python3.11", "3.11.7")
    chosen = machine.python("py-custom", "3.13.0")
    done = machine.ensure(PYTHON=str(chosen))
    assert done.returncode == 0
    assert venv_version(machine.root / ".venv") == "3.13.0"


def test_a_venv_whose_interpreter_was_removed_is_made_again(machine: Machine) -> None:
    machine.python("python3", "3.11.7")
    venv = machine.venv("3.11.7")
    gone = machine.root / "uninstalled-python"
    (venv / "bin" / "python").unlink()
    (venv / "bin" / "python").symlink_to(gone)  # as after the Python it came from was removed
    done = machine.ensure()
    assert done.returncode == 0
    assert (venv / "bin" / "python").is_file()
    assert done.stderr.startswith("portguard: .venv's python is not found (its interpreter was")


def test_an_interpreter_without_venv_is_passed_over(machine: Machine) -> None:
    # Debian's python3 without the python3-venv package cannot make a venv with pip.
    machine.python("python3", "3.11.2", has_venv=False)
    machine.python("python3.11", "3.11.7")
    done = machine.ensure()
    assert done.returncode == 0
    assert venv_version(machine.root / ".venv") == "3.11.7"


def test_when_no_python_fits_it_changes_nothing_and_says_what_to_run(machine: Machine) -> None:
    machine.python("python3", "3.10.13")
    venv = machine.venv("3.10.13")
    machine.shim("python3.12")
    done = machine.ensure(GOAL="run")
    assert done.returncode == 1
    assert venv_version(venv) == "3.10.13"
    assert done.stderr == (
        "portguard: .venv was made by Python 3.10.13, and portguard needs 3.11 or newer, and no "
        "Python 3.11 or newer with venv was found (python3: Python 3.10.13; python3.13: not "
        "found; python3.12: not runnable; python3.11: not found). Install one (with its venv "
        "module), then run: make PYTHON=/path/to/python3.11 run\n"
    )


def test_a_folder_that_is_not_a_venv_is_not_removed(machine: Machine) -> None:
    machine.python("python3", "3.11.7")
    (machine.root / ".venv").mkdir()
    (machine.root / ".venv" / "notes.txt").write_text("mine")
    done = machine.ensure(GOAL="run")
    assert done.returncode == 1
    assert (machine.root / ".venv" / "notes.txt").read_text() == "mine"
    assert "is not a virtual environment: move it away" in done.stderr
    assert done.stderr.rstrip().endswith("then run: make run")


# --- the Makefile ----------------------------------------------------------------------------


@pytest.fixture
def clone(machine: Machine) -> Machine:
    """The Makefile, pyproject.toml and the script in the machine's directory, as in a clone."""
    for name in ("Makefile", "pyproject.toml", "package.json", "package-lock.json"):
        shutil.copy(REPOSITORY / name, machine.root / name)
    (machine.root / "scripts").mkdir()
    shutil.copy(SCRIPT, machine.root / "scripts" / SCRIPT.name)
    return machine


def make(clone: Machine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - make, on our Makefile
        [str(clone.bin / "make"), "--no-print-directory", *args],
        cwd=clone.root,
        env=clone.env(MAKEFLAGS=""),
        capture_output=True,
        text=True,
        check=False,
    )


def test_make_run_installs_the_sandbox_extra_only_and_once(clone: Machine) -> None:
    clone.python("python3", "3.11.7")
    first = make(clone, "run")
    assert first.returncode == 0, first.stderr
    assert clone.calls() == [
        "3.11.7 -m pip install --quiet --disable-pip-version-check --upgrade pip",
        "3.11.7 -m pip install --quiet --disable-pip-version-check -e .[sandbox]",
        "3.11.7 -m portguard_cli.sandbox",
    ]
    clone.log.write_text("")
    again = make(clone, "run")
    assert again.returncode == 0, again.stderr
    assert clone.calls() == ["3.11.7 -m portguard_cli.sandbox"]


def test_make_run_after_a_venv_of_python_3_10_makes_it_again(clone: Machine) -> None:
    clone.python("python3", "3.10.13")
    assert make(clone, "run").returncode == 2  # no 3.11+: stops before installing anything
    assert clone.calls() == []
    clone.python("python3.11", "3.11.7")
    venv = clone.venv("3.10.13")  # as an older portguard left it, with its markers
    (venv / ".sandbox-installed").touch()
    done = make(clone, "run")
    assert done.returncode == 0, done.stderr
    assert "made by Python 3.10.13" in done.stderr
    assert venv_version(venv) == "3.11.7"
    assert clone.calls() == [
        "3.11.7 -m pip install --quiet --disable-pip-version-check --upgrade pip",
        "3.11.7 -m pip install --quiet --disable-pip-version-check -e .[sandbox]",
        "3.11.7 -m portguard_cli.sandbox",
    ]


def test_the_dev_install_covers_the_sandbox(clone: Machine) -> None:
    clone.python("python3", "3.11.7")
    assert make(clone, ".venv/.installed").returncode == 0
    assert "3.11.7 -m pip install --quiet --disable-pip-version-check -e .[dev]" in clone.calls()
    clone.log.write_text("")
    assert make(clone, "run").returncode == 0
    assert clone.calls() == ["3.11.7 -m portguard_cli.sandbox"]


def test_the_dev_extra_holds_the_sandbox_extra() -> None:
    import tomllib

    extras = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert "portguard[sandbox]" in extras["dev"]
    assert any(requirement.startswith("moto[ec2]") for requirement in extras["sandbox"])
    assert not any(
        requirement.startswith(("aws-cdk-lib", "pytest")) for requirement in extras["sandbox"]
    )


def test_the_script_is_posix_sh() -> None:
    # dash (Debian's sh) or bash --posix: no bashisms that would break on another /bin/sh.
    checker = shutil.which("dash") or shutil.which("bash")
    assert checker is not None
    flags = ["-n"] if checker.endswith("dash") else ["--posix", "-n"]
    command = [checker, *flags, str(SCRIPT)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    assert (done.returncode, done.stderr) == (0, "")
    assert os.access(SCRIPT, os.X_OK)
