//! The SIP torture tests of RFC 4475 (§3.1 parser, §3.2 transaction layer,
//! §3.3 application layer, §3.4 backward compatibility) and RFC 5118 (§4,
//! IPv6), run against `Message::parse` + `validate()`.
//!
//! The vectors are the files under `testdata/sip/`; `expectations.txt` there
//! says for each one whether it must parse or be rejected (see its header).
//! Every disagreement is collected and reported at once, with the parser's
//! error or the unexpected success, so one run shows the whole picture.
//! For messages that must parse, `facts` checks what the RFC says the parser
//! has to extract from them; a rejection must name the fault the RFC built
//! the message around (`rejection_reasons`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sip::{
    percent_decode, unescape_quoted, Contacts, HeaderName, Host, Message, Method, NameAddr, Scheme,
    Via,
};

/// What the parser must do with a vector (column 2 of the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Well formed: parse and validate() succeed, and the facts hold.
    Parse,
    /// Syntactically valid; the RFC's handling is above the parser.
    ParseApp,
    /// Message::parse or validate() fails.
    Reject,
}

/// One line of `expectations.txt`.
#[derive(Debug)]
struct Vector {
    path: String,
    expect: Expect,
    section: String,
    note: String,
}

impl Vector {
    /// The RFC's test name: the file name without `.sip`.
    fn name(&self) -> &str {
        let file = self.path.rsplit('/').next().unwrap_or(&self.path);
        file.strip_suffix(".sip").unwrap_or(file)
    }
}

const MANIFEST: &str = "expectations.txt";
const README: &str = "README.md";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sip")
}

fn manifest() -> Vec<Vector> {
    let text =
        fs::read_to_string(testdata().join(MANIFEST)).expect("read testdata/sip/expectations.txt");
    let mut vectors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (path, rest) = split_field(line);
        let (expect, rest) = split_field(rest);
        let (section, note) = split_field(rest);
        let note = note.trim();
        let expect = match expect {
            "parse" => Expect::Parse,
            "parse-app" => Expect::ParseApp,
            "reject" => Expect::Reject,
            other => panic!("{MANIFEST}:{}: unknown expectation {other:?}", n + 1),
        };
        let path = path.to_owned();
        assert!(
            !section.is_empty() && !note.is_empty(),
            "{MANIFEST}:{}: needs section and note",
            n + 1
        );
        vectors.push(Vector {
            path,
            expect,
            section: section.to_owned(),
            note: note.to_owned(),
        });
    }
    vectors
}

/// The first whitespace-separated field of `s` and the rest after it.
fn split_field(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    s.split_once(char::is_whitespace).unwrap_or((s, ""))
}

