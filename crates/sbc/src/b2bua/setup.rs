//! Call setup (RFC 3261 §13): a new INVITE is routed and admitted, the
//! outbound INVITE is sent and failed over, provisional and final
//! responses go back to the caller, CANCEL ends it all (§9), and
//! [`B2bua::end_call`] releases a call in any state.

use std::time::Instant;

use bytes::Bytes;
use sdp::Session;
use sip::{HeaderName, Headers, Method, Request, Response, StatusCode, Uri};
use sip_core::{Dialog, TransactionKey, UacInvite};

use super::call::{
    Attempt, Call, CallState, InviteTemplate, Leg, LegDialog, OutboundRoute, Purpose, Target,
    UacLeg, UasLeg,
};
use super::checks;
use super::io::{B2buaEvent, CallId, EndReason, LegId, LegPeer, NextHop, Party, Source};
use super::media::MediaAnchor;
use super::sdp_rewrite::{LegSdp, RewriteError, SdpRole};
use super::session_timer::{self, UasTimer};
use super::wire::{self, SDP};
use super::{B2bua, RandomSource};
use crate::config::{TenantName, Transport, TrunkName};
use crate::number::E164;
use crate::routing::CarrierCall;
use crate::security::Peer;
use crate::stats::{Rejection, Stats};
use crate::teams::{AttemptOutcome, FailoverDecision, ProxyFailover};

/// Where a new call goes, decided before anything is allocated.
pub(crate) struct CallPlan {
    pub(crate) caller_peer: LegPeer,
    pub(crate) callee_peer: LegPeer,
    pub(crate) route: OutboundRoute,
    /// For admission.
    pub(crate) trunk: Option<TrunkName>,
    pub(crate) tenant: Option<TenantName>,
    /// The calling number in E.164, if known.
    pub(crate) caller: Option<E164>,
    /// The called number in E.164 (the DID for calls to Teams).
    pub(crate) called: Option<E164>,
    /// The number of the callee leg's peer (the Teams user, the PSTN number).
    pub(crate) callee_number: Option<E164>,
    /// The caller withheld its identity (From is anonymous, RFC 3323):
    /// From stays anonymous on the other leg.
    pub(crate) anonymous: bool,
}

/// Writes the SDP for `leg` from `source`, anchoring its streams (an
/// offer gets a telephone-event when it has none and `adds_events`);
/// counts offers passed on for want of a codec switchboard transcodes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_sdp(
    media: &mut dyn MediaAnchor,
    random: &mut RandomSource,
    stats: &Stats,
    call: CallId,
    leg: &mut Leg,
    source: &Session,
    role: SdpRole,
    adds_events: bool,
) -> Result<Session, RewriteError> {
    let leg_id = leg.id;
    leg.sdp.set_adds_events(adds_events);
    let mut allocate =
        |stream: usize, rtcp_mux: bool| media.allocate(call, leg_id, stream, rtcp_mux);
    let mut fill = |buf: &mut [u8]| random(buf);
    let written = leg.sdp.write(source, role, &mut allocate, &mut fill);
    stats.record_untranscodable_offers(leg.sdp.take_untranscodable());
    written
}

