//! OPTIONS (RFC 3261 §11): answering capability queries, and the Direct
//! Routing keepalive towards the Teams proxies ([`crate::OptionsPinger`]
//! decides when; the B2BUA sends them in client transactions and reports
//! their final responses).

use std::time::Instant;

use sip::{HeaderName, Method, Request, StatusCode};
use sip_core::TransactionKey;

use super::call::Purpose;
use super::checks;
use super::io::NextHop;
use super::wire;
use super::{B2bua, B2buaEvent};
use crate::config::Transport;
use crate::security::Peer;

impl B2bua {
    /// 200 to an OPTIONS outside a dialog, with what we support; towards
    /// Teams with the Contact of the FQDN it asked (else the base trunk)
    /// and X-MS-SBC.
    pub(super) fn on_options(
        &mut self,
        key: &TransactionKey,
        request: &Request,
        peer: &Peer,
        now: Instant,
    ) {
        let mut response = wire::response(request, StatusCode::OK, Some(&sip::new_tag()));
        response.headers.push(HeaderName::Allow, checks::ALLOW);
        response.headers.push(HeaderName::Accept, wire::SDP);
        response
            .headers
            .push(HeaderName::Supported, checks::SUPPORTED_VALUE);
        if let (Peer::Teams, Some(teams)) = (peer, &self.config.teams) {
            let contact = match self.router.tenant_for_teams_request(request) {
                Ok(tenant) => tenant.contact(None),
                Err(_) => teams.options_contact(),
            };
            response.headers.push(HeaderName::Contact, contact);
            response
                .headers
                .push(HeaderName::from("X-MS-SBC"), teams.x_ms_sbc.clone());
        }
        self.respond(key, response, now);
    }

    /// Sends the OPTIONS keepalives due at `now`.
    pub(super) fn send_options(&mut self, now: Instant) {
        let Some(teams) = self.config.teams.clone() else {
            return;
        };
        while let Some(probe) = self.pinger.as_mut().and_then(|p| p.poll_transmit(now)) {
            let (Ok(uri), Ok(hop)) = (
                teams.options_uri(&probe.addr),
                sip::Uri::parse(format!(
                    "sip:{}:{};transport=tls",
                    probe.addr.fqdn, probe.addr.port
                )),
            ) else {
                continue;
            };
            let sent_by = format!("{}:{}", teams.trunk_fqdn, teams.signalling_port);
            let request = Request::builder(Method::Options, uri.clone())
                .header(HeaderName::Via, wire::via(Transport::Tls, &sent_by))
                .header(HeaderName::MaxForwards, "70")
                .header(
                    HeaderName::From,
                    format!("<sip:{}>;tag={}", teams.trunk_fqdn, sip::new_tag()),
                )
                .header(HeaderName::To, format!("<{uri}>"))
                .header(HeaderName::CallId, sip::new_call_id())
                .header(HeaderName::CSeq, "1 OPTIONS")
                .header(HeaderName::Contact, teams.options_contact())
                .header(HeaderName::Allow, checks::ALLOW)
                .header(HeaderName::from("X-MS-SBC"), teams.x_ms_sbc.clone())
                .build();
            let next_hop = NextHop::Resolve {
                uri: hop,
                transport: Transport::Tls,
            };
            self.send_request(request, next_hop, Purpose::Options(probe.proxy), now);
        }
        self.report_proxy_health(now);
        self.drain(now, None);
    }

    /// Turns the pinger's health changes into events.
    pub(super) fn report_proxy_health(&mut self, now: Instant) {
        while let Some(change) = self.pinger.as_mut().and_then(|p| p.poll_health_change(now)) {
            self.events.push_back(B2buaEvent::ProxyHealth {
                host: change.addr.fqdn,
                health: change.health,
                at: now,
            });
        }
    }
}
