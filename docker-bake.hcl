# The image stack: one target per stage, and the single source of stage truth.
# `nox -s plan` and `nox -s bake` read this file; so can `docker buildx bake` alone.
#
# Each child reaches its parent through a named context (`target:`), so one bake
# invocation builds a whole chain in graph order. A Dockerfile's `FROM ${BASE_IMAGE}`
# resolves to that named context because BASE_IMAGE is set to the context's key.
# The runner replaces the tags below with its own (branch, SHA, short SHA, v2/latest).

# The upstream image, pinned here and nowhere else.
# pin: image quay.io/jupyter/datascience-notebook; evidence: the original used this tag on the same stack (StatCan/zone-kubeflow-containers d981ffd .github/workflows/docker.yaml base-image; 7dc04a8 docker-bits/0_cpu.Dockerfile BASE_VERSION=2024-06-17, a commit of the history the original shares with its sister project StatCan/aaw-kubeflow-containers); docker-stacks f5b5d0af is that date's state (Ubuntu 22.04, Python 3.11; R 4.3: docs/images.md, Size)
variable "UPSTREAM_IMAGE" {
  default = "quay.io/jupyter/datascience-notebook:2024-06-17"
}

# The SAS installation is copied from this private image of the original platform,
# pinned by tag; point it elsewhere with SAS_IMAGE=... (bake and the runner both read the
# environment). SAS_IMAGE= (empty) builds sas-kernel without SAS: label io.zone.sas=absent.
# pin: image k8scc01covidacr.azurecr.io/sas4c; evidence: unverified: a private registry (Azure ACR of the original platform); the original used exactly sas4c:0.0.3 on this upstream (StatCan/zone-kubeflow-containers d981ffd images/mid/Dockerfile; 7dc04a8 and 03f5c602 docker-bits/0_cpu.Dockerfile, commits of the history it shares with StatCan/aaw-kubeflow-containers), which no public source can confirm
variable "SAS_IMAGE" {
  default = "k8scc01covidacr.azurecr.io/sas4c:0.0.3"
}

# Names for images built by hand with `docker buildx bake`.
variable "REPO" {
  default = "zone"
}

variable "TAG" {
  default = "dev"
}

group "default" {
  targets = ["jupyterlab-cpu", "sas"]
}

target "base" {
  context = "images/base"
  args    = { BASE_IMAGE = "${UPSTREAM_IMAGE}" }
  tags    = ["${REPO}/base:${TAG}"]
}

target "mid" {
  context  = "images/mid"
  contexts = { base = "target:base" }
  args     = { BASE_IMAGE = "base" }
  tags     = ["${REPO}/mid:${TAG}"]
}

target "sas-kernel" {
  context  = "images/sas_kernel"
  contexts = { mid = "target:mid" }
  args     = { BASE_IMAGE = "mid", SAS_IMAGE = "${SAS_IMAGE}" }
  tags     = ["${REPO}/sas-kernel:${TAG}"]
}

target "jupyterlab-cpu" {
  context  = "images/jupyterlab"
  contexts = { sas-kernel = "target:sas-kernel" }
  args     = { BASE_IMAGE = "sas-kernel" }
  tags     = ["${REPO}/jupyterlab-cpu:${TAG}"]
}

target "sas" {
  context  = "images/sas"
  contexts = { sas-kernel = "target:sas-kernel" }
  args     = { BASE_IMAGE = "sas-kernel" }
  tags     = ["${REPO}/sas:${TAG}"]
}
