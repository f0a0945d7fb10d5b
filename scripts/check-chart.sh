#!/usr/bin/env bash
# Checks the Helm chart in deploy/stockd offline, with no helm binary and no cluster:
#   1. lint (Helm's own linter, strict, through the Helm Go SDK's C binding for Python);
#   2. values.schema.json against the chart defaults and every file in deploy/stockd/ci/;
#   3. render every ci/ file and validate each manifest, strictly (unknown fields fail), against
#      the Kubernetes JSON schemas of every minor version from the chart's kubeVersion floor to the
#      newest the validator ships; CRDs (the ServiceMonitor) have no offline schema and are checked
#      against the Service they scrape instead;
#   4. check that the rendered pieces agree (probe ports, delay + drain vs termination grace period,
#      migrations, selectors, hardening, the metrics port open to Prometheus, the database
#      connections the pods can open within database.connectionBudget);
#   5. negative checks: broken values (a string port, a typo'd key, no database Secret, a hold TTL
#      above its maximum, one pooled connection with the availability cache on, pods that can open
#      more connections than the budget, a ServiceMonitor the NetworkPolicy would block) and a
#      broken manifest must all be rejected;
#   6. the README's values table against values.yaml (scripts/lib/chart_values_table.py): every
#      documented key has a row with its default and description, and no row lacks a key.
# Installs its two pinned Python packages into a virtualenv on first use
# (STOCKD_CHART_VENV, default ~/.cache/stockd-chart-venv). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

chart=${STOCKD_CHART:-deploy/stockd}  # another path only to test this script
venv=${STOCKD_CHART_VENV:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/stockd-chart-venv}
# Pinned: the Helm binding is alpha, and the validator's bundled schemas decide what passes.
helm_sdk=helm-python-sdk==0.2.2
validator=kubernetes-validate==1.37.0

