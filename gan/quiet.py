"""Keep TensorFlow's informational notices off the terminal; let every other line through.

TensorFlow's native code writes a few lines to stderr that are notices, not problems, and
that no setting turns off without turning off more:
- "All log messages before absl::InitializeLog() is called are written to STDERR" and
  "oneDNN custom operations are on ..." (each printed twice by TensorFlow 2.21), logged while
  the libraries load: even TF_CPP_MIN_LOG_LEVEL=3 shows them, and TF_ENABLE_ONEDNN_OPTS=0
  would turn oneDNN itself off;
- oneDNN's "oneDNN supports DT_INT32 only on platforms with AVX-512. Falling back to the
  default Eigen-based implementation" (an ERROR line for an integer op that runs correctly
  in Eigen instead);
- cpu_feature_guard's "This TensorFlow binary is optimized to use available CPU
  instructions ..." (an INFO line, gone at TF_CPP_MIN_LOG_LEVEL 1);
- grappler's "remapper failed: ... fanout ... exist for missing node" (an ERROR line): the
  remapper cannot fuse Conv2D + BiasAdd + LeakyReLU in a graph that also holds LeakyReLU's
  gradient, gives up on that graph and leaves it correct and unfused. Only level 3 hides it,
  and with it every real error.

`filter_native_stderr()` therefore points file descriptor 2, where native code writes, at a
small child process that passes on every line except those notices; Python's sys.stderr
keeps the original terminal, so tracebacks, warnings, progress bars and `error:` lines never
go through the filter. The child ignores Ctrl-C and SIGTERM and reads until the pipe closes,
so a crash's last native lines (a LOG(FATAL) before abort) still reach the terminal.
"""
from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys

NOTICES = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|\] oneDNN custom operations are on\."
    r"|\] oneDNN supports DT_\w+ only on platforms with .*Falling back to the default Eigen"
    r"|cpu_feature_guard\.cc.*\] This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .*rebuild TensorFlow with the appropriate"
    r"|\] remapper failed: INVALID_ARGUMENT: Mutation::Apply error: fanout .* exist for "
    r"missing node")
WAIT_SECONDS = 5  # at exit, for the filter to pass on the last lines


def filter_native_stderr() -> None:
    """Route what native code writes to stderr through the notice filter, for the rest of the
    process. Call once, before TensorFlow is imported; does nothing when stderr is not a
    file descriptor (e.g. captured by a test runner)."""
    try:
        original = os.dup(2)
    except OSError:
        return
    read_end, write_end = os.pipe()
    child = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__)],
                             stdin=read_end, stdout=original, stderr=original, close_fds=True)
    os.close(read_end)
    sys.stderr.flush()
    sys.stderr = os.fdopen(os.dup(original), "w", buffering=1, encoding=sys.stderr.encoding,
                           errors=sys.stderr.errors)
    os.dup2(write_end, 2)
    os.close(write_end)

    def finish():  # close the pipe's last writer so the child sees the end, then wait for it
        os.dup2(original, 2)
        try:
            child.wait(WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    atexit.register(finish)


def _pass_on(lines, out) -> None:
    """Write each line of `lines` (bytes) that is not a notice to `out` (a binary stream)."""
    for line in lines:
        if not NOTICES.search(line.decode("utf-8", "replace")):
            out.write(line)
            out.flush()


if __name__ == "__main__":  # the child: stdin is the pipe, stdout the terminal
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C reaches us too
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # end at the pipe's end, after the parent
    _pass_on(sys.stdin.buffer, sys.stdout.buffer)
