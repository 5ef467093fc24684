//! A node's bootstrap data (its VM `customData`), composed from fragments (pure).
//!
//! Several parts of azop put something on a node before anything else runs there: the
//! ProxyConfig's containerd and kubelet drop-ins and CA ([`crate::proxy_config::inherit`]),
//! and azop's own kubeadm bootstrap ([`crate::azure_cluster::kubeadm`]). Each is a [`Fragment`] — files to write and
//! commands to run, in order — and [`compose`] turns the fragments, followed by the user's own
//! bootstrap data (`spec.bootstrapDataSecretRef`), into one document cloud-init accepts:
//!
//! - no fragment: the user's data exactly as given (or none);
//! - no user data: a `#cloud-config` with the fragments' `write_files` and `runcmd`;
//! - user data that is a `#cloud-config`: the same document with the fragments' files and
//!   commands put *before* the user's own (`write_files` runs early in boot, `runcmd` in the
//!   final stage, in list order — so the proxy is in place before kubeadm pulls an image);
//!   every other key of the user's document is kept as it is;
//! - user data that is a script (`#!`): a MIME multipart document — a `text/cloud-config`
//!   part with the fragments' files, a `text/x-shellscript` part `00-azop.sh` with their
//!   commands, then the user's script as `50-bootstrap.sh` (cloud-init runs part scripts in
//!   name order, after `write_files`);
//! - anything else (an `#include`, a MIME document, gzip): refused with a message — azop
//!   cannot put its pieces in front of it safely.
//!
//! A later fragment (kubeadm) is appended after the proxy's: `compose(&[proxy, kubeadm],
//! user)`, so its commands run with the proxy already configured.

use serde::Serialize;
use serde_yaml::{Mapping, Value};

/// One cloud-init `write_files` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteFile {
    pub path: String,
    pub content: String,
    pub owner: String,
    pub permissions: String,
}

impl WriteFile {
    /// A file owned by root, mode 0644.
    pub fn root(path: &str, content: String) -> Self {
        WriteFile {
            path: path.to_string(),
            content,
            owner: "root:root".into(),
            permissions: "0644".into(),
        }
    }
}

/// What one part of azop puts on a node: files, then commands (exec form, no shell).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Fragment {
    pub write_files: Vec<WriteFile>,
    pub runcmd: Vec<Vec<String>>,
}

/// Composes the fragments (in order) and the user's bootstrap data (see the module docs).
/// `Err` carries the message for the user: the bootstrap data cannot be combined.
pub fn compose(fragments: &[Fragment], user: Option<&str>) -> Result<Option<String>, String> {
    let files: Vec<&WriteFile> = fragments.iter().flat_map(|f| &f.write_files).collect();
    let commands: Vec<&Vec<String>> = fragments.iter().flat_map(|f| &f.runcmd).collect();
    if files.is_empty() && commands.is_empty() {
        return Ok(user.map(str::to_string));
    }
    let Some(user) = user else {
        return cloud_config(Mapping::new(), &files, &commands).map(Some);
    };
    let first_line = user.lines().next().unwrap_or_default().trim_end();
    if first_line == "#cloud-config" {
        let doc: Value = serde_yaml::from_str(user).map_err(|e| {
            format!("the bootstrap data starts with #cloud-config but is not YAML: {e}")
        })?;
        let map = match doc {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            _ => {
                return Err(
                    "the bootstrap data starts with #cloud-config but is not a YAML mapping".into(),
                );
            }
        };
        return cloud_config(map, &files, &commands).map(Some);
    }
    if first_line.starts_with("#!") {
        return Ok(Some(multipart(&files, &commands, user)?));
    }
    Err(format!(
        "the bootstrap data starts with {:?}: azop can combine its node settings (the ProxyConfig's drop-ins and CA) only with a #cloud-config document or a #! script; convert it to one of those",
        first_line.chars().take(40).collect::<String>()
    ))
}

/// `#cloud-config` with `files` and `commands` put before those of `user`.
fn cloud_config(
    mut user: Mapping,
    files: &[&WriteFile],
    commands: &[&Vec<String>],
) -> Result<String, String> {
    let mut write_files: Vec<Value> = files
        .iter()
        .map(|f| to_yaml(*f))
        .collect::<Result<_, _>>()?;
    let mut runcmd: Vec<Value> = commands
        .iter()
        .map(|c| to_yaml(*c))
        .collect::<Result<_, _>>()?;
    for (key, ours) in [("write_files", &mut write_files), ("runcmd", &mut runcmd)] {
        match user.remove(key) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(theirs)) => ours.extend(theirs),
            Some(_) => {
                return Err(format!(
                    "the bootstrap data's {key} is not a list (cloud-init needs one)"
                ));
            }
        }
    }
    let mut out = Mapping::new();
    if !write_files.is_empty() {
        out.insert("write_files".into(), Value::Sequence(write_files));
    }
    if !runcmd.is_empty() {
        out.insert("runcmd".into(), Value::Sequence(runcmd));
    }
    out.extend(user);
    let yaml = serde_yaml::to_string(&Value::Mapping(out))
        .map_err(|e| format!("cannot render the cloud-config: {e}"))?;
    Ok(format!("#cloud-config\n{yaml}"))
}

