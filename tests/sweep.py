"""Helpers for the bad-input tables (the `*_errors` tests and their kin).

Every case of a sweep states three things: the exception type, words the
message must contain (the offending value, or what is allowed), and that the
folder the call was pointed at holds nothing new afterwards. `child` runs a
snippet in a fresh interpreter, for the cases where the failure to rule out
is the process dying of a signal or hanging.
"""

import os
import subprocess
import sys

import pytest


def snapshot(directory):
    """The set of paths under `directory` (relative), hidden files included."""
    if directory is None or not os.path.exists(directory):
        return set()
    found = set()
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(root, name), directory))
    return found


def rejects(fn, exc_type, *needles, directory=None):
    """Assert `fn()` raises `exc_type` naming every needle, leaving no files.

    Needles are matched case-insensitively against `str(exception)`. When
    `directory` is given, nothing may be added under it by the failed call.
    Returns the exception for further checks.
    """
    before = snapshot(directory)
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    for needle in needles:
        assert str(needle).lower() in message.lower(), (
            f"{needle!r} not in the message: {message!r}"
        )
    if directory is not None:
        added = snapshot(directory) - before
        assert not added, f"left behind after the error: {sorted(added)}"
    return info.value


def child(code, timeout=120, env=None):
    """Run `code` in a fresh Python; assert it neither hangs nor dies of a
    signal. Returns the `CompletedProcess` (text output)."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    full_env.update(env or {})
    try:
        proc = subprocess.run([sys.executable, "-c", code],
                              capture_output=True, text=True,
                              timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure
        pytest.fail(f"the child process hung for {timeout} s")
    assert proc.returncode >= 0, (
        f"the child process died of signal {-proc.returncode}: "
        f"{proc.stderr[-2000:]}"
    )
    return proc


def cli(args, timeout=300, env=None, cwd=None):
    """Run `keras-cmod ARGS` in a fresh process; returns the process."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    full_env.update(env or {})
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "keras_cmod.cli", *map(str, args)],
            capture_output=True, text=True, timeout=timeout, env=full_env,
            cwd=cwd)
    except subprocess.TimeoutExpired:  # pragma: no cover - the failure
        pytest.fail(f"keras-cmod {' '.join(map(str, args))} hung")
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    return proc


def one_error_line(proc, *needles):
    """Assert a failed CLI run printed one `error:` line and no traceback."""
    assert proc.returncode not in (0, None), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert str(needle).lower() in lines[0].lower(), lines[0]
    return lines[0]
