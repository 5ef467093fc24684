//! Azure clouds: the ARM endpoint and the AAD authority host of each.

use crate::error::AzureError;
use url::Url;

/// The `cloud` key of a credentials Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Cloud {
    #[default]
    AzurePublicCloud,
    AzureUSGovernmentCloud,
    AzureChinaCloud,
}

impl Cloud {
    pub fn parse(value: &str) -> Option<Cloud> {
        match value.trim() {
            "AzurePublicCloud" | "AzureCloud" | "" => Some(Cloud::AzurePublicCloud),
            "AzureUSGovernmentCloud" | "AzureUSGovernment" => Some(Cloud::AzureUSGovernmentCloud),
            "AzureChinaCloud" => Some(Cloud::AzureChinaCloud),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::AzurePublicCloud => "AzurePublicCloud",
            Cloud::AzureUSGovernmentCloud => "AzureUSGovernmentCloud",
            Cloud::AzureChinaCloud => "AzureChinaCloud",
        }
    }

    fn arm(self) -> &'static str {
        match self {
            Cloud::AzurePublicCloud => "https://management.azure.com/",
            Cloud::AzureUSGovernmentCloud => "https://management.usgovcloudapi.net/",
            Cloud::AzureChinaCloud => "https://management.chinacloudapi.cn/",
        }
    }

    fn authority(self) -> &'static str {
        match self {
            Cloud::AzurePublicCloud => "https://login.microsoftonline.com/",
            Cloud::AzureUSGovernmentCloud => "https://login.microsoftonline.us/",
            Cloud::AzureChinaCloud => "https://login.chinacloudapi.cn/",
        }
    }

    /// Endpoints of this cloud, with the operator-wide overrides (azop-armsim) applied.
    pub fn endpoints(self, overrides: &EndpointOverrides) -> Result<CloudEndpoints, AzureError> {
        let parse = |s: &str, what: &str| {
            Url::parse(s).map_err(|e| AzureError::config(format!("invalid {what} url {s}: {e}")))
        };
        Ok(CloudEndpoints {
            arm: match &overrides.arm_endpoint {
                Some(u) => u.clone(),
                None => parse(self.arm(), "arm endpoint")?,
            },
            authority_host: match &overrides.authority_host {
                Some(u) => u.clone(),
                None => parse(self.authority(), "authority host")?,
            },
        })
    }
}

/// Where ARM and AAD live for one credential.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloudEndpoints {
    /// ARM, served at the root of this URL (the generated crates drop any path prefix).
    pub arm: Url,
    pub authority_host: Url,
}

/// Operator-wide overrides (`azop run --arm-endpoint --authority-host`), applied to every cloud.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    pub arm_endpoint: Option<Url>,
    pub authority_host: Option<Url>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_has_its_endpoints_and_overrides_win() {
        let none = EndpointOverrides::default();
        let gov = Cloud::AzureUSGovernmentCloud
            .endpoints(&none)
            .expect("endpoints");
        assert_eq!(gov.arm.as_str(), "https://management.usgovcloudapi.net/");
        assert_eq!(
            gov.authority_host.as_str(),
            "https://login.microsoftonline.us/"
        );
        let china = Cloud::AzureChinaCloud.endpoints(&none).expect("endpoints");
        assert_eq!(china.arm.host_str(), Some("management.chinacloudapi.cn"));
        let sim = EndpointOverrides {
            arm_endpoint: Some(Url::parse("http://127.0.0.1:9/").expect("url")),
            authority_host: Some(Url::parse("http://127.0.0.1:9/").expect("url")),
        };
        let e = Cloud::AzurePublicCloud.endpoints(&sim).expect("endpoints");
        assert_eq!(e.arm.as_str(), "http://127.0.0.1:9/");
        assert_eq!(
            Cloud::parse("AzureChinaCloud"),
            Some(Cloud::AzureChinaCloud)
        );
        assert_eq!(Cloud::parse("Mars"), None);
        assert_eq!(Cloud::parse(""), Some(Cloud::AzurePublicCloud));
    }
}
