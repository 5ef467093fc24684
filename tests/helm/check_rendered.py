#!/usr/bin/env python3
"""Checks on `helm template` output (tests/helm/run.sh).

check_rendered.py WORKDIR config/rbac/role.yaml   default.yaml, all.yaml, webhook-operator.yaml
check_rendered.py --no-collision A.yaml B.yaml     two releases share no object
Each failed expectation is printed; the exit code is the number of failures (at most 100).
"""
import sys

import yaml

failures = []


def expect(cond, what):
    if not cond:
        failures.append(what)


def load(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]


def objects(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def one(docs, kind, name=None):
    found = [d for d in objects(docs, kind) if name is None or d["metadata"]["name"] == name]
    expect(len(found) == 1, f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}")
    return found[0] if found else {}


def key(d):
    return (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])


def container(deploy):
    return deploy["spec"]["template"]["spec"]["containers"][0]


def env_of(c):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def names_prefixed(docs, prefix, file, given=()):
    """Every name starts with the release prefix, except the CRDs and names the values set."""
    for d in docs:
        name = d["metadata"]["name"]
        if (d["kind"], name) in given:
            continue
        if d["kind"] == "CustomResourceDefinition":
            expect(name.endswith(".azop.dev"), f"{file}: CRD {name}")
            continue
        expect(name.startswith(prefix), f"{file}: {d['kind']} {name} is not prefixed {prefix!r}")
        expect("azop-azop" not in name, f"{file}: {d['kind']} {name} repeats azop")
        expect(len(name) <= 63, f"{file}: {d['kind']} {name} is longer than 63 characters")


def rules_of(path, name):
    for d in load(path):
        if d["metadata"]["name"] == name:
            return d["rules"]
    raise SystemExit(f"{path} has no {name}")


