"""Shared plumbing of the Python interop programs: command line, check reporting, version pins.

Every check prints one line: `ok - <name>`, `ok - <name> # SKIP <reason>` (a known limitation
of the client library, never of the server) or `not ok - <name>: <details>`. The exit code is
0 when no check failed, 1 otherwise and 2 on a usage error.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import traceback
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Bound of one step (a connect, an invocation round trip, a stream) and of one whole check.
STEP_TIMEOUT = 5.0
CHECK_TIMEOUT = 20.0
# Bound of a whole program run: a stuck library thread cannot hang the run past it.
RUN_TIMEOUT = float(os.environ.get("INTEROP_RUN_TIMEOUT", "200"))


class CheckFailed(Exception):
    """A check's expectation was not met; the message is the printed detail."""


class Skip(Exception):
    """The check cannot run with this client library; the message is the printed reason."""


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def expect_equal(actual, expected, what: str) -> None:
    """Equal values and equal types all the way down (1 is not 1.0, True is not 1)."""
    if not _same(actual, expected):
        raise CheckFailed(f"{what}: expected {expected!r}, got {actual!r}")


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def pinned_versions() -> dict[str, str]:
    pins = {}
    for line in (HERE / "requirements.txt").read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def require_pinned(package: str) -> str:
    """The installed version of `package`; exits 1 when it is not the pinned one."""
    want = pinned_versions().get(package)
    try:
        have = metadata.version(package)
    except metadata.PackageNotFoundError:
        have = None
    if want is None or have != want:
        print(
            f"not ok - {package} {have or '(not installed)'} is installed but requirements.txt "
            f"pins {want}: run `bash tests/interop/python/install.sh`",
            flush=True,
        )
        os._exit(1)
    return have


class Runner:
    """Parses `<base-url> [--only REGEX] [--list]`, runs the selected checks and reports."""

    def __init__(self, program: str, check_names: list[str]):
        self.program = program
        self.names = check_names
        self.failed = 0
        self.passed = 0
        self.skipped = 0
        self._lock = threading.Lock()
        base, only, list_only = self._parse(sys.argv[1:])
        if list_only:
            for n in check_names:
                print(n)
            sys.exit(0)
        self.base_url = base.rstrip("/")
        self.only = only
        self._arm_watchdog()

    def _usage(self, message: str) -> None:
        print(f"{self.program}: {message}", file=sys.stderr)
        print(
            f"usage: python {self.program} <base-url> [--only <regex>] [--list]"
            "  (or MOCK_HUB_URL=<base-url>)",
            file=sys.stderr,
        )
        sys.exit(2)

    def _parse(self, args: list[str]):
        base, only, list_only = os.environ.get("MOCK_HUB_URL"), None, False
        positional = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--only":
                if i + 1 >= len(args):
                    self._usage("--only needs a regular expression")
                try:
                    only = re.compile(args[i + 1])
                except re.error as e:
                    self._usage(f"--only: bad regular expression: {e}")
                i += 2
                continue
            if a == "--list":
                list_only = True
            elif a.startswith("-"):
                self._usage(f"unknown option {a}")
            else:
                positional.append(a)
            i += 1
        if len(positional) > 1:
            self._usage("too many arguments")
        if positional:
            base = positional[0]
        if not list_only and not base:
            self._usage("the base URL of the server is required")
        if base and not re.match(r"^https?://", base):
            self._usage(f"the base URL must start with http:// or https://, got {base!r}")
        return base, only, list_only

    def _arm_watchdog(self) -> None:
        def fire():
            print(
                f"not ok - watchdog: the run did not finish within {RUN_TIMEOUT:.0f} s",
                flush=True,
            )
            os._exit(1)

        t = threading.Timer(RUN_TIMEOUT, fire)
        t.daemon = True
        t.start()

    def selected(self, name: str) -> bool:
        if name not in self.names:
            raise AssertionError(f"check {name!r} is not in the check list")
        return self.only is None or self.only.search(name) is not None

    def comment(self, text: str) -> None:
        for line in text.splitlines():
            print(f"# {line}", flush=True)

    def ok(self, name: str) -> None:
        with self._lock:
            self.passed += 1
            print(f"ok - {name}", flush=True)

    def skip(self, name: str, reason: str) -> None:
        with self._lock:
            self.skipped += 1
            print(f"ok - {name} # SKIP {reason}", flush=True)

    def fail(self, name: str, details: str) -> None:
        with self._lock:
            self.failed += 1
            details = " ".join(details.split())
            print(f"not ok - {name}: {details}", flush=True)

    def outcome(self, name: str, exc: BaseException | None, log: list[str] | None = None) -> None:
        if exc is None:
            self.ok(name)
        elif isinstance(exc, Skip):
            self.skip(name, str(exc))
        elif isinstance(exc, CheckFailed):
            self.fail(name, str(exc))
        else:
            tb = traceback.extract_tb(exc.__traceback__)
            where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
            self.fail(name, f"{type(exc).__name__}: {exc}{where}")
        if exc is not None and not isinstance(exc, Skip) and log:
            for line in log[-15:]:
                print(f"#   {line}", flush=True)

    def finish(self) -> None:
        total = self.passed + self.failed + self.skipped
        print(
            f"# {self.program}: {total} checks, {self.passed} passed, {self.skipped} skipped, "
            f"{self.failed} failed",
            flush=True,
        )
        if total == 0:
            print("not ok - no check selected", flush=True)
            self.failed += 1
        sys.stdout.flush()
        sys.stderr.flush()
        # Library threads and sockets may linger: leave without waiting for them.
        os._exit(1 if self.failed else 0)
