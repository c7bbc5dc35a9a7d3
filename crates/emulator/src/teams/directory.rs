//! The tenants and users behind the proxies, and the two lookups Direct
//! Routing makes on every request of an SBC: which tenant an FQDN belongs
//! to (the full FQDN as a tenant domain, else the FQDN without its first
//! label), and whether the SBC's certificate covers that FQDN (RFC 2818
//! §3.1: a `*` matches exactly one label).

use std::time::Duration;

use crate::config::{Behaviour, EmulatorConfig};

/// A tenant as the proxy knows it.
#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    /// Lower case.
    pub(crate) domains: Vec<String>,
    /// The derived trunk calls of this tenant's users go to.
    pub(crate) trunk_fqdn: String,
    pub(crate) users: Vec<User>,
}

/// A Teams user.
#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) number: String,
    pub(crate) object_id: String,
    pub(crate) sip_address: String,
    pub(crate) behaviour: Behaviour,
    pub(crate) ring_time: Duration,
    pub(crate) endpoints: u8,
    pub(crate) early_media: bool,
}

impl User {
    /// The user's MRI as Teams writes it in `x-m`.
    pub(crate) fn mri(&self) -> String {
        format!("8:orgid:{}", self.object_id)
    }
}

/// A user by tenant index and user index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserRef {
    pub(crate) tenant: usize,
    pub(crate) user: usize,
}

/// Every tenant.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    tenants: Vec<Tenant>,
}

impl Directory {
    pub(crate) fn new(config: &EmulatorConfig) -> Directory {
        let tenants = config
            .tenants
            .iter()
            .map(|tenant| {
                let domains: Vec<String> = tenant
                    .domains
                    .iter()
                    .map(|d| d.to_ascii_lowercase())
                    .collect();
                let first = domains.first().cloned().unwrap_or_default();
                let users = tenant
                    .users
                    .iter()
                    .map(|user| User {
                        name: user.name.clone(),
                        number: user.number.clone(),
                        object_id: user.object_id.clone(),
                        sip_address: user
                            .sip_address
                            .clone()
                            .unwrap_or_else(|| format!("{}@{first}", user.name)),
                        behaviour: user.behaviour,
                        ring_time: user.ring_time(),
                        endpoints: user.endpoints,
                        early_media: user.early_media,
                    })
                    .collect();
                Tenant {
                    id: tenant.id.clone(),
                    trunk_fqdn: tenant
                        .trunk_fqdn
                        .as_deref()
                        .map_or_else(|| first.clone(), str::to_ascii_lowercase),
                    domains,
                    users,
                }
            })
            .collect();
        Directory { tenants }
    }

    pub(crate) fn tenant(&self, index: usize) -> Option<&Tenant> {
        self.tenants.get(index)
    }

    pub(crate) fn user(&self, user: UserRef) -> Option<(&Tenant, &User)> {
        let tenant = self.tenants.get(user.tenant)?;
        Some((tenant, tenant.users.get(user.user)?))
    }

    /// The tenant with `fqdn` as a domain, else the one with `fqdn`
    /// without its first label (`sbc1.customers.example.net` ->
    /// `customers.example.net`), as the Direct Routing proxy looks them up.
    pub(crate) fn tenant_for_fqdn(&self, fqdn: &str) -> Option<usize> {
        let fqdn = fqdn.to_ascii_lowercase();
        self.tenant_with_domain(&fqdn).or_else(|| {
            let (_, parent) = fqdn.split_once('.')?;
            // A bare TLD is no tenant domain.
            parent
                .contains('.')
                .then(|| self.tenant_with_domain(parent))?
        })
    }

    fn tenant_with_domain(&self, domain: &str) -> Option<usize> {
        self.tenants
            .iter()
            .position(|tenant| tenant.domains.iter().any(|d| d == domain))
    }

    /// The user of `tenant` with this E.164 number.
    pub(crate) fn user_by_number(&self, tenant: usize, number: &str) -> Option<UserRef> {
        let index = self
            .tenants
            .get(tenant)?
            .users
            .iter()
            .position(|user| user.number == number)?;
        Some(UserRef {
            tenant,
            user: index,
        })
    }

