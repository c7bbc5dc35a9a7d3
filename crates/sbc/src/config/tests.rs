#![allow(clippy::unwrap_used)]

use super::*;
use crate::number::NumberFormat;

const LOOPBACK: &str = include_str!("../../../../examples/loopback.toml");
const TEAMS: &str = include_str!("../../../../examples/teams.toml");

/// A valid base that tests extend or break.
const BASE: &str = r#"
[sbc.listen]
udp = ["127.0.0.1:5060"]
tls = ["127.0.0.1:5061"]
[sbc.tls]
cert = "c.pem"
key = "k.pem"

[trunks.carrier1]
allow = ["192.0.2.0/24", "198.51.100.7"]
targets = ["sip:192.0.2.10:5060"]

[teams]
base_fqdn = "customers.example.net"
trunk_fqdn = "sbc1.customers.example.net"

[tenants.contoso]
tenant_id = "b59a9bc4-0e7f-4f1b-8d43-04d9b2eb0a11"
label = "contoso"
carrier_trunk = "carrier1"
[tenants.contoso.dids]
"+12065550100" = "+14255550123"
"#;

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, "test.toml")
}

/// The key path and reason of a refused configuration.
fn refused(text: &str) -> (String, String) {
    match load(text) {
        Err(ConfigError::Invalid {
            key, reason, file, ..
        }) => {
            assert_eq!(file, "test.toml");
            (key, reason)
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("accepted a bad configuration"),
    }
}

#[test]
fn examples_load() {
    let lo = Config::from_toml_str(LOOPBACK, "examples/loopback.toml").unwrap();
    assert_eq!(lo.sbc.listen.len(), 1);
    assert_eq!(lo.sbc.listen[0].transport, Transport::Udp);
    let trunk = lo.trunks.get(&TrunkName::new("loop")).unwrap();
    assert!(trunk.allow[0].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
    assert_eq!(lo.routes.len(), 1);
    assert!(
        matches!(&lo.routes[0].target, RouteTarget::Uri(u) if u.as_str() == "sip:127.0.0.1:5090")
    );
    assert!(lo.teams.is_none());

    let t = Config::from_toml_str(TEAMS, "examples/teams.toml").unwrap();
    let teams = t.teams.as_ref().unwrap();
    assert_eq!(teams.proxies.len(), 3);
    assert_eq!(t.tenants.len(), 2);
    let fabrikam = t.tenants.get(&TenantName::new("fabrikam")).unwrap();
    assert_eq!(fabrikam.fqdn, "fabrikam.customers.example.net");
    assert_eq!(
        t.hosts.resolve("SIP2.pstnhub.microsoft.com", 5061),
        Some(vec!["127.0.0.1:15062".parse().unwrap()])
    );
    assert_eq!(
        t.hosts.resolve("contoso.customers.example.net", 5061),
        Some(vec!["127.0.0.1:5061".parse().unwrap()])
    );
    assert!(t.emulator.is_some());
    let carrier = t.trunks.get(&TrunkName::new("carrier1")).unwrap();
    assert_eq!(carrier.numbers.outbound, NumberFormat::National);
    assert_eq!(carrier.dtmf, DtmfMode::Rfc4733);
    assert_eq!(
        carrier.headers.add,
        [("X-Provider".to_owned(), "example".to_owned())]
    );
}

#[test]
fn defaults() {
    let c = load(BASE).unwrap();
    let teams = c.teams.unwrap();
    assert_eq!(teams.signalling_port, 5061);
    let fqdns: Vec<_> = teams.proxies.iter().map(|p| p.fqdn.as_str()).collect();
    assert_eq!(
        fqdns,
        [
            "sip.pstnhub.microsoft.com",
            "sip2.pstnhub.microsoft.com",
            "sip3.pstnhub.microsoft.com"
        ]
    );
    assert!(teams.proxies.iter().all(|p| p.port == 5061));
    let subnets: Vec<_> = teams.source_subnets.iter().map(|n| n.to_string()).collect();
    assert_eq!(subnets, ["52.112.0.0/14", "52.120.0.0/14"]);
    assert_eq!(teams.options_interval, Duration::from_secs(60));
    assert_eq!(c.security.flood.max_requests, 30);
    assert!(c
        .security
        .scanner_user_agents
        .iter()
        .any(|s| s == "friendly-scanner"));
    assert_eq!(c.security.auth.realm, "switchboard");
    let trunk = c.trunks.get(&TrunkName::new("carrier1")).unwrap();
    assert_eq!(trunk.transport, Transport::Udp);
    assert_eq!(trunk.allow[1].to_string(), "198.51.100.7/32");
    let tenant = c.tenants.get(&TenantName::new("contoso")).unwrap();
    assert_eq!(tenant.fqdn, "contoso.customers.example.net");
    assert_eq!(
        tenant.dids.values().next(),
        Some(&Destination::TeamsUser(
            E164::parse("+14255550123").unwrap()
        ))
    );
}

#[test]
fn unknown_keys_are_refused_with_their_path() {
    let (key, reason) = refused(&format!(
        "{BASE}\n[trunks.carrier1.numbers]\ncountry = \"1\"\n"
    ));
    assert_eq!(key, "trunks.carrier1.numbers.country");
    assert!(
        reason.starts_with("unknown key (expected one of: country_code"),
        "{reason}"
    );
    let (key, _) = refused(&format!("{BASE}\n[bogus]\n"));
    assert_eq!(key, "bogus");
    let (key, _) = refused(&BASE.replace("label = \"contoso\"", "label = \"contoso\"\nlable = 1"));
    assert_eq!(key, "tenants.contoso.lable");
}

#[test]
fn errors_name_file_line_key_and_reason() {
    let text = BASE.replace(
        "allow = [\"192.0.2.0/24\", \"198.51.100.7\"]",
        "allow = [\"192.0.2.0/24\", \"198.51.100.7\", \"10.0.0.1/33\"]",
    );
    let err = load(&text).unwrap_err();
    let line = text
        .lines()
        .position(|l| l.contains("10.0.0.1/33"))
        .unwrap()
        + 1;
    assert_eq!(
        err.to_string(),
        format!("test.toml:{line}: trunks.carrier1.allow[2]: `10.0.0.1/33` is not an address or CIDR block")
    );
    assert_eq!(err.key(), Some("trunks.carrier1.allow[2]"));
    let (key, reason) = refused(&BASE.replace("192.0.2.0/24", "192.0.2.1/24"));
    assert_eq!(key, "trunks.carrier1.allow[0]");
    assert!(reason.contains("did you mean 192.0.2.0/24"), "{reason}");
}

#[test]
fn syntax_errors_have_line_and_column() {
    match load("[sbc]\nmax_concurrent_calls = = 3\n") {
        Err(ConfigError::Syntax { file, line, .. }) => {
            assert_eq!(file, "test.toml");
            assert_eq!(line, 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn integers_in_every_toml_spelling() {
    let c = load(&format!(
        "{BASE}\n[sbc]\nmax_concurrent_calls = 1_000\nmax_calls_per_second = 0x10\n"
    ))
    .unwrap();
    assert_eq!(c.sbc.limits.max_concurrent_calls, Some(1000));
    assert_eq!(c.sbc.limits.max_calls_per_second, Some(16));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let c = load(&format!(
        "{BASE}\n[trunks.carrier1.auth]\nusername = \"u\"\npassword = \"hunter2-password\"\n\
         [security.auth]\nnonce_secret = \"0123456789abcdef-secret\"\n"
    ))
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(!debug.contains("0123456789abcdef-secret"));
    assert!(debug.contains("username: \"u\""));
}

#[test]
fn wrong_types_and_ranges() {
    let (key, reason) = refused(&format!("{BASE}\n[sbc]\nmax_concurrent_calls = \"ten\"\n"));
    assert_eq!(key, "sbc.max_concurrent_calls");
    assert_eq!(reason, "expected an integer, found string");
    let (key, reason) = refused(&format!("{BASE}\n[sbc]\nmax_calls_per_second = 0\n"));
    assert_eq!(key, "sbc.max_calls_per_second");
    assert!(reason.contains("between 1 and"), "{reason}");
    let (key, _) =
        refused(&BASE.replace("udp = [\"127.0.0.1:5060\"]", "udp = [\"localhost:5060\"]"));
    assert_eq!(key, "sbc.listen.udp[0]");
    let (key, _) = refused(&BASE.replace("sip:192.0.2.10:5060", "http://192.0.2.10"));
    assert_eq!(key, "trunks.carrier1.targets[0]");
}

#[test]
fn routes_and_tenants_must_name_existing_trunks() {
    let (key, reason) =
        refused(&BASE.replace("carrier_trunk = \"carrier1\"", "carrier_trunk = \"nope\""));
    assert_eq!(key, "tenants.contoso.carrier_trunk");
    assert_eq!(reason, "no trunk named `nope`");
    let (key, reason) = refused(&format!(
        "{BASE}\n[[routes]]\nfrom = \"carrier1\"\nto_trunk = \"carrier2\"\n"
    ));
    assert_eq!(key, "routes[0].to_trunk");
    assert_eq!(reason, "no trunk named `carrier2`");
    let (key, _) = refused(&format!(
        "{BASE}\n[[routes]]\nto_uri = \"sip:a.example\"\n[[routes]]\nfrom = \"x\"\nto_uri = \"sip:b.example\"\n"
    ));
    assert_eq!(key, "routes[1].from");
    let (key, _) = refused(&format!("{BASE}\n[[routes]]\nprefix = \"+1\"\n"));
    assert_eq!(key, "routes[0]");
}

#[test]
fn tenant_fqdn_must_be_one_label_under_the_base() {
    let (key, reason) =
        refused(&BASE.replace("label = \"contoso\"", "fqdn = \"contoso.other.example\""));
    assert_eq!(key, "tenants.contoso.fqdn");
    assert!(
        reason.contains("not one label under the Teams base FQDN"),
        "{reason}"
    );
    let (key, _) = refused(&BASE.replace(
        "label = \"contoso\"",
        "fqdn = \"a.contoso.customers.example.net\"",
    ));
    assert_eq!(key, "tenants.contoso.fqdn");
    let (key, reason) = refused(&BASE.replace("label = \"contoso\"\n", ""));
    assert_eq!(key, "tenants.contoso");
    assert!(reason.starts_with("needs `label`"), "{reason}");
    let (key, _) = refused(&BASE.replace("label = \"contoso\"", "label = \"sbc1\""));
    assert_eq!(key, "tenants.contoso.label");
    let (key, _) = refused(&BASE.replace(
        "trunk_fqdn = \"sbc1.customers.example.net\"",
        "trunk_fqdn = \"customers.example.net\"",
    ));
    assert_eq!(key, "teams.trunk_fqdn");
}

#[test]
fn tenants_need_teams_and_distinct_names() {
    let no_teams = BASE.replace(
        "[teams]\nbase_fqdn = \"customers.example.net\"\ntrunk_fqdn = \"sbc1.customers.example.net\"\n",
        "",
    );
    let (key, reason) = refused(&no_teams);
    assert_eq!(key, "tenants.contoso");
    assert_eq!(reason, "tenants need a [teams] section");
    let (key, reason) = refused(&format!(
        "{BASE}\n[trunks.contoso]\ntargets = [\"sip:203.0.113.1\"]\n"
    ));
    assert_eq!(key, "tenants.contoso");
    assert!(reason.contains("also a trunk"), "{reason}");
    let (key, _) = refused(&format!(
        "{BASE}\n[trunks.\"bad name\"]\ntargets = [\"sip:a.b\"]\n"
    ));
    assert_eq!(key, "trunks.\"bad name\"");
}

const SECOND_TENANT: &str = r#"
[tenants.fabrikam]
tenant_id = "0f7e2a44-5c1d-4a8e-9b3f-6d2c1e0a9b88"
label = "fabrikam"
carrier_trunk = "carrier1"
[tenants.fabrikam.dids]
"#;

#[test]
fn duplicates_across_tenants_are_refused() {
    assert!(load(&format!(
        "{BASE}{SECOND_TENANT}\"+12065550101\" = \"1425\"\n"
    ))
    .is_err());
    let ok = load(&format!(
        "{BASE}{SECOND_TENANT}\"+12065550101\" = \"+14255550200\"\n"
    ));
    assert!(ok.is_ok());
    let (key, reason) = refused(&format!(
        "{BASE}{SECOND_TENANT}\"+12065550100\" = \"+14255550200\"\n"
    ));
    // Tables are read in name order: contoso first, so fabrikam's is the duplicate.
    assert_eq!(key, "tenants.fabrikam.dids.\"+12065550100\"");
    assert_eq!(
        reason,
        "DID +12065550100 is already assigned by tenants.contoso.dids.\"+12065550100\""
    );
    let same_label = SECOND_TENANT.replace("label = \"fabrikam\"", "label = \"Contoso\"");
    let (key, reason) = refused(&format!("{BASE}{same_label}"));
    assert_eq!(key, "tenants.fabrikam.label");
    assert!(
        reason.contains("already used by tenants.contoso.label"),
        "{reason}"
    );
    let same_id = SECOND_TENANT.replace(
        "0f7e2a44-5c1d-4a8e-9b3f-6d2c1e0a9b88",
        "B59A9BC4-0E7F-4F1B-8D43-04D9B2EB0A11",
    );
    let (key, _) = refused(&format!("{BASE}{same_id}"));
    assert_eq!(key, "tenants.fabrikam.tenant_id");
    let (key, _) = refused(&BASE.replace("\"+12065550100\" =", "\"2065550100\" ="));
    assert_eq!(key, "tenants.contoso.dids.2065550100");
}

#[test]
fn overlapping_trunk_blocks_and_shared_usernames_are_refused() {
    let (key, reason) = refused(&format!(
        "{BASE}\n[trunks.carrier2]\nallow = [\"192.0.2.128/25\"]\ntargets = [\"sip:a.example\"]\n"
    ));
    assert_eq!(key, "trunks.carrier2.allow[0]");
    assert!(
        reason.contains("overlaps 192.0.2.0/24 of trunks.carrier1.allow[0]"),
        "{reason}"
    );
    let auth = "[trunks.X.auth]\nusername = \"u\"\npassword = \"p\"\n";
    let text = format!(
        "{BASE}\n[trunks.a]\ntargets = [\"sip:a.example\"]\n{}\n[trunks.b]\ntargets = [\"sip:b.example\"]\n{}",
        auth.replace('X', "a"),
        auth.replace('X', "b")
    );
    let (key, _) = refused(&text);
    assert_eq!(key, "trunks.b.auth.username");
}

#[test]
fn header_policy_and_number_plan_checks() {
    let (key, reason) = refused(&format!(
        "{BASE}\n[trunks.carrier1.headers]\npass = [\"X-*\", \"Via\"]\n"
    ));
    assert_eq!(key, "trunks.carrier1.headers.pass[1]");
    assert_eq!(reason, "Via is written by the B2BUA itself");
    let (key, _) = refused(&format!(
        "{BASE}\n[trunks.carrier1.headers.add]\n\"Call-ID\" = \"x\"\n"
    ));
    assert_eq!(key, "trunks.carrier1.headers.add.Call-ID");
    let (key, reason) = refused(&format!(
        "{BASE}\n[trunks.carrier1.numbers]\noutbound = \"national\"\n"
    ));
    assert_eq!(key, "trunks.carrier1.numbers.outbound");
    assert!(reason.contains("country_code"), "{reason}");
    let (key, _) = refused(&format!(
        "{BASE}\n[trunks.carrier1.numbers]\nrules = [{{ prefix = \"9\", strip = 1 }}, {{ prefix = \"x\" }}]\n"
    ));
    assert_eq!(key, "trunks.carrier1.numbers.rules[1].prefix");
    let (key, _) = refused(&format!(
        "{BASE}\n[tenants.contoso.dial_plan]\noutbound = \"e164\"\n"
    ));
    assert_eq!(key, "tenants.contoso.dial_plan.outbound");
}

#[test]
fn tls_is_required_for_teams_and_tls_listeners() {
    let (key, reason) =
        refused(&BASE.replace("[sbc.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", ""));
    assert_eq!(key, "sbc.listen.tls");
    assert!(reason.contains("[sbc.tls]"), "{reason}");
    let (key, reason) = refused(&BASE.replace("tls = [\"127.0.0.1:5061\"]\n", ""));
    assert_eq!(key, "teams");
    assert!(reason.contains("TLS listener"), "{reason}");
}

#[test]
fn emulator_section_is_kept_raw() {
    let c = load(&format!(
        "{BASE}\n[emulator]\nproxies = 3\n[emulator.graph]\nport = 8443\n"
    ))
    .unwrap();
    let emulator = c.emulator.unwrap();
    assert_eq!(
        emulator.get("proxies").and_then(|v| v.as_integer()),
        Some(3)
    );
    assert_eq!(
        emulator
            .get("graph")
            .and_then(|g| g.get("port"))
            .and_then(|v| v.as_integer()),
        Some(8443)
    );
    let (key, _) = refused(&format!("emulator = 1\n{BASE}"));
    assert_eq!(key, "emulator");
}

#[test]
fn a_did_can_route_to_a_flow() {
    let text = BASE.replace(
        "[tenants.contoso.dids]\n",
        "[tenants.contoso.dids]\n\"+12065550177\" = { flow = \"contoso-main\" }\n",
    );
    assert_ne!(text, BASE);
    let c = Config::from_toml_str(&text, "t.toml").unwrap();
    let did = E164::parse("+12065550177").unwrap();
    assert_eq!(
        c.tenants.values().next().unwrap().dids.get(&did),
        Some(&Destination::Flow("contoso-main".to_owned()))
    );
    let (key, reason) = refused(&BASE.replace(
        "[tenants.contoso.dids]\n",
        "[tenants.contoso.dids]\n\"+12065550177\" = { flw = \"contoso-main\" }\n",
    ));
    assert!(key.starts_with("tenants.contoso.dids."), "{key}: {reason}");
    let (key, reason) = refused(&BASE.replace(
        "[tenants.contoso.dids]\n",
        "[tenants.contoso.dids]\n\"+12065550177\" = 42\n",
    ));
    assert_eq!(key, "tenants.contoso.dids.\"+12065550177\"", "{reason}");
}

#[test]
fn media_section_defaults_and_checks() {
    let config = load(BASE).unwrap();
    assert_eq!(config.media, MediaSettings::default());
    assert_eq!(config.media.ports, (10_000, 32_767));
    let config = load(&format!(
        "{BASE}\n[media]\nbind = \"0.0.0.0\"\nadvertised_ip = \"203.0.113.9\"\n\
         first_port = 20000\nlast_port = 20099\ntimeout_secs = 5\nhold_timeout_secs = 0\n\
         threads = 1\ndscp = 34\n"
    ))
    .unwrap();
    assert_eq!(config.media.bind, Some("0.0.0.0".parse().unwrap()));
    assert_eq!(
        config.media.advertised_ip,
        Some("203.0.113.9".parse().unwrap())
    );
    assert_eq!(config.media.ports, (20_000, 20_099));
    assert_eq!(config.media.timeout, Duration::from_secs(5));
    assert_eq!(config.media.hold_timeout, None);
    assert_eq!(config.media.threads, 1);
    assert_eq!(config.media.dscp, 34);
    assert_eq!(load(BASE).unwrap().media.dscp, 46);
    assert_eq!(load(BASE).unwrap().media.io, crate::MediaIoMode::Auto);
    for (written, io) in [
        ("io_uring", crate::MediaIoMode::Uring),
        ("auto", crate::MediaIoMode::Auto),
        ("EPOLL", crate::MediaIoMode::Epoll),
    ] {
        let config = load(&format!("{BASE}\n[media]\nio = \"{written}\"\n")).unwrap();
        assert_eq!(config.media.io, io);
    }
    let (key, _) = refused(&format!("{BASE}\n[media]\nio = \"kqueue\"\n"));
    assert_eq!(key, "media.io");
    let (key, _) = refused(&format!("{BASE}\n[media]\ndscp = 64\n"));
    assert_eq!(key, "media.dscp");

    let (key, reason) = refused(&format!("{BASE}\n[media]\nadvertised_ip = \"0.0.0.0\"\n"));
    assert_eq!(key, "media.advertised_ip");
    assert!(reason.contains("unspecified"), "{reason}");
    let (key, reason) = refused(&format!(
        "{BASE}\n[media]\nfirst_port = 30000\nlast_port = 30001\n"
    ));
    assert_eq!(key, "media");
    assert!(reason.contains("30000-30001"), "{reason}");
    let (key, _) = refused(&format!("{BASE}\n[media]\ntimeout_secs = 0\n"));
    assert_eq!(key, "media.timeout_secs");
    let (key, _) = refused(&format!("{BASE}\n[media]\nbind = \"somewhere\"\n"));
    assert_eq!(key, "media.bind");
}

#[test]
fn metrics_listen_is_an_address() {
    assert_eq!(load(BASE).unwrap().metrics, None);
    let config = load(&format!("{BASE}\n[metrics]\nlisten = \"127.0.0.1:9464\"\n")).unwrap();
    assert_eq!(config.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    let (key, _) = refused(&format!("{BASE}\n[metrics]\nlisten = \"localhost\"\n"));
    assert_eq!(key, "metrics.listen");
    let (key, _) = refused(&format!("{BASE}\n[metrics]\nport = 1\n"));
    assert_eq!(key, "metrics.port");
}

#[test]
fn trunk_dtmf_mode_defaults_to_rfc4733_and_is_checked() {
    let trunk = |c: &Config| c.trunks.get(&TrunkName::new("carrier1")).unwrap().dtmf;
    assert_eq!(trunk(&load(BASE).unwrap()), DtmfMode::Rfc4733);
    let with = |line: &str| {
        BASE.replace(
            "targets = [\"sip:192.0.2.10:5060\"]",
            &format!("targets = [\"sip:192.0.2.10:5060\"]\n{line}"),
        )
    };
    for (value, mode) in [
        ("rfc4733", DtmfMode::Rfc4733),
        ("RFC2833", DtmfMode::Rfc4733),
        ("info", DtmfMode::Info),
        ("inband", DtmfMode::Inband),
    ] {
        let c = load(&with(&format!("dtmf = \"{value}\""))).unwrap();
        assert_eq!(trunk(&c), mode, "{value}");
    }
    let (key, reason) = refused(&with("dtmf = \"sip-info\""));
    assert_eq!(key, "trunks.carrier1.dtmf");
    assert_eq!(reason, "`sip-info` is not rfc4733, info or inband");
    let (key, reason) = refused(&with("dtmf = 1"));
    assert_eq!(key, "trunks.carrier1.dtmf");
    assert!(reason.contains("expected a string"), "{reason}");
    // Each mode needs the codec it is carried in.
    let (key, reason) = refused(&with("codecs = [\"PCMA\"]\ndtmf = \"rfc4733\""));
    assert_eq!(key, "trunks.carrier1.dtmf");
    assert!(reason.contains("`telephone-event`"), "{reason}");
    let (_, reason) = refused(&with(
        "codecs = [\"G722\", \"telephone-event\"]\ndtmf = \"inband\"",
    ));
    assert!(reason.contains("`PCMU` or `PCMA`"), "{reason}");
    let c = load(&with("codecs = [\"G722\", \"pcma\"]\ndtmf = \"inband\"")).unwrap();
    assert_eq!(trunk(&c), DtmfMode::Inband);
    // INFO needs no codec; the default asks for nothing.
    assert_eq!(
        trunk(&load(&with("codecs = [\"G722\"]\ndtmf = \"info\"")).unwrap()),
        DtmfMode::Info
    );
    assert_eq!(
        trunk(&load(&with("codecs = [\"G722\"]")).unwrap()),
        DtmfMode::Rfc4733
    );
    // Teams takes RFC 4733 only: no such key there.
    let (key, _) = refused(&BASE.replace(
        "trunk_fqdn = \"sbc1.customers.example.net\"",
        "trunk_fqdn = \"sbc1.customers.example.net\"\ndtmf = \"info\"",
    ));
    assert_eq!(key, "teams.dtmf");
}
