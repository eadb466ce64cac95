#!/bin/bash
# Shared by suspend-server and adjust-server-resources: which Kubeflow Notebook is this?
# NB_PREFIX is /notebook/<namespace>/<name>; NB_NAMESPACE / NB_NAME, when set, win.
# shellcheck disable=SC2034  # the variables are used by the scripts that source this
prefix="${NB_PREFIX:-/notebook/username/notebookname}"
IFS=/ read -r _ _ prefix_namespace prefix_name _ <<<"$prefix"
NOTEBOOK_NAMESPACE="${NB_NAMESPACE:-$prefix_namespace}"
NOTEBOOK_NAME="${NB_NAME:-$prefix_name}"
if [ -z "$NOTEBOOK_NAMESPACE" ] || [ -z "$NOTEBOOK_NAME" ]; then
    echo "cannot tell the notebook from NB_PREFIX=$prefix (expected /notebook/<namespace>/<name>)" >&2
    exit 2
fi