    /// The user of `tenant` whose MRI (`8:orgid:<object id>`) or bare
    /// object id is `mri`.
    pub(crate) fn user_by_mri(&self, tenant: usize, mri: &str) -> Option<UserRef> {
        let object_id = mri.strip_prefix("8:orgid:").unwrap_or(mri);
        let index = self
            .tenants
            .get(tenant)?
            .users
            .iter()
            .position(|user| user.object_id.eq_ignore_ascii_case(object_id))?;
        Some(UserRef {
            tenant,
            user: index,
        })
    }

    /// A user of any tenant by name or number (names are unique per tenant;
    /// the first tenant wins).
    pub(crate) fn find_user(&self, name_or_number: &str) -> Option<UserRef> {
        self.tenants.iter().enumerate().find_map(|(t, tenant)| {
            let u = tenant
                .users
                .iter()
                .position(|user| user.name == name_or_number || user.number == name_or_number)?;
            Some(UserRef { tenant: t, user: u })
        })
    }
}

/// Whether a certificate with these DNS names covers `fqdn` (RFC 2818
/// §3.1, case-insensitive; `*.customers.example.net` covers exactly one
/// label in front of `customers.example.net`).
pub(crate) fn certificate_covers(names: &[String], fqdn: &str) -> bool {
    names.iter().any(|name| name_covers(name, fqdn))
}

fn name_covers(pattern: &str, fqdn: &str) -> bool {
    let pattern = pattern.trim_end_matches('.');
    let fqdn = fqdn.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(suffix) => fqdn.split_once('.').is_some_and(|(label, rest)| {
            !label.is_empty() && !label.contains('*') && rest.eq_ignore_ascii_case(suffix)
        }),
        None => pattern.eq_ignore_ascii_case(fqdn),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        let config = EmulatorConfig::from_toml(
            r#"
[emulator]
[[emulator.tenants]]
id = "provider"
domains = ["customers.example.net"]
[[emulator.tenants]]
id = "contoso-id"
domains = ["contoso.customers.example.net"]
[[emulator.tenants.users]]
name = "alice"
number = "+14255550100"
object_id = "AAAA-1"
"#,
        )
        .unwrap();
        Directory::new(&config)
    }

    #[test]
    fn full_fqdn_first_then_without_the_first_label() {
        let d = directory();
        assert_eq!(d.tenant_for_fqdn("contoso.customers.example.net"), Some(1));
        assert_eq!(d.tenant_for_fqdn("CONTOSO.customers.example.net"), Some(1));
        // Not a domain itself: its parent is contoso's domain.
        assert_eq!(
            d.tenant_for_fqdn("sbc1.contoso.customers.example.net"),
            Some(1)
        );
        // The base trunk: its parent is the provider's base domain.
        assert_eq!(d.tenant_for_fqdn("sbc1.customers.example.net"), Some(0));
        // Only one label is stripped.
        assert_eq!(d.tenant_for_fqdn("a.b.fabrikam.example.org"), None);
        assert_eq!(d.tenant_for_fqdn("example.net"), None);
    }

    #[test]
    fn users_by_number_mri_and_name() {
        let d = directory();
        let alice = UserRef { tenant: 1, user: 0 };
        assert_eq!(d.user_by_number(1, "+14255550100"), Some(alice));
        assert_eq!(d.user_by_number(0, "+14255550100"), None);
        assert_eq!(d.user_by_mri(1, "8:orgid:aaaa-1"), Some(alice));
        assert_eq!(d.find_user("alice"), Some(alice));
        assert_eq!(d.find_user("+14255550100"), Some(alice));
        let (_, user) = d.user(alice).unwrap();
        assert_eq!(user.mri(), "8:orgid:AAAA-1");
        assert_eq!(user.sip_address, "alice@contoso.customers.example.net");
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        let names = vec![
            "*.customers.example.net".to_owned(),
            "customers.example.net".to_owned(),
        ];
        assert!(certificate_covers(&names, "sbc1.customers.example.net"));
        assert!(certificate_covers(&names, "Contoso.Customers.Example.Net"));
        assert!(certificate_covers(&names, "customers.example.net"));
        assert!(!certificate_covers(&names, "a.b.customers.example.net"));
        assert!(!certificate_covers(&names, "customers.example.org"));
        assert!(!certificate_covers(&[], "sbc1.customers.example.net"));
        let exact = vec!["sbc1.customers.example.net".to_owned()];
        assert!(!certificate_covers(&exact, "contoso.customers.example.net"));
    }
}
