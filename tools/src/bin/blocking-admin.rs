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
use gearman_blocking::Admin;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("admin", AdminArgs::USAGE, AdminArgs::parse);
    let connector = match tools::tls::blocking::connector(args.tls.as_ref()) {
        Ok(connector) => connector,
        Err(err) => return tools::tls::failure("admin", &err),
    };
    let replies = Admin::connect_with(&args.server, &connector).and_then(|mut admin| {
        let requests = args.requests.iter();
        requests.map(|request| admin.request(request)).collect()
    });
    report::admin_reply(&args, replies)
}
