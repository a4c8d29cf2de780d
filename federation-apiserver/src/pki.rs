//! The API server's private PKI: a self-signed CA, a serving certificate and
//! the admin bearer token, all kept in the data directory.
//!
//! Files (in `data_dir`):
//!
//! | file          | content                                   | mode |
//! |---------------|-------------------------------------------|------|
//! | `ca.crt`      | self-signed CA certificate (10 years)     | 0644 |
//! | `ca.key`      | CA private key (PKCS#8, ECDSA P-256)      | 0600 |
//! | `server.crt`  | serving certificate signed by the CA      | 0644 |
//! | `server.key`  | serving private key                       | 0600 |
//! | `server.sans` | the SANs `server.crt` was issued for      | 0644 |
//! | `admin.token` | admin bearer token (32 random bytes, hex) | 0600 |
//!
//! [`load_or_create`] creates what is missing and reuses what exists, so
//! kubeconfigs handed out earlier keep working across restarts.

use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::TryRngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVER_CERT_FILE: &str = "server.crt";
pub const SERVER_KEY_FILE: &str = "server.key";
pub const SERVER_SANS_FILE: &str = "server.sans";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
const SERVER_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// A serving certificate that expires within this window is re-issued.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// Backdating of `notBefore`, to tolerate small clock skew between hosts.
const BACKDATE: Duration = Duration::from_secs(60 * 60);
const CA_COMMON_NAME: &str = "flotilla-ca";
const SERVER_COMMON_NAME: &str = "flotilla-apiserver";

/// Errors while loading or creating the PKI material.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot access {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} exists but {} is missing; remove both to create a new CA", present.display(), missing.display())]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("invalid PEM data in {0}")]
    InvalidPem(String),
    #[error("{} is empty or holds characters not allowed in a bearer token", path.display())]
    InvalidToken { path: PathBuf },
    #[error("CA certificate and key do not belong together or cannot issue certificates: {0}")]
    CaMismatch(String),
    #[error("certificate generation failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("operating-system random number generator failed: {0}")]
    Random(String),
}