fn read_vector(v: &Vector) -> Bytes {
    let path = testdata().join(&v.path);
    Bytes::from(fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
}

/// Message::parse then validate(), the error rendered for the report.
fn parse_and_validate(bytes: Bytes) -> Result<Message, String> {
    let msg = Message::parse(bytes).map_err(|e| format!("Message::parse failed: {e} [{e:?}]"))?;
    msg.validate()
        .map_err(|e| format!("validate() failed: {e} [{e:?}]"))?;
    Ok(msg)
}

#[test]
fn torture_vectors_meet_rfc_expectations() {
    let vectors = manifest();
    let mut failures = Vec::new();
    for v in &vectors {
        let outcome = parse_and_validate(read_vector(v));
        match (v.expect, outcome) {
            (Expect::Reject, Err(e)) => {
                let reasons = rejection_reasons(v.name());
                if reasons.is_empty() {
                    failures.push(format!(
                        "{}: harness has no rejection reasons for it",
                        v.path
                    ));
                } else if !reasons.iter().any(|r| e.contains(r)) {
                    failures.push(format!(
                        "{} [{}] rejected, but not for the RFC's reason (want one of {reasons:?}): {e}\n      RFC: {}",
                        v.path, v.section, v.note
                    ));
                }
            }
            (Expect::Reject, Ok(_)) => failures.push(format!(
                "{} [{}] expected reject, but parse + validate() succeeded\n      RFC: {}",
                v.path, v.section, v.note
            )),
            (Expect::Parse | Expect::ParseApp, Err(e)) => failures.push(format!(
                "{} [{}] must parse: {e}\n      RFC: {}",
                v.path, v.section, v.note
            )),
            (Expect::Parse | Expect::ParseApp, Ok(msg)) => match facts(v.name(), &msg) {
                Some(wrong) => {
                    for fact in wrong {
                        failures.push(format!("{} [{}] parsed, but {fact}", v.path, v.section));
                    }
                }
                None if v.expect == Expect::Parse => {
                    failures.push(format!(
                        "{}: harness checks no facts for a `parse` vector",
                        v.path
                    ));
                }
                None => {}
            },
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} torture vectors disagree with testdata/sip/{MANIFEST}:\n  - {}\n",
        failures.len(),
        vectors.len(),
        failures.join("\n  - ")
    );
}

/// What a rejection must mention (a `ParseError` variant or the header at
/// fault, matched against its Display and Debug text): the fault the RFC
/// built the message around, not some other accident of it.
fn rejection_reasons(name: &str) -> &'static [&'static str] {
    match name {
        "badinv01" => &[r#""Via""#, r#""Contact""#],
        "clerr" => &["ContentLengthMismatch"],
        "ncl" | "mcl01" => &[r#""Content-Length""#],
        "scalar02" => &[r#""CSeq""#],
        "scalarlg" => &[r#""CSeq""#, r#""Retry-After""#, r#""Warning""#],
        "quotbal" | "badaspec" => &[r#""To""#],
        "ltgtruri" | "lwsruri" | "escruri" => &["BadRequestUri", "BadStartLine"],
        "lwsstart" | "trws" => &["BadStartLine"],
        "baddate" => &[r#""Date""#],
        "regbadct" => &[r#""Contact""#],
        "baddn" => &[r#""From""#, r#""To""#],
        "badvers" => &["BadVersion"],
        "mismatch01" | "mismatch02" => &["CSeqMethodMismatch"],
        "bigcode" => &["BadStatusCode"],
        "insuf" => &["MissingHeader"],
        "multi01" => &["DuplicateHeader"],
        "ipv6-bad" => &["BadRequestUri"],
        _ => &[],
    }
}

/// Every file under testdata/sip is a vector listed in the manifest, every
/// listed vector exists, and none is listed twice.
#[test]
fn manifest_lists_every_vector_file() {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel);
            }
        }
    }
    let root = testdata();
    let mut on_disk = BTreeSet::new();
    walk(&root, &root, &mut on_disk);
    on_disk.remove(MANIFEST);
    on_disk.remove(README);

    let mut listed = BTreeSet::new();
    for v in manifest() {
        assert!(
            listed.insert(v.path.clone()),
            "{} is listed twice in {MANIFEST}",
            v.path
        );
    }
    let orphans: Vec<_> = on_disk.difference(&listed).collect();
    let missing: Vec<_> = listed.difference(&on_disk).collect();
    assert!(
        orphans.is_empty(),
        "files in testdata/sip not listed in {MANIFEST}: {orphans:?}"
    );
    assert!(
        missing.is_empty(),
        "{MANIFEST} lists files that do not exist: {missing:?}"
    );
}

/// The manifest covers exactly the messages the two RFCs define, so a
/// vector cannot silently disappear.
#[test]
fn manifest_covers_every_rfc_message() {
    const RFC4475: [&str; 49] = [
        // §3.1.1
        "wsinv",
        "intmeth",
        "esc01",
        "escnull",
        "esc02",
        "lwsdisp",
        "longreq",
        "dblreq",
        "semiuri",
        "transports",
        "mpart01",
        "unreason",
        "noreason",
        // §3.1.2
        "badinv01",
        "clerr",
        "ncl",
        "scalar02",
        "scalarlg",
        "quotbal",
        "ltgtruri",
        "lwsruri",
        "lwsstart",
        "trws",
        "escruri",
        "baddate",
        "regbadct",
        "badaspec",
        "baddn",
        "badvers",
        "mismatch01",
        "mismatch02",
        "bigcode",
        // §3.2
        "badbranch",
        // §3.3
        "insuf",
        "unkscm",
        "novelsc",
        "unksm2",
        "bext01",
        "invut",
        "regaut01",
        "multi01",
        "mcl01",
        "bcast",
        "zeromf",
        "cparam01",
        "cparam02",
        "regescrt",
        "sdp01",
        // §3.4
        "inv2543",
    ];
    const RFC5118: [&str; 12] = [
        "ipv6-good",
        "ipv6-bad",
        "port-ambiguous",
        "port-unambiguous",
        "via-received-param-with-delim",
        "via-received-param-no-delim",
        "ipv6-in-sdp",
        "mult-ip-in-header",
        "mult-ip-in-sdp",
        "ipv4-mapped-ipv6",
        "ipv6-bug-abnf-3-colons",
        "ipv6-correct-abnf-2-colons",
    ];
    let vectors = manifest();
    let names = |rfc: &str| -> BTreeSet<String> {
        vectors
            .iter()
            .filter(|v| v.path.starts_with(rfc))
            .map(|v| v.name().to_owned())
            .collect()
    };
    let want =
        |list: &[&str]| -> BTreeSet<String> { list.iter().map(|s| (*s).to_owned()).collect() };
    assert_eq!(names("rfc4475/"), want(&RFC4475));
    assert_eq!(names("rfc5118/"), want(&RFC5118));
    assert_eq!(vectors.len(), RFC4475.len() + RFC5118.len());
}

/// The files are wire bytes: every start line and header line ends in CRLF
/// and the header section is closed by an empty line.
#[test]
fn vectors_are_crlf_wire_bytes() {
    for v in manifest() {
        let bytes = read_vector(&v);
        let end = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("{}: header section not closed by CRLF CRLF", v.path));
        let head = &bytes[..end + 2];
        for (i, &b) in head.iter().enumerate() {
            if b == b'\n' {
                assert!(
                    i > 0 && head[i - 1] == b'\r',
                    "{}: bare LF at offset {i} in the header section",
                    v.path
                );
            }
        }
    }
}

/// Per-message facts the RFC states about a message that must parse; each
/// failed one is returned as a sentence. `None` if no facts are known for
/// `name` (every `parse` vector must have some).
fn facts(name: &str, msg: &Message) -> Option<Vec<String>> {
    let c = Check::default();
    match name {
        "wsinv" => wsinv(&c, msg),
        "intmeth" => intmeth(&c, msg),
        "esc01" => esc01(&c, msg),
        "escnull" => escnull(&c, msg),
        "esc02" => esc02(&c, msg),
        "lwsdisp" => lwsdisp(&c, msg),
        "longreq" => longreq(&c, msg),
        "dblreq" => dblreq(&c, msg),
        "semiuri" => semiuri(&c, msg),
        "transports" => transports(&c, msg),
        "mpart01" => mpart01(&c, msg),
        "unreason" => unreason(&c, msg),
        "noreason" => noreason(&c, msg),
        "badbranch" => c.eq(
            "top Via branch",
            c.top_via(msg).and_then(|v| v.branch()),
            Some("z9hG4bK"),
        ),
        "unkscm" => request_uri_is_opaque(&c, msg, "nobodyKnowsThisScheme:totallyopaquecontent"),
        "novelsc" => request_uri_is_opaque(&c, msg, "soap.beep://192.0.2.103:3002"),
        "unksm2" => unksm2(&c, msg),
        "invut" => {
            c.eq("body length", msg.body().len(), 40);
            let ct = msg.headers().content_type().ok().flatten();
            c.ok(
                "Content-Type is application/unknownformat",
                ct.is_some_and(|t| t.is("application", "unknownformat")),
            );
        }
        "bcast" => {
            let vias = c.vias(msg);
            c.eq(
                "second Via host",
                vias.get(1).map(|v| v.host),
                Some(Host::Ipv4(Ipv4Addr::BROADCAST)),
            );
        }
        "zeromf" => c.eq("Max-Forwards", msg.headers().max_forwards().ok(), Some(0)),
        "cparam01" => {
            let contact = c.contacts(msg).into_iter().next();
            c.eq(
                "Contact url-param unknownparam",
                contact.and_then(|a| a.uri.param("unknownparam")),
                None,
            );
            c.eq(
                "Contact header param unknownparam",
                contact.and_then(|a| a.param("unknownparam")),
                Some(None),
            );
        }
        "cparam02" => {
            let contact = c.contacts(msg).into_iter().next();
            c.eq(
                "Contact url-param unknownparam",
                contact.and_then(|a| a.uri.param("unknownparam")),
                Some(None),
            );
            c.eq(
                "Contact header param unknownparam",
                contact.and_then(|a| a.param("unknownparam")),
                None,
            );
        }
        "regescrt" => {
            let contact = c.contacts(msg).into_iter().next();
            c.eq(
                "Contact URI headers",
                contact.and_then(|a| a.uri.headers()),
                Some("Route=%3Csip:sip.example.com%3E"),
            );
        }
        "inv2543" => inv2543(&c, msg),
        "ipv6-good" => {
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::10")),
            );
            c.eq(
                "Via host",
                c.top_via(msg).map(|v| v.host),
                Some(v6("2001:db8::9:1")),
            );
            c.eq(
                "Contact host",
                c.contacts(msg).first().map(|a| a.uri.host()),
                Some(v6("2001:db8::1")),
            );
        }
        "port-ambiguous" => {
            // RFC 5118 §4.3: the port the sender meant is inside the brackets,
            // so it is part of the address and there is no port.
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::10:5070")),
            );
            c.eq(
                "Request-URI port",
                request(msg).map(|r| r.uri.port()),
                Some(None),
            );
        }
        "port-unambiguous" => {
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::10")),
            );
            c.eq(
                "Request-URI port",
                request(msg).map(|r| r.uri.port()),
                Some(Some(5070)),
            );
        }
        "via-received-param-with-delim" => {
            let via = c.top_via(msg);
            c.eq("Via host", via.map(|v| v.host), Some(v6("2001:db8::9:1")));
            c.eq(
                "Via received",
                via.and_then(|v| v.received_ip()),
                Some("2001:db8::9:255".parse().unwrap()),
            );
        }
        "via-received-param-no-delim" => {
            let via = c.top_via(msg);
            c.eq("Via host", via.map(|v| v.host), Some(v6("2001:db8::9:1")));
            c.eq(
                "Via received",
                via.and_then(|v| v.received_ip()),
                Some("2001:db8::9:255".parse().unwrap()),
            );
            c.eq(
                "Contact host",
                c.contacts(msg).first().map(|a| a.uri.host()),
                Some(v6("2001:db8::9:1")),
            );
        }
        "ipv6-in-sdp" => {
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::10")),
            );
            c.eq(
                "Via host",
                c.top_via(msg).map(|v| v.host),
                Some(v6("2001:db8::20")),
            );
            c.eq("body length", msg.body().len(), 251);
            c.ok(
                "body carries c=IN IP6 2001:db8::20",
                contains(msg.body(), b"\r\nc=IN IP6 2001:db8::20\r\n"),
            );
        }
        "mult-ip-in-header" => {
            let hosts: Vec<_> = c
                .vias(msg)
                .iter()
                .map(|v| (v.transport, v.host, v.port))
                .collect();
            let want = vec![
                ("UDP", v6("2001:db8::9:1"), Some(6050)),
                ("UDP", Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)), None),
                ("TCP", v6("2001:db8::9:255"), None),
            ];
            c.eq("Via transports/hosts/ports", hosts, want);
            let received = c.vias(msg).get(2).and_then(|v| v.received_ip());
            c.eq(
                "third Via received",
                received,
                Some("192.0.2.200".parse().unwrap()),
            );
        }
        "mult-ip-in-sdp" => {
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::10")),
            );
            c.eq("body length", msg.body().len(), 189);
        }
        "ipv4-mapped-ipv6" => {
            let hosts: Vec<_> = c.vias(msg).iter().map(|v| (v.host, v.port)).collect();
            c.eq(
                "Via hosts/ports",
                hosts,
                vec![
                    (v6("::ffff:192.0.2.10"), Some(19823)),
                    (v6("::ffff:192.0.2.2"), None),
                ],
            );
            c.eq(
                "Contact host",
                c.contacts(msg).first().map(|a| a.uri.host()),
                Some(v6("::ffff:192.0.2.2")),
            );
            c.eq("body length", msg.body().len(), 245);
        }
        "ipv6-bug-abnf-3-colons" => {
            // RFC 5118 §4.10 asks only that it be tolerated: an IPv6 host, the
            // same in the Request-URI and in To.
            let ruri = c.request_uri_host(msg);
            c.ok(
                "Request-URI host is IPv6",
                matches!(ruri, Some(Host::Ipv6(_))),
            );
            c.eq(
                "To host",
                msg.headers().to().ok().map(|a| a.uri.host()),
                ruri,
            );
        }
        "ipv6-correct-abnf-2-colons" => {
            c.eq(
                "Request-URI host",
                c.request_uri_host(msg),
                Some(v6("2001:db8::192.0.2.1")),
            );
            c.eq(
                "To host",
                msg.headers().to().ok().map(|a| a.uri.host()),
                Some(v6("2001:db8::192.0.2.1")),
            );
        }
        _ => return None,
    }
    Some(c.failures.into_inner())
}

