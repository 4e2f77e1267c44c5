"""Finding and running the `keqv` binary the wheel installs beside this package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from .errors import KeqvError

_EXE = "keqv.exe" if sys.platform == "win32" else "keqv"


def find_binary() -> Path:
    """The `keqv` executable: `KEQV_BIN` where set, else the one installed with this package
    (the scripts folder of this interpreter's scheme, then the user scheme), else `keqv` on
    PATH."""
    override = os.environ.get("KEQV_BIN")
    if override:
        path = Path(override)
        if not path.is_file():
            raise KeqvError(f"KEQV_BIN={override}: no such file; point it at a keqv binary")
        return path
    for folder in _script_folders():
        candidate = Path(folder) / _EXE
        if candidate.is_file():
            return candidate
    on_path = shutil.which("keqv")
    if on_path:
        return Path(on_path)
    raise KeqvError(
        "the keqv binary is not installed beside the keqv Python package; "
        "reinstall it (pip install --force-reinstall keqv) or set KEQV_BIN"
    )


def _script_folders() -> list[str]:
    """Where pip puts a package's commands: this interpreter's scheme, then the user's."""
    folders = [sysconfig.get_path("scripts")]
    user = f"{os.name}_user"
    if user in sysconfig.get_scheme_names():
        folders.append(sysconfig.get_path("scripts", user))
    return folders


class Completed:
    """What one run of the binary gave: its exit code, stdout and stderr."""

    def __init__(self, code: int, stdout: str, stderr: str):
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


def run(args: list[str], *, ok_codes: tuple[int, ...] = (0,)) -> Completed:
    """Runs `keqv ARGS`; an exit code outside `ok_codes` raises `KeqvError` with keqv's
    one-line message."""
    argv = [str(find_binary()), *args]
    done = subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", errors="replace")
    completed = Completed(done.returncode, done.stdout, done.stderr)
    if done.returncode not in ok_codes:
        raise KeqvError(error_message(completed), exit_code=done.returncode, stderr=done.stderr)
    return completed


def error_message(done: Completed) -> str:
    """keqv's one-line error: the `error` of a JSON error document on stdout, else the
    `keqv: error:` line (or clap's `error:` line) on stderr, else the last line of stderr."""
    try:
        document = json.loads(done.stdout)
        if isinstance(document, dict) and isinstance(document.get("error"), str):
            return document["error"]
    except ValueError:
        pass
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    for prefix in ("keqv: error: ", "error: "):
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix) :]
    if lines:
        return lines[-1]
    return f"keqv exited with code {done.code} and no message"
