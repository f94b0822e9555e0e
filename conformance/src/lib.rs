//! One conformance suite for every Gearman adapter.
//!
//! The scenarios in [`scenarios`] are written once against the synchronous
//! [`Harness`] traits; each adapter implements them (an async adapter by
//! blocking on its runtime) and expands [`conformance_tests!`] in one of its
//! test files, which gives one `#[test]` per scenario and job server: the
//! adapter's own embedded server, a real gearmand started on a free
//! loopback port ([`gearmand`]), and the embedded server again over mutual
//! TLS (gearmand here has no TLS). Under `CI=true` a missing gearmand fails
//! the gearmand tests; elsewhere they print a note and pass.
//!
//! ```text
//! // tests/conformance.rs of an adapter crate (gearman-blocking/tests/conformance.rs is a real one)
//! struct MyAdapter { /* runtime... */ }
//! impl conformance::Harness for MyAdapter { /* ... */ }
//! conformance::conformance_tests!(MyAdapter);
//! ```

pub mod env;
pub mod fake;
#[cfg(feature = "tls")]
pub mod gear_tls;
pub mod gearmand;
pub mod harness;
pub mod scenarios;
pub mod slow_peers;
pub mod spans;
#[cfg(feature = "tls")]
pub mod tls;

use std::time::Duration;

pub use env::{Env, Gate, GateState, ServerKind, eventually, name};
pub use harness::{
    Failure, Functions, Handler, Harness, JobContext, Outcome, Refusal, TestAdmin, TestClient,
    TestJob, TestServer, TestWorker, Update,
};

/// Safety net for anything a scenario waits on; never the thing measured.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Runs one scenario against one kind of server, skipping (with a note)
/// when that server cannot run here outside CI.
#[allow(clippy::print_stderr)]
pub fn run<H: Harness>(kind: ServerKind, scenario: fn(&Env<H>)) {
    match Env::<H>::start(kind) {
        Some(env) => scenario(&env),
        None => eprintln!("note: no {kind:?} server here; scenario skipped"),
    }
}

/// Expands to one `#[test]` per scenario and server for the adapter whose
/// [`Harness`] is `$harness`, in modules `embedded`, `gearmand` and
/// `embedded_tls` (the embedded server over mutual TLS; it needs
/// conformance's `tls` feature and `Harness::use_tls`).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:ty) => {
        $crate::conformance_tests!(@servers $harness;
            submit_forms,
            priorities,
            unique_coalescing,
            updates_and_ends,
            status_queries,
            background_jobs,
            many_servers_one_down,
            server_restart,
            concurrency_limit,
            pipelined_grabs,
            jobs_in_flight_cap,
            job_span,
            submit_span,
            graceful_shutdown,
            client_close,
            timeouts,
            admin_commands,
            large_payloads,
            many_clients_and_workers,
            can_do_timeout_requeue,
            frozen_server_failover,
        );
        /// Against a scripted server that drops OPTION_REQ unanswered.
        #[test]
        fn option_ignoring_server() {
            $crate::scenarios::option_ignoring_server::<$harness>();
        }
    };
    (@servers $harness:ty; $($scenario:ident),* $(,)?) => {
        $crate::conformance_tests!(@suite embedded, Embedded,
            "The suite against the adapter's embedded server.";
            $harness; $($scenario),*);
        $crate::conformance_tests!(@suite gearmand, Gearmand,
            "The suite against a real gearmand.";
            $harness; $($scenario),*);
        $crate::conformance_tests!(@suite embedded_tls, EmbeddedTls,
            "The suite over mutual TLS against the adapter's embedded server.";
            $harness; $($scenario),*);
    };
    (@suite $module:ident, $kind:ident, $doc:literal; $harness:ty; $($scenario:ident),*) => {
        #[doc = $doc]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    $crate::run::<$harness>(
                        $crate::ServerKind::$kind,
                        $crate::scenarios::$scenario::<$harness>,
                    );
                }
            )*
        }
    };
}
