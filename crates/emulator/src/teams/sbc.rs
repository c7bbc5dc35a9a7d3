//! Requests of the SBC outside a dialog, checked as the Direct Routing
//! proxy checks them (Microsoft "Direct Routing - SIP protocol"):
//!
//! - OPTIONS: Record-Route then Contact FQDN against the known tenants,
//!   the certificate must cover the Contact FQDN; 200 on the same
//!   connection, then our own OPTIONS to the Contact FQDN (health).
//! - INVITE: no Replaces; the first Contact holds an FQDN (an IP address
//!   gets 403); a Record-Route, if any, names the same FQDN; the
//!   certificate covers it; the tenant is the one with the FQDN as a
//!   domain, else the FQDN without its first label; the Request-URI
//!   number (or `x-m`) is a user of that tenant (404); an SDP offer with
//!   SDES-SRTP (RFC 4568) is present (488).

use std::time::Instant;

use sdp::Session;
use sip::{HeaderName, Method, Request, StatusCode, Uri};
use sip_core::TransactionKey;

use super::directory::{certificate_covers, UserRef};
use super::event::{Destination, Event, ProxyId, RejectReason, Source};
use super::media;
use super::proxy::{ClientRoute, Purpose, TeamsProxy};
use super::wire;
use crate::config::ProxyMode;

/// An INVITE that passed every check.
pub(super) struct CheckedInvite {
    pub(super) user: UserRef,
    pub(super) offer: Session,
    pub(super) next_hop: Destination,
}

impl RejectReason {
    /// The status Direct Routing answers with.
    pub(super) fn status(self) -> StatusCode {
        match self {
            RejectReason::ProxyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            RejectReason::MissingContact | RejectReason::BadHeader | RejectReason::BadSdp => {
                StatusCode::BAD_REQUEST
            }
            RejectReason::ContactNotFqdn
            | RejectReason::RecordRouteMismatch
            | RejectReason::UnknownTenant
            | RejectReason::CertificateMismatch
            | RejectReason::TenantMismatch
            // Microsoft: "Direct Routing will reject SIP requests that have
            // Replaces headers defined"; the status is not documented.
            | RejectReason::Replaces => StatusCode::FORBIDDEN,
            RejectReason::UnknownUser => StatusCode::NOT_FOUND,
            RejectReason::NoSdpOffer | RejectReason::NoSrtpCrypto | RejectReason::NoCommonCodec => {
                StatusCode::NOT_ACCEPTABLE_HERE
            }
            RejectReason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn text(self) -> &'static str {
        match self {
            RejectReason::ProxyUnavailable => "Service temporarily unavailable",
            RejectReason::MissingContact => "Contact header is required",
            RejectReason::BadHeader => "Malformed header",
            RejectReason::ContactNotFqdn => "Contact must hold the SBC FQDN, not an IP address",
            RejectReason::RecordRouteMismatch => "Record-Route and Contact FQDN differ",
            RejectReason::UnknownTenant => "FQDN does not belong to any tenant",
            RejectReason::CertificateMismatch => "Certificate does not cover the Contact FQDN",
            RejectReason::TenantMismatch => "x-t is not the tenant of the FQDN",
            RejectReason::UnknownUser => "No user with this number in the tenant",
            RejectReason::Replaces => "Replaces header is not supported",
            RejectReason::NoSdpOffer => "INVITE without SDP offer (delayed offer) is not supported",
            RejectReason::BadSdp => "Malformed SDP",
            RejectReason::NoSrtpCrypto => "SRTP with SDES a=crypto is required",
            RejectReason::NoCommonCodec => "No common codec",
            RejectReason::MethodNotAllowed => "Method not allowed",
        }
    }
}

impl TeamsProxy {
    /// A request that started a server transaction.
    pub(super) fn on_request(&mut self, key: TransactionKey, request: Request, now: Instant) {
        let Some(source) = self.server_routes.get(&key).cloned() else {
            return;
        };
        let in_dialog = request
            .headers
            .to()
            .is_ok_and(|to| to.tag().is_some_and(|tag| !tag.is_empty()));
        match request.method {
            Method::Cancel => self.on_cancel(&key, &request, now),
            _ if in_dialog => self.on_in_dialog(&key, &request, now),
            Method::Options => self.on_options(&key, &request, &source, now),
            Method::Invite => self.on_invite(&key, request, &source, now),
            _ => self.reject(
                &key,
                &request,
                source.proxy,
                RejectReason::MethodNotAllowed,
                now,
            ),
        }
    }

