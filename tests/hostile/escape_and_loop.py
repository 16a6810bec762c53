# Forks a child that leaves the process group (setsid) and sleeps forever,
# records both pids where the test can read them, then loops forever.
import os
import time

child = os.fork()
if child == 0:
    os.setsid()
    while True:
        time.sleep(1)
with open(PIDS_FILE, "w") as f:
    f.write("%d %d" % (os.getpid(), child))


def solve(x):
    pass


while True:
    pass
