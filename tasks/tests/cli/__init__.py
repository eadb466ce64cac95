"""Command-line tier: the runner started as a user starts it (`python -m tasks`, `nox -s`),
and the tools it runs (git, linters), with no engine and no registry."""
