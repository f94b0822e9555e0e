//! `client --function NAME [--server HOST:PORT]... [--background]
//! [--priority high|normal|low] [--unique ID] [--timeout-ms MS]
//! [--request-timeout MS] [PAYLOAD]`
//! submits a job (payload from standard input when not given);
//! `client --status HANDLE` and `client --status-unique UNIQUE` ask about one.
//!
//! Foreground: data chunks, then the result, go to standard output as raw
//! bytes; `status N/D` lines and warnings go to standard error. Exit code 0
//! on complete, 1 on fail, 2 on exception (its text on standard error), 3 on
//! any other error. Background: prints the job handle and a newline.
//! `--status` asks each server given, in order, and prints the first answer
//! that knows the job (`known=0 ...` when none does).
//!
//! `--tls --ca FILE` (and `--cert FILE --key FILE` for mutual TLS) speak
//! TLS to the servers; see `--help`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;
use tools::report;

use cli::{ClientAction, ClientArgs};
use futures_util::StreamExt;
use gearman_tokio::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = cli::parse_or_exit("client", ClientArgs::USAGE, ClientArgs::parse);
    let server_count = args.servers.len();
    let connector = match tools::tls::tokio::connector(args.tls.as_ref()) {
        Ok(connector) => connector,
        Err(err) => return tools::tls::failure("client", &err),
    };
    let config = report::client_config(args.servers, args.request_timeout_ms);
    let client = match Client::with_connector(config, connector) {
        Ok(client) => client,
        Err(err) => return report::client_failure(&err),
    };
    match args.action {
        ClientAction::Status(handle) => {
            let mut search = report::StatusSearch::default();
            for handle in report::handle_on_each_server(&handle, server_count) {
                if search.offer(client.status(&handle).await) {
                    break;
                }
            }
            search.finish()
        }
        ClientAction::StatusUnique(unique) => {
            report::client_unique_status(client.status_unique(unique).await)
        }
        ClientAction::Submit {
            function,
            background,
            priority,
            unique,
            timeout_ms,
            payload,
        } => {
            let request =
                match report::client_request(function, priority, unique, timeout_ms, payload) {
                    Ok(request) => request,
                    Err(code) => return code,
                };
            if background {
                return match client.submit_background(request).await {
                    Ok(handle) => report::client_queued(&handle),
                    Err(err) => report::client_failure(&err),
                };
            }
            let mut job = client.submit(request);
            while let Some(update) = job.next().await {
                report::client_update(&update);
            }
            report::client_outcome(job.await)
        }
    }
}
