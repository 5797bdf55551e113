#!/usr/bin/env bash
# Builds the test modules into OUT (default tests/modules/build).
#
#   bash tests/modules/build.sh [OUT]
#
# Shared objects are built -fPIC -shared with undefined symbols allowed (the
# default for shared objects): beads get them from other beads of their weave.
# Programs are built as the toolchain's default PIE executables. A target is
# rebuilt only when its source or this script is newer, so reruns are cheap.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# One build at a time in OUT: the test binaries share it, and cargo may run
# several at once.
exec 9>"$out/.build.lock"
flock 9

CC=${CC:-cc}
CXX=${CXX:-c++}
FC=${FC:-gfortran}
RUSTC=${RUSTC:-rustc}

for tool in "$CC" "$CXX" "$FC" "$RUSTC"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: '$tool' not found; the module tests need cc, c++, gfortran and rustc" >&2
    echo "build.sh: (Debian/Ubuntu: apt-get install gcc g++ gfortran; Rust: https://rustup.rs)" >&2
    exit 1
  fi
done

# stale TARGET SOURCE: true when TARGET must be (re)built.
stale() {
  [[ ! -e $1 || $2 -nt $1 || $here/build.sh -nt $1 ]]
}

# build TARGET SOURCE COMMAND...: run COMMAND (which writes TARGET.tmp) if stale,
# then move the result into place so an interrupted build leaves no half file.
build() {
  local target=$out/$1 source=$here/$2
  shift 2
  if stale "$target" "$source"; then
    echo "build.sh: $target" >&2
    "$@" "$source" -o "$target.tmp"
    mv -f "$target.tmp" "$target"
  fi
}

cflags=(-O2 -g -Wall -Wextra)
so_c=("$CC" "${cflags[@]}" -fPIC -shared)

build counter.so counter.c "${so_c[@]}"
build app.so app.c "${so_c[@]}"
build globals.so globals.c "${so_c[@]}"
build exit_mod.so exit_mod.c "${so_c[@]}"
build tuple.so tuple.c "${so_c[@]}"
build missing.so missing.c "${so_c[@]}"
build missing_data.so missing_data.c "${so_c[@]}"
build small.so small.c "${so_c[@]}"
build sleeper.so sleeper.c "${so_c[@]}"
for v in 1 2 3 4 5; do
  build swap_v$v.so swap_counter.c "${so_c[@]}" -DVERSION=$v
done
build swap_v3_refuses.so swap_counter.c "${so_c[@]}" -DVERSION=3 -DREFUSE
build swap_driver.so swap_driver.c "${so_c[@]}"
build swap_driver_quiet.so swap_driver.c "${so_c[@]}" -DNO_ECHO
for v in 1 2; do
  build swap_cxx_v$v.so swap_cxx.cpp "$CXX" "${cflags[@]}" -fPIC -shared -DVERSION=$v
