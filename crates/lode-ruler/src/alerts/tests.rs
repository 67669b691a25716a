use super::*;

const S: i64 = 1_000_000_000;

fn el(ns: &str, v: f64) -> Element {
    Element {
        labels: vec![
            ("alertname".into(), "A".into()),
            ("namespace".into(), ns.into()),
        ],
        annotations: vec![("summary".into(), format!("{v}"))],
        value: v,
    }
}

#[test]
fn pending_then_firing_then_resolved() {
    let mut a = AlertSet::default();
    assert!(
        a.update(0, 60 * S, 0, 0, vec![el("media", 3.0)]).unwrap(),
        "a new alert"
    );
    assert_eq!(a.state(), AlertState::Pending);
    assert!(
        a.due(0, 60 * S, 10 * S).is_empty(),
        "pending alerts are not sent"
    );
    a.update(30 * S, 60 * S, 0, 0, vec![el("media", 4.0)])
        .unwrap();
    assert_eq!(a.state(), AlertState::Pending);
    a.update(60 * S, 60 * S, 0, 0, vec![el("media", 5.0)])
        .unwrap();
    assert_eq!(a.state(), AlertState::Firing);
    let sent = a.due(60 * S, 60 * S, 10 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].active_at, 0);
    assert_eq!(sent[0].fired_at, Some(60 * S));
    assert_eq!(sent[0].valid_until, 60 * S + 240 * S);
    assert_eq!(sent[0].annotations[0].1, "5");
    // Re-sent only after resend_delay.
    a.update(70 * S, 60 * S, 0, 0, vec![el("media", 5.0)])
        .unwrap();
    assert!(a.due(70 * S, 60 * S, 10 * S).is_empty());
    a.update(120 * S, 60 * S, 0, 0, vec![el("media", 5.0)])
        .unwrap();
    assert_eq!(a.due(120 * S, 60 * S, 10 * S).len(), 1);
    // Gone from the result: resolved, sent once with its resolution time.
    assert!(
        a.update(130 * S, 60 * S, 0, 0, vec![]).unwrap(),
        "it resolved"
    );
    assert_eq!(a.state(), AlertState::Inactive);
    let sent = a.due(130 * S, 60 * S, 10 * S);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].resolved_at, Some(130 * S));
    assert!(a.due(140 * S, 60 * S, 10 * S).is_empty());
    // Forgotten 15 minutes later.
    a.update(130 * S + RESOLVED_RETENTION_NS + S, 60 * S, 0, 0, vec![])
        .unwrap();
    assert!(a.alerts.is_empty());
}

#[test]
fn a_pending_alert_that_leaves_is_dropped_and_one_that_returns_starts_over() {
    let mut a = AlertSet::default();
    a.update(0, 60 * S, 0, 0, vec![el("a", 1.0)]).unwrap();
    a.update(10 * S, 60 * S, 0, 0, vec![]).unwrap();
    assert!(a.alerts.is_empty());
    a.update(20 * S, 60 * S, 0, 0, vec![el("a", 1.0)]).unwrap();
    assert_eq!(a.alerts.values().next().unwrap().active_at, 20 * S);
}

#[test]
fn keep_firing_for_holds_a_firing_alert() {
    let mut a = AlertSet::default();
    a.update(0, 0, 30 * S, 0, vec![el("a", 1.0)]).unwrap();
    assert_eq!(a.state(), AlertState::Firing);
    a.update(10 * S, 0, 30 * S, 0, vec![]).unwrap();
    assert_eq!(a.state(), AlertState::Firing);
    a.update(39 * S, 0, 30 * S, 0, vec![]).unwrap();
    assert_eq!(a.state(), AlertState::Firing);
    a.update(40 * S, 0, 30 * S, 0, vec![]).unwrap();
    assert_eq!(a.state(), AlertState::Inactive);
}

#[test]
fn the_limit_drops_every_alert_and_fails() {
    let mut a = AlertSet::default();
    let e = a
        .update(0, 0, 0, 1, vec![el("a", 1.0), el("b", 1.0)])
        .unwrap_err();
    assert_eq!(e, "exceeded limit of 1 with 2 alerts");
    assert!(a.alerts.is_empty());
}