impl B2bua {
    /// A new INVITE (no To tag, no Replaces).
    pub(super) fn on_invite(
        &mut self,
        key: TransactionKey,
        request: Request,
        source: &Source,
        peer: &Peer,
        now: Instant,
    ) {
        self.respond(
            &key,
            Response::for_request(&request, StatusCode::TRYING),
            now,
        );
        let plan = match self.plan_call(&request, peer, now) {
            Ok(plan) => plan,
            Err(rejection) => return self.reject(&key, &request, &rejection, now),
        };
        let timer = session_timer::negotiate_as_uas(&request, &self.settings);
        if let UasTimer::TooSmall(min_se) = timer {
            let mut response =
                Response::for_request(&request, StatusCode::SESSION_INTERVAL_TOO_SMALL);
            response.headers.push(HeaderName::MinSe, min_se.to_string());
            return self.respond(&key, response, now);
        }
        let Some(offer) = wire::sdp_body(&request.headers, &request.body) else {
            let mut response = Response::for_request(&request, StatusCode::NOT_ACCEPTABLE_HERE);
            response.reason = Bytes::from_static(b"Not Acceptable Here (no SDP offer)");
            return self.respond(&key, response, now);
        };
        let session_id = self.random_u64();
        let mut caller_sdp = LegSdp::new(
            matches!(plan.caller_peer, LegPeer::Teams(_)),
            self.codec_policy(&plan.caller_peer),
            session_id,
        );
        let received = match caller_sdp.receive(&offer) {
            Ok(received) => received,
            Err(error) => {
                let response = checks::bad_request(&request, &format!("SDP: {error}"));
                return self.respond(&key, response, now);
            }
        };
        let permit = match self
            .gate
            .admit_call(plan.trunk.as_ref(), plan.tenant.as_ref(), now)
        {
            Ok(permit) => permit,
            Err(rejection) => return self.reject(&key, &request, &rejection, now),
        };
        let call_id = self.next_call_id();
        let caller_id = self.next_leg_id();
        let callee_id = self.next_leg_id();
        let local_tag = sip::new_tag();
        let reply = source.reply_hop();
        let called_user = match (&plan.caller_peer, &plan.called) {
            (LegPeer::Trunk(trunk), Some(number)) => self
                .config
                .trunks
                .get(trunk)
                .map(|t| t.numbers.format(number)),
            (_, Some(number)) => Some(number.as_str().to_owned()),
            (_, None) => request.uri.user().map(str::to_owned),
        };
        let caller = self.new_leg(
            caller_id,
            Party::Caller,
            plan.caller_peer.clone(),
            source.transport,
            plan.caller.clone(),
            called_user.as_deref(),
            caller_sdp,
            LegDialog::Uas(Box::new(UasLeg {
                invite: request.clone(),
                invite_key: key.clone(),
                reply,
                local_tag: local_tag.clone(),
                dialog: None,
                answered: false,
                finished: false,
                timer,
            })),
        );
        if let OutboundRoute::Local { flow } = &plan.route {
            let answer = super::local::LocalAnswer {
                key,
                call_id,
                caller,
                callee_id,
                local_tag,
                permit,
                flow: flow.clone(),
                tenant: plan.tenant.clone(),
                did: plan.called.clone(),
                caller_number: plan.caller.clone(),
                offer: received,
            };
            return self.answer_locally(answer, &request, now);
        }
        let template = self.invite_template(&request, &plan);
        let callee_sdp = LegSdp::new(
            matches!(plan.callee_peer, LegPeer::Teams(_)),
            self.codec_policy(&plan.callee_peer),
            self.random_u64(),
        );
        let callee_transport = match &plan.route {
            OutboundRoute::Teams { .. } => Transport::Tls,
            OutboundRoute::Targets { transport, .. } => *transport,
            OutboundRoute::Local { .. } => Transport::Udp,
        };
        let caller_number_user = match (&plan.callee_peer, &plan.caller) {
            (_, _) if plan.anonymous => None,
            (LegPeer::Trunk(trunk), Some(number)) => self
                .config
                .trunks
                .get(trunk)
                .map(|t| t.numbers.format(number)),
            (_, number) => number.as_ref().map(|n| n.as_str().to_owned()),
        };
        let mut callee = self.new_leg(
            callee_id,
            Party::Callee,
            plan.callee_peer.clone(),
            callee_transport,
            plan.callee_number.clone(),
            caller_number_user.as_deref(),
            callee_sdp,
            LegDialog::Uac(Box::new(UacLeg {
                template,
                route: plan.route,
                attempt: None,
            })),
        );
        let adds_events = self.adds_events(&plan.caller_peer, &callee.peer);
        let offer = write_sdp(
            &mut *self.media,
            &mut self.random,
            self.gate.stats(),
            call_id,
            &mut callee,
            &received,
            SdpRole::Offer,
            adds_events,
        );
        let offer = match offer {
            Ok(offer) => offer,
            Err(_) => {
                self.gate.release_call(permit);
                self.media.release(call_id, callee_id);
                let response = Response::for_request(&request, StatusCode::SERVICE_UNAVAILABLE);
                return self.respond(&key, response, now);
            }
        };
        if let LegDialog::Uac(uac) = &mut callee.dialog {
            uac.template.sdp = offer.to_bytes();
        }
        let caller_peer = caller.peer.clone();
        let callee_peer = callee.peer.clone();
        let legs = vec![caller, callee];
        let mut call = Call::new(call_id, legs, caller_id, callee_id, permit, false);
        self.index_caller(&mut call, &request, local_tag, key);
        self.events.push_back(B2buaEvent::CallStarted {
            call: call_id,
            from: caller_peer,
            to: callee_peer,
            caller: plan.caller,
            called: plan.called,
            at: now,
        });
        if !self.start_attempt(&mut call, callee_id, None, None, now) {
            self.end_call(
                &mut call,
                EndReason::Unreachable(StatusCode::SERVICE_UNAVAILABLE),
                now,
            );
        }
        self.put_back(call);
    }

