// Package argocd runs azop's Argo CD health checks the way Argo CD runs its own built-in
// ones (util/lua in argoproj/argo-cd): gopher-lua with the standard libraries open, the
// resource as the global `obj` (converted through JSON by layeh.com/gopher-json), a 1 s
// timeout, and the returned table read as {status, message}; a status outside Argo CD's
// six becomes Unknown. The cases are Argo CD's own format: health_test.yaml next to each
// health.lua, with the objects under testdata/.
package argocd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

// customizations is the tree Argo CD would read: resource_customizations/<group>/<Kind>/.
const customizations = "../../config/argocd/resource_customizations"

// argocdCM is the chart-independent argocd-cm snippet that users apply.
const argocdCM = "../../config/argocd/argocd-cm.yaml"

// -update rewrites the argocd-cm snippet from the health.lua files:
// go test ./... -args -update
var update = flag.Bool("update", false, "rewrite config/argocd/argocd-cm.yaml from the health.lua files")

// The kinds azop serves; each must have a check and cases.
var kinds = []string{"AzureCluster", "AksCluster", "StorageBinding", "ProxyConfig"}

// HealthStatus is what Argo CD keeps of the returned table.
type HealthStatus struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Argo CD's health status codes; anything else is reported as Unknown.
var validStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true,
	"Suspended": true, "Missing": true, "Unknown": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

// executeHealth runs script with obj as the global `obj`, as Argo CD does for a built-in
// (or argocd-cm) health check.
func executeHealth(obj map[string]any, script string) (*HealthStatus, error) {
	l := lua.NewState() // standard libraries open, as for Argo CD's built-in checks
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)

	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode the object as JSON: %w", err)
	}
	value, err := luajson.Decode(l, raw)
	if err != nil {
		return nil, fmt.Errorf("decode the object into Lua: %w", err)
	}
	l.SetGlobal("obj", value)
	if err := l.DoString(script); err != nil {
		return nil, fmt.Errorf("run health.lua: %w", err)
	}
	ret := l.Get(-1)
	table, ok := ret.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", ret.Type().String())
	}
	// An empty table encodes as [] and means "no opinion".
	if isEmpty(table) {
		return &HealthStatus{}, nil
	}
	encoded, err := luajson.Encode(table)
	if err != nil {
		return nil, fmt.Errorf("encode the returned table: %w", err)
	}
	var hs HealthStatus
	if err := json.Unmarshal(encoded, &hs); err != nil {
		return nil, fmt.Errorf("read the returned table %s: %w", encoded, err)
	}
	if !validStatuses[hs.Status] {
		return &HealthStatus{Status: "Unknown", Message: invalidHealthStatus}, nil
	}
	return &hs, nil
}

func isEmpty(t *lua.LTable) bool {
	k, _ := t.Next(lua.LNil)
	return k == lua.LNil
}

// The format of health_test.yaml, as in Argo CD's resource_customizations.
type testFile struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus HealthStatus `json:"healthStatus"`
	} `json:"tests"`
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func TestHealthChecks(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join(customizations, "*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no checks under %s (err %v)", customizations, err)
	}
	seen := map[string]bool{}
	for _, dir := range dirs {
		kind := filepath.Base(dir)
		group := filepath.Base(filepath.Dir(dir))
		if group != "azop.dev" {
			t.Errorf("%s: only the azop.dev group belongs here", dir)
		}
		seen[kind] = true
		t.Run(kind, func(t *testing.T) {
			script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
			if err != nil {
				t.Fatalf("read health.lua: %v", err)
			}
			var tf testFile
			readYAML(t, filepath.Join(dir, "health_test.yaml"), &tf)
			if len(tf.Tests) == 0 {
				t.Fatalf("%s/health_test.yaml has no tests", dir)
			}
			used := map[string]bool{}
			statuses := map[string]bool{}
			for _, tc := range tf.Tests {
				used[filepath.Clean(tc.InputPath)] = true
				statuses[tc.HealthStatus.Status] = true
				t.Run(strings.TrimSuffix(filepath.Base(tc.InputPath), ".yaml"), func(t *testing.T) {
					var obj map[string]any
					readYAML(t, filepath.Join(dir, tc.InputPath), &obj)
					if obj["kind"] != kind {
						t.Fatalf("%s is a %v, not a %s", tc.InputPath, obj["kind"], kind)
					}
					got, err := executeHealth(obj, string(script))
					if err != nil {
						t.Fatal(err)
					}
					if got.Status != tc.HealthStatus.Status {
						t.Errorf("status: got %q, want %q (message %q)", got.Status, tc.HealthStatus.Status, got.Message)
					}
					if got.Message != tc.HealthStatus.Message {
						t.Errorf("message:\n got %q\nwant %q", got.Message, tc.HealthStatus.Message)
					}
				})
			}
			// Every object under testdata/ is a case, and every kind is seen in the three
			// states azop produces.
			files, _ := filepath.Glob(filepath.Join(dir, "testdata", "*.yaml"))
			for _, f := range files {
				rel, _ := filepath.Rel(dir, f)
				if !used[rel] {
					t.Errorf("%s is not used by health_test.yaml", rel)
				}
			}
			for _, s := range []string{"Healthy", "Progressing", "Degraded"} {
				if !statuses[s] {
					t.Errorf("no case expects %s", s)
				}
			}
		})
	}
	for _, k := range kinds {
		if !seen[k] {
			t.Errorf("no health check for %s under %s/azop.dev", k, customizations)
		}
	}
}