def check_default(docs, rbac):
    names_prefixed(docs, "azop", "default")
    kinds = sorted({d["kind"] for d in docs})
    expect(kinds == sorted(["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment",
                            "MutatingWebhookConfiguration", "PodDisruptionBudget", "Pod", "Role", "RoleBinding",
                            "Service", "ServiceAccount"]),
           f"default kinds: {kinds}")
    crds = objects(docs, "CustomResourceDefinition")
    expect(sorted(c["metadata"]["name"] for c in crds) ==
           ["aksclusters.azop.dev", "azureclusters.azop.dev", "proxyconfigs.azop.dev", "storagebindings.azop.dev"],
           "four CRDs")
    for c in crds:
        expect(c["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep",
               f"CRD {c['metadata']['name']} lacks helm.sh/resource-policy: keep")
        # The template re-serialises the generated file: the schema must come out unchanged.
        generated = yaml.safe_load(open(f"charts/azop/files/crds/azop.dev_{c['spec']['names']['plural']}.yaml"))
        expect(c["spec"] == generated["spec"], f"CRD {c['metadata']['name']}: spec differs from files/crds/")
    # The operator's roles are exactly config/rbac/'s.
    expect(one(docs, "ClusterRole", "azop-manager").get("rules") == rules_of(rbac, "azop-manager"),
           "ClusterRole azop-manager differs from config/rbac/role.yaml")
    expect(one(docs, "Role", "azop-leader-election").get("rules") == rules_of(rbac, "azop-leader-election"),
           "Role azop-leader-election differs from config/rbac/role.yaml")
    for role, label in [("azop-view", "aggregate-to-view"), ("azop-edit", "aggregate-to-edit"), ("azop-edit", "aggregate-to-admin")]:
        expect(one(docs, "ClusterRole", role).get("metadata", {}).get("labels", {}).get(f"rbac.authorization.k8s.io/{label}") == "true",
               f"{role} lacks {label}")
    edit = one(docs, "ClusterRole", "azop-edit").get("rules", [])
    expect(all("/status" not in r for rule in edit for r in rule["resources"]), "tenants must not write status")
    dep = one(docs, "Deployment", "azop")
    pod = dep["spec"]["template"]["spec"]
    c = container(dep)
    expect(pod["securityContext"].get("runAsUser") == 65532 and pod["securityContext"].get("runAsNonRoot") is True,
           "runs as 65532, non-root")
    expect(c["securityContext"].get("readOnlyRootFilesystem") is True, "read-only root filesystem")
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    expect("preferredDuringSchedulingIgnoredDuringExecution" in anti, f"default soft anti-affinity: {anti}")
    expect(dep["spec"]["replicas"] == 2, "two replicas")
    expect("--lease-name=azop-leader" in c["args"], f"lease per release: {c['args']}")
    expect("--shards=1" in c["args"], f"one leader by default: {c['args']}")
    expect(not any(a.startswith("--namespace") for a in c["args"]), "cluster-wide by default")
    expect(not any(n.upper() in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY") for n in env_of(c)), "no proxy env by default")
    expect(one(docs, "PodDisruptionBudget", "azop").get("spec", {}).get("maxUnavailable") == 1, "PDB maxUnavailable 1")
    test = one(docs, "Pod", "azop-test")
    expect(test.get("metadata", {}).get("annotations", {}).get("helm.sh/hook") == "test", "test pod is a test hook")
    expect(test.get("spec", {}).get("containers", [{}])[0].get("args") ==
           ["probe", "http://azop-metrics.azop-system.svc:8080/readyz"], "test pod probes the metrics Service")
    one(docs, "Service", "azop-metrics")
    check_default_webhook(docs, c)


def check_hooks(mwc, release_ns, extra_excluded=(), watch_ns=None):
    """The two webhooks of the injector as docs/proxy.md describes them."""
    hooks = {h["name"]: h for h in mwc.get("webhooks", [])}
    expect(sorted(hooks) == ["pods.proxy-injector.azop.dev", "workloads.proxy-injector.azop.dev"], f"webhooks {sorted(hooks)}")
    for name, h in hooks.items():
        expect(h.get("reinvocationPolicy") == "IfNeeded", f"{name}: reinvocationPolicy {h.get('reinvocationPolicy')}")
        expect(h.get("sideEffects") == "None" and h.get("admissionReviewVersions") == ["v1"], f"{name}: sideEffects, versions")
        expect(h.get("objectSelector") == {"matchLabels": {"spectrocloud.com/connection": "proxy"}}, f"{name}: only labelled objects")
        sel = h.get("namespaceSelector", {})
        want = [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                 "values": ["kube-system", release_ns, *extra_excluded]}]
        expect(sel.get("matchExpressions") == want, f"{name}: namespace exclusions {sel}")
        if watch_ns:
            expect(sel.get("matchLabels") == {"kubernetes.io/metadata.name": watch_ns}, f"{name}: namespace-scoped {sel}")
        else:
            expect("matchLabels" not in sel, f"{name}: cluster-wide {sel}")
    pods = hooks.get("pods.proxy-injector.azop.dev", {})
    expect(pods.get("rules") == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                  "resources": ["pods"], "scope": "Namespaced"}], f"pod rules {pods.get('rules')}")
    work = hooks.get("workloads.proxy-injector.azop.dev", {})
    resources = sorted(r for rule in work.get("rules", []) for r in rule["resources"])
    expect(resources == ["cronjobs", "daemonsets", "deployments", "jobs", "replicasets", "statefulsets"], f"workload kinds {resources}")
    jobs = [r for r in work.get("rules", []) if "jobs" in r["resources"]]
    expect(jobs and jobs[0]["operations"] == ["CREATE"], "a Job is mutated at CREATE only (its template is immutable)")
    return hooks


def check_default_webhook(docs, c):
    # On by default: operator-managed certificate, Ignore, 5 s, the Service.
    mwc = one(docs, "MutatingWebhookConfiguration", "azop-proxy-injector")
    hooks = check_hooks(mwc, "azop-system")
    for name, h in hooks.items():
        expect(h.get("failurePolicy") == "Ignore" and h.get("timeoutSeconds") == 5, f"{name}: Ignore, 5 s by default")
        path = "/mutate-pods" if name.startswith("pods.") else "/mutate-workloads"
        expect(h.get("clientConfig") == {"service": {"name": "azop-webhook", "namespace": "azop-system", "path": path, "port": 443}},
               f"{name}: clientConfig {h.get('clientConfig')}")
    env = env_of(c)
    expect(env.get("AZOP_PROXY_LABEL") == "spectrocloud.com/connection=proxy", f"AZOP_PROXY_LABEL {env.get('AZOP_PROXY_LABEL')}")
    expect(env.get("AZOP_WEBHOOK_CERT_MODE") == "operator" and env.get("AZOP_WEBHOOK_CONFIGURATION") == "azop-proxy-injector"
           and env.get("AZOP_WEBHOOK_SECRET") == "azop-webhook-tls" and env.get("AZOP_WEBHOOK_SERVICE") == "azop-webhook",
           f"webhook env {env}")
    controllers = next((a.split("=", 1)[1] for a in c["args"] if a.startswith("--controllers=")), "").split(",")
    expect("proxyconfig" in controllers, f"the webhook needs the proxyconfig controller: {controllers}")
    one(docs, "Role", "azop-webhook-cert")
    one(docs, "Service", "azop-webhook")


