//! Our client and worker through our embedded server, over real sockets,
//! under async-std and under smol: the same code on both.

mod scenarios;
mod support;

macro_rules! under_both_runtimes {
    ($($scenario:ident),* $(,)?) => {
        mod async_std_runtime {
            $(
                #[test]
                fn $scenario() {
                    let rt = crate::support::Runtime::AsyncStd;
                    let server = crate::support::EmbeddedServer::start(rt);
                    rt.block_on(crate::scenarios::$scenario(rt, &server.addr()));
                }
            )*
        }
        mod smol_runtime {
            $(
                #[test]
                fn $scenario() {
                    let rt = crate::support::Runtime::Smol;
                    let server = crate::support::EmbeddedServer::start(rt);
                    rt.block_on(crate::scenarios::$scenario(rt, &server.addr()));
                }
            )*
        }
    };
}

under_both_runtimes!(
    foreground_every_priority,
    background_and_status,
    updates_fail_exception_panic,
    unique_coalescing,
    priorities_order,
    concurrency_and_graceful_shutdown,
    job_deadline,
    dropped_jobs_and_driver_end,
    no_server,
    invalid_request,
);
