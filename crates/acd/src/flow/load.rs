//! Loading flow files: parse (TOML or JSON), type every node, resolve
//! targets, queues, prompts and schedules, then check the graph. Every
//! problem of a file is reported (file, node, reason); a file with any
//! problem is left out and the others load.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use regex_lite::Regex;

use crate::config::SkillRequirement;
use crate::error::{FlowError, FlowErrorKind};
use crate::flow::command::TransferTarget;
use crate::flow::graph::{loops_without_input, reachable};
use crate::flow::model::{
    Collect, Comparison, Condition, Enqueue, Flow, FlowCatalog, HttpLookup, Menu, Node, NodeIndex,
    NodeKind, Retry, ScheduleCheck,
};
use crate::flow::raw::{parse_text, RawCase, RawFlow, RawNode, RawSchedule, RawScheduleCheck};
use crate::flow::schedule::Schedule;
use crate::ids::{FlowId, Proficiency, PromptId, QueueId, SkillId};

/// The most nodes a flow may have.
pub(crate) const MAX_NODES: usize = 500;
/// The most digits a collection takes.
pub(crate) const MAX_DIGITS: usize = 64;
/// The longest attribute name (and lookup prefix).
pub(crate) const MAX_NAME: usize = 64;

/// A duration a file may set, in seconds: its default, its longest
/// value (it must be above 0), and the range in words for errors.
struct Wait {
    default: Duration,
    max_secs: f64,
    allowed: &'static str,
}

const MENU_WAIT: Wait = Wait {
    default: Duration::from_secs(5),
    max_secs: 120.0,
    allowed: "0 < seconds <= 120",
};
const FIRST_DIGIT_WAIT: Wait = Wait {
    default: Duration::from_secs(5),
    ..MENU_WAIT
};
const INTER_DIGIT_WAIT: Wait = Wait {
    default: Duration::from_secs(3),
    ..MENU_WAIT
};
const LOOKUP_WAIT: Wait = Wait {
    default: Duration::from_secs(3),
    max_secs: 30.0,
    allowed: "0 < seconds <= 30",
};
const PROMPT_TIME: Wait = Wait {
    default: Duration::from_secs(600),
    max_secs: 3600.0,
    allowed: "0 < seconds <= 3600",
};

/// A whole number a file may set: its default, its range, and the range
/// in words for errors.
struct Count {
    default: i64,
    min: i64,
    max: i64,
    allowed: &'static str,
}

const RETRIES: Count = Count {
    default: 2,
    min: 0,
    max: 9,
    allowed: "0..=9",
};
const PRIORITY: Count = Count {
    default: 0,
    min: 0,
    max: 255,
    allowed: "0..=255",
};
const MAX_LENGTH: Count = Count {
    default: 20,
    min: 1,
    max: MAX_DIGITS as i64,
    allowed: "1..=64",
};

/// A tenant's loaded flows, each shared with the runs that use it: a
/// reload builds a new set while calls in progress finish on the version
/// they started with.
#[derive(Debug, Clone, Default)]
pub struct FlowSet {
    flows: BTreeMap<FlowId, Arc<Flow>>,
}

impl FlowSet {
    /// Loads flows from `(file name, text)` pairs, in order; the name's
    /// extension (`.toml`, `.json`) picks the syntax. Returns the flows
    /// that are valid, and every problem found in the others. Names are
    /// checked against `catalog`; flow ids are made in its tenant; of
    /// two files with the same flow id, the first one loads.
    pub fn from_sources<N: AsRef<str>, T: AsRef<str>>(
        catalog: &FlowCatalog,
        sources: &[(N, T)],
    ) -> (FlowSet, Vec<FlowError>) {
        let mut set = FlowSet::default();
        let mut errors = Vec::new();
        for (file, text) in sources {
            let file = file.as_ref();
            match load_flow(catalog, file, text.as_ref()) {
                Ok(flow) => match set.flows.get(&flow.id) {
                    Some(first) => errors.push(FlowError {
                        file: file.to_owned(),
                        node: None,
                        reason: FlowErrorKind::DuplicateFlow {
                            id: flow.id.local(),
                            first_file: first.file.clone(),
                        },
                    }),
                    None => {
                        set.flows.insert(flow.id, Arc::new(flow));
                    }
                },
                Err(mut found) => errors.append(&mut found),
            }
        }
        (set, errors)
    }