done
build swap_cxx_client.so swap_cxx_client.c "${so_c[@]}"
build churn.so churn.c "${so_c[@]}"
build hog.so hog.c "${so_c[@]}"
build bt.so bt.c "${so_c[@]}"
build spin.so spin.c "${so_c[@]}"
build reentry.so reentry.c "${so_c[@]}"
build echo.so echo.c "${so_c[@]}"
build crash.so crash.c "${so_c[@]}"
# Every fault, trap, abort and heap misuse a bead can commit (the fault
# matrix), and initialisers and finalisers that fault.
build faultmatrix.so faultmatrix.c "${so_c[@]}"
build ctor_abort.so ctor_abort.c "${so_c[@]}"
build dtor_fault.so dtor_fault.c "${so_c[@]}"
build env_mod.so env_mod.c "${so_c[@]}"
# The message-interface (POLYLITH) example: sensor -> compute -> display.
api=(-I"$here/../../include")
build sensor.so sensor.c "${so_c[@]}" "${api[@]}"
build compute.so compute.c "${so_c[@]}" "${api[@]}" -DCOMPUTE_VERSION=1
build compute_v2.so compute.c "${so_c[@]}" "${api[@]}" -DCOMPUTE_VERSION=2
build display.so display.c "${so_c[@]}" "${api[@]}"
# A shared bead and the strings around it, for multi-string checkpoints.
build ckpt_ledger.so ckpt_ledger.c "${so_c[@]}"
build ckpt_team.so ckpt_team.c "${so_c[@]}" "${api[@]}"
build ckpt_big.so ckpt_big.c "${so_c[@]}" "${api[@]}"
build rollback_try.so rollback_try.c "${so_c[@]}" "${api[@]}"
build fini_mod.so fini_mod.c "${so_c[@]}" "${api[@]}"
build spawner.so spawner.c "${so_c[@]}" "${api[@]}"
# A private DT_NEEDED dependency, found beside its user through $ORIGIN.
build libwvhelper.so helper.c "${so_c[@]}" -Wl,-soname,libwvhelper.so
build uses_helper.so uses_helper.c "${so_c[@]}" -Wl,--no-as-needed -L"$out" -lwvhelper '-Wl,-rpath,$ORIGIN'
# dlopen from bead code: a host (PIE and shared object) and its plugin, which
# needs a private library through $ORIGIN; a library with a missing symbol.
build libdldep.so dl_dep.c "${so_c[@]}" -Wl,-soname,libdldep.so
build libdlplugin.so dl_plugin.c "${so_c[@]}" -Wl,--no-as-needed -L"$out" -ldldep '-Wl,-rpath,$ORIGIN'
build libdlbad.so dl_bad.c "${so_c[@]}"
build dl_host.so dl_host.c "${so_c[@]}"
build dl_host dl_host.c "$CC" "${cflags[@]}" -rdynamic
# dlclose unloads: a counted library, one that binds to it, and their host.
build libdlcounted.so dl_counted.c "${so_c[@]}"
build libdluser.so dl_user.c "${so_c[@]}"
build dl_reload.so dl_reload.c "${so_c[@]}"
build dl_reload dl_reload.c "$CC" "${cflags[@]}"
build cxx_module.so cxx_module.cpp "$CXX" "${cflags[@]}" -fPIC -shared
build cxx_tls.so cxx_tls.cpp "$CXX" "${cflags[@]}" -fPIC -shared
build heap_paths.so heap_paths.cpp "$CXX" "${cflags[@]}" -fPIC -shared
# The same C module with TLS descriptors instead of __tls_get_addr calls.
build globals_gnu2.so globals.c "${so_c[@]}" -mtls-dialect=gnu2
build tlsdesc_vec.so tlsdesc_vec.c "${so_c[@]}" -mavx -mtls-dialect=gnu2
build pie_prog pie_prog.c "$CC" "${cflags[@]}"
# A program with its own SIGSEGV/SIGFPE handlers, run natively and as a bead.
build sigrecover sigrecover.c "$CC" "${cflags[@]}"
# Asynchronous signals: handlers, alarms, timers, masks, pthread_kill.
build sigs sigs.c "$CC" "${cflags[@]}" -pthread
build pthreads pthreads.c "$CC" "${cflags[@]}" -pthread
build ckpt_compute ckpt_compute.c "$CC" "${cflags[@]}"
build rwsem rwsem.c "$CC" "${cflags[@]}" -pthread
build bigwrite bigwrite.c "$CC" "${cflags[@]}" -pthread
# Process-wide calls (fork, exec, wait, system, popen, rlimits, fds 0-2).
build procs procs.c "$CC" "${cflags[@]}"
# getopt state per bead: __posix_getopt (PIE, -D_POSIX_C_SOURCE) and getopt_long (.so).
build getopts_posix getopts.c "$CC" "${cflags[@]}" -D_POSIX_C_SOURCE=200809L
build getopts_long.so getopts.c "${so_c[@]}" -DWITH_LONG
build getopts_long getopts.c "$CC" "${cflags[@]}" -DWITH_LONG
build randoms randoms.c "$CC" "${cflags[@]}"
build randoms.so randoms.c "${so_c[@]}"
build locker locker.c "$CC" "${cflags[@]}"
# libc's per-program state (strtok, time buffers, tmpnam, passwd/group walks,
# getmntent, atexit). The linker warns about tmpnam: it is what is tested.
build libc_state libc_state.c "$CC" "${cflags[@]}"
build libc_state.so libc_state.c "${so_c[@]}"
build locales locales.c "$CC" "${cflags[@]}"
build locales.so locales.c "${so_c[@]}"
build bigalloc bigalloc.c "$CC" "${cflags[@]}"
build evloop evloop.c "$CC" "${cflags[@]}" -pthread
build tsd tsd.c "$CC" "${cflags[@]}" -pthread
# Threads that system libraries start and wait for: libstdc++ (std::thread,
# std::async, condition variables, call_once) and libgomp (OpenMP).
build cxx_threads cxx_threads.cpp "$CXX" "${cflags[@]}" -pthread
build cxx_threads.so cxx_threads.cpp "$CXX" "${cflags[@]}" -pthread -fPIC -shared
build omp_team omp_team.c "$CC" "${cflags[@]}" -fopenmp
build omp_team.so omp_team.c "${so_c[@]}" -fopenmp
build omp_native omp_native.c "$CC" "${cflags[@]}" -fopenmp
build omp_native.so omp_native.c "${so_c[@]}" -fopenmp
# pthread_exit: cleanup handlers, then thread-specific data destructors.
build cleanup cleanup.c "$CC" "${cflags[@]}" -pthread
build cleanup.so cleanup.c "${so_c[@]}" -pthread
build cancel cancel.c "$CC" "${cflags[@]}" -pthread
build cancel.so cancel.c "${so_c[@]}" -pthread
build cancel_io cancel_io.c "$CC" "${cflags[@]}" -pthread
build cancel_io.so cancel_io.c "${so_c[@]}" -pthread
# Process-shared mutexes, condition variables and semaphores across fork.
build pshared pshared.c "$CC" "${cflags[@]}" -pthread
build pshared.so pshared.c "${so_c[@]}" -pthread
build pshared_barrier pshared_barrier.c "$CC" "${cflags[@]}" -pthread
build pshared_barrier.so pshared_barrier.c "${so_c[@]}" -pthread
# SCHED_FIFO and priorities: accepted or refused as natively, read back.
build schedparam schedparam.c "$CC" "${cflags[@]}" -pthread
build schedparam.so schedparam.c "${so_c[@]}" -pthread
# Threads that spin on shared flags with no call in the loop (preemption).
build spin_flags spin_flags.c "$CC" "${cflags[@]}" -pthread
build spin_flags.so spin_flags.c "${so_c[@]}" -pthread
build libwvcopy.so copy_lib.c "${so_c[@]}" -Wl,-soname,libwvcopy.so
build copy_prog copy_prog.c "$CC" "${cflags[@]}" -Wl,--no-as-needed -L"$out" -lwvcopy '-Wl,-rpath,$ORIGIN' 
# -J keeps gfortran's .mod files out of the source tree.
build fortran_common fortran_common.f90 "$FC" -O2 -g -Wall -J "$out"
build fortran_stop fortran_stop.f90 "$FC" -O2 -g -Wall -J "$out"
build omp_fortran omp_fortran.f90 "$FC" -O2 -g -Wall -fopenmp -J "$out"
build omp_fortran.so omp_fortran.f90 "$FC" -O2 -g -Wall -fopenmp -fPIC -shared -J "$out"
build librust_counter.so rust_counter.rs \
  "$RUSTC" --edition 2021 --crate-type cdylib -O -C debuginfo=1 --crate-name rust_counter
