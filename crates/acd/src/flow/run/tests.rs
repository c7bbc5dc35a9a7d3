#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;
use crate::config::SkillRequirement;
use crate::flow::command::TransferTarget;
use crate::flow::tests::TENANT;
use crate::flow::tests::{load, monday_utc, playback, prompt, Call};
use crate::ids::{Proficiency, QueueId, SkillId};

fn play(prompts: &[&str], barge_in: bool) -> FlowCommand {
    FlowCommand::PlayPrompts {
        id: RequestId(0),
        prompts: prompts.iter().map(|p| prompt(p)).collect(),
        barge_in,
    }
}

/// `commands` with request ids zeroed, to compare with [`play`].
fn plain(commands: Vec<FlowCommand>) -> Vec<FlowCommand> {
    commands
        .into_iter()
        .map(|c| match c {
            FlowCommand::PlayPrompts {
                prompts, barge_in, ..
            } => FlowCommand::PlayPrompts {
                id: RequestId(0),
                prompts,
                barge_in,
            },
            FlowCommand::StopPrompts { .. } => FlowCommand::StopPrompts { id: RequestId(0) },
            other => other,
        })
        .collect()
}

fn stop() -> FlowCommand {
    FlowCommand::StopPrompts { id: RequestId(0) }
}

fn hangup(name: &str) -> FlowCommand {
    FlowCommand::Hangup {
        prompt: Some(prompt(name)),
    }
}

fn set(name: &str, value: &str) -> FlowCommand {
    FlowCommand::SetAttribute {
        name: name.into(),
        value: value.into(),
    }
}

fn start(text: &str) -> Call {
    start_with(text, &[])
}

fn start_with(text: &str, attributes: &[(&str, &str)]) -> Call {
    Call::start(load(text).unwrap(), monday_utc(10, 0), attributes)
}

const PLAY: &str = r#"id = 1
entry = "start"
max_prompt_time = 60

[[nodes]]
id = "start"
type = "play"
prompts = ["welcome", "greeting"]
next = "skip"

[[nodes]]
id = "skip"
type = "play"
prompts = ["welcome"]
barge_in = true
next = "bye"

[[nodes]]
id = "bye"
type = "hangup"
prompt = "goodbye"
"#;

#[test]
fn play_waits_for_its_own_report() {
    let mut call = start(PLAY);
    let first = call.drain();
    assert_eq!(
        plain(first.clone()),
        [play(&["welcome", "greeting"], false)]
    );
    assert_eq!(call.run.current_node(), Some("start"));
    // Digits do not interrupt a prompt without barge-in.
    call.press("1#");
    assert!(call.drain().is_empty());
    // A report for another playback is ignored.
    call.finish_prompt(RequestId(99));
    assert_eq!(call.run.current_node(), Some("start"));
    call.finish_prompt(playback(&first));
    let second = call.drain();
    assert_eq!(plain(second.clone()), [play(&["welcome"], true)]);
    // The stale report of the first playback changes nothing.
    call.finish_prompt(playback(&first));
    assert_eq!(call.run.current_node(), Some("skip"));
    // A digit barges in: the playback stops and the flow moves on.
    call.press("5");
    assert_eq!(
        call.drain(),
        [
            FlowCommand::StopPrompts {
                id: playback(&second)
            },
            hangup("goodbye")
        ]
    );
    assert!(call.run.is_finished());
    assert_eq!(call.run.poll_timeout(), None);
    assert_eq!(call.run.current_node(), None);
}

#[test]
fn a_playback_never_reported_ends_at_max_prompt_time() {
    let mut call = start(PLAY);
    let first = playback(&call.drain());
    assert_eq!(
        call.run.poll_timeout(),
        Some(call.now + Duration::from_secs(60))
    );
    call.advance(59.0);
    assert!(call.drain().is_empty());
    call.advance(1.0);
    let commands = call.drain();
    assert_eq!(commands[0], FlowCommand::StopPrompts { id: first });
    assert_eq!(plain(commands)[1], play(&["welcome"], true));
}

