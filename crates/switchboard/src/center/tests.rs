//! The contact center driven by hand: flows, queueing, ringing agents.
#![allow(clippy::unwrap_used)]

use super::*;

const FLOW: &str = r#"
id = 1
name = "Main line"
entry = "menu"

[[nodes]]
id = "menu"
type = "menu"
prompts = ["menu"]
options = { "1" = "sales", "2" = "support" }
timeout = 5
retries = 1
fallback = "sales"

[[nodes]]
id = "sales"
type = "enqueue"
queue = "sales"

[[nodes]]
id = "support"
type = "enqueue"
queue = "support"
"#;

const CONFIG: &str = r#"
flows_dir = "flows"

[tenants.contoso]
queues = [
  { name = "sales", alert_secs = 15 },
  { name = "support", strategy = "longest_idle", alert_secs = 15 },
]

[[tenants.contoso.agents]]
name = "adele"
number = "+14255550123"
object_id = "00000000-0000-4000-8000-000000000001"
queues = ["support"]

[[tenants.contoso.agents]]
name = "megan"
number = "+14255550124"
object_id = "00000000-0000-4000-8000-000000000002"
queues = ["support"]
"#;

pub(super) struct Setup {
    pub(super) center: Center,
    pub(super) now: Instant,
    _dir: std::path::PathBuf,
}

pub(super) fn setup(test: &str) -> Setup {
    let dir =
        std::env::temp_dir().join(format!("switchboard-center-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("flows/contoso")).unwrap();
    std::fs::write(dir.join("flows/contoso/main.toml"), FLOW).unwrap();
    let tenants = BTreeMap::from([(
        "contoso".to_owned(),
        "5b8e4b5c-0000-4000-8000-00000000c0de".to_owned(),
    )]);
    let config = CenterConfig::from_value(toml::from_str(CONFIG).unwrap(), &tenants, &dir).unwrap();
    let now = Instant::now();
    let center = Center::new(&config, &["menu".to_owned()], now).unwrap();
    Setup {
        center,
        now,
        _dir: dir,
    }
}

/// Loads `flows` (file name, text) next to the main flow and starts the
/// center again from CONFIG.
fn reload_with(s: &mut Setup, flows: &[(&str, &str)]) {
    for (name, text) in flows {
        std::fs::write(s._dir.join("flows/contoso").join(name), text).unwrap();
    }
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let config =
        CenterConfig::from_value(toml::from_str(CONFIG).unwrap(), &tenants, &s._dir).unwrap();
    s.center = Center::new(&config, &["menu".to_owned()], s.now).unwrap();
}

pub(super) fn actions(center: &mut Center) -> Vec<Action> {
    std::iter::from_fn(|| center.poll_action()).collect()
}

pub(super) fn events(center: &mut Center) -> Vec<acd::EventKind> {
    std::iter::from_fn(|| center.poll_event())
        .map(|e| e.kind)
        .collect()
}

/// A call to `main` that pressed 2: queued for support; returns the
/// first Dial.
pub(super) fn queued_for_support(s: &mut Setup, call: CallId) -> Action {
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "main",
        BTreeMap::new(),
    );
    let played = actions(&mut s.center);
    let [Action::Play {
        request, prompts, ..
    }] = played.as_slice()
    else {
        panic!("{played:?}");
    };
    assert_eq!(prompts, &["menu".to_owned()]);
    s.center.handle_prompt_finished(s.now, call, *request);
    s.center.handle_digit(s.now, (call, LegId(1)), '2');
    let queued = actions(&mut s.center);
    assert!(
        matches!(queued[0], Action::Hold { call: c } if c == call),
        "{queued:?}"
    );
    let dial = queued[1].clone();
    assert!(matches!(dial, Action::Dial { .. }), "{queued:?}");
    dial
}

/// Lets every agent rung for `call` not answer (the rings run out or are
/// cancelled), from `from`, `step` at a time for at most `steps` steps,
/// until an action satisfies `until`. Returns the time then and the
/// actions other than rings, in order.
pub(super) fn nobody_answers(
    s: &mut Setup,
    call: CallId,
    from: Instant,
    step: Duration,
    steps: u32,
    until: impl Fn(&Action) -> bool,
) -> (Instant, Vec<Action>) {
    let mut leg = 1000 + call.0 * 100;
    let mut at = from;
    let mut others = Vec::new();
    for n in 0..=steps {
        if n > 0 {
            at += step;
            s.center.handle_timeout(at);
        }
        let mut pending: VecDeque<Action> = actions(&mut s.center).into();
        while let Some(action) = pending.pop_front() {
            match action {
                Action::Dial {
                    interaction, agent, ..
                } => {
                    s.center
                        .handle_dialled(at, call, interaction, agent, Ok(LegId(leg)));
                    leg += 1;
                }
                Action::CancelDial { leg, .. } => {
                    s.center.handle_dial_failed(at, leg, StatusCode(487))
                }
                other => {
                    let stop = until(&other);
                    others.push(other);
                    if stop {
                        return (at, others);
                    }
                }
            }
            pending.extend(actions(&mut s.center));
        }
    }
    (at, others)
}

#[test]
fn a_caller_pressing_2_rings_a_support_agent_and_is_connected() {
    let mut s = setup("connect");
    let call = CallId(7);
    let Action::Dial {
        interaction,
        agent,
        number,
        ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    assert!(["+14255550123", "+14255550124"].contains(&number.as_str()));
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(LegId(100)));
    s.center.handle_dial_answered(s.now, call, LegId(100));
    assert_eq!(actions(&mut s.center), [Action::StopPlay { call }]);
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Answered { .. })),
        "{log:?}"
    );
    // The agent hangs up: the interaction completes.
    s.center.handle_call_ended(s.now, call, false);
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Completed { .. })),
        "{log:?}"
    );
    assert!(!s.center.has_call(call));
    // The call's path through the flow: menu, then support.
    let path: Vec<String> = std::iter::from_fn(|| s.center.poll_flow_event())
        .filter_map(|(c, e)| match e.kind {
            acd::FlowEventKind::NodeEntered { node } if c == call => Some(node),
            _ => None,
        })
        .collect();
    assert_eq!(path, ["menu", "support"]);
}

