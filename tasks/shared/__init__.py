"""What every package may use, knowing nothing of the stack: files written whole (files),
bounded retries of registry calls (retry), answers checked for their shape (shape), byte
counts that may be unknown (sizes), and the GitHub job summary (summary).

May import: tasks.console.
"""
