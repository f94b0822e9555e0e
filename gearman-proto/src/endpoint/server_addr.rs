//! The forms in which a server's address is accepted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A value that names one server; turned into the `host:port` text the
/// connections resolve: `"host:port"` as `&str` or `String`, a
/// [`SocketAddr`], or a `(host, port)` pair.
///
/// Every constructor that takes servers (client and worker configurations,
/// and each adapter's `Client`, `Worker` and `Admin`) takes them through
/// [`IntoServerAddr`], so these all name the same server:
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddr};
/// use gearman_proto::IntoServerAddr;
///
/// let socket: SocketAddr = "127.0.0.1:4730".parse().unwrap();
/// assert_eq!("127.0.0.1:4730".into_server_addr(), "127.0.0.1:4730");
/// assert_eq!(String::from("127.0.0.1:4730").into_server_addr(), "127.0.0.1:4730");
/// assert_eq!(socket.into_server_addr(), "127.0.0.1:4730");
/// assert_eq!(("127.0.0.1", 4730).into_server_addr(), "127.0.0.1:4730");
/// assert_eq!((Ipv4Addr::LOCALHOST, 4730).into_server_addr(), "127.0.0.1:4730");
/// // An IPv6 host gets the brackets that keep its colons apart from the port's.
/// assert_eq!(("::1", 4730).into_server_addr(), "[::1]:4730");
/// ```
pub trait IntoServerAddr {
    /// The server's address as `host:port` (`[v6]:port` for an IPv6 host).
    fn into_server_addr(self) -> String;
}

impl IntoServerAddr for String {
    fn into_server_addr(self) -> String {
        self
    }
}

impl IntoServerAddr for &str {
    fn into_server_addr(self) -> String {
        self.to_owned()
    }
}

/// References to the other forms (`&String`, `&SocketAddr`, an item of
/// `servers.iter()`...).
impl<T: IntoServerAddr + Clone> IntoServerAddr for &T {
    fn into_server_addr(self) -> String {
        self.clone().into_server_addr()
    }
}

macro_rules! displayed_addr {
    ($($addr:ty),*) => {$(
        impl IntoServerAddr for $addr {
            fn into_server_addr(self) -> String {
                self.to_string()
            }
        }
    )*};
}

displayed_addr!(SocketAddr, SocketAddrV4, SocketAddrV6);

macro_rules! ip_and_port {
    ($($ip:ty),*) => {$(
        impl IntoServerAddr for ($ip, u16) {
            fn into_server_addr(self) -> String {
                SocketAddr::new(IpAddr::from(self.0), self.1).to_string()
            }
        }
    )*};
}

ip_and_port!(IpAddr, Ipv4Addr, Ipv6Addr);

impl IntoServerAddr for (&str, u16) {
    fn into_server_addr(self) -> String {
        let (host, port) = self;
        // A bare IPv6 literal needs brackets, or its last group would read
        // as the port.
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

impl IntoServerAddr for (String, u16) {
    fn into_server_addr(self) -> String {
        (self.0.as_str(), self.1).into_server_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_names_the_same_server() {
        let socket: SocketAddr = "10.0.0.1:4730".parse().unwrap();
        let owned = String::from("10.0.0.1:4730");
        let forms = [
            "10.0.0.1:4730".into_server_addr(),
            owned.clone().into_server_addr(),
            (&owned).into_server_addr(),
            socket.into_server_addr(),
            (&socket).into_server_addr(),
            ("10.0.0.1", 4730).into_server_addr(),
            (String::from("10.0.0.1"), 4730).into_server_addr(),
            (Ipv4Addr::new(10, 0, 0, 1), 4730).into_server_addr(),
            (IpAddr::from([10, 0, 0, 1]), 4730).into_server_addr(),
        ];
        assert!(
            forms.iter().all(|form| form == "10.0.0.1:4730"),
            "{forms:?}"
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_once() {
        assert_eq!((Ipv6Addr::LOCALHOST, 1).into_server_addr(), "[::1]:1");
        assert_eq!(("::1", 1).into_server_addr(), "[::1]:1");
        assert_eq!(("[::1]", 1).into_server_addr(), "[::1]:1");
        assert_eq!(("gearman.local", 1).into_server_addr(), "gearman.local:1");
    }
}
