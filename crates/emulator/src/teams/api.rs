//! What a test does as a Teams user: call the PSTN through the SBC (the
//! proxy's INVITE with P-Asserted-Identity and `Privacy: id`, RFC 3325,
//! From anonymous, SDES offer), hang up (BYE, CANCEL, or a refusal while
//! ringing), transfer (REFER, RFC 3515 / RFC 5589, with Teams' `x-m`,
//! `x-t`, `x-ti`, `x-tt` parameters) and hold (re-INVITE with
//! `a=inactive`, RFC 3264 §8.4).

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Method, Request, StatusCode, Uri};
use sip_core::UacInvite;

use super::calls::{Call, CallState, Calling};
use super::event::{CallId, Destination, Event};
use super::media::{MediaSession, KEY_SALT_LEN};
use super::proxy::{ClientRoute, Purpose, TeamsProxy};
use super::wire;
use crate::config::{is_e164, ProxyMode};
use crate::error::CallError;

/// Where a Teams user transfers a call to (the Refer-To of the REFER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferTarget {
    /// A PSTN number: `Refer-To: <sip:+E164@sip.pstnhub.microsoft.com;user=phone>`.
    Number(String),
    /// A configured Teams user, by name or number: `Refer-To` with
    /// `x-m=8:orgid:<object id>` and `x-t=<tenant id>`.
    User(String),
    /// Any MRI and tenant id, as written into `x-m` and `x-t`.
    Mri {
        /// `8:orgid:<object id>`.
        mri: String,
        /// The tenant id.
        tenant_id: String,
    },
}

impl TeamsProxy {
    /// A Teams user (by name or number) calls `to_number` (E.164): the
    /// first proxy that is up sends an INVITE to the user's tenant trunk,
    /// as Direct Routing does with ForwardPAI.
    pub fn place_call(
        &mut self,
        from_user: &str,
        to_number: &str,
        now: Instant,
    ) -> Result<CallId, CallError> {
        if !is_e164(to_number) {
            return Err(CallError::BadNumber(to_number.to_owned()));
        }
        let user_ref = self
            .directory
            .find_user(from_user)
            .ok_or_else(|| CallError::UnknownUser(from_user.to_owned()))?;
        let proxy = self
            .proxies()
            .map(|(id, _)| id)
            .find(|id| {
                self.proxies
                    .get(id.0)
                    .is_some_and(|p| p.mode == ProxyMode::Up)
            })
            .ok_or(CallError::NoProxyAvailable)?;
        let (tenant, user) = self
            .directory
            .user(user_ref)
            .ok_or_else(|| CallError::UnknownUser(from_user.to_owned()))?;
        let (trunk, number, sip_address) = (
            tenant.trunk_fqdn.clone(),
            user.number.clone(),
            user.sip_address.clone(),
        );
        let proxy_fqdn = self.proxy_fqdn(proxy);
        let port = self.sbc_port;
        let uri = Uri::parse(format!(
            "sip:{to_number}@{trunk}:{port};user=phone;transport=tls"
        ))
        .map_err(|e| CallError::Sip(e.to_string()))?;
        let mut media = MediaSession::new(
            self.media_ip,
            self.allocate_media_port(),
            self.rng.bytes(KEY_SALT_LEN),
            self.rng.next_u64() >> 2,
        );
        let offer = media.offer();
        let contact = wire::contact(&proxy_fqdn, &self.rng.guid());
        let call_id = sip::new_call_id();
        let invite = Request::builder(Method::Invite, uri)
            .header(
                HeaderName::Via,
                format!(
                    "SIP/2.0/TLS {};branch={}",
                    wire::sent_by(&proxy_fqdn),
                    sip::new_branch()
                ),
            )
            .header(HeaderName::MaxForwards, "70")
            .header(
                HeaderName::From,
                format!("<sip:anonymous@anonymous.invalid>;tag={}", sip::new_tag()),
            )
            .header(
                HeaderName::To,
                format!("<sip:{to_number}@{trunk}:{port};user=phone>"),
            )
            .header(HeaderName::CallId, call_id.clone())
            .header(HeaderName::CSeq, "1 INVITE")
            .header(HeaderName::Contact, contact.clone())
            .header(HeaderName::PAssertedIdentity, format!("<tel:{number}>"))
            .header(
                HeaderName::PAssertedIdentity,
                format!("<sip:{sip_address}>"),
            )
            .header(HeaderName::Privacy, "id")
            .header(HeaderName::Allow, wire::ALLOW)
            .header(HeaderName::UserAgent, wire::PRODUCT)
            .body("application/sdp", Bytes::from(offer.to_string()))
            .build();
        let uac = UacInvite::new(invite.clone(), self.dialog_config)
            .map_err(|e| CallError::Sip(e.to_string()))?;
        let id = self.new_call_id();
        let destination = Destination::Sbc {
            host: trunk.clone(),
            port,
        };
        let route = ClientRoute {
            purpose: Purpose::Invite { call: id },
            proxy,
            destination: destination.clone(),
        };
        let invite_key = self.send_request(invite, route, now)?;
        self.calls.insert(
            id,
            Call {
                user: user_ref,
                proxy,
                sip_call_id: call_id.clone(),
                media,
                state: CallState::Calling(Box::new(Calling {
                    invite_key,
                    uac,
                    cancelled: false,
                })),
                next_hop: destination,
                connection: None,
                contact,
                sbc_allows_refer: false,
                on_hold: false,
                pending_hold: None,
            },
        );
        self.by_call_id.insert(call_id, id);
        self.events.push_back(Event::CallPlaced { call: id, trunk });
        self.drain(now);
        Ok(id)
    }