fn to_yaml<T: Serialize>(v: &T) -> Result<Value, String> {
    serde_yaml::to_value(v).map_err(|e| format!("cannot render the cloud-config: {e}"))
}

/// The boundary of the multipart document; never found in its parts (checked).
const BOUNDARY: &str = "==AZOP-BOOTSTRAP-7f3c1e==";

fn multipart(
    files: &[&WriteFile],
    commands: &[&Vec<String>],
    user: &str,
) -> Result<String, String> {
    if user.contains(BOUNDARY) {
        return Err(format!(
            "the bootstrap script contains {BOUNDARY}, the boundary azop uses to combine it"
        ));
    }
    let config = cloud_config(Mapping::new(), files, &[])?;
    let mut script = String::from(
        "#!/bin/sh\n# Written by azop: node settings that must precede the bootstrap script.\nset -e\n",
    );
    for c in commands {
        let words: Vec<String> = c.iter().map(|w| shell_quote(w)).collect();
        script.push_str(&words.join(" "));
        script.push('\n');
    }
    let part = |content_type: &str, file: &str, body: &str| {
        format!(
            "--{BOUNDARY}\nContent-Type: {content_type}; charset=\"utf-8\"\nMIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\nContent-Disposition: attachment; filename=\"{file}\"\n\n{body}{}",
            if body.ends_with('\n') { "" } else { "\n" }
        )
    };
    let mut out =
        format!("Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\nMIME-Version: 1.0\n\n");
    out.push_str(&part("text/cloud-config", "azop.cfg", &config));
    if !commands.is_empty() {
        out.push_str(&part("text/x-shellscript", "00-azop.sh", &script));
    }
    out.push_str(&part("text/x-shellscript", "50-bootstrap.sh", user));
    out.push_str(&format!("--{BOUNDARY}--\n"));
    Ok(out)
}

/// POSIX single-quoting; words made only of safe characters stay bare (readable).
fn shell_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag() -> Fragment {
        Fragment {
            write_files: vec![WriteFile::root("/etc/a.conf", "A=1\n".into())],
            runcmd: vec![
                vec!["systemctl".into(), "daemon-reload".into()],
                vec!["echo".into(), "it's".into()],
            ],
        }
    }

    fn yaml(doc: &str) -> Value {
        assert!(doc.starts_with("#cloud-config\n"), "{doc}");
        serde_yaml::from_str(doc).expect("yaml")
    }

    #[test]
    fn without_fragments_the_user_data_is_untouched() {
        assert_eq!(
            compose(&[], Some("#!/bin/sh\necho hi\n")),
            Ok(Some("#!/bin/sh\necho hi\n".into()))
        );
        assert_eq!(compose(&[], None), Ok(None));
        assert_eq!(
            compose(&[Fragment::default()], Some("x")),
            Ok(Some("x".into()))
        );
    }

    #[test]
    fn fragments_alone_make_a_cloud_config() {
        let doc = compose(&[frag()], None).expect("ok").expect("some");
        let v = yaml(&doc);
        assert_eq!(v["write_files"][0]["path"], "/etc/a.conf");
        assert_eq!(v["write_files"][0]["permissions"], "0644");
        assert_eq!(v["runcmd"][0][1], "daemon-reload");
    }

    #[test]
    fn a_user_cloud_config_keeps_its_keys_and_comes_after_the_fragments() {
        let user = "#cloud-config\npackages: [jq]\nwrite_files:\n  - path: /etc/user\n    content: u\nruncmd:\n  - kubeadm init\n";
        let v = yaml(&compose(&[frag()], Some(user)).expect("ok").expect("some"));
        assert_eq!(v["packages"][0], "jq");
        let paths: Vec<_> = v["write_files"]
            .as_sequence()
            .expect("seq")
            .iter()
            .map(|f| f["path"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(paths, vec!["/etc/a.conf", "/etc/user"]);
        let cmds = v["runcmd"].as_sequence().expect("seq");
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[2], "kubeadm init");
    }

    #[test]
    fn a_user_script_goes_last_in_a_multipart_document() {
        let doc = compose(&[frag()], Some("#!/bin/bash\nkubeadm join\n"))
            .expect("ok")
            .expect("some");
        let a = doc.find("text/cloud-config").expect("config part");
        let b = doc.find("00-azop.sh").expect("azop script");
        let c = doc.find("50-bootstrap.sh").expect("user script");
        assert!(a < b && b < c, "{doc}");
        assert!(
            doc.contains("systemctl daemon-reload\necho 'it'\\''s'\n"),
            "{doc}"
        );
        assert!(doc.trim_end().ends_with(&format!("--{BOUNDARY}--")));
    }

    #[test]
    fn what_cannot_be_combined_is_refused_with_a_reason() {
        let e = compose(&[frag()], Some("#include\nhttp://x\n")).expect_err("refused");
        assert!(e.contains("#cloud-config") && e.contains("#include"), "{e}");
        let e = compose(&[frag()], Some("#cloud-config\nruncmd: nope\n")).expect_err("refused");
        assert!(e.contains("runcmd is not a list"), "{e}");
        let e = compose(&[frag()], Some("#cloud-config\n[1, 2]\n")).expect_err("refused");
        assert!(e.contains("not a YAML mapping"), "{e}");
    }
}
