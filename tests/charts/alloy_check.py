#!/usr/bin/env python3
"""Offline checks for the Alloy bundle (charts/alloy/values.yaml).

No registry ships an Alloy parser, so this is a small one of our own:

* the Alloy config (alloy.configMap.content) is tokenized and parsed: balanced
  delimiters, terminated strings and comments, one statement per line, and
  well-formed blocks, attributes and expressions;
* every dotted reference such as ``discovery.relabel.pod_logs.output`` must
  name a component declared in the config and one of that component's exports;
* the chart values follow the deployment's rules: a StatefulSet with a claim
  template mounted at storagePath, no host-path mounts, reporting off, and a
  loki.write endpoint on Loki's push path.

Usage: alloy_check.py VALUES.yaml          (checks values + embedded config)
       alloy_check.py --config FILE.alloy  (checks a bare Alloy config)
Exit status 0 when clean, 1 with one "path:line: message" per problem.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

# Exports per component name; a component missing here may export anything.
EXPORTS = {
    "discovery.relabel": {"output", "rules"},
    "loki.write": {"receiver"},
    "loki.process": {"receiver"},
    "loki.relabel": {"receiver", "rules"},
    "loki.echo": {"receiver"},
    "loki.source.kubernetes": set(),
    "loki.source.kubernetes_events": set(),
    "loki.source.file": set(),
    "loki.source.podlogs": set(),
    "local.file": {"content"},
    "local.file_match": {"targets"},
    "prometheus.remote_write": {"receiver"},
    "prometheus.relabel": {"receiver", "rules"},
    "prometheus.scrape": set(),
}
# Every discovery.* component other than discovery.relabel exports targets.
DISCOVERY_EXPORTS = {"targets"}

# First segments that name component namespaces: a reference starting with one
# of these must resolve to a declared component.
COMPONENT_NAMESPACES = {
    "beyla", "database_observability", "discovery", "faro", "local", "loki",
    "mimir", "otelcol", "prometheus", "pyroscope", "remote",
}
# Standard library namespaces and constants usable in expressions.
STDLIB = {
    "array", "coalesce", "constants", "convert", "encoding", "env", "file",
    "format", "join", "json_decode", "json_path", "nonsensitive", "sys",
    "string", "to_lower", "to_upper", "trim", "trim_prefix", "trim_space",
    "trim_suffix", "concat", "split", "replace",
}
LITERALS = {"true", "false", "null"}

PUNCT2 = ("==", "!=", "<=", ">=", "&&", "||")
PUNCT1 = "{}[](),.=+-*/%^<>!:"


class CheckError(Exception):
    def __init__(self, line: int, msg: str):
        super().__init__(msg)
        self.line = line
        self.msg = msg


@dataclass
class Tok:
    kind: str  # ident, string, number, punct, eof
    text: str
    line: int


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    i, line, n = 0, 1, len(src)
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif src.startswith("//", i):
            while i < n and src[i] != "\n":
                i += 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                raise CheckError(line, "unterminated /* comment")
            line += src.count("\n", i, end)
            i = end + 2
        elif c == '"':
            start_line, j, buf = line, i + 1, []
            while True:
                if j >= n or src[j] == "\n":
                    raise CheckError(start_line, "unterminated string")
                if src[j] == "\\":
                    if j + 1 >= n:
                        raise CheckError(start_line, "unterminated string")
                    buf.append(src[j:j + 2])
                    j += 2
                    continue
                if src[j] == '"':
                    break
                buf.append(src[j])
                j += 1
            toks.append(Tok("string", "".join(buf), start_line))
            i = j + 1
        elif c == "`":
            end = src.find("`", i + 1)
            if end < 0:
                raise CheckError(line, "unterminated raw string")
            toks.append(Tok("string", src[i + 1:end], line))
            line += src.count("\n", i, end)
            i = end + 1
        elif c.isalpha() or c == "_":
            m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").match(src, i)
            toks.append(Tok("ident", m.group(0), line))
            i = m.end()
        elif c.isdigit():
            m = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?").match(src, i)
            toks.append(Tok("number", m.group(0), line))
            i = m.end()
        elif src[i:i + 2] in PUNCT2:
            toks.append(Tok("punct", src[i:i + 2], line))
            i += 2
        elif c in PUNCT1:
            toks.append(Tok("punct", c, line))
            i += 1
        else:
            raise CheckError(line, f"unexpected character {c!r}")
    toks.append(Tok("eof", "", line))
    check_balance(toks)
    return toks


def check_balance(toks: list[Tok]) -> None:
    """Reports the first unbalanced delimiter with the line it opened on."""
    pairs = {"}": "{", "]": "[", ")": "("}
    stack: list[Tok] = []
    for t in toks:
        if t.kind != "punct":
            continue
        if t.text in "{[(":
            stack.append(t)
        elif t.text in pairs:
            if not stack:
                raise CheckError(t.line, f"unmatched {t.text!r}")
            if stack[-1].text != pairs[t.text]:
                o = stack[-1]
                raise CheckError(t.line, f"{t.text!r} closes {o.text!r} opened on line {o.line}")
            stack.pop()
    if stack:
        raise CheckError(stack[-1].line, f"{stack[-1].text!r} is never closed")


@dataclass
class Ref:
    parts: list[str]
    line: int
    attr: str  # attribute it appears in, e.g. "forward_to"


@dataclass
class Block:
    name: str
    label: str | None
    line: int
    attrs: dict[str, list] = field(default_factory=dict)
    children: list["Block"] = field(default_factory=list)


class Parser:
    """Recursive descent over Alloy's block/attribute/expression grammar."""

    def __init__(self, toks: list[Tok]):
        self.toks = toks
        self.pos = 0
        self.refs: list[Ref] = []
        self.current_attr = ""
        self.sink: dict[str, list] | None = None

    def peek(self, k: int = 0) -> Tok:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def next(self) -> Tok:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def expect(self, kind: str, text: str | None = None) -> Tok:
        t = self.next()
        if t.kind != kind or (text is not None and t.text != text):
            want = text or kind
            got = t.text or t.kind
            raise CheckError(t.line, f"expected {want!r}, found {got!r}")
        return t

    def body(self, closing: str | None) -> list[Block]:
        blocks: list[Block] = []
        last_line = 0
        while True:
            t = self.peek()
            if closing is None and t.kind == "eof":
                return blocks
            if closing is not None and t.kind == "punct" and t.text == closing:
                return blocks
            if t.kind != "ident":
                raise CheckError(t.line, f"expected a block or attribute name, found {t.text or t.kind!r}")
            if t.line == last_line:
                raise CheckError(t.line, "two statements on one line")
            self.statement(blocks)
            last_line = self.toks[self.pos - 1].line

    def statement(self, blocks: list[Block]) -> None:
        name_tok = self.next()
        if self.peek().kind == "punct" and self.peek().text == "=":
            self.next()
            self.current_attr = name_tok.text
            value = self.expr()
            if self.sink is not None:
                self.sink.setdefault(name_tok.text, []).append(value)
            return
        parts = [name_tok.text]
        while self.peek().kind == "punct" and self.peek().text == ".":
            self.next()
            parts.append(self.expect("ident").text)
        label = None
        if self.peek().kind == "string":
            label = self.next().text
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label):
                raise CheckError(name_tok.line, f"invalid block label {label!r}")
        self.expect("punct", "{")
        blk = Block(".".join(parts), label, name_tok.line)
        outer = self.sink
        self.sink = blk.attrs
        blk.children = self.body("}")
        self.sink = outer
        self.expect("punct", "}")
        blocks.append(blk)

    # Expressions: precedence is irrelevant for checking, only shape matters.
    def expr(self):
        value = self.unary()
        while self.peek().kind == "punct" and self.peek().text in (
            "==", "!=", "<", "<=", ">", ">=", "&&", "||", "+", "-", "*", "/", "%", "^",
        ):
            self.next()
            self.unary()
            value = None
        return value

    def unary(self):
        while self.peek().kind == "punct" and self.peek().text in ("!", "-"):
            self.next()
        return self.postfix()

    def postfix(self):
        t = self.peek()
        if t.kind == "ident":
            self.next()
            parts = [t.text]
            called = False
            while self.peek().kind == "punct" and self.peek().text in (".", "[", "("):
                p = self.next().text
                if p == ".":
                    parts.append(self.expect("ident").text)
                elif p == "[":
                    self.expr()
                    self.expect("punct", "]")
                else:
                    called = True
                    self.seq(")")
            if not called:
                self.refs.append(Ref(parts, t.line, self.current_attr))
            return Ref(parts, t.line, "") if not called else None
        value = self.primary()
        while self.peek().kind == "punct" and self.peek().text in (".", "["):
            if self.next().text == ".":
                self.expect("ident")
            else:
                self.expr()
                self.expect("punct", "]")
        return value

    def primary(self):
        t = self.next()
        if t.kind == "string":
            return t.text
        if t.kind == "number":
            return t.text
        if t.kind == "punct" and t.text == "[":
            return self.seq("]")
        if t.kind == "punct" and t.text == "{":
            self.object()
            return None
        if t.kind == "punct" and t.text == "(":
            v = self.expr()
            self.expect("punct", ")")
            return v
        raise CheckError(t.line, f"expected an expression, found {t.text or t.kind!r}")

    def seq(self, closing: str) -> list:
        items = []
        while not (self.peek().kind == "punct" and self.peek().text == closing):
            items.append(self.expr())
            if self.peek().kind == "punct" and self.peek().text == ",":
                self.next()
                continue
            if not (self.peek().kind == "punct" and self.peek().text == closing):
                t = self.peek()
                raise CheckError(t.line, f"expected ',' or {closing!r}, found {t.text or t.kind!r}")
        self.next()
        return items

    def object(self) -> None:
        while not (self.peek().kind == "punct" and self.peek().text == "}"):
            key = self.next()
            if key.kind not in ("ident", "string"):
                raise CheckError(key.line, f"expected an object key, found {key.text or key.kind!r}")
            self.expect("punct", "=")
            self.expr()
            if self.peek().kind == "punct" and self.peek().text == ",":
                self.next()
                continue
            if not (self.peek().kind == "punct" and self.peek().text == "}"):
                t = self.peek()
                raise CheckError(t.line, f"expected ',' or '}}', found {t.text or t.kind!r}")
        self.next()


