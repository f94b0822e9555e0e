//! `server [--listen ADDR] [--cert FILE --key FILE [--client-ca FILE]]`:
//! the embedded job server (default 127.0.0.1:4730; port 0 picks a free
//! one), serving TLS only when given a certificate and key. Prints `listening on ADDR` once
//! it accepts connections; stops on Ctrl-C or an admin `shutdown`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;

use cli::ServerArgs;
use gearman_async_std::{Server, ctrl_c};

fn main() -> ExitCode {
    let args = cli::parse_or_exit("server", ServerArgs::USAGE, ServerArgs::parse);
    async_std::task::block_on(async {
        let server = match Server::bind(&args.listen).await {
            Ok(server) => server,
            Err(err) => {
                return cli::error_exit(
                    "server",
                    format_args!("cannot listen on {}: {err}", args.listen),
                );
            }
        };
        let server = match tools::tls::async_std::server(server, args.tls.as_ref()) {
            Ok(server) => server,
            Err(err) => return tools::tls::failure("server", &err),
        };
        let ctrl_c = match ctrl_c() {
            Ok(ctrl_c) => ctrl_c,
            Err(err) => {
                return cli::error_exit("server", format_args!("cannot catch Ctrl-C: {err}"));
            }
        };
        if let Err(code) = cli::announce_listening(server.local_addr()) {
            return code;
        }
        cli::ended("server", server.serve_until(ctrl_c).await)
    })
}
