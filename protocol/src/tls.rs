//! TLS identities around genesis keys (feature `tls`). Every API endpoint is an ed25519 key the
//! genesis names: a validator's `api_key` for the server, an organisation's signing key for the
//! caller. Certificates are only the envelope TLS and curl expect: self-signed, and checked by
//! their key alone, so the network needs no certificate authority.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::crypto::{Keypair, PublicKey};

/// RFC 8410 §7: a PKCS#8 v1 `OneAsymmetricKey` for Ed25519 is this prefix and the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// RFC 8410 §4: an Ed25519 `SubjectPublicKeyInfo` is this prefix and the 32-byte key.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("making the certificate: {0}")]
    Certificate(String),
    #[error("the peer's certificate is not one: {0}")]
    Unreadable(String),
    #[error(
        "the peer's certificate holds a key that is not ed25519 (only genesis keys are accepted)"
    )]
    NotEd25519,
}

/// The one crypto provider: ring, TLS 1.3 only.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The key as PKCS#8 DER (what rustls, rcgen and curl's `--key` read).
pub fn pkcs8(keypair: &Keypair) -> PrivatePkcs8KeyDer<'static> {
    let mut der = ED25519_PKCS8_PREFIX.to_vec();
    der.extend_from_slice(&*keypair.secret_bytes());
    PrivatePkcs8KeyDer::from(der)
}

/// A self-signed certificate for `keypair`, valid for `names` (DNS names or IP addresses; only
/// for tools that check them, such as curl without `-k`), and its private key.
pub fn self_signed(
    keypair: &Keypair,
    names: &[String],
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), TlsError> {
    let (certificate, _) = certificate(keypair, names)?;
    Ok((
        certificate.der().clone(),
        PrivateKeyDer::Pkcs8(pkcs8(keypair)),
    ))
}

/// The same certificate and key as PEM text, for curl (`--cert FILE --key FILE`).
pub fn self_signed_pem(keypair: &Keypair, names: &[String]) -> Result<(String, String), TlsError> {
    let (certificate, signer) = certificate(keypair, names)?;
    Ok((certificate.pem(), signer.serialize_pem()))
}

fn certificate(
    keypair: &Keypair,
    names: &[String],
) -> Result<(rcgen::Certificate, rcgen::KeyPair), TlsError> {
    let failed = |error: rcgen::Error| TlsError::Certificate(error.to_string());
    let signer = rcgen::KeyPair::try_from(&pkcs8(keypair)).map_err(failed)?;
    let params = rcgen::CertificateParams::new(names.to_vec()).map_err(failed)?;
    let certificate = params.self_signed(&signer).map_err(failed)?;
    Ok((certificate, signer))
}

/// The handshake signature check of both ends' verifiers: TLS 1.3 with `provider`'s algorithms
/// (only ed25519 is offered: [`SIGNATURE_SCHEMES`]).
pub fn verify_handshake(
    provider: &CryptoProvider,
    message: &[u8],
    certificate: &CertificateDer<'_>,
    signature: &rustls::DigitallySignedStruct,
) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        certificate,
        signature,
        &provider.signature_verification_algorithms,
    )
}

/// The only handshake signature scheme either end accepts: genesis keys are ed25519.
pub const SIGNATURE_SCHEMES: [rustls::SignatureScheme; 1] = [rustls::SignatureScheme::ED25519];

/// What a verifier answers to a TLS 1.2 signature: never offered, never accepted.
pub fn tls12_refused() -> rustls::Error {
    rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered)
}

/// A certificate refused, with the reason.
pub fn certificate_refused(error: TlsError) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(error),
    )))
}

/// The SubjectPublicKeyInfo DER of an ed25519 key.
pub fn spki(key: &PublicKey) -> Vec<u8> {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(&key.0);
    der
}

/// curl's `--pinnedpubkey` for a server key: `sha256//` and the base64 of the SHA-256 of its
/// SubjectPublicKeyInfo.
pub fn curl_pin(server_key: &PublicKey) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(spki(server_key));
    format!(
        "sha256//{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The ed25519 key a certificate carries.
pub fn certificate_key(certificate: &CertificateDer<'_>) -> Result<PublicKey, TlsError> {
    let parsed = webpki::EndEntityCert::try_from(certificate)
        .map_err(|error| TlsError::Unreadable(format!("{error:?}")))?;
    let spki = parsed.subject_public_key_info();
    let bytes: &[u8] = spki.as_ref();
    match bytes.strip_prefix(&ED25519_SPKI_PREFIX[..]) {
        Some(key) => Ok(PublicKey(key.try_into().map_err(|_| TlsError::NotEd25519)?)),
        None => Err(TlsError::NotEd25519),
    }
}
