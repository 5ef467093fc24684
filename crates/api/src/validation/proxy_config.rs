//! ProxyConfig rules.

use super::rules;
use super::{Errors, Validate, ValidationErrors, messages as msg, patterns};
use crate::v1alpha1::{KeyRef, ProxyConfig};

impl Validate for ProxyConfig {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errs = Errors::default();
        let spec = &self.spec;
        if spec.http_proxy.is_none() && spec.https_proxy.is_none() {
            errs.push("spec", msg::PROXY_NEEDS_ONE);
        }
        for (field, value) in [
            ("spec.httpProxy", &spec.http_proxy),
            ("spec.httpsProxy", &spec.https_proxy),
        ] {
            if let Some(v) = value {
                proxy_url(&mut errs, field, v);
            }
        }
        if spec.no_proxy.len() > 500 {
            errs.push(
                "spec.noProxy",
                format!("{} entries, at most 500 allowed", spec.no_proxy.len()),
            );
        }
        for (i, entry) in spec.no_proxy.iter().enumerate() {
            rules::string(
                &mut errs,
                &format!("spec.noProxy[{i}]"),
                entry,
                patterns::NO_PROXY_ENTRY,
                (1, 253),
                msg::NO_PROXY_ENTRY,
            );
        }
        if let Some(ca) = &spec.trusted_ca {
            if ca.secret_ref.is_some() == ca.config_map_ref.is_some() {
                errs.push("spec.trustedCA", msg::TRUSTED_CA_ONE_SOURCE);
            }
            for (field, r) in [
                ("spec.trustedCA.secretRef", &ca.secret_ref),
                ("spec.trustedCA.configMapRef", &ca.config_map_ref),
            ] {
                if let Some(r) = r {
                    key_ref(&mut errs, field, r);
                }
            }
        }
        errs.finish()
    }

    fn validate_update(_old: &Self, new: &Self) -> Result<(), ValidationErrors> {
        // Every ProxyConfig field may change; consumers pick the new settings up.
        new.validate()
    }
}

fn key_ref(errs: &mut Errors, field: &str, r: &KeyRef) {
    rules::object_name(errs, &format!("{field}.name"), &r.name);
    rules::string(
        errs,
        &format!("{field}.key"),
        &r.key,
        patterns::DATA_KEY,
        (1, 253),
        msg::DATA_KEY,
    );
}

/// A proxy URL: http(s), a host, an optional port, nothing else (a path or query would be
/// dropped silently by most clients).
fn proxy_url(errs: &mut Errors, field: &str, value: &str) {
    if value.len() > 2048 || !rules::matches(patterns::PROXY_URL, value) {
        errs.push(
            field,
            format!(
                "{} is invalid: {}",
                rules::show(value),
                msg::PROXY_URL_FORMAT
            ),
        );
        return;
    }
    let ok = match url::Url::parse(value) {
        Ok(u) => {
            u.host_str().is_some_and(|h| !h.is_empty())
                && (u.path().is_empty() || u.path() == "/")
                && u.query().is_none()
                && u.fragment().is_none()
        }
        Err(_) => false,
    };
    if !ok {
        errs.push(
            field,
            format!("{} is invalid: {}", rules::show(value), msg::PROXY_URL_HOST),
        );
    }
}
