//! Kubeconfig files and kube clients for the environment's users.

use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, io};

/// A user of the token file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// User name as the API server sees it.
    pub name: String,
    /// Bearer token.
    pub token: String,
    /// Groups (the admin is in `system:masters`; other users in none).
    pub groups: Vec<String>,
}

/// One line of kube-apiserver's `--token-auth-file`: `token,user,uid,"group1,group2"`.
pub fn token_file_line(user: &UserInfo) -> String {
    let mut line = format!("{},{},{}", user.token, user.name, user.name);
    if !user.groups.is_empty() {
        line.push_str(&format!(",\"{}\"", user.groups.join(",")));
    }
    line
}

/// A kubeconfig for `user` against `server`, trusting `ca_pem`.
pub fn render(server: &str, ca_pem: &str, user: &UserInfo) -> serde_json::Value {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "azop-testenv", "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": user.name, "user": {"token": user.token}}],
        "contexts": [{"name": "azop-testenv", "context": {"cluster": "azop-testenv", "user": user.name, "namespace": "default"}}],
        "current-context": "azop-testenv",
    })
}

/// Writes a kubeconfig (YAML, mode 0600).
pub fn write(path: &Path, server: &str, ca_pem: &str, user: &UserInfo) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let yaml =
        serde_yaml::to_string(&render(server, ca_pem, user)).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    std::fs::write(path, yaml).map_err(io("write", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("chmod", path))
}

/// A `kube::Config` for `user`. Built directly (no file, no async) so a client can be made
/// cheaply in every test's own runtime.
pub fn config(server: &str, ca_der: &[u8], user: &UserInfo) -> Result<kube::Config> {
    let url: http::Uri = server
        .parse()
        .map_err(|e: http::uri::InvalidUri| Error::Manifest {
            path: server.into(),
            message: e.to_string(),
        })?;
    let mut cfg = kube::Config::new(url);
    cfg.root_cert = Some(vec![ca_der.to_vec()]);
    cfg.default_namespace = "default".to_string();
    // AuthInfo's token is a secrecy::SecretString; deserialising avoids depending on secrecy.
    cfg.auth_info =
        serde_json::from_value(serde_json::json!({ "token": user.token })).map_err(|source| {
            Error::Json {
                action: "build auth info for",
                path: user.name.clone().into(),
                source,
            }
        })?;
    Ok(cfg)
}

/// A client for `user`. Must be called inside a Tokio runtime (the client spawns a task).
pub fn client(server: &str, ca_der: &[u8], user: &UserInfo) -> Result<kube::Client> {
    kube::Client::try_from(config(server, ca_der, user)?).map_err(|source| Error::Client {
        user: user.name.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(groups: &[&str]) -> UserInfo {
        UserInfo {
            name: "admin".into(),
            token: "t0k".into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn token_lines_quote_groups() {
        assert_eq!(
            token_file_line(&user(&["system:masters"])),
            "t0k,admin,admin,\"system:masters\""
        );
        assert_eq!(token_file_line(&user(&[])), "t0k,admin,admin");
    }

    #[test]
    fn kubeconfig_parses_as_kube_kubeconfig() {
        let v = render("https://127.0.0.1:1234", "PEM", &user(&[]));
        let kc: kube::config::Kubeconfig = serde_json::from_value(v).expect("kubeconfig");
        assert_eq!(kc.current_context.as_deref(), Some("azop-testenv"));
        assert_eq!(
            kc.clusters[0]
                .cluster
                .as_ref()
                .and_then(|c| c.server.as_deref()),
            Some("https://127.0.0.1:1234")
        );
    }
}
