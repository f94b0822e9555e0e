//! `admin`'s gearadmin options print each reply as libgearman's `gearadmin`
//! does, so scripts written for it read ours alike.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the admin tool's own output"
)]

use std::io::Write;

use gearman_proto::admin::AdminResponse;

/// Prints `reply` as gearadmin does: a list as the server sent it, a pid or
/// version alone on its line, `OK` for an `OK`, and an `ERR CODE TEXT` as
/// `Error: CODE TEXT` on standard error.
pub fn print(reply: &AdminResponse) {
    let mut out = Vec::new();
    match reply {
        AdminResponse::Pid(pid) => println!("{pid}"),
        AdminResponse::Version(version) => {
            out.extend_from_slice(version);
            out.push(b'\n');
        }
        AdminResponse::Ok => println!("OK"),
        AdminResponse::Error { .. } => {
            reply.encode(&mut out);
            let text = out.strip_prefix(b"ERR ").unwrap_or(&out);
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(b"Error: ");
            let _ = stderr.write_all(text);
            return;
        }
        other => other.encode(&mut out),
    }
    let _ = std::io::stdout().write_all(&out);
}
