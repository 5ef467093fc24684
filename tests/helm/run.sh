#!/usr/bin/env bash
# The Helm chart with the real helm (built by crates/testenv/scripts/go-tools.sh, found through
# ~/.cache/azop/testenv.env):
#   1. static: helm lint, helm template with the defaults and with every option on, the
#      schema refusing bad values with a message that names the value, kubeVersion, two
#      releases rendering no colliding names, the rendered RBAC equal to config/rbac/;
#   2. live, against azop-testenv (a real kube-apiserver + kube-controller-manager):
#      helm install (from an older copy of the chart), helm upgrade (the CRDs are upgraded),
#      RBAC as the API server decides it (kubectl auth can-i), aggregation to the built-in
#      edit role, a second namespace-scoped release, helm test, helm uninstall (CRDs kept,
#      a namespace held by an AzureCluster's finalizer until it is removed).
# The test environment has no kubelet, so no pod runs there: for `helm test` this script
# plays the node. It runs the locally built azop with the Deployment's own arguments as the
# chart's ServiceAccount, runs the test pod's own command (`azop probe <metrics Service URL>`)
# with the Service host mapped to that operator, and writes the exit code into the pod's
# status as a kubelet would. Stopping the operator must then make `helm test` fail.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
chart=charts/azop
cache=${AZOP_CACHE:-$HOME/.cache/azop}
t0=$(date +%s)
pass=0 fail=0
log() { printf '==> [%3ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }
ok() { pass=$((pass + 1)); printf '  ok   %s\n' "$*"; }
bad() { fail=$((fail + 1)); printf '  FAIL %s\n' "$*"; }
check() { # check DESCRIPTION COMMAND...: the command must succeed
    local what=$1; shift
    if "$@" >/tmp/azop-helm-check.$$ 2>&1; then ok "$what"; else bad "$what"; sed 's/^/       /' /tmp/azop-helm-check.$$ | tail -20; fi
}
refuses() { # refuses DESCRIPTION NEEDLE COMMAND...: the command must fail (and say NEEDLE, if given)
    local what=$1 needle=$2; shift 2
    if "$@" >/tmp/azop-helm-check.$$ 2>&1; then bad "$what: was accepted"
    elif [ -z "$needle" ] || grep -qF -- "$needle" /tmp/azop-helm-check.$$; then ok "$what"
    else bad "$what: the error does not say '$needle'"; sed 's/^/       /' /tmp/azop-helm-check.$$ | tail -10; fi
}
tool() { # the path of AZOP_<NAME> from the environment or testenv.env
    local key=$1 v
    v=${!key:-}
    [ -n "$v" ] || v=$(sed -n "s/^$key=//p" "$cache/testenv.env" 2>/dev/null | tail -1)
    [ -n "$v" ] && [ -x "$v" ] || { echo "ERROR: $key not found (environment or $cache/testenv.env): run 'make testenv'" >&2; exit 1; }
    echo "$v"
}
HELM=$(tool AZOP_HELM)
KUBECTL=${AZOP_KUBECTL:-$(dirname "$HELM")/kubectl}
[ -x "$KUBECTL" ] || { echo "ERROR: no kubectl next to $HELM" >&2; exit 1; }
export HELM_CACHE_HOME=$cache/helm/cache HELM_CONFIG_HOME=$cache/helm/config HELM_DATA_HOME=$cache/helm/data
work=$(mktemp -d /tmp/azop-helm.XXXXXX)
cleanup() {
    [ -n "${op_pid:-}" ] && kill "$op_pid" 2>/dev/null || true
    [ -n "${env_dir:-}" ] && "$TESTENV" down --dir "$env_dir" >/dev/null 2>&1 || true
    rm -rf "$work" /tmp/azop-helm-check.$$
}
trap cleanup EXIT
log "helm $("$HELM" version --short), kubectl $("$KUBECTL" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"

# ---------------------------------------------------------------- 1. static
log "helm lint and helm template"
check "helm lint (defaults)" "$HELM" lint --strict "$chart"
for f in "$chart"/ci/*-values.yaml; do
    check "helm lint -f ${f#"$chart"/}" "$HELM" lint --strict "$chart" -f "$f"
    check "helm template -f ${f#"$chart"/}" "$HELM" template azop "$chart" -n azop-system -f "$f" --kube-version 1.31.0
done
"$HELM" template azop "$chart" -n azop-system > "$work/default.yaml"
"$HELM" template azop "$chart" -n azop-system -f "$chart/ci/all-options-values.yaml" > "$work/all.yaml"
"$HELM" template azop "$chart" -n azop-system -f "$chart/ci/webhook-operator-cert-values.yaml" > "$work/webhook-operator.yaml"
check "rendered manifests: names, labels, kinds, RBAC" python3 tests/helm/check_rendered.py "$work" config/rbac/role.yaml
"$HELM" template prod "$chart" -n team-x --set crds.install=false --set watchNamespace=team-x > "$work/second.yaml"
check "two releases render no colliding names" python3 tests/helm/check_rendered.py --no-collision "$work/default.yaml" "$work/second.yaml"

log "values.schema.json refuses bad values"
refuses "logFormat: jsn" "logFormat" "$HELM" template azop "$chart" --set logFormat=jsn
refuses "logFormat: jsn names the allowed values" "value must be one of 'json', 'text'" "$HELM" template azop "$chart" --set logFormat=jsn
refuses "replicaCount: -1" "replicaCount" "$HELM" template azop "$chart" --set replicaCount=-1
refuses "shards: 0" "shards" "$HELM" template azop "$chart" --set shards=0
refuses "shards: 257" "shards" "$HELM" template azop "$chart" --set shards=257
check "shards: 3 renders --shards=3" bash -c "'$HELM' template azop '$chart' --set shards=3 | grep -q -- '- --shards=3\$'"
check "replicaCount: 0 is allowed (the e2e tests run the binary themselves)" "$HELM" template azop "$chart" --set replicaCount=0
refuses "an unknown key (typo)" "logformat" "$HELM" template azop "$chart" --set logformat=json
refuses "controllers: a name azop does not know" "controllers" "$HELM" template azop "$chart" --set 'controllers=azurecluster\,vms'
refuses "image.digest without sha256:" "/image/digest" "$HELM" template azop "$chart" --set image.digest=abc
refuses "podAntiAffinity: maybe" "podAntiAffinity" "$HELM" template azop "$chart" --set podAntiAffinity=maybe
refuses "webhook.failurePolicy: Sometimes" "failurePolicy" "$HELM" template azop "$chart" --set webhook.failurePolicy=Sometimes
refuses "proxy.httpsProxy not a URL" "httpsProxy" "$HELM" template azop "$chart" --set proxy.httpsProxy=proxy:3128
refuses "the webhook without the proxyconfig controller" "add proxyconfig to controllers" "$HELM" template azop "$chart" --set controllers=azurecluster
check "the webhook off: no configuration, controllers as given" bash -c "! '$HELM' template azop '$chart' --set webhook.enabled=false --set controllers=azurecluster | grep -q 'kind: MutatingWebhookConfiguration'"
refuses "webhook.url with a path" "/webhook/url" "$HELM" template azop "$chart" --set webhook.url=https://azop.example:9443/mutate
refuses "webhook.url over plain http" "/webhook/url" "$HELM" template azop "$chart" --set webhook.url=http://azop.example:9443
refuses "webhook.excludeNamespaces: not a namespace name" "excludeNamespaces" "$HELM" template azop "$chart" --set 'webhook.excludeNamespaces={Kube_System}'
refuses "workloadIdentity on without a client id" "clientId" "$HELM" template azop "$chart" --set workloadIdentity.enabled=true
refuses "watchNamespace not a namespace name" "watchNamespace" "$HELM" template azop "$chart" --set watchNamespace=Team_A
refuses "kubeVersion: Kubernetes 1.30 is refused" "kubeVersion" "$HELM" template azop "$chart" --kube-version 1.30.9
check "kubeVersion: Kubernetes 1.31.0 is accepted" "$HELM" template azop "$chart" --kube-version 1.31.0

# ---------------------------------------------------------------- 2. live
if [ "${AZOP_HELM_STATIC_ONLY:-}" = 1 ]; then
    log "AZOP_HELM_STATIC_ONLY=1: skipping the live part"
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
    log "building azop and azop-testenv"
    cargo build -q -p azop --bin azop -p azop-testenv --bin azop-testenv
    AZOP=$CARGO_TARGET_DIR/debug/azop TESTENV=$CARGO_TARGET_DIR/debug/azop-testenv
    env_dir=$work/env
    "$TESTENV" up --dir "$env_dir" >/dev/null
    export KUBECONFIG=$env_dir/kubeconfig
    k() { "$KUBECTL" "$@"; }
    grep -q . <(k get --raw /apis/apps/v1 2>/dev/null) || { echo "ERROR: the test environment serves no apps/v1" >&2; exit 1; }
    log "test environment up: Kubernetes $(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"
    k get --raw /readyz >/dev/null

    sa=system:serviceaccount:azop-system:azop
    # An "older chart": the same chart with one printer column dropped from the AzureCluster CRD.
    old=$work/old-chart; cp -r "$chart" "$old"
    python3 - "$old/files/crds/azop.dev_azureclusters.yaml" <<'PY'
import sys, yaml
p = sys.argv[1]
text = open(p).read()
header = "".join(l for l in text.splitlines(True) if l.startswith("#"))
crd = yaml.safe_load(text)
for v in crd["spec"]["versions"]:
    v["additionalPrinterColumns"] = [c for c in v.get("additionalPrinterColumns", []) if c["name"] != "Phase"]
open(p, "w").write(header + yaml.safe_dump(crd, sort_keys=False))
PY
    log "helm install azop (older CRDs) into azop-system"
    check "helm install" "$HELM" install azop "$old" -n azop-system --create-namespace --set image.repository=localhost/azop --set image.tag=dev --timeout 60s
    check "CRDs established" k wait --for condition=Established --timeout 30s crd/azureclusters.azop.dev crd/aksclusters.azop.dev crd/storagebindings.azop.dev crd/proxyconfigs.azop.dev
    phase_col() { k get crd azureclusters.azop.dev -o jsonpath='{.spec.versions[0].additionalPrinterColumns[*].name}'; }
    check "the older CRD has no Phase column" bash -c "! grep -qw Phase <<<'$(phase_col)'"
    check "the API server accepted the webhook configuration: pods and workloads, IfNeeded" bash -c "[ \"\$('$KUBECTL' get mutatingwebhookconfiguration azop-proxy-injector -o jsonpath='{.webhooks[*].name} {.webhooks[*].reinvocationPolicy}')\" = 'pods.proxy-injector.azop.dev workloads.proxy-injector.azop.dev IfNeeded IfNeeded' ]"
    check "the webhook's namespaceSelector leaves out kube-system and azop-system" bash -c "'$KUBECTL' get mutatingwebhookconfiguration azop-proxy-injector -o jsonpath='{.webhooks[0].namespaceSelector.matchExpressions[0].values}' | grep -q '\"kube-system\",\"azop-system\"'"
    check "CRDs carry helm.sh/resource-policy: keep" test "$(k get crd azureclusters.azop.dev -o jsonpath='{.metadata.annotations.helm\.sh/resource-policy}')" = keep
    check "kube-controller-manager made the Deployment's pods" bash -c "for i in \$(seq 60); do [ \"\$('$KUBECTL' -n azop-system get pods -l app.kubernetes.io/instance=azop -o name | wc -l)\" -ge 2 ] && exit 0; sleep 0.5; done; exit 1"

    log "helm upgrade azop (the current chart): the CRDs are upgraded with it"
    check "helm upgrade" "$HELM" upgrade azop "$chart" -n azop-system --reuse-values --set replicaCount=3 --timeout 60s
    check "the upgraded CRD has the Phase column" bash -c "grep -qw Phase <<<'$(phase_col)'"
    check "the Deployment has 3 replicas" test "$(k -n azop-system get deploy azop -o jsonpath='{.spec.replicas}')" = 3
    check "helm history shows 2 revisions" test "$("$HELM" history azop -n azop-system -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2

    log "RBAC as the API server decides it"
    can() { k auth can-i "$@" >/dev/null 2>&1; }
    check "operator: list/watch Secrets in every namespace" can list secrets --all-namespaces --as "$sa"
    check "operator: watch Secrets" can watch secrets -n default --as "$sa"
    check "operator: create Secrets (AksCluster kubeconfigs, by server-side apply)" can create secrets -n default --as "$sa"
    check "operator: patch Secrets" can patch secrets -n default --as "$sa"
    refuses "operator: update Secrets" "" can update secrets -n default --as "$sa"
    refuses "operator: delete Secrets" "" can delete secrets -n default --as "$sa"
    # ProxyConfig reads trusted-CA ConfigMaps and keeps the CA-bundle ConfigMaps of injected pods.
    check "operator: read ConfigMaps (ProxyConfig trusted CAs)" can get configmaps -n default --as "$sa"
    check "operator: write CA-bundle ConfigMaps" can create configmaps -n default --as "$sa"
    check "operator: watch the Pods it injected" can watch pods -n default --as "$sa"
    refuses "operator: create Pods" "" can create pods -n default --as "$sa"
    check "operator: patch AzureCluster status" can patch azureclusters.azop.dev --subresource status -n default --as "$sa"
    refuses "operator: update AzureClusters (only patches)" "" can update azureclusters.azop.dev -n default --as "$sa"
    check "operator: create Events" can create events.events.k8s.io -n default --as "$sa"
    check "operator: update its Lease in azop-system" can update leases.coordination.k8s.io -n azop-system --as "$sa"
    check "operator: list the shard Leases in azop-system (--shards)" can list leases.coordination.k8s.io -n azop-system --as "$sa"
    refuses "operator: Leases of other namespaces" "" can update leases.coordination.k8s.io -n default --as "$sa"
    k create namespace team-a >/dev/null
    k -n team-a create rolebinding tenant-edit --clusterrole edit --user tenant >/dev/null
    k -n team-a create rolebinding viewer --clusterrole view --user viewer >/dev/null
    aggregated() { for _ in $(seq 60); do can "$@" && return 0; sleep 0.5; done; return 1; }
    check "tenant with built-in edit: create AzureClusters (aggregated)" aggregated create azureclusters.azop.dev -n team-a --as tenant
    check "tenant with built-in edit: delete StorageBindings" aggregated delete storagebindings.azop.dev -n team-a --as tenant
    check "tenant with built-in edit: create ProxyConfigs and AksClusters" bash -c "'$KUBECTL' auth can-i create proxyconfigs.azop.dev -n team-a --as tenant && '$KUBECTL' auth can-i create aksclusters.azop.dev -n team-a --as tenant"
    refuses "tenant with built-in edit: write status" "" can patch azureclusters.azop.dev --subresource status -n team-a --as tenant
    check "viewer with built-in view: list AzureClusters" aggregated list azureclusters.azop.dev -n team-a --as viewer
    refuses "viewer with built-in view: create AzureClusters" "" can create azureclusters.azop.dev -n team-a --as viewer

    log "a second, namespace-scoped release (watchNamespace=team-b, crds.install=false)"
    k create namespace team-b >/dev/null
    check "helm install second" "$HELM" install second "$chart" -n tenants --create-namespace --set crds.install=false --set watchNamespace=team-b --set image.repository=localhost/azop --timeout 60s
    sa2=system:serviceaccount:tenants:second-azop
    check "second: list Secrets in team-b" can list secrets -n team-b --as "$sa2"
    refuses "second: list Secrets in team-a" "" can list secrets -n team-a --as "$sa2"
    refuses "second: list Secrets cluster-wide" "" can list secrets --all-namespaces --as "$sa2"
    check "second: its own Lease in tenants" can update leases.coordination.k8s.io -n tenants --as "$sa2"
    check "second: the Deployment runs --namespace=team-b" bash -c "'$KUBECTL' -n tenants get deploy second-azop -o jsonpath='{.spec.template.spec.containers[0].args}' | grep -q -- '--namespace=team-b'"

    log "helm test (this script plays the node: see the header)"
    # The operator as the chart's ServiceAccount, with the Deployment's own arguments.
    token=$(k -n azop-system create token azop --duration 1h)
    server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
    k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > "$work/ca.crt"
    cat > "$work/sa-kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: env, cluster: {server: "$server", certificate-authority: "$work/ca.crt"}}]
users: [{name: azop, user: {token: "$token"}}]
contexts: [{name: azop, context: {cluster: env, user: azop, namespace: azop-system}}]
current-context: azop
KC
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mapfile -t args < <(k -n azop-system get deploy azop -o json | python3 -c '
import json, sys
for a in json.load(sys.stdin)["spec"]["template"]["spec"]["containers"][0]["args"]:
    print(a)')
    args=("${args[@]/--metrics-addr=*/--metrics-addr=127.0.0.1:$port}")
    metrics_port=$(k -n azop-system get svc azop-metrics -o jsonpath='{.spec.ports[0].port}')
    KUBECONFIG=$work/sa-kubeconfig POD_NAME=azop-local POD_NAMESPACE=azop-system RUST_LOG=info \
        "$AZOP" "${args[@]}" >"$work/operator.log" 2>&1 &
    op_pid=$!
    check "azop run accepts the Deployment's arguments and answers /readyz" bash -c "for i in \$(seq 60); do '$AZOP' probe http://127.0.0.1:$port/readyz >/dev/null 2>&1 && exit 0; kill -0 $op_pid || exit 1; sleep 0.5; done; exit 1" || true
    check "the operator takes the release's Lease as the chart's ServiceAccount" bash -c "for i in \$(seq 60); do [ \"\$('$KUBECTL' -n azop-system get lease azop-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null)\" = azop-local ] && exit 0; sleep 0.5; done; cat '$work/operator.log'; exit 1"
    kubelet() { # the test pod's command, run here; its exit code written into the pod's status
        local pod=azop-test url target code phase
        for _ in $(seq 120); do k -n azop-system get pod "$pod" >/dev/null 2>&1 && break; sleep 0.25; done
        mapfile -t pargs < <(k -n azop-system get pod "$pod" -o jsonpath='{range .spec.containers[0].args[*]}{@}{"\n"}{end}')
        url=${pargs[1]}
        target="azop-metrics.azop-system.svc:$metrics_port"
        [ "${pargs[0]}" = probe ] && [[ "$url" == "http://$target/readyz" ]] || { echo "unexpected test pod args: ${pargs[*]}"; return 1; }
        if "$AZOP" probe "${url/$target/127.0.0.1:$port}" >"$work/probe.log" 2>&1; then code=0 phase=Succeeded; else code=1 phase=Failed; fi
        now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
        k -n azop-system patch pod "$pod" --subresource status --type merge -p "{\"status\":{\"phase\":\"$phase\",\"containerStatuses\":[{\"name\":\"probe\",\"image\":\"localhost/azop:dev\",\"imageID\":\"\",\"ready\":false,\"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":$code,\"reason\":\"$( [ $code = 0 ] && echo Completed || echo Error )\",\"startedAt\":\"$now\",\"finishedAt\":\"$now\"}}}]}}" >/dev/null
    }
    kubelet & node_pid=$!
    check "helm test passes while the operator answers" "$HELM" test azop -n azop-system --timeout 60s
    wait "$node_pid" || bad "the node stand-in failed"
    check "the passed test pod is deleted (hook-succeeded)" bash -c "for i in \$(seq 40); do '$KUBECTL' -n azop-system get pod azop-test >/dev/null 2>&1 || exit 0; sleep 0.25; done; exit 1"

    log "an AzureCluster in team-a gets the operator's finalizer"
    cat > "$work/cluster.yaml" <<'YAML'