    /// The Teams user hangs up: BYE on an established call, CANCEL on a
    /// call still being set up, 603 Decline on a call still ringing.
    pub fn hang_up(&mut self, call: CallId, now: Instant) -> Result<(), CallError> {
        let entry = self
            .calls
            .get_mut(&call)
            .ok_or(CallError::UnknownCall(call.0))?;
        match &mut entry.state {
            CallState::Proceeding(_) => {
                self.refuse_ringing(call, StatusCode::DECLINE, super::event::Party::Teams, now);
            }
            CallState::Calling(calling) => {
                if calling.cancelled {
                    return Err(CallError::WrongState { action: "CANCEL" });
                }
                let cancel = self
                    .layer
                    .send_cancel(&calling.invite_key, now)
                    .map_err(|e| CallError::Sip(e.to_string()))?;
                calling.cancelled = true;
                let route = ClientRoute {
                    purpose: Purpose::Cancel,
                    proxy: entry.proxy,
                    destination: entry.next_hop.clone(),
                };
                self.client_routes.insert(cancel, route);
            }
            CallState::Confirmed(dialog) => {
                let bye = dialog
                    .request(Method::Bye, now)
                    .map_err(|_| CallError::WrongState { action: "BYE" })?;
                self.send_in_dialog(call, bye, now)?;
                self.events.push_back(Event::Ended {
                    call,
                    by: super::event::Party::Teams,
                    status: None,
                });
                self.end_call(call);
            }
        }
        self.drain(now);
        Ok(())
    }