#[test]
fn an_agent_who_does_not_answer_is_followed_by_the_next() {
    let mut s = setup("next");
    let call = CallId(8);
    let Action::Dial {
        interaction,
        agent: first,
        number: first_number,
        ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, first, Ok(LegId(200)));
    s.center
        .handle_dial_failed(s.now, LegId(200), StatusCode(480));
    let next = actions(&mut s.center);
    let [Action::Dial { agent, number, .. }] = next.as_slice() else {
        panic!("{next:?}");
    };
    assert_ne!(*agent, first);
    assert_ne!(*number, first_number);
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::RingNoAnswer { .. })),
        "{log:?}"
    );
}

#[test]
fn the_alert_time_cancels_the_ring_and_a_hang_up_abandons() {
    let mut s = setup("abandon");
    let call = CallId(9);
    let Action::Dial {
        interaction, agent, ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(LegId(300)));
    // 15 s of ringing: the engine gives up on this agent.
    let later = s.now + Duration::from_secs(16);
    assert!(s.center.poll_timeout().is_some_and(|at| at <= later));
    s.center.handle_timeout(later);
    let after = actions(&mut s.center);
    assert!(
        after.contains(&Action::CancelDial {
            call,
            leg: LegId(300)
        }),
        "{after:?}"
    );
    // Its 487 is not a second failure.
    s.center
        .handle_dial_failed(later, LegId(300), StatusCode(487));
    // The caller hangs up while waiting: an abandon.
    s.center.handle_call_ended(later, call, true);
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Abandoned { .. })),
        "{log:?}"
    );
}

