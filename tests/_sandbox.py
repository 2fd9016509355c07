"""Run test cases in a child process, so that a segfault, an abort or a hang fails a test
instead of killing (or stalling) pytest.

A :class:`Sandbox` keeps one worker process (``python -m tests._sandbox``) and feeds it
pickled calls ``(module, function name, args, kwargs)`` over a pipe; the worker imports the
function, calls it and sends back an :class:`Outcome`: what it returned (summarized: type,
shape, dtype, finiteness) or what it raised (type, MRO, message). A worker that dies or runs
past the timeout is reported as ``crashed``/``timeout`` (with its exit status and the tail of
its stderr) and replaced by a fresh one for the next call.

The worker runs with ``FASTREP_MAX_MEMORY`` at 1 GiB and its address space limited, so a
case that would allocate without asking fails fast instead of swapping the machine.
"""

from __future__ import annotations

import importlib
import os
import pickle
import selectors
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Memory budget and address-space limit of a worker.
WORKER_BUDGET = 2**30
WORKER_ADDRESS_SPACE = 12 * 2**30


@dataclass
class Outcome:
    status: str  # "returned", "raised", "crashed" or "timeout"
    exc_type: str = ""
    exc_mro: tuple = ()
    message: str = ""
    value: dict = field(default_factory=dict)
    returncode: int | None = None
    stderr: str = ""
    seconds: float = 0.0

    def raised(self, exc: type, *words: str) -> bool:
        """True when the call raised ``exc`` (or a subclass) and the message contains every word."""
        return (self.status == "raised" and exc.__name__ in self.exc_mro
                and all(w.lower() in self.message.lower() for w in words))

    def __str__(self):
        if self.status == "raised":
            return f"raised {self.exc_type}: {self.message[:300]}"
        if self.status == "returned":
            return f"returned {self.value}"
        return f"{self.status} (exit status {self.returncode}; {self.seconds:.1f} s) stderr: {self.stderr[-400:]}"


def describe(value) -> dict:
    """A picklable summary of a return value: type, shape, dtype and whether it is finite."""
    import numpy as np

    out = {"type": type(value).__name__}
    if hasattr(value, "get") and type(value).__module__.startswith("cupy"):
        value = value.get()
    if isinstance(value, tuple):
        out["items"] = [describe(v) for v in value]
        out["finite"] = all(v.get("finite", True) for v in out["items"])
        return out
    if isinstance(value, np.ndarray):
        out.update(shape=tuple(value.shape), dtype=str(value.dtype))
        out["finite"] = bool(np.isfinite(value).all()) if value.dtype.kind in "fc" and value.size else True
    elif isinstance(value, (float, np.floating)):
        out["finite"] = bool(np.isfinite(value))
    return out


class Sandbox:
    """One reusable worker process; ``run(fn, *args, **kwargs)`` returns an :class:`Outcome`."""

    def __init__(self, timeout: float = 60.0, env: dict | None = None):
        self.timeout = timeout
        self.env = env or {}
        self.proc = None
        self.restarts = 0
        self._err = None

    def _start(self):
        env = dict(os.environ)
        env.setdefault("FASTREP_MAX_MEMORY", str(WORKER_BUDGET))
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env.update(self.env)
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests._sandbox"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._err, cwd=ROOT, env=env)

    def _stderr_tail(self) -> str:
        if self._err is None:
            return ""
        self._err.seek(0)
        return self._err.read()[-2000:].decode(errors="replace")

    def _kill(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        self.proc = None
        if self._err is not None:
            self._err.close()
            self._err = None

    def _read(self, n: int, deadline: float) -> bytes | None:
        buf = b""
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while len(buf) < n:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise TimeoutError
                chunk = os.read(fd, n - len(buf))
                if not chunk:
                    return None  # the worker died
                buf += chunk
        return buf

    def run(self, fn, *args, timeout: float | None = None, **kwargs) -> Outcome:
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self._kill()
                self.restarts += 1
            self._start()
        msg = pickle.dumps((fn.__module__, fn.__qualname__, args, kwargs))
        t0 = time.monotonic()
        deadline = t0 + (timeout or self.timeout)
        try:
            self.proc.stdin.write(struct.pack("<Q", len(msg)) + msg)
            self.proc.stdin.flush()
            head = self._read(8, deadline)
            body = None if head is None else self._read(struct.unpack("<Q", head)[0], deadline)
        except TimeoutError:
            err = self._stderr_tail()
            self._kill()
            self.restarts += 1
            return Outcome("timeout", seconds=time.monotonic() - t0, stderr=err)
        except BrokenPipeError:
            body = None
        if body is None:
            rc = self.proc.wait()
            err = self._stderr_tail()
            self._kill()
            self.restarts += 1
            return Outcome("crashed", returncode=rc, stderr=err, seconds=time.monotonic() - t0)
        out = pickle.loads(body)
        out.seconds = time.monotonic() - t0
        return out

    def close(self):
        self._kill()


def _serve():
    """The worker: read calls from stdin, write Outcomes to stdout, until stdin closes."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):
        pass
    import warnings

    warnings.simplefilter("ignore")  # a warning is not a verdict; the result or exception is
    inp, outp = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # prints from a case must not corrupt the channel
    while True:
        head = inp.read(8)
        if len(head) < 8:
            return
        mod, name, args, kwargs = pickle.loads(inp.read(struct.unpack("<Q", head)[0]))
        try:
            fn = importlib.import_module(mod)
            for part in name.split("."):
                fn = getattr(fn, part)
            res = Outcome("returned", value=describe(fn(*args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - every exception is a verdict here
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            res = Outcome("raised", exc_type=type(exc).__name__,
                          exc_mro=tuple(c.__name__ for c in type(exc).__mro__), message=str(exc))
        data = pickle.dumps(res)
        outp.write(struct.pack("<Q", len(data)) + data)
        outp.flush()


if __name__ == "__main__":  # run as tests._sandbox, so Outcome pickles under its importable name
    from tests._sandbox import _serve as serve

    serve()
