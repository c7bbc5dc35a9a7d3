#![allow(clippy::unwrap_used)]

use super::*;
use crate::flow::tests::{catalog, load, TENANT};

/// A flow whose entry is `start`, with `nodes` (TOML) after the header.
fn flow(nodes: &str) -> String {
    format!("id = 7\nname = \"test\"\nentry = \"start\"\n\n{nodes}")
}

/// The problems of a flow, as (node, reason); every one must name the
/// file.
fn problems(text: &str) -> Vec<(Option<String>, FlowErrorKind)> {
    let errors = load(text).unwrap_err();
    for error in &errors {
        assert_eq!(error.file, "test.toml", "{error}");
    }
    errors.into_iter().map(|e| (e.node, e.reason)).collect()
}

fn at(node: &str, reason: FlowErrorKind) -> (Option<String>, FlowErrorKind) {
    (Some(node.to_owned()), reason)
}

const HANGUP: &str = "[[nodes]]\nid = \"bye\"\ntype = \"hangup\"\n";

#[test]
fn a_minimal_flow_loads() {
    let flow = load(&flow(
        "[[nodes]]\nid = \"start\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n\n[[nodes]]\nid = \"bye\"\ntype = \"hangup\"\nprompt = \"goodbye\"\n",
    ))
    .unwrap();
    assert_eq!(flow.id(), FlowId::new(TENANT, 7));
    assert_eq!(flow.name(), "test");
    assert_eq!(flow.file(), "test.toml");
    assert_eq!(flow.node_ids().collect::<Vec<_>>(), ["start", "bye"]);
}

#[test]
fn syntax_errors_name_the_file() {
    let errors = problems("id = 1\nentry = \n");
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(&errors[0], (None, FlowErrorKind::Syntax(why)) if why.contains("line 2")),
        "{errors:?}"
    );
    let (set, errors) = FlowSet::from_sources(&catalog(), &[("broken.json", "{\"id\": 1,")]);
    assert!(set.is_empty());
    assert_eq!(errors[0].file, "broken.json");
    assert!(matches!(errors[0].reason, FlowErrorKind::Syntax(_)));
}

#[test]
fn unknown_extensions_are_refused() {
    let (_, errors) = FlowSet::from_sources(&catalog(), &[("flow.yaml", "id: 1")]);
    assert_eq!(
        errors,
        [FlowError {
            file: "flow.yaml".into(),
            node: None,
            reason: FlowErrorKind::UnsupportedFormat
        }]
    );
}

#[test]
fn shape_errors_name_the_node() {
    let errors = problems(&flow(&format!(
        "[[nodes]]\nid = \"start\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\nvolume = 11\n\n\
         [[nodes]]\nid = \"odd\"\ntype = \"dance\"\n\n\
         [[nodes]]\nid = \"typed\"\ntype = \"menu\"\nprompts = \"menu\"\nfallback = \"bye\"\n\n\
         [[nodes]]\ntype = \"hangup\"\n\n{HANGUP}"
    )));
    let nodes: Vec<Option<&str>> = errors.iter().map(|(n, _)| n.as_deref()).collect();
    assert_eq!(nodes, [None, Some("start"), Some("odd"), Some("typed")]);
    let reasons: Vec<String> = errors.iter().map(|(_, r)| r.to_string()).collect();
    assert!(reasons[0].contains("nodes[3]"), "{reasons:?}");
    assert!(reasons[1].contains("volume"), "{reasons:?}");
    assert!(reasons[2].contains("dance"), "{reasons:?}");
    assert!(reasons[3].contains("invalid type"), "{reasons:?}");
    assert!(errors
        .iter()
        .all(|(_, r)| matches!(r, FlowErrorKind::Shape(_))));
}

