"""The task runner behind the noxfile: plan, bake and the pieces they share.

Its packages, lowest first; each imports only from its own and those listed before it
(tasks/tests/unit/test_layering.py checks every import):

  console     stderr for people, stdout for programs; one error type, one exit path
  shared      atomic files, retries, checked answers, byte counts, job summaries
  stack       the bake file, Dockerfiles, stage inputs, upstreams, image references
  settings    pyproject [tool.zone], ZONE_* variables, flags: one frozen dataclass
  checkout    git: the revision and what changed since the merge base
  planning    the plan (build or reuse, why), tags, inputs the commit does not pin
  docker      the local engine: bake, the SAS preflight, image tests, dev
  pinning     the external pins: read, pin-like ARGs, checked online
  registry    push, retag, reuse, layers, SBOMs, signing, claims, verify
  reports     pull cost, the estimate, release notes, generated docs pages
  lint        the checks `nox -s lint` runs
  context     one run of one command: settings with its flags, graph, git, plan
  commands    one module a command: its flags and its run
  cli         the command table and the one way every run ends
  __main__    `python -m tasks` and the `zone-runner` command
"""
