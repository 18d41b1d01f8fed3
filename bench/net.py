"""Where the benchmarks' servers listen: loopback only, on ports the kernel hands out."""

import socket

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]
