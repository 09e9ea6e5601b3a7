//! TLS to a node's API, with the genesis as the only trust root: the client accepts the server
//! key the genesis gives that validator (`api_key`) and nothing else, so no certificate
//! authority is involved, and presents its organisation's signing key as a client certificate
//! (mutual TLS) when it has one. Wired into ureq as a connector after its TCP one.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};
use waybill_protocol::tls::{self, TlsError};
use waybill_protocol::{Genesis, Keypair, PublicKey};

/// A client TLS configuration: the server must hold `server_key`; `identity`, if given, is
/// presented as the caller.
pub fn client_config(
    server_key: PublicKey,
    identity: Option<&Keypair>,
) -> Result<Arc<ClientConfig>, TlsError> {
    pinned_config(server_key, credential(identity)?.as_ref())
}

/// A caller's client certificate and key, made once for every validator it talks to.
type Credential = (
    CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

fn credential(identity: Option<&Keypair>) -> Result<Option<Credential>, TlsError> {
    identity
        .map(|keypair| tls::self_signed(keypair, &["waybill-client".into()]))
        .transpose()
}

fn pinned_config(
    server_key: PublicKey,
    credential: Option<&Credential>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = tls::provider();
    let verifier = Arc::new(PinnedServerKey {
        expected: server_key,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|error| TlsError::Certificate(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match credential {
        Some((certificate, key)) => builder
            .with_client_auth_cert(vec![certificate.clone()], key.clone_key())
            .map_err(|error| TlsError::Certificate(error.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts exactly one server key. The certificate's names and dates are not looked at: the
/// genesis, not a CA, says which key is this validator's.
#[derive(Debug)]
struct PinnedServerKey {
    expected: PublicKey,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedServerKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match tls::certificate_key(end_entity) {
            Ok(key) if key == self.expected => Ok(ServerCertVerified::assertion()),
            Ok(key) => Err(tls::certificate_refused(TlsError::Certificate(format!(
                "the server's key is {}, the genesis gives this validator {}: not the node the genesis names",
                key.to_hex(),
                self.expected.to_hex()
            )))),
            Err(error) => Err(tls::certificate_refused(error)),
        }
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

/// ureq's connector for `https` URLs: each API address (`host:port`) with the configuration
/// that pins its validator's key; an address without one is refused.
#[derive(Debug, Clone)]
pub struct PinnedTlsConnector {
    by_address: BTreeMap<String, Arc<ClientConfig>>,
}

impl PinnedTlsConnector {
    /// One pinned configuration per `(api address, api key)`, all presenting `identity`.
    pub fn new(
        pins: impl IntoIterator<Item = (String, PublicKey)>,
        identity: Option<&Keypair>,
    ) -> Result<PinnedTlsConnector, TlsError> {
        let credential = credential(identity)?;
        let by_address = pins
            .into_iter()
            .map(|(address, key)| Ok((address, pinned_config(key, credential.as_ref())?)))
            .collect::<Result<_, TlsError>>()?;
        Ok(PinnedTlsConnector { by_address })
    }

    /// Every validator of `genesis` at its genesis `api_address`.
    pub fn for_network(
        genesis: &Genesis,
        identity: Option<&Keypair>,
    ) -> Result<PinnedTlsConnector, TlsError> {
        let pins = genesis
            .validators
            .iter()
            .map(|v| (v.api_address.as_str().to_string(), v.api_key));
        PinnedTlsConnector::new(pins, identity)
    }
}

impl<In: Transport> Connector<In> for PinnedTlsConnector {
    type Out = Either<In, PinnedTlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::ConnectionFailed);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let address = details
            .uri
            .authority()
            .map_or(String::new(), |a| a.as_str().to_string());
        let config = self.by_address.get(&address).ok_or_else(|| {
            ureq::Error::Io(std::io::Error::other(format!(
                "no API key is pinned for {address}: it is no validator's api_address in the genesis"
            )))
        })?;
        // The name is sent (SNI) but not checked: the key is.
        let host = details
            .uri
            .host()
            .unwrap_or("localhost")
            .trim_matches(['[', ']']);
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| ureq::Error::BadUri(format!("{host} is not a host name")))?;
        let mut connection = ClientConnection::new(config.clone(), name)
            .map_err(|error| ureq::Error::Io(std::io::Error::other(error)))?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        connection.complete_io(&mut socket)?;
        Ok(Some(Either::B(PinnedTlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

/// One TLS connection, as ureq's transport.
pub struct PinnedTlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for PinnedTlsTransport {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PinnedTlsTransport")
            .finish_non_exhaustive()
    }
}

impl Transport for PinnedTlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// A ureq agent that speaks `http` plainly and `https` through `tls`.
pub fn agent(config: ureq::config::Config, tls: PinnedTlsConnector) -> ureq::Agent {
    use ureq::unversioned::resolver::DefaultResolver;
    use ureq::unversioned::transport::TcpConnector;
    ureq::Agent::with_parts(
        config,
        ().chain(TcpConnector::default()).chain(tls),
        DefaultResolver::default(),
    )
}
