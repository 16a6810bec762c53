# Writes 1 GiB to stdout.
import sys

chunk = "x" * 65536
for _ in range(16384):
    sys.stdout.write(chunk)


def solve():
    pass
