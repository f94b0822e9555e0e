//! Small scripted job servers for behaviour that neither the embedded
//! server nor gearmand shows.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use bytes::BytesMut;
use gearman_proto::{Command, Decoder, Field, Packet};

/// A job server that drops OPTION_REQ without a word, as some servers in
/// use do, and otherwise creates every job at once: a foreground job
/// completes with its payload reversed, a background job only gets its
/// handle, GET_STATUS says the job is unknown. It serves one connection at
/// a time on a thread, until the process ends.
pub struct OptionIgnoringServer {
    addr: String,
}

impl OptionIgnoringServer {
    /// Starts it on a free loopback port.
    pub fn start() -> OptionIgnoringServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound listener").to_string();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || serve(stream));
            }
        });
        OptionIgnoringServer { addr }
    }

    /// Where it listens.
    pub fn addr(&self) -> String {
        self.addr.clone()
    }
}

fn serve(mut stream: TcpStream) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    let mut jobs = 0u32;
    loop {
        let packet = match decoder.decode_packet(&mut buf) {
            Ok(Some(packet)) => packet,
            Ok(None) => match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
            },
            Err(_) => return,
        };
        let reply = |command, fields: &[&[u8]]| {
            Packet::build(command, fields).expect("a well-formed reply")
        };
        let mut out = Vec::new();
        match packet.command() {
            Command::OptionReq => {}
            Command::EchoReq => {
                reply(Command::EchoRes, &[packet.payload()]).encode(&mut out);
            }
            Command::GetStatus => {
                let handle = packet.handle().unwrap_or_default();
                reply(Command::StatusRes, &[handle, b"0", b"0", b"0", b"0"]).encode(&mut out);
            }
            command => {
                let Some((_, background)) = command.submit_kind() else {
                    return;
                };
                jobs += 1;
                let handle = format!("H:fake:{jobs}");
                reply(Command::JobCreated, &[handle.as_bytes()]).encode(&mut out);
                if !background {
                    let payload = packet.field(Field::Data).unwrap_or_default();
                    let reversed: Vec<u8> = payload.iter().rev().copied().collect();
                    reply(Command::WorkCompleteRes, &[handle.as_bytes(), &reversed])
                        .encode(&mut out);
                }
            }
        }
        if stream.write_all(&out).is_err() {
            return;
        }
    }
}