/// The PKI material the server runs with.
///
/// `Debug` redacts the private key and the token.
#[derive(Clone)]
pub struct Pki {
    /// PEM of the CA certificate (what clients trust).
    pub ca_cert_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub admin_token: String,
    /// The SANs of the serving certificate (IP addresses and DNS names).
    pub server_sans: Vec<String>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki")
            .field("server_sans", &self.server_sans)
            .field("server_key_pem", &"<redacted>")
            .field("admin_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Loads the PKI from `data_dir`, creating whatever is missing.
///
/// The serving certificate's SANs are `listen_ip` (unless it is unspecified,
/// `0.0.0.0` / `::`), `127.0.0.1`, `::1`, `localhost` and `extra_hosts`
/// (DNS names or IP addresses).
///
/// # Guarantees
/// - An existing CA and admin token are never replaced, so clients configured
///   earlier keep working.
/// - The serving certificate is re-issued from the same CA when it is missing,
///   does not chain to `ca.crt`, does not match `server.key`, expires within
///   30 days, or was issued for a SAN list (`server.sans`) lacking a
///   requested name.
/// - Files are written atomically (temp file + rename); private keys and the
///   token are created with mode 0600.
///
/// # Caveats
/// - With an unspecified listen IP, clients reaching the server through a
///   non-loopback address need that address in `extra_hosts`.
/// - The CA itself is never rotated; after 10 years delete `ca.*` (and hand
///   out new kubeconfigs). Only CAs created by Flotilla can be reused: the
///   issuer name is rebuilt, not parsed from `ca.crt`.
pub fn load_or_create(
    data_dir: &Path,
    listen_ip: IpAddr,
    extra_hosts: &[String],
) -> Result<Pki, PkiError> {
    create_dir(data_dir)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (ca_cert_pem, ca_key) = load_or_create_ca(data_dir)?;
    let ca_der = cert_der(&ca_cert_pem, CA_CERT_FILE)?;
    check_keys_match(&ca_der, &ca_key.serialize_pem(), &provider)
        .map_err(|e| PkiError::CaMismatch(e.to_string()))?;

    let wanted = server_sans(listen_ip, extra_hosts);
    let (server_cert_pem, server_key_pem, server_sans) =
        match reusable_server_cert(data_dir, &ca_der, &wanted, &provider) {
            Some(existing) => existing,
            None => {
                let issuer = Issuer::new(ca_params(), ca_key);
                let (cert_pem, key_pem) = issue_server_cert(&issuer, &wanted, SERVER_VALIDITY)?;
                let cert = cert_der(&cert_pem, "new serving certificate")?;
                verify_chain(&ca_der, &cert, "localhost", now(), &provider)
                    .map_err(PkiError::CaMismatch)?;
                write_file(data_dir, SERVER_KEY_FILE, &key_pem, 0o600)?;
                write_file(data_dir, SERVER_CERT_FILE, &cert_pem, 0o644)?;
                write_file(
                    data_dir,
                    SERVER_SANS_FILE,
                    &(wanted.join("\n") + "\n"),
                    0o644,
                )?;
                tracing::info!(sans = ?wanted, "issued serving certificate");
                (cert_pem, key_pem, wanted)
            }
        };

    Ok(Pki {
        ca_cert_pem,
        server_cert_pem,
        server_key_pem,
        admin_token: load_or_create_token(data_dir)?,
        server_sans,
    })
}

impl Pki {
    /// A rustls server configuration serving [`Pki::server_cert_pem`], with
    /// ALPN `h2` and `http/1.1`, on the ring provider (no process-wide
    /// provider needed).
    pub fn rustls_server_config(&self) -> Result<Arc<rustls::ServerConfig>, PkiError> {
        let certs = certs(&self.server_cert_pem, SERVER_CERT_FILE)?;
        let key = private_key(&self.server_key_pem, SERVER_KEY_FILE)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// A rustls client configuration trusting only the CA in `ca_pem`, with ALPN
/// `http/1.1` (for tests and benchmarks talking to the server).
pub fn client_config_trusting(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca_pem, "CA bundle")? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The SAN list: listen IP, loopbacks, `localhost`, extras; IPs normalised,
/// names lower-cased, deduplicated, order kept.
fn server_sans(listen_ip: IpAddr, extra_hosts: &[String]) -> Vec<String> {
    let listen = (!listen_ip.is_unspecified()).then(|| listen_ip.to_string());
    let defaults = ["127.0.0.1", "::1", "localhost"].map(String::from);
    let mut sans: Vec<String> = Vec::new();
    for candidate in listen
        .into_iter()
        .chain(defaults)
        .chain(extra_hosts.iter().cloned())
    {
        let candidate = match candidate.trim().parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => candidate.trim().to_ascii_lowercase(),
        };
        if !candidate.is_empty() && !sans.contains(&candidate) {
            sans.push(candidate);
        }
    }
    sans
}

fn load_or_create_ca(dir: &Path) -> Result<(String, KeyPair), PkiError> {
    let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            let key = KeyPair::from_pem(&read(&key_path)?)
                .map_err(|e| PkiError::InvalidPem(format!("{}: {e}", key_path.display())))?;
            Ok((read(&cert_path)?, key))
        }
        (false, false) => {
            let key = KeyPair::generate()?;
            let mut params = ca_params();
            set_validity(&mut params, CA_VALIDITY)?;
            let cert_pem = params.self_signed(&key)?.pem();
            write_file(dir, CA_KEY_FILE, &key.serialize_pem(), 0o600)?;
            write_file(dir, CA_CERT_FILE, &cert_pem, 0o644)?;
            tracing::info!(dir = %dir.display(), "created cluster CA");
            Ok((cert_pem, key))
        }
        (true, false) => Err(PkiError::Incomplete {
            present: cert_path,
            missing: key_path,
        }),
        (false, true) => Err(PkiError::Incomplete {
            present: key_path,
            missing: cert_path,
        }),
    }
}

/// The CA's name and usages; rebuilt identically on every start so the
/// issuer of new serving certificates matches `ca.crt`'s subject.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = rcgen::DistinguishedName::new();
    name.push(DnType::CommonName, CA_COMMON_NAME);
    name.push(DnType::OrganizationName, "Flotilla");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A fresh key and a certificate for `sans` signed by `issuer`, as PEMs.
fn issue_server_cert(
    issuer: &Issuer<'_, KeyPair>,
    sans: &[String],
    validity: Duration,
) -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(sans.to_vec())?;
    let mut name = rcgen::DistinguishedName::new();
    name.push(DnType::CommonName, SERVER_COMMON_NAME);
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, validity)?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The existing serving certificate, if it can be kept (see
/// [`load_or_create`]'s guarantees). Any problem means "re-issue".
fn reusable_server_cert(
    dir: &Path,
    ca: &CertificateDer<'static>,
    wanted: &[String],
    provider: &CryptoProvider,
) -> Option<(String, String, Vec<String>)> {
    let cert_pem = fs::read_to_string(dir.join(SERVER_CERT_FILE)).ok()?;
    let key_pem = fs::read_to_string(dir.join(SERVER_KEY_FILE)).ok()?;
    let sans_text = fs::read_to_string(dir.join(SERVER_SANS_FILE)).ok()?;
    let sans: Vec<String> = sans_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if let Some(missing) = wanted.iter().find(|w| !sans.contains(w)) {
        tracing::info!(%missing, "serving certificate lacks a requested SAN; re-issuing");
        return None;
    }
    let cert = cert_der(&cert_pem, SERVER_CERT_FILE).ok()?;
    if let Err(e) = check_keys_match(&cert, &key_pem, provider) {
        tracing::warn!(error = %e, "server.key does not match server.crt; re-issuing");
        return None;
    }
    let horizon = UnixTime::since_unix_epoch(now_since_epoch() + RENEW_BEFORE);
    if let Err(reason) = verify_chain(ca, &cert, "localhost", horizon, provider) {
        tracing::info!(%reason, "serving certificate expiring or invalid; re-issuing");
        return None;
    }
    Some((cert_pem, key_pem, sans))
}

/// Verifies `cert` chains to `ca` and is valid for `name` at time `at`.
fn verify_chain(
    ca: &CertificateDer<'static>,
    cert: &CertificateDer<'static>,
    name: &str,
    at: UnixTime,
    provider: &CryptoProvider,
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| e.to_string())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(provider.clone()),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(cert, &[], &server_name, &[], at)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Whether `key_pem` is the private key of `cert`.
fn check_keys_match(
    cert: &CertificateDer<'static>,
    key_pem: &str,
    provider: &CryptoProvider,
) -> Result<(), PkiError> {
    let signing_key = provider
        .key_provider
        .load_private_key(private_key(key_pem, "key")?)?;
    Ok(rustls::sign::CertifiedKey::new(vec![cert.clone()], signing_key).keys_match()?)
}

fn load_or_create_token(dir: &Path) -> Result<String, PkiError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    if path.exists() {
        let token = read(&path)?.trim().to_string();
        let allowed = |b: u8| b.is_ascii_graphic() && b != b',' && b != b'"';
        if token.is_empty() || !token.bytes().all(allowed) {
            return Err(PkiError::InvalidToken { path });
        }
        return Ok(token);
    }
    let token: String = random_bytes::<32>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    write_file(dir, ADMIN_TOKEN_FILE, &format!("{token}\n"), 0o600)?;
    tracing::info!(path = %path.display(), "created admin token");
    Ok(token)
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| PkiError::Random(e.to_string()))?;
    Ok(bytes)
}

