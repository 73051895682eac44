//! Keys and certificates for one local control plane: a CA, the apiserver's serving cert, client
//! certs (CN = user, O = groups, the way the apiserver's x509 authenticator reads them) and the
//! service-account signing key pair. All ECDSA P-256, all in memory as PEM.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// A certificate and its private key, PEM-encoded.
#[derive(Debug, Clone)]
pub struct CertPair {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

/// The cluster CA. Signs serving and client certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate and key.
    pub pair: CertPair,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

fn pki(what: &'static str) -> impl FnOnce(rcgen::Error) -> Error {
    move |source| Error::Pki { what, source }
}

impl Ca {
    /// A fresh self-signed CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<Ca> {
        let key = KeyPair::generate().map_err(pki("ca key"))?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki("ca params"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(pki("ca certificate"))?;
        let pair = CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Ca {
            issuer: Issuer::new(params, key),
            pair,
        })
    }

    /// A serving certificate for `sans` (DNS names or IP addresses).
    pub fn serving(&self, common_name: &str, sans: &[&str]) -> Result<CertPair> {
        let key = KeyPair::generate().map_err(pki("serving key"))?;
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).map_err(pki("serving params"))?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki("serving certificate"))?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate for user `user` in `groups`.
    pub fn client(&self, user: &str, groups: &[&str]) -> Result<CertPair> {
        let key = KeyPair::generate().map_err(pki("client key"))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(pki("client params"))?;
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(pki("client certificate"))?;
        Ok(CertPair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// The service-account token signing key pair: (private key PEM, public key PEM).
pub fn service_account_keys() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(pki("service-account key"))?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_pem_certificates_signed_by_the_ca() {
        let ca = Ca::generate("test-ca").unwrap();
        let cases = [
            (
                "serving",
                ca.serving("kube-apiserver", &["127.0.0.1", "localhost"])
                    .unwrap(),
            ),
            ("client", ca.client("admin", &["system:masters"]).unwrap()),
        ];
        for (name, pair) in cases {
            assert!(
                pair.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"),
                "{name}"
            );
            assert!(pair.key_pem.contains("PRIVATE KEY"), "{name}");
            assert_ne!(pair.cert_pem, ca.pair.cert_pem, "{name}");
        }
        let (private, public) = service_account_keys().unwrap();
        assert!(private.contains("BEGIN PRIVATE KEY"));
        assert!(public.contains("BEGIN PUBLIC KEY"));
    }
}