#[test]
fn unknown_flows_and_bad_configs_are_refused() {
    let mut s = setup("unknown");
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (CallId(1), LegId(1)),
        "contoso",
        "nope",
        BTreeMap::new(),
    );
    assert_eq!(actions(&mut s.center), [Action::HangUp { call: CallId(1) }]);
    assert_eq!(s.center.stats().unknown_flow, 1);

    let tenants = BTreeMap::new();
    let error = CenterConfig::from_value(toml::from_str(CONFIG).unwrap(), &tenants, Path::new("."))
        .unwrap_err();
    assert!(error.to_string().contains("[tenants.contoso]"), "{error}");
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let bad = CONFIG.replace("alert_secs = 15 }", "alert_secs = 5 }");
    let error = CenterConfig::from_value(toml::from_str(&bad).unwrap(), &tenants, Path::new("."))
        .unwrap_err();
    assert!(error.to_string().contains("alert_secs"), "{error}");
}

const CRM_FLOW: &str = r#"
id = 2
name = "CRM line"
entry = "crm"

[[nodes]]
id = "crm"
type = "http_lookup"
url = "http://127.0.0.1:9/lookup"
send = ["caller"]
timeout = 2
prefix = "crm_"
next = "vip"
failure = "sales"

[[nodes]]
id = "vip"
type = "branch"
cases = [{ attribute = "crm_tier", equals = "gold", next = "support" }]
default = "sales"

[[nodes]]
id = "sales"
type = "enqueue"
queue = "sales"

[[nodes]]
id = "support"
type = "enqueue"
queue = "support"
"#;

/// A call to the CRM flow: the lookup it asks for.
fn crm_call(s: &mut Setup, call: CallId) -> RequestId {
    reload_with(s, &[("crm.toml", CRM_FLOW)]);
    let attributes = BTreeMap::from([("caller".to_owned(), "+12065550199".to_owned())]);
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "crm",
        attributes,
    );
    let asked = actions(&mut s.center);
    let [Action::Http {
        request, url, body, ..
    }] = asked.as_slice()
    else {
        panic!("{asked:?}");
    };
    assert_eq!(url, "http://127.0.0.1:9/lookup");
    assert_eq!(body["caller"], "+12065550199");
    *request
}

#[test]
fn a_crm_answer_routes_the_call_and_a_failure_takes_the_failure_branch() {
    let mut s = setup("crm");
    let call = CallId(20);
    let request = crm_call(&mut s, call);
    let answer = serde_json::json!({ "tier": "gold" });
    let serde_json::Value::Object(answer) = answer else {
        unreachable!()
    };
    s.center
        .handle_http_result(s.now, call, request, Ok(answer));
    let queued = actions(&mut s.center);
    assert!(matches!(queued[0], Action::Hold { .. }), "{queued:?}");
    let log = events(&mut s.center);
    let support = QueueId::new(TenantId::new(1), 2);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Queued { queue, .. } if *queue == support)),
        "gold goes to support: {log:?}"
    );

    let other = CallId(21);
    let request = crm_call(&mut s, other);
    let failure = acd::HttpFailure::Status(500);
    s.center
        .handle_http_result(s.now, other, request, Err(failure));
    actions(&mut s.center);
    let log = events(&mut s.center);
    let sales = QueueId::new(TenantId::new(1), 1);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Queued { queue, .. } if *queue == sales)),
        "a failed lookup goes to sales: {log:?}"
    );
}

#[test]
fn a_flow_transfers_to_a_teams_user_by_object_id_and_to_a_number() {
    let mut s = setup("transfer");
    let flow = r#"
id = 3
name = "Operator"
entry = "op"

[[nodes]]
id = "op"
type = "transfer"
teams_user = "00000000-0000-4000-8000-000000000001"
"#;
    let number_flow = flow.replace("id = 3", "id = 4").replace(
        "teams_user = \"00000000-0000-4000-8000-000000000001\"",
        "number = \"+18005550100\"",
    );
    reload_with(
        &mut s,
        &[("operator.toml", flow), ("outside.toml", &number_flow)],
    );

    let call = CallId(30);
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "operator",
        BTreeMap::new(),
    );
    let adele = E164::parse("+14255550123").unwrap();
    assert_eq!(
        actions(&mut s.center),
        [Action::Transfer {
            call,
            target: DialTarget::TeamsUser(adele)
        }]
    );
    s.center.handle_transfer_dialled(call, Ok(LegId(40)));
    s.center.handle_dial_answered(s.now, call, LegId(40));
    assert_eq!(actions(&mut s.center), [Action::StopPlay { call }]);
    let facts: Vec<Fact> = std::iter::from_fn(|| s.center.poll_fact())
        .map(|f| f.fact)
        .collect();
    assert!(
        facts.contains(&Fact::Transferred {
            target: "teams:+14255550123".to_owned()
        }),
        "{facts:?}"
    );

    let other = CallId(31);
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (other, LegId(1)),
        "contoso",
        "outside",
        BTreeMap::new(),
    );
    let number = E164::parse("+18005550100").unwrap();
    assert_eq!(
        actions(&mut s.center),
        [Action::Transfer {
            call: other,
            target: DialTarget::Pstn(number)
        }]
    );
    // The far end never answers: the call ends.
    s.center.handle_transfer_dialled(other, Ok(LegId(41)));
    s.center
        .handle_dial_failed(s.now, LegId(41), StatusCode(480));
    assert_eq!(actions(&mut s.center), [Action::HangUp { call: other }]);
}