def exports_of(component: str) -> set[str] | None:
    if component in EXPORTS:
        return EXPORTS[component]
    if component.startswith("discovery."):
        return DISCOVERY_EXPORTS
    return None


def check_config(src: str) -> tuple[list[CheckError], list[Block]]:
    """Returns the problems found in an Alloy config and its top-level blocks."""
    try:
        toks = tokenize(src)
        parser = Parser(toks)
        blocks = parser.body(None)
    except CheckError as e:
        return [e], []
    errors: list[CheckError] = []

    declared: dict[tuple[str, ...], Block] = {}
    for b in blocks:
        if b.label is None:
            continue  # config blocks such as logging {} or http {}
        key = tuple(b.name.split(".")) + (b.label,)
        if key in declared:
            errors.append(CheckError(b.line, f"{b.name} \"{b.label}\" declared twice (first on line {declared[key].line})"))
        declared[key] = b

    for ref in parser.refs:
        head = ref.parts[0]
        if len(ref.parts) == 1 and (head in LITERALS or head in STDLIB):
            continue
        match = None
        for key, blk in declared.items():
            if tuple(ref.parts[:len(key)]) == key:
                match = (key, blk)
                break
        if match is None:
            if head in STDLIB:
                continue
            dotted = ".".join(ref.parts)
            if head in COMPONENT_NAMESPACES:
                errors.append(CheckError(ref.line, f"{dotted} refers to a component that is not declared"))
            else:
                errors.append(CheckError(ref.line, f"unknown identifier {dotted}"))
            continue
        key, blk = match
        rest = ref.parts[len(key):]
        allowed = exports_of(blk.name)
        if not rest:
            errors.append(CheckError(ref.line, f"{'.'.join(ref.parts)} names a component, not one of its exports"))
        elif allowed is not None and rest[0] not in allowed:
            want = ", ".join(sorted(allowed)) or "nothing"
            errors.append(CheckError(ref.line, f"{blk.name} has no export {rest[0]!r} (it exports {want})"))
        elif ref.attr == "forward_to" and rest[0] != "receiver":
            errors.append(CheckError(ref.line, f"forward_to needs receivers, got {'.'.join(ref.parts)}"))
        elif ref.attr == "targets" and rest[0] not in ("targets", "output"):
            errors.append(CheckError(ref.line, f"targets needs a target list, got {'.'.join(ref.parts)}"))

    for b in blocks:
        if b.name != "loki.write":
            continue
        urls = [v for ch in b.children if ch.name == "endpoint" for v in ch.attrs.get("url", [])]
        if not urls:
            errors.append(CheckError(b.line, "loki.write has no endpoint with a url"))
        for u in urls:
            # Non-literal urls (e.g. sys.env(...)) cannot be checked offline.
            if isinstance(u, str) and not re.fullmatch(r"https?://[^/\s]+/loki/api/v1/push", u):
                errors.append(CheckError(b.line, f"loki.write url {u!r} is not a Loki push URL"))
    if not any(b.name == "loki.write" for b in blocks):
        errors.append(CheckError(1, "no loki.write component: logs would go nowhere"))
    return errors, blocks


