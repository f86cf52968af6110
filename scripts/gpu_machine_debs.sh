#!/usr/bin/env bash
# The GPU machines (see bench/gpu_check.sh) have gcc, nvcc and PyTorch but not
# the Debian libraries this build links, and nothing can be fetched there.
# Run this here, where apt works: it downloads their .deb files into
# .gpu-debs/ (git-ignored, a few MB). Carry .gpu-debs with the device call;
# bench/gpu_check.sh unpacks them into .gpu-debs/root (never into /) and
# builds with DEPS_ROOT pointing there. Debian 12's libraries need glibc 2.29
# at most, so they load on the machines' newer systems.
# It also copies the PyTorch anchor (../shared/bench/albef_torch_anchor.py,
# which lives outside the checkout and so does not travel) into
# .gpu-debs/anchor/, where bench/gpu_check.sh looks for it first.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-debs/anchor
cp ../shared/bench/albef_torch_anchor.py .gpu-debs/anchor/
cd .gpu-debs
apt-get download libopenblas0-openmp libopenblas-dev libopenblas-pthread-dev libopenblas0 libgfortran5 \
    libjpeg62-turbo libjpeg62-turbo-dev libpng16-16 libpng-dev zlib1g-dev libcjson1 libcjson-dev libsvm3 libsvm-dev \
    libopenmpi3 libopenmpi-dev libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7
ls -l