#[test]
fn a_call_that_waits_too_long_overflows_to_another_queue() {
    let mut s = setup("overflow");
    let with_overflow = CONFIG.replace(
        "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15 }",
        "{ name = \"support\", alert_secs = 15, max_wait_secs = 40, overflow = { queue = \"sales\" } }",
    );
    assert_ne!(with_overflow, CONFIG);
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let config =
        CenterConfig::from_value(toml::from_str(&with_overflow).unwrap(), &tenants, &s._dir)
            .unwrap();
    s.center = Center::new(&config, &["menu".to_owned()], s.now).unwrap();
    let call = CallId(50);
    let Action::Dial {
        interaction, agent, ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(LegId(60)));
    // Nobody answers; every 15 s the next agent is tried, until 40 s.
    let start = s.now;
    let (_, after) = nobody_answers(&mut s, call, start, Duration::from_secs(5), 12, |_| false);
    // The engine moved the call; it stays on hold, nobody hangs up.
    assert!(
        !after.iter().any(|a| matches!(a, Action::HangUp { .. })),
        "{after:?}"
    );
    let log = events(&mut s.center);
    let sales = QueueId::new(TenantId::new(1), 1);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Overflowed { .. })),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Queued { queue, .. } if *queue == sales)),
        "{log:?}"
    );
}

#[test]
fn queue_overflow_settings_are_checked() {
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    for (bad, why) in [
        (
            "overflow = { queue = \"nowhere\" }",
            "unknown or same queue",
        ),
        ("overflow = { number = \"555\" }", "not E.164"),
        ("overflow = { agent = \"nobody\" }", "unknown agent"),
    ] {
        let text = CONFIG.replace(
            "{ name = \"sales\", alert_secs = 15 }",
            &format!("{{ name = \"sales\", alert_secs = 15, {bad} }}"),
        );
        let error =
            CenterConfig::from_value(toml::from_str(&text).unwrap(), &tenants, Path::new("."))
                .unwrap_err();
        assert!(format!("{error:#}").contains(why), "{bad}: {error:#}");
    }
}

/// CONFIG where support needs French (level 3 or more) and Megan speaks
/// it well; Adele only a little.
const SKILLED: &str = r#"
flows_dir = "flows"

[tenants.contoso]
skills = ["french", "billing"]
queues = [
  { name = "sales", alert_secs = 15 },
  { name = "support", alert_secs = 15, requires = { french = 3 }, tier_wait_secs = 20,
    bullseye = [{ after_secs = 60, lower_by = 2 }], aging = { points_per_minute = 2, max_bonus = 10 },
    no_agents = { action = { voicemail = "support" }, all_calls = true } },
]

[[tenants.contoso.agents]]
name = "adele"
number = "+14255550123"
object_id = "00000000-0000-4000-8000-000000000001"
queues = ["support"]
skills = { french = 1 }

[[tenants.contoso.agents]]
name = "megan"
number = "+14255550124"
object_id = "00000000-0000-4000-8000-000000000002"
queues = [{ queue = "support", level = 2, position = 1, weight = 5 }, "sales"]
skills = { french = 4, billing = 2 }
max_no_answer = 5
"#;