# Executables with local-exec thread-locals (a Rust program's standard
# library keeps its thread state in them), optimised and not.
build rust_threads rust_threads.rs "$RUSTC" --edition 2021 -O -C debuginfo=1 --crate-name rust_threads
build tls_pie tls_pie.c "$CC" "${cflags[@]}" -pthread
build tls_pie_O0 tls_pie.c "$CC" "${cflags[@]}" -O0 -pthread
build diagnostics diagnostics.c "$CC" "${cflags[@]}"
# -O0: glibc expands some unlocked calls inline when optimising.
build unlocked_io unlocked_io.c "$CC" "${cflags[@]}" -O0
build tls_pie_cxx tls_pie_cxx.cpp "$CXX" "${cflags[@]}" -pthread

# MPI programs, built with MPICH's compiler wrappers (the MPI tests need
# them; scripts/test.sh installs MPICH). Without mpicc they are not built,
# and the MPI tests say so.
if command -v mpicc >/dev/null 2>&1; then
  for p in mpi_ring mpi_collectives mpi_jacobi mpi_globals mpi_errors mpi_abi mpi_stdout mpi_env mpi_mismatch mpi_more mpi_ops mpi_topo mpi_requests mpi_types mpi_misc mpi_nbc mpi_icoll mpi_comms mpi_graph mpi_rma mpi_pscw mpi_inter mpi_pcoll mpi_pcoll_self mpi_rma_more mpi_dtreduce mpi_darray mpi_intercoll; do
    build "$p" "$p.c" mpicc -O2 -g -w
  done
  build mpi_fring mpi_fring.f mpif77 -O2 -g -w -fallow-argument-mismatch
  build mpi_fstencil mpi_fstencil.f90 mpif90 -O2 -g -w -J "$out"
  build mpi_fmore mpi_fmore.f90 mpif90 -O2 -g -w -J "$out"
  build mpi_fnew mpi_fnew.f90 mpif90 -O2 -g -w -J "$out"
  build mpi_fgraph mpi_fgraph.f90 mpif90 -O2 -g -w -J "$out"
