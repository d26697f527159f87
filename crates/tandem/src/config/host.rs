//! `check-config`'s checks against the machine: the interfaces the file names exist here,
//! and the TLS files parse, the certificate matches its key and chains to the CA.
//!
//! Kept apart from [`super::build`] (which `serve` runs too, and which looks at nothing
//! but the file) because these answers depend on where the check runs: with
//! `--off-host` (checking a file for another machine) a missing interface is a warning.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tandem_failover::Role;

use super::build::{Problem, RunConfig};
use super::failover::FailoverTls;
use super::locate;

/// What the host checks found: errors make check-config fail, warnings do not.
#[derive(Debug, Default)]
pub struct HostReport {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

fn at(cfg: &RunConfig, path: &str, message: String) -> Problem {
    let line = locate::offset_of(&cfg.source, path).map(|o| locate::line_col(&cfg.source, o).0);
    Problem {
        path: path.to_string(),
        message,
        line,
        file: (!cfg.origin.is_empty()).then(|| cfg.origin.clone()),
    }
}

/// Checks `cfg` against this host. `off_host`: the file is for another machine, so a
/// missing interface is only a warning.
pub fn check_host(cfg: &RunConfig, off_host: bool) -> HostReport {
    let mut r = HostReport::default();
    for (i, name) in cfg.interfaces.iter().enumerate() {
        if tandem_net::interface_index(name).is_err() {
            let path = format!("server.interfaces[{i}]");
            if off_host {
                r.warnings.push(at(
                    cfg,
                    &path,
                    format!("interface {name:?} does not exist on this host (checked with --off-host: fine if it exists where the file is used)"),
                ));
            } else {
                r.errors.push(at(
                    cfg,
                    &path,
                    format!("interface {name:?} does not exist on this host: `serve` could not listen on it (use --off-host to check a file meant for another machine)"),
                ));
            }
        }
    }
    if let Some(f) = &cfg.failover {
        if let FailoverTls::Mutual {
            cert,
            key,
            ca,
            server_name,
        } = &f.tls
        {
            let problems = check_tls_files(cert, key, ca, server_name, f.role);
            r.errors.extend(
                problems
                    .into_iter()
                    .map(|(key, m)| at(cfg, &format!("failover.tls.{key}"), m)),
            );
        }
    }
    r
}

/// PEM certificates of `path`.
fn certs_of(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not a PEM certificate file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Which check failed, by key (`cert`, `key`, `ca`), and why.
type TlsProblem = (&'static str, String);

/// The files of `[failover.tls]`: each parses, the key is the certificate's, and the
/// certificate chains to the CA for what our role does on the link (RFC 8156 §6.1: the
/// primary connects, so its certificate is a TLS client's; the secondary's a server's).
pub fn check_tls_files(
    cert: &Path,
    key: &Path,
    ca: &Path,
    server_name: &str,
    role: Role,
) -> Vec<TlsProblem> {
    let mut out = Vec::new();
    let chain = certs_of(cert).map_err(|e| out.push(("cert", e))).ok();
    let anchors = certs_of(ca).map_err(|e| out.push(("ca", e))).ok();
    if let Err(e) = rustls::pki_types::PrivateKeyDer::from_pem_file(key) {
        out.push((
            "key",
            format!("{} is not a PEM private key: {e}", key.display()),
        ));
    }
    if !out.is_empty() {
        return out;
    }
    let (Some(chain), Some(anchors)) = (chain, anchors) else {
        return out;
    };
    // Parses everything again the way `serve` does; this also refuses a key that is not
    // the certificate's.
    if let Err(e) = tandem_server::partner::load_tls(cert, key, ca, server_name) {
        let which = if e.to_string().contains("private key") {
            "key"
        } else {
            "cert"
        };
        out.push((which, e.to_string()));
        return out;
    }
    if let Err(e) = verify_chain(&chain, &anchors, role, None) {
        out.push((
            "cert",
            format!(
                "{} does not chain to the CA in {}: {e}",
                cert.display(),
                ca.display()
            ),
        ));
    }
    out
}

/// Verifies `chain` (end entity first) against the CA certificates `anchors` now, for
/// `role`'s side of the link; with `name`, also that the certificate carries it.
pub fn verify_chain(
    chain: &[CertificateDer<'static>],
    anchors: &[CertificateDer<'static>],
    role: Role,
    name: Option<&str>,
) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let trust: Vec<_> = anchors
        .iter()
        .map(|c| webpki::anchor_from_trusted_cert(c).map_err(|e| format!("CA certificate: {e}")))
        .collect::<Result<_, _>>()?;
    let ee = webpki::EndEntityCert::try_from(&chain[0]).map_err(|e| e.to_string())?;
    let usage = match role {
        Role::Primary => webpki::KeyUsage::client_auth(),
        Role::Secondary => webpki::KeyUsage::server_auth(),
    };
    ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &trust,
        &chain[1..],
        UnixTime::now(),
        usage,
        None,
        None,
    )
    .map_err(|e| match e {
        webpki::Error::CertExpired { .. } => "the certificate has expired".to_string(),
        webpki::Error::CertNotValidYet { .. } => "the certificate is not valid yet".to_string(),
        webpki::Error::UnknownIssuer => "it is not signed by that CA (unknown issuer)".to_string(),
        // A CA of the same name but another key (e.g. a CA made again).
        webpki::Error::InvalidSignatureForPublicKey => {
            "it is not signed by that CA (a CA of the same name, but its signature does not verify with this CA's key)".to_string()
        }
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            format!(
                "its extended key usage does not allow TLS {} authentication, which the {role} needs",
                if role == Role::Primary { "client" } else { "server" }
            )
        }
        e => e.to_string(),
    })?;
    if let Some(name) = name {
        let sn = ServerName::try_from(name.to_string())
            .map_err(|_| format!("{name:?} is not a TLS server name"))?;
        ee.verify_is_valid_for_subject_name(&sn)
            .map_err(|_| format!("the certificate does not carry the name {name:?}"))?;
    }
    Ok(())
}

/// With both files: each certificate must be accepted by the other side (RFC 8156 §6.1,
/// mutual TLS). The primary checks the secondary's certificate against its own
/// `server_name`; the secondary only needs the primary's to chain to its CA.
pub fn check_pair_tls(a: &RunConfig, b: &RunConfig) -> Vec<Problem> {
    let mut out = Vec::new();
    let (Some(fa), Some(fb)) = (&a.failover, &b.failover) else {
        return out;
    };
    for (x, fx, y, fy) in [(a, fa, b, fb), (b, fb, a, fa)] {
        // Does y accept x's certificate?
        let (
            FailoverTls::Mutual { cert, .. },
            FailoverTls::Mutual {
                ca, server_name, ..
            },
        ) = (&fx.tls, &fy.tls)
        else {
            continue;
        };
        let (Ok(chain), Ok(anchors)) = (certs_of(cert), certs_of(ca)) else {
            continue; // reported by each file's own check
        };
        let name = (fy.role == Role::Primary).then_some(server_name.as_str());
        if let Err(e) = verify_chain(&chain, &anchors, fx.role, name) {
            out.push(at(
                x,
                "failover.tls.cert",
                format!(
                    "{} would refuse this certificate ({}): {e}",
                    if y.origin.is_empty() {
                        "the partner"
                    } else {
                        &y.origin
                    },
                    cert.display()
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A test PKI made by scripts/make-test-ca.sh (openssl).
    fn pki() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/make-test-ca.sh");
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(dir.path())
            .output()
            .expect("bash");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    }

    fn f(d: &tempfile::TempDir, name: &str) -> PathBuf {
        d.path().join(name)
    }

    #[test]
    fn a_matching_certificate_key_and_ca_pass_for_both_roles() {
        let d = pki();
        assert_eq!(
            check_tls_files(
                &f(&d, "primary.crt"),
                &f(&d, "primary.key"),
                &f(&d, "ca.crt"),
                "tandem-secondary",
                Role::Primary
            ),
            vec![]
        );
        assert_eq!(
            check_tls_files(
                &f(&d, "secondary.crt"),
                &f(&d, "secondary.key"),
                &f(&d, "ca.crt"),
                "tandem-primary",
                Role::Secondary
            ),
            vec![]
        );
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_reported_at_key() {
        let d = pki();
        let p = check_tls_files(
            &f(&d, "primary.crt"),
            &f(&d, "secondary.key"),
            &f(&d, "ca.crt"),
            "tandem-secondary",
            Role::Primary,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "key");
        assert!(p[0].1.contains("does not match"), "{p:?}");
    }

    #[test]
    fn a_certificate_from_another_ca_does_not_chain() {
        let (d, other) = (pki(), pki());
        let p = check_tls_files(
            &f(&other, "primary.crt"),
            &f(&other, "primary.key"),
            &f(&d, "ca.crt"),
            "tandem-secondary",
            Role::Primary,
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "cert");
        assert!(
            p[0].1.contains("does not chain to the CA") && p[0].1.contains("not signed by that CA"),
            "{p:?}"
        );
    }

    #[test]
    fn files_that_are_not_pem_are_reported_each_at_its_key() {
        let d = pki();
        std::fs::write(f(&d, "junk"), "not pem\n").unwrap();
        let p = check_tls_files(
            &f(&d, "junk"),
            &f(&d, "junk"),
            &f(&d, "junk"),
            "x",
            Role::Primary,
        );
        let keys: Vec<_> = p.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, vec!["cert", "ca", "key"], "{p:?}");
        assert!(p[0].1.contains("holds no PEM certificate"), "{p:?}");
    }

    #[test]
    fn the_primary_checks_the_secondarys_certificate_name() {
        let d = pki();
        let chain = certs_of(&f(&d, "secondary.crt")).unwrap();
        let ca = certs_of(&f(&d, "ca.crt")).unwrap();
        assert_eq!(
            verify_chain(&chain, &ca, Role::Secondary, Some("tandem-secondary")),
            Ok(())
        );
        let e = verify_chain(&chain, &ca, Role::Secondary, Some("dhcp-b.example")).unwrap_err();
        assert!(
            e.contains("does not carry the name \"dhcp-b.example\""),
            "{e}"
        );
    }

    #[test]
    fn missing_interfaces_are_errors_here_and_warnings_off_host() {
        let text = "[server]\ninterfaces = [\"lo\", \"tandem-nope0\"]\ndata_dir = \"d\"\n";
        let cfg = super::super::load_str(text, "t.toml", Path::new("/tmp")).unwrap();
        let r = check_host(&cfg, false);
        assert_eq!(r.errors.len(), 1, "{r:?}");
        assert_eq!(r.errors[0].path, "server.interfaces[1]");
        assert_eq!(r.errors[0].line, Some(2));
        assert!(r.errors[0]
            .message
            .contains("\"tandem-nope0\" does not exist"));
        let r = check_host(&cfg, true);
        assert!(r.errors.is_empty());
        assert_eq!(r.warnings.len(), 1, "{r:?}");
    }
}
