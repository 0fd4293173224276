#!/bin/sh
# Make sure VENV (default .venv) is a virtual environment of Python 3.11 or newer that runs.
#
# Usage: scripts/ensure-venv.sh [VENV]   (the Makefile calls it before every install check)
# Environment: PYTHON, the interpreter to make it with (default python3); GOAL, the make target
# to name in the advice (default install).
#
# A .venv that is missing, made by an older Python (make run with 3.10, then 3.11), or whose
# interpreter no longer runs (moved, removed, upgraded away) is made again, with PYTHON when it
# is 3.11+, else the first of python3.13, python3.12, python3.11 that runs; one line says why.
# When none fits, it changes nothing and says exactly what to run. Exit status 0 when .venv is
# fit to use, 1 otherwise.
set -u

venv=${1:-.venv}
python=${PYTHON:-python3}
goal=${GOAL:-install}
minimum=3.11
fallbacks="python3.13 python3.12 python3.11"

say() { printf 'portguard: %s\n' "$*" >&2; }

# The version of interpreter $1 ("3.11.7") when it runs and is 3.11+; with $2 = venv, also when
# it can make a virtual environment with pip (Debian ships ensurepip apart: python3-venv).
fit() {
    check='import sys; print("%d.%d.%d" % sys.version_info[:3]); sys.exit(sys.version_info < (3, 11))'
    if [ "${2:-}" = venv ]; then
        check="import ensurepip, venv; $check"
    fi
    "$1" -c "$check" 2>/dev/null
}

# What interpreter $1 is, for a message: its version, or why it is not one.
describe() {
    version=$("$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null) ||
        version=
    if [ -n "$version" ]; then
        printf 'Python %s' "$version"
    elif command -v "$1" >/dev/null 2>&1; then
        printf 'not runnable'
    else
        printf 'not found'
    fi
}

# 1. The venv as it is.
if [ -f "$venv/pyvenv.cfg" ] && [ -x "$venv/bin/python" ] && fit "$venv/bin/python" >/dev/null; then
    exit 0
fi
if [ -e "$venv" ]; then
    if [ ! -f "$venv/pyvenv.cfg" ] && [ ! -e "$venv/bin/python" ] && [ ! -L "$venv/bin/python" ]; then
        say "$venv exists but is not a virtual environment: move it away" \
            "(mv $venv $venv.old), then run: make $goal"
        exit 1
    fi
    found=$(describe "$venv/bin/python")
    case $found in
    Python*) why="$venv was made by $found, and portguard needs $minimum or newer" ;;
    *) why="$venv's python is $found (its interpreter was moved or removed)" ;;
    esac
else
    why="no $venv yet"
fi

# 2. An interpreter to make it with.
chosen=
for candidate in "$python" $fallbacks; do
    if version=$(fit "$candidate" venv); then
        chosen=$candidate
        break
    fi
done
if [ -z "$chosen" ]; then
    tried="$python: $(describe "$python")"
    for candidate in $fallbacks; do
        [ "$candidate" = "$python" ] || tried="$tried; $candidate: $(describe "$candidate")"
    done
    say "$why, and no Python $minimum or newer with venv was found ($tried)." \
        "Install one (with its venv module), then run: make PYTHON=/path/to/python3.11 $goal"
    exit 1
fi

# 3. Made again, from nothing: the install markers inside go with it.
say "$why: making it with $chosen (Python $version)"
rm -rf "$venv"
if ! "$chosen" -m venv "$venv"; then
    say "$chosen -m venv $venv failed (above); fix that, then run: make $goal"
    exit 1
fi