#[test]
fn skills_tiers_and_bullseye_come_from_the_configuration() {
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let config =
        CenterConfig::from_value(toml::from_str(SKILLED).unwrap(), &tenants, Path::new("."))
            .unwrap();
    let support = &config.engine.queues[1];
    assert_eq!(
        support.requirements,
        [acd::SkillRequirement {
            skill: acd::SkillId(1),
            min: acd::Proficiency::new(3).unwrap()
        }]
    );
    assert_eq!(support.tier_wait, Duration::from_secs(20));
    assert_eq!(support.bullseye[0].after, Duration::from_secs(60));
    assert_eq!(support.aging.max_bonus, 10);
    assert!(support.no_agents.is_some());
    let megan = &config.engine.agents[1];
    assert_eq!(megan.skills.len(), 2);
    assert_eq!((megan.queues[0].level, megan.queues[0].weight), (2, 5));
    assert_eq!(megan.max_no_answer, 5);
    for (bad, why) in [
        ("requires = { french = 3 }", "requires = { german = 3 }"),
        ("skills = { french = 1 }", "skills = { french = 9 }"),
        ("weight = 5", "weight = 0"),
    ] {
        let text = SKILLED.replace(bad, why);
        assert_ne!(text, SKILLED);
        let error =
            CenterConfig::from_value(toml::from_str(&text).unwrap(), &tenants, Path::new("."))
                .unwrap_err();
        let error = format!("{error:#}");
        assert!(
            ["unknown skill", "not 1-5", "start at 1"]
                .iter()
                .any(|w| error.contains(w)),
            "{why}: {error}"
        );
    }
}

#[test]
fn a_call_needing_french_rings_the_agent_who_speaks_it() {
    let mut s = setup("skills");
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    // Megan is a tier-2 member: she takes calls at once without a tier
    // wait (after 20 s with the configured one).
    let text = SKILLED.replace("tier_wait_secs = 20", "tier_wait_secs = 0");
    let config =
        CenterConfig::from_value(toml::from_str(&text).unwrap(), &tenants, &s._dir).unwrap();
    s.center = Center::new(&config, &["menu".to_owned()], s.now).unwrap();
    let Action::Dial { number, .. } = queued_for_support(&mut s, CallId(5)) else {
        unreachable!()
    };
    // Adele is idle longer, but her French is below the queue's minimum.
    assert_eq!(number.as_str(), "+14255550124");
}

#[test]
fn a_caller_sent_back_by_an_agent_starts_the_flow_again() {
    let mut s = setup("back");
    let call = CallId(70);
    let Action::Dial {
        interaction, agent, ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(LegId(80)));
    s.center.handle_dial_answered(s.now, call, LegId(80));
    actions(&mut s.center);
    events(&mut s.center);
    while s.center.poll_fact().is_some() {}
    // The agent REFERs the caller to the flow's number.
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "main",
        BTreeMap::new(),
    );
    let again = actions(&mut s.center);
    assert!(
        matches!(again[0], Action::Play { .. }),
        "the menu again: {again:?}"
    );
    let log = events(&mut s.center);
    assert!(
        log.iter().any(|e| matches!(
            e,
            acd::EventKind::Completed {
                reason: acd::EndReason::Transferred,
                ..
            }
        )),
        "{log:?}"
    );
    let facts: Vec<Fact> = std::iter::from_fn(|| s.center.poll_fact())
        .map(|f| f.fact)
        .collect();
    assert!(
        facts.contains(&Fact::Transferred {
            target: "flow:main".to_owned()
        }),
        "{facts:?}"
    );
    assert!(
        !facts.iter().any(|f| matches!(f, Fact::Started { .. })),
        "one call, one start"
    );
}