    /// Reads every `*.toml` and `*.json` file of `dir` (not its
    /// subfolders), in name order, and loads them as
    /// [`FlowSet::from_sources`] does. A file that cannot be read is
    /// reported like any other problem. (The only I/O of the crate.)
    pub fn load_dir(catalog: &FlowCatalog, dir: &Path) -> (FlowSet, Vec<FlowError>) {
        let mut errors = Vec::new();
        let unreadable = |file: String, error: std::io::Error| FlowError {
            file,
            node: None,
            reason: FlowErrorKind::Unreadable(error.to_string()),
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                return (
                    FlowSet::default(),
                    vec![unreadable(dir.display().to_string(), error)],
                )
            }
        };
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .and_then(|ext| ext.to_str())
                        .is_some_and(|ext| {
                            ext.eq_ignore_ascii_case("toml") || ext.eq_ignore_ascii_case("json")
                        })
            })
            .collect();
        paths.sort();
        let mut sources = Vec::new();
        for path in paths {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            match std::fs::read_to_string(&path) {
                Ok(text) => sources.push((name, text)),
                Err(error) => errors.push(unreadable(name, error)),
            }
        }
        let (set, mut found) = FlowSet::from_sources(catalog, &sources);
        errors.append(&mut found);
        (set, errors)
    }

    /// The flow `id`.
    pub fn get(&self, id: FlowId) -> Option<&Arc<Flow>> {
        self.flows.get(&id)
    }

    /// The flows, by id.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }

    /// How many flows loaded.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether none loaded.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

/// The problems of one file.
struct FileCheck<'a> {
    catalog: &'a FlowCatalog,
    file: &'a str,
    errors: Vec<FlowError>,
}

impl FileCheck<'_> {
    fn fail(&mut self, node: Option<&str>, reason: FlowErrorKind) {
        self.errors.push(FlowError {
            file: self.file.to_owned(),
            node: node.map(str::to_owned),
            reason,
        });
    }
}

fn load_flow(catalog: &FlowCatalog, file: &str, text: &str) -> Result<Flow, Vec<FlowError>> {
    let mut check = FileCheck {
        catalog,
        file,
        errors: Vec::new(),
    };
    let value = match parse_text(file, text) {
        Ok(value) => value,
        Err(reason) => {
            check.fail(None, reason);
            return Err(check.errors);
        }
    };
    let raw: RawFlow = match serde_json::from_value(value) {
        Ok(raw) => raw,
        Err(error) => {
            check.fail(None, FlowErrorKind::Shape(error.to_string()));
            return Err(check.errors);
        }
    };
    if raw.nodes.len() > MAX_NODES {
        check.fail(
            None,
            FlowErrorKind::TooManyNodes {
                count: raw.nodes.len(),
                max: MAX_NODES,
            },
        );
        return Err(check.errors);
    }
    let max_prompt_time = seconds(
        &mut check,
        None,
        "max_prompt_time",
        raw.max_prompt_time,
        &PROMPT_TIME,
    );
    let schedules = load_schedules(&mut check, raw.schedules);

    // Node ids first, so that targets can point forwards.
    let mut named = Vec::new();
    let mut index: BTreeMap<String, NodeIndex> = BTreeMap::new();
    for (position, value) in raw.nodes.into_iter().enumerate() {
        let serde_json::Value::Object(mut fields) = value else {
            check.fail(
                None,
                FlowErrorKind::Shape(format!("nodes[{position}] is not a table")),
            );
            continue;
        };
        let id = match fields.remove("id") {
            Some(serde_json::Value::String(id)) if !id.is_empty() => id,
            _ => {
                check.fail(
                    None,
                    FlowErrorKind::Shape(format!("nodes[{position}] has no `id` string")),
                );
                continue;
            }
        };
        if index.contains_key(&id) {
            check.fail(Some(&id), FlowErrorKind::DuplicateNode);
            continue;
        }
        index.insert(id.clone(), named.len());
        named.push((id, fields));
    }
    let schedule_index: BTreeMap<String, usize> = schedules
        .iter()
        .enumerate()
        .map(|(position, schedule)| (schedule.id.clone(), position))
        .collect();

    let mut nodes = Vec::new();
    let mut unknown_target = false;
    let mut shapeless = false;
    for (id, fields) in named {
        let raw: RawNode = match serde_json::from_value(serde_json::Value::Object(fields)) {
            Ok(raw) => raw,
            Err(error) => {
                check.fail(Some(&id), FlowErrorKind::Shape(error.to_string()));
                shapeless = true;
                // A stand-in without targets keeps the indices in step.
                nodes.push(Node {
                    id,
                    kind: NodeKind::Hangup { prompt: None },
                });
                continue;
            }
        };
        let mut node_check = NodeCheck {
            check: &mut check,
            node: &id,
            index: &index,
            schedules: &schedule_index,
            unknown_target: false,
        };
        let kind = node_check.kind(raw);
        unknown_target |= node_check.unknown_target;
        nodes.push(Node { id, kind });
    }

    let entry = index.get(&raw.entry).copied();
    if entry.is_none() {
        check.fail(None, FlowErrorKind::MissingEntry(raw.entry.clone()));
    }
    // A node that did not parse has unknown targets: nodes it leads to
    // would look unreachable.
    if let (Some(entry), false, false) = (entry, unknown_target, shapeless) {
        for (node, seen) in nodes.iter().zip(reachable(&nodes, entry)) {
            if !seen {
                check.fail(Some(&node.id), FlowErrorKind::Unreachable);
            }
        }
    }
    for cycle in loops_without_input(&nodes) {
        let names: Vec<String> = cycle.iter().map(|&i| nodes[i].id.clone()).collect();
        check.fail(
            Some(&nodes[cycle[0]].id),
            FlowErrorKind::LoopWithoutInput(names),
        );
    }

    match entry {
        Some(entry) if check.errors.is_empty() => Ok(Flow {
            id: FlowId::new(catalog.tenant, raw.id),
            name: raw.name,
            file: file.to_owned(),
            entry,
            nodes,
            schedules,
            max_prompt_time,
        }),
        _ => Err(check.errors),
    }
}

