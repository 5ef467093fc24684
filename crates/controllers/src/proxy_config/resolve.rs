//! Which ProxyConfig an object uses (pure): the one it names, else its namespace's single
//! default. Two defaults are a problem reported to the user, never a silent pick.

use azop_api::Validate;
use azop_api::v1alpha1::proxy_config::{ProxyConfig, TrustedCa};
use kube::ResourceExt;

/// A ProxyConfig chosen for one consumer, with what the consumer needs from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedProxy {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `metadata.generation` of the ProxyConfig, recorded by consumers (the webhook's
    /// annotation) so a change is visible.
    pub generation: i64,
    pub http_proxy: Option<String>,
    pub https_proxy: Option<String>,
    /// The user's noProxy entries (azop's own additions come from [`super::compute`]).
    pub no_proxy: Vec<String>,
    pub trusted_ca: Option<TrustedCa>,
    /// How it was chosen.
    pub via: Via,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Named by the consumer (`spec.proxyConfigRef`, or the pod annotation).
    Reference,
    /// The namespace default (`default: true`).
    NamespaceDefault,
}

/// Why no ProxyConfig can be used although one is wanted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyProblem {
    #[error("ProxyConfig {namespace}/{name} does not exist")]
    NotFound { namespace: String, name: String },
    #[error(
        "namespace {namespace} has {} default ProxyConfigs ({}); set default: true on at most one, or name one with proxyConfigRef",
        names.len(),
        names.join(", ")
    )]
    AmbiguousDefault {
        namespace: String,
        names: Vec<String>,
    },
    #[error("ProxyConfig {namespace}/{name} is invalid: {message}")]
    Invalid {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("ProxyConfig {namespace}/{name} is being deleted")]
    Deleting { namespace: String, name: String },
}

/// The ProxyConfig a consumer in `namespace` uses. `reference` (a cluster's
/// `spec.proxyConfigRef`, a pod's annotation) wins; without it the namespace's single default;
/// none → `Ok(None)` (direct egress). `all` may hold ProxyConfigs of other namespaces: they
/// are ignored, a consumer never uses another namespace's settings.
pub fn effective_proxy_for(
    namespace: &str,
    reference: Option<&str>,
    all: &[impl std::ops::Deref<Target = ProxyConfig>],
) -> Result<Option<ResolvedProxy>, ProxyProblem> {
    let in_ns = || {
        all.iter()
            .map(|p| &**p)
            .filter(move |p| p.namespace().as_deref() == Some(namespace))
    };
    let (chosen, via) = match reference {
        Some(name) => match in_ns().find(|p| p.name_any() == name) {
            Some(p) => (p, Via::Reference),
            None => {
                return Err(ProxyProblem::NotFound {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                });
            }
        },
        None => {
            let defaults = defaults_in(namespace, all);
            match defaults.as_slice() {
                [] => return Ok(None),
                [one] => (*one, Via::NamespaceDefault),
                many => {
                    return Err(ProxyProblem::AmbiguousDefault {
                        namespace: namespace.to_string(),
                        names: many.iter().map(|p| p.name_any()).collect(),
                    });
                }
            }
        }
    };
    resolved(chosen, via).map(Some)
}

/// The live `default: true` ProxyConfigs of `namespace`, sorted by name (so messages are
/// stable). One being deleted no longer counts: it is on its way out.
pub fn defaults_in<'a>(
    namespace: &str,
    all: &'a [impl std::ops::Deref<Target = ProxyConfig>],
) -> Vec<&'a ProxyConfig> {
    let mut out: Vec<&ProxyConfig> = all
        .iter()
        .map(|p| &**p)
        .filter(|p| p.namespace().as_deref() == Some(namespace))
        .filter(|p| p.spec.default && p.metadata.deletion_timestamp.is_none())
        .collect();
    out.sort_by_key(|p| p.name_any());
    out
}

fn resolved(p: &ProxyConfig, via: Via) -> Result<ResolvedProxy, ProxyProblem> {
    let namespace = p.namespace().unwrap_or_default();
    let name = p.name_any();
    if p.metadata.deletion_timestamp.is_some() {
        return Err(ProxyProblem::Deleting { namespace, name });
    }
    // The consumer must not get settings the ProxyConfig's own conditions call invalid; the
    // same pure rules, so both sides agree without reading the status.
    if let Err(e) = p.validate() {
        return Err(ProxyProblem::Invalid {
            namespace,
            name,
            message: e.to_string(),
        });
    }
    if let Err(message) = super::validate::no_proxy_entries(&p.spec.no_proxy) {
        return Err(ProxyProblem::Invalid {
            namespace,
            name,
            message,
        });
    }
    Ok(ResolvedProxy {
        uid: p.uid().unwrap_or_default(),
        generation: p.metadata.generation.unwrap_or(0),
        http_proxy: p.spec.http_proxy.clone(),
        https_proxy: p.spec.https_proxy.clone(),
        no_proxy: p.spec.no_proxy.clone(),
        trusted_ca: p.spec.trusted_ca.clone(),
        via,
        namespace,
        name,
    })
}

