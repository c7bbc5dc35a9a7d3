//! The TOS byte datagrams arrive with, for the DSCP checks of the
//! driver's unit tests (`driver/shard.rs`) and of `driver_loopback`.

use std::net::UdpSocket;

/// Has the kernel tell `socket` the TOS byte of each datagram.
pub(crate) fn ask_for_tos(socket: &UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(socket, sockopt::IpRecvTos, &true).unwrap();
}

/// The next datagram on `socket` (see [`ask_for_tos`]) and its TOS byte.
pub(crate) fn recv_with_tos(socket: &UdpSocket) -> (Vec<u8>, Option<u8>) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn};
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; 2048];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut control = nix::cmsg_space!(u8);
    let message = recvmsg::<SockaddrIn>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )
    .unwrap();
    let tos = message.cmsgs().unwrap().find_map(|c| match c {
        ControlMessageOwned::Ipv4Tos(tos) => Some(tos),
        _ => None,
    });
    let len = message.bytes;
    (buf[..len].to_vec(), tos)
}
