//! The simulator's own cryptography, on RustCrypto (`rsa`, `aes-gcm`, `sha2`): the adapter uses
//! ring, so a mistake in one side's reading of the protocol is not mirrored in the other.

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// WeChat Pay's key pair ("微信支付公钥" and the private key behind it).
pub struct PlatformKey {
    signing: SigningKey<Sha256>,
    pub public_pem: String,
}

impl PlatformKey {
    pub fn generate() -> anyhow::Result<Self> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).context("generating the platform key")?;
        Self::from_key(key)
    }

    /// PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .context("the platform private key is not a PEM RSA private key")?;
        Self::from_key(key)
    }

    fn from_key(key: RsaPrivateKey) -> anyhow::Result<Self> {
        let public_pem = RsaPublicKey::from(&key).to_public_key_pem(LineEnding::LF).context("writing the platform public key")?;
        Ok(Self { signing: SigningKey::<Sha256>::new(key), public_pem })
    }

    /// SHA256withRSA (PKCS#1 v1.5) of `message`, base64.
    pub fn sign(&self, message: &[u8]) -> String {
        let signature: Signature = self.signing.sign(message);
        BASE64.encode(signature.to_bytes())
    }
}

/// The merchant's API public key, checking request signatures.
pub struct MerchantKey {
    verifying: VerifyingKey<Sha256>,
}

impl MerchantKey {
    /// A PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
    pub fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let key = RsaPublicKey::from_public_key_pem(pem).context("the merchant public key is not a PEM RSA public key")?;
        Ok(Self { verifying: VerifyingKey::<Sha256>::new(key) })
    }

    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(bytes) = BASE64.decode(signature_b64) else { return false };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else { return false };
        self.verifying.verify(message, &signature).is_ok()
    }
}

/// AEAD_AES_256_GCM of `plaintext`: ciphertext with the 16-byte tag appended, base64.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], associated_data: &[u8], plaintext: &[u8]) -> anyhow::Result<String> {
    use aes_gcm::aead::{Aead as _, Payload};
    use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| anyhow::anyhow!("the APIv3 key is not 32 bytes"))?;
    let sealed = cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg: plaintext, aad: associated_data })
        .map_err(|_| anyhow::anyhow!("AES-256-GCM failed"))?;
    Ok(BASE64.encode(sealed))
}

/// A base64 signature with one bit changed: still well-formed, no longer valid.
pub fn corrupt(signature_b64: &str) -> String {
    let mut bytes = BASE64.decode(signature_b64).unwrap_or_default();
    if let Some(b) = bytes.get_mut(7) {
        *b ^= 0x20;
    }
    BASE64.encode(bytes)
}