/// Whether a change of ProxyConfig `changed_ns/changed_name` can change what a consumer in
/// `consumer_ns` with `reference` resolves to — the mapper of the cluster controllers' watch
/// on ProxyConfigs. A consumer without a reference is woken by every ProxyConfig of its
/// namespace: one becoming (or ceasing to be) the default changes its answer, and the watch
/// event carries only the new state.
pub fn affects(
    changed_ns: &str,
    changed_name: &str,
    consumer_ns: &str,
    reference: Option<&str>,
) -> bool {
    changed_ns == consumer_ns && reference.is_none_or(|r| r == changed_name)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use azop_api::v1alpha1::KeyRef;
    use azop_api::v1alpha1::proxy_config::ProxyConfigSpec;

    pub(crate) fn proxy(ns: &str, name: &str, default: bool) -> ProxyConfig {
        let mut p = ProxyConfig::new(
            name,
            ProxyConfigSpec {
                http_proxy: Some("http://proxy.corp:3128".into()),
                https_proxy: Some("http://proxy.corp:3129".into()),
                no_proxy: vec![".corp.example.com".into()],
                trusted_ca: None,
                default,
                reconcile_policy: Default::default(),
                deletion_policy: Default::default(),
            },
        );
        p.metadata.namespace = Some(ns.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.generation = Some(3);
        p
    }

    fn all(ps: Vec<ProxyConfig>) -> Vec<std::sync::Arc<ProxyConfig>> {
        ps.into_iter().map(std::sync::Arc::new).collect()
    }

    #[test]
    fn the_reference_wins_over_the_default() {
        let ps = all(vec![proxy("a", "dflt", true), proxy("a", "named", false)]);
        let got = effective_proxy_for("a", Some("named"), &ps)
            .expect("resolves")
            .expect("some");
        assert_eq!(got.name, "named");
        assert_eq!(got.via, Via::Reference);
        assert_eq!(got.generation, 3);
    }

    #[test]
    fn without_a_reference_the_single_default_is_used() {
        let ps = all(vec![proxy("a", "dflt", true), proxy("a", "other", false)]);
        let got = effective_proxy_for("a", None, &ps)
            .expect("resolves")
            .expect("some");
        assert_eq!(
            (got.name.as_str(), got.via),
            ("dflt", Via::NamespaceDefault)
        );
    }

    #[test]
    fn no_default_means_no_proxy() {
        let ps = all(vec![proxy("a", "other", false), proxy("b", "dflt", true)]);
        assert_eq!(effective_proxy_for("a", None, &ps), Ok(None));
    }

    #[test]
    fn two_defaults_are_a_problem_naming_both() {
        let ps = all(vec![proxy("a", "zeta", true), proxy("a", "alpha", true)]);
        let err = effective_proxy_for("a", None, &ps).expect_err("ambiguous");
        assert_eq!(
            err,
            ProxyProblem::AmbiguousDefault {
                namespace: "a".into(),
                names: vec!["alpha".into(), "zeta".into()]
            }
        );
        assert!(
            err.to_string()
                .contains("2 default ProxyConfigs (alpha, zeta)")
        );
        // A reference still resolves: the user said which one.
        assert!(effective_proxy_for("a", Some("zeta"), &ps).is_ok());
    }

    #[test]
    fn another_namespace_is_never_used() {
        let ps = all(vec![proxy("b", "shared", false)]);
        assert_eq!(
            effective_proxy_for("a", Some("shared"), &ps),
            Err(ProxyProblem::NotFound {
                namespace: "a".into(),
                name: "shared".into()
            })
        );
    }

    #[test]
    fn an_invalid_or_deleting_proxy_config_is_a_problem() {
        let mut bad = proxy("a", "bad", true);
        bad.spec.https_proxy = Some("ftp://nope".into());
        bad.spec.trusted_ca = Some(TrustedCa {
            secret_ref: Some(KeyRef {
                name: "ca".into(),
                key: "ca.crt".into(),
            }),
            config_map_ref: None,
        });
        let ps = all(vec![bad]);
        assert!(matches!(
            effective_proxy_for("a", None, &ps),
            Err(ProxyProblem::Invalid { .. })
        ));
        let mut going = proxy("a", "going", false);
        going.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let ps = all(vec![going]);
        assert!(matches!(
            effective_proxy_for("a", Some("going"), &ps),
            Err(ProxyProblem::Deleting { .. })
        ));
    }

    #[test]
    fn a_change_wakes_referencing_and_inheriting_consumers_of_its_namespace_only() {
        assert!(affects("a", "p", "a", Some("p")));
        assert!(affects("a", "p", "a", None));
        assert!(!affects("a", "p", "a", Some("q")));
        assert!(!affects("a", "p", "b", None));
    }
}