fn now_since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

fn now() -> UnixTime {
    UnixTime::since_unix_epoch(now_since_epoch())
}

/// Sets a random serial, `notBefore` = now − [`BACKDATE`] and `notAfter` =
/// now + `validity` (the `time` crate is reached through rcgen, not named).
fn set_validity(params: &mut CertificateParams, validity: Duration) -> Result<(), PkiError> {
    let mut serial = random_bytes::<16>()?;
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, no leading zero byte
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let now = Duration::from_secs(now_since_epoch().as_secs());
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + (now + validity);
    Ok(())
}

/// All certificates in `pem` (at least one); `what` names the source.
fn certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::InvalidPem(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::InvalidPem(format!(
            "{what}: no CERTIFICATE block"
        )));
    }
    Ok(certs)
}

fn cert_der(pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    Ok(certs(pem, what)?.swap_remove(0))
}

fn private_key(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| PkiError::InvalidPem(format!("{what}: {e}")))?
        .ok_or_else(|| PkiError::InvalidPem(format!("{what}: no PRIVATE KEY block")))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(io_error(path))
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))
}

fn write_file(dir: &Path, name: &str, contents: &str, mode: u32) -> Result<(), PkiError> {
    let path = dir.join(name);
    write_atomic(&path, contents.as_bytes(), mode).map_err(io_error(&path))
}

