{{/* The operator's rules: exactly config/rbac/role.yaml's (crates/operator/tests/chart_rbac.rs
keeps them equal), rendered into a ClusterRole, or a Role in namespace-scoped mode. */}}
{{- define "azop.managerRules" -}}
rules:
  - apiGroups: ["azop.dev"]
    resources: ["azureclusters", "aksclusters", "storagebindings", "proxyconfigs"]
    verbs: ["get", "list", "watch", "patch"]
  - apiGroups: ["azop.dev"]
    resources: ["azureclusters/status", "aksclusters/status", "storagebindings/status", "proxyconfigs/status"]
    verbs: ["patch"]
  - apiGroups: ["azop.dev"]
    resources: ["azureclusters/finalizers", "aksclusters/finalizers", "storagebindings/finalizers", "proxyconfigs/finalizers"]
    verbs: ["update"]
  - apiGroups: [""]
    resources: ["secrets"]
    verbs: ["get", "list", "watch", "create", "patch"]
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
  - apiGroups: [""]
    resources: ["pods"]
    verbs: ["list", "watch"]
  - apiGroups: ["events.k8s.io"]
    resources: ["events"]
    verbs: ["create", "patch"]
{{- end }}

{{- define "azop.leaderElectionRules" -}}
rules:
  # list: the shard Leases (--shards > 1) are read by label in one call, and the leader
  # checks them before it leads (a change of --shards must never give an object two owners).
  - apiGroups: ["coordination.k8s.io"]
    resources: ["leases"]
    verbs: ["get", "list", "create", "update"]
  # Replicas of --shards > 1 hand each other their subscription walks as ConfigMaps here
  # (docs/scale.md "Walks shared between replicas"); one replica deletes a day-old one.
  - apiGroups: [""]
    resources: ["configmaps"]
    verbs: ["get", "list", "watch", "create", "patch", "delete"]
{{- end }}
