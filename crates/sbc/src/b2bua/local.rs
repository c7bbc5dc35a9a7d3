//! Calls switchboard answers itself: a DID routed to a contact-center flow
//! (`"+1206..." = { flow = "contoso-main" }`). The caller's leg is the only
//! one. It is answered at once (RFC 3264 §6) with SDP anchored on the media
//! plane: one of G.711 µ-law or A-law (the first the caller offers) plus
//! telephone-event (RFC 4733), the caller's SRTP profile with our own SDES
//! key (RFC 4568) towards Teams. The application then drives the call: it
//! learns of it from [`B2buaEvent::LocalCallStarted`], gets DTMF sent by
//! INFO as [`B2buaEvent::Info`], and ends it with [`B2bua::hang_up`];
//! a caller's BYE ends it as any call. Re-offers (hold, resume, a new
//! address) are answered here in the same way.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use sdp::offer_answer::{answer, Capabilities, Codec, SrtpKey};
use sdp::{Origin, Session};
use sip::{HeaderName, Request, Response, StatusCode};
use sip_core::TransactionKey;

use super::call::{Call, CallState, Leg};
use super::io::{B2buaEvent, CallId, EndReason, LegId};
use super::media::StreamCodec;
use super::sdp_rewrite::SdpRole;
use super::setup::write_sdp;
use super::wire::SDP;
use super::B2bua;
use crate::config::TenantName;
use crate::number::E164;
use crate::security::CallPermit;

/// The codec of `leg`'s first stream, as negotiated.
pub(super) fn audio_codec(call: &Call, leg: LegId) -> Option<StreamCodec> {
    call.leg(leg)?.sdp.streams().into_iter().next()?.codec
}

/// Whether an audio stream of `offer` lists `codec`.
fn offers_codec(offer: &Session, codec: &StreamCodec) -> bool {
    offer
        .media
        .iter()
        .filter(|m| m.kind == "audio" && !m.is_rejected())
        .any(|m| {
            m.payload_types().any(|pt| {
                m.codec(pt).is_some_and(|r| {
                    r.encoding.eq_ignore_ascii_case(&codec.encoding)
                        && r.clock_rate == codec.clock_rate
                })
            })
        })
}

/// A new call to a flow, admitted, with its caller leg built.
pub(super) struct LocalAnswer {
    pub(super) key: TransactionKey,
    pub(super) call_id: CallId,
    pub(super) caller: Leg,
    /// Names no leg: the callee is switchboard itself.
    pub(super) callee_id: LegId,
    pub(super) local_tag: String,
    pub(super) permit: CallPermit,
    pub(super) flow: String,
    pub(super) tenant: Option<TenantName>,
    pub(super) did: Option<E164>,
    pub(super) caller_number: Option<E164>,
    /// The caller's offer (already recorded on its leg).
    pub(super) offer: Session,
}

impl B2bua {
    /// Answers a call to a flow with 200 and our SDP.
    pub(super) fn answer_locally(&mut self, new: LocalAnswer, request: &Request, now: Instant) {
        let LocalAnswer {
            key,
            call_id,
            mut caller,
            callee_id,
            local_tag,
            permit,
            flow,
            tenant,
            did,
            caller_number,
            offer,
        } = new;
        let caller_id = caller.id;
        let answered = match self.local_answer(call_id, &mut caller, &offer, None) {
            Ok(answered) => answered,
            Err(status) => {
                self.gate.release_call(permit);
                self.media.release(call_id, caller_id);
                return self.respond(&key, Response::for_request(request, status), now);
            }
        };
        let legs = vec![caller];
        let mut call = Call::new(call_id, legs, caller_id, callee_id, permit, true);
        self.index_caller(&mut call, request, local_tag, key);
        call.tenant = tenant.clone();
        if let (Some(tenant), Some(did)) = (tenant, did) {
            let codec = audio_codec(&call, caller_id);
            self.events.push_back(B2buaEvent::LocalCallStarted {
                call: call_id,
                leg: caller_id,
                codec,
                tenant,
                did,
                caller: caller_number,
                flow,
                at: now,
            });
        }
        self.respond_to_caller(&mut call, StatusCode::OK, Some(answered), None, now);
        call.state = CallState::Confirmed;
        call.answered_at = Some(now);
        self.update_media(&call, caller_id);
        self.put_back(call);
    }