def check_all(docs):
    names_prefixed(docs, "platform-azop", "all-options", given={("ServiceAccount", "azop-operator")})
    dep = one(docs, "Deployment", "platform-azop")
    pod = dep["spec"]["template"]["spec"]
    c = container(dep)
    env = env_of(c)
    for n in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        expect(env.get(n) == "http://proxy.corp.example:3128", f"{n}: {env.get(n)}")
    for n in ("NO_PROXY", "no_proxy"):
        entries = (env.get(n) or "").split(",")
        for want in ("localhost", "127.0.0.1", ".svc", ".cluster.local", "169.254.169.254", "168.63.129.16",
                     "$(KUBERNETES_SERVICE_HOST)", ".corp.example", "10.0.0.0/8"):
            expect(want in entries, f"{n} lacks {want}: {entries}")
    # $(VAR) expands only from variables defined earlier in the list or service variables.
    expect(env.get("AZOP_EXTRA") == "1" and "NODE_NAME" in env, "extraEnv")
    expect(c["args"][-2:] == ["--resync-seconds=600", "--lease-duration-seconds=20"], f"extraArgs last: {c['args']}")
    expect("--namespace=team-a" in c["args"], "watchNamespace → --namespace")
    expect("--shards=6" in c["args"] and "--lease-name=platform-azop-leader" in c["args"],
           f"shards → --shards, the shard Leases named after the release's Lease: {c['args']}")
    expect("--log-format=text" in c["args"] and "--metrics-addr=0.0.0.0:8081" in c["args"], f"args {c['args']}")
    expect(c["image"] == "registry.example.com/platform/azop@sha256:" + "0123456789abcdef" * 4, f"digest wins: {c['image']}")
    expect(pod.get("imagePullSecrets") == [{"name": "regcred"}], "imagePullSecrets")
    expect(pod.get("priorityClassName") == "system-cluster-critical", "priorityClassName")
    expect(pod.get("serviceAccountName") == "azop-operator", "serviceAccount.name")
    meta = dep["spec"]["template"]["metadata"]
    expect(meta.get("annotations") == {"prometheus.io/scrape": "true"}, "podAnnotations")
    expect(meta["labels"].get("team") == "platform" and meta["labels"].get("azure.workload.identity/use") == "true", "podLabels, workload identity")
    expect("requiredDuringSchedulingIgnoredDuringExecution" in pod.get("affinity", {}).get("podAntiAffinity", {}), "hard anti-affinity")
    expect(pod.get("topologySpreadConstraints") and pod.get("tolerations") and pod.get("nodeSelector"), "scheduling values")
    # The webhook: Service → port webhook 9443, configuration → /mutate-pods, TLS Secret.
    expect({"name": "webhook", "containerPort": 9443} in c["ports"], f"webhook port: {c['ports']}")
    expect(env.get("AZOP_WEBHOOK_ADDR") == "0.0.0.0:9443" and env.get("AZOP_WEBHOOK_SECRET") == "platform-azop-webhook-tls"
           and env.get("AZOP_WEBHOOK_CERT_MODE") == "cert-manager", f"webhook env {env}")
    expect({"name": "webhook-tls", "secret": {"secretName": "platform-azop-webhook-tls", "optional": True}} in pod.get("volumes", []),
           "TLS Secret volume")
    svc = one(docs, "Service", "platform-azop-webhook")
    expect(svc.get("spec", {}).get("ports") == [{"name": "webhook", "port": 443, "targetPort": "webhook"}], "webhook Service ports")
    mwc = one(docs, "MutatingWebhookConfiguration", "platform-azop-proxy-injector")
    check_hooks(mwc, "azop-system", ["monitoring"], watch_ns="team-a")
    expect("--webhook-exclude-namespaces=monitoring" in c["args"] and "--proxy-cluster-no-proxy=10.244.0.0/16,10.96.0.0/12" in c["args"],
           f"webhook args {c['args']}")
    hook = mwc.get("webhooks", [{}])[0]
    expect(hook.get("clientConfig", {}).get("service") ==
           {"name": "platform-azop-webhook", "namespace": "azop-system", "path": "/mutate-pods", "port": 443}, f"clientConfig {hook.get('clientConfig')}")
    expect(hook.get("objectSelector") == {"matchLabels": {"spectrocloud.com/connection": "proxy"}}, "only labelled pods")
    expect(hook.get("failurePolicy") == "Fail" and hook.get("sideEffects") == "None", "failurePolicy, sideEffects")
    expect(mwc.get("metadata", {}).get("annotations", {}).get("cert-manager.io/inject-ca-from") == "azop-system/platform-azop-webhook-tls", "CA injection")
    cert = one(docs, "Certificate", "platform-azop-webhook-tls")
    expect(cert.get("spec", {}).get("secretName") == "platform-azop-webhook-tls", "Certificate secretName")
    expect("platform-azop-webhook.azop-system.svc" in cert.get("spec", {}).get("dnsNames", []), "Certificate DNS name")
    expect(cert.get("spec", {}).get("issuerRef") == {"kind": "ClusterIssuer", "name": "corp-ca"}, "issuerRef")
    expect(not objects(docs, "Issuer"), "no self-signed Issuer when an issuerRef is given")
    sm = one(docs, "ServiceMonitor", "platform-azop")
    expect(sm.get("metadata", {}).get("labels", {}).get("release") == "prometheus", "ServiceMonitor labels")
    expect(sm.get("spec", {}).get("endpoints", [{}])[0].get("port") == "metrics", "ServiceMonitor port")
    # Namespace-scoped: a Role in team-a, no cluster-wide manager role.
    role = one(docs, "Role", "platform-azop-manager")
    expect(role.get("metadata", {}).get("namespace") == "team-a", "manager Role in the watched namespace")
    expect(not [d for d in objects(docs, "ClusterRole") if d["metadata"]["name"].endswith("-manager")], "no manager ClusterRole")
    rb = one(docs, "RoleBinding", "platform-azop-manager")
    expect(rb.get("subjects") == [{"kind": "ServiceAccount", "name": "azop-operator", "namespace": "azop-system"}], "RoleBinding subject")
    sa = one(docs, "ServiceAccount", "azop-operator")
    expect(sa.get("metadata", {}).get("annotations", {}).get("azure.workload.identity/client-id") == "11111111-2222-3333-4444-555555555555", "workload identity annotation")
    expect(one(docs, "Service", "platform-azop-metrics").get("spec", {}).get("ports", [{}])[0].get("port") == 8081, "metrics port")