#[test]
fn a_voicemail_node_takes_a_message_then_the_call_ends() {
    let mut s = setup("voicemail");
    let flow = r#"
id = 5
name = "After hours"
entry = "vm"

[[nodes]]
id = "vm"
type = "voicemail"
mailbox = "support"
prompts = ["menu"]
"#;
    reload_with(&mut s, &[("closed.toml", flow)]);
    let call = CallId(90);
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "closed",
        BTreeMap::new(),
    );
    assert_eq!(
        actions(&mut s.center),
        [Action::Voicemail {
            call,
            mailbox: "support".to_owned(),
            prompts: vec!["menu".to_owned()],
        }]
    );
    s.center.handle_voicemail_done(s.now, call);
    assert_eq!(actions(&mut s.center), [Action::HangUp { call }]);
    let facts: Vec<Fact> = std::iter::from_fn(|| s.center.poll_fact())
        .map(|f| f.fact)
        .collect();
    assert!(
        facts.contains(&Fact::Transferred {
            target: "voicemail:support".to_owned()
        }),
        "{facts:?}"
    );
}

/// CONFIG with support overflowing to a callback offer after 20 s.
fn callback_setup(test: &str) -> Setup {
    let mut s = setup(test);
    let with_callback = CONFIG.replace(
        "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15 }",
        "{ name = \"support\", alert_secs = 15, max_wait_secs = 20, overflow = \"callback\", \
         callback = { attempts = 2, retry_secs = 60, offer_secs = 10 } }",
    );
    assert_ne!(with_callback, CONFIG);
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let config =
        CenterConfig::from_value(toml::from_str(&with_callback).unwrap(), &tenants, &s._dir)
            .unwrap();
    s.center = Center::new(&config, &["menu".to_owned()], s.now).unwrap();
    s
}

/// A caller from `number` presses 2, nobody answers for 20 s, the
/// callback is offered; returns the time then.
fn offered_a_callback(s: &mut Setup, call: CallId, number: &str, start: Instant) -> Instant {
    let attributes = BTreeMap::from([("caller".to_owned(), number.to_owned())]);
    s.center.handle_call_started(
        start,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "main",
        attributes,
    );
    let Some(Action::Play { request, .. }) = actions(&mut s.center).pop() else {
        panic!("no menu");
    };
    s.center.handle_prompt_finished(start, call, request);
    s.center.handle_digit(start, (call, LegId(1)), '2');
    let offer =
        |a: &Action| matches!(a, Action::Play { prompts, .. } if prompts == &["callback-offer"]);
    let (at, seen) = nobody_answers(s, call, start, Duration::from_secs(1), 30, offer);
    assert!(
        seen.last().is_some_and(offer),
        "no callback offer: {seen:?}"
    );
    at
}