const MENU: &str = r#"id = 1
entry = "start"

[[nodes]]
id = "start"
type = "menu"
prompts = ["menu"]
options = { "1" = "sales", "2" = "support", "*" = "bye" }
timeout = 4
retries = 2
invalid_prompts = ["invalid"]
timeout_prompts = ["no-input"]
fallback = "operator"

[[nodes]]
id = "sales"
type = "enqueue"
queue = "sales"

[[nodes]]
id = "support"
type = "enqueue"
queue = "support"

[[nodes]]
id = "operator"
type = "transfer"
teams_user = "reception@contoso.example"

[[nodes]]
id = "bye"
type = "hangup"
"#;

fn enqueued(commands: &[FlowCommand]) -> Option<QueueId> {
    commands.iter().find_map(|c| match c {
        FlowCommand::Enqueue { queue, .. } => Some(*queue),
        _ => None,
    })
}

#[test]
fn menu_option_after_the_prompt() {
    let mut call = start(MENU);
    let commands = call.drain();
    assert_eq!(
        plain(commands.clone()),
        [
            FlowCommand::CollectDigits {
                max_digits: 1,
                terminator: None
            },
            play(&["menu"], true)
        ]
    );
    call.finish_prompt(playback(&commands));
    assert_eq!(
        call.run.poll_timeout(),
        Some(call.now + Duration::from_secs(4))
    );
    call.advance(3.0);
    call.press("2");
    assert_eq!(enqueued(&call.drain()), Some(QueueId::new(TENANT, 2)));
    assert!(call.run.is_finished());
}

#[test]
fn menu_barge_in_during_the_prompt() {
    let mut call = start(MENU);
    call.drain();
    call.press("*");
    assert_eq!(
        plain(call.drain()),
        [stop(), FlowCommand::Hangup { prompt: None }]
    );
}

#[test]
fn menu_invalid_input_and_timeouts_retry_then_fall_back() {
    let mut call = start(MENU);
    call.finish_played();
    // Attempt 1: a wrong key.
    call.press("7");
    let invalid = call.drain();
    assert_eq!(plain(invalid.clone()), [play(&["invalid"], false)]);
    // Digits during the notice are dropped.
    call.press("1");
    assert!(call.drain().is_empty());
    call.finish_prompt(playback(&invalid));
    let again = call.drain();
    assert_eq!(plain(again.clone()), [play(&["menu"], true)]);
    call.finish_prompt(playback(&again));
    // Attempt 2: nothing.
    call.advance(4.0);
    let notice = call.drain();
    assert_eq!(plain(notice.clone()), [play(&["no-input"], false)]);
    call.finish_prompt(playback(&notice));
    call.finish_played();
    // Attempt 3 (the last of 1 + 2 retries): nothing again.
    call.advance(4.0);
    assert_eq!(
        call.drain(),
        [FlowCommand::Transfer {
            target: TransferTarget::TeamsUser("reception@contoso.example".into())
        }]
    );
    assert!(call.run.is_finished());
}

#[test]
fn menu_without_barge_in_or_notices() {
    let text = MENU
        .replace("invalid_prompts = [\"invalid\"]\n", "barge_in = false\n")
        .replace("timeout_prompts = [\"no-input\"]\n", "")
        .replace("retries = 2", "retries = 1");
    let mut call = start(&text);
    let first = call.drain();
    call.press("1");
    assert!(call.drain().is_empty());
    call.finish_prompt(playback(&first));
    // No notice: the menu is asked again at once.
    call.press("9");
    let again = call.drain();
    assert_eq!(plain(again.clone()), [play(&["menu"], false)]);
    call.finish_prompt(playback(&again));
    call.press("9");
    assert!(matches!(call.drain()[..], [FlowCommand::Transfer { .. }]));
}

