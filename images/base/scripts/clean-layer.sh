#!/bin/bash
# Remove what package managers leave behind, at the end of the RUN that installed:
# apt lists and archives, conda's package cache, pip's and npm's caches, /tmp.
# Usage: clean-layer.sh   (as root or as the notebook user; missing tools are skipped)
set -euo pipefail

if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    apt-get clean
    rm -rf /var/lib/apt/lists/*
fi
if command -v mamba >/dev/null; then
    mamba clean --all --force-pkgs-dirs --yes >/dev/null
elif command -v conda >/dev/null; then
    conda clean --all --force-pkgs-dirs --yes >/dev/null
fi
if command -v npm >/dev/null; then
    npm cache clean --force >/dev/null 2>&1 || echo "clean-layer: npm cache not cleaned" >&2
fi
rm -rf "${HOME:?}/.cache/pip" "${HOME:?}/.cache/yarn" /root/.cache/pip
find /tmp -mindepth 1 -maxdepth 1 -user "$(id -u)" -exec rm -rf {} +