apiVersion: azop.dev/v1alpha1
kind: AzureCluster
metadata: {name: held, namespace: team-a}
spec:
  credentialsRef: {name: missing-credentials}
  subscriptionId: 6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
  location: westeurope
  resourceGroup: rg-held
  kubernetesVersion: "1.37"
  controlPlane: {replicas: 1, vmSize: Standard_D4s_v5}
  image: {marketplace: {publisher: Canonical, offer: ubuntu-24_04-lts, sku: server, version: latest}}
  sshPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvS3qkQ8qk3m0n1y6K2c5a8yZ9jv3d9sQ0mL6n4yXw1 e2e@example.com"
YAML
    check "a tenant with built-in edit creates an AzureCluster" k apply --as tenant -f "$work/cluster.yaml"
    check "the operator adds its finalizer" bash -c "for i in \$(seq 60); do '$KUBECTL' -n team-a get azurecluster held -o jsonpath='{.metadata.finalizers}' | grep -q azop.dev/azurecluster-cleanup && exit 0; sleep 0.5; done; exit 1"

    kill "$op_pid"; wait "$op_pid" 2>/dev/null || true; op_pid=
    kubelet & node_pid=$!
    refuses "helm test fails once the operator is gone" "" "$HELM" test azop -n azop-system --timeout 60s
    wait "$node_pid" || true
    check "the failed probe said why" grep -q "failed to connect" "$work/probe.log"

    log "helm uninstall"
    check "helm uninstall second" "$HELM" uninstall second -n tenants --wait --timeout 60s
    check "helm uninstall azop" "$HELM" uninstall azop -n azop-system --wait --timeout 60s
    check "the CRDs are kept" k get crd azureclusters.azop.dev aksclusters.azop.dev storagebindings.azop.dev proxyconfigs.azop.dev
    check "the AzureCluster is kept" k -n team-a get azurecluster held
    check "no Deployment, ClusterRole or aggregated role is left" bash -c "[ -z \"\$('$KUBECTL' get clusterroles,clusterrolebindings -l app.kubernetes.io/part-of=azop -o name)\" ] && [ -z \"\$('$KUBECTL' get deploy -A -l app.kubernetes.io/part-of=azop -o name)\" ]"
    refuses "the tenant cannot create AzureClusters any more (aggregated role gone)" "" bash -c "for i in \$(seq 20); do '$KUBECTL' auth can-i create azureclusters.azop.dev -n team-a --as tenant >/dev/null || exit 1; sleep 0.5; done"
    k delete namespace team-a --wait=false >/dev/null
    check "namespace deletion waits on the finalizer (NamespaceFinalizersRemaining)" bash -c "for i in \$(seq 60); do '$KUBECTL' get namespace team-a -o jsonpath='{.status.conditions[?(@.type==\"NamespaceFinalizersRemaining\")].message}' | grep -q azop.dev/azurecluster-cleanup && exit 0; sleep 0.5; done; '$KUBECTL' get namespace team-a -o yaml; exit 1"
    check "removing the finalizer (docs/install.md) lets the namespace go" bash -c "'$KUBECTL' -n team-a patch azurecluster held --type json -p '[{\"op\":\"remove\",\"path\":\"/metadata/finalizers\"}]' >/dev/null && for i in \$(seq 120); do '$KUBECTL' get namespace team-a >/dev/null 2>&1 || exit 0; sleep 0.5; done; exit 1"
fi

echo
echo "helm: $pass passed, $fail failed ($(( $(date +%s) - t0 ))s)"
[ "$fail" = 0 ]