const COLLECT: &str = r##"id = 1
entry = "start"

[[nodes]]
id = "start"
type = "collect"
prompts = ["enter-account"]
attribute = "account"
min_length = 4
max_length = 6
pattern = "[1-9][0-9]*"
terminator = "#"
timeout = 5
inter_digit_timeout = 2
retries = 1
invalid_prompts = ["invalid"]
next = "done"
fallback = "bye"

[[nodes]]
id = "done"
type = "hangup"
prompt = "goodbye"

[[nodes]]
id = "bye"
type = "hangup"
"##;

/// A collection that has played its prompt.
fn collecting() -> Call {
    let mut call = start(COLLECT);
    let commands = call.drain();
    assert_eq!(
        commands[0],
        FlowCommand::CollectDigits {
            max_digits: 6,
            terminator: Some('#')
        }
    );
    call.finish_prompt(playback(&commands));
    call
}

#[test]
fn collect_ends_at_the_terminator() {
    let mut call = collecting();
    call.press("1234#");
    assert_eq!(call.drain(), [set("account", "1234"), hangup("goodbye")]);
    assert_eq!(call.run.attributes()["account"], "1234");
}

#[test]
fn collect_ends_at_max_length() {
    let mut call = collecting();
    call.press("123456");
    assert_eq!(call.drain(), [set("account", "123456"), hangup("goodbye")]);
}

#[test]
fn collect_ends_when_the_inter_digit_wait_ends() {
    let mut call = collecting();
    call.advance(4.9);
    call.press("98765");
    assert_eq!(
        call.run.poll_timeout(),
        Some(call.now + Duration::from_secs(2))
    );
    call.advance(1.5);
    assert!(call.drain().is_empty());
    call.advance(0.5);
    assert_eq!(call.drain(), [set("account", "98765"), hangup("goodbye")]);
}

#[test]
fn collect_barge_in_keeps_the_first_digit() {
    let mut call = start(COLLECT);
    let commands = call.drain();
    call.press("4");
    assert_eq!(
        call.drain(),
        [FlowCommand::StopPrompts {
            id: playback(&commands)
        }]
    );
    call.press("321#");
    assert_eq!(call.drain(), [set("account", "4321"), hangup("goodbye")]);
}

#[test]
fn collect_rejects_short_or_unmatched_input_then_falls_back() {
    let mut call = collecting();
    // Too short.
    call.press("12#");
    let notice = call.drain();
    assert_eq!(plain(notice.clone()), [play(&["invalid"], false)]);
    call.finish_prompt(playback(&notice));
    let again = call.drain();
    // The tone subscription is not repeated for a retry.
    assert_eq!(plain(again.clone()), [play(&["enter-account"], true)]);
    call.finish_prompt(playback(&again));
    // The pattern wants no leading 0; the retry was the last one.
    call.press("0123#");
    assert_eq!(call.drain(), [FlowCommand::Hangup { prompt: None }]);
    assert!(!call.run.attributes().contains_key("account"));
}

#[test]
fn collect_without_input_times_out() {
    let mut call = collecting();
    call.advance(5.0);
    let notice = call.drain();
    // No timeout_prompts: the invalid-input notice serves.
    assert_eq!(plain(notice.clone()), [play(&["invalid"], false)]);
    call.finish_prompt(playback(&notice));
    call.finish_played();
    call.press("#");
    assert_eq!(call.drain(), [FlowCommand::Hangup { prompt: None }]);
}

const LOOKUP: &str = r#"id = 1
entry = "start"

[[nodes]]
id = "start"
type = "http_lookup"
url = "https://crm.example/lookup"
send = ["account", "missing"]
timeout = 2
prefix = "crm_"
next = "done"
failure = "failed"

[[nodes]]
id = "done"
type = "hangup"
prompt = "goodbye"

[[nodes]]
id = "failed"
type = "hangup"
"#;