def check_webhook_operator(docs):
    expect(not objects(docs, "Certificate"), "no Certificate in operator mode")
    mwc = one(docs, "MutatingWebhookConfiguration", "platform-azop-proxy-injector")
    expect("cert-manager.io/inject-ca-from" not in mwc.get("metadata", {}).get("annotations", {}) or {}, "no CA injection in operator mode")
    role = one(docs, "Role", "platform-azop-webhook-cert")
    expect({"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["platform-azop-webhook-tls"],
            "verbs": ["get", "update", "patch"]} in role.get("rules", []), f"Secret rule by name: {role.get('rules')}")
    cr = one(docs, "ClusterRole", "platform-azop-webhook-cert")
    expect(cr.get("rules") == [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"],
                                "resourceNames": ["platform-azop-proxy-injector"], "verbs": ["get", "update", "patch"]}],
           f"webhook configuration rule by name: {cr.get('rules')}")
    check_hooks(mwc, "azop-system", ["monitoring"])
    for h in mwc.get("webhooks", []):
        path = "/mutate-pods" if h["name"].startswith("pods.") else "/mutate-workloads"
        expect(h.get("clientConfig") == {"url": "https://azop.mgmt.example:9443" + path}, f"url clientConfig {h.get('clientConfig')}")
    c = container(one(docs, "Deployment", "platform-azop"))
    expect("--webhook-extra-sans=azop.mgmt.example" in c["args"], f"the URL's host in the certificate: {c['args']}")
    env = env_of(c)
    expect(env.get("AZOP_WEBHOOK_CERT_MODE") == "operator" and env.get("AZOP_WEBHOOK_CONFIGURATION") == "platform-azop-proxy-injector",
           f"operator-mode env {env}")


def main(argv):
    if argv[1] == "--no-collision":
        a, b = load(argv[2]), load(argv[3])
        common = {key(d) for d in a} & {key(d) for d in b}
        expect(not common, f"both releases render {sorted(common)}")
        expect(not objects(b, "CustomResourceDefinition"), "crds.install=false renders no CRD")
    else:
        work, rbac = argv[1], argv[2]
        check_default(load(f"{work}/default.yaml"), rbac)
        check_all(load(f"{work}/all.yaml"))
        check_webhook_operator(load(f"{work}/webhook-operator.yaml"))
    for f in failures:
        print("not as expected:", f)
    return min(len(failures), 100)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