    /// Our answer to `offer` for `leg`, anchored on the media plane; the
    /// status to refuse the offer with otherwise. `keep`: the codec the
    /// leg uses, answered again when offered, so that a re-offer does not
    /// change what the application plays and listens in.
    fn local_answer(
        &mut self,
        call_id: CallId,
        leg: &mut Leg,
        offer: &Session,
        keep: Option<&StreamCodec>,
    ) -> Result<Session, StatusCode> {
        // Address and ports are placeholders that anchoring replaces; not
        // 0.0.0.0 nor port 0, which would read as hold and refusal.
        let placeholder = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let mut caps = Capabilities::new(
            Origin::new(0, 0, placeholder),
            placeholder,
            vec![9; offer.media.len()],
        );
        caps.single_codec = true;
        if let Some(codec) = keep.filter(|codec| offers_codec(offer, codec)) {
            caps.audio = vec![Codec::new(codec.encoding.clone(), codec.clock_rate)];
        }
        // Accept SDES offers: the key written is ours, made per leg when
        // the answer is anchored.
        caps.srtp_keys = ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"]
            .into_iter()
            .map(|suite| SrtpKey {
                suite: suite.to_owned(),
                key_salt: vec![0; 30],
            })
            .collect();
        let template = answer(offer, &caps).map_err(|_| StatusCode::NOT_ACCEPTABLE_HERE)?;
        // Whoever offers SDES-SRTP to us (not only Teams) gets our key.
        let srtp_accepted = template
            .media
            .iter()
            .any(|m| !m.is_rejected() && m.proto.contains("SAVP"));
        if srtp_accepted {
            leg.sdp.use_srtp();
        }
        write_sdp(
            &mut *self.media,
            &mut self.random,
            self.gate.stats(),
            call_id,
            leg,
            &template,
            SdpRole::Answer,
            false,
        )
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
    }

    /// A re-INVITE or UPDATE with a new offer in a call switchboard
    /// answered itself, or on any leg of a mixed call: answered here
    /// (hold mirrored per RFC 3264 §8.4: `sendonly` gets `recvonly`,
    /// `inactive` gets `inactive`; a new address; the same codec and
    /// anchor, our `o=` version moved on).
    pub(super) fn answer_local_reoffer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        key: &TransactionKey,
        request: &Request,
        body: &[u8],
        now: Instant,
    ) {
        let call_id = call.id;
        let keep = audio_codec(call, leg_id);
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        leg.sdp.checkpoint();
        let answered = match leg.sdp.receive(body) {
            Ok(offer) => self.local_answer(call_id, leg, &offer, keep.as_ref()),
            Err(_) => Err(StatusCode::NOT_ACCEPTABLE_HERE),
        };
        let response = match answered {
            Ok(answered) => {
                let mut ok = Response::for_request(request, StatusCode::OK);
                ok.headers.push(HeaderName::Contact, leg.contact.clone());
                ok.headers.set(HeaderName::ContentType, SDP);
                ok.body = answered.to_bytes();
                ok
            }
            Err(status) => {
                leg.sdp.rollback();
                Response::for_request(request, status)
            }
        };
        if let Some(dialog) = leg.dialog_mut() {
            let _ = dialog.handle_sent_response(&response, now);
        }
        let success = response.status.is_success();
        self.respond(key, response, now);
        if success {
            self.update_media(call, leg_id);
        }
        self.flush_leg(call, leg_id, now);
    }

    /// INFO within `leg`'s dialog of a call switchboard answered itself:
    /// 200, and the body to the application.
    pub(super) fn on_local_info(
        &mut self,
        call: &Call,
        leg: LegId,
        key: &TransactionKey,
        request: &Request,
        now: Instant,
    ) {
        let content_type = request
            .headers
            .get(&HeaderName::ContentType)
            .map(|v| String::from_utf8_lossy(v).trim().to_owned())
            .unwrap_or_default();
        self.events.push_back(B2buaEvent::Info {
            call: call.id,
            leg,
            content_type,
            body: request.body.clone(),
        });
        self.respond(key, Response::for_request(request, StatusCode::OK), now);
    }

    /// Ends a call switchboard answered or originated: BYE to every leg
    /// that is up (the caller, a connected agent, the parties of a mixed
    /// call), CANCEL to ringing ones; [`B2buaEvent::CallEnded`] follows
    /// (no `PartyLeft` or `DialFailed` per leg). Other calls are left
    /// alone: their parties end them.
    pub fn hang_up(&mut self, call: CallId, now: Instant) {
        if self.calls.get(&call).is_some_and(|c| c.local) {
            self.end_call_by_id(call, EndReason::Local, now);
            self.drain(now, None);
        }
    }
}
