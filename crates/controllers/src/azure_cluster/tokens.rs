//! kubeadm bootstrap tokens (pure): how machines join the workload cluster.
//!
//! The first token is made with the PKI and handed to the first control-plane machine's
//! `kubeadm init` (which creates it in the workload cluster). azop records the token it
//! hands out in the management cluster (`<cluster>-bootstrap-token`, owned by the
//! AzureCluster). A machine created when the recorded token has less than
//! [`MIN_REMAINING`] left gets a fresh one, which azop first writes into the workload cluster
//! (`kube-system/bootstrap-token-<id>`, the format kubeadm reads) through the cluster's
//! kubeconfig — so a scale-up long after the first boot still joins.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::Rng;
use time::OffsetDateTime;

/// Lifetime of the tokens azop makes unless the operator says otherwise (kubeadm's default).
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A machine boots, installs and joins in minutes; a token with less than this left (or
/// less than half its lifetime, for short lifetimes) is replaced before it is handed to a new
/// machine.
pub const MIN_REMAINING: Duration = Duration::from_secs(15 * 60);

/// Groups kubeadm's own tokens carry (its default node token group).
pub const EXTRA_GROUPS: &str = "system:bootstrappers:kubeadm:default-node-token";

/// The record's name in the management cluster.
pub fn record_name(cluster: &str) -> String {
    format!("{cluster}-bootstrap-token")
}

/// Whether a fresh token must be written into the workload cluster before a machine is given
/// it: only when a token was handed out before (the cluster has been initialized with it) and
/// the machine joins. The cluster's first token is the one the first control-plane machine's
/// `kubeadm init` creates, whichever machine of the first pass asks for it first. Pure.
pub fn must_reach_workload(recorded_before: bool, init: bool) -> bool {
    recorded_before && !init
}

/// One bootstrap token: `id.secret`, and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: String,
    pub secret: String,
    pub expires: OffsetDateTime,
}

impl Token {
    /// A fresh random token (`[a-z0-9]{6}.[a-z0-9]{16}`, kubeadm's format).
    pub fn generate(now: OffsetDateTime, ttl: Duration) -> Token {
        Token {
            id: random_chars(6),
            secret: random_chars(16),
            expires: now + ttl,
        }
    }

    /// `id.secret`, as kubeadm takes it.
    pub fn value(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }

    /// Whether a machine created now can still join with it, for tokens of lifetime `ttl`.
    pub fn usable(&self, now: OffsetDateTime, ttl: Duration) -> bool {
        self.expires - now > MIN_REMAINING.min(ttl / 2)
    }

    /// The record's `data` (string values).
    pub fn to_record(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("token-id".to_string(), self.id.clone()),
            ("token-secret".to_string(), self.secret.clone()),
            ("expiration".to_string(), rfc3339(self.expires)),
        ])
    }

    /// The token from a record; `None` when incomplete or unreadable (a new one is made).
    pub fn from_record(data: &BTreeMap<String, String>) -> Option<Token> {
        let id = data.get("token-id")?.clone();
        let secret = data.get("token-secret")?.clone();
        let expires = OffsetDateTime::parse(
            data.get("expiration")?,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        let ok = |s: &str, n: usize| {
            s.len() == n
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        };
        (ok(&id, 6) && ok(&secret, 16)).then_some(Token {
            id,
            secret,
            expires,
        })
    }

    /// The workload cluster's Secret for it: `kube-system/bootstrap-token-<id>`, type
    /// `bootstrap.kubernetes.io/token`, usable for authentication and signing (what kubeadm's
    /// join discovery needs), in kubeadm's default node group.
    pub fn workload_secret(&self) -> k8s_openapi::api::core::v1::Secret {
        let data = BTreeMap::from([
            ("token-id".to_string(), self.id.clone()),
            ("token-secret".to_string(), self.secret.clone()),
            ("expiration".to_string(), rfc3339(self.expires)),
            ("usage-bootstrap-authentication".to_string(), "true".into()),
            ("usage-bootstrap-signing".to_string(), "true".into()),
            ("auth-extra-groups".to_string(), EXTRA_GROUPS.to_string()),
            (
                "description".to_string(),
                "Made by azop for machines joining after the first token expired".to_string(),
            ),
        ]);
        k8s_openapi::api::core::v1::Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(format!("bootstrap-token-{}", self.id)),
                namespace: Some("kube-system".into()),
                ..Default::default()
            },
            type_: Some("bootstrap.kubernetes.io/token".into()),
            string_data: Some(data),
            ..Default::default()
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn random_chars(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time")
    }

    #[test]
    fn tokens_have_kubeadms_format_and_round_trip_through_the_record() {
        let t = Token::generate(now(), DEFAULT_TTL);
        let v = t.value();
        assert_eq!(v.len(), 23, "{v}");
        assert_eq!(Token::from_record(&t.to_record()), Some(t.clone()));
        let mut bad = t.to_record();
        bad.insert("token-id".into(), "ABC".into());
        assert_eq!(Token::from_record(&bad), None);
        assert_ne!(Token::generate(now(), DEFAULT_TTL).id, t.id);
    }

    #[test]
    fn a_token_near_its_expiry_is_not_handed_out() {
        let hour = Duration::from_secs(3600);
        let t = Token::generate(now(), hour);
        assert!(t.usable(now(), hour));
        assert!(!t.usable(now() + time::Duration::minutes(50), hour));
        assert!(!t.usable(now() + time::Duration::hours(2), hour));
        // A short lifetime (the tests' knob) keeps half of it as the margin.
        let short = Duration::from_secs(60);
        let t = Token::generate(now(), short);
        assert!(t.usable(now() + time::Duration::seconds(20), short));
        assert!(!t.usable(now() + time::Duration::seconds(40), short));
    }

    #[test]
    fn only_a_late_join_needs_the_token_in_the_workload_cluster_first() {
        // The first pass: no record, and a joining machine may ask before cp-0 does.
        assert!(!must_reach_workload(false, false));
        assert!(!must_reach_workload(false, true));
        // Later: the cluster was initialized with an earlier token.
        assert!(must_reach_workload(true, false));
        assert!(!must_reach_workload(true, true));
    }

    #[test]
    fn the_workload_secret_is_what_kubeadm_reads() {
        let t = Token::generate(now(), DEFAULT_TTL);
        let s = t.workload_secret();
        assert_eq!(
            s.metadata.name.as_deref(),
            Some(format!("bootstrap-token-{}", t.id).as_str())
        );
        assert_eq!(s.type_.as_deref(), Some("bootstrap.kubernetes.io/token"));
        let d = s.string_data.expect("data");
        assert_eq!(d["usage-bootstrap-authentication"], "true");
        assert_eq!(d["expiration"], "2027-01-16T08:00:00Z");
    }
}
