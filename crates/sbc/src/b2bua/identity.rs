//! How the SBC presents itself on each leg: Via host, Contact and
//! Record-Route (the tenant FQDN towards Teams, our listener or advertised
//! host towards carriers), X-MS-SBC and the trunk's added headers, the
//! header policy between legs and P-Asserted-Identity rewritten for the
//! other leg (topology hiding, number normalisation).

use std::time::Instant;

use bytes::Bytes;
use sip::{HeaderName, Headers, Request};
use sip_core::TransactionKey;

use super::call::{Call, Leg, LegDialog, Purpose};
use super::dtmf::InfoDuplicates;
use super::io::{LegId, LegPeer, Party};
use super::sdp_rewrite::LegSdp;
use super::wire;
use super::B2bua;
use crate::config::{TenantName, Transport};
use crate::number::E164;

impl B2bua {
    /// The codecs offers towards a trunk may carry.
    pub(super) fn trunk_codecs(&self, peer: &LegPeer) -> Vec<String> {
        match peer {
            LegPeer::Trunk(name) => self
                .config
                .trunks
                .get(name)
                .map(|t| t.codecs.clone())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// The codecs offers towards a leg may carry, and its own list when
    /// the other leg shares none (module `codecs`): the trunk's `codecs`,
    /// what Direct Routing accepts towards Teams, none (anything, never
    /// transcoded) towards a bare URI.
    pub(super) fn codec_policy(&self, peer: &LegPeer) -> Vec<String> {
        match peer {
            LegPeer::Teams(_) => super::codecs::TEAMS_CODECS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            _ => self.trunk_codecs(peer),
        }
    }

    /// Our `host:port` towards carriers over `transport`.
    pub(super) fn local_host(&self, transport: Transport) -> String {
        let listen = &self.config.sbc.listen;
        let listener = listen
            .iter()
            .find(|l| l.transport == transport)
            .or_else(|| listen.first());
        let port = listener.map_or(5060, |l| l.addr.port());
        let host = match (&self.config.sbc.advertised_host, listener) {
            (Some(host), _) => host.clone(),
            (None, Some(l)) if l.addr.is_ipv6() => format!("[{}]", l.addr.ip()),
            (None, Some(l)) => l.addr.ip().to_string(),
            (None, None) => "localhost".to_owned(),
        };
        format!("{host}:{port}")
    }

    /// A tenant's FQDN and our signalling port towards Teams.
    pub(super) fn teams_host(&self, tenant: &TenantName) -> Option<(String, u16)> {
        let teams = self.config.teams.as_ref()?;
        let fqdn = self.config.tenants.get(tenant)?.fqdn.clone();
        Some((fqdn, teams.signalling_port))
    }

    /// Hosts that are us, in Record-Route entries echoed back.
    pub(super) fn own_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .config
            .tenants
            .values()
            .map(|t| t.fqdn.clone())
            .collect();
        if let Some(teams) = &self.config.teams {
            hosts.push(teams.trunk_fqdn.clone());
        }
        if let Some(host) = &self.config.sbc.advertised_host {
            hosts.push(host.clone());
        }
        hosts.extend(
            self.config
                .sbc
                .listen
                .iter()
                .map(|l| l.addr.ip().to_string()),
        );
        hosts
    }

    /// A leg with our Via host, Contact and Record-Route for `peer`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new_leg(
        &self,
        id: LegId,
        party: Party,
        peer: LegPeer,
        transport: Transport,
        number: Option<E164>,
        contact_user: Option<&str>,
        sdp: LegSdp,
        dialog: LegDialog,
    ) -> Leg {
        let (via_host, contact, record_route, transport) = match &peer {
            LegPeer::Teams(tenant) => {
                let (fqdn, port) = self
                    .teams_host(tenant)
                    .unwrap_or_else(|| ("invalid.invalid".to_owned(), 5061));
                let contact_number = contact_user.and_then(|u| E164::parse(u).ok());
                (
                    format!("{fqdn}:{port}"),
                    crate::teams::contact(&fqdn, port, contact_number.as_ref()),
                    Some(format!("<sip:{fqdn}:{port};transport=tls;lr>")),
                    Transport::Tls,
                )
            }
            LegPeer::Trunk(_) | LegPeer::Uri | LegPeer::Local => {
                let host = self.local_host(transport);
                let param = match transport {
                    Transport::Udp => "",
                    Transport::Tcp => ";transport=tcp",
                    Transport::Tls => ";transport=tls",
                };
                let user = contact_user
                    .filter(|u| u.chars().all(|c| c.is_ascii_alphanumeric() || c == '+'))
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                (
                    host.clone(),
                    format!("<sip:{user}{host}{param}>"),
                    None,
                    transport,
                )
            }
        };
        Leg {
            id,
            party,
            peer,
            transport,
            via_host,
            contact,
            record_route,
            number,
            sdp,
            dialog,
            timer: None,
            bye_pending: false,
            info_presses: InfoDuplicates::default(),
            own_reinvite: None,
        }
    }