fi

# An embedded interpreter loading a C extension module: Lua 5.4 from the
# system (scripts/test.sh installs liblua5.4-dev). The extension is built as
# Lua modules are, against the headers only. Without the headers these are
# not built, and the test that uses them says so.
if [[ -e /usr/include/lua5.4/lua.h ]]; then
  lua=(-I/usr/include/lua5.4)
  build lua_count.so lua_count.c "${so_c[@]}" "${lua[@]}"
  build lua_host lua_host.c "$CC" "${cflags[@]}" "${lua[@]}" -Wl,--no-as-needed -llua5.4
  build lua_host.so lua_host.c "${so_c[@]}" "${lua[@]}" -Wl,--no-as-needed -llua5.4
fi

# The same with CPython 3.11 from the system (python3-dev), whose extension
# modules are installed in lib-dynload.
if [[ -e /usr/include/python3.11/Python.h ]]; then
  py=(-I/usr/include/python3.11)
  build py_host py_host.c "$CC" "${cflags[@]}" "${py[@]}" -Wl,--no-as-needed -lpython3.11
fi

# The programs must be PIE executables (ET_DYN with an interpreter), which is the
# default on Debian-family toolchains; say so clearly where it is not.
for prog in diagnostics unlocked_io tls_pie tls_pie_O0 tls_pie_cxx rust_threads pie_prog dl_host dl_reload libc_state locales sigrecover sigs copy_prog pthreads ckpt_compute rwsem bigwrite procs getopts_posix randoms locker evloop tsd cxx_threads omp_team omp_native omp_fortran cleanup cancel cancel_io pshared pshared_barrier schedparam spin_flags fortran_common fortran_stop; do
  type=$(od -An -t u2 -j 16 -N 2 "$out/$prog" | tr -d ' ')
  if [[ $type != 3 ]]; then
    echo "build.sh: $out/$prog is not a PIE executable (e_type=$type); this toolchain does not default to -pie" >&2
    exit 1
  fi
