//! What the media relay reads off the network: RTP (with header
//! extensions), compound RTCP, SRTP and SRTCP to unprotect, RFC 4733
//! telephone-events, SIP INFO DTMF bodies. Never a panic; a packet that
//! parses keeps its fields within the buffer.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use media::{
    InfoDigit, RtcpCompound, RtpPacket, SrtpContext, SrtpSuite, TelephoneEventReceiver,
    TelephoneEventReceiverConfig,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = RtpPacket::parse(data) {
        assert!(packet.payload_offset() + packet.payload().len() <= data.len());
        let _ = packet.csrcs().count();
        if let Some(extension) = packet.extension() {
            let _ = extension.elements().count();
        }
        let mut receiver = TelephoneEventReceiver::new(TelephoneEventReceiverConfig::default());
        let _ = receiver.handle_rtp(Instant::now(), &packet);
        while receiver.poll_event().is_some() {}
    }
    if let Ok(compound) = RtcpCompound::parse(data) {
        for packet in compound.packets() {
            let _ = format!("{packet:?}");
        }
    }
    for suite in [SrtpSuite::AesCm128HmacSha1_80, SrtpSuite::AesCm128HmacSha1_32] {
        let mut context = SrtpContext::new(suite, &[7; 16], &[9; 14]).expect("valid key sizes");
        let mut rtp = data.to_vec();
        if let Ok(len) = context.unprotect_rtp_slice(&mut rtp) {
            assert!(len <= data.len());
        }
        let mut rtcp = data.to_vec();
        if let Ok(len) = context.unprotect_rtcp_slice(&mut rtcp) {
            assert!(len <= data.len());
        }
    }
    let _ = InfoDigit::parse("application/dtmf-relay", data);
    let _ = InfoDigit::parse("application/dtmf", data);
});
