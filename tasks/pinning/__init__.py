"""The stack's external pins: read from the Dockerfiles and the bake file (pins), ARGs
that look like pins but carry no `# pin:` line (pin_like), and each pin asked online
(pins_check, through bounded HTTP: fetch).

May import: tasks.console, tasks.shared, tasks.stack, tasks.settings, tasks.checkout,
tasks.planning, tasks.docker.
"""
