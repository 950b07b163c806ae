//! Listening sockets: one `SO_REUSEPORT` socket per shard on the same address, so the kernel
//! spreads connections across shards with no accept thread.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, TcpListener};

/// Binds `n` listeners on `addr` (port 0 picks one free port shared by all).
pub fn bind_shards(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpListener>> {
    if addr.port() != 0 {
        // SO_REUSEPORT would let us silently share a port with another server of the same
        // user; bind once without it first so "address in use" is reported as such.
        let probe = socket(addr, false)?;
        probe
            .bind(&addr.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        drop(probe);
    }
    let mut out = Vec::with_capacity(n);
    let mut addr = addr;
    for _ in 0..n.max(1) {
        let s = socket(addr, true)?;
        s.bind(&addr.into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
        s.listen(4096)?;
        let l: TcpListener = s.into();
        l.set_nonblocking(true)?;
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

fn socket(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if reuse_port {
        s.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        s.set_only_v6(false).ok();
    }
    s.set_nodelay(true)?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_shared_and_busy_ports_are_reported() {
        let ls = bind_shards("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = ls[0].local_addr().unwrap().port();
        assert!(ls.iter().all(|l| l.local_addr().unwrap().port() == port));
        let err = bind_shards(ls[0].local_addr().unwrap(), 1).unwrap_err();
        assert!(err.to_string().contains("cannot listen"), "{err}");
    }
}