#[test]
fn a_node_that_does_not_parse_keeps_the_others_in_place() {
    // Were `bad` dropped from the node list, `start` -> `a` would point
    // at `start` itself and read as a loop.
    let errors = problems(&flow(
        "[[nodes]]\nid = \"bad\"\ntype = \"dance\"\n\n\
         [[nodes]]\nid = \"a\"\ntype = \"hangup\"\n\n\
         [[nodes]]\nid = \"start\"\ntype = \"set\"\nattribute = \"x\"\nvalue = 1\nnext = \"a\"\n",
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(&errors[0], (Some(node), FlowErrorKind::Shape(_)) if node == "bad"));
}

#[test]
fn header_shape_errors_have_no_node() {
    let errors = problems("name = \"no id\"\nentry = \"start\"\n");
    assert!(matches!(&errors[..], [(None, FlowErrorKind::Shape(why))] if why.contains("`id`")));
    let errors = problems("id = 1\nentry = \"start\"\ncolour = \"blue\"\n");
    assert!(matches!(&errors[..], [(None, FlowErrorKind::Shape(why))] if why.contains("colour")));
}

#[test]
fn a_bad_file_does_not_stop_the_others() {
    let good = flow(&format!(
        "[[nodes]]\nid = \"start\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n\n{HANGUP}"
    ));
    let other = good.replace("id = 7", "id = 8");
    let bad = good
        .replace("next = \"bye\"", "next = \"nowhere\"")
        .replace("id = 7", "id = 9");
    let json = r#"{"id": 10, "entry": "start", "nodes": [{"id": "start", "type": "hangup"}]}"#;
    let (set, errors) = FlowSet::from_sources(
        &catalog(),
        &[
            ("a.toml", good.as_str()),
            ("b.toml", bad.as_str()),
            ("c.toml", "not toml at all ="),
            ("d.toml", other.as_str()),
            ("e.json", json),
        ],
    );
    let loaded: Vec<u32> = set.iter().map(|f| f.id().local()).collect();
    assert_eq!(loaded, [7, 8, 10]);
    let files: Vec<&str> = errors.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(files, ["b.toml", "c.toml"]);
    assert_eq!(
        errors[0].to_string(),
        "b.toml: node `start`: `next` leads to node `nowhere`, which does not exist"
    );
}

#[test]
fn duplicate_flow_ids_keep_the_first_file() {
    let text = flow(&format!(
        "[[nodes]]\nid = \"start\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n\n{HANGUP}"
    ));
    let (set, errors) =
        FlowSet::from_sources(&catalog(), &[("one.toml", &text), ("two.toml", &text)]);
    assert_eq!(set.len(), 1);
    assert_eq!(set.get(FlowId::new(TENANT, 7)).unwrap().file(), "one.toml");
    assert_eq!(
        errors,
        [FlowError {
            file: "two.toml".into(),
            node: None,
            reason: FlowErrorKind::DuplicateFlow {
                id: 7,
                first_file: "one.toml".into()
            }
        }]
    );
}

#[test]
fn too_many_nodes() {
    let mut text = flow("");
    for n in 0..=MAX_NODES {
        text.push_str(&format!("[[nodes]]\nid = \"n{n}\"\ntype = \"hangup\"\n"));
    }
    assert_eq!(
        problems(&text),
        [(
            None,
            FlowErrorKind::TooManyNodes {
                count: MAX_NODES + 1,
                max: MAX_NODES
            }
        )]
    );
}

#[test]
fn the_entry_node_must_exist() {
    let errors = problems(&format!(
        "id = 1\n{}",
        HANGUP.replace("\"bye\"", "\"start\"")
    ));
    assert_eq!(errors, [(None, FlowErrorKind::MissingEntry(String::new()))]);
    let errors = problems(&flow(HANGUP));
    assert_eq!(
        errors,
        [(None, FlowErrorKind::MissingEntry("start".into()))]
    );
}

#[test]
fn duplicate_node_ids() {
    let errors = problems(&flow(
        "[[nodes]]\nid = \"start\"\ntype = \"hangup\"\n\n[[nodes]]\nid = \"start\"\ntype = \"hangup\"\n",
    ));
    assert_eq!(errors, [at("start", FlowErrorKind::DuplicateNode)]);
}

#[test]
fn every_unknown_target_is_named_with_its_field() {
    let errors = problems(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "menu"
prompts = ["menu"]
options = {{ "1" = "sales", "2" = "bye" }}
fallback = "operator"

[[nodes]]
id = "route"
type = "branch"
cases = [{{ attribute = "vip", exists = true, next = "vip" }}]
default = "regular"

[[nodes]]
id = "crm"
type = "http_lookup"
url = "https://crm.example/lookup"
next = "bye"
failure = "sorry"

{HANGUP}"#
    )));
    let unknown = |field: &str, target: &str| FlowErrorKind::UnknownTarget {
        field: field.into(),
        target: target.into(),
    };
    assert_eq!(
        errors,
        [
            at("start", unknown("options.1", "sales")),
            at("start", unknown("fallback", "operator")),
            at("route", unknown("cases[0].next", "vip")),
            at("route", unknown("default", "regular")),
            at("crm", unknown("failure", "sorry")),
        ]
    );
}

