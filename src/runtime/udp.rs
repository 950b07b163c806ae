//! UDP sockets shared out to shards and threads: one `SO_REUSEPORT` socket each on the same
//! address, so the kernel spreads datagrams by their addresses (the UDP tracker, HTTP/3).

use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, UdpSocket};

/// Binds `n` sockets on `addr` (port 0: one free port shared by all), each asking for a receive
/// buffer of `recv_buffer` bytes (best effort: the kernel caps it at `net.core.rmem_max`).
pub fn bind_reuseport(
    addr: SocketAddr,
    n: usize,
    recv_buffer: usize,
) -> std::io::Result<Vec<UdpSocket>> {
    let first = bind_one(addr, recv_buffer)?;
    let port = first.local_addr()?.port();
    let mut out = vec![first];
    for _ in 1..n.max(1) {
        out.push(bind_one(SocketAddr::new(addr.ip(), port), recv_buffer)?);
    }
    Ok(out)
}

fn bind_one(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    let _ = socket.set_recv_buffer_size(recv_buffer);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn port_zero_is_shared() {
        let s = super::bind_reuseport("127.0.0.1:0".parse().unwrap(), 3, 1 << 20).unwrap();
        let port = s[0].local_addr().unwrap().port();
        assert!(s.iter().all(|u| u.local_addr().unwrap().port() == port));
    }
}