    /// Routes a new INVITE from `peer` (RFC 3261 §16.5-style target
    /// selection, by the configured policy).
    pub(super) fn plan_call(
        &self,
        request: &Request,
        peer: &Peer,
        now: Instant,
    ) -> Result<CallPlan, Rejection> {
        let forbidden = || Rejection::new(403, crate::stats::RejectReason::UnknownSource);
        match peer {
            Peer::Trunk(trunk_name) => {
                let trunk = self.config.trunks.get(trunk_name).ok_or_else(forbidden)?;
                let caller = from_user(request).and_then(|u| trunk.numbers.to_e164(&u).ok());
                let caller_peer = LegPeer::Trunk(trunk_name.clone());
                match self.router.route_from_carrier(trunk_name, request)? {
                    CarrierCall::Teams(call) => {
                        let pinger = self.pinger.as_ref().ok_or_else(forbidden)?;
                        Ok(CallPlan {
                            caller_peer,
                            callee_peer: LegPeer::Teams(call.tenant.name().clone()),
                            route: OutboundRoute::Teams {
                                failover: ProxyFailover::new(pinger, now),
                                user: Some(call.user.clone()),
                                request_uri: None,
                            },
                            trunk: Some(trunk_name.clone()),
                            tenant: Some(call.tenant.name().clone()),
                            caller: call.caller.clone(),
                            called: Some(call.did.clone()),
                            callee_number: Some(call.user.clone()),
                            anonymous: is_anonymous(request),
                        })
                    }
                    CarrierCall::Flow(call) => Ok(CallPlan {
                        caller_peer,
                        callee_peer: LegPeer::Local,
                        route: OutboundRoute::Local {
                            flow: call.flow.clone(),
                        },
                        trunk: Some(trunk_name.clone()),
                        tenant: Some(call.tenant.name().clone()),
                        caller: call.caller.clone(),
                        called: Some(call.did.clone()),
                        callee_number: None,
                        anonymous: is_anonymous(request),
                    }),
                    CarrierCall::Trunk(out) => Ok(CallPlan {
                        caller_peer,
                        callee_peer: LegPeer::Trunk(out.trunk.clone()),
                        route: OutboundRoute::Targets {
                            uris: out.request_uris,
                            transport: out.transport,
                        },
                        trunk: Some(trunk_name.clone()),
                        tenant: None,
                        caller,
                        called: Some(out.called.clone()),
                        callee_number: Some(out.called),
                        anonymous: is_anonymous(request),
                    }),
                    CarrierCall::Uri { request_uri } => {
                        let transport = wire::uri_transport(&request_uri, Transport::Udp);
                        Ok(CallPlan {
                            caller_peer,
                            callee_peer: LegPeer::Uri,
                            route: OutboundRoute::Targets {
                                uris: vec![request_uri],
                                transport,
                            },
                            trunk: Some(trunk_name.clone()),
                            tenant: None,
                            caller,
                            called: None,
                            callee_number: None,
                            anonymous: is_anonymous(request),
                        })
                    }
                }
            }
            Peer::Teams => {
                let tenant = self.router.tenant_for_teams_request(request)?;
                let dialled = request
                    .uri
                    .user()
                    .map(|u| sip::percent_decode(u).into_owned())
                    .or_else(|| {
                        let to = request.headers.to().ok()?;
                        to.uri.user().map(|u| sip::percent_decode(u).into_owned())
                    })
                    .unwrap_or_default();
                let out = tenant.route_to_pstn(&dialled)?;
                let caller = from_user(request)
                    .and_then(|u| E164::parse(&u).ok())
                    .or_else(|| asserted_number(&request.headers));
                Ok(CallPlan {
                    caller_peer: LegPeer::Teams(tenant.name().clone()),
                    callee_peer: LegPeer::Trunk(out.trunk.clone()),
                    route: OutboundRoute::Targets {
                        uris: out.request_uris,
                        transport: out.transport,
                    },
                    trunk: Some(out.trunk.clone()),
                    tenant: Some(tenant.name().clone()),
                    caller,
                    called: Some(out.called.clone()),
                    callee_number: Some(out.called),
                    anonymous: is_anonymous(request),
                })
            }
            Peer::Unverified => Err(forbidden()),
        }
    }

    /// From, To and the headers of the outbound INVITE of a new call.
    fn invite_template(&self, request: &Request, plan: &CallPlan) -> InviteTemplate {
        let display = request
            .headers
            .from()
            .ok()
            .and_then(|f| {
                f.display_name
                    .map(|d| format!("\"{}\" ", d.replace('"', "")))
            })
            .unwrap_or_default();
        let anonymous = "<sip:anonymous@anonymous.invalid>".to_owned();
        let (from, to) = match (&plan.callee_peer, &plan.route) {
            (
                LegPeer::Teams(tenant),
                OutboundRoute::Teams {
                    user: Some(user), ..
                },
            ) => {
                let (fqdn, _) = self.teams_host(tenant).unwrap_or_default();
                let caller = plan.caller.as_ref().filter(|_| !plan.anonymous);
                let from = caller.map_or(anonymous, |n| {
                    format!("{display}<sip:{n}@{fqdn};user=phone>")
                });
                let proxy = self
                    .config
                    .teams
                    .as_ref()
                    .and_then(|t| t.proxies.first())
                    .map_or("sip.pstnhub.microsoft.com", |p| p.fqdn.as_str());
                (from, format!("<sip:{user}@{proxy};user=phone>"))
            }
            (_, OutboundRoute::Targets { uris, transport }) => {
                let host = self.local_host(*transport);
                let user = self
                    .caller_user_for(plan, request)
                    .filter(|_| !plan.anonymous);
                let from = user.map_or(anonymous, |u| format!("{display}<sip:{u}@{host}>"));
                let to = uris
                    .first()
                    .map_or_else(|| "<sip:invalid.invalid>".to_owned(), |u| format!("<{u}>"));
                (from, to)
            }
            _ => (anonymous, "<sip:invalid.invalid>".to_owned()),
        };
        let mut headers: Vec<(HeaderName, Bytes)> = Vec::new();
        let policies = self.policies(&[&plan.caller_peer, &plan.callee_peer]);
        for (name, value) in wire::carried(&policies, &request.headers) {
            if name == HeaderName::PAssertedIdentity {
                if let Some(value) =
                    self.rewrite_identity(&value, &plan.caller_peer, &plan.callee_peer)
                {
                    headers.push((name, Bytes::from(value)));
                }
            } else {
                headers.push((name, value));
            }
        }
        headers.push((
            HeaderName::Allow,
            Bytes::from_static(checks::ALLOW.as_bytes()),
        ));
        if let (LegPeer::Teams(_), Some(teams)) = (&plan.callee_peer, &self.config.teams) {
            headers.push((
                HeaderName::from("X-MS-SBC"),
                Bytes::from(teams.x_ms_sbc.clone()),
            ));
        }
        if let LegPeer::Trunk(trunk) = &plan.callee_peer {
            if let Some(trunk) = self.config.trunks.get(trunk) {
                for (name, value) in &trunk.headers.add {
                    headers.push((HeaderName::from(name.as_str()), Bytes::from(value.clone())));
                }
            }
        }
        let max_forwards = request
            .headers
            .max_forwards()
            .map_or(70, |mf| mf.saturating_sub(1).min(70));
        InviteTemplate {
            from,
            to,
            max_forwards,
            headers,
            sdp: Bytes::new(),
        }
    }