#[test]
fn a_caller_keeps_their_place_with_a_callback_and_is_called_back() {
    let mut s = callback_setup("callback");
    let call = CallId(70);
    let at = {
        let start = s.now;
        offered_a_callback(&mut s, call, "+15551230000", start)
    };
    // The offer ends: music again; "1" accepts.
    s.center.handle_prompt_finished(at, call, None);
    assert_eq!(actions(&mut s.center), [Action::Hold { call }]);
    s.center.handle_digit(at, (call, LegId(1)), '1');
    let confirmed = actions(&mut s.center);
    assert!(
        confirmed.iter().any(
            |a| matches!(a, Action::Play { prompts, .. } if prompts == &["callback-confirmed"])
        ),
        "{confirmed:?}"
    );
    let log = events(&mut s.center);
    let Some(callback) = log.iter().find_map(|e| match e {
        acd::EventKind::CallbackRequested { callback, .. } => Some(*callback),
        _ => None,
    }) else {
        panic!("{log:?}")
    };
    s.center.handle_prompt_finished(at, call, None);
    assert_eq!(actions(&mut s.center), [Action::HangUp { call }]);
    s.center.handle_call_ended(at, call, false);

    // An agent is free: switchboard rings them on a call of its own,
    // showing the customer's number.
    let mut later = at;
    let originate = loop {
        later += Duration::from_secs(1);
        s.center.handle_timeout(later);
        if let Some(found) = actions(&mut s.center)
            .into_iter()
            .find(|a| matches!(a, Action::Originate { .. }))
        {
            break found;
        }
        assert!(
            later < at + Duration::from_secs(120),
            "callback never dispatched"
        );
    };
    let Action::Originate {
        tenant,
        interaction,
        agent,
        caller_id,
        ..
    } = originate
    else {
        unreachable!()
    };
    assert_eq!((tenant.as_str(), interaction), ("contoso", callback));
    assert_eq!(caller_id.as_str(), "+15551230000");
    let (back, agent_leg) = (CallId(90), LegId(91));
    s.center
        .handle_originated(later, interaction, agent, Ok((back, agent_leg)));
    // The agent answers: on hold while the customer is dialled.
    s.center.handle_dial_answered(later, back, agent_leg);
    let dialling = actions(&mut s.center);
    assert!(
        dialling.contains(&Action::Hold { call: back }),
        "{dialling:?}"
    );
    let number = dialling.iter().find_map(|a| match a {
        Action::DialCustomer { number, .. } => Some(number.as_str().to_owned()),
        _ => None,
    });
    assert_eq!(number.as_deref(), Some("+15551230000"), "{dialling:?}");
    s.center
        .handle_customer_dialled(later, back, interaction, Ok(LegId(92)));
    s.center.handle_dial_answered(later, back, LegId(92));
    assert_eq!(actions(&mut s.center), [Action::StopPlay { call: back }]);
    let log = events(&mut s.center);
    assert!(
        log.iter().any(|e| matches!(
            e,
            acd::EventKind::CallbackAttempted {
                reached: true,
                attempt: 1,
                ..
            }
        )),
        "{log:?}"
    );
    // The customer hangs up (the second leg: not "the caller").
    s.center.handle_call_ended(later, back, false);
    let facts: Vec<Fact> = std::iter::from_fn(|| s.center.poll_fact())
        .filter(|f| f.call == back)
        .map(|f| f.fact)
        .collect();
    assert!(
        facts.contains(&Fact::Ended {
            by_caller: true,
            connected: true
        }),
        "{facts:?}"
    );
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::Completed { .. })),
        "{log:?}"
    );
}

#[test]
fn an_unreached_customer_is_tried_again_and_a_lapsed_offer_ends_the_call() {
    let mut s = callback_setup("callback-retry");
    let call = CallId(71);
    let at = {
        let start = s.now;
        offered_a_callback(&mut s, call, "+15551230001", start)
    };
    s.center.handle_digit(at, (call, LegId(1)), '1');
    s.center.handle_call_ended(at, call, false);
    let mut later = at;
    let mut originated = 0;
    let mut next_call = 100;
    while later < at + Duration::from_secs(200) {
        later += Duration::from_secs(1);
        s.center.handle_timeout(later);
        for action in actions(&mut s.center) {
            match action {
                Action::Originate {
                    interaction, agent, ..
                } => {
                    originated += 1;
                    let (back, leg) = (CallId(next_call), LegId(next_call + 1));
                    next_call += 10;
                    s.center
                        .handle_originated(later, interaction, agent, Ok((back, leg)));
                    s.center.handle_dial_answered(later, back, leg);
                }
                Action::DialCustomer {
                    call, interaction, ..
                } => {
                    let leg = LegId(call.0 + 2);
                    s.center
                        .handle_customer_dialled(later, call, interaction, Ok(leg));
                    // Busy.
                    s.center.handle_dial_failed(later, leg, StatusCode(486));
                }
                Action::HangUp { call } => s.center.handle_call_ended(later, call, false),
                _ => {}
            }
        }
    }
    // Two attempts (the queue's), a minute apart, then it is given up.
    assert_eq!(originated, 2);
    let log = events(&mut s.center);
    assert!(
        log.iter()
            .any(|e| matches!(e, acd::EventKind::CallbackFailed { attempts: 2, .. })),
        "{log:?}"
    );

    // A caller who lets the offer lapse hears goodbye and the call ends.
    let quiet = CallId(72);
    let at = offered_a_callback(&mut s, quiet, "+15551230002", later);
    s.center.handle_timeout(at + Duration::from_secs(11));
    let lapsed = actions(&mut s.center);
    assert!(
        lapsed
            .iter()
            .any(|a| matches!(a, Action::Play { prompts, .. } if prompts == &["goodbye"])),
        "{lapsed:?}"
    );
    s.center
        .handle_prompt_finished(at + Duration::from_secs(12), quiet, None);
    assert_eq!(actions(&mut s.center), [Action::HangUp { call: quiet }]);
}