/// Collects failed facts instead of panicking at the first.
#[derive(Default)]
struct Check {
    failures: RefCell<Vec<String>>,
}

impl Check {
    fn fail(&self, failure: String) {
        self.failures.borrow_mut().push(failure);
    }

    fn ok(&self, what: &str, holds: bool) {
        if !holds {
            self.fail(format!("{what}: does not hold"));
        }
    }

    fn eq<T: PartialEq + Debug>(&self, what: &str, got: T, want: T) {
        if got != want {
            self.fail(format!("{what}: got {got:?}, want {want:?}"));
        }
    }

    /// An accessor that must succeed on a message that validated.
    fn get<T, E: Debug>(&self, what: &str, r: Result<T, E>) -> Option<T> {
        r.map_err(|e| self.fail(format!("{what}: {e:?}"))).ok()
    }

    fn vias<'m>(&self, msg: &'m Message) -> Vec<Via<'m>> {
        msg.headers()
            .vias()
            .filter_map(|v| self.get("Via", v))
            .collect()
    }

    fn top_via<'m>(&self, msg: &'m Message) -> Option<Via<'m>> {
        self.get("top Via", msg.headers().top_via())
    }

    fn contacts<'m>(&self, msg: &'m Message) -> Vec<NameAddr<'m>> {
        match self.get("Contact", msg.headers().contacts()) {
            Some(Contacts::List(list)) => list,
            Some(Contacts::Star) => {
                self.fail("Contact: got *, want a list".to_owned());
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn request_uri_host<'m>(&self, msg: &'m Message) -> Option<Host<'m>> {
        match msg {
            Message::Request(r) => Some(r.uri.host()),
            Message::Response(_) => {
                self.fail("is a response, want a request".to_owned());
                None
            }
        }
    }
}

