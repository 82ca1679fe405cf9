"""TensorFlow's start-up log lines, filtered as `TF_CPP_MIN_LOG_LEVEL` asks.

TensorFlow 2.21 logs through Abseil, which writes every message to stderr
until `absl::InitializeLog()` runs, whatever `TF_CPP_MIN_LOG_LEVEL` says, with
a warning that it does so. `import tensorflow` also loads the profiler plugin
(`_pywrap_profiler_plugin.so`), which carries its own copy of that logging
code, so the oneDNN notice and Abseil's warning come twice in every process.

`install()` (run when `ctrkit` is imported) makes the first `import
tensorflow` of the process, whoever asks for it, pass what it writes to stderr
through `startup_lines`: log lines below `TF_CPP_MIN_LOG_LEVEL` (default 1:
warnings and errors, not INFO) and repeated messages are dropped, as is
Abseil's warning; anything else (Python warnings, tracebacks) passes
unchanged. Importing TensorFlow with `TF_CPP_MIN_LOG_LEVEL=0` shows each
start-up line once.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator

LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
DEFAULT_LEVEL = "1"
ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# I0000 00:00:1796001871.161628    5778 port.cc:153] message
_LOG_LINE = re.compile(r"^([IWEF])\d{4} \S+\s+\d+ \S+:\d+\] (.*)$")
_SEVERITIES = "IWEF"


def startup_lines(lines: Iterable[str], min_level: int) -> list[str]:
    """The lines worth showing of what TensorFlow wrote while importing.

        >>> written = [
        ...     ABSL_NOTICE,
        ...     "I0000 00:00:1.2    58 port.cc:153] oneDNN custom operations are on.",
        ...     "W0000 00:00:1.3    58 x.cc:7] something to know",
        ...     ABSL_NOTICE,
        ...     "I0000 00:00:2.9    58 port.cc:153] oneDNN custom operations are on.",
        ...     "a Python warning",
        ... ]
        >>> for line in startup_lines(written, min_level=0):
        ...     print(line)
        I0000 00:00:1.2    58 port.cc:153] oneDNN custom operations are on.
        W0000 00:00:1.3    58 x.cc:7] something to know
        a Python warning
        >>> startup_lines(written, min_level=1)
        ['W0000 00:00:1.3    58 x.cc:7] something to know', 'a Python warning']
    """
    kept: list[str] = []
    seen: set[str] = set()
    dropped_record = False
    for line in lines:
        match = _LOG_LINE.match(line)
        if match:
            severity, message = match.groups()
            dropped_record = _SEVERITIES.index(severity) < min_level or message in seen
            seen.add(message)
            if not dropped_record:
                kept.append(line)
        elif line == ABSL_NOTICE:
            dropped_record = False
        elif dropped_record and line.startswith("To enable the following instructions"):
            continue  # the second line of the CPU-feature notice
        else:
            dropped_record = False
            kept.append(line)
    return kept


def _min_level() -> int:
    try:
        return max(0, min(3, int(os.environ.get(LEVEL_ENV, DEFAULT_LEVEL))))
    except ValueError:
        return int(DEFAULT_LEVEL)


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Collect what is written to file descriptor 2 inside the block, then
    write back the lines `startup_lines` keeps."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode("utf-8", errors="replace")
            kept = startup_lines(text.splitlines(), _min_level())
            if kept:
                os.write(2, ("\n".join(kept) + "\n").encode())


class _FirstTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loading of the `tensorflow` package
    found by the other finders in `filtered_stderr`, once."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, exec_module = spec.loader, spec.loader.exec_module

        def filtered_exec_module(module):
            os.environ.setdefault(LEVEL_ENV, DEFAULT_LEVEL)
            try:
                with filtered_stderr():
                    exec_module(module)
            finally:
                del loader.exec_module  # back to the class's own method

        loader.exec_module = filtered_exec_module
        return spec


def install() -> None:
    """Filter the start-up lines of the first `import tensorflow` to come (a
    no-op once TensorFlow is imported)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _FirstTensorFlowImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _FirstTensorFlowImport())