// The argocd-cm snippet carries exactly the checks tested here, one key per kind.
func TestArgoCDConfigMapSnippet(t *testing.T) {
	if *update {
		writeConfigMap(t)
	}
	var cm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	readYAML(t, argocdCM, &cm)
	if cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Fatalf("%s must be the ConfigMap argocd-cm, is %s %v", argocdCM, cm.Kind, cm.Metadata["name"])
	}
	var want []string
	for _, k := range kinds {
		key := "resource.customizations.health.azop.dev_" + k
		want = append(want, key)
		script, err := os.ReadFile(filepath.Join(customizations, "azop.dev", k, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		if cm.Data[key] != string(script) {
			t.Errorf("%s: data[%q] differs from azop.dev/%s/health.lua: copy the file in", argocdCM, key, k)
		}
	}
	var got []string
	for k := range cm.Data {
		got = append(got, k)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s keys: got %v, want %v", argocdCM, got, want)
	}
}

// The harness itself must be able to fail: a status outside Argo CD's six becomes Unknown,
// a script that returns no table is an error, and a script that never ends is stopped.
func TestHarnessFollowsArgoCD(t *testing.T) {
	obj := map[string]any{"kind": "AzureCluster", "metadata": map[string]any{"generation": 3}}
	got, err := executeHealth(obj, `return {status = "Fine", message = "x"}`)
	if err != nil || got.Status != "Unknown" || got.Message != invalidHealthStatus {
		t.Errorf("invalid status: got %+v, %v", got, err)
	}
	if _, err := executeHealth(obj, `return "Healthy"`); err == nil {
		t.Error("a string return must be an error")
	}
	if _, err := executeHealth(obj, `while true do end`); err == nil {
		t.Error("an endless script must be stopped by the timeout")
	}
	got, err = executeHealth(obj, `return {status = "Healthy", message = "generation " .. obj.metadata.generation}`)
	if err != nil || got.Status != "Healthy" || got.Message != "generation 3" {
		t.Errorf("obj global: got %+v, %v", got, err)
	}
	got, err = executeHealth(obj, `return {}`)
	if err != nil || got.Status != "" {
		t.Errorf("empty table: got %+v, %v", got, err)
	}
}

// writeConfigMap renders argocd-cm.yaml: one literal block per kind, the script unchanged.
func writeConfigMap(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Argo CD health checks for azop's four kinds, for the argocd-cm ConfigMap of the Argo CD\n")
	b.WriteString("# installation (merge the data keys into yours; see docs/gitops.md). Generated from\n")
	b.WriteString("# resource_customizations/azop.dev/<Kind>/health.lua by\n")
	b.WriteString("# `cd tests/argocd && go test ./... -args -update`; tests/argocd checks it is current.\n")
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n")
	b.WriteString("  labels:\n    app.kubernetes.io/name: argocd-cm\n    app.kubernetes.io/part-of: argocd\ndata:\n")
	for _, k := range kinds {
		script, err := os.ReadFile(filepath.Join(customizations, "azop.dev", k, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "  resource.customizations.health.azop.dev_%s: |\n", k)
		for _, line := range strings.Split(strings.TrimSuffix(string(script), "\n"), "\n") {
			if line == "" {
				b.WriteString("\n")
			} else {
				b.WriteString("    " + line + "\n")
			}
		}
	}
	if err := os.WriteFile(argocdCM, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
