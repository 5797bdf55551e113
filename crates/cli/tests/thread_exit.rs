//! How threads end: `pthread_exit` runs cleanup handlers, then
//! thread-specific data destructors; `pthread_cancel` ends a thread at a
//! cancellation point; scheduling policies are accepted or refused and
//! read back, as natively.

mod common;

use common::*;

/// Runs `program` (built as a PIE and as a shared object) as three beads on
/// one and on two workers and compares lines and exit status with three
/// native runs of the PIE; `sample` is one line the native run prints.
fn as_natively(program: &str, sample: &str) {
    let runs: [&[&str]; 3] = [&["a"], &["b"], &["c"]];
    let expected = native_lines(program, &runs);
    assert!(expected.iter().any(|l| l == sample), "{expected:?}");
    for file in [program.to_owned(), format!("{program}.so")] {
        for workers in [1, 2] {
            let argv: Vec<Vec<&str>> = runs.iter().map(|r| [&[program][..], r].concat()).collect();
            let argv: Vec<&[&str]> = argv.iter().map(Vec::as_slice).collect();
            let out = run_tapestry(
                &format!("{}_{workers}", file.replace('.', "_")),
                &one_program_per_bead(&file, "main", workers, &argv),
            );
            out.expect_success();
            assert_eq!(
                out.sorted_lines(),
                expected,
                "{file} on {workers} worker(s)"
            );
        }
    }
}

/// The bugs: `pthread_exit` ran no cleanup handler
/// (`pthread_cleanup_push`), and thread-specific data destructors ran in
/// no particular order (natively: in key order). Built as a PIE and as a
/// shared object, three beads each, on one and on two workers.
#[test]
fn pthread_exit_runs_cleanup_handlers_then_destructors_in_order() {
    as_natively(
        "cleanup",
        "a thread 0 returned 100: pushed popped exiting middle outer tsd1 tsd2 ",
    );
}

/// The bug: `pthread_cancel` did nothing, so a thread asleep or waiting
/// was never cancelled and its joiner hung. Deferred cancellation in a
/// sleep and in a condition wait (whose handler holds the mutex again),
/// cancellation disabled then enabled (`pthread_testcancel`), and
/// asynchronous cancellation asked for by the thread (taken as deferred).
#[test]
fn pthread_cancel_ends_threads_at_cancellation_points_with_cleanup() {
    as_natively("cancel", "a case 1 join 0 canceled: unlock ");
}

/// The bug: `accept`, `recv`, `recvfrom`, `poll`, `ppoll`, `select`,
/// `pselect` and `epoll_wait` were no cancellation points, so a thread
/// parked in one on a descriptor that never became ready was never
/// cancelled and its joiner hung. Each now acts on a request on entry and
/// when the request wakes it.
#[test]
fn pthread_cancel_ends_threads_waiting_for_io() {
    as_natively("cancel_io", "a epoll_wait join 0 canceled cleanup 1");
}

/// The bug: a `PTHREAD_PROCESS_SHARED` mutex, condition variable and
/// read-write lock, and semaphores made with `pshared`, in a `MAP_SHARED`
/// mapping hung a parent and the child it forked: a string waiting in one
/// process parked on a wait list the other process's unlock or post never
/// reached. The two take turns through each, as natively.
#[test]
fn process_shared_locks_condvars_and_semaphores_work_across_fork() {
    as_natively("pshared", "a condvar handoffs 100");
}

/// The bug: a `PTHREAD_PROCESS_SHARED` barrier was kept in a table of the
/// process that initialised it, so the forked child's waits found no
/// barrier (`EINVAL`) and the parties never met. Its state now lives in
/// the object: the parent's two threads and the child meet there 200
/// times, exactly one wait per barrier returning the serial value.
#[test]
fn process_shared_barriers_work_across_fork() {
    as_natively("pshared_barrier", "a serial 200 of 200 mismatches 0");
}

/// The bug: `pthread_getschedparam(pthread_self(), …)` and the other
/// scheduling calls handed a string's pthread id to the C library, which
/// read it as a thread descriptor and hung. `SCHED_FIFO` and `SCHED_RR`
/// requests (explicit in a thread's attribute, or on a running thread)
/// are granted or refused with `EPERM` as natively and read back; bad
/// policies and priorities get `EINVAL`.
#[test]
fn realtime_scheduling_requests_are_answered_as_natively() {
    as_natively("schedparam", "a explicit fifo create granted or refused");
}