fn load_schedules(check: &mut FileCheck<'_>, raw: Vec<serde_json::Value>) -> Vec<Schedule> {
    let mut schedules: Vec<Schedule> = Vec::new();
    for (position, value) in raw.into_iter().enumerate() {
        let raw: RawSchedule = match serde_json::from_value(value) {
            Ok(raw) => raw,
            Err(error) => {
                check.fail(
                    None,
                    FlowErrorKind::Shape(format!("schedules[{position}]: {error}")),
                );
                continue;
            }
        };
        let id = raw.id.clone();
        let Some(schedule) = Schedule::build(raw, &mut |reason| check.fail(None, reason)) else {
            continue;
        };
        if schedules.iter().any(|s| s.id == id) {
            check.fail(None, FlowErrorKind::DuplicateSchedule(id));
            continue;
        }
        schedules.push(schedule);
    }
    schedules
}

/// `secs` (or the default) as a duration within the rule's range; 1 s
/// (reported) otherwise.
fn seconds(
    check: &mut FileCheck<'_>,
    node: Option<&str>,
    field: &'static str,
    secs: Option<f64>,
    rule: &Wait,
) -> Duration {
    let Some(secs) = secs else {
        return rule.default;
    };
    if secs.is_finite() && secs > 0.0 && secs <= rule.max_secs {
        return Duration::from_secs_f64(secs);
    }
    check.fail(
        node,
        FlowErrorKind::OutOfRange {
            field,
            value: secs.to_string(),
            allowed: rule.allowed,
        },
    );
    Duration::from_secs(1)
}

/// The checks of one node.
struct NodeCheck<'a, 'f> {
    check: &'a mut FileCheck<'f>,
    node: &'a str,
    index: &'a BTreeMap<String, NodeIndex>,
    schedules: &'a BTreeMap<String, usize>,
    unknown_target: bool,
}

impl NodeCheck<'_, '_> {
    fn fail(&mut self, reason: FlowErrorKind) {
        self.check.fail(Some(self.node), reason);
    }

