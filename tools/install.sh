#!/usr/bin/env bash
# Installs the Debian packages mapbench needs, and nothing when they are all
# present already (idempotent: a second run costs one dpkg query).
#
# Usage: tools/install.sh            # install what is missing
#        tools/install.sh --check    # list what is missing, exit 1 if any
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap bazel-rules-java bazel-platforms g++ clang libclang-rt-14-dev
  # test and benchmark frameworks
  libgtest-dev libgmock-dev libbenchmark-dev relacy-dev
  # peer maps (harness baselines, never dependencies of the variants)
  libtbb-dev libcuckoo-dev libcds-dev libabsl-dev liblmdb-dev
  # peer allocators (allocator-suite baselines)
  libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev
  # plots and the report check
  python3-matplotlib chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${1:-} == --check ]]; then
  if ((${#missing[@]})); then echo "missing: ${missing[*]}"; exit 1; fi
  echo "all ${#PACKAGES[@]} packages present"; exit 0
fi

if ((${#missing[@]} == 0)); then
  echo "install: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install: missing ${#missing[@]} package(s): ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install: error: need root (or password-less sudo) to apt-get install:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install: done"
