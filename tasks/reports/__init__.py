"""Reports for people: what images cost to pull (cost), a build's cost before it runs
(estimate), release notes (release_notes), and the generated docs pages (docs).

May import every package below it: tasks.console, tasks.shared, tasks.stack,
tasks.settings, tasks.checkout, tasks.planning, tasks.docker, tasks.pinning, tasks.registry.
"""
