"""One module a command: `HELP`, optional `USAGE`, `arguments(parser)` and `run(context)`.

tasks/cli.py lists them in one table and imports only the one that runs; so a command
module imports the standard library and light tasks modules at import time, and the
heavy ones (the docker SDK, requests) inside run().

A command module is named for its command (`nox -s push`: commands/push.py) and holds
only what the command line adds: its flags, and which parts of the run's Context it hands
on. The work is in the package of the part it works on (registry/push.py, docker/dev.py,
pinning/pins_check.py, ...), takes plain values, and never sees argparse or the Context:
so the packages below import one way, and `X --help` loads no SDK.

May import every package of the runner (the top of tasks/__init__.py's list, below cli).
"""