def check_values(values: dict) -> list[str]:
    """Deployment rules for the Alloy chart values (see docs/deploy.md)."""
    problems = []
    ctrl = values.get("controller") or {}
    alloy = values.get("alloy") or {}
    mounts = alloy.get("mounts") or {}
    if ctrl.get("type") != "statefulset":
        problems.append("controller.type must be statefulset (positions need a per-pod claim)")
    claims = [c.get("metadata", {}).get("name") for c in ctrl.get("volumeClaimTemplates") or []]
    if not claims:
        problems.append("controller.volumeClaimTemplates is empty: positions would be lost on restart")
    for key in ("varlog", "dockercontainers"):
        if mounts.get(key, False):
            problems.append(f"alloy.mounts.{key} must be false: no host-path mounts")
    storage = alloy.get("storagePath")
    extra = {m.get("name"): m.get("mountPath") for m in mounts.get("extra") or []}
    if not any(extra.get(c) == storage for c in claims):
        problems.append(f"alloy.storagePath {storage!r} is not the mount path of a claim template")
    if alloy.get("enableReporting", True) is not False:
        problems.append("alloy.enableReporting must be false")
    cm = alloy.get("configMap") or {}
    content = cm.get("content")
    if not isinstance(content, str) or not content.strip():
        problems.append("alloy.configMap.content is empty")
    elif "{{" in content:
        problems.append("alloy.configMap.content contains '{{', which the chart's tpl would evaluate")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] == "--config":
        path = argv[2]
        with open(path, encoding="utf-8") as f:
            src = f.read()
        errors, _ = check_config(src)
        for e in errors:
            print(f"{path}:{e.line}: {e.msg}")
        return 1 if errors else 0
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import yaml  # only needed for values files; installed by validate.sh

    path = argv[1]
    with open(path, encoding="utf-8") as f:
        values = yaml.safe_load(f) or {}
    problems = [f"{path}: {p}" for p in check_values(values)]
    content = ((values.get("alloy") or {}).get("configMap") or {}).get("content")
    if isinstance(content, str):
        errors, blocks = check_config(content)
        problems += [f"{path}: alloy.configMap.content:{e.line}: {e.msg}" for e in errors]
        if not errors:
            names = sorted(f"{b.name}.{b.label}" for b in blocks if b.label)
            print(f"alloy config OK: {', '.join(names)}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