#[test]
fn queues_and_prompts_are_checked_against_the_catalog() {
    let errors = problems(&flow(
        r#"[[nodes]]
id = "start"
type = "play"
prompts = ["welcome", "jingle"]
next = "menu"

[[nodes]]
id = "menu"
type = "menu"
prompts = ["menu"]
options = { "1" = "q1", "2" = "q2", "3" = "t" }
invalid_prompts = ["oops"]
fallback = "bye"

[[nodes]]
id = "q1"
type = "enqueue"
queue = "marketing"

[[nodes]]
id = "q2"
type = "enqueue"
queue = "elsewhere"

[[nodes]]
id = "t"
type = "transfer"
queue = "legal"

[[nodes]]
id = "bye"
type = "hangup"
prompt = "farewell"
"#,
    ));
    assert_eq!(
        errors,
        [
            at("start", FlowErrorKind::UnknownPrompt("jingle".into())),
            at("menu", FlowErrorKind::UnknownPrompt("oops".into())),
            at("q1", FlowErrorKind::UnknownQueue("marketing".into())),
            at("q2", FlowErrorKind::ForeignQueue("elsewhere".into())),
            at("t", FlowErrorKind::UnknownQueue("legal".into())),
            at("bye", FlowErrorKind::UnknownPrompt("farewell".into())),
        ]
    );
}

#[test]
fn unreachable_nodes_are_errors() {
    let errors = problems(&flow(&format!(
        "[[nodes]]\nid = \"start\"\ntype = \"hangup\"\n\n[[nodes]]\nid = \"orphan\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"bye\"\n\n{HANGUP}"
    )));
    assert_eq!(
        errors,
        [
            at("orphan", FlowErrorKind::Unreachable),
            at("bye", FlowErrorKind::Unreachable)
        ]
    );
    assert_eq!(
        FlowError {
            file: "test.toml".into(),
            node: Some("orphan".into()),
            reason: FlowErrorKind::Unreachable
        }
        .to_string(),
        "test.toml: node `orphan`: no path from the entry node leads here"
    );
}

#[test]
fn loops_that_never_wait_for_the_caller_are_refused() {
    let errors = problems(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "set"
attribute = "visits"
value = 1
next = "check"

[[nodes]]
id = "check"
type = "branch"
cases = [{{ attribute = "done", exists = true, next = "bye" }}]
default = "lookup"

[[nodes]]
id = "lookup"
type = "http_lookup"
url = "http://crm.example/"
next = "start"
failure = "self"

[[nodes]]
id = "self"
type = "branch"
default = "self"

{HANGUP}"#
    )));
    assert_eq!(
        errors,
        [
            at(
                "start",
                FlowErrorKind::LoopWithoutInput(vec![
                    "start".into(),
                    "check".into(),
                    "lookup".into(),
                    "start".into()
                ])
            ),
            at(
                "self",
                FlowErrorKind::LoopWithoutInput(vec!["self".into(), "self".into()])
            ),
        ]
    );
    assert_eq!(
        errors[1].1.to_string(),
        "loop without caller input: self -> self"
    );
}

#[test]
fn a_prompt_loop_is_refused_but_a_menu_loop_is_fine() {
    let errors = problems(&flow(
        "[[nodes]]\nid = \"start\"\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"start\"\n",
    ));
    assert_eq!(
        errors,
        [at(
            "start",
            FlowErrorKind::LoopWithoutInput(vec!["start".into(), "start".into()])
        )]
    );
    load(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "menu"
prompts = ["menu"]
options = {{ "9" = "again", "0" = "bye" }}
fallback = "again"

[[nodes]]
id = "again"
type = "play"
prompts = ["welcome"]
next = "start"

{HANGUP}"#
    )))
    .unwrap();
}

#[test]
fn menus_need_options_and_prompts() {
    let errors = problems(&flow(&format!(
        "[[nodes]]\nid = \"start\"\ntype = \"menu\"\nprompts = []\nfallback = \"bye\"\n\n{HANGUP}"
    )));
    assert_eq!(
        errors,
        [
            at("start", FlowErrorKind::MenuWithoutOptions),
            at("start", FlowErrorKind::MissingPrompts("prompts")),
        ]
    );
}

#[test]
fn play_collect_and_voicemail_need_prompts() {
    let errors = problems(&flow(
        r#"[[nodes]]
id = "start"
type = "play"
prompts = []
next = "ask"

[[nodes]]
id = "ask"
type = "collect"
prompts = []
attribute = "pin"
next = "vm"
fallback = "vm"

[[nodes]]
id = "vm"
type = "voicemail"
mailbox = "team@example.com"
"#,
    ));
    assert_eq!(
        errors,
        [
            at("start", FlowErrorKind::MissingPrompts("prompts")),
            at("ask", FlowErrorKind::MissingPrompts("prompts")),
            at("vm", FlowErrorKind::MissingPrompts("prompts")),
        ]
    );
}

