//! `admin [--server HOST:PORT] COMMAND...`: sends one admin command and
//! prints the server's reply as it came; `admin --status` (and gearadmin's
//! other options, see `--help`) prints what `gearadmin` prints.
//!
//! Exit code: 0 when the server replied (with gearadmin's options, also
//! when it replied `ERR`, as gearadmin does), 1 when it replied `ERR` to a
//! COMMAND, 3 when there was no reply (no server, bad arguments).
//!
//! `--tls --ca FILE` (and `--cert FILE --key FILE` for mutual TLS) speak
//! TLS to the servers; see `--help`.
#![allow(clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;
use tools::report;

use cli::AdminArgs;
use gearman_tokio::Admin;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = cli::parse_or_exit("admin", AdminArgs::USAGE, AdminArgs::parse);
    let connector = match tools::tls::tokio::connector(args.tls.as_ref()) {
        Ok(connector) => connector,
        Err(err) => return tools::tls::failure("admin", &err),
    };
    let replies = async {
        let mut admin = Admin::connect_with(&args.server, &connector).await?;
        let mut replies = Vec::new();
        for request in &args.requests {
            replies.push(admin.request(request).await?);
        }
        Ok::<_, gearman_tokio::Error>(replies)
    };
    report::admin_reply(&args, replies.await)
}