fn request(msg: &Message) -> Option<&sip::Request> {
    match msg {
        Message::Request(r) => Some(r),
        Message::Response(_) => None,
    }
}

fn response(msg: &Message) -> Option<&sip::Response> {
    match msg {
        Message::Response(r) => Some(r),
        Message::Request(_) => None,
    }
}

fn v6(addr: &str) -> Host<'static> {
    Host::Ipv6(addr.parse::<Ipv6Addr>().expect("test address is IPv6"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A header value with folding and runs of whitespace collapsed to one SP.
fn unfolded(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .split_ascii_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn other_header<'m>(msg: &'m Message, name: &str) -> Option<&'m [u8]> {
    msg.headers().get(&HeaderName::from_bytes(name.as_bytes()))
}

fn decoded(s: Option<&str>) -> Option<String> {
    s.map(|s| percent_decode(s).into_owned())
}

fn method_is(c: &Check, msg: &Message, method: &str) {
    c.eq(
        "method",
        request(msg).map(|r| r.method.as_str()),
        Some(method),
    );
    let cseq = c.get("CSeq", msg.headers().cseq());
    c.eq(
        "CSeq method",
        cseq.as_ref().map(|s| s.method.as_str()),
        Some(method),
    );
}

fn request_uri_is_opaque(c: &Check, msg: &Message, uri: &str) {
    // RFC 3261 §19.1.6 / RFC 4475 §3.3.2-3: the parser keeps it; the app answers 416.
    let r = request(msg);
    c.eq(
        "Request-URI scheme",
        r.map(|r| r.uri.scheme()),
        Some(Scheme::Other),
    );
    c.eq("Request-URI", r.map(|r| r.uri.as_str()), Some(uri));
}

fn wsinv(c: &Check, msg: &Message) {
    let h = msg.headers();
    method_is(c, msg, "INVITE");
    let r = request(msg);
    c.eq(
        "Request-URI user",
        r.and_then(|r| r.uri.user()),
        Some("vivekg"),
    );
    c.eq(
        "Request-URI host",
        r.map(|r| r.uri.host()),
        Some(Host::Name("chair-dnrc.example.com")),
    );
    c.eq(
        "Request-URI param unknownparam",
        r.and_then(|r| r.uri.param("unknownparam")),
        Some(None),
    );
    c.eq("Call-ID", h.call_id().ok(), Some("wsinv.ndaksdj@192.0.2.1"));
    c.eq("Max-Forwards (0068)", h.max_forwards().ok(), Some(68));
    c.eq("CSeq number (0009)", h.cseq().ok().map(|s| s.seq), Some(9));
    let to = c.get("To", h.to());
    c.eq("To tag", to.and_then(|a| a.tag()), Some("1918181833n"));
    c.eq(
        "To URI",
        to.map(|a| a.uri.as_str()),
        Some("sip:vivekg@chair-dnrc.example.com"),
    );
    let from = c.get("From", h.from());
    c.eq("From tag", from.and_then(|a| a.tag()), Some("98asjd8"));
    c.eq(
        "From display name, unescaped",
        from.and_then(|a| a.display_name)
            .map(|d| unescape_quoted(d).into_owned()),
        Some("J Rosenberg \\\"".to_owned()),
    );
    let vias: Vec<_> = c
        .vias(msg)
        .iter()
        .map(|v| (v.transport, v.host, v.branch()))
        .collect();
    c.eq(
        "Vias (folded, LWS around '/', comma-separated)",
        vias,
        vec![
            (
                "UDP",
                Host::Ipv4(Ipv4Addr::new(192, 0, 2, 2)),
                Some("390skdjuw"),
            ),
            (
                "TCP",
                Host::Name("spindle.example.com"),
                Some("z9hG4bK9ikj8"),
            ),
            (
                "UDP",
                Host::Ipv4(Ipv4Addr::new(192, 168, 255, 111)),
                Some("z9hG4bK30239"),
            ),
        ],
    );
    c.eq(
        "Subject (s :) is empty",
        h.get(&HeaderName::Subject).map(unfolded),
        Some(String::new()),
    );
    c.eq(
        "NewFangledHeader unfolded",
        other_header(msg, "NewFangledHeader").map(unfolded),
        Some("newfangled value continued newfangled value".to_owned()),
    );
    c.eq(
        "UnknownHeaderWithUnusualValue",
        other_header(msg, "UnknownHeaderWithUnusualValue").map(unfolded),
        Some(";;,,;;,;".to_owned()),
    );
    let routes: Vec<_> = h
        .routes()
        .filter_map(Result::ok)
        .map(|a| a.uri.as_str())
        .collect();
    c.eq(
        "Route",
        routes,
        vec!["sip:services.example.com;lr;unknownwith=value;unknown-no-value"],
    );
    let contacts = c.contacts(msg);
    c.eq("Contact count", contacts.len(), 1);
    if let Some(m) = contacts.first() {
        c.eq(
            "Contact display name, unescaped",
            m.display_name.map(|d| unescape_quoted(d).into_owned()),
            Some("Quoted string \"\"".to_owned()),
        );
        c.eq(
            "Contact newparam",
            m.param("newparam"),
            Some(Some("newvalue")),
        );
        c.eq("Contact secondparam", m.param("secondparam"), Some(None));
        c.eq("Contact q", m.q(), Some(330));
    }
    c.eq("Content-Length", h.content_length().ok(), Some(Some(150)));
    c.eq("body length", msg.body().len(), 150);
}

fn intmeth(c: &Check, msg: &Message) {
    const METHOD: &str = "!interesting-Method0123456789_*+`.%indeed'~";
    let h = msg.headers();
    method_is(c, msg, METHOD);
    c.ok(
        "method is an extension method",
        request(msg).is_some_and(|r| matches!(r.method, Method::Extension(_))),
    );
    c.eq(
        "CSeq number",
        h.cseq().ok().map(|s| s.seq),
        Some(139_122_385),
    );
    let r = request(msg);
    c.eq(
        "Request-URI user",
        r.and_then(|r| r.uri.user()),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"),
    );
    c.eq(
        "Request-URI password",
        r.and_then(|r| r.uri.password()),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"),
    );
    c.eq(
        "Request-URI host",
        r.map(|r| r.uri.host()),
        Some(Host::Name("example.com")),
    );
    c.eq(
        "Via branch",
        c.top_via(msg).and_then(|v| v.branch()),
        Some("z9hG4bK-.!%66*_+`'~"),
    );
    c.eq("Max-Forwards", h.max_forwards().ok(), Some(255));
    c.eq(
        "Call-ID",
        h.call_id().ok(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"),
    );
    let to = c.get("To", h.to());
    c.eq(
        "To display name with quoted BEL, NUL, DEL",
        to.and_then(|a| a.display_name)
            .map(|d| unescape_quoted(d).into_owned()),
        Some("BEL:\u{7} NUL:\u{0} DEL:\u{7f}".to_owned()),
    );
    let from = c.get("From", h.from());
    c.eq(
        "From display name (tokens)",
        from.and_then(|a| a.display_name),
        Some("token1~` token2'+_ token3*%!.-"),
    );
    c.eq(
        "From tag",
        from.and_then(|a| a.tag()),
        Some("_token~1'+`*%!-."),
    );
    c.eq(
        "From UTF-8 param",
        from.and_then(|a| a.param("fromParam''~+*_!.-%")),
        Some(Some("работающий")),
    );
    c.eq(
        "extensionHeader-!.%*+_`'~ value (BOM + UTF-8)",
        other_header(msg, "extensionHeader-!.%*+_`'~"),
        Some("\u{feff}大停電".as_bytes()),
    );
}

fn esc01(c: &Check, msg: &Message) {
    let r = request(msg);
    c.eq(
        "Request-URI user, raw",
        r.and_then(|r| r.uri.user()),
        Some("sips%3Auser%40example.com"),
    );
    c.eq(
        "Request-URI user, unescaped",
        decoded(r.and_then(|r| r.uri.user())),
        Some("sips:user@example.com".into()),
    );
    c.eq(
        "Request-URI host",
        r.map(|r| r.uri.host()),
        Some(Host::Name("example.net")),
    );
    let to = msg.headers().to().ok();
    c.eq(
        "To user, unescaped",
        decoded(to.and_then(|a| a.uri.user())),
        Some("user".into()),
    );
    let from = msg.headers().from().ok();
    c.eq(
        "From user, unescaped",
        decoded(from.and_then(|a| a.uri.user())),
        Some("I have spaces".into()),
    );
    let contact = c.contacts(msg).into_iter().next();
    c.eq(
        "Contact user, unescaped",
        decoded(contact.and_then(|a| a.uri.user())),
        Some("caller".into()),
    );
    let params: Vec<(String, Option<String>)> = contact
        .map(|a| {
            a.uri
                .params()
                .iter()
                .map(|(n, v)| (percent_decode(n).into_owned(), decoded(v)))
                .collect()
        })
        .unwrap_or_default();
    c.eq(
        "Contact uri-params, unescaped once (value%41, not valueA)",
        params,
        vec![
            ("lr".into(), None),
            ("name".into(), Some("value%41".into())),
        ],
    );
    c.eq("body length", msg.body().len(), 150);
}

fn escnull(c: &Check, msg: &Message) {
    method_is(c, msg, "REGISTER");
    let to = msg.headers().to().ok();
    c.eq(
        "To user, unescaped",
        decoded(to.and_then(|a| a.uri.user())),
        Some("null-\0-null".into()),
    );
    let users: Vec<_> = c
        .contacts(msg)
        .iter()
        .map(|a| decoded(a.uri.user()))
        .collect();
    c.eq(
        "Contact users, unescaped",
        users,
        vec![Some("\0".into()), Some("\0\0".into())],
    );
}

fn esc02(c: &Check, msg: &Message) {
    method_is(c, msg, "RE%47IST%45R");
    c.ok(
        "RE%47IST%45R is not REGISTER",
        request(msg).is_some_and(|r| r.method != Method::Register),
    );
    let to = msg.headers().to().ok();
    c.eq(
        "To display name",
        to.and_then(|a| a.display_name),
        Some("%Z%45"),
    );
    c.eq(
        "Via branch",
        c.top_via(msg).and_then(|v| v.branch()),
        Some("z9hG4bK209%fzsnel234"),
    );
    let contacts: Vec<_> = c.contacts(msg).iter().map(|a| a.uri.as_str()).collect();
    c.eq(
        "Contacts (C%6Fntact is another header)",
        contacts,
        vec![
            "sip:alias1@host1.example.com",
            "sip:alias3@host3.example.com",
        ],
    );
    c.ok(
        "C%6Fntact kept as an unknown header",
        other_header(msg, "C%6Fntact").is_some(),
    );
}

fn lwsdisp(c: &Check, msg: &Message) {
    let from = c.get("From", msg.headers().from());
    c.eq(
        "From display name",
        from.and_then(|a| a.display_name),
        Some("caller"),
    );
    c.eq(
        "From URI",
        from.map(|a| a.uri.as_str()),
        Some("sip:caller@example.com"),
    );
    c.eq("From tag", from.and_then(|a| a.tag()), Some("323"));
}

fn longreq(c: &Check, msg: &Message) {
    let h = msg.headers();
    let to = c.get("To", h.to());
    let display = format!("I have a user name of {} proportion", "extreme".repeat(10));
    c.eq(
        "To display name",
        to.and_then(|a| a.display_name).map(str::to_owned),
        Some(display),
    );
    c.eq("To URI port", to.and_then(|a| a.uri.port()), Some(6000));
    let long_value = format!("very{}value", "long".repeat(20));
    c.eq(
        "To unknownparam1",
        to.and_then(|a| a.uri.param("unknownparam1")),
        Some(Some(long_value.as_str())),
    );
    let long_name = format!("longparam{}", "name".repeat(25));
    c.eq(
        "To long param name",
        to.and_then(|a| a.uri.param(&long_name)),
        Some(Some("shortvalue")),
    );
    let flag = format!("very{}ParameterNameWithNoValue", "long".repeat(25));
    c.eq(
        "To valueless param",
        to.and_then(|a| a.uri.param(&flag)),
        Some(None),
    );
    let from = c.get("From", h.from());
    let user = "amazinglylongcallername".repeat(5);
    c.eq(
        "From user",
        from.and_then(|a| a.uri.user()),
        Some(user.as_str()),
    );
    let tag = format!("12{}424", "982".repeat(50));
    c.eq(
        "From tag (156 chars)",
        from.and_then(|a| a.tag()),
        Some(tag.as_str()),
    );
    let pname = format!("unknownheaderparam{}", "name".repeat(20));
    let pvalue = format!("unknowheaderparam{}", "value".repeat(15));
    c.eq(
        "From long param",
        from.and_then(|a| a.param(&pname)),
        Some(Some(pvalue.as_str())),
    );
    let call_id = format!("longreq.one{}longcallid", "really".repeat(20));
    c.eq("Call-ID", h.call_id().ok(), Some(call_id.as_str()));
    let vias = c.vias(msg);
    c.eq("Via count", vias.len(), 34);
    c.eq(
        "first Via host",
        vias.first().map(|v| v.host),
        Some(Host::Name("sip33.example.com")),
    );
    let branch = format!("very{}branchvalue", "long".repeat(50));
    c.eq(
        "last Via branch",
        vias.last().and_then(|v| v.branch()),
        Some(branch.as_str()),
    );
    c.eq(
        "last Via received",
        vias.last().and_then(|v| v.received()),
        Some("192.0.2.5"),
    );
    let header = format!("Unknown-{}-Name", "Long".repeat(20));
    let value = format!(
        "unknown-{l}-value; unknown-{l}-parameter-name = unknown-{l}-parameter-value",
        l = "long".repeat(20)
    );
    c.eq(
        "long unknown header",
        other_header(msg, &header).map(unfolded),
        Some(value),
    );
    let contact = c.contacts(msg).into_iter().next();
    c.eq(
        "Contact user",
        contact.and_then(|a| a.uri.user()),
        Some(user.as_str()),
    );
    c.eq("body length", msg.body().len(), 150);
}

fn dblreq(c: &Check, msg: &Message) {
    method_is(c, msg, "REGISTER");
    c.eq(
        "Call-ID",
        msg.headers().call_id().ok(),
        Some("dblreq.0ha0isndaksdj99sdfafnl3lk233412"),
    );
    c.eq(
        "body (the trailing INVITE is ignored)",
        msg.body().as_ref(),
        b"".as_slice(),
    );
}

fn semiuri(c: &Check, msg: &Message) {
    let r = request(msg);
    c.eq(
        "Request-URI user, raw",
        r.and_then(|r| r.uri.user()),
        Some("user;par=u%40example.net"),
    );
    c.eq(
        "Request-URI user, unescaped",
        decoded(r.and_then(|r| r.uri.user())),
        Some("user;par=u@example.net".into()),
    );
    c.eq(
        "Request-URI host",
        r.map(|r| r.uri.host()),
        Some(Host::Name("example.com")),
    );
    c.eq(
        "Request-URI has no uri-param par",
        r.and_then(|r| r.uri.param("par")),
        None,
    );
}

fn transports(c: &Check, msg: &Message) {
    let vias: Vec<_> = c.vias(msg).iter().map(|v| (v.transport, v.host)).collect();
    c.eq(
        "Via transports",
        vias,
        vec![
            ("UDP", Host::Name("t1.example.com")),
            ("SCTP", Host::Name("t2.example.com")),
            ("TLS", Host::Name("t3.example.com")),
            ("UNKNOWN", Host::Name("t4.example.com")),
            ("TCP", Host::Name("t5.example.com")),
        ],
    );
}

fn mpart01(c: &Check, msg: &Message) {
    method_is(c, msg, "MESSAGE");
    c.eq("body length", msg.body().len(), 553);
    c.ok("body keeps its NUL octets", msg.body().contains(&0));
    c.ok(
        "body ends with the closing boundary",
        msg.body().ends_with(b"--7a9cbec02ceef655--\r\n"),
    );
    let ct = msg.headers().content_type().ok().flatten();
    c.ok(
        "Content-Type multipart/mixed",
        ct.is_some_and(|t| t.is("multipart", "mixed")),
    );
    c.eq(
        "boundary",
        ct.and_then(|t| t.params.value("boundary")),
        Some("7a9cbec02ceef655"),
    );
    let via = c.top_via(msg);
    c.eq("Via port", via.and_then(|v| v.port), Some(5070));
    c.eq("Via rport", via.and_then(|v| v.rport()), Some(None));
}

fn unreason(c: &Check, msg: &Message) {
    let r = response(msg);
    c.eq("status", r.map(|r| r.status.0), Some(200));
    let reason = "= 2**3 * 5**2 но сто девяносто девять - простое";
    c.eq(
        "reason phrase",
        r.map(|r| r.reason.as_ref()),
        Some(reason.as_bytes()),
    );
    c.eq("body length", msg.body().len(), 154);
}

fn noreason(c: &Check, msg: &Message) {
    let r = response(msg);
    c.eq("status", r.map(|r| r.status.0), Some(100));
    c.eq(
        "reason phrase",
        r.map(|r| r.reason.as_ref()),
        Some(b"".as_slice()),
    );
}

fn unksm2(c: &Check, msg: &Message) {
    let h = msg.headers();
    let to = c.get("To", h.to());
    c.eq(
        "To URI",
        to.map(|a| (a.uri.scheme(), a.uri.as_str())),
        Some((Scheme::Other, "isbn:2983792873")),
    );
    let from = c.get("From", h.from());
    c.eq(
        "From URI",
        from.map(|a| (a.uri.scheme(), a.uri.as_str())),
        Some((Scheme::Other, "http://www.example.com")),
    );
    let contact = c.contacts(msg).into_iter().next();
    c.eq(
        "Contact URI",
        contact.map(|a| (a.uri.scheme(), a.uri.as_str())),
        Some((Scheme::Other, "name:John_Smith")),
    );
}

fn inv2543(c: &Check, msg: &Message) {
    let h = msg.headers();
    c.eq(
        "Content-Length (absent)",
        h.content_length().ok(),
        Some(None),
    );
    c.eq("body = rest of the datagram", msg.body().len(), 105);
    c.eq(
        "Via branch (absent)",
        c.top_via(msg).map(|v| v.branch()),
        Some(None),
    );
    c.eq(
        "From tag (absent)",
        h.from().ok().map(|a| a.tag()),
        Some(None),
    );
    c.ok("no Max-Forwards", !h.contains(&HeaderName::MaxForwards));
}
