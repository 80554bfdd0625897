"""`apitwin serve` as a separate process, as a user starts it from the shell."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

APITWIN = (sys.executable, "-m", "apitwin")


@dataclass
class Served:
    process: subprocess.Popen[str]
    origin: str  # e.g. http://localhost:41234
    banner: list[str]
    _lines: queue.Queue[str]

    def next_line(self, timeout: float = 10) -> str:
        """The next line the server prints (a --log line, say)."""
        return self._lines.get(timeout=timeout).rstrip("\n")


@contextmanager
def served(*options: str) -> Iterator[Served]:
    """`apitwin serve --port 0 OPTIONS...`, once its banner is out; killed at the end."""
    process = subprocess.Popen(
        [*APITWIN, "serve", "--port", "0", *options], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def forward() -> None:  # a thread, so that reading a line can time out instead of hanging the suite
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    forwarding = threading.Thread(target=forward, daemon=True)
    forwarding.start()
    try:
        banner: list[str] = []
        deadline = time.monotonic() + 30
        while not banner or not banner[-1].lstrip().startswith("journal"):  # the banner's last line
            try:
                banner.append(lines.get(timeout=0.2))
            except queue.Empty:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"apitwin serve printed no banner: {''.join(banner)}") from None
        origin = banner[-1].split()[1].removesuffix("/__apitwin/requests")
        yield Served(process, origin, banner, lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        forwarding.join(timeout=15)  # to the end of the output: --workers' workers stop a moment after their parent
        # (closing the pipe while the thread still reads it would wait for ever)
        assert not forwarding.is_alive(), "a process `apitwin serve` started outlived it and holds its output open"
        if process.stdout is not None:
            process.stdout.close()


def run(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`apitwin ARGUMENTS...` to completion (for commands that should stop at once)."""
    return subprocess.run([*APITWIN, *arguments], capture_output=True, text=True, timeout=timeout)