    fn kind(&mut self, raw: RawNode) -> NodeKind {
        match raw {
            RawNode::Play {
                prompts,
                barge_in,
                next,
            } => NodeKind::Play {
                prompts: self.prompts("prompts", &prompts, true),
                barge_in,
                next: self.target("next", &next),
            },
            RawNode::Menu {
                prompts,
                options,
                timeout,
                retries,
                invalid_prompts,
                timeout_prompts,
                barge_in,
                fallback,
            } => {
                if options.is_empty() {
                    self.fail(FlowErrorKind::MenuWithoutOptions);
                }
                let mut keyed = BTreeMap::new();
                for (key, target) in &options {
                    let Some(digit) = dtmf_key(key) else {
                        self.fail(FlowErrorKind::BadDtmfKey(key.clone()));
                        continue;
                    };
                    keyed.insert(digit, self.target(&format!("options.{key}"), target));
                }
                NodeKind::Menu(Menu {
                    prompts: self.prompts("prompts", &prompts, true),
                    barge_in: barge_in.unwrap_or(true),
                    options: keyed,
                    timeout: self.wait("timeout", timeout, &MENU_WAIT),
                    retry: self.retry(retries, &invalid_prompts, &timeout_prompts, &fallback),
                })
            }
            RawNode::Collect {
                prompts,
                attribute,
                min_length,
                max_length,
                pattern,
                terminator,
                timeout,
                inter_digit_timeout,
                retries,
                invalid_prompts,
                timeout_prompts,
                barge_in,
                next,
                fallback,
            } => {
                let max_length = self.count("max_length", max_length, &MAX_LENGTH);
                let min_length = self.count(
                    "min_length",
                    min_length,
                    &Count {
                        default: 1,
                        min: 1,
                        max: i64::try_from(max_length).unwrap_or(1),
                        allowed: "1..=max_length",
                    },
                );
                let terminator = terminator.and_then(|key| {
                    let digit = dtmf_key(&key);
                    if digit.is_none() {
                        self.fail(FlowErrorKind::BadDtmfKey(key));
                    }
                    digit
                });
                NodeKind::Collect(Collect {
                    prompts: self.prompts("prompts", &prompts, true),
                    barge_in: barge_in.unwrap_or(true),
                    attribute: self.attribute(attribute),
                    min_length,
                    max_length,
                    pattern: pattern.and_then(|p| self.pattern(&p, true)),
                    terminator,
                    timeout: self.wait("timeout", timeout, &FIRST_DIGIT_WAIT),
                    inter_digit_timeout: self.wait(
                        "inter_digit_timeout",
                        inter_digit_timeout,
                        &INTER_DIGIT_WAIT,
                    ),
                    retry: self.retry(retries, &invalid_prompts, &timeout_prompts, &fallback),
                    next: self.target("next", &next),
                })
            }
            RawNode::HttpLookup {
                url,
                send,
                timeout,
                prefix,
                next,
                failure,
            } => {
                let well_formed = ["http://", "https://"].iter().any(|scheme| {
                    url.len() > scheme.len()
                        && url
                            .get(..scheme.len())
                            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
                        && !url.contains(char::is_whitespace)
                });
                if !well_formed {
                    self.fail(FlowErrorKind::BadUrl(url.clone()));
                }
                if prefix.len() > MAX_NAME / 2 {
                    self.fail(FlowErrorKind::BadAttributeName(prefix.clone()));
                }
                let send =
                    send.map(|names| names.into_iter().map(|name| self.attribute(name)).collect());
                NodeKind::HttpLookup(HttpLookup {
                    url,
                    send,
                    timeout: self.wait("timeout", timeout, &LOOKUP_WAIT),
                    prefix,
                    next: self.target("next", &next),
                    failure: self.target("failure", &failure),
                })
            }
            RawNode::Set {
                attribute,
                value,
                next,
            } => NodeKind::Set {
                attribute: self.attribute(attribute),
                value: value.0,
                next: self.target("next", &next),
            },
            RawNode::Branch { cases, default } => {
                let cases = cases
                    .into_iter()
                    .enumerate()
                    .filter_map(|(position, case)| {
                        let target = self.target(&format!("cases[{position}].next"), &case.next);
                        self.condition(position, case).map(|c| (c, target))
                    })
                    .collect();
                NodeKind::Branch {
                    cases,
                    default: self.target("default", &default),
                }
            }
            RawNode::Enqueue {
                queue,
                priority,
                priority_attribute,
                skills,
            } => NodeKind::Enqueue(Enqueue {
                queue: self.queue(&queue),
                priority: u8::try_from(self.count("priority", priority, &PRIORITY))
                    .unwrap_or_default(),
                priority_attribute: priority_attribute.map(|name| self.attribute(name)),
                skills: skills
                    .iter()
                    .filter_map(|skill| {
                        let min = u8::try_from(skill.min).ok().and_then(Proficiency::new);
                        if min.is_none() {
                            self.fail(FlowErrorKind::OutOfRange {
                                field: "skills.min",
                                value: skill.min.to_string(),
                                allowed: "1..=5",
                            });
                        }
                        Some(SkillRequirement {
                            skill: SkillId(skill.skill),
                            min: min?,
                        })
                    })
                    .collect(),
            }),
            RawNode::Transfer {
                teams_user,
                queue,
                number,
            } => {
                let target = match (teams_user, queue, number) {
                    (Some(user), None, None) if !user.trim().is_empty() => {
                        TransferTarget::TeamsUser(user)
                    }
                    (None, Some(queue), None) => TransferTarget::Queue(self.queue(&queue)),
                    (None, None, Some(number)) => {
                        if !is_e164(&number) {
                            self.fail(FlowErrorKind::BadPhoneNumber(number.clone()));
                        }
                        TransferTarget::ExternalNumber(number)
                    }
                    _ => {
                        self.fail(FlowErrorKind::BadTransferTarget);
                        TransferTarget::TeamsUser(String::new())
                    }
                };
                NodeKind::Transfer(target)
            }
            RawNode::Voicemail { mailbox, prompts } => {
                if mailbox.trim().is_empty() {
                    self.fail(FlowErrorKind::Shape("`mailbox` is empty".into()));
                }
                NodeKind::Voicemail {
                    mailbox,
                    prompts: self.prompts("prompts", &prompts, true),
                }
            }
            RawNode::Hangup { prompt } => NodeKind::Hangup {
                prompt: prompt.and_then(|name| self.prompt(&name)),
            },
        }
    }