fn lookup(call: &mut Call) -> RequestId {
    match call.drain().as_slice() {
        [FlowCommand::HttpLookup {
            id,
            url,
            body,
            timeout,
        }] => {
            assert_eq!(url, "https://crm.example/lookup");
            assert_eq!(*timeout, Duration::from_secs(2));
            assert_eq!(*body, serde_json::json!({"account": "42"}));
            *id
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lookup_results_become_attributes() {
    let mut call = start_with(LOOKUP, &[("account", "42"), ("caller", "+15550100")]);
    let id = lookup(&mut call);
    let serde_json::Value::Object(answer) = serde_json::json!({
        "name": "Ada", "balance": 12.5, "vip": true, "orders": [1, 2],
        "address": {"city": "London"}, "note": null, "long": "é".repeat(600)
    }) else {
        unreachable!()
    };
    // Another request's answer is ignored.
    call.run
        .handle_http_result(call.now, RequestId(id.get() + 1), Ok(answer.clone()));
    assert!(call.drain().is_empty());
    call.run.handle_http_result(call.now, id, Ok(answer));
    let commands = call.drain();
    let names: Vec<&str> = commands
        .iter()
        .filter_map(|c| match c {
            FlowCommand::SetAttribute { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["crm_balance", "crm_long", "crm_name", "crm_vip"]);
    assert_eq!(commands.last(), Some(&hangup("goodbye")));
    let attributes = call.run.attributes();
    assert_eq!(attributes["crm_balance"], "12.5");
    assert_eq!(attributes["crm_vip"], "true");
    assert_eq!(attributes["crm_long"].len(), 1024);
    assert_eq!(attributes["caller"], "+15550100");
}

#[test]
fn lookup_failure_and_timeout_take_the_failure_branch() {
    let mut call = start_with(LOOKUP, &[("account", "42")]);
    let id = lookup(&mut call);
    call.run
        .handle_http_result(call.now, id, Err(HttpFailure::Status(503)));
    assert_eq!(call.drain(), [FlowCommand::Hangup { prompt: None }]);

    let mut call = start_with(LOOKUP, &[("account", "42")]);
    let id = lookup(&mut call);
    call.press("1");
    call.advance(1.9);
    assert!(call.drain().is_empty());
    call.advance(0.1);
    assert_eq!(call.drain(), [FlowCommand::Hangup { prompt: None }]);
    // The answer that comes too late is ignored.
    call.run
        .handle_http_result(call.now, id, Ok(Default::default()));
    assert!(call.drain().is_empty());
}

#[test]
fn lookup_sends_every_attribute_without_a_list() {
    let text = LOOKUP.replace("send = [\"account\", \"missing\"]\n", "");
    let mut call = start_with(&text, &[("account", "42"), ("caller", "+15550100")]);
    let commands = call.drain();
    let [FlowCommand::HttpLookup { body, .. }] = commands.as_slice() else {
        panic!("{commands:?}");
    };
    assert_eq!(
        *body,
        serde_json::json!({"account": "42", "caller": "+15550100"})
    );
}

const BRANCH: &str = r#"id = 1
entry = "start"

[[schedules]]
id = "office"
time_zone = "Europe/Paris"
hours = { mon = ["09:00-18:00"] }
holidays = [{ date = "2026-01-19" }]

[[nodes]]
id = "start"
type = "set"
attribute = "language"
value = "fr"
next = "route"

[[nodes]]
id = "route"
type = "branch"
cases = [
  { attribute = "blocked", exists = true, next = "t_blocked" },
  { attribute = "tier", equals = "gold", next = "t_gold" },
  { attribute = "language", not_equals = "fr", next = "t_foreign" },
  { attribute = "account", matches = "^9", next = "t_nine" },
  { attribute = "balance", greater_than = 1000, next = "t_rich" },
  { attribute = "balance", less_than = 0, next = "t_debt" },
  { attribute = "age", at_least = 65, next = "t_senior" },
  { attribute = "age", at_most = 17, next = "t_minor" },
  { schedule = "office", is = "holiday", next = "t_holiday" },
  { schedule = "office", is = "closed", next = "t_closed" },
  { schedule = "office", is = "open", next = "t_open" },
]
default = "t_default"

[[nodes]]
id = "t_blocked"
type = "transfer"
number = "+15550000001"

[[nodes]]
id = "t_gold"
type = "transfer"
number = "+15550000002"

[[nodes]]
id = "t_foreign"
type = "transfer"
number = "+15550000003"

[[nodes]]
id = "t_nine"
type = "transfer"
number = "+15550000004"

[[nodes]]
id = "t_rich"
type = "transfer"
number = "+15550000005"

[[nodes]]
id = "t_debt"
type = "transfer"
number = "+15550000006"

[[nodes]]
id = "t_senior"
type = "transfer"
number = "+15550000007"

[[nodes]]
id = "t_minor"
type = "transfer"
number = "+15550000008"

[[nodes]]
id = "t_holiday"
type = "transfer"
number = "+15550000009"

[[nodes]]
id = "t_closed"
type = "transfer"
number = "+15550000010"

[[nodes]]
id = "t_open"
type = "transfer"
number = "+15550000011"

[[nodes]]
id = "t_default"
type = "transfer"
number = "+15550000012"
"#;

/// Where the branch sends a call with `attributes` at `wall`.
fn route(attributes: &[(&str, &str)], wall: std::time::SystemTime) -> String {
    let mut call = Call::start(load(BRANCH).unwrap(), wall, attributes);
    let commands = call.drain();
    assert_eq!(commands[0], set("language", "fr"));
    match &commands[1..] {
        [FlowCommand::Transfer {
            target: TransferTarget::ExternalNumber(number),
        }] => number[number.len() - 2..].to_owned(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn branch_conditions_on_attributes() {
    let open = monday_utc(10, 0);
    assert_eq!(route(&[("blocked", "")], open), "01");
    assert_eq!(route(&[("tier", "gold")], open), "02");
    assert_eq!(route(&[("tier", "silver")], open), "11");
    assert_eq!(route(&[("account", "9123")], open), "04");
    assert_eq!(route(&[("account", "1923")], open), "11");
    assert_eq!(route(&[("balance", "1000.5")], open), "05");
    assert_eq!(route(&[("balance", "1000")], open), "11");
    assert_eq!(route(&[("balance", "-3")], open), "06");
    assert_eq!(route(&[("balance", "lots")], open), "11");
    assert_eq!(route(&[("age", "65")], open), "07");
    assert_eq!(route(&[("age", "17")], open), "08");
    assert_eq!(route(&[("age", "18")], open), "11");
}

#[test]
fn branch_conditions_on_the_schedule() {
    // 10:00 UTC = 11:00 in Paris; 17:30 UTC = 18:30.
    assert_eq!(route(&[], monday_utc(10, 0)), "11");
    assert_eq!(route(&[], monday_utc(17, 30)), "10");
    // Sunday: no hours.
    assert_eq!(
        route(&[], monday_utc(10, 0) - Duration::from_secs(86_400)),
        "10"
    );
    // The next Monday is a holiday.
    assert_eq!(
        route(&[], monday_utc(10, 0) + Duration::from_secs(7 * 86_400)),
        "09"
    );
}

#[test]
fn the_schedule_is_judged_when_the_branch_is_reached() {
    let text = r#"id = 1
entry = "start"

[[schedules]]
id = "office"
time_zone = "UTC"
hours = { mon = ["09:00-10:00"] }

[[nodes]]
id = "start"
type = "play"
prompts = ["welcome"]
next = "route"

[[nodes]]
id = "route"
type = "branch"
cases = [{ schedule = "office", is = "open", next = "open" }]
default = "closed"

[[nodes]]
id = "open"
type = "hangup"
prompt = "welcome"

[[nodes]]
id = "closed"
type = "hangup"
prompt = "closed"
"#;
    // The call starts at 09:59:30 UTC; the greeting lasts a minute.
    let mut call = Call::start(
        load(text).unwrap(),
        monday_utc(9, 59) + Duration::from_secs(30),
        &[],
    );
    let greeting = playback(&call.drain());
    call.now += Duration::from_secs(60);
    call.finish_prompt(greeting);
    assert_eq!(call.drain(), [hangup("closed")]);
}

const ENQUEUE: &str = r#"id = 1
entry = "start"

[[nodes]]
id = "start"
type = "enqueue"
queue = "billing"
priority = 3
priority_attribute = "crm_priority"
skills = [{ skill = 4, min = 2 }, { skill = 9, min = 5 }]
"#;

fn enqueue_with(attributes: &[(&str, &str)]) -> (QueueId, u8, crate::CallAttributes) {
    let mut call = start_with(ENQUEUE, attributes);
    let commands = call.drain();
    assert!(call.run.is_finished());
    match commands.as_slice() {
        [FlowCommand::Enqueue {
            queue,
            priority,
            attributes,
        }] => (*queue, priority.0, attributes.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn enqueue_carries_queue_priority_skills_and_attributes() {
    let (queue, priority, attributes) = enqueue_with(&[("caller", "+15550100")]);
    assert_eq!(queue, QueueId::new(TENANT, 3));
    assert_eq!(priority, 3);
    assert_eq!(
        attributes.skills,
        [
            SkillRequirement {
                skill: SkillId(4),
                min: Proficiency::new(2).unwrap()
            },
            SkillRequirement {
                skill: SkillId(9),
                min: Proficiency::MAX
            }
        ]
    );
    assert_eq!(attributes.values["caller"], "+15550100");
    assert_eq!(enqueue_with(&[("crm_priority", " 9 ")]).1, 9);
    assert_eq!(enqueue_with(&[("crm_priority", "900")]).1, 255);
    assert_eq!(enqueue_with(&[("crm_priority", "-2")]).1, 0);
    assert_eq!(enqueue_with(&[("crm_priority", "high")]).1, 3);
}

#[test]
fn transfer_voicemail_and_hangup_end_the_run() {
    let targets = [
        (
            "teams_user = \"ada@contoso.example\"",
            TransferTarget::TeamsUser("ada@contoso.example".into()),
        ),
        (
            "queue = \"sales\"",
            TransferTarget::Queue(QueueId::new(TENANT, 1)),
        ),
        (
            "number = \"+442079460000\"",
            TransferTarget::ExternalNumber("+442079460000".into()),
        ),
    ];
    for (field, target) in targets {
        let text =
            format!("id = 1\nentry = \"t\"\n[[nodes]]\nid = \"t\"\ntype = \"transfer\"\n{field}\n");
        let mut call = start(&text);
        assert_eq!(call.drain(), [FlowCommand::Transfer { target }]);
        assert!(call.run.is_finished());
    }
    let text = "id = 1\nentry = \"vm\"\n[[nodes]]\nid = \"vm\"\ntype = \"voicemail\"\nmailbox = \"sales@contoso.example\"\nprompts = [\"closed\"]\n";
    let mut call = start(text);
    let commands = call.drain();
    assert_eq!(
        commands,
        [FlowCommand::Voicemail {
            mailbox: "sales@contoso.example".into(),
            prompts: vec![prompt("closed")]
        }]
    );
    assert!(commands[0].is_final());
    assert!(call.run.is_finished());
}

#[test]
fn inputs_after_the_end_are_ignored() {
    let mut call = start(MENU);
    let menu = playback(&call.drain());
    call.run.handle_hangup(call.now);
    assert!(call.run.is_finished());
    assert_eq!(call.run.poll_timeout(), None);
    call.press("1");
    call.finish_prompt(menu);
    call.advance(100.0);
    call.run
        .handle_http_result(call.now, menu, Ok(Default::default()));
    assert!(call.drain().is_empty());
}

#[test]
fn non_dtmf_characters_are_ignored() {
    let mut call = start(MENU);
    call.finish_played();
    call.press("x");
    call.run.handle_digit(call.now, 'é');
    assert!(call.drain().is_empty());
    assert_eq!(call.run.current_node(), Some("start"));
}

#[test]
fn time_never_runs_backwards() {
    let mut call = start(MENU);
    call.finish_played();
    let deadline = call.run.poll_timeout().unwrap();
    // An old `now` counts as the latest seen: nothing fires early or late.
    call.run.handle_timeout(call.now - Duration::from_secs(1));
    assert_eq!(call.run.poll_timeout(), Some(deadline));
    call.run.handle_timeout(deadline);
    assert_eq!(plain(call.drain()), [play(&["no-input"], false)]);
}

// ----- the event log -----

fn events(call: &mut Call) -> Vec<FlowEventKind> {
    std::iter::from_fn(|| call.run.poll_event())
        .map(|event| {
            assert!(event.at <= call.now);
            event.kind
        })
        .collect()
}

fn entered(node: &str) -> FlowEventKind {
    FlowEventKind::NodeEntered { node: node.into() }
}

#[test]
fn a_run_logs_its_nodes_its_failed_inputs_and_its_end() {
    let mut call = start(MENU);
    call.finish_played();
    call.press("7");
    call.finish_played();
    call.finish_played();
    call.advance(4.0);
    call.finish_played();
    call.finish_played();
    call.press("2");
    assert_eq!(
        events(&mut call),
        [
            entered("start"),
            FlowEventKind::InvalidInput {
                node: "start".into(),
                attempt: 0
            },
            FlowEventKind::NoInput {
                node: "start".into(),
                attempt: 1
            },
            entered("support"),
            FlowEventKind::Ended {
                node: Some("support".into()),
                caller_hung_up: false
            },
        ]
    );
    // Nothing more once drained and finished.
    call.run.handle_hangup(call.now);
    assert!(events(&mut call).is_empty());
}

#[test]
fn a_lookup_and_a_hangup_are_logged_without_values() {
    let mut call = start_with(LOOKUP, &[("account", "42")]);
    let id = lookup(&mut call);
    call.run
        .handle_http_result(call.now, id, Err(HttpFailure::Timeout));
    assert_eq!(
        events(&mut call),
        [
            entered("start"),
            FlowEventKind::LookupEnded {
                node: "start".into(),
                answered: false
            },
            entered("failed"),
            FlowEventKind::Ended {
                node: Some("failed".into()),
                caller_hung_up: false
            },
        ]
    );

    let mut call = start(MENU);
    call.finish_played();
    call.run.handle_hangup(call.now);
    assert_eq!(
        events(&mut call),
        [
            entered("start"),
            FlowEventKind::Ended {
                node: Some("start".into()),
                caller_hung_up: true
            },
        ]
    );
}

#[test]
fn undrained_events_keep_only_the_latest() {
    // A caller who goes round a menu by pressing 9, a second per round.
    let text = MENU.replace(r#""*" = "bye""#, r#""*" = "bye", "9" = "start""#);
    let mut call = start(&text);
    let begin = call.now;
    for _ in 0..300 {
        call.finish_played();
        call.advance(1.0);
        call.press("9");
    }
    let kept: Vec<FlowEvent> = std::iter::from_fn(|| call.run.poll_event()).collect();
    assert_eq!(kept.len(), 256);
    assert!(kept.iter().all(|event| event.kind == entered("start")));
    // The first 45 rounds (and the start) were dropped.
    assert_eq!(kept[0].at, begin + Duration::from_secs(45));
    assert_eq!(kept[255].at, call.now);
}