    /// The calling user written towards a carrier: the caller's number in
    /// the trunk's format, else the From user as received (static routes).
    fn caller_user_for(&self, plan: &CallPlan, request: &Request) -> Option<String> {
        if let (LegPeer::Trunk(trunk), Some(number)) = (&plan.callee_peer, &plan.caller) {
            if let Some(trunk) = self.config.trunks.get(trunk) {
                return Some(trunk.numbers.format(number));
            }
        }
        if let Some(number) = &plan.caller {
            return Some(number.as_str().to_owned());
        }
        from_user(request).filter(|u| {
            !u.eq_ignore_ascii_case("anonymous")
                && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '+')
        })
    }

    /// Sends the INVITE of `leg` to `target` (the first one when `None`);
    /// `false` when no target is left.
    pub(super) fn start_attempt(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        target: Option<Target>,
        session_expires: Option<u32>,
        now: Instant,
    ) -> bool {
        let call_id = call.id;
        let Some(leg) = call.leg_mut(leg_id) else {
            return false;
        };
        let via_host = leg.via_host.clone();
        let LegDialog::Uac(uac) = &mut leg.dialog else {
            return false;
        };
        let target = match (target, &mut uac.route) {
            (Some(target), _) => target,
            (None, OutboundRoute::Teams { failover, .. }) => match failover.next_proxy() {
                Some(proxy) => Target::Proxy(proxy),
                None => return false,
            },
            (None, OutboundRoute::Targets { uris, .. }) if !uris.is_empty() => Target::Uri(0),
            (None, OutboundRoute::Targets { .. } | OutboundRoute::Local { .. }) => return false,
        };
        let (request_uri, next_hop) = match (&uac.route, target) {
            (
                OutboundRoute::Teams {
                    user, request_uri, ..
                },
                Target::Proxy(proxy),
            ) => {
                let Some(teams) = &self.config.teams else {
                    return false;
                };
                let Some(addr) = teams.proxies.get(proxy.0) else {
                    return false;
                };
                let uri = match (request_uri, user) {
                    (Some(uri), _) => Ok(uri.clone()),
                    (None, Some(user)) => teams.request_uri(user, addr),
                    (None, None) => return false,
                };
                let hop = Uri::parse(format!("sip:{}:{};transport=tls", addr.fqdn, addr.port));
                match (uri, hop) {
                    (Ok(uri), Ok(hop)) => (
                        uri,
                        NextHop::Resolve {
                            uri: hop,
                            transport: Transport::Tls,
                        },
                    ),
                    _ => return false,
                }
            }
            (OutboundRoute::Targets { uris, transport }, Target::Uri(index)) => {
                let Some(uri) = uris.get(index) else {
                    return false;
                };
                let hop = NextHop::Resolve {
                    uri: uri.clone(),
                    transport: wire::uri_transport(uri, *transport),
                };
                (uri.clone(), hop)
            }
            _ => return false,
        };
        let hop_transport = match &next_hop {
            NextHop::Resolve { transport, .. } | NextHop::Reply { transport, .. } => *transport,
        };
        let session_expires = session_expires.or(self
            .settings
            .session_expires
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)));
        let sip_call_id = sip::new_call_id();
        let tag = sip::new_tag();
        let template = &uac.template;
        let mut builder = Request::builder(Method::Invite, request_uri)
            .header(HeaderName::Via, wire::via(hop_transport, &via_host))
            .header(HeaderName::MaxForwards, template.max_forwards.to_string())
            .header(HeaderName::From, format!("{};tag={tag}", template.from))
            .header(HeaderName::To, template.to.clone())
            .header(HeaderName::CallId, sip_call_id.clone())
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, leg.contact.clone());
        if let Some(record_route) = &leg.record_route {
            builder = builder.header(HeaderName::RecordRoute, record_route.clone());
        }
        for (name, value) in &template.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder = builder.header(HeaderName::Supported, checks::SUPPORTED_VALUE);
        if let Some(interval) = session_expires {
            builder = builder
                .header(HeaderName::SessionExpires, interval.to_string())
                .header(
                    HeaderName::MinSe,
                    self.settings.min_se.as_secs().to_string(),
                );
        }
        let invite = builder.body(SDP, template.sdp.clone()).build();
        let Ok(uac_invite) = UacInvite::new(invite.clone(), self.dialog_config) else {
            return false;
        };
        let purpose = Purpose::Invite {
            call: call_id,
            leg: leg_id,
        };
        let Some(key) = self.send_request(invite, next_hop.clone(), purpose, now) else {
            return false;
        };
        self.index_dialog(call, leg_id, sip_call_id, tag);
        if let Some(leg) = call.leg_mut(leg_id) {
            leg.transport = hop_transport;
            if let LegDialog::Uac(uac) = &mut leg.dialog {
                uac.attempt = Some(Attempt {
                    key,
                    uac: uac_invite,
                    next_hop,
                    target,
                    session_expires,
                    failover_at: Some(now + self.settings.failover_after),
                    ring_until: None,
                    alerted: false,
                    finished: false,
                });
            }
        }
        true
    }

    /// A response to the INVITE of an outbound leg.
    pub(super) fn on_invite_response(
        &mut self,
        call_id: CallId,
        leg_id: LegId,
        key: &TransactionKey,
        mut response: Response,
        now: Instant,
    ) {
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        let own = self.own_hosts();
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        wire::strip_own_record_routes(&mut response, &own);
        let status = response.status;
        let mut first_final = false;
        let mut current = false;
        if let Some(LegDialog::Uac(uac)) = call.leg_mut(leg_id).map(|l| &mut l.dialog) {
            if let Some(attempt) = uac.attempt.as_mut().filter(|a| a.key == *key) {
                current = true;
                attempt.failover_at = None;
                if status.is_provisional() && attempt.ring_until.is_none() {
                    attempt.ring_until = self.settings.max_ringing.map(|limit| now + limit);
                }
                if status.is_provisional() && status != StatusCode::TRYING {
                    attempt.alerted = true;
                }
                // A response of another dialog or a malformed one changes nothing.
                let _ = attempt.uac.handle_response(&response, now);
                if status.is_final() && !attempt.finished {
                    attempt.finished = true;
                    first_final = true;
                }
            }
        }
        if !current {
            return self.put_back(call);
        }
        self.flush_leg(&mut call, leg_id, now);
        if status.is_provisional() {
            if status != StatusCode::TRYING {
                self.on_provisional(&mut call, leg_id, &response, now);
            }
        } else if status.is_success() {
            if first_final {
                self.on_answered(&mut call, leg_id, &response, now);
            }
        } else if first_final {
            self.on_attempt_rejected(&mut call, leg_id, &response, now);
        }
        self.put_back(call);
    }

    /// A 18x of the callee: relayed to the caller with our tag (and the
    /// SDP rewritten for the caller: early media).
    fn on_provisional(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) {
        if call.dials.contains(&leg_id) || call.parties.contains(&leg_id) {
            return self.dial_progress(call, leg_id, response.status);
        }
        if leg_id != call.callee || call.state != CallState::Calling {
            return;
        }
        let caller_id = call.caller;
        let body = match wire::sdp_body(&response.headers, &response.body) {
            Some(body) => self
                .rewrite_across(call, leg_id, caller_id, &body, SdpRole::Answer)
                .ok(),
            None => None,
        };
        let status = if response.status.0 == 199 {
            StatusCode::SESSION_PROGRESS
        } else {
            response.status
        };
        self.respond_to_caller(call, status, body, None, now);
    }

    /// Reads the SDP `body` of `from`'s peer and writes it for `to`;
    /// tells the media plane about both. An answer is checked against
    /// our offer to `from` (RFC 3264 §6.1).
    pub(super) fn rewrite_across(
        &mut self,
        call: &mut Call,
        from: LegId,
        to: LegId,
        body: &[u8],
        role: SdpRole,
    ) -> Result<Session, RewriteError> {
        self.rewrite_across_checked(call, from, to, body, role, true)
    }

    /// [`B2bua::rewrite_across`]; with `check` false an answer is taken
    /// as it is (a description in a 2xx to a request that carried no
    /// offer).
    pub(super) fn rewrite_across_checked(
        &mut self,
        call: &mut Call,
        from: LegId,
        to: LegId,
        body: &[u8],
        role: SdpRole,
        check: bool,
    ) -> Result<Session, RewriteError> {
        let call_id = call.id;
        let received = {
            let leg = call.leg_mut(from).ok_or(RewriteError::NoLeg)?;
            match role {
                SdpRole::Offer | SdpRole::OfferFromAnswer => {
                    leg.sdp.receive(body).map_err(RewriteError::Unparsable)?
                }
                SdpRole::Answer => match leg.sdp.receive_answer(body, check) {
                    Ok(answer) => answer,
                    Err(error) => {
                        if matches!(error, RewriteError::CodecNotOffered { .. }) {
                            self.gate.stats().record_answer_not_offered();
                        }
                        return Err(error);
                    }
                },
            }
        };
        let adds_events = match (call.leg(from), call.leg(to)) {
            (Some(f), Some(t)) => role != SdpRole::Answer && self.adds_events(&f.peer, &t.peer),
            _ => false,
        };
        let out = {
            let leg = call.leg_mut(to).ok_or(RewriteError::NoLeg)?;
            write_sdp(
                &mut *self.media,
                &mut self.random,
                self.gate.stats(),
                call_id,
                leg,
                &received,
                role,
                adds_events,
            )?
        };
        if let Some(l) = call.leg(from) {
            let mut streams = l.sdp.streams_of(&received);
            let dtmf = self.dtmf_mode(&l.peer);
            for stream in &mut streams {
                stream.dtmf = dtmf;
            }
            if !streams.is_empty() {
                self.media.update(call_id, from, &streams);
            }
        }
        self.update_media(call, to);
        Ok(out)
    }

    /// Takes the SDP answer of a 2xx to an outbound leg whose offer we
    /// wrote ourselves (a dialled leg, an added party, a transfer
    /// target); `false` when its codec was not offered (RFC 3264 §6.1).
    /// An unreadable answer leaves the offer's view: the codec is then
    /// unknown to the application.
    pub(super) fn take_answer(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        response: &Response,
    ) -> bool {
        let (Some(body), Some(leg)) = (
            wire::sdp_body(&response.headers, &response.body),
            call.leg_mut(leg_id),
        ) else {
            return true;
        };
        match leg.sdp.receive_answer(&body, true) {
            Err(RewriteError::CodecNotOffered { .. }) => {
                self.gate.stats().record_answer_not_offered();
                false
            }
            _ => true,
        }
    }

    /// Counts a bridge of `a` and `b` if a stream of either is
    /// transcoded.
    pub(super) fn count_transcoding(&self, call: &Call, a: LegId, b: LegId) {
        let transcoding = [a, b]
            .iter()
            .any(|leg| call.leg(*leg).is_some_and(|l| l.sdp.is_transcoding()));
        if transcoding {
            self.gate.stats().record_transcoded_call();
        }
    }

    /// Tells the media plane what `leg`'s peer described.
    pub(super) fn update_media(&mut self, call: &Call, leg: LegId) {
        if let Some(l) = call.leg(leg) {
            let mut streams = l.sdp.streams();
            let dtmf = self.dtmf_mode(&l.peer);
            for stream in &mut streams {
                stream.dtmf = dtmf;
            }
            if !streams.is_empty() {
                self.media.update(call.id, leg, &streams);
            }
        }
    }

    /// Sends `status` (with an SDP body) to the caller's INVITE: 1xx with
    /// our tag create the early dialog, the 2xx confirms it (RFC 3261
    /// §12.1.1); a final response ends the INVITE.
    pub(super) fn respond_to_caller(
        &mut self,
        call: &mut Call,
        status: StatusCode,
        body: Option<Session>,
        reason_from: Option<&Response>,
        now: Instant,
    ) {
        let caller = call.caller;
        self.respond_uas(call, caller, status, body, reason_from, now);
    }

    /// Sends `status` to the INVITE of the UAS leg `caller_id`.
    pub(super) fn respond_uas(
        &mut self,
        call: &mut Call,
        caller_id: LegId,
        status: StatusCode,
        body: Option<Session>,
        reason_from: Option<&Response>,
        now: Instant,
    ) {
        let x_ms_sbc = self.config.teams.as_ref().map(|t| t.x_ms_sbc.clone());
        let dialog_config = self.dialog_config;
        let Some(leg) = call.leg_mut(caller_id) else {
            return;
        };
        let is_teams = leg.is_teams();
        let contact = leg.contact.clone();
        let record_route = leg.record_route.clone();
        let LegDialog::Uas(uas) = &mut leg.dialog else {
            return;
        };
        if uas.finished {
            return;
        }
        let response = uas_response(
            uas,
            status,
            &contact,
            record_route.as_deref(),
            is_teams.then_some(x_ms_sbc).flatten().as_deref(),
            body.as_ref(),
        );
        let mut response = response;
        if status.is_success() {
            for (name, value) in uas.timer.headers() {
                response.headers.push(name, value);
            }
        }
        if let Some(from) = reason_from {
            for reason in from.headers.get_all(&HeaderName::Reason) {
                response
                    .headers
                    .push(HeaderName::Reason, Bytes::copy_from_slice(reason));
            }
        }
        let creates_dialog = status.is_success() || (status.is_provisional() && status.0 > 100);
        if creates_dialog {
            match &mut uas.dialog {
                Some(dialog) => {
                    let _ = dialog.handle_sent_response(&response, now);
                }
                None => {
                    uas.dialog = Dialog::new_uas(&uas.invite, &response, dialog_config, now).ok()
                }
            }
        } else if status.is_final() {
            if let Some(dialog) = &mut uas.dialog {
                let _ = dialog.handle_sent_response(&response, now);
            }
        }
        if status.is_final() {
            uas.finished = true;
            uas.answered = status.is_success();
        }
        let key = uas.invite_key.clone();
        if status.is_success() {
            let timer = uas.timer.timer(now);
            leg.timer = timer;
        }
        self.respond(&key, response, now);
    }

    /// The first 2xx to an outbound INVITE: ACK it on its leg, then
    /// answer the caller (or finish a transfer).
    fn on_answered(&mut self, call: &mut Call, leg_id: LegId, response: &Response, now: Instant) {
        let call_id = call.id;
        let Some(leg) = call.leg_mut(leg_id) else {
            return;
        };
        let (transport, via_host, peer) = (leg.transport, leg.via_host.clone(), leg.peer.clone());
        leg.timer = session_timer::from_2xx(response, now);
        let mut ack = None;
        if let LegDialog::Uac(uac) = &mut leg.dialog {
            if let Some(attempt) = &mut uac.attempt {
                ack = attempt.uac.ack(None).ok();
            }
        }
        if let Some(mut ack) = ack {
            self.finish(&peer, transport, &via_host, &mut ack);
            let hop = wire::dialog_next_hop(&ack, transport);
            self.send_direct(ack.into(), hop);
        }
        let dialled = call.dials.contains(&leg_id) || call.parties.contains(&leg_id);
        let transfer_target = call.transfer.is_some_and(|t| t.target == leg_id);
        if (dialled || transfer_target) && !self.take_answer(call, leg_id, response) {
            // Answered with a codec we did not offer: BYE, as refused.
            let status = StatusCode::NOT_ACCEPTABLE_HERE;
            if transfer_target {
                return self.transfer_failed(call, status, now);
            }
            if leg_id == call.caller {
                call.dials.retain(|l| *l != leg_id);
                return self.originate_failed(
                    call,
                    leg_id,
                    status,
                    EndReason::Rejected(status),
                    now,
                );
            }
            return self.dial_failed(call, leg_id, status, now);
        }
        if call.dials.contains(&leg_id) {
            return self.dial_answered(call, leg_id, now);
        }
        if call.parties.contains(&leg_id) {
            return self.party_answered(call, leg_id, now);
        }
        if transfer_target {
            return self.complete_transfer(call, now);
        }
        if leg_id != call.callee || call.state != CallState::Calling {
            return;
        }
        let caller_id = call.caller;
        let body = match wire::sdp_body(&response.headers, &response.body) {
            Some(body) => self
                .rewrite_across(call, leg_id, caller_id, &body, SdpRole::Answer)
                .ok(),
            // The answer came in a 183: repeat it (RFC 3264 §4).
            None => call.leg(caller_id).and_then(|l| l.sdp.sent()),
        };
        let Some(body) = body else {
            self.respond_to_caller(call, StatusCode::NOT_ACCEPTABLE_HERE, None, None, now);
            return self.end_call(
                call,
                EndReason::Rejected(StatusCode::NOT_ACCEPTABLE_HERE),
                now,
            );
        };
        self.respond_to_caller(call, StatusCode::OK, Some(body), None, now);
        call.state = CallState::Confirmed;
        call.answered_at = Some(now);
        call.hangup_at = self.settings.max_call_duration.map(|max| now + max);
        self.media.bridge(call_id, caller_id, leg_id);
        self.count_transcoding(call, caller_id, leg_id);
        self.events.push_back(B2buaEvent::CallAnswered {
            call: call_id,
            at: now,
        });
    }

    /// A final non-2xx of an attempt: 422 asks again with a longer
    /// session interval (RFC 4028 §7.4); others fail over or end the leg.
    fn on_attempt_rejected(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        response: &Response,
        now: Instant,
    ) {
        let Some((target, asked)) = attempt_of(call, leg_id) else {
            return;
        };
        if response.status == StatusCode::SESSION_INTERVAL_TOO_SMALL {
            if let Ok(Some(min_se)) = response.headers.min_se() {
                if asked.is_none_or(|asked| asked < min_se)
                    && self.start_attempt(call, leg_id, Some(target), Some(min_se), now)
                {
                    return;
                }
            }
        }
        let retry_after = response
            .headers
            .retry_after()
            .ok()
            .flatten()
            .map(|r| std::time::Duration::from_secs(u64::from(r.seconds)));
        let outcome = AttemptOutcome::Response {
            status: response.status,
            retry_after,
        };
        self.fail_over(call, leg_id, target, outcome, Some(response), now);
    }

    /// An attempt's transaction timed out or could not be sent.
    pub(super) fn on_attempt_failed(
        &mut self,
        call_id: CallId,
        leg_id: LegId,
        key: &TransactionKey,
        outcome: AttemptOutcome,
        now: Instant,
    ) {
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        let mut current = false;
        if let Some(LegDialog::Uac(uac)) = call.leg_mut(leg_id).map(|l| &mut l.dialog) {
            if let Some(attempt) = uac
                .attempt
                .as_mut()
                .filter(|a| a.key == *key && !a.finished)
            {
                attempt.finished = true;
                current = true;
            }
        }
        if current {
            if let Some((target, _)) = attempt_of(&call, leg_id) {
                self.fail_over(&mut call, leg_id, target, outcome, None, now);
            }
        }
        self.put_back(call);
    }

    /// Gives up on the current attempt of `leg` (nothing heard in time):
    /// CANCEL it (held until a provisional, RFC 3261 §9.1) and keep its
    /// INVITE as an orphan so a late 2xx is ended.
    pub(super) fn abandon_attempt(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        let Some((target, _)) = attempt_of(call, leg_id) else {
            return;
        };
        self.orphan_attempt(call, leg_id, now);
        self.fail_over(call, leg_id, target, AttemptOutcome::Timeout, None, now);
    }

    /// Moves `leg`'s unanswered INVITE out of the call, cancelling it.
    pub(super) fn orphan_attempt(&mut self, call: &mut Call, leg_id: LegId, now: Instant) {
        let Some(LegDialog::Uac(uac)) = call.leg_mut(leg_id).map(|l| &mut l.dialog) else {
            return;
        };
        let Some(attempt) = uac.attempt.take() else {
            return;
        };
        if !attempt.finished {
            if let Ok(cancel) = self.layer.send_cancel(&attempt.key, now) {
                self.client.insert(
                    cancel,
                    super::call::ClientTxn {
                        next_hop: attempt.next_hop.clone(),
                        purpose: Purpose::Ignore,
                    },
                );
            }
        }
        self.orphans.insert(attempt.key, attempt.uac);
    }

    /// After a failed attempt: the next target, or the leg has failed.
    fn fail_over(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        target: Target,
        outcome: AttemptOutcome,
        response: Option<&Response>,
        now: Instant,
    ) {
        let mut next = None;
        let mut close = None;
        if let Some(LegDialog::Uac(uac)) = call.leg_mut(leg_id).map(|l| &mut l.dialog) {
            let alerted = uac.attempt.as_ref().is_some_and(|a| a.alerted);
            match (&mut uac.route, target) {
                // The proxy delivered the call and the callee's clients
                // rang: whatever ends it now is the callee's answer.
                (OutboundRoute::Teams { .. }, Target::Proxy(_)) if alerted => {}
                (OutboundRoute::Teams { failover, .. }, Target::Proxy(proxy)) => {
                    if let Some(pinger) = self.pinger.as_mut() {
                        let decision =
                            failover.handle_outcome(pinger, self.gate.stats(), proxy, outcome, now);
                        if let FailoverDecision::Retry {
                            proxy: retry,
                            drop_connection,
                        } = decision
                        {
                            next = Some(Target::Proxy(retry));
                            if drop_connection {
                                close = pinger.addr(proxy).cloned();
                            }
                        }
                    }
                }
                (OutboundRoute::Targets { uris, .. }, Target::Uri(index)) => {
                    let retryable = match outcome {
                        AttemptOutcome::Response { status, .. } => {
                            status.0 == 408 || status.0 == 480 || (500..600).contains(&status.0)
                        }
                        AttemptOutcome::Timeout | AttemptOutcome::TransportError => true,
                    };
                    if retryable && index + 1 < uris.len() {
                        next = Some(Target::Uri(index + 1));
                    }
                }
                _ => {}
            }
        }
        if let Some(proxy) = close {
            self.events.push_back(B2buaEvent::CloseConnection {
                host: proxy.fqdn,
                port: proxy.port,
            });
        }
        if let Some(next) = next {
            if self.start_attempt(call, leg_id, Some(next), None, now) {
                return;
            }
        }
        let status = match outcome {
            AttemptOutcome::Response { status, .. } => wire::map_final(status),
            AttemptOutcome::Timeout => StatusCode::REQUEST_TIMEOUT,
            AttemptOutcome::TransportError => StatusCode::SERVICE_UNAVAILABLE,
        };
        let unreachable = !matches!(outcome, AttemptOutcome::Response { .. });
        self.leg_failed(call, leg_id, status, unreachable, response, now);
    }

    /// An outbound leg got no 2xx from any target.
    fn leg_failed(
        &mut self,
        call: &mut Call,
        leg_id: LegId,
        status: StatusCode,
        unreachable: bool,
        response: Option<&Response>,
        now: Instant,
    ) {
        if call.transfer.is_some_and(|t| t.target == leg_id) {
            return self.transfer_failed(call, status, now);
        }
        if call.dials.contains(&leg_id) && leg_id == call.caller {
            let reason = if unreachable {
                EndReason::Unreachable(status)
            } else {
                EndReason::Rejected(status)
            };
            return self.originate_failed(call, leg_id, status, reason, now);
        }
        if call.dials.contains(&leg_id) || call.parties.contains(&leg_id) {
            return self.dial_failed(call, leg_id, status, now);
        }
        if leg_id != call.callee || call.state != CallState::Calling {
            return;
        }
        self.respond_to_caller(call, status, None, response, now);
        let reason = if unreachable {
            EndReason::Unreachable(status)
        } else {
            EndReason::Rejected(status)
        };
        self.end_call(call, reason, now);
    }

    /// CANCEL (RFC 3261 §9.2): 200 to it, 487 to the INVITE, CANCEL on
    /// the outbound leg; 481 when it matches no INVITE.
    pub(super) fn on_cancel(&mut self, key: &TransactionKey, request: &Request, now: Instant) {
        let invite = self.layer.cancelled_invite(key);
        let status = if invite.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST
        };
        self.respond(key, Response::for_request(request, status), now);
        let Some(&(call_id, leg_id)) = invite.as_ref().and_then(|k| self.invites.get(k)) else {
            return;
        };
        let Some(mut call) = self.calls.remove(&call_id) else {
            return;
        };
        let pending = matches!(
            call.leg(leg_id).map(|l| &l.dialog),
            Some(LegDialog::Uas(uas)) if !uas.finished
        );
        if pending {
            if leg_id == call.caller && call.state == CallState::Calling {
                self.end_call(&mut call, EndReason::Cancelled, now);
            } else {
                self.drop_leg(&mut call, leg_id, StatusCode::REQUEST_TERMINATED, now);
            }
        }
        self.put_back(call);
    }
}