    fn target(&mut self, field: &str, target: &str) -> NodeIndex {
        match self.index.get(target) {
            Some(&index) => index,
            None => {
                self.unknown_target = true;
                self.fail(FlowErrorKind::UnknownTarget {
                    field: field.to_owned(),
                    target: target.to_owned(),
                });
                usize::MAX
            }
        }
    }

    fn prompt(&mut self, name: &str) -> Option<PromptId> {
        let found = self.check.catalog.prompts.get(name).copied();
        if found.is_none() {
            self.fail(FlowErrorKind::UnknownPrompt(name.to_owned()));
        }
        found
    }

    fn prompts(&mut self, field: &'static str, names: &[String], required: bool) -> Vec<PromptId> {
        if required && names.is_empty() {
            self.fail(FlowErrorKind::MissingPrompts(field));
        }
        names.iter().filter_map(|name| self.prompt(name)).collect()
    }

    fn queue(&mut self, name: &str) -> QueueId {
        let tenant = self.check.catalog.tenant;
        match self.check.catalog.queues.get(name).copied() {
            Some(queue) if queue.tenant() == tenant => queue,
            Some(queue) => {
                self.fail(FlowErrorKind::ForeignQueue(name.to_owned()));
                queue
            }
            None => {
                self.fail(FlowErrorKind::UnknownQueue(name.to_owned()));
                QueueId::new(tenant, 0)
            }
        }
    }

    fn attribute(&mut self, name: String) -> String {
        if name.is_empty() || name.len() > MAX_NAME {
            self.fail(FlowErrorKind::BadAttributeName(name.clone()));
        }
        name
    }

    fn wait(&mut self, field: &'static str, secs: Option<f64>, rule: &Wait) -> Duration {
        seconds(self.check, Some(self.node), field, secs, rule)
    }

    /// `value` (or the default) within the rule's range; the minimum
    /// (reported) otherwise.
    fn count(&mut self, field: &'static str, value: Option<i64>, rule: &Count) -> usize {
        let value = value.unwrap_or(rule.default);
        if (rule.min..=rule.max).contains(&value) {
            // Within a range of non-negative numbers.
            return usize::try_from(value).unwrap_or_default();
        }
        self.fail(FlowErrorKind::OutOfRange {
            field,
            value: value.to_string(),
            allowed: rule.allowed,
        });
        usize::try_from(rule.min).unwrap_or_default()
    }

    fn retry(
        &mut self,
        retries: Option<i64>,
        invalid_prompts: &[String],
        timeout_prompts: &[String],
        fallback: &str,
    ) -> Retry {
        let retries = self.count("retries", retries, &RETRIES);
        let invalid_prompts = self.prompts("invalid_prompts", invalid_prompts, false);
        let timeout_prompts = self.prompts("timeout_prompts", timeout_prompts, false);
        Retry {
            retries: u32::try_from(retries).unwrap_or_default(),
            // No separate no-input message: the invalid-input one serves.
            timeout_prompts: if timeout_prompts.is_empty() {
                invalid_prompts.clone()
            } else {
                timeout_prompts
            },
            invalid_prompts,
            fallback: self.target("fallback", fallback),
        }
    }

