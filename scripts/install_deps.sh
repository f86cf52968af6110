#!/usr/bin/env bash
# Installs the Debian packages the build needs, when missing (the machines run
# as root; `make` calls this once, then keeps build/.deps-ok).
set -euo pipefail
# g++ and python3: the CUDA kernel emulator of `make test` (tests/cuda_emu).
# clang and its runtime (libFuzzer, the sanitizers): the fuzzers of `make fuzz`
# (tests/fuzz); Debian 12's clang is version 14.
# Open MPI: the data-parallel ranks (core/comm.h) and mpirun for their tests.
# python3-matplotlib: the plots of scripts/reproduce_paper.sh.
packages=(g++ python3 python3-matplotlib clang libclang-rt-14-dev libopenblas-dev libopenblas0-openmp libopenblas0-pthread
          libjpeg62-turbo-dev libpng-dev libcjson-dev libsvm-dev libopenmpi-dev openmpi-bin)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing missing packages: ${missing[*]}"
    if [ "$(id -u)" != 0 ]; then
        echo "error: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
