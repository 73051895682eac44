//! Rendering kubeconfig files (pure: paths in, YAML out).

use std::path::Path;

/// A kubeconfig for `server` trusting `ca`, authenticating with the client cert/key pair if given
/// (none means anonymous).
pub(crate) fn render(
    server: &str,
    ca: &Path,
    user: &str,
    client: Option<(&Path, &Path)>,
) -> String {
    let user_body = match client {
        Some((cert, key)) => format!(
            "    client-certificate: {}\n    client-key: {}\n",
            cert.display(),
            key.display()
        ),
        None => "    {}\n".to_string(),
    };
    let user_block = if client.is_some() {
        format!("- name: {user}\n  user:\n{user_body}")
    } else {
        format!("- name: {user}\n  user: {{}}\n")
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-verdict-e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n{user_block}contexts:\n- name: {user}@kube-verdict-e2e\n  context:\n    cluster: kube-verdict-e2e\n    user: {user}\n    namespace: default\ncurrent-context: {user}@kube-verdict-e2e\n",
        ca = ca.display(),
    )
}

/// A kubeconfig for `server` trusting `ca`, authenticating with a bearer token (a
/// ServiceAccount token from the TokenRequest API, as a kubelet mounts into a pod).
pub(crate) fn render_token(server: &str, ca: &Path, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-verdict-e2e\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: {user}\n  user:\n    token: {token}\ncontexts:\n- name: {user}@kube-verdict-e2e\n  context:\n    cluster: kube-verdict-e2e\n    user: {user}\ncurrent-context: {user}@kube-verdict-e2e\n",
        ca = ca.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_client_and_anonymous_configs_that_parse() {
        let cases = [
            (
                "admin",
                Some((Path::new("/p/admin.crt"), Path::new("/p/admin.key"))),
                true,
            ),
            ("anonymous", None, false),
        ];
        for (user, client, has_cert) in cases {
            let text = render(
                "https://127.0.0.1:6443",
                Path::new("/p/ca.crt"),
                user,
                client,
            );
            let kc: kube::config::Kubeconfig = serde_norway::from_str(&text).unwrap();
            assert_eq!(
                kc.current_context.as_deref(),
                Some(format!("{user}@kube-verdict-e2e").as_str())
            );
            let auth = kc.auth_infos[0].auth_info.clone().unwrap_or_default();
            assert_eq!(auth.client_certificate.is_some(), has_cert, "{user}");
            assert_eq!(
                kc.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
                Some("https://127.0.0.1:6443")
            );
        }
    }

    #[test]
    fn renders_a_token_config_that_parses() {
        let text = render_token(
            "https://127.0.0.1:6443",
            Path::new("/p/ca.crt"),
            "verdict-agent",
            "tok.en",
        );
        let kc: kube::config::Kubeconfig = serde_norway::from_str(&text).unwrap();
        let auth = kc.auth_infos[0].auth_info.clone().unwrap_or_default();
        assert!(auth.token.is_some(), "{text}");
        assert!(auth.client_certificate.is_none(), "{text}");
    }
}
