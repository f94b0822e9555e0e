//! `server [--listen ADDR] [--cert FILE --key FILE [--client-ca FILE]]`:
//! the embedded job server (default 127.0.0.1:4730; port 0 picks a free
//! one), serving TLS only when given a certificate and key. Prints `listening on ADDR` once
//! it accepts connections; stops on Ctrl-C or an admin `shutdown`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use tools::cli;
use tools::ctrl_c;

use cli::ServerArgs;
use gearman_blocking::Server;

fn main() -> ExitCode {
    let args = cli::parse_or_exit("server", ServerArgs::USAGE, ServerArgs::parse);
    let server = match Server::bind(&args.listen) {
        Ok(server) => server,
        Err(err) => {
            return cli::error_exit(
                "server",
                format_args!("cannot listen on {}: {err}", args.listen),
            );
        }
    };
    let server = match tools::tls::blocking::server(server, args.tls.as_ref()) {
        Ok(server) => server,
        Err(err) => return tools::tls::failure("server", &err),
    };
    if let Err(code) = cli::announce_listening(server.local_addr()) {
        return code;
    }
    let stop = server.stop_handle();
    if let Err(err) = ctrl_c::on_ctrl_c(move || stop.stop()) {
        return cli::error_exit("server", format_args!("cannot watch for Ctrl-C: {err}"));
    }
    cli::ended("server", server.serve())
}
