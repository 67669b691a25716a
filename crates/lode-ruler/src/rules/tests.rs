use super::*;

const MIN: i64 = 60_000_000_000;

fn parse(text: &str) -> Result<Vec<Group>, Vec<RuleError>> {
    parse_file("fake/app", "fake", "app", text, MIN)
}

#[test]
fn a_good_file_compiles() {
    let g = parse(
        r#"
groups:
  - name: errors
    interval: 30s
    limit: 10
    rules:
      - alert: ErrorBurst
        expr: sum by (namespace) (count_over_time({namespace=~".+"} |= "error" [5m])) > 10
        for: 2m
        keep_firing_for: 1m
        labels:
          severity: warning
          team: "{{ $labels.namespace }}"
        annotations:
          summary: "{{ $value }} errors in {{ $labels.namespace }}"
      - record: namespace:log_lines:rate1m
        expr: sum by (namespace) (rate({namespace=~".+"}[1m]))
        labels:
          source: lode
"#,
    )
    .unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].interval_ns, MIN / 2);
    assert_eq!(g[0].limit, 10);
    let r = &g[0].rules[0];
    match &r.kind {
        RuleKind::Alert {
            name,
            for_ns,
            keep_firing_for_ns,
            annotations,
        } => {
            assert_eq!(name, "ErrorBurst");
            assert_eq!(*for_ns, 2 * MIN);
            assert_eq!(*keep_firing_for_ns, MIN);
            assert_eq!(annotations.len(), 1);
        }
        k => panic!("{k:?}"),
    }
    assert!(matches!(g[0].rules[1].kind, RuleKind::Record { .. }));
    // The default interval applies without one.
    let g =
        parse("groups:\n- name: a\n  rules:\n  - record: x\n    expr: sum(rate({a=\"b\"}[1m]))\n")
            .unwrap();
    assert_eq!(g[0].interval_ns, MIN);
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn bad_files_name_the_file_group_and_rule() {
    let e = errors("groups: [ {name: a, rules: [");
    assert!(e[0].starts_with("fake/app: invalid YAML:"), "{e:?}");

    let e = errors("groups:\n- name: g\n  rules:\n  - alert: Broken\n    expr: sum(count_over_time({a=\"b\"[5m]))\n");
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("fake/app: group \"g\": rule \"Broken\": could not parse expression: parse error at line 1, col"),
        "{e:?}"
    );

    let e =
        errors("groups:\n- name: g\n  rules:\n  - alert: Logs\n    expr: '{a=\"b\"} |= \"x\"'\n");
    assert!(e[0].contains("rule \"Logs\": expr is a log query"), "{e:?}");

    let e = errors(
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(rate({a=\"b\"}[1m]))\n- name: g\n  rules:\n  - record: r\n    expr: sum(rate({a=\"b\"}[1m]))\n",
    );
    assert_eq!(
        e,
        vec!["fake/app: group \"g\": repeated in the same file: group names must be unique"]
    );

    let e = errors("groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: sum(rate({a=\"b\"}[1m]))\n    for: 1m\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].contains("not a metric name") && e[1].contains("for alerting rules"),
        "{e:?}"
    );

    let e = errors("groups:\n- name: g\n  rules:\n  - expr: sum(rate({a=\"b\"}[1m]))\n");
    assert_eq!(
        e,
        vec!["fake/app: group \"g\": rule #1: a rule needs alert or record"]
    );

    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate({a=\"b\"}[1m]))\n    annotations:\n      s: '{{ .Labels.x'\n");
    assert!(e[0].contains("invalid template"), "{e:?}");

    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate({a=\"b\"}[1m]))\n    for: 5 minutes\n");
    assert!(e[0].contains("invalid for \"5 minutes\""), "{e:?}");

    let e = errors("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(rate({a=\"b\"}[1m]))\n    severity: page\n");
    assert!(e[0].contains("unknown field `severity`"), "{e:?}");
}

#[test]
fn the_file_round_trips_through_yaml() {
    let text = "groups:\n- name: g\n  interval: 1m\n  rules:\n  - alert: A\n    expr: sum(rate({a=\"b\"}[1m])) > 1\n    for: 5m\n    labels:\n      severity: page\n";
    let f: RuleFile = serde_yaml_ng::from_str(text).unwrap();
    let back: RuleFile = serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&f).unwrap()).unwrap();
    assert_eq!(f, back);
    assert_eq!(back.groups[0].rules[0].for_.as_deref(), Some("5m"));
}
