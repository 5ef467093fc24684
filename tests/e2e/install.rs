//! The install path without Helm, as the README gives it: `kubectl apply --server-side -f crds/
//! -f config/rbac/` on a fresh cluster, then `azop run` with a kubeconfig. And the operator's
//! start-up answers when the leader-election namespace or permission is missing: one clear
//! error and a non-zero exit, not a warning every few seconds.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use azop_e2e::operator::azop_binary;
use azop_testenv::{TestEnv, TestEnvOptions};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;

fn kubectl(env: &TestEnv, args: &[&str]) -> anyhow::Result<String> {
    let bin = azop_testenv::binaries::kubectl()?;
    let out = Command::new(&bin)
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args(args)
        .current_dir(azop_testenv::repo_root())
        .output()
        .with_context(|| format!("run {}", bin.display()))?;
    ensure!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A kubeconfig holding a token of ServiceAccount azop-system/azop, with `namespace` as the
/// context's namespace (or none).
async fn service_account_kubeconfig(
    env: &TestEnv,
    namespace: Option<&str>,
    path: &Path,
) -> anyhow::Result<()> {
    let sa: Api<ServiceAccount> = Api::namespaced(env.client()?, "azop-system");
    let issued: TokenRequest = sa
        .create_subresource(
            "token",
            "azop",
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            },
        )
        .await
        .context("TokenRequest for azop-system/azop")?;
    let token = issued.status.context("no token")?.token;
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(env.ca_pem());
    let mut context = json!({"cluster": "testenv", "user": "azop"});
    if let Some(ns) = namespace {
        context["namespace"] = json!(ns);
    }
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {"server": env.server_url(), "certificate-authority-data": ca}}],
        "users": [{"name": "azop", "user": {"token": token}}],
        "contexts": [{"name": "azop", "context": context}],
        "current-context": "azop",
    });
    std::fs::write(path, serde_json::to_string_pretty(&kubeconfig)?)?;
    Ok(())
}

/// Runs `azop run` until it exits or `limit` passes; returns (exited, log).
fn run_operator(
    kubeconfig: &Path,
    extra: &[&str],
    limit: Duration,
) -> anyhow::Result<(Option<i32>, String)> {
    let log = kubeconfig.with_extension("log");
    let file = std::fs::File::create(&log)?;
    let mut child = Command::new(azop_binary()?)
        .args([
            "run",
            "--metrics-addr",
            "127.0.0.1:0",
            "--lease-duration-seconds",
            "4",
        ])
        .args(extra)
        .env("KUBECONFIG", kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .context("spawn azop")?;
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status.code().unwrap_or(-1));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok((code, std::fs::read_to_string(&log).unwrap_or_default()))
}

#[tokio::test]
async fn config_rbac_installs_on_a_fresh_cluster_and_the_operator_leads() -> anyhow::Result<()> {
    let env = TestEnv::start(TestEnvOptions::default()).await?;
    kubectl(
        &env,
        &[
            "apply",
            "--server-side",
            "-f",
            "crds/",
            "-f",
            "config/rbac/",
        ],
    )?;
    let dir = env.dir().to_path_buf();

    // The kubeconfig's namespace is where the Lease goes when no flag says otherwise.
    let kc = dir.join("kubeconfig-azop-sa");
    service_account_kubeconfig(&env, Some("azop-system"), &kc).await?;
    let leases: Api<Lease> = Api::namespaced(env.client()?, "azop-system");
    let log = kc.with_extension("log");
    let mut child = Command::new(azop_binary()?)
        .args(["run", "--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", &kc)
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(std::fs::File::create(&log)?))
        .stderr(Stdio::null())
        .spawn()?;
    let led = azop_testenv::wait_for(
        "the operator to take Lease azop-system/azop-leader",
        Duration::from_secs(30),
        || async {
            match leases.get_opt("azop-leader").await {
                Ok(Some(l))
                    if l.spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_ref())
                        .is_some() =>
                {
                    azop_testenv::Check::Done(())
                }
                Ok(_) => azop_testenv::Check::Pending("no holder yet".to_string()),
                Err(e) => azop_testenv::Check::Pending(e.to_string()),
            }
        },
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    led.with_context(|| std::fs::read_to_string(&log).unwrap_or_default())?;
    Ok(())
}

#[tokio::test]
async fn a_missing_lease_namespace_or_permission_is_one_clear_error() -> anyhow::Result<()> {
    let env = TestEnv::start(TestEnvOptions::default()).await?;
    kubectl(
        &env,
        &[
            "apply",
            "--server-side",
            "-f",
            "crds/",
            "-f",
            "config/rbac/",
        ],
    )?;
    let kc = env.dir().join("kubeconfig-azop-nons");
    service_account_kubeconfig(&env, None, &kc).await?;

    // A missing namespace shows as such to an identity allowed to write Leases everywhere
    // (an admin's kubeconfig, the README's path without Helm); the ServiceAccount, allowed
    // only in azop-system, is refused before existence is checked (the 403 case below).
    let (code, log) = run_operator(
        &env.kubeconfig_path(),
        &["--leader-election-namespace", "no-such-ns"],
        Duration::from_secs(30),
    )?;
    let Some(code) = code else {
        bail!("azop kept running with a missing Lease namespace:\n{log}");
    };
    ensure!(
        code != 0,
        "azop exited 0 with a missing Lease namespace:\n{log}"
    );
    ensure!(
        log.contains("\"no-such-ns\" does not exist")
            && log.contains("kubectl create namespace no-such-ns"),
        "the error should name the namespace and the fix:\n{log}"
    );

    // No flag and no namespace in the kubeconfig: kube's default ("default"), where the
    // operator's RoleBinding does not reach: refused, named, and the fix given.
    let (code, log) = run_operator(&kc, &[], Duration::from_secs(30))?;
    ensure!(
        code.is_some_and(|c| c != 0),
        "azop should exit non-zero:\n{log}"
    );
    ensure!(
        log.contains("not allowed to use Lease default/azop-leader")
            && log.contains("azop-leader-election"),
        "the error should name the Lease and the missing grant:\n{log}"
    );
    Ok(())
}