    /// The Teams user transfers an established call: REFER to the SBC
    /// (only sent when the SBC lists REFER in Allow), with Referred-By
    /// naming the transferor (`x-m`, `x-t`, `x-ti` correlation id, `x-tt`
    /// token). Progress comes back as [`Event::NotifyReceived`].
    pub fn transfer(
        &mut self,
        call: CallId,
        target: TransferTarget,
        now: Instant,
    ) -> Result<(), CallError> {
        let entry = self
            .calls
            .get(&call)
            .ok_or(CallError::UnknownCall(call.0))?;
        if !matches!(entry.state, CallState::Confirmed(_)) {
            return Err(CallError::WrongState { action: "REFER" });
        }
        if !entry.sbc_allows_refer {
            return Err(CallError::ReferNotAllowed);
        }
        let proxy_fqdn = self.proxy_fqdn(entry.proxy);
        let (tenant, transferor) = self
            .directory
            .user(entry.user)
            .ok_or(CallError::UnknownCall(call.0))?;
        let (tenant_id, transferor_mri) = (tenant.id.clone(), transferor.mri());
        let port = wire::PROXY_PORT;
        let refer_to = match target {
            TransferTarget::Number(number) => {
                if !is_e164(&number) {
                    return Err(CallError::BadNumber(number));
                }
                format!("<sip:{number}@{proxy_fqdn};user=phone>")
            }
            TransferTarget::User(name) => {
                let user = self
                    .directory
                    .find_user(&name)
                    .ok_or_else(|| CallError::UnknownUser(name.clone()))?;
                let (tenant, user) = self
                    .directory
                    .user(user)
                    .ok_or(CallError::UnknownUser(name))?;
                format!(
                    "<sip:{proxy_fqdn}:{port};transport=tls;x-m={};x-t={}>",
                    user.mri(),
                    tenant.id
                )
            }
            TransferTarget::Mri { mri, tenant_id } => {
                format!("<sip:{proxy_fqdn}:{port};transport=tls;x-m={mri};x-t={tenant_id}>")
            }
        };
        let referred_by = format!(
            "<sip:{proxy_fqdn}:{port};transport=tls;x-m={transferor_mri};x-t={tenant_id};x-ti={};x-tt={:016x}{:016x}>",
            self.rng.guid(),
            self.rng.next_u64(),
            self.rng.next_u64(),
        );
        let Some(CallState::Confirmed(dialog)) = self.calls.get_mut(&call).map(|c| &mut c.state)
        else {
            return Err(CallError::WrongState { action: "REFER" });
        };
        let mut refer = dialog
            .request(Method::Refer, now)
            .map_err(|e| CallError::Sip(e.to_string()))?;
        refer.headers.push(HeaderName::ReferTo, refer_to.clone());
        refer.headers.push(HeaderName::ReferredBy, referred_by);
        self.send_in_dialog(call, refer, now)?;
        self.events.push_back(Event::ReferSent { call, refer_to });
        self.drain(now);
        Ok(())
    }

    /// The Teams user holds the call: re-INVITE with `a=inactive`.
    pub fn hold(&mut self, call: CallId, now: Instant) -> Result<(), CallError> {
        self.reinvite(call, true, now)
    }

    /// The Teams user resumes the call: re-INVITE with `a=sendrecv`.
    pub fn resume(&mut self, call: CallId, now: Instant) -> Result<(), CallError> {
        self.reinvite(call, false, now)
    }

    fn reinvite(&mut self, call: CallId, on_hold: bool, now: Instant) -> Result<(), CallError> {
        let entry = self
            .calls
            .get_mut(&call)
            .ok_or(CallError::UnknownCall(call.0))?;
        let action = if on_hold { "hold" } else { "resume" };
        let CallState::Confirmed(dialog) = &mut entry.state else {
            return Err(CallError::WrongState { action });
        };
        if entry.pending_hold.is_some() {
            return Err(CallError::WrongState { action });
        }
        let Some(sdp) = entry.media.reoffer(on_hold) else {
            return Err(CallError::WrongState { action });
        };
        let mut invite = dialog
            .request(Method::Invite, now)
            .map_err(|_| CallError::WrongState { action })?;
        invite
            .headers
            .set(HeaderName::ContentType, "application/sdp");
        invite.body = Bytes::from(sdp.to_string());
        entry.pending_hold = Some(on_hold);
        self.send_in_dialog(call, invite, now)?;
        self.drain(now);
        Ok(())
    }
}