have_tools() {
  "$venv/bin/python" - "$helm_sdk" "$validator" 2>/dev/null <<'PY'
import importlib.metadata as m, sys
sys.exit(any(m.version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
}

if ! have_tools; then
  echo "installing $helm_sdk and $validator into $venv" >&2
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian's python3 ships venv separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$helm_sdk" "$validator"
  have_tools || { echo "check-chart: $venv lacks $helm_sdk or $validator after installing" >&2; exit 1; }
fi

PYTHONPATH="scripts/lib${PYTHONPATH:+:$PYTHONPATH}" exec "$venv/bin/python" - "$chart" <<'PY'
"""The chart checks; see the header of scripts/check-chart.sh."""
import copy
import pathlib
import re
import sys
import textwrap
import time

import yaml
import helm_python as helm
import kubernetes_validate
from kubernetes_validate.utils import all_versions, major_minor

import chart_values_table

START = time.monotonic()
CHART = pathlib.Path(sys.argv[1])
RELEASE, NAMESPACE = "inventory", "shop"
results = []  # (ok, what)


def check(ok, what, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f"\n       {detail}" if detail and not ok else ""))
    return ok


def rejects(what, action):
    """A negative check: `action` must raise a Helm error."""
    try:
        action()
    except helm.HelmError as error:
        reason = textwrap.shorten(str(error).strip().splitlines()[-1], 150, placeholder=" …")
        return check(True, f"{what}: rejected ({reason})")
    return check(False, f"{what}: accepted, but must be rejected")


def kube_versions():
    """Every minor version the chart claims (kubeVersion's floor and up) that the validator knows."""
    claim = yaml.safe_load((CHART / "Chart.yaml").read_text()).get("kubeVersion", "")
    floor = re.fullmatch(r"\s*>=\s*v?(\d+)\.(\d+)(?:\.\d+)?(?:-0)?\s*", claim)
    if not floor:
        sys.exit(f"Chart.yaml kubeVersion {claim!r} is not of the form '>=1.N[.0-0]'")
    low = (int(floor[1]), int(floor[2]))
    known = sorted({major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
    versions = [v for v in known if tuple(map(int, v.split("."))) >= low]
    if not versions:
        sys.exit(f"the validator has no schemas for Kubernetes {claim}")
    return claim, versions


def render(chart, values):
    """Rendered manifests as parsed documents, hooks and tests included, NOTES.txt left out."""
    manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    docs = []
    for path, text in sorted(manifests.items()):
        if path.endswith((".yaml", ".yml")):
            docs += [(path, d) for d in yaml.safe_load_all(text) if d]
    return docs


def k8s_problems(docs, versions):
    """Schema violations, each with the versions it occurs on; and the kinds with no schema."""
    found, skipped = {}, set()
    for path, doc in docs:
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                skipped.add(f"{doc['apiVersion']} {doc['kind']}")
                break
            except kubernetes_validate.ValidationError as error:
                where = "/".join(map(str, error.absolute_path))
                found.setdefault(f"{path} ({doc['kind']}) {where}: {error.message}", []).append(version)
    problems = [f"{what} [Kubernetes {', '.join(on)}]" for what, on in found.items()]
    return problems, skipped


# === consistency of the rendered pieces ===

def by_kind(docs, kind):
    return [d for _, d in docs if d["kind"] == kind]


def env_of(container):
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def hardened(pod_spec):
    pod_sc = pod_spec.get("securityContext", {})
    bad = []
    for c in pod_spec["containers"]:
        sc = {**pod_sc, **c.get("securityContext", {})}
        if not (sc.get("runAsNonRoot") and sc.get("runAsUser", 0) != 0):
            bad.append(f"{c['name']}: not non-root")
        if not sc.get("readOnlyRootFilesystem"):
            bad.append(f"{c['name']}: writable root filesystem")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad.append(f"{c['name']}: privilege escalation allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            bad.append(f"{c['name']}: capabilities not dropped")
        if sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            bad.append(f"{c['name']}: no RuntimeDefault seccomp profile")
    return bad


def consistency(docs):
    p = []
    (deploy,) = by_kind(docs, "Deployment")
    pod = deploy["spec"]["template"]
    server = pod["spec"]["containers"][0]
    env = env_of(server)
    port_numbers = {x["containerPort"] for x in server["ports"]}
    port_names = {x["name"] for x in server["ports"]}
    pod_labels = pod["metadata"]["labels"]
    image = server["image"]

    # After SIGTERM stockd serves on through the delay, then drains: both before Kubernetes kills it.
    drain = int(env["STOCKD_SHUTDOWN_DELAY"]) + int(env["STOCKD_SHUTDOWN_GRACE_PERIOD"])
    if not pod["spec"]["terminationGracePeriodSeconds"] > drain:
        p.append("terminationGracePeriodSeconds does not exceed STOCKD_SHUTDOWN_DELAY + STOCKD_SHUTDOWN_GRACE_PERIOD")
    live = server["livenessProbe"]
    if live["periodSeconds"] * live["failureThreshold"] <= drain:
        p.append("liveness would fail and restart the container while it drains (period × threshold <= delay + drain)")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        if server[probe]["grpc"]["port"] not in port_numbers:
            p.append(f"{probe} asks a port the container does not open")
    if not selects(deploy["spec"]["selector"]["matchLabels"], pod_labels):
        p.append("the Deployment's selector does not match its pods")

    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    if bool(hpas) == ("replicas" in deploy["spec"]):
        p.append("spec.replicas must be set exactly when there is no HPA")
    for hpa in hpas:
        if hpa["spec"]["scaleTargetRef"]["name"] != deploy["metadata"]["name"]:
            p.append("the HPA scales another Deployment")

    jobs = by_kind(docs, "Job")
    if bool(jobs) != (env["STOCKD_MIGRATE_ON_START"] == "false"):
        p.append("STOCKD_MIGRATE_ON_START must be false exactly when the migration Job exists")
    for job in jobs:
        hooks = job["metadata"].get("annotations", {}).get("helm.sh/hook", "")
        c = job["spec"]["template"]["spec"]["containers"][0]
        if set(hooks.split(",")) != {"pre-install", "pre-upgrade"}:
            p.append("the migration Job is not a pre-install,pre-upgrade hook")
        if c["args"] != ["migrate"] or c["image"] != image:
            p.append("the migration Job does not run `migrate` from the server's image")
        if "DATABASE_URL" not in {e["name"] for e in c["env"]}:
            p.append("the migration Job has no DATABASE_URL")

    services = by_kind(docs, "Service")
    for svc in services:
        if not selects(svc["spec"]["selector"], pod_labels):
            p.append(f"Service {svc['metadata']['name']} does not select the server pods")
        for port in svc["spec"]["ports"]:
            if port["targetPort"] not in port_names:
                p.append(f"Service port {port['name']} targets a port the container does not open")
        for other in jobs + by_kind(docs, "Pod"):
            if selects(svc["spec"]["selector"], other["metadata"]["labels"]) or selects(
                svc["spec"]["selector"], other["spec"].get("template", {}).get("metadata", {}).get("labels", {})
            ):
                p.append(f"Service {svc['metadata']['name']} also selects {other['kind']} pods")
    main_svc = next(s for s in services if s["metadata"]["name"] == deploy["metadata"]["name"])
    grpc_port = next(x for x in main_svc["spec"]["ports"] if x["name"] == "grpc")
    if grpc_port.get("appProtocol") != "grpc":
        p.append("the Service's grpc port lacks appProtocol: grpc")

    for test in by_kind(docs, "Pod"):
        c = test["spec"]["containers"][0]
        if test["metadata"]["annotations"].get("helm.sh/hook") != "test":
            p.append("the test Pod is not a test hook")
        addr = c["args"][c["args"].index("--addr") + 1]
        host, port = re.fullmatch(r"http://([^:]+):(\d+)", addr).groups()
        if host != main_svc["metadata"]["name"] or int(port) not in {x["port"] for x in main_svc["spec"]["ports"]}:
            p.append(f"the test Pod asks {addr}, which is not a port of the Service")
        if c["args"][0] != "health-check" or c["image"] != image:
            p.append("the test Pod does not run health-check from the server's image")
        for policy in by_kind(docs, "NetworkPolicy"):
            rules = policy["spec"]["ingress"][0]["from"]
            if not any(selects(r.get("podSelector", {}).get("matchLabels", {"-": "-"}), test["metadata"]["labels"])
                       and "namespaceSelector" not in r for r in rules):
                p.append("the NetworkPolicy would block the test Pod")

    for kind in ("NetworkPolicy", "PodDisruptionBudget"):
        for d in by_kind(docs, kind):
            key = "podSelector" if kind == "NetworkPolicy" else "selector"
            if not selects(d["spec"][key]["matchLabels"], pod_labels):
                p.append(f"the {kind} does not select the server pods")

    for sm in by_kind(docs, "ServiceMonitor"):
        for policy in by_kind(docs, "NetworkPolicy"):
            if not any(any(port.get("port") == "metrics" for port in rule.get("ports", []))
                       for rule in policy["spec"]["ingress"]):
                p.append("the NetworkPolicy blocks the ServiceMonitor's scrapes of port metrics")
        if not selects(sm["spec"]["selector"]["matchLabels"], main_svc["metadata"]["labels"]):
            p.append("the ServiceMonitor does not select the Service")
        for endpoint in sm["spec"]["endpoints"]:
            if endpoint["port"] not in {x["name"] for x in main_svc["spec"]["ports"]}:
                p.append(f"the ServiceMonitor scrapes port {endpoint['port']}, which the Service lacks")
        if "STOCKD_METRICS_ADDR" not in env:
            p.append("a ServiceMonitor without STOCKD_METRICS_ADDR")

    for d in [deploy] + jobs:
        p += [f"{d['kind']}: {b}" for b in hardened(d["spec"]["template"]["spec"])]
    for d in by_kind(docs, "Pod"):
        p += [f"Pod: {b}" for b in hardened(d["spec"])]
    return p


def peak_connections(docs):
    """The most database connections the rendered pods can open at once: pods at the HPA's maximum
    (or the fixed count) plus the rollout's surge, each with its pool and its readiness check's
    connection; or those pods less the surge beside the migration Job's one."""
    (deploy,) = by_kind(docs, "Deployment")
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    pods = hpas[0]["spec"]["maxReplicas"] if hpas else deploy["spec"]["replicas"]
    strategy = deploy["spec"].get("strategy", {})
    surge = 0
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        surge = strategy.get("rollingUpdate", {}).get("maxSurge", "25%")
        if isinstance(surge, str):
            surge = -(-pods * int(surge.rstrip("%")) // 100)
    per_pod = int(env_of(deploy["spec"]["template"]["spec"]["containers"][0])["STOCKD_DB_MAX_CONNECTIONS"]) + 1
    job = 1 if by_kind(docs, "Job") else 0
    return max((pods + surge) * per_pod, pods * per_pod + job)


# === the checks ===

DEFAULT_BUDGET = yaml.safe_load((CHART / "values.yaml").read_text())["database"]["connectionBudget"]
claim, versions = kube_versions()
span = versions[0] if len(versions) == 1 else f"{versions[0]}..{versions[-1]}"
cases = {f.name: helm.values_from_yaml(f.read_text()) for f in sorted((CHART / "ci").glob("*.yaml"))}
if not check(cases, f"{CHART}/ci/ holds values files"):
    sys.exit(1)
print(f"chart {CHART}, kubeVersion {claim!r}: validating against Kubernetes {', '.join(versions)}")

with helm.Chart.load(str(CHART)) as chart:
    check(chart.schema is not None, "values.schema.json is present")
    # The defaults alone lack the required Secret, which the schema allows and rendering refuses.
    try:
        chart.validate_schema({})
        check(True, "chart defaults match values.schema.json")
    except helm.HelmError as error:
        check(False, "chart defaults match values.schema.json", str(error))

    for name, values in cases.items():
        report = helm.lint(str(CHART), values, strict=True, namespace=NAMESPACE, kube_version=f"v{versions[0]}.0")
        findings = report.get("errors", []) + [
            f"{m['path']}: {m['error']}" for m in report.get("messages", []) if m["severity"] >= 2
        ]
        check(not findings, f"{name}: lint (strict)", "; ".join(findings))
        try:
            chart.validate_schema(values)
            check(True, f"{name}: values match values.schema.json")
        except helm.HelmError as error:
            check(False, f"{name}: values match values.schema.json", str(error))
            continue
        try:
            docs = render(chart, values)
        except helm.HelmError as error:
            check(False, f"{name}: renders", str(error))
            continue
        kinds = ", ".join(sorted({d["kind"] for _, d in docs}))
        problems, skipped = k8s_problems(docs, versions)
        check(not problems, f"{name}: {len(docs)} manifests ({kinds}) valid on Kubernetes {span} (strict)",
              "\n       ".join(problems[:10]))
        for s in sorted(skipped):
            print(f"     {name}: {s} is a CRD with no offline schema; checked against the Service below")
        problems = consistency(docs)
        check(not problems, f"{name}: rendered pieces agree (probes, grace period, migrations, selectors, hardening)",
              "\n       ".join(problems))
        budget = values.get("database", {}).get("connectionBudget", DEFAULT_BUDGET)
        peak = peak_connections(docs)
        check(peak <= budget, f"{name}: the pods open at most {peak} database connections, within the budget of {budget}")

    base = cases.get("default-values.yaml") or next(iter(cases.values()))

    def with_value(path, value, start=None):
        values = copy.deepcopy(base if start is None else start)
        *parents, leaf = path.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
        return values

    print("negative checks (each must be rejected):")
    broken = with_value("service.port", "abc")
    rejects('service.port: "abc" fails values.schema.json', lambda: chart.validate_schema(broken))
    rejects('service.port: "abc" fails rendering', lambda: chart.render(broken, name=RELEASE, namespace=NAMESPACE))
    rejects('grpc.port: "50051" (a string) fails values.schema.json',
            lambda: chart.validate_schema(with_value("grpc.port", "50051")))
    rejects("an unknown top-level key (replicas) fails values.schema.json",
            lambda: chart.validate_schema(with_value("replicas", 3)))
    rejects("an unknown key in database fails values.schema.json",
            lambda: chart.validate_schema(with_value("database.password", "hunter2")))
    rejects("no database.existingSecret fails rendering",
            lambda: chart.render(with_value("database.existingSecret", None), name=RELEASE, namespace=NAMESPACE))
    rejects("holds.ttlDefaultSeconds above holds.ttlMaxSeconds fails rendering",
            lambda: chart.render(with_value("holds", {"ttlDefaultSeconds": 7200, "ttlMaxSeconds": 3600,
                                                      "sweepIntervalSeconds": 30}),
                                 name=RELEASE, namespace=NAMESPACE))
    one_connection = with_value("database.maxConnections", 1)
    rejects("database.maxConnections 1 with the availability cache on fails rendering",
            lambda: chart.render(one_connection, name=RELEASE, namespace=NAMESPACE))
    check(bool(chart.render(with_value("availabilityCache.ttlMilliseconds", 0, one_connection),
                            name=RELEASE, namespace=NAMESPACE)),
          "database.maxConnections 1 with the availability cache off renders")

    def renders(values):
        return lambda: chart.render(values, name=RELEASE, namespace=NAMESPACE)

    rejects("the previous defaults (database.maxConnections 16: 7 pods × 17 = 119 connections) fail rendering",
            renders(with_value("database.maxConnections", 16)))
    rejects("autoscaling.maxReplicas 8 (9 pods × 13 = 117 connections) fails rendering",
            renders(with_value("autoscaling.maxReplicas", 8)))
    fixed = with_value("autoscaling.enabled", False, with_value("replicaCount", 6))
    rejects("replicaCount 6 with a 50% surge (9 pods × 13) fails rendering",
            renders(with_value("updateStrategy", {"type": "RollingUpdate",
                                                  "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}},
                               fixed)))
    no_surge = with_value("updateStrategy", {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                          with_value("replicaCount", 7, fixed))
    check(bool(chart.render(no_surge, name=RELEASE, namespace=NAMESPACE)),
          "replicaCount 7 without a surge (7 × 13 + the migration Job's 1 = 92 connections) renders")
    rejects("database.connectionBudget 90 under the defaults' 91 connections fails rendering",
            renders(with_value("database.connectionBudget", 90)))
    monitored = with_value("metrics", {"enabled": True, "serviceMonitor": {"enabled": True}})
    rejects("a ServiceMonitor behind the NetworkPolicy with no metrics peers fails rendering",
            renders(with_value("networkPolicy.prometheusFrom", [], monitored)))
    docs = render(chart, monitored)
    check(not consistency(docs), "a ServiceMonitor with the default networkPolicy.prometheusFrom admits its scrapes")

    # The validator itself must be awake: a named port in a gRPC probe is invalid Kubernetes.
    docs = render(chart, base)
    deploy = copy.deepcopy(next(d for _, d in docs if d["kind"] == "Deployment"))
    deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"
    problems, _ = k8s_problems([("deployment.yaml", deploy)], versions[:1])
    check(problems, f"a gRPC probe on a named port fails Kubernetes {versions[0]} validation: "
          + ("rejected" if problems else "accepted, but must be rejected"))

print("the README's values table:")
found = chart_values_table.check(CHART)
check(not found, "README.md's values table matches values.yaml (keys, defaults, descriptions)", "\n       ".join(found))
values_text, readme_text = (CHART / "values.yaml").read_text(), (CHART / "README.md").read_text()
extra = values_text + "\n# -- A value only values.yaml has.\nundocumentedInReadme: 1\n"
check(chart_values_table.problems(extra, readme_text),
      "a value that values.yaml documents and the README lacks: rejected")
row = next(line for line in readme_text.splitlines() if line.startswith("| `replicaCount`"))
check(chart_values_table.problems(values_text, readme_text.replace(row + "\n", "")),
      "a README without a row for replicaCount: rejected")
check(chart_values_table.problems(values_text, readme_text.replace(row, row.replace("`2`", "`3`"))),
      "a README whose replicaCount default is wrong: rejected")
bare = values_text.replace("# -- Number of pods when autoscaling is disabled", "# Number of pods when autoscaling is disabled")
check(chart_values_table.problems(bare, readme_text),
      "a value in values.yaml without a # -- comment: rejected")

passed, failed = results.count(True), results.count(False)
print(f"chart checks took {time.monotonic() - START:.1f} s")
print(f"chart: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
