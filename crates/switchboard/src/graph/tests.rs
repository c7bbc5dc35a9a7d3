//! The presence client against the emulator's Microsoft Graph on
//! loopback, its notification router served on a loopback port.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use acd::Presence;
use emulator::graph_example::{self, ALICE, APP, BOB, SECRET, TENANT};
use emulator::{LifecycleEvent, RunningGraph};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    graph: RunningGraph,
    service: PresenceService,
    updates: mpsc::Receiver<PresenceUpdate>,
    /// Where the router listens.
    router_url: String,
    /// Stops the presence client.
    shutdown: CancellationToken,
    /// Stops the emulator.
    emulator_shutdown: CancellationToken,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.emulator_shutdown.cancel();
    }
}

/// The emulator's [`graph_example`] with `emulator_extra` in
/// `[emulator.graph]` (Contoso's Alice and Bob are watched), and the
/// presence client with `client_extra` in `[graph]`; `subscribe` gives
/// it the router's URL as `notification_url`.
async fn setup(emulator_extra: &str, client_extra: &str, subscribe: bool) -> Setup {
    let shutdown = CancellationToken::new();
    let emulator_shutdown = CancellationToken::new();
    let emulator = graph_example::config(emulator_extra).unwrap();
    let graph = emulator::start_graph(&emulator, emulator_shutdown.clone())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router_url = format!("http://{}", listener.local_addr().unwrap());
    let notification = if subscribe {
        format!("notification_url = \"{router_url}{NOTIFICATION_PATH}\"\nlifecycle_notification_url = \"{router_url}{LIFECYCLE_PATH}\"\n")
    } else {
        String::new()
    };
    let text = format!(
        "login_url = \"{}\"\nbase_url = \"{}\"\nclient_id = \"{APP}\"\n{notification}{client_extra}\n",
        graph.login_url(),
        graph.base_url(),
    );
    let text = if text.contains("client_secret") {
        text
    } else {
        format!("{text}client_secret = \"{SECRET}\"\n")
    };
    let table: toml::Table = toml::from_str(&text).unwrap();
    let config =
        GraphConfig::from_value(toml::Value::Table(table), std::path::Path::new(".")).unwrap();
    let tenants = vec![WatchedTenant {
        tenant_id: TENANT.to_owned(),
        // Ids as an administrator may write them: case does not matter.
        object_ids: vec![ALICE.to_uppercase(), BOB.to_owned()],
    }];
    let (service, updates) = PresenceService::start(config, tenants, shutdown.clone()).unwrap();
    let router = service.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Setup {
        graph,
        service,
        updates,
        router_url,
        shutdown,
        emulator_shutdown,
    }
}

impl Setup {
    async fn next(&mut self) -> PresenceUpdate {
        tokio::time::timeout(WAIT, self.updates.recv())
            .await
            .expect("an update in time")
            .unwrap()
    }

    /// The first update for `object_id` (case-insensitive), skipping others.
    async fn next_for(&mut self, object_id: &str) -> PresenceUpdate {
        loop {
            let update = self.next().await;
            if update.object_id.eq_ignore_ascii_case(object_id) {
                return update;
            }
        }
    }

    async fn snapshot(&mut self) -> Vec<PresenceUpdate> {
        let mut updates = vec![self.next().await, self.next().await];
        updates.sort_by(|a, b| a.object_id.cmp(&b.object_id));
        updates
    }

    fn counter(&self, pick: impl Fn(&PresenceCounters) -> &std::sync::atomic::AtomicU64) -> u64 {
        pick(&self.service.counters()).load(Ordering::Relaxed)
    }

