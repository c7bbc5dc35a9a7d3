//! Where calls go, with tenant isolation.
//!
//! From a carrier trunk: the called number (Request-URI user, else To
//! user; RFC 3261 §8.2.2.1 / §20.39) is normalised with the trunk's
//! [`crate::NumberPlan`]; a tenant DID sends the call to Teams for that
//! tenant, else the first matching `[[routes]]` entry applies, else 404.
//!
//! From Teams: the tenant is found by the FQDN the request is addressed to
//! (Request-URI host, else To host), as Direct Routing's hosting model
//! derives trunks per tenant FQDN. Everything after that goes through a
//! [`TenantScope`], which only ever reads its own tenant: the dial plan,
//! the tenant's carrier trunk, its FQDN in Contact / Record-Route, its
//! tenant id in REFER targets. A Teams user calling another tenant's DID
//! leaves through their own tenant's carrier trunk like any PSTN call.

use std::collections::HashMap;
use std::sync::Arc;

use sip::{HeaderName, NameAddr, Request, Scheme, Uri, UriRef};

use crate::config::{
    CarrierTrunk, Config, Destination, RouteTarget, TeamsTrunk, Tenant, TenantName, Transport,
    TrunkName,
};
use crate::error::{NumberError, ReferError};
use crate::number::E164;
use crate::stats::{RejectReason, Rejection, Stats};
use crate::teams::{self, ReferTarget};

/// Where a call from a carrier trunk goes.
#[derive(Debug, Clone)]
pub enum CarrierCall<'r> {
    /// To a Teams user of a tenant.
    Teams(TeamsCall<'r>),
    /// To a contact-center flow of a tenant: answered by switchboard.
    Flow(FlowCall<'r>),
    /// Out through another carrier trunk (a static route).
    Trunk(TrunkCall),
    /// To a fixed URI (a static route).
    Uri {
        /// The new Request-URI.
        request_uri: Uri,
    },
}

/// A call to a Teams user, scoped to its tenant.
#[derive(Debug, Clone)]
pub struct TeamsCall<'r> {
    /// The tenant whose DID was called; build Contact and Record-Route
    /// with it.
    pub tenant: TenantScope<'r>,
    /// The DID that was called.
    pub did: E164,
    /// The Teams user's number (the Request-URI user towards Teams).
    pub user: E164,
    /// The caller in E.164, when the From user normalises.
    pub caller: Option<E164>,
}

/// A call to a tenant's IVR flow.
#[derive(Debug, Clone)]
pub struct FlowCall<'r> {
    /// The tenant whose DID was called.
    pub tenant: TenantScope<'r>,
    /// The DID that was called.
    pub did: E164,
    /// The flow's id (`{ flow = "..." }` of the DID).
    pub flow: String,
    /// The caller in E.164, when the From user normalises.
    pub caller: Option<E164>,
}

/// A call out through a carrier trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkCall {
    /// The trunk.
    pub trunk: TrunkName,
    /// The tenant the call belongs to (calls from Teams).
    pub tenant: Option<TenantName>,
    /// The called number.
    pub called: E164,
    /// One Request-URI per trunk target, in the order to try them, with
    /// the number written as the trunk expects.
    pub request_uris: Vec<Uri>,
    /// The transport towards the trunk.
    pub transport: Transport,
}

/// Route lookups over one configuration.
#[derive(Debug)]
pub struct Router {
    config: Arc<Config>,
    stats: Arc<Stats>,
    dids: HashMap<E164, TenantName>,
    fqdns: HashMap<String, TenantName>,
}

/// The user part of `uri` if it is a sip/sips/tel URI with one.
fn user_of(uri: &UriRef<'_>) -> Option<String> {
    match uri.scheme() {
        Scheme::Sip | Scheme::Sips | Scheme::Tel => uri.user().map(str::to_owned),
        _ => None,
    }
}

/// `target` with `user` put in front of its host, unless it has a user.
fn with_user(target: &Uri, user: &str) -> Option<Uri> {
    if target.user().is_some() {
        return Some(target.clone());
    }
    let text = target.as_str();
    let (scheme, rest) = text.split_once(':')?;
    Uri::parse(format!("{scheme}:{user}@{rest}")).ok()
}

