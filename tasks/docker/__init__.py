"""The local Docker engine: preflight and engine calls (engine), the plan as one
`docker buildx bake` (bake), the SAS image preflight (sas_image), the image tests
(imagetest) and one image run locally (dev).

May import: tasks.console, tasks.shared, tasks.stack, tasks.settings, tasks.checkout,
tasks.planning.
"""
