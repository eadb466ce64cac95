"""`python -m tasks COMMAND` and the `zone-runner` command: one way in, one way out."""

import sys
from typing import NoReturn


def run() -> NoReturn:
    # Ctrl-C while the runner's modules load, and a reader that closed our output, end as
    # they do later on: quietly, exit 130 and 141 (tasks.cli.interrupted, closed_output).
    try:
        from tasks.cli import closed_output, interrupted, main
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)

    try:
        code = main()
    except KeyboardInterrupt:
        code = interrupted()
    except BrokenPipeError:
        code = closed_output()
    try:
        sys.stdout.flush()  # here, not at exit, where a closed pipe would print a complaint
    except BrokenPipeError:
        code = closed_output()
    sys.exit(code)


if __name__ == "__main__":
    run()