impl Router {
    /// Indexes `config` (DIDs and tenant FQDNs); rejections are counted
    /// in `stats`.
    pub fn new(config: Arc<Config>, stats: Arc<Stats>) -> Router {
        let dids = config
            .tenants
            .values()
            .flat_map(|t| t.dids.keys().map(|did| (did.clone(), t.name.clone())))
            .collect();
        let fqdns = config
            .tenants
            .values()
            .map(|t| (t.fqdn.clone(), t.name.clone()))
            .collect();
        Router {
            config,
            stats,
            dids,
            fqdns,
        }
    }

    /// The configuration routed over.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn reject(&self, status: u16, reason: RejectReason) -> Rejection {
        self.stats.reject(Rejection::new(status, reason))
    }

    /// The scope of the tenant named `name`.
    pub fn tenant(&self, name: &TenantName) -> Option<TenantScope<'_>> {
        let tenant = self.config.tenants.get(name)?;
        let teams = self.config.teams.as_ref()?;
        Some(TenantScope {
            router: self,
            tenant,
            teams,
        })
    }

    /// The tenant whose FQDN is `host` (case-insensitive).
    pub fn tenant_for_host(&self, host: &str) -> Option<TenantScope<'_>> {
        let name = self.fqdns.get(&host.to_ascii_lowercase())?;
        self.tenant(name)
    }

    /// The tenant a request from Teams is for: its Request-URI host, else
    /// its To host; 404 when neither is a tenant FQDN.
    pub fn tenant_for_teams_request(
        &self,
        request: &Request,
    ) -> Result<TenantScope<'_>, Rejection> {
        let by_uri = self.tenant_for_host(&request.uri.host().to_string());
        let by_to = || {
            let to = request.headers.to().ok()?;
            self.tenant_for_host(&to.uri.host().to_string())
        };
        by_uri
            .or_else(by_to)
            .ok_or_else(|| self.reject(404, RejectReason::UnknownTenant))
    }

    /// Routes a new call that arrived on carrier trunk `from`.
    pub fn route_from_carrier(
        &self,
        from: &TrunkName,
        request: &Request,
    ) -> Result<CarrierCall<'_>, Rejection> {
        let Some(trunk) = self.config.trunks.get(from) else {
            return Err(self.reject(403, RejectReason::UnknownSource));
        };
        let to_user = request.headers.to().ok().and_then(|to| user_of(&to.uri));
        let uri_user = user_of(&request.uri.as_uri_ref());
        let plan = &trunk.numbers;
        // Request-URI user first; the To user when that is absent or not a
        // number.
        let called = uri_user
            .as_deref()
            .map(|u| plan.to_e164(u))
            .filter(Result::is_ok)
            .or_else(|| to_user.as_deref().map(|u| plan.to_e164(u)));
        let raw_user = uri_user.or(to_user).unwrap_or_default();
        if let Some(Ok(did)) = &called {
            if let Some(call) = self.tenant_call(trunk, did, request) {
                return Ok(call);
            }
        }
        let match_text = match &called {
            Some(Ok(n)) => n.as_str().to_owned(),
            _ => raw_user.clone(),
        };
        let route = self.config.routes.iter().find(|r| {
            r.from.as_ref().is_none_or(|f| f == from) && match_text.starts_with(&r.prefix)
        });
        let Some(route) = route else {
            return Err(match called {
                Some(Err(NumberError::NotDigits | NumberError::Empty)) | None => {
                    self.reject(404, RejectReason::NoRoute)
                }
                Some(Err(_)) => self.reject(484, RejectReason::BadNumber),
                Some(Ok(_)) => self.reject(404, RejectReason::NoRoute),
            });
        };
        match &route.target {
            RouteTarget::Uri(target) => {
                let user = match &called {
                    Some(Ok(n)) => n.as_str().to_owned(),
                    _ => raw_user,
                };
                let request_uri = if user.is_empty() {
                    Some(target.clone())
                } else {
                    with_user(target, &user)
                };
                request_uri
                    .map(|request_uri| CarrierCall::Uri { request_uri })
                    .ok_or_else(|| self.reject(404, RejectReason::NoRoute))
            }
            RouteTarget::Trunk(name) => {
                let out = self.config.trunks.get(name);
                match (out, called) {
                    (Some(out), Some(Ok(number))) => {
                        Ok(CarrierCall::Trunk(trunk_call(out, None, number)))
                    }
                    (None, _) => Err(self.reject(404, RejectReason::NoRoute)),
                    (Some(_), _) => Err(self.reject(484, RejectReason::BadNumber)),
                }
            }
        }
    }

    /// A call to a tenant's DID: to its Teams user or its flow.
    fn tenant_call(
        &self,
        trunk: &CarrierTrunk,
        did: &E164,
        request: &Request,
    ) -> Option<CarrierCall<'_>> {
        let tenant = self.tenant(self.dids.get(did)?)?;
        let caller = request
            .headers
            .from()
            .ok()
            .and_then(|from| user_of(&from.uri))
            .and_then(|u| trunk.numbers.to_e164(&u).ok());
        Some(match tenant.tenant.dids.get(did)? {
            Destination::TeamsUser(user) => CarrierCall::Teams(TeamsCall {
                did: did.clone(),
                user: user.clone(),
                caller,
                tenant,
            }),
            Destination::Flow(flow) => CarrierCall::Flow(FlowCall {
                did: did.clone(),
                flow: flow.clone(),
                caller,
                tenant,
            }),
        })
    }
}

