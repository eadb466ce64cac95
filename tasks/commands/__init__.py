"""One module a command: `HELP`, optional `USAGE`, `arguments(parser)` and `run(context)`.

tasks/cli.py lists them in one table and imports only the one that runs; so a command
module imports the standard library and light tasks modules at import time, and the
heavy ones (the docker SDK, requests) inside run().
"""
