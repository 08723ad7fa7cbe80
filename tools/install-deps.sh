#!/usr/bin/env bash
# Installs exactly what lnpsaxs needs to build, test and run its tools on Debian 12 / Ubuntu
# (docs/architecture.md §9). Idempotent and non-interactive: packages already present are skipped,
# `apt-get update` runs only when something is missing. Works as root or through sudo.
#   tools/install-deps.sh            install what is missing
#   tools/install-deps.sh --check    only report what is missing (exit 1 if anything is)
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

PACKAGES=(
  # build
  cmake ninja-build pkg-config g++ git
  # libraries
  libtorch-dev libopenblas0-pthread          # LibTorch (CPU) + a fast BLAS for it
  libopenmpi-dev openmpi-bin                  # MPI
  libhdf5-openmpi-dev hdf5-tools              # parallel HDF5 + h5dump/h5diff
  libyaml-cpp-dev libboost-program-options-dev libboost-dev   # config, CLI, Boost.Random
  libspdlog-dev libfmt-dev libssl-dev         # logging, SHA-256
  libfftw3-dev                                # FFTW3 (float + double): the cpu simulator backend
  libeigen3-dev                               # Eigen3 (header-only): analyze's eigen/SVD
  doctest-dev                                 # unit tests
  # pipeline tests on a real single-node SLURM
  slurm-wlm munge
  # report and plots (tools/*.py use Debian's python3, not a virtualenv)
  python3 python3-h5py python3-matplotlib python3-numpy
  # fit tests against a second implementation (SasView's sasmodels + bumps), the PyTorch eager
  # benchmark of the fit, tools/bench_batch.py, and SasView's data loaders (the exports must load
  # there): test/benchmark-only
  python3-sasmodels python3-bumps python3-scipy python3-torch python3-sasdata
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${1:-}" = "--check" ]; then
  if [ ${#missing[@]} -eq 0 ]; then echo "install-deps: all ${#PACKAGES[@]} packages present"; exit 0; fi
  echo "install-deps: missing: ${missing[*]}"; exit 1
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo: install ${missing[*]} by hand" >&2; exit 1; }
  SUDO="sudo"
fi
echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "+ apt-get update"
$SUDO apt-get update -q
echo "+ apt-get install -y --no-install-recommends ${missing[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