    async fn eventually(&self, what: &str, check: impl Fn(&Setup) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !check(self) {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn token(&self) -> String {
        let http = reqwest::Client::new();
        let body: serde_json::Value = http
            .post(format!(
                "{}/{TENANT}/oauth2/v2.0/token",
                self.graph.login_url()
            ))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", APP),
                ("client_secret", SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }
}

fn update(object_id: &str, presence: Presence, activity: &str) -> PresenceUpdate {
    PresenceUpdate {
        tenant_id: TENANT.to_owned(),
        object_id: object_id.to_owned(),
        presence,
        activity: activity.to_owned(),
    }
}

#[tokio::test]
async fn snapshot_then_set_presence_arrives_by_notification() {
    let mut s = setup("", "", true).await;
    assert_eq!(
        s.snapshot().await,
        [
            update(&ALICE.to_uppercase(), Presence::Available, "Available"),
            update(BOB, Presence::Away, "Away"),
        ]
    );
    let subscriptions = s.graph.subscriptions();
    assert_eq!(subscriptions.len(), 1);
    let state = subscriptions[0].client_state.clone().unwrap();
    assert_eq!(state.len(), 64, "a random clientState");
    assert_eq!(subscriptions[0].user_ids.len(), 2);

    // An application sets Alice's presence, as Graph's users do.
    let token = s.token().await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/users/{ALICE}/presence/setPresence",
            s.graph.base_url()
        ))
        .bearer_auth(token)
        .json(&json!({
            "sessionId": APP,
            "availability": "Busy",
            "activity": "InACall",
            "expirationDuration": "PT1H",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        s.next().await,
        update(&ALICE.to_uppercase(), Presence::Busy, "InACall")
    );
    s.graph
        .set_presence(TENANT, BOB, "Available", "Available")
        .unwrap();
    assert_eq!(
        s.next().await,
        update(BOB, Presence::Available, "Available")
    );
    assert_eq!(s.counter(|c| &c.notifications_accepted), 2);
    assert!(
        s.counter(|c| &c.validations) >= 2,
        "notification and lifecycle URLs"
    );
    assert_eq!(s.counter(|c| &c.polls), 0);
    assert_eq!(s.counter(|c| &c.token_failures), 0);

    // Shutdown deletes the subscription.
    s.shutdown.cancel();
    tokio::time::timeout(WAIT, s.service.stopped())
        .await
        .unwrap();
    assert!(s.graph.subscriptions().is_empty());
}

#[tokio::test]
async fn forged_and_malformed_notifications_are_ignored() {
    let mut s = setup("", "", true).await;
    s.snapshot().await;
    let http = reqwest::Client::new();
    let url = format!("{}{NOTIFICATION_PATH}", s.router_url);
    let forged = json!({"value": [{
        "subscriptionId": s.graph.subscriptions()[0].id,
        "clientState": "guessed",
        "changeType": "updated",
        "tenantId": TENANT,
        "resource": format!("communications/presences('{ALICE}')"),
        "resourceData": {"id": ALICE, "availability": "Offline", "activity": "Offline"},
    }]});
    let response = http.post(&url).json(&forged).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let other_tenant = json!({"value": [{"tenantId": "someone-else", "clientState": "x"}]});
    let response = http.post(&url).json(&other_tenant).send().await.unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(s.counter(|c| &c.notifications_rejected), 2);

    let response = http.post(&url).body("{not json").send().await.unwrap();
    assert_eq!(response.status(), 400);
    let huge = vec![b' '; 2 * 1024 * 1024];
    let response = http.post(&url).body(huge).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(s.counter(|c| &c.notifications_malformed), 2);

    let response = http
        .post(format!("{url}?validationToken=Validation%3A+Testing+1%2B1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "Validation: Testing 1+1");

    // Nothing reached the contact center; a real change still does.
    s.graph
        .set_presence(TENANT, ALICE, "DoNotDisturb", "Presenting")
        .unwrap();
    assert_eq!(
        s.next().await,
        update(&ALICE.to_uppercase(), Presence::DoNotDisturb, "Presenting")
    );
}

#[tokio::test]
async fn subscriptions_are_renewed_before_they_expire() {
    // Renewal 3 s after creation (59 min lifetime, renewed 3537 s early).
    let mut s = setup("", "renew_before_secs = 3537", true).await;
    s.snapshot().await;
    let first = s.graph.subscriptions()[0].expiration;
    s.eventually("a renewal", |s| s.counter(|c| &c.renewals) >= 1)
        .await;
    let subscriptions = s.graph.subscriptions();
    assert_eq!(subscriptions.len(), 1, "renewed, not replaced");
    assert!(subscriptions[0].expiration > first);
    assert_eq!(s.counter(|c| &c.subscriptions_created), 1);
    s.graph
        .set_presence(TENANT, BOB, "Busy", "InAMeeting")
        .unwrap();
    assert_eq!(s.next().await, update(BOB, Presence::Busy, "InAMeeting"));
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // Two-second tokens, a poll every second: every call needs a fresh
    // token, and none is refused.
    let mut s = setup("token_lifetime_secs = 2", "poll_secs = 1", false).await;
    s.snapshot().await;
    s.eventually("three tokens", |s| s.graph.stats().tokens_issued >= 3)
        .await;
    s.eventually("polls", |s| s.counter(|c| &c.polls) >= 3)
        .await;
    assert_eq!(s.graph.stats().unauthenticated, 0, "never an expired token");
    assert_eq!(s.counter(|c| &c.token_failures), 0);
    assert!(
        s.graph.subscriptions().is_empty(),
        "no notification URL, no subscription"
    );
    s.graph
        .set_presence(TENANT, ALICE, "Offline", "Offline")
        .unwrap();
    assert_eq!(
        s.next().await,
        update(&ALICE.to_uppercase(), Presence::Offline, "Offline")
    );
}

#[tokio::test]
async fn a_failed_handshake_falls_back_to_polling() {
    let mut s = setup(
        "",
        "poll_secs = 1\nnotification_url = \"http://127.0.0.1:9/graph/notifications\"",
        false,
    )
    .await;
    s.snapshot().await;
    assert!(s.counter(|c| &c.subscription_failures) >= 1);
    assert!(s.graph.stats().validation_failures >= 1);
    s.graph
        .set_presence(TENANT, BOB, "BeRightBack", "BeRightBack")
        .unwrap();
    assert_eq!(
        s.next().await,
        update(BOB, Presence::BeRightBack, "BeRightBack")
    );
    assert!(s.counter(|c| &c.polls) >= 1);
}

#[tokio::test]
async fn lifecycle_events_reauthorize_recreate_and_resync() {
    let mut s = setup("", "", true).await;
    s.snapshot().await;
    let id = s.graph.subscriptions()[0].id.clone();

    s.graph
        .send_lifecycle(&id, LifecycleEvent::ReauthorizationRequired)
        .unwrap();
    s.eventually("a reauthorization", |s| {
        s.counter(|c| &c.reauthorizations) == 1
    })
    .await;

    let resyncs = s.counter(|c| &c.resyncs);
    s.graph.send_lifecycle(&id, LifecycleEvent::Missed).unwrap();
    s.eventually("a resync", |s| s.counter(|c| &c.resyncs) > resyncs)
        .await;

    s.graph
        .send_lifecycle(&id, LifecycleEvent::SubscriptionRemoved)
        .unwrap();
    s.eventually("a new subscription", |s| {
        s.graph.subscriptions().iter().any(|sub| sub.id != id)
    })
    .await;
    assert_eq!(s.counter(|c| &c.subscriptions_created), 2);
    s.graph.set_presence(TENANT, ALICE, "Away", "Away").unwrap();
    assert_eq!(s.next_for(ALICE).await.presence, Presence::Away);
}

#[tokio::test]
async fn basic_notifications_are_followed_by_a_read() {
    let mut s = setup("basic_notifications = true", "", true).await;
    s.snapshot().await;
    s.graph
        .set_presence(TENANT, ALICE, "Busy", "InAMeeting")
        .unwrap();
    assert_eq!(
        s.next().await,
        update(&ALICE.to_uppercase(), Presence::Busy, "InAMeeting")
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_token_failure() {
    let mut s = setup("", "client_secret = \"wrong\"\npoll_secs = 1", false).await;
    s.eventually("token failures", |s| s.counter(|c| &c.token_failures) >= 1)
        .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), s.updates.recv())
            .await
            .is_err()
    );
    assert_eq!(
        s.graph.stats().token_refusals,
        s.counter(|c| &c.token_failures)
    );
}