#[test]
fn keys_must_be_dtmf() {
    let errors = problems(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "menu"
prompts = ["menu"]
options = {{ "1" = "ask", "12" = "bye", "a" = "bye" }}
fallback = "bye"

[[nodes]]
id = "ask"
type = "collect"
prompts = ["enter-account"]
attribute = "account"
terminator = "x"
next = "bye"
fallback = "bye"

{HANGUP}"#
    )));
    assert_eq!(
        errors,
        [
            at("start", FlowErrorKind::BadDtmfKey("12".into())),
            at("start", FlowErrorKind::BadDtmfKey("a".into())),
            at("ask", FlowErrorKind::BadDtmfKey("x".into())),
        ]
    );
}

#[test]
fn bad_patterns_are_reported() {
    let errors = problems(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "collect"
prompts = ["enter-account"]
attribute = "account"
pattern = ")("
next = "route"
fallback = "bye"

[[nodes]]
id = "route"
type = "branch"
cases = [{{ attribute = "account", matches = "[0-9", next = "bye" }}]
default = "bye"

{HANGUP}"#
    )));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        matches!(&errors[0], (Some(n), FlowErrorKind::BadPattern { pattern, .. }) if n == "start" && pattern == ")(")
    );
    assert!(
        matches!(&errors[1], (Some(n), FlowErrorKind::BadPattern { pattern, .. }) if n == "route" && pattern == "[0-9")
    );
}

#[test]
fn schedule_problems_name_the_schedule() {
    let errors = problems(&flow(&format!(
        r#"[[schedules]]
id = "office"
time_zone = "Mars/Olympus_Mons"

[[schedules]]
id = "office2"
time_zone = "Europe/Paris"
hours = {{ mon = ["09:00-08:00"] }}
holidays = [{{ date = "2026-13-01" }}]

[[schedules]]
id = "office3"
time_zone = "UTC"

[[schedules]]
id = "office3"
time_zone = "UTC"

[[schedules]]
id = "office4"
time_zone = "UTC"
hours = {{ funday = ["09:00-10:00"] }}

[[nodes]]
id = "start"
type = "branch"
cases = [{{ schedule = "office", is = "open", next = "bye" }}]
default = "bye"

{HANGUP}"#
    )));
    assert_eq!(errors.len(), 6, "{errors:?}");
    assert_eq!(
        errors[0],
        (
            None,
            FlowErrorKind::UnknownTimeZone {
                schedule: "office".into(),
                zone: "Mars/Olympus_Mons".into()
            }
        )
    );
    assert_eq!(
        errors[1],
        (
            None,
            FlowErrorKind::BadHours {
                schedule: "office2".into(),
                day: "mon".into(),
                hours: "09:00-08:00".into(),
                why: "the span ends before it starts (split spans that cross midnight)"
            }
        )
    );
    assert_eq!(
        errors[2],
        (
            None,
            FlowErrorKind::BadDate {
                schedule: "office2".into(),
                date: "2026-13-01".into()
            }
        )
    );
    assert_eq!(
        errors[3],
        (None, FlowErrorKind::DuplicateSchedule("office3".into()))
    );
    assert!(
        matches!(&errors[4], (None, FlowErrorKind::Shape(why)) if why.contains("schedules[4]") && why.contains("funday"))
    );
    // The schedule that failed is unknown to the branch.
    assert_eq!(
        errors[5],
        at("start", FlowErrorKind::UnknownSchedule("office".into()))
    );
}

#[test]
fn unquoted_toml_dates_read_as_dates() {
    let flow = load(&flow(&format!(
        r#"[[schedules]]
id = "office"
time_zone = "UTC"
hours = {{ mon = ["00:00-24:00"] }}
holidays = [{{ date = 2026-01-12 }}]

[[nodes]]
id = "start"
type = "branch"
cases = [{{ schedule = "office", is = "holiday", next = "bye" }}]
default = "bye"

{HANGUP}"#
    )))
    .unwrap();
    let monday = crate::flow::tests::monday_utc(10, 0);
    assert_eq!(
        flow.schedule_state("office", monday),
        Some(crate::ScheduleState::Holiday)
    );
    assert_eq!(flow.schedule_state("nope", monday), None);
}