#[test]
fn an_overflow_can_say_goodbye_with_a_prompt_and_unknown_prompts_are_refused() {
    let mut s = setup("goodbye");
    let tenants = BTreeMap::from([("contoso".to_owned(), "t".to_owned())]);
    let with = |prompt: &str| {
        CONFIG.replace(
            "{ name = \"support\", strategy = \"longest_idle\", alert_secs = 15 }",
            &format!(
                "{{ name = \"support\", alert_secs = 15, max_wait_secs = 20, \
                 overflow = {{ disconnect_with = \"{prompt}\" }} }}"
            ),
        )
    };
    let bad = CenterConfig::from_value(toml::from_str(&with("nope")).unwrap(), &tenants, &s._dir)
        .unwrap();
    let error = Center::new(&bad, &["menu".to_owned()], s.now).unwrap_err();
    assert!(format!("{error:#}").contains("no prompt nope"), "{error:#}");
    let config =
        CenterConfig::from_value(toml::from_str(&with("menu")).unwrap(), &tenants, &s._dir)
            .unwrap();
    s.center = Center::new(&config, &["menu".to_owned()], s.now).unwrap();
    let call = CallId(60);
    let Action::Dial {
        interaction, agent, ..
    } = queued_for_support(&mut s, call)
    else {
        unreachable!()
    };
    s.center
        .handle_dialled(s.now, call, interaction, agent, Ok(LegId(61)));
    let start = s.now;
    let play = |a: &Action| matches!(a, Action::Play { .. });
    let (at, seen) = nobody_answers(&mut s, call, start, Duration::from_secs(1), 40, play);
    let goodbye = seen.into_iter().rev().find_map(|a| match a {
        Action::Play { prompts, .. } => Some(prompts),
        _ => None,
    });
    assert_eq!(goodbye, Some(vec!["menu".to_owned()]));
    s.center.handle_prompt_finished(at, call, None);
    assert_eq!(actions(&mut s.center), [Action::HangUp { call }]);
}

#[test]
fn only_the_callers_key_presses_choose_in_its_menu() {
    let mut s = setup("digits-by-leg");
    let call = CallId(9);
    s.center.handle_call_started(
        s.now,
        SystemTime::now(),
        (call, LegId(1)),
        "contoso",
        "main",
        BTreeMap::new(),
    );
    let Some(Action::Play { request, .. }) = actions(&mut s.center).pop() else {
        panic!("no menu");
    };
    s.center.handle_prompt_finished(s.now, call, request);
    // An agent's or an added party's "2", on its own leg, chooses nothing.
    for other in [LegId(2), LegId(7)] {
        s.center.handle_digit(s.now, (call, other), '2');
        assert_eq!(actions(&mut s.center), [], "from {other:?}");
    }
    s.center.handle_digit(s.now, (call, LegId(1)), '2');
    let queued = actions(&mut s.center);
    assert!(
        matches!(queued[0], Action::Hold { call: c } if c == call),
        "{queued:?}"
    );
}

#[test]
fn an_agents_key_press_does_not_accept_the_callers_callback_offer() {
    let mut s = callback_setup("callback-other-leg");
    let call = CallId(72);
    let at = {
        let start = s.now;
        offered_a_callback(&mut s, call, "+15551230002", start)
    };
    // A "1" from any leg but the caller's (an agent's INFO) is not taken.
    s.center.handle_digit(at, (call, LegId(500)), '1');
    assert_eq!(actions(&mut s.center), []);
    assert!(!events(&mut s.center)
        .iter()
        .any(|e| matches!(e, acd::EventKind::CallbackRequested { .. })));
    s.center.handle_digit(at, (call, LegId(1)), '1');
    let confirmed = actions(&mut s.center);
    assert!(
        confirmed.iter().any(
            |a| matches!(a, Action::Play { prompts, .. } if prompts == &["callback-confirmed"])
        ),
        "{confirmed:?}"
    );
}