/// Writes `contents` to `path` atomically: a fresh temp file in the same
/// directory (created with `mode` on Unix, never following an existing file),
/// fsynced, then renamed over `path`.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp.{}.{}",
        file_name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let result = options.open(&tmp).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test IP")
    }

    #[test]
    fn creates_files_then_reuses_ca_and_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("first run");
        for f in [CA_CERT_FILE, SERVER_CERT_FILE, SERVER_SANS_FILE] {
            assert!(dir.path().join(f).is_file(), "{f} missing");
        }
        assert_eq!(first.admin_token.len(), 64);
        assert!(first.admin_token.bytes().all(|b| b.is_ascii_hexdigit()));
        for f in [CA_KEY_FILE, SERVER_KEY_FILE, ADMIN_TOKEN_FILE] {
            let meta = fs::metadata(dir.path().join(f)).expect("private file exists");
            #[cfg(unix)]
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
                0o600
            );
            let _ = meta;
        }

        let second = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("second run");
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_eq!(first.admin_token, second.admin_token);
        assert_eq!(first.server_cert_pem, second.server_cert_pem, "cert reused");
        assert!(!format!("{second:?}").contains(&second.admin_token));
    }

    fn assert_valid_for(pki: &Pki, names: &[&str]) {
        let provider = rustls::crypto::ring::default_provider();
        let ca = cert_der(&pki.ca_cert_pem, "ca").expect("ca");
        let cert = cert_der(&pki.server_cert_pem, "cert").expect("cert");
        for name in names {
            verify_chain(&ca, &cert, name, now(), &provider)
                .unwrap_or_else(|e| panic!("not valid for {name}: {e}"));
        }
        assert!(verify_chain(&ca, &cert, "not-a-san.example", now(), &provider).is_err());
    }

    #[test]
    fn serving_cert_has_requested_sans_and_is_reissued_for_new_ip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = vec!["API.flotilla.test".to_string()];
        let first = load_or_create(dir.path(), ip("10.1.2.3"), &extra).expect("first");
        let names = [
            "10.1.2.3",
            "127.0.0.1",
            "::1",
            "localhost",
            "api.flotilla.test",
        ];
        assert_valid_for(&first, &names);

        let second = load_or_create(dir.path(), ip("10.9.9.9"), &[]).expect("second");
        assert_eq!(first.ca_cert_pem, second.ca_cert_pem);
        assert_ne!(first.server_cert_pem, second.server_cert_pem);
        assert_valid_for(&second, &["10.9.9.9", "127.0.0.1", "localhost"]);

        let any = load_or_create(dir.path(), ip("0.0.0.0"), &[]).expect("unspecified");
        assert_eq!(
            any.server_cert_pem, second.server_cert_pem,
            "loopbacks already covered"
        );
        assert!(!any.server_sans.contains(&"0.0.0.0".to_string()));
    }

    #[test]
    fn expiring_serving_cert_is_reissued() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("first");
        let ca_key =
            KeyPair::from_pem(&fs::read_to_string(dir.path().join(CA_KEY_FILE)).expect("key"))
                .expect("ca key");
        let issuer = Issuer::new(ca_params(), ca_key);
        let (cert, key) =
            issue_server_cert(&issuer, &first.server_sans, Duration::from_secs(10 * 86400))
                .expect("short-lived cert");
        write_file(dir.path(), SERVER_CERT_FILE, &cert, 0o644).expect("write cert");
        write_file(dir.path(), SERVER_KEY_FILE, &key, 0o600).expect("write key");

        let second = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("second");
        assert_ne!(
            second.server_cert_pem, cert,
            "expiring certificate replaced"
        );
        assert_eq!(second.ca_cert_pem, first.ca_cert_pem);
        assert_valid_for(&second, &["127.0.0.1", "localhost"]);
    }

    #[test]
    fn half_a_ca_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("first");
        fs::remove_file(dir.path().join(CA_KEY_FILE)).expect("rm");
        let err = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect_err("incomplete");
        assert!(matches!(err, PkiError::Incomplete { .. }), "{err}");
    }

    #[test]
    fn configs_build() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = load_or_create(dir.path(), ip("127.0.0.1"), &[]).expect("pki");
        let server = pki.rustls_server_config().expect("server config");
        assert_eq!(
            server.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let client = client_config_trusting(&pki.ca_cert_pem).expect("client config");
        assert_eq!(client.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(client_config_trusting("garbage").is_err());
    }
}