    /// Refuses a request: the status of `reason`, a Warning with the text,
    /// a Retry-After for 503, Allow for 405.
    pub(super) fn reject(
        &mut self,
        key: &TransactionKey,
        request: &Request,
        proxy: ProxyId,
        reason: RejectReason,
        now: Instant,
    ) {
        let status = reason.status();
        let fqdn = self.proxy_fqdn(proxy);
        let tag = sip::new_tag();
        let mut response = wire::refusal(request, status, &fqdn, reason.text(), Some(&tag));
        match reason {
            RejectReason::ProxyUnavailable => {
                let seconds = self.proxies.get(proxy.0).map_or(30, |p| p.retry_after_secs);
                response
                    .headers
                    .push(HeaderName::RetryAfter, seconds.to_string());
            }
            RejectReason::MethodNotAllowed => {
                response.headers.push(HeaderName::Allow, wire::ALLOW);
            }
            _ => {}
        }
        self.respond(key, response, now);
        self.events.push_back(Event::Rejected {
            method: request.method.clone(),
            status,
            reason,
        });
    }

    fn unavailable(&self, proxy: ProxyId) -> bool {
        self.proxies
            .get(proxy.0)
            .is_some_and(|p| p.mode == ProxyMode::Unavailable)
    }

    fn on_options(
        &mut self,
        key: &TransactionKey,
        request: &Request,
        source: &Source,
        now: Instant,
    ) {
        if self.unavailable(source.proxy) {
            return self.reject(
                key,
                request,
                source.proxy,
                RejectReason::ProxyUnavailable,
                now,
            );
        }
        let (fqdn, port) = match self.identify_options_sender(request, source) {
            Ok(found) => found,
            Err(reason) => return self.reject(key, request, source.proxy, reason, now),
        };
        let mut ok = wire::response(request, StatusCode::OK, Some(&sip::new_tag()));
        ok.headers.push(HeaderName::Allow, wire::ALLOW);
        ok.headers.push(HeaderName::Accept, "application/sdp");
        self.respond(key, ok, now);
        self.events.push_back(Event::OptionsReceived {
            proxy: source.proxy,
            fqdn: fqdn.clone(),
        });
        if let Some((fqdn, status)) = self.health.options_received(&fqdn, now) {
            self.events
                .push_back(Event::SbcStatusChanged { fqdn, status });
        }
        self.send_options_probe(source.proxy, &fqdn, port, now);
    }

    /// The Contact FQDN and port of an OPTIONS whose Record-Route (if
    /// any) and Contact FQDNs belong to known tenants and whose
    /// certificate covers the Contact FQDN.
    fn identify_options_sender(
        &self,
        request: &Request,
        source: &Source,
    ) -> Result<(String, u16), RejectReason> {
        if let Some(route) = request.headers.record_routes().next() {
            let route = route.map_err(|_| RejectReason::BadHeader)?;
            let host =
                wire::host_name(&route.uri.to_uri()).ok_or(RejectReason::RecordRouteMismatch)?;
            self.directory
                .tenant_for_fqdn(&host)
                .ok_or(RejectReason::UnknownTenant)?;
        }
        let contact = contact_uri(request)?;
        let host = wire::host_name(&contact).ok_or(RejectReason::ContactNotFqdn)?;
        self.directory
            .tenant_for_fqdn(&host)
            .ok_or(RejectReason::UnknownTenant)?;
        if !certificate_covers(&source.peer_names, &host) {
            return Err(RejectReason::CertificateMismatch);
        }
        Ok((host, contact.port().unwrap_or(self.sbc_port)))
    }

