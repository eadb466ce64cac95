"""The stack as this commit declares it, read without Docker and without git: the bake
file's stage graph (bakefile), Dockerfiles as BuildKit parses them (dockerfile), what each
stage's build reads (inputs) and which of its instructions a change runs again
(invalidation), which roots an upstream feeds (upstreams), and image references
(references).

May import: tasks.console, tasks.shared.
"""
