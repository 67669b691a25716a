//! End-to-end tests of parse + render, including the template shapes of
//! the compat cases (with inputs of our own) and no-panic properties.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Template, TemplateContext};

struct Ctx {
    labels: BTreeMap<String, String>,
    line: String,
    ts: i64,
}

impl Ctx {
    fn new(pairs: &[(&str, &str)], line: &str) -> Ctx {
        Ctx {
            labels: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            line: line.to_string(),
            // 2024-01-01T01:02:03.5Z
            ts: 1_704_070_923_500_000_000,
        }
    }
}

impl TemplateContext for Ctx {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
    fn line(&self) -> &str {
        &self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn for_each_label(&self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self.labels {
            f(k, v);
        }
    }
}

fn render(src: &str, ctx: &Ctx) -> Result<String, String> {
    let t = Template::parse(src, "line").map_err(|e| format!("PARSE {e}"))?;
    let mut out = String::new();
    t.render(ctx, &mut out)?;
    Ok(out)
}

fn ok(src: &str, ctx: &Ctx) -> String {
    render(src, ctx).unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn field_access_and_missing_labels() {
    let c = Ctx::new(&[("method", "GET"), ("path", "/a"), ("status", "503")], "l");
    assert_eq!(
        ok("{{.method}} {{.path}} -> {{.status}}", &c),
        "GET /a -> 503"
    );
    // Loki executes with missingkey=zero over map[string]string.
    assert_eq!(ok("[{{.nope}}]", &c), "[]");
    assert_eq!(ok("{{ $.method }}", &c), "GET");
    assert_eq!(ok("plain text", &c), "plain text");
}

#[test]
fn printf_on_string_labels_is_a_bad_verb() {
    let c = Ctx::new(&[("level", "warn"), ("pid", "42")], "");
    assert_eq!(
        ok("{{ ToUpper .level }} {{ printf \"%05d\" .pid }}", &c),
        "WARN %!d(string=00042)"
    );
    assert_eq!(
        ok(
            "{{ printf \"%05d|%-6s|%.1f\" (int .pid) .level (float64 .pid) }}",
            &c
        ),
        "00042|warn  |42.0"
    );
    assert_eq!(ok("{{ printf \"%s=%v\" \"a\" 1.50 }}", &c), "a=1.5");
}

#[test]
fn line_functions_and_piped_argument_order() {
    let c = Ctx::new(&[], "  [INFO] 10.0.0.1:53 - query A  ");
    assert_eq!(
        ok("len={{ len __line__ }} {{ __line__ | trunc 10 }}", &c),
        "len=32   [INFO] 1"
    );
    assert_eq!(
        ok("{{ __line__ | replace \"[INFO]\" \"I\" | TrimSpace }}", &c),
        "I 10.0.0.1:53 - query A"
    );
    assert_eq!(
        ok("{{ __line__ | trimAll \" \" | trunc -7 }}", &c),
        "query A"
    );
    let c = Ctx::new(&[("topic", "zigbee2mqtt/kitchen")], "");
    assert_eq!(
        ok("{{ trimPrefix \"zigbee2mqtt/\" .topic }}", &c),
        "kitchen"
    );
    // Go argument order: TrimPrefix(s, prefix) gets the label as prefix.
    assert_eq!(
        ok("{{ .topic | TrimPrefix \"zigbee2mqtt/\" }}", &c),
        "zigbee2mqtt/"
    );
}

#[test]
fn conditionals() {
    let src = "{{ if eq .level \"error\" }}E{{ else if eq .level \"warn\" }}W{{ else }}ok{{ end }} {{ .node }}";
    assert_eq!(
        ok(src, &Ctx::new(&[("level", "error"), ("node", "n1")], "")),
        "E n1"
    );
    assert_eq!(
        ok(src, &Ctx::new(&[("level", "warn"), ("node", "n2")], "")),
        "W n2"
    );
    assert_eq!(ok(src, &Ctx::new(&[("node", "n3")], "")), "ok n3");
    let c = Ctx::new(&[("a", "x"), ("b", "")], "");
    assert_eq!(
        ok(
            "{{ if and .a .b }}1{{ else }}0{{ end }}{{ or .b .a }}{{ not .b }}",
            &c
        ),
        "0xtrue"
    );
    assert_eq!(
        ok(
            "{{ with .a }}<{{ . }}>{{ end }}{{ with .b }}no{{ else with .a }}{{.}}{{ end }}",
            &c
        ),
        "<x>x"
    );
    assert_eq!(
        ok(
            "{{ if lt .a \"y\" }}lt{{ end }}{{ if ne .a .b }}ne{{ end }}",
            &c
        ),
        "ltne"
    );
}

#[test]
fn sprig_math_casts_label_strings() {
    let c = Ctx::new(&[("bytes", "55068"), ("pid", "7"), ("lat", "1.5")], "");
    assert_eq!(
        ok("{{ div .bytes 1024 }}KiB {{ add .pid 1 }}", &c),
        "53KiB 8"
    );
    assert_eq!(
        ok(
            "{{ mulf .lat 2 }} {{ addf .lat \"0.25\" }} {{ sub 10 .pid }} {{ mod .bytes 10 }}",
            &c
        ),
        "3 1.75 3 8"
    );
    assert_eq!(
        ok(
            "{{ max 1 .pid 3 }} {{ minf .lat 9 }} {{ floor .lat }} {{ round 2.675 2 }}",
            &c
        ),
        "7 1.5 1 2.68"
    );
    assert_eq!(ok("{{ .bytes | int | printf \"%08d\" }}", &c), "00055068");
}

#[test]
fn loki_functions() {
    let c = Ctx::new(
        &[
            ("d", "1.5s"),
            ("b", "2KiB"),
            ("u", "a b/c"),
            ("e", "1679577215"),
        ],
        "foo bar foo",
    );
    assert_eq!(
        ok(
            "{{ duration .d }} {{ bytes .b }} {{ urlencode .u }} {{ urldecode \"a%2Fb+c\" }}",
            &c
        ),
        "1.5 2048 a+b%2Fc a/b c"
    );
    assert_eq!(ok("{{ __line__ | count \"fo+\" }} {{ regexReplaceAll \"(\\\\w+) bar\" __line__ \"${1}!\" }}", &c), "2 foo! foo");
    // Go's `\d` is ASCII-only.
    assert_eq!(ok(r##"{{ regexReplaceAll "\\d" "1٣" "#" }}"##, &c), "#٣");
    assert_eq!(
        ok("{{ regexReplaceAllLiteral \"o+\" __line__ \"$1\" }}", &c),
        "f$1 bar f$1"
    );
    assert_eq!(
        ok(
            "{{ alignLeft 5 \"hi\" }}|{{ alignRight 5 \"hello world\" }}",
            &c
        ),
        "hi   |world"
    );
    assert_eq!(
        ok("{{ date \"2006-01-02\" (unixToTime .e) }}", &c),
        "2023-03-23"
    );
    assert_eq!(ok("{{ b64enc \"hi\" | b64dec }} {{ title \"a b\" }} {{ upper \"x\" }} {{ repeat 3 \"ab\" }}", &c), "hi A B X ababab");
    assert_eq!(
        ok(
            "{{ substr 4 7 __line__ }}|{{ indent 2 \"a\\nb\" }}|{{ hasSuffix \"foo\" __line__ }}",
            &c
        ),
        "bar|  a\n  b|true"
    );
    assert_eq!(
        ok(
            "{{ default \"-\" .missing }} {{ .missing | default \"none\" }}",
            &c
        ),
        "- none"
    );
}

#[test]
fn timestamps() {
    let c = Ctx::new(&[], "");
    assert_eq!(
        ok("{{ __timestamp__ }}", &c),
        "2024-01-01 01:02:03.5 +0000 UTC"
    );
    assert_eq!(
        ok(
            "{{ __timestamp__ | date \"2006-01-02T15:04:05.00Z07:00\" }}",
            &c
        ),
        "2024-01-01T01:02:03.50Z"
    );
    assert_eq!(
        ok(
            "{{ __timestamp__ | unixEpoch }} {{ unixEpochMillis __timestamp__ }}",
            &c
        ),
        "1704070923 1704070923500"
    );
    assert_eq!(
        ok(
            "{{ __timestamp__.Unix }} {{ (__timestamp__).Format \"15:04\" }}",
            &c
        ),
        "1704070923 01:02"
    );
    let c = Ctx::new(&[("t", "2021-11-02T10:00:00+02:00")], "");
    assert_eq!(
        ok(
            "{{ .t | toDateInZone \"2006-01-02T15:04:05Z07:00\" \"UTC\" | unixEpoch }}",
            &c
        ),
        "1635840000"
    );
    assert_eq!(
        ok("{{ toDate \"2006-01-02\" \"bad\" }}", &c),
        "0001-01-01 00:00:00 +0000 UTC"
    );
}

#[test]
fn variables_range_and_json() {
    let c = Ctx::new(
        &[(
            "q",
            r#"[{"query":"a","n":1},{"query":"b","n":2.5},{"n":null}]"#,
        )],
        "",
    );
    assert_eq!(
        ok("{{ range $q := fromJson .q }}[{{ $q.query }}]{{ end }}", &c),
        "[a][b][<no value>]"
    );
    assert_eq!(
        ok(
            "{{ range $i, $e := fromJson .q }}{{ $i }}={{ $e.n }} {{ end }}",
            &c
        ),
        "0=1 1=2.5 2=<no value> "
    );
    assert_eq!(ok("{{ range fromJson .q }}{{ if eq .query \"b\" }}{{ break }}{{ end }}{{ .query }}{{ end }}", &c), "a");
    assert_eq!(
        ok(
            "{{ range $x := fromJson \"[]\" }}x{{ else }}empty{{ end }}",
            &c
        ),
        "empty"
    );
    assert_eq!(
        ok(
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}",
            &c
        ),
        "2"
    );
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}", &c), "012");
    assert_eq!(ok("{{ (fromJson \"{\\\"a\\\":{\\\"b\\\":[1,2]}}\").a.b }} {{ index (fromJson .q) 1 \"query\" }}", &c), "[1 2] b");
    let c = Ctx::new(&[("b", "2"), ("a", "1")], "");
    assert_eq!(
        ok(
            "{{ . }} {{ len . }} {{ range $k, $v := . }}{{ $k }}{{ $v }}{{ end }}",
            &c
        ),
        "map[a:1 b:2] 2 a1b2"
    );
}

#[test]
fn trim_markers_comments_and_literals() {
    let c = Ctx::new(&[("a", "x")], "");
    assert_eq!(
        ok(
            "a  {{- .a -}}  b {{/* note */}}c {{- /* trimmed */ -}} d",
            &c
        ),
        "axb cd"
    );
    assert_eq!(ok("{{ \"q\\t\\\"\" }}{{ `raw\\n` }}{{ 'a' }} {{ 0x1F }} {{ 1e3 }} {{ -2 }} {{ 1.0 }} {{ true }} {{ 2.50 }}", &c), "q\t\"raw\\n97 31 1000 -2 1 true 2.5");
    assert_eq!(ok("{{ print 1 2 \"a\" 3 }}|{{ println \"x\" }}|{{ html \"<b>\" }}|{{ urlquery \"a b\" }}|{{ js \"'\" }}", &c), "1 2a3|x\n|&lt;b&gt;|a+b|\\'");
}

#[test]
fn render_errors_use_go_messages() {
    let c = Ctx::new(&[("a", "10"), ("n", "3")], "line");
    assert_eq!(
        render("{{ div .a 0 }}", &c).unwrap_err(),
        "template: line:1:3: executing \"line\" at <div .a 0>: error calling div: runtime error: integer divide by zero"
    );
    assert_eq!(
        render("x\n {{ trunc .n __line__ }}", &c).unwrap_err(),
        "template: line:2:10: executing \"line\" at <.n>: wrong type for value; expected int; got string"
    );
    assert_eq!(
        render("{{ eq .a 10 }}", &c).unwrap_err(),
        "template: line:1:3: executing \"line\" at <eq .a 10>: error calling eq: incompatible types for comparison"
    );
    assert_eq!(
        render("{{ ToUpper 5 }}", &c).unwrap_err(),
        "template: line:1:11: executing \"line\" at <5>: expected string; found 5"
    );
    assert_eq!(
        render("{{ __line__ 1 }}", &c).unwrap_err(),
        "template: line:1:3: executing \"line\" at <__line__>: wrong number of args for __line__: want 0 got 1"
    );
    assert_eq!(
        render("{{ .a.b }}", &c).unwrap_err(),
        "template: line:1:3: executing \"line\" at <.a.b>: can't evaluate field b in type string"
    );
    assert!(render("{{ regexReplaceAll \"(\" .a \"x\" }}", &c)
        .unwrap_err()
        .contains("error calling regexReplaceAll"));
    assert!(render("{{ range .a }}{{ end }}", &c)
        .unwrap_err()
        .contains("range can't iterate over 10"));
}

#[test]
fn parse_errors_name_the_template() {
    let err = Template::parse("{{.foo", "line").unwrap_err().to_string();
    assert_eq!(err, "template: line:1: unclosed action");
    let err = Template::parse("{{ foo }}", "label")
        .unwrap_err()
        .to_string();
    assert_eq!(err, "template: label:1: function \"foo\" not defined");
}

#[test]
fn required_labels_lists_fields() {
    let t = Template::parse(
        "{{ .b }} {{ if .a }}{{ .c.d | lower }}{{ end }} {{ (printf \"%s\" .b) }}",
        "line",
    )
    .unwrap();
    assert_eq!(t.required_labels(), vec!["a", "b", "c"]);
}

#[test]
fn output_buffer_is_reused() {
    let t = Template::parse("{{ .a }}", "line").unwrap();
    let mut out = String::from("stale");
    t.render(&Ctx::new(&[("a", "v")], ""), &mut out).unwrap();
    assert_eq!(out, "v");
}

const VOCAB: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    ".a",
    ".b",
    ".a.b",
    "$",
    "$x",
    "$x :=",
    "$x =",
    "|",
    "(",
    ")",
    "\"s\"",
    "`r`",
    "1",
    "-2",
    "1.5",
    "'c'",
    "true",
    "nil",
    "if",
    "else",
    "end",
    "range",
    "with",
    "break",
    "continue",
    "and",
    "or",
    "not",
    "eq",
    "lt",
    "len",
    "index",
    "slice",
    "printf",
    "\"%d %s %v %05.2f %x %q\"",
    "print",
    "html",
    "js",
    "urlquery",
    "__line__",
    "__timestamp__",
    "trunc",
    "substr",
    "add",
    "div",
    "mod",
    "divf",
    "round",
    "fromJson",
    "date",
    "toDate",
    "unixToTime",
    "repeat",
    "indent",
    "b64dec",
    "regexReplaceAll",
    "count",
    "\"(\"",
    "default",
    "bytes",
    "duration",
    "ToUpper",
    "\"%.99999f %.70000e %1000000d %[3]*.[2]*[1]f\"",
    "toDateInZone",
    "\"2006年-07:00\"",
    "Replace",
    "alignLeft",
    "0",
    "99999999999",
    "/*",
    "*/",
    ",",
    "=",
    ":=",
    "x",
    "\n",
];

proptest! {
    #[test]
    fn parse_never_panics(src in ".{0,60}") {
        let _ = Template::parse(&src, "line");
    }

    #[test]
    fn token_soup_never_panics(
        toks in proptest::collection::vec(proptest::sample::select(VOCAB), 0..40),
        a in ".{0,12}",
        b in "[0-9.e+-]{0,8}",
        line in ".{0,30}",
        ts in any::<i64>(),
    ) {
        let src: String = toks.join(" ");
        if let Ok(t) = Template::parse(&src, "line") {
            let mut c = Ctx::new(&[("a", &a), ("b", &b)], &line);
            c.ts = ts;
            let mut out = String::new();
            let _ = t.render(&c, &mut out);
        }
    }

    #[test]
    fn actions_with_random_labels_never_panic(
        f in proptest::sample::select(&[
            "{{ printf .a .b }}", "{{ add .a .b }}", "{{ div .a .b }}", "{{ divf .a .b }}", "{{ trunc 3 .a }}",
            "{{ fromJson .a }}", "{{ toDate .a .b }}", "{{ unixToTime .b }}", "{{ b64dec .a }}", "{{ urldecode .a }}",
            "{{ duration .a }}", "{{ bytes .b }}", "{{ regexReplaceAll .a .b \"$1\" }}", "{{ count .a .b }}",
            "{{ date .a __timestamp__ }}", "{{ index .a 0 }}", "{{ slice .a 1 }}", "{{ round .b 2 }}",
            "{{ range fromJson .a }}{{ . }}{{ end }}", "{{ substr 1 -1 .a }}", "{{ alignRight 4 .a }}",
        ][..]),
        a in ".{0,16}",
        b in ".{0,10}",
    ) {
        let t = Template::parse(f, "line").unwrap();
        let c = Ctx::new(&[("a", &a), ("b", &b)], "line");
        let mut out = String::new();
        let _ = t.render(&c, &mut out);
    }
}

/// Builds a syntactically plausible template from a byte string, so the
/// property test below exercises evaluation and not just parse errors.
fn grammar_template(choices: &[u8]) -> String {
    const FUNCS: &[&str] = &[
        "printf",
        "print",
        "len",
        "index",
        "slice",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "add",
        "sub",
        "div",
        "mod",
        "mulf",
        "divf",
        "maxf",
        "round",
        "trunc",
        "substr",
        "replace",
        "Replace",
        "Trim",
        "ToUpper",
        "title",
        "repeat",
        "indent",
        "default",
        "fromJson",
        "date",
        "toDate",
        "toDateInZone",
        "unixToTime",
        "unixEpoch",
        "duration",
        "bytes",
        "regexReplaceAll",
        "count",
        "b64dec",
        "urldecode",
        "alignLeft",
        "int",
        "float64",
        "html",
        "js",
        "urlquery",
        "ceil",
        "contains",
    ];
    const ARGS: &[&str] = &[
        ".a",
        ".b",
        ".c.d",
        "$",
        ".",
        "\"%v-%d-%5.2f-%q\"",
        "\"x\"",
        "\"2006-01-02\"",
        "0",
        "-3",
        "7",
        "2.5",
        "1e3",
        "'z'",
        "true",
        "nil",
        "__line__",
        "__timestamp__",
        "\"(a+)\"",
        "\"[1,{\\\"k\\\":2}]\"",
        "$v",
        "$v.k",
    ];
    let mut it = choices.iter().copied();
    fn pick<'s>(it: &mut impl Iterator<Item = u8>, from: &[&'s str]) -> &'s str {
        from[it.next().unwrap_or(0) as usize % from.len()]
    }
    fn cmd(it: &mut impl Iterator<Item = u8>, depth: u32, out: &mut String) {
        let n = it.next().unwrap_or(0);
        if n.is_multiple_of(3) || depth > 2 {
            out.push_str(pick(it, ARGS));
            return;
        }
        out.push_str(pick(it, FUNCS));
        for _ in 0..(n % 4) {
            out.push(' ');
            if it.next().unwrap_or(0).is_multiple_of(5) {
                out.push('(');
                cmd(it, depth + 1, out);
                out.push(')');
            } else {
                out.push_str(pick(it, ARGS));
            }
        }
    }
    fn pipeline(it: &mut impl Iterator<Item = u8>, out: &mut String) {
        cmd(it, 0, out);
        while it.next().unwrap_or(1).is_multiple_of(3) {
            out.push_str(" | ");
            out.push_str(pick(it, FUNCS));
            if it.next().unwrap_or(0).is_multiple_of(2) {
                out.push(' ');
                out.push_str(pick(it, ARGS));
            }
        }
    }
    let mut out = String::from("{{ $v := fromJson \"{\\\"k\\\":[1]}\" }}");
    while let Some(c) = it.next() {
        match c % 6 {
            0 => out.push_str("txt "),
            1 | 2 => {
                out.push_str("{{ ");
                pipeline(&mut it, &mut out);
                out.push_str(" }}");
            }
            3 => {
                let kw = pick(&mut it, &["if", "with", "range"]);
                out.push_str(&format!("{{{{ {kw} "));
                pipeline(&mut it, &mut out);
                out.push_str(" }}[{{ . }}]{{ else }}-{{ end }}");
            }
            4 => {
                out.push_str("{{ $v = ");
                pipeline(&mut it, &mut out);
                out.push_str(" }}");
            }
            _ => out.push_str("{{- \"t\" -}}"),
        }
    }
    out
}

