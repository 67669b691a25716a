#!/usr/bin/env python3
"""Proves tests/charts/validate.sh catches each kind of planted fault.

Every case copies charts/ and tests/charts/ into a temp tree, applies one edit,
runs the copied validate.sh there and asserts that it fails at the step meant
to catch the fault and says why (the unedited copy must pass, or the other
cases would prove nothing). Ends with the line "N passed, N failed".

Usage (from the repo root): python3 tests/charts/test_planted_faults.py [NAME...]
Honours LODE_BIN, FLEET_SCHEMA, LODE_TOOLS_DIR and KUBE_VERSION like validate.sh.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@dataclass
class Case:
    name: str
    path: str  # file to edit, relative to the tree root
    old: str  # text that must occur in the file
    new: str
    step: str  # substring of the validate step expected to fail
    says: str  # regex the failure output must match


CASES = [
    Case("unknown field in the StatefulSet template", "charts/lode/templates/statefulset.yaml",
         "  replicas: 1\n", "  replicas: 1\n  replicaz: 1\n",
         "kubernetes-validate", r"replicaz"),
    Case("unknown field in the overlay Ingress", "charts/lode/overlays/dev/ingress.yaml",
         "  ingressClassName: traefik\n", "  ingressClassNmae: traefik\n",
         "kubernetes-validate", r"ingressClassNmae"),
    Case("wrong type in chart values", "charts/lode/values.yaml",
         "  cpu: 500m\n", "  cpu: [500m]\n",
         "kubernetes-validate", r"cpu"),
    Case("typo in charts/lode/fleet.yaml", "charts/lode/fleet.yaml",
         "  releaseName: lode\n", "  releasename: lode\n",
         "Fleet schema", r"releasename"),
    Case("typo in charts/alloy/fleet.yaml", "charts/alloy/fleet.yaml",
         "  valuesFiles:\n", "  valueFiles:\n",
         "Fleet schema", r"valueFiles"),
    Case("broken Alloy component reference", "charts/alloy/values.yaml",
         "forward_to = [loki.write.lode.receiver]", "forward_to = [loki.write.lodes.receiver]",
         "alloy_check", r"loki\.write\.lodes\.receiver refers to a component that is not declared"),
    Case("wrong Alloy export", "charts/alloy/values.yaml",
         "targets    = discovery.relabel.pod_logs.output", "targets    = discovery.relabel.pod_logs.targets",
         "alloy_check", r"no export 'targets'"),
    Case("unbalanced Alloy block", "charts/alloy/values.yaml",
         '        role = "pod"\n      }\n', '        role = "pod"\n',
         "alloy_check", r"never closed|closes"),
    Case("Alloy with host-path mounts", "charts/alloy/values.yaml",
         "    varlog: false\n", "    varlog: true\n",
         "alloy_check", r"mounts\.varlog must be false"),
    Case("chart config that lode rejects", "charts/lode/values.yaml",
         "    retention_period: 720h\n", "    retention_period: 720h\n    retention_perod: 24h\n",
         "lode --check-config", r"retention_perod"),
    Case("dashboard pointing at another Loki datasource", "charts/lode/dashboards/logs-overview.json",
         '"uid": "${LODE_DS_UID}"', '"uid": "loki"',
         "rendered bundle checks", r"Loki datasource uid 'loki'"),
    Case("dashboard using a metric Lode does not export", "charts/lode/dashboards/lode-health.json",
         "lode_wal_syncs_total", "lode_wal_fsyncs_total",
         "rendered bundle checks", r"lode_wal_fsyncs_total"),
    Case("PVC deleted with the StatefulSet", "charts/lode/values.yaml",
         "  whenDeleted: Retain\n", "  whenDeleted: Delete\n",
         "rendered bundle checks", r"Retain"),
    Case("grace period shorter than Lode's shutdown", "charts/lode/values.yaml",
         "terminationGracePeriodSeconds: 120\n", "terminationGracePeriodSeconds: 20\n",
         "rendered bundle checks", r"graceful_shutdown_timeout"),
    Case("Ingress pointing at a Service the chart does not render", "charts/lode/overlays/dev/ingress.yaml",
         "                name: lode\n", "                name: loki\n",
         "rendered bundle checks", r"backend Service 'loki' is not in the bundle"),
    Case("Ingress that no longer routes the web UI", "charts/lode/overlays/dev/ingress.yaml",
         "          - path: /\n", "          - path: /loki\n",
         "rendered bundle checks", r"no path routes /ui/"),
    Case("duplicate key in YAML", "charts/lode/values.yaml",
         "nameOverride: \"\"\n", "nameOverride: \"\"\nnameOverride: x\n",
         "yamllint", r"duplication of key"),
    Case("broken Helm template", "charts/lode/templates/service.yaml",
         "  type: {{ .Values.service.type }}\n", "  type: {{ .Values.service.type \n",
         "helm lint", r"service\.yaml"),
]


def env_for_copy() -> dict:
    env = dict(os.environ)
    lode_bin = env.get("LODE_BIN", "target/release/lode")
    env["LODE_BIN"] = lode_bin if os.path.isabs(lode_bin) else os.path.join(ROOT, lode_bin)
    schema = env.get("FLEET_SCHEMA", os.path.join(ROOT, "..", "shared", "schemas", "fleet.yaml.json"))
    env["FLEET_SCHEMA"] = os.path.abspath(schema)
    env.pop("LODE_ROOT", None)
    return env


def run_validate(case: Case | None) -> tuple[int, str]:
    with tempfile.TemporaryDirectory(prefix="lode-fault-") as tmp:
        for sub in ("charts", os.path.join("tests", "charts")):
            shutil.copytree(os.path.join(ROOT, sub), os.path.join(tmp, sub))
        if case is not None:
            path = os.path.join(tmp, case.path)
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if case.old not in text:
                return -1, f"fault anchor not found in {case.path}: {case.old!r}"
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.replace(case.old, case.new, 1))
        proc = subprocess.run(
            ["bash", os.path.join(tmp, "tests", "charts", "validate.sh")],
            cwd=tmp, env=env_for_copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=240,
        )
        return proc.returncode, proc.stdout


def failed_step(output: str) -> str:
    m = re.findall(r'FAIL: step "([^"]*)" failed', output)
    return m[-1] if m else ""


def main(argv: list[str]) -> int:
    wanted = argv[1:]
    passed = failed = 0

    def report(ok: bool, name: str, why: str = "", output: str = "") -> None:
        nonlocal passed, failed
        if ok:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}: {why}")
            tail = "\n".join(output.strip().splitlines()[-15:])
            if tail:
                print("     " + tail.replace("\n", "\n     "))

    if not wanted or "baseline" in wanted:
        rc, out = run_validate(None)
        report(rc == 0, "baseline: the unmodified tree validates", f"validate exited {rc}", out)

    for case in CASES:
        if wanted and case.name not in wanted:
            continue
        rc, out = run_validate(case)
        step = failed_step(out)
        if rc == 0:
            report(False, case.name, "validate passed despite the fault", out)
        elif rc < 0:
            report(False, case.name, out)
        elif case.step not in step:
            report(False, case.name, f"failed at step {step!r}, expected {case.step!r}", out)
        elif not re.search(case.says, out):
            report(False, case.name, f"output does not match {case.says!r}", out)
        else:
            report(True, f"{case.name} (caught by: {step})")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