    /// The pattern compiled; `whole`: anchored at both ends.
    fn pattern(&mut self, pattern: &str, whole: bool) -> Option<Regex> {
        // Compiled alone first: anchoring could mend a broken pattern
        // such as `)(`.
        let compiled = Regex::new(pattern).and_then(|plain| {
            if whole {
                Regex::new(&format!("^(?:{pattern})$"))
            } else {
                Ok(plain)
            }
        });
        match compiled {
            Ok(regex) => Some(regex),
            Err(error) => {
                self.fail(FlowErrorKind::BadPattern {
                    pattern: pattern.to_owned(),
                    error: error.to_string(),
                });
                None
            }
        }
    }

    fn condition(&mut self, position: usize, case: RawCase) -> Option<Condition> {
        let bad = |why: &str| FlowErrorKind::BadCondition {
            index: position,
            why: why.to_owned(),
        };
        let tests = [
            case.equals.is_some(),
            case.not_equals.is_some(),
            case.exists.is_some(),
            case.matches.is_some(),
            case.less_than.is_some(),
            case.at_most.is_some(),
            case.greater_than.is_some(),
            case.at_least.is_some(),
        ]
        .into_iter()
        .filter(|&test| test)
        .count();
        match (case.attribute, case.schedule) {
            (None, Some(schedule)) => {
                if tests > 0 {
                    self.fail(bad("a schedule case takes only `is`"));
                    return None;
                }
                let Some(is) = case.is else {
                    self.fail(bad("a schedule case needs `is` (open, closed, holiday)"));
                    return None;
                };
                let Some(&index) = self.schedules.get(&schedule) else {
                    self.fail(FlowErrorKind::UnknownSchedule(schedule));
                    return None;
                };
                let check = match is {
                    RawScheduleCheck::Open => ScheduleCheck::Open,
                    RawScheduleCheck::Closed => ScheduleCheck::Closed,
                    RawScheduleCheck::Holiday => ScheduleCheck::Holiday,
                };
                Some(Condition::Schedule(index, check))
            }
            (Some(name), None) => {
                if tests != 1 || case.is.is_some() {
                    self.fail(bad(
                        "an attribute case needs exactly one of equals, not_equals, exists, \
                         matches, less_than, at_most, greater_than, at_least",
                    ));
                    return None;
                }
                let name = self.attribute(name);
                let compare = [
                    (case.less_than, Comparison::LessThan),
                    (case.at_most, Comparison::AtMost),
                    (case.greater_than, Comparison::GreaterThan),
                    (case.at_least, Comparison::AtLeast),
                ]
                .into_iter()
                .find_map(|(bound, comparison)| bound.map(|bound| (comparison, bound)));
                if let Some(value) = case.equals {
                    Some(Condition::Equals(name, value.0))
                } else if let Some(value) = case.not_equals {
                    Some(Condition::NotEquals(name, value.0))
                } else if let Some(wanted) = case.exists {
                    Some(Condition::Exists(name, wanted))
                } else if let Some(pattern) = case.matches {
                    self.pattern(&pattern, false)
                        .map(|regex| Condition::Matches(name, regex))
                } else if let Some((comparison, bound)) = compare {
                    if !bound.is_finite() {
                        self.fail(bad("the bound is not a finite number"));
                        return None;
                    }
                    Some(Condition::Compare(name, comparison, bound))
                } else {
                    None
                }
            }
            _ => {
                self.fail(bad("a case tests either an `attribute` or a `schedule`"));
                None
            }
        }
    }
}

/// A menu key or terminator: one of `0`-`9`, `*`, `#`.
fn dtmf_key(key: &str) -> Option<char> {
    let mut chars = key.chars();
    match (chars.next(), chars.next()) {
        (Some(digit), None) if is_dtmf(digit) => Some(digit),
        _ => None,
    }
}

/// Whether `digit` is a telephone keypad key.
pub(crate) fn is_dtmf(digit: char) -> bool {
    digit.is_ascii_digit() || digit == '*' || digit == '#'
}

/// `+` then 7 to 15 digits, the first not 0.
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests;