proptest! {
    #[test]
    fn generated_templates_parse_and_render_without_panics(
        choices in proptest::collection::vec(any::<u8>(), 0..60),
        a in ".{0,12}",
        b in "[0-9a-z.%-]{0,8}",
    ) {
        let src = grammar_template(&choices);
        let t = Template::parse(&src, "line");
        prop_assert!(t.is_ok(), "{src}: {:?}", t.err());
        let c = Ctx::new(&[("a", &a), ("b", &b), ("c", "x")], "the line");
        let mut out = String::new();
        let _ = t.unwrap().render(&c, &mut out);
    }
}

#[test]
fn structured_data_for_alert_templates() {
    use super::Field;
    let labels = vec![
        ("namespace".to_string(), "media".to_string()),
        ("app".to_string(), "jellyfin".to_string()),
    ];
    let t = Template::parse(
        "{{$labels := .Labels}}{{$value := .Value}}{{ $labels.namespace }}: {{ $value }} errors ({{ printf \"%.1f\" .Value }}) {{ .Labels.missing }}|{{ .Ext }}",
        "__alert_x",
    )
    .unwrap();
    let mut out = String::new();
    t.render_fields(
        &[
            ("Labels", Field::Map(&labels)),
            ("Value", Field::Float(12.0)),
            ("Ext", Field::Str("home")),
        ],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, "media: 12 errors (12.0) |home");
}