    /// The header policies that apply between legs with these peers: every
    /// carrier trunk involved must let a header pass.
    pub(super) fn policies(&self, peers: &[&LegPeer]) -> Vec<&crate::HeaderPolicy> {
        peers
            .iter()
            .filter_map(|peer| match peer {
                LegPeer::Trunk(name) => self.config.trunks.get(name).map(|t| &t.headers),
                _ => None,
            })
            .collect()
    }

    /// A P-Asserted-Identity value rewritten for the other leg: the number
    /// normalised (E.164 towards Teams, the trunk's format towards a
    /// carrier) on our own host, so the other leg's hosts stay hidden.
    /// Entries that are no phone number are dropped.
    pub(super) fn rewrite_identity(
        &self,
        value: &[u8],
        from: &LegPeer,
        to: &LegPeer,
    ) -> Option<String> {
        let mut headers = Headers::new();
        headers.push(HeaderName::PAssertedIdentity, Bytes::copy_from_slice(value));
        let mut out = Vec::new();
        for entry in headers.p_asserted_identity().filter_map(Result::ok) {
            let Some(user) = entry.uri.user() else {
                continue;
            };
            let user = sip::percent_decode(user);
            let number = match from {
                LegPeer::Trunk(name) => self
                    .config
                    .trunks
                    .get(name)
                    .and_then(|t| t.numbers.to_e164(&user).ok()),
                _ => E164::parse(&user).ok(),
            };
            let Some(number) = number else {
                continue;
            };
            let display = entry
                .display_name
                .map(|d| format!("\"{}\" ", d.replace('"', "")))
                .unwrap_or_default();
            let uri = match to {
                LegPeer::Teams(tenant) => {
                    let (fqdn, _) = self.teams_host(tenant)?;
                    format!("sip:{number}@{fqdn};user=phone")
                }
                LegPeer::Trunk(name) => {
                    let trunk = self.config.trunks.get(name)?;
                    let host = self.local_host(trunk.transport);
                    format!("sip:{}@{host};user=phone", trunk.numbers.format(&number))
                }
                LegPeer::Uri | LegPeer::Local => format!("tel:{number}"),
            };
            out.push(format!("{display}<{uri}>"));
        }
        (!out.is_empty()).then(|| out.join(", "))
    }

    /// Sends a request built by `leg`'s dialog: Via filled, X-MS-SBC
    /// towards Teams, the trunk's added headers towards a carrier.
    pub(super) fn send_in_dialog(
        &mut self,
        call: &Call,
        leg_id: LegId,
        mut request: Request,
        purpose: Option<Purpose>,
        now: Instant,
    ) -> Option<TransactionKey> {
        let leg = call.leg(leg_id)?;
        self.finish(&leg.peer, leg.transport, &leg.via_host, &mut request);
        let hop = wire::dialog_next_hop(&request, leg.transport);
        let purpose = purpose.unwrap_or(Purpose::InDialog {
            call: call.id,
            leg: leg_id,
        });
        self.send_request(request, hop, purpose, now)
    }

    /// Fills the Via of a request built by a dialog and adds what every
    /// request towards `peer` carries.
    pub(super) fn finish(
        &self,
        peer: &LegPeer,
        transport: Transport,
        via_host: &str,
        request: &mut Request,
    ) {
        let _ = sip_core::fill_via_sent_by(request, wire::via_token(transport), via_host);
        self.decorate(peer, request);
    }

    /// Headers every request towards `peer` carries.
    pub(super) fn decorate(&self, peer: &LegPeer, request: &mut Request) {
        match peer {
            LegPeer::Teams(_) => {
                if let Some(teams) = &self.config.teams {
                    request
                        .headers
                        .set(HeaderName::from("X-MS-SBC"), teams.x_ms_sbc.clone());
                }
            }
            LegPeer::Trunk(name) => {
                if let Some(trunk) = self.config.trunks.get(name) {
                    for (header, value) in &trunk.headers.add {
                        request
                            .headers
                            .push(HeaderName::from(header.as_str()), value.clone());
                    }
                }
            }
            LegPeer::Uri | LegPeer::Local => {}
        }
    }
}
