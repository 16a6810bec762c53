# Tries to reach a listener the test opened on the host's loopback.
import socket


def solve():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
        return "connected"
    except OSError:
        return "blocked"
