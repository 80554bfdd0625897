"""Ports for the servers tests start themselves."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range: a port from that range (bind to port 0) is
    free only until the next socket, and the other test worker's servers and client connections take such
    ports all the time, so one could take it before the server (`make serve`, a redis-server) binds it."""
    for port in random.sample(range(20_000, 32_768), 100):  # Linux's ephemeral range starts at 32768
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")
