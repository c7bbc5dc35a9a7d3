//! Refer-To targets sent by Teams (RFC 3515 §2.1; Direct Routing: the URI
//! host is the proxy, the user part an E.164 number, or `x-m` (target MRI)
//! and `x-t` (tenant id) parameters). The new INVITE goes back to Teams
//! with the URI's parameters kept, minus its `?headers` (Teams must not
//! get Replaces) and `method` (RFC 3261 §19.1.1).

use sip::{NameAddr, Scheme, Uri};

use crate::config::TeamsTrunk;
use crate::error::ReferError;
use crate::number::E164;

/// Where a Teams REFER asks the SBC to send the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferTarget {
    /// The Request-URI of the new INVITE towards Teams.
    pub request_uri: Uri,
    /// The number in the user part, when it is E.164.
    pub number: Option<E164>,
    /// `x-m`: the target's MRI (e.g. `8:orgid:<guid>`).
    pub x_m: Option<String>,
    /// `x-t`: the target's tenant id.
    pub x_t: Option<String>,
}

/// Reads `refer_to` for a call of the tenant with Teams id `tenant_id`.
pub(crate) fn refer_target(
    refer_to: &NameAddr<'_>,
    teams: &TeamsTrunk,
    tenant_id: &str,
) -> Result<ReferTarget, ReferError> {
    let uri = &refer_to.uri;
    if uri.scheme() != Scheme::Sip {
        return Err(ReferError::NotSipUri);
    }
    let host = uri.host().to_string();
    if teams.proxy_named(&host).is_none() {
        return Err(ReferError::NotTeamsProxy);
    }
    let x_t = uri.params().value("x-t").map(str::to_owned);
    if x_t
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case(tenant_id))
    {
        return Err(ReferError::OtherTenant);
    }
    let x_m = uri.params().value("x-m").map(str::to_owned);
    let number = uri
        .user()
        .and_then(|u| E164::parse(&sip::percent_decode(u)).ok());
    if number.is_none() && x_m.is_none() {
        return Err(ReferError::NoTarget);
    }
    // The URI without `?headers` and without a `method` parameter.
    let text = uri.as_str();
    let text = text.split_once('?').map_or(text, |(before, _)| before);
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split(';').enumerate() {
        let name = part.split('=').next().unwrap_or("");
        if i > 0 && name.eq_ignore_ascii_case("method") {
            continue;
        }
        if i > 0 {
            out.push(';');
        }
        out.push_str(part);
    }
    let request_uri = Uri::parse(&out).map_err(|_| ReferError::NotSipUri)?;
    Ok(ReferTarget {
        request_uri,
        number,
        x_m,
        x_t,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::Config;

    const TENANT: &str = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11";

    fn target(refer_to: &str) -> Result<ReferTarget, ReferError> {
        let config = Config::from_toml_str(crate::teams::tests::TEAMS, "t.toml").unwrap();
        let mut h = sip::Headers::new();
        h.push(sip::HeaderName::ReferTo, refer_to.to_owned());
        let na = h.refer_to().unwrap().unwrap();
        refer_target(&na, config.teams.as_ref().unwrap(), TENANT)
    }

    #[test]
    fn keeps_x_m_and_x_t_and_drops_replaces() {
        let t = target(
            "<sip:sip.pstnhub.microsoft.com;x-m=8:orgid:2cbad4c0-e1c4-4cde-8f9f-0a6f2a5c7b4e;\
             x-t=b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11;user=phone\
             ?Replaces=abc%40host%3Bto-tag%3D1%3Bfrom-tag%3D2>",
        )
        .unwrap();
        assert_eq!(
            t.request_uri.as_str(),
            "sip:sip.pstnhub.microsoft.com;x-m=8:orgid:2cbad4c0-e1c4-4cde-8f9f-0a6f2a5c7b4e;\
             x-t=b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11;user=phone"
        );
        assert_eq!(
            t.x_m.as_deref(),
            Some("8:orgid:2cbad4c0-e1c4-4cde-8f9f-0a6f2a5c7b4e")
        );
        assert_eq!(t.x_t.as_deref(), Some(TENANT));
        assert_eq!(t.number, None);
    }

    #[test]
    fn e164_user_part_is_a_target() {
        let t = target("<sip:+14255550123@sip2.pstnhub.microsoft.com;user=phone;method=INVITE>")
            .unwrap();
        assert_eq!(t.number.unwrap().as_str(), "+14255550123");
        assert_eq!(
            t.request_uri.as_str(),
            "sip:+14255550123@sip2.pstnhub.microsoft.com;user=phone"
        );
    }

    #[test]
    fn refuses_other_hosts_tenants_and_empty_targets() {
        assert_eq!(
            target("<sip:+14255550123@evil.example;user=phone>"),
            Err(ReferError::NotTeamsProxy)
        );
        assert_eq!(
            target("<sip:sip.pstnhub.microsoft.com;x-m=8:orgid:1;x-t=00000000-0000-0000-0000-000000000000>"),
            Err(ReferError::OtherTenant)
        );
        assert_eq!(
            target("<sip:sip.pstnhub.microsoft.com;user=phone>"),
            Err(ReferError::NoTarget)
        );
        assert_eq!(target("<tel:+14255550123>"), Err(ReferError::NotSipUri));
        assert_eq!(
            target("<sips:+14255550123@sip.pstnhub.microsoft.com>"),
            Err(ReferError::NotSipUri)
        );
    }
}
