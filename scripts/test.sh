#!/usr/bin/env bash
# The whole test suite: installs the compilers and libraries the test
# modules need if they are missing (gfortran; MPICH's mpicc/mpif77/mpirun
# for the MPI tests; Lua 5.4's headers and library, its cjson module and
# CPython 3.11's headers for the embedded-interpreter tests; clang with the
# wasm32-wasi target, wasi-libc and Binaryen's wasm-opt for the Wasm beads;
# gcc/g++ and rustc are expected), then checks formatting, lints, and runs
# every test.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v gfortran >/dev/null 2>&1 || need+=(gfortran)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v mpicc >/dev/null 2>&1 || need+=(mpich libmpich-dev)
[ -e /usr/include/lua5.4/lua.h ] || need+=(liblua5.4-dev)
[ -e /usr/lib/x86_64-linux-gnu/lua/5.4/cjson.so ] || need+=(lua-cjson)
[ -e /usr/include/python3.11/Python.h ] || need+=(python3.11-dev)
[ -e /usr/lib/wasm32-wasi/libc.a ] && command -v clang >/dev/null 2>&1 && command -v wasm-ld >/dev/null 2>&1 ||
    need+=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
command -v wasm-opt >/dev/null 2>&1 || need+=(binaryen)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --no-fail-fast
