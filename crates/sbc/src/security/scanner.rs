//! Refusing known SIP scanners by their User-Agent (RFC 3261 §20.41):
//! a case-insensitive substring match against a configurable list.

/// User-Agent fragments of common SIP scanning and attack tools.
pub(crate) const DEFAULT_SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipscan",
    "vaxsipuseragent",
    "iwar",
    "sundayddr",
    "sivus",
    "siparmyknife",
    "smap",
    "pplsip",
];

/// Whether `user_agent` contains one of `needles` (given in lower case).
pub(crate) fn is_scanner(needles: &[String], user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    needles
        .iter()
        .any(|n| !n.is_empty() && ua.contains(n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_case_insensitive_substrings() {
        let list: Vec<String> = DEFAULT_SCANNERS.iter().map(|s| s.to_string()).collect();
        assert!(is_scanner(&list, "friendly-scanner"));
        assert!(is_scanner(&list, "SIPVicious 0.3.4"));
        assert!(is_scanner(&list, "VaxSIPUserAgent/3.1"));
        assert!(is_scanner(&list, "sipcli/v1.8"));
        assert!(!is_scanner(&list, "Asterisk PBX 20.5.0"));
        assert!(!is_scanner(
            &list,
            "Microsoft.PSTNHub.SIPProxy v.2024.1.1.1 i.EUWE.1"
        ));
        assert!(!is_scanner(&[String::new()], "anything"));
    }
}