fn trunk_call(trunk: &CarrierTrunk, tenant: Option<TenantName>, called: E164) -> TrunkCall {
    let user = trunk.numbers.format(&called);
    TrunkCall {
        trunk: trunk.name.clone(),
        tenant,
        request_uris: trunk
            .targets
            .iter()
            .filter_map(|t| with_user(t, &user))
            .collect(),
        called,
        transport: trunk.transport,
    }
}

/// One tenant's view of the configuration. Every route and header it
/// builds uses this tenant's data only.
#[derive(Debug, Clone, Copy)]
pub struct TenantScope<'r> {
    router: &'r Router,
    tenant: &'r Tenant,
    teams: &'r TeamsTrunk,
}

impl<'r> TenantScope<'r> {
    /// The tenant's name.
    pub fn name(&self) -> &'r TenantName {
        &self.tenant.name
    }

    /// The tenant's configuration.
    pub fn tenant(&self) -> &'r Tenant {
        self.tenant
    }

    /// The Teams hosting trunk (proxies, X-MS-SBC, Request-URI builder).
    pub fn teams(&self) -> &'r TeamsTrunk {
        self.teams
    }

    /// The tenant's FQDN, `<label>.<base>`.
    pub fn fqdn(&self) -> &'r str {
        &self.tenant.fqdn
    }

    /// Contact for requests and responses towards Teams:
    /// `<sip:+E164@label.base:5061;transport=tls>` (no user part when
    /// `number` is `None`, e.g. for OPTIONS).
    pub fn contact(&self, number: Option<&E164>) -> String {
        teams::contact(&self.tenant.fqdn, self.teams.signalling_port, number)
    }

    /// Record-Route towards Teams, with the same FQDN as Contact:
    /// `<sip:label.base:5061;transport=tls;lr>`.
    pub fn record_route(&self) -> String {
        format!(
            "<sip:{}:{};transport=tls;lr>",
            self.tenant.fqdn, self.teams.signalling_port
        )
    }

    /// The X-MS-SBC header, name and value.
    pub fn x_ms_sbc(&self) -> (HeaderName, &'r str) {
        (HeaderName::from("X-MS-SBC"), &self.teams.x_ms_sbc)
    }

    /// Routes a call a Teams user of this tenant placed to `dialled` (the
    /// Request-URI user): normalised by the tenant's dial plan, checked
    /// against its allow/deny lists, sent out its carrier trunk. DIDs of
    /// other tenants are not looked at: they are PSTN numbers like any.
    pub fn route_to_pstn(&self, dialled: &str) -> Result<TrunkCall, Rejection> {
        let plan = &self.tenant.dial_plan;
        let called = plan
            .numbers
            .to_e164(dialled)
            .map_err(|_| self.router.reject(484, RejectReason::BadNumber))?;
        if !plan.permits(&called) {
            return Err(self.router.reject(403, RejectReason::DialPlanDenied));
        }
        let Some(trunk) = self.router.config.trunks.get(&self.tenant.carrier_trunk) else {
            return Err(self.router.reject(404, RejectReason::NoRoute));
        };
        Ok(trunk_call(trunk, Some(self.tenant.name.clone()), called))
    }

    /// Reads the Refer-To of a REFER on one of this tenant's calls; `x-t`
    /// must be this tenant's id and the host a Teams proxy.
    pub fn refer_target(&self, refer_to: &NameAddr<'_>) -> Result<ReferTarget, ReferError> {
        teams::refer_target(refer_to, self.teams, &self.tenant.teams_tenant_id)
            .inspect_err(|_| self.router.stats.record(RejectReason::ReferRefused))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const CONFIG: &str = r#"
        [sbc.listen]
        udp = ["127.0.0.1:5060"]
        tls = ["127.0.0.1:5061"]
        [sbc.tls]
        cert = "c.pem"
        key = "k.pem"

        [trunks.us]
        allow = ["192.0.2.0/24"]
        targets = ["sip:192.0.2.10:5060", "sip:192.0.2.11:5060;transport=tcp"]
        [trunks.us.numbers]
        country_code = "1"
        national_prefix = "1"
        international_prefix = "011"
        national_digits = 10
        outbound = "national"

        [trunks.de]
        allow = ["198.51.100.0/24"]
        targets = ["sip:198.51.100.10"]
        [trunks.de.numbers]
        country_code = "49"
        national_prefix = "0"
        international_prefix = "00"

        [teams]
        base_fqdn = "customers.example.net"
        trunk_fqdn = "sbc1.customers.example.net"

        [tenants.contoso]
        tenant_id = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11"
        label = "contoso"
        carrier_trunk = "us"
        [tenants.contoso.dids]
        "+12065550100" = "+14255550123"
        [tenants.contoso.dial_plan]
        deny = ["+1900"]

        [tenants.fabrikam]
        tenant_id = "0f7e2a44-5c1d-4a8e-9b3f-6d2c1e0a9b88"
        fqdn = "fabrikam.customers.example.net"
        carrier_trunk = "de"
        [tenants.fabrikam.dids]
        "+4930123456" = "+4930123400"

        [[routes]]
        from = "de"
        prefix = "+44"
        to_uri = "sip:203.0.113.5:5060"
    "#;

    fn router() -> Router {
        let config = Config::from_toml_str(CONFIG, "routing.toml").unwrap();
        Router::new(Arc::new(config), Arc::new(Stats::default()))
    }

    fn invite(uri: &str, to: &str, from: &str) -> Request {
        let text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\n\
             From: <{from}>;tag=1\r\nTo: <{to}>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        match sip::Message::parse(Bytes::from(text)).unwrap() {
            sip::Message::Request(r) => r,
            sip::Message::Response(_) => panic!("not a request"),
        }
    }

    #[test]
    fn carrier_did_reaches_its_tenant_in_e164() {
        let r = router();
        // National form from the US carrier.
        let req = invite(
            "sip:2065550100@sbc.example.net",
            "sip:2065550100@sbc.example.net",
            "sip:2065550199@192.0.2.10",
        );
        let CarrierCall::Teams(call) = r.route_from_carrier(&TrunkName::new("us"), &req).unwrap()
        else {
            panic!("not to Teams")
        };
        assert_eq!(call.tenant.name().as_str(), "contoso");
        assert_eq!(call.did.as_str(), "+12065550100");
        assert_eq!(call.user.as_str(), "+14255550123");
        assert_eq!(call.caller.as_ref().unwrap().as_str(), "+12065550199");
        assert_eq!(
            call.tenant.contact(call.caller.as_ref()),
            "<sip:+12065550199@contoso.customers.example.net:5061;transport=tls>"
        );
        assert_eq!(
            call.tenant.record_route(),
            "<sip:contoso.customers.example.net:5061;transport=tls;lr>"
        );
        // German national form, the To user when the R-URI has none.
        let req = invite(
            "sip:sbc.example.net",
            "sip:030123456@sbc.example.net",
            "sip:anonymous@anonymous.invalid",
        );
        let CarrierCall::Teams(call) = r.route_from_carrier(&TrunkName::new("de"), &req).unwrap()
        else {
            panic!("not to Teams")
        };
        assert_eq!(call.tenant.name().as_str(), "fabrikam");
        assert_eq!(call.caller, None);
    }

    #[test]
    fn static_routes_and_refusals() {
        let r = router();
        let de = TrunkName::new("de");
        let req = invite("sip:00442071838750@sbc", "sip:x@sbc", "sip:1@198.51.100.10");
        let CarrierCall::Uri { request_uri } = r.route_from_carrier(&de, &req).unwrap() else {
            panic!("not the static route")
        };
        assert_eq!(request_uri.as_str(), "sip:+442071838750@203.0.113.5:5060");
        // The route is only for calls from `de`.
        let req = invite("sip:011442071838750@sbc", "sip:x@sbc", "sip:1@192.0.2.10");
        let refused = r
            .route_from_carrier(&TrunkName::new("us"), &req)
            .unwrap_err();
        assert_eq!(
            (refused.status.0, refused.reason),
            (404, RejectReason::NoRoute)
        );
        let req = invite("sip:5550100@sbc", "sip:5550100@sbc", "sip:1@192.0.2.10");
        let refused = r
            .route_from_carrier(&TrunkName::new("us"), &req)
            .unwrap_err();
        assert_eq!(
            (refused.status.0, refused.reason),
            (484, RejectReason::BadNumber)
        );
        assert_eq!(r.stats.rejected(RejectReason::NoRoute), 1);
        assert_eq!(r.stats.rejected(RejectReason::BadNumber), 1);
    }

    #[test]
    fn teams_requests_find_their_tenant_by_fqdn() {
        let r = router();
        let req = invite(
            "sip:+12065550111@contoso.customers.example.net:5061;user=phone;transport=tls",
            "sip:+12065550111@contoso.customers.example.net",
            "sip:+14255550123@sip.pstnhub.microsoft.com",
        );
        assert_eq!(
            r.tenant_for_teams_request(&req).unwrap().name().as_str(),
            "contoso"
        );
        let req = invite(
            "sip:+12065550111@10.0.0.1:5061",
            "sip:+12065550111@FABRIKAM.customers.example.net",
            "sip:+14255550123@sip.pstnhub.microsoft.com",
        );
        assert_eq!(
            r.tenant_for_teams_request(&req).unwrap().name().as_str(),
            "fabrikam"
        );
        let req = invite(
            "sip:+12065550111@other.customers.example.net",
            "sip:+12065550111@sbc1.customers.example.net",
            "sip:+14255550123@sip.pstnhub.microsoft.com",
        );
        assert_eq!(
            r.tenant_for_teams_request(&req).unwrap_err().reason,
            RejectReason::UnknownTenant
        );
    }

    #[test]
    fn teams_to_pstn_uses_the_tenants_trunk_and_dial_plan() {
        let r = router();
        let contoso = r.tenant(&TenantName::new("contoso")).unwrap();
        let call = contoso.route_to_pstn("+12065550111").unwrap();
        assert_eq!(call.trunk.as_str(), "us");
        assert_eq!(call.tenant.as_ref().unwrap().as_str(), "contoso");
        // US carrier wants national format.
        let uris: Vec<_> = call.request_uris.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            uris,
            [
                "sip:12065550111@192.0.2.10:5060",
                "sip:12065550111@192.0.2.11:5060;transport=tcp"
            ]
        );
        assert_eq!(
            contoso.route_to_pstn("+19005550100").unwrap_err().reason,
            RejectReason::DialPlanDenied
        );
        assert_eq!(
            contoso.route_to_pstn("911").unwrap_err().reason,
            RejectReason::BadNumber
        );
    }

    #[test]
    fn another_tenants_did_is_just_a_pstn_number() {
        let r = router();
        let contoso = r.tenant(&TenantName::new("contoso")).unwrap();
        // +4930123456 is fabrikam's DID; contoso's user dialling it goes
        // out contoso's US trunk, never to fabrikam's Teams user.
        let call = contoso.route_to_pstn("+4930123456").unwrap();
        assert_eq!(call.trunk.as_str(), "us");
        assert_eq!(call.tenant.unwrap().as_str(), "contoso");
        assert_eq!(call.called.as_str(), "+4930123456");
        assert_eq!(
            call.request_uris[0].as_str(),
            "sip:0114930123456@192.0.2.10:5060"
        );
        // And a REFER from contoso's call cannot name fabrikam's tenant id.
        let mut h = sip::Headers::new();
        h.push(
            HeaderName::ReferTo,
            "<sip:sip.pstnhub.microsoft.com;x-m=8:orgid:1;x-t=0f7e2a44-5c1d-4a8e-9b3f-6d2c1e0a9b88>",
        );
        let refer_to = h.refer_to().unwrap().unwrap();
        assert_eq!(
            contoso.refer_target(&refer_to),
            Err(ReferError::OtherTenant)
        );
        assert_eq!(r.stats.rejected(RejectReason::ReferRefused), 1);
        let fabrikam = r.tenant(&TenantName::new("fabrikam")).unwrap();
        assert!(fabrikam.refer_target(&refer_to).is_ok());
    }
}
