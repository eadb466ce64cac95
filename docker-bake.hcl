# The image stack: one target per stage, and the single source of stage truth.
# `nox -s plan` and `nox -s bake` read this file; so can `docker buildx bake` alone.
#
# Each child reaches its parent through a named context (`target:`), so one bake
# invocation builds a whole chain in graph order. A Dockerfile's `FROM ${BASE_IMAGE}`
# resolves to that named context because BASE_IMAGE is set to the context's key.
# The runner replaces the tags below with its own (branch, SHA, short SHA, v2/latest).

# The upstream image, pinned here and nowhere else.
variable "UPSTREAM_IMAGE" {
  default = "quay.io/jupyter/datascience-notebook:2024-06-17"
}

# The SAS installation is copied from this private image of the original platform;
# point it elsewhere with SAS_IMAGE=... (bake and the runner both read the environment).
variable "SAS_IMAGE" {
  default = "k8scc01covidacr.azurecr.io/sas4c"
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
