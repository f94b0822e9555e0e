//! Our client and worker through our embedded server and through a real
//! gearmand, over real sockets, under async-std and under smol: the same
//! code on both.

mod scenarios;
mod support;

/// One test per scenario, runtime and server.
macro_rules! under_both_runtimes {
    ($($scenario:ident),* $(,)?) => {
        under_both_runtimes!(@runtime async_std_runtime, AsyncStd; $($scenario),*);
        under_both_runtimes!(@runtime smol_runtime, Smol; $($scenario),*);
    };
    (@runtime $module:ident, $runtime:ident; $($scenario:ident),*) => {
        mod $module {
            mod embedded {
                $(
                    #[test]
                    fn $scenario() {
                        let rt = crate::support::Runtime::$runtime;
                        let server = crate::support::EmbeddedServer::start(rt);
                        rt.block_on(crate::scenarios::$scenario(rt, &server.addr()));
                    }
                )*
            }
            mod gearmand {
                $(
                    #[test]
                    fn $scenario() {
                        // Skipped with a note outside CI when gearmand is missing.
                        let Some(gearmand) = conformance::gearmand::Gearmand::start() else {
                            return;
                        };
                        let rt = crate::support::Runtime::$runtime;
                        rt.block_on(crate::scenarios::$scenario(rt, &gearmand.server()));
                    }
                )*
            }
        }
    };
}

under_both_runtimes!(
    handler_panics,
    reduce_submits,
    dropped_jobs_and_driver_end,
    invalid_request,
    admin_extras,
    idle_submit_goes_out_from_the_caller,
    driver_run_with,
    worker_monitor,
);