done

# WebAssembly (wasm32-wasi) builds of C programs, for Wasm beads; each is
# also built natively so a test can compare the two. They need clang with the
# wasm32 target and wasi-libc (scripts/test.sh installs them).
WASM_CC=${WASM_CC:-clang}
if ! command -v "$WASM_CC" >/dev/null 2>&1 || ! "$WASM_CC" --target=wasm32-wasi -print-targets >/dev/null 2>&1; then
  echo "build.sh: '$WASM_CC' not found; the Wasm tests need clang with the wasm32-wasi target and wasi-libc" >&2
  echo "build.sh: (Debian/Ubuntu: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32)" >&2
  exit 1
fi
wasm_c=("$WASM_CC" --target=wasm32-wasi -O2 -g -Wall -I"$here/../../include")
# Compiled optimised, linked without -O: clang then leaves the linked module
# as wasm-ld wrote it, with its `name` section (where it finds wasm-opt, an
# optimising link runs it, which drops the names traps are reported with).
wasm_link() {
  local args=("$@") n=$#
  local source=${args[n-3]} target=${args[n-1]}
  "${args[@]:0:n-3}" -c "$source" -o "$target.o"
  "$WASM_CC" --target=wasm32-wasi "$target.o" -o "$target"
  rm -f "$target.o"
}
build wasm_hello.wasm wasm_hello.c wasm_link "${wasm_c[@]}" -D_WASI_EMULATED_PROCESS_CLOCKS
build wasm_hello wasm_hello.c "$CC" "${cflags[@]}"
build wasm_recurse.wasm wasm_recurse.c wasm_link "${wasm_c[@]}"
build wasm_recurse wasm_recurse.c "$CC" "${cflags[@]}" -I"$here/../../include"
build wasm_trap.wasm wasm_trap.c wasm_link "${wasm_c[@]}"
build wasm_spin.wasm wasm_spin.c wasm_link "${wasm_c[@]}"
# wasm_link_ld "LD FLAGS" COMPILE...: wasm_link, passing LD FLAGS to wasm-ld.
wasm_link_ld() {
  local ld=$1
  shift
  local args=("$@") n=$#
  local source=${args[n-3]} target=${args[n-1]}
  "${args[@]:0:n-3}" -c "$source" -o "$target.o"
  # shellcheck disable=SC2086 # LD FLAGS are words
  "$WASM_CC" --target=wasm32-wasi $ld "$target.o" -o "$target"
  rm -f "$target.o"
}
# Beads linked through a weave: a library without libc that owns a 4 MiB
# memory, and a program that imports that memory (its own data placed at
# 1 MiB, above the library's) and functions of the library and of a native
# bead. Natively, the same sources linked together give the expected output.
build wasm_store.wasm wasm_store.c wasm_link_ld "-nostdlib -Wl,--no-entry -Wl,--export-dynamic -Wl,--initial-memory=4194304 -Wl,-z,stack-size=65536" "${wasm_c[@]}" -ffreestanding
build wasm_linker.wasm wasm_linker.c wasm_link_ld "-Wl,--import-memory -Wl,--initial-memory=4194304 -Wl,--global-base=1048576 -Wl,-z,stack-size=65536" "${wasm_c[@]}"
build links_native.so links_native.c "${so_c[@]}"
build wasm_links wasm_linker.c "$CC" "${cflags[@]}" "$here/wasm_store.c" "$here/links_native.c"
build links_native_caller links_native.c "$CC" "${cflags[@]}" -Dlinks_native_main=main "$here/wasm_store.c"
build wasm_spin wasm_spin.c "$CC" "${cflags[@]}" -I"$here/../../include"
