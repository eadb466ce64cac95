"""Unit tier: the runner's code called in-process (git on throwaway repositories is fine);
no engine, no registry, no `python -m tasks`. conftest.py fails a test that reaches Docker."""
