#![allow(missing_docs, clippy::unwrap_used)]
use std::hint::black_box;
fn main() {
    let uris = [
        "sip:+12125550199@carrier.example.com;user=phone",
        "sip:+14155550123@sbc1.customers.example.net;user=phone",
        "sip:+12125550199@198.51.100.7:5060;transport=udp",
        "sip:+14155550123@sbc1.customers.example.net:5061;transport=tls",
    ];
    let mut n = 0;
    for _ in 0..10000 {
        for u in uris {
            n += sip::UriRef::parse(black_box(u)).unwrap().port().unwrap_or(1) as usize;
        }
    }
    println!("{n}");
}