    /// The proxy's own OPTIONS to the SBC FQDN; its 200 makes the SBC
    /// Active.
    fn send_options_probe(&mut self, proxy: ProxyId, fqdn: &str, port: u16, now: Instant) {
        let proxy_fqdn = self.proxy_fqdn(proxy);
        let Ok(uri) = Uri::parse(format!("sip:{fqdn}:{port};transport=tls")) else {
            return;
        };
        let request = Request::builder(Method::Options, uri)
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
                format!(
                    "<sip:{proxy_fqdn}:{}>;tag={}",
                    wire::PROXY_PORT,
                    sip::new_tag()
                ),
            )
            .header(HeaderName::To, format!("<sip:{fqdn}>"))
            .header(HeaderName::CallId, sip::new_call_id())
            .header(HeaderName::CSeq, "1 OPTIONS")
            .header(
                HeaderName::Contact,
                format!("<sip:{proxy_fqdn}:{};transport=tls>", wire::PROXY_PORT),
            )
            .header(HeaderName::UserAgent, wire::PRODUCT)
            .build();
        let route = ClientRoute {
            purpose: Purpose::OptionsProbe {
                fqdn: fqdn.to_owned(),
            },
            proxy,
            destination: Destination::Sbc {
                host: fqdn.to_owned(),
                port,
            },
        };
        // Fails only when the layer is full; the next OPTIONS retries.
        let _ = self.send_request(request, route, now);
    }

    fn on_invite(&mut self, key: &TransactionKey, request: Request, source: &Source, now: Instant) {
        if self.unavailable(source.proxy) {
            return self.reject(
                key,
                &request,
                source.proxy,
                RejectReason::ProxyUnavailable,
                now,
            );
        }
        match self.check_invite(&request, source) {
            Ok(checked) => self.ring(key, request, source, checked, now),
            Err(reason) => self.reject(key, &request, source.proxy, reason, now),
        }
    }

    /// Every check of a new INVITE, in the order Direct Routing makes them.
    fn check_invite(
        &self,
        request: &Request,
        source: &Source,
    ) -> Result<CheckedInvite, RejectReason> {
        if request.headers.get(&HeaderName::Replaces).is_some() {
            return Err(RejectReason::Replaces);
        }
        // Only the first Contact counts.
        let contact = contact_uri(request)?;
        let fqdn = wire::host_name(&contact).ok_or(RejectReason::ContactNotFqdn)?;
        let mut next_hop = wire::destination(&contact, self.sbc_port);
        if let Some(route) = request.headers.record_routes().next() {
            let route = route.map_err(|_| RejectReason::BadHeader)?.uri.to_uri();
            let same = wire::host_name(&route).is_some_and(|host| host == fqdn);
            if !same {
                return Err(RejectReason::RecordRouteMismatch);
            }
            next_hop = wire::destination(&route, self.sbc_port);
        }
        if !certificate_covers(&source.peer_names, &fqdn) {
            return Err(RejectReason::CertificateMismatch);
        }
        let tenant = self
            .directory
            .tenant_for_fqdn(&fqdn)
            .ok_or(RejectReason::UnknownTenant)?;
        let user = match wire::param(&request.uri, "x-m") {
            Some(mri) => {
                let tenant_id = self.directory.tenant(tenant).map(|t| t.id.as_str());
                if wire::param(&request.uri, "x-t").is_some_and(|xt| Some(xt) != tenant_id) {
                    return Err(RejectReason::TenantMismatch);
                }
                self.directory.user_by_mri(tenant, mri)
            }
            None => {
                wire::number(&request.uri).and_then(|n| self.directory.user_by_number(tenant, n))
            }
        }
        .ok_or(RejectReason::UnknownUser)?;
        let offer = media::check_offer(request)?;
        Ok(CheckedInvite {
            user,
            offer,
            next_hop,
        })
    }
}

/// The URI of the first Contact.
fn contact_uri(request: &Request) -> Result<Uri, RejectReason> {
    match request.headers.contact() {
        Ok(Some(contact)) => Ok(contact.uri.to_uri()),
        Ok(None) => Err(RejectReason::MissingContact),
        Err(_) => Err(RejectReason::BadHeader),
    }
}
