"""`nox -s lint`: every check over the repository, all of them run, every finding shown."""
