"""The registry: what is pushed (push), tagged registry-side (retag), taken instead of
built (reuse), an image's layers (layers) and SBOM (sbom), signatures (signing), what a
signature must vouch for (claims), `nox -s verify` (verify), and the table of what was
written (published).

May import: tasks.console, tasks.shared, tasks.stack, tasks.settings, tasks.checkout,
tasks.planning, tasks.docker, tasks.pinning.
"""