#[test]
fn conditions_need_exactly_one_test() {
    let errors = problems(&flow(&format!(
        r#"[[schedules]]
id = "office"
time_zone = "UTC"

[[nodes]]
id = "start"
type = "branch"
cases = [
  {{ attribute = "a", next = "bye" }},
  {{ attribute = "a", equals = 1, exists = true, next = "bye" }},
  {{ schedule = "office", next = "bye" }},
  {{ schedule = "office", is = "open", equals = "x", next = "bye" }},
  {{ attribute = "a", schedule = "office", is = "open", next = "bye" }},
  {{ next = "bye" }},
  {{ attribute = "a", less_than = 3, next = "bye" }},
]
default = "bye"

{HANGUP}"#
    )));
    let indices: Vec<usize> = errors
        .iter()
        .map(|(node, reason)| {
            assert_eq!(node.as_deref(), Some("start"));
            match reason {
                FlowErrorKind::BadCondition { index, .. } => *index,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(indices, [0, 1, 2, 3, 4, 5]);
}

#[test]
fn numbers_out_of_range() {
    let errors = problems(&format!(
        r#"id = 7
entry = "start"
max_prompt_time = -1

[[nodes]]
id = "start"
type = "menu"
prompts = ["menu"]
options = {{ "1" = "ask" }}
timeout = 0
retries = 10
fallback = "bye"

[[nodes]]
id = "ask"
type = "collect"
prompts = ["enter-account"]
attribute = "account"
min_length = 5
max_length = 4
inter_digit_timeout = 500
next = "crm"
fallback = "bye"

[[nodes]]
id = "crm"
type = "http_lookup"
url = "https://crm.example/"
timeout = 31
next = "q"
failure = "q"

[[nodes]]
id = "q"
type = "enqueue"
queue = "sales"
priority = 300
skills = [{{ skill = 1, min = 6 }}]

[[nodes]]
id = "long"
type = "collect"
prompts = ["enter-account"]
attribute = "account"
max_length = 65
next = "bye"
fallback = "bye"

{HANGUP}"#
    ));
    let found: Vec<(Option<&str>, &str, &str)> = errors
        .iter()
        .filter_map(|(node, reason)| match reason {
            FlowErrorKind::OutOfRange { field, value, .. } => {
                Some((node.as_deref(), *field, value.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        found,
        [
            (None, "max_prompt_time", "-1"),
            (Some("start"), "timeout", "0"),
            (Some("start"), "retries", "10"),
            (Some("ask"), "min_length", "5"),
            (Some("ask"), "inter_digit_timeout", "500"),
            (Some("crm"), "timeout", "31"),
            (Some("q"), "priority", "300"),
            (Some("q"), "skills.min", "6"),
            (Some("long"), "max_length", "65"),
        ]
    );
    // `long` is unreachable, too.
    assert!(errors.contains(&at("long", FlowErrorKind::Unreachable)));
    assert_eq!(errors.len(), found.len() + 1);
}

#[test]
fn urls_numbers_transfers_and_attribute_names() {
    let long = "x".repeat(65);
    let errors = problems(&flow(&format!(
        r#"[[nodes]]
id = "start"
type = "http_lookup"
url = "ftp://crm.example/"
next = "set"
failure = "t1"

[[nodes]]
id = "set"
type = "set"
attribute = "{long}"
value = true
next = "t2"

[[nodes]]
id = "t1"
type = "transfer"
number = "0612345678"

[[nodes]]
id = "t2"
type = "transfer"
number = "+33612345678"
teams_user = "ada@example.com"

[[nodes]]
id = "ask"
type = "collect"
prompts = ["enter-account"]
attribute = ""
next = "t3"
fallback = "t3"

[[nodes]]
id = "t3"
type = "transfer"
"#
    )));
    assert_eq!(
        errors,
        [
            at("start", FlowErrorKind::BadUrl("ftp://crm.example/".into())),
            at("set", FlowErrorKind::BadAttributeName(long.clone())),
            at("t1", FlowErrorKind::BadPhoneNumber("0612345678".into())),
            at("t2", FlowErrorKind::BadTransferTarget),
            at("ask", FlowErrorKind::BadAttributeName(String::new())),
            at("t3", FlowErrorKind::BadTransferTarget),
            at("ask", FlowErrorKind::Unreachable),
            at("t3", FlowErrorKind::Unreachable),
        ]
    );
}

#[test]
fn json_flows_load_like_toml() {
    let json = r##"{
        "id": 3, "entry": "start",
        "nodes": [
            {"id": "start", "type": "menu", "prompts": ["menu"], "options": {"1": "bye", "#": "bye"}, "fallback": "bye"},
            {"id": "bye", "type": "hangup", "prompt": "goodbye"}
        ]
    }"##;
    let (set, errors) = FlowSet::from_sources(&catalog(), &[("main.JSON", json)]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(set.len(), 1);
}
