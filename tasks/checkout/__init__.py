"""The checkout: git's view of the working tree (the one way the runner talks to git):
the revision, the merge base, and what changed since it.

May import: tasks.console, tasks.shared.
"""