/// The target and asked session interval of `leg`'s current attempt.
fn attempt_of(call: &Call, leg_id: LegId) -> Option<(Target, Option<u32>)> {
    match &call.leg(leg_id)?.dialog {
        LegDialog::Uac(uac) => uac.attempt.as_ref().map(|a| (a.target, a.session_expires)),
        LegDialog::Uas(_) => None,
    }
}

/// A response to a UAS leg's INVITE: our tag, Contact and Record-Route
/// on dialog-creating responses (the INVITE's Record-Route copied, RFC
/// 3261 §12.1.1, ours first towards Teams), Allow, Supported, X-MS-SBC.
pub(crate) fn uas_response(
    uas: &UasLeg,
    status: StatusCode,
    contact: &str,
    record_route: Option<&str>,
    x_ms_sbc: Option<&str>,
    body: Option<&Session>,
) -> Response {
    let mut response = wire::response(&uas.invite, status, Some(&uas.local_tag));
    let creates_dialog = status.is_success() || (status.is_provisional() && status.0 > 100);
    if creates_dialog {
        response
            .headers
            .push(HeaderName::Contact, contact.to_owned());
        if let Some(ours) = record_route {
            response
                .headers
                .push(HeaderName::RecordRoute, ours.to_owned());
        }
        for entry in uas.invite.headers.get_all(&HeaderName::RecordRoute) {
            response
                .headers
                .push(HeaderName::RecordRoute, Bytes::copy_from_slice(entry));
        }
    }
    if status != StatusCode::TRYING {
        response.headers.push(HeaderName::Allow, checks::ALLOW);
        response
            .headers
            .push(HeaderName::Supported, checks::SUPPORTED_VALUE);
    }
    if let Some(value) = x_ms_sbc {
        response
            .headers
            .push(HeaderName::from("X-MS-SBC"), value.to_owned());
    }
    if let Some(body) = body {
        response.headers.set(HeaderName::ContentType, SDP);
        response.body = body.to_bytes();
    }
    response
}

/// Whether the caller withheld its identity in From (RFC 3323 §4.1.1.3).
fn is_anonymous(request: &Request) -> bool {
    request.headers.from().is_ok_and(|from| {
        from.uri
            .user()
            .is_some_and(|u| u.eq_ignore_ascii_case("anonymous"))
            || from
                .uri
                .host()
                .to_string()
                .eq_ignore_ascii_case("anonymous.invalid")
    })
}

/// The From user of a request, percent-decoded.
fn from_user(request: &Request) -> Option<String> {
    let from = request.headers.from().ok()?;
    from.uri.user().map(|u| sip::percent_decode(u).into_owned())
}

/// The first E.164 number in P-Asserted-Identity (Teams' ForwardPAI).
fn asserted_number(headers: &Headers) -> Option<E164> {
    headers
        .p_asserted_identity()
        .filter_map(Result::ok)
        .find_map(|na| {
            na.uri
                .user()
                .and_then(|u| E164::parse(&sip::percent_decode(u)).ok())
        })
}
