//! Who is calling the API: the TLS side. The server presents the validator's `api_key` from
//! the genesis; a caller may present an organisation's signing key as a client certificate
//! (mutual TLS). The handshake proves the caller holds the key; whether the key is one of the
//! genesis's is answered per request, so an unknown key gets a 401 that says so rather than a
//! failed handshake.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};
use waybill_protocol::rules::ChainRules;
use waybill_protocol::tls::{self, TlsError};
use waybill_protocol::{KeyId, Keypair, PublicKey};

/// The caller of one connection, put into every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No client certificate: liveness and the API description only.
    Anonymous,
    /// A key the genesis gives an organisation.
    Organisation(KeyId),
    /// A well-formed key the genesis does not know.
    UnknownKey(PublicKey),
    /// The API runs as plain HTTP (`insecure_http`): nobody is authenticated, nothing is
    /// refused for it. Local debugging only.
    Unchecked,
}

impl Caller {
    /// The caller of a TLS connection whose client presented `certificates`.
    pub fn of_connection(
        rules: &ChainRules,
        certificates: Option<&[CertificateDer<'_>]>,
    ) -> Caller {
        let Some(first) = certificates.and_then(<[_]>::first) else {
            return Caller::Anonymous;
        };
        match tls::certificate_key(first) {
            Ok(key) => match rules.key_id_of(&key) {
                Some(key_id) => Caller::Organisation(key_id.clone()),
                None => Caller::UnknownKey(key),
            },
            // The verifier below accepts only readable ed25519 certificates.
            Err(_) => Caller::Anonymous,
        }
    }
}

/// The API's TLS configuration: TLS 1.3, the validator's API key in a self-signed certificate
/// for `names`, client certificates asked for but optional.
pub fn server_config(api_key: &Keypair, names: &[String]) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = tls::provider();
    let (certificate, key) = tls::self_signed(api_key, names)?;
    let verifier = Arc::new(OrganisationKeyVerifier {
        provider: provider.clone(),
    });
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| TlsError::Certificate(error.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![certificate], key)
        .map_err(|error| TlsError::Certificate(error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts any self-signed ed25519 client certificate whose key signed the handshake; which
/// organisation it is (if any) is [`Caller::of_connection`]'s question.
#[derive(Debug)]
struct OrganisationKeyVerifier {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for OrganisationKeyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        tls::certificate_key(end_entity)
            .map(|_| ClientCertVerified::assertion())
            .map_err(tls::certificate_refused)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _certificate: &CertificateDer<'_>,
        _signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(tls::tls12_refused())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        tls::verify_handshake(&self.provider, message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        tls::SIGNATURE_SCHEMES.to_vec()
    }
}
