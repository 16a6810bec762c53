# Tries to read a 0600 file, delete a 0644 file it does not own, and list the
# real home directory; each attempt reports "allowed" or "denied".
import os


def attempt(f):
    try:
        f()
        return "allowed"
    except OSError:
        return "denied"


def solve():
    return (
        attempt(lambda: open(SECRET).read()),
        attempt(lambda: os.remove(PUBLIC)),
        attempt(lambda: os.listdir(REAL_HOME)),
    )
