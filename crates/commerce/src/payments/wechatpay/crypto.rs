//! The cryptography of WeChat Pay APIv3, on `ring`:
//! - requests are signed SHA256-RSA (RSASSA-PKCS1-v1_5 with SHA-256) with the merchant's private
//!   key over `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`;
//! - responses and notifications are verified with WeChat Pay's public key over
//!   `TIMESTAMP\nNONCE\nBODY\n`;
//! - a notification's `resource` is AEAD_AES_256_GCM with the 32-byte APIv3 key (the 16-byte tag
//!   appended to the ciphertext, base64 as a whole).
//!
//! Why ring: it is already compiled for rustls (no new crate in the server's build), its RSA and
//! AES-GCM are constant-time assembly that stays fast in a debug build, and it does all three
//! operations. What it lacks is reading keys from PEM (rustls' `pki_types` does that) and taking
//! an RSA public key as a SubjectPublicKeyInfo, the form WeChat Pay hands out (`BEGIN PUBLIC
//! KEY`): `spki_rsa_components` below reads the two integers out of its DER. The RustCrypto
//! `rsa` crate would do the PEM and DER for us, but it is a second big-integer implementation in
//! the server (with an open timing advisory, RUSTSEC-2023-0071) and needs `opt-level = 3` to be
//! usable in debug builds; the simulator uses it, which keeps the two sides independent.

use anyhow::{Context as _, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};

/// What a request signature covers.
pub(crate) fn request_message(method: &str, path_and_query: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// What a response or notification signature covers. The body is the raw bytes received.
pub(crate) fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The merchant's private key, signing requests.
pub(crate) struct MerchantSigner {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl MerchantSigner {
    /// From PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what `apiclient_key.pem` holds) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`).
    pub(crate) fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("not a PEM private key ({e:?})"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            PrivateKeyDer::Sec1(_) => bail!("an EC key, where WeChat Pay wants an RSA key"),
            _ => bail!("an unknown kind of private key, where WeChat Pay wants an RSA key"),
        }
        .map_err(|e| anyhow::anyhow!("not a usable RSA private key (2048 to 8192 bits): {e}"))?;
        Ok(Self { key, rng: SystemRandom::new() })
    }

    /// The signature of `message`, base64.
    pub(crate) fn sign(&self, message: &[u8]) -> anyhow::Result<String> {
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        Ok(BASE64.encode(signature))
    }

    /// A request nonce: 32 upper-case hex digits, as WeChat Pay's examples.
    pub(crate) fn nonce(&self) -> anyhow::Result<String> {
        let mut bytes = [0u8; 16];
        self.rng.fill(&mut bytes).map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
        Ok(bytes.iter().map(|b| format!("{b:02X}")).collect())
    }
}

/// WeChat Pay's public key ("微信支付公钥"), verifying responses and notifications.
pub(crate) struct PlatformVerifier {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl PlatformVerifier {
    /// From a PEM SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`), as the merchant platform hands it out.
    pub(crate) fn from_pem(pem: &str) -> anyhow::Result<Self> {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("not a PEM public key (`-----BEGIN PUBLIC KEY-----`) ({e:?})"))?;
        let (n, e) = spki_rsa_components(der.as_ref()).context("not an RSA public key")?;
        let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
        ensure!((2048..=8192).contains(&bits), "an RSA key of {bits} bits, where 2048 to 8192 are accepted");
        Ok(Self { n: n.to_vec(), e: e.to_vec() })
    }

    /// Whether `signature_b64` is a signature of `message` by this key.
    pub(crate) fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = BASE64.decode(signature_b64.trim()) else { return false };
        RsaPublicKeyComponents { n: &self.n, e: &self.e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, message, &signature)
            .is_ok()
    }
}

/// The APIv3 key, opening notification resources.
pub(crate) struct ResourceCipher {
    key: LessSafeKey,
}

impl ResourceCipher {
    pub(crate) fn new(api_v3_key: &[u8]) -> anyhow::Result<Self> {
        ensure!(
            api_v3_key.len() == 32,
            "the APIv3 key must be exactly 32 bytes (the key set under API安全 → APIv3密钥), not {}",
            api_v3_key.len()
        );
        let key = UnboundKey::new(&AES_256_GCM, api_v3_key).map_err(|_| anyhow::anyhow!("AES-256-GCM refused the key"))?;
        Ok(Self { key: LessSafeKey::new(key) })
    }

    /// Decrypts `ciphertext_b64` (ciphertext and tag) with `nonce` (12 bytes) and
    /// `associated_data`.
    pub(crate) fn open(&self, ciphertext_b64: &str, nonce: &str, associated_data: &str) -> anyhow::Result<Vec<u8>> {
        let mut in_out = BASE64.decode(ciphertext_b64.trim()).context("the ciphertext is not base64")?;
        let nonce = Nonce::try_assume_unique_for_key(nonce.as_bytes())
            .map_err(|_| anyhow::anyhow!("the nonce is {} bytes, not 12", nonce.len()))?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(associated_data.as_bytes()), &mut in_out)
            .map_err(|_| anyhow::anyhow!("the resource does not decrypt with the APIv3 key (wrong key, or altered)"))?;
        Ok(plain.to_vec())
    }
}

/// One DER element at the start of `input`: its tag, its contents and what follows it. Definite
/// lengths in their shortest form only, as DER requires.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(count)?;
        rest = after;
        if bytes.first() == Some(&0) {
            return None;
        }
        let len = bytes.iter().fold(0usize, |len, b| (len << 8) | usize::from(*b));
        if len < 0x80 {
            return None;
        }
        len
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// The DER of `rsaEncryption` (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const NULL: u8 = 0x05;

/// The modulus and public exponent (big-endian, without sign bytes) of an RSA
/// SubjectPublicKeyInfo:
///
/// ```text
/// SEQUENCE { SEQUENCE { OID rsaEncryption, NULL }, BIT STRING { 0x00, SEQUENCE { INTEGER n, INTEGER e } } }
/// ```
fn spki_rsa_components(spki: &[u8]) -> anyhow::Result<(&[u8], &[u8])> {
    let element = |input, want: u8, what: &str| -> anyhow::Result<(&[u8], &[u8])> {
        match der_element(input) {
            Some((tag, contents, rest)) if tag == want => Ok((contents, rest)),
            _ => bail!("malformed DER at the {what}"),
        }
    };
    let (info, rest) = element(spki, SEQUENCE, "SubjectPublicKeyInfo")?;
    ensure!(rest.is_empty(), "bytes after the SubjectPublicKeyInfo");
    let (algorithm, info) = element(info, SEQUENCE, "algorithm")?;
    let (oid, params) = element(algorithm, OID, "algorithm OID")?;
    ensure!(oid == RSA_ENCRYPTION_OID, "the key's algorithm is not rsaEncryption");
    ensure!(params.is_empty() || params == [NULL, 0], "unexpected rsaEncryption parameters");
    let (bits, rest) = element(info, BIT_STRING, "subjectPublicKey")?;
    ensure!(rest.is_empty(), "bytes after the subjectPublicKey");
    let Some((0, key)) = bits.split_first() else { bail!("the subjectPublicKey has unused bits") };
    let (key, rest) = element(key, SEQUENCE, "RSAPublicKey")?;
    ensure!(rest.is_empty(), "bytes after the RSAPublicKey");
    let (n, rest) = element(key, INTEGER, "modulus")?;
    let (e, rest) = element(rest, INTEGER, "exponent")?;
    ensure!(rest.is_empty(), "bytes after the exponent");
    let unsigned = |int: &'static str, v: &[u8]| -> anyhow::Result<()> {
        ensure!(v.first().is_some_and(|b| b & 0x80 == 0), "the {int} is negative or empty");
        Ok(())
    };
    unsigned("modulus", n)?;
    unsigned("exponent", e)?;
    let strip = |v: &[u8]| -> usize { v.iter().take_while(|b| **b == 0).count() };
    Ok((&n[strip(n)..], &e[strip(e)..]))
}

#[cfg(test)]
mod tests {
    //! The vectors were computed with other tools than this code, on the test key pair in
    //! `tests/support/wechatpay/` (made with `openssl genpkey -algorithm RSA`):
    //! - signatures with `openssl dgst -sha256 -sign merchant_private_key.pem | base64 -w0`
    //!   (PKCS#1 v1.5 is deterministic, so ours must be byte for byte the same);
    //! - the resource with python3's `cryptography` (`AESGCM(key).encrypt(nonce, plaintext, aad)`).
    use super::*;

    const PRIVATE: &str = include_str!("../../../tests/support/wechatpay/merchant_private_key.pem");
    const PUBLIC: &str = include_str!("../../../tests/support/wechatpay/merchant_public_key.pem");

    const REQUEST_BODY: &str = r#"{"appid":"wxd678efh567hg6787","mchid":"1230000109"}"#;
    const REQUEST_SIGNATURE: &str = "tcWfp437xr3QZdLBDe1UkiTIbTGXOAzb/UDlF6oJVXhmewZT8a9WpFG4iV8e2LAbG0gGtvSeSoHK3Le1IXQgfNxNzYeof+cjw30dK4EspJOPET2k5ebGfrANo0LQ+NawIU2Nh2eDWDrcGWOOF03LLCe0Eq7bKMZ9K6pFUkWieaq9f4gNQmPOA5U/h1wCURg1/5xdr7dRBOZaTelcLgFq1GN/iWsdJhEx3AgXqojkt8kMadzFI/uvPBIL7fAyqzfENKVf8eTUqaz839+JLBEfjMXj73xCuNakEGNd5HJi+zSFFIzldpPvxuRrgMhCkgevwmFA3xmyZ1E2qyfeVEv0KQ==";

    const RESPONSE_BODY: &str = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#;
    const RESPONSE_SIGNATURE: &str = "ZjWLl5ZZgEj52Ez4PUZvZWnp7+001dPXdERvyoJ8F2EOCe69b8Fmwg6TysvWYQZvFBQcr5rpLdeO/H6bxwyG5XhO1nBXVhiUFm6SzhHmSN0CVrGp87cTDa6ndgZLwleZxpvwNsWK9xEfiipZGZy2z2eonY1/lj1XqhT5rmaMV6P+J0j4gZSc9hZ4imlfU7zoBVUyHeYs7tBivOjyWkYuypXJci5461Ykiea5mbBe0zENLICQTYvRVOKH/ZrEZsX3CDBE41AOBZLM+0cMg7mSMUuaw2/wH+AZqr8bckk6fza98+/vYYy9RVoV+ykCP29oPOmTKAFupuFevuQZcaUUHg==";

    const API_V3_KEY: &str = "kanjian-test-apiv3-key-32-bytes!";
    const RESOURCE_NONCE: &str = "fdasflkja484";
    const RESOURCE_AAD: &str = "transaction";
    const RESOURCE_CIPHERTEXT: &str = "FFVaR3nAjvgRYDRke5Du8p+dJupvKJ6wDjP+/+SLL32GQJRefJn3GJRsir4LODueit25RHNSXp0eJOgMstrrUriOiqUUmAMxLGqKOYUmbcUTkHOq4OPpweuMyFPsxrd9Lk5lMqlOteBxEI7HgM5C1tm8sZpZk9KIB+PwmAo9m0ZA+mZa/PGKRvUc24jPdLYRNXKK5d7lwevvJr/AnjcJCptnaDlHVmzCtpaLZNs026CV3mUXIbz0mSZsbZZa8Kbmkabmn+V9/9xVdiQBkUVqFJUdbDBwmTDQFYt51ATy4hcyzkCFBEZrkAlB";
    const RESOURCE_PLAINTEXT: &str = r#"{"mchid":"1230000109","out_trade_no":"KJ1001","transaction_id":"4200000000202011300000000001","trade_state":"SUCCESS","success_time":"2026-11-30T20:00:00+08:00","amount":{"total":1234,"currency":"CNY"},"note":"看见"}"#;

    #[test]
    fn the_signed_messages_have_one_line_per_part_each_ending_in_a_newline() {
        assert_eq!(
            request_message("POST", "/v3/pay/transactions/native", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", b"{}"),
            b"POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{}\n"
        );
        // A GET has an empty body, and still its line.
        assert_eq!(
            request_message("GET", "/v3/pay/transactions/out-trade-no/KJ1?mchid=1230000109", 1, "N", b""),
            b"GET\n/v3/pay/transactions/out-trade-no/KJ1?mchid=1230000109\n1\nN\n\n"
        );
        assert_eq!(response_message("1554209980", "c5ac", b"{\"a\":1}"), b"1554209980\nc5ac\n{\"a\":1}\n");
        // A body that ends in a newline gets one more.
        assert_eq!(response_message("1", "n", b"x\n"), b"1\nn\nx\n\n");
    }

    #[test]
    fn signs_exactly_as_openssl_does() {
        let signer = MerchantSigner::from_pem(PRIVATE).unwrap();
        let message = request_message(
            "POST",
            "/v3/pay/transactions/native",
            1554208460,
            "593BEC0C930BF1AFEB40B4A08C8FB242",
            REQUEST_BODY.as_bytes(),
        );
        assert_eq!(signer.sign(&message).unwrap(), REQUEST_SIGNATURE);
        let nonce = signer.nonce().unwrap();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_ne!(nonce, signer.nonce().unwrap());
    }

    #[test]
    fn verifies_an_openssl_signature_and_nothing_else() {
        let verifier = PlatformVerifier::from_pem(PUBLIC).unwrap();
        let message = response_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", RESPONSE_BODY.as_bytes());
        assert!(verifier.verify(&message, RESPONSE_SIGNATURE));
        // Any other timestamp, nonce or body, or a damaged or missing signature, fails.
        assert!(!verifier.verify(&response_message("1554209981", "c5ac7061fccab6bf3e254dcf98995b8c", RESPONSE_BODY.as_bytes()), RESPONSE_SIGNATURE));
        assert!(!verifier.verify(&response_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8d", RESPONSE_BODY.as_bytes()), RESPONSE_SIGNATURE));
        assert!(!verifier.verify(&response_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", b"{\"code_url\":\"x\"}"), RESPONSE_SIGNATURE));
        let mut damaged = RESPONSE_SIGNATURE.to_owned();
        damaged.replace_range(10..11, if &RESPONSE_SIGNATURE[10..11] == "A" { "B" } else { "A" });
        assert!(!verifier.verify(&message, &damaged));
        assert!(!verifier.verify(&message, ""));
        assert!(!verifier.verify(&message, "not base64!"));
        // The request signature is by the same key, over another message.
        assert!(!verifier.verify(&message, REQUEST_SIGNATURE));
    }

    #[test]
    fn opens_a_resource_sealed_by_python_cryptography() {
        let cipher = ResourceCipher::new(API_V3_KEY.as_bytes()).unwrap();
        let plain = cipher.open(RESOURCE_CIPHERTEXT, RESOURCE_NONCE, RESOURCE_AAD).unwrap();
        assert_eq!(String::from_utf8(plain).unwrap(), RESOURCE_PLAINTEXT);
        // Another associated data, nonce or key, or one altered byte, and it does not open.
        assert!(cipher.open(RESOURCE_CIPHERTEXT, RESOURCE_NONCE, "refund").is_err());
        assert!(cipher.open(RESOURCE_CIPHERTEXT, "fdasflkja485", RESOURCE_AAD).is_err());
        assert!(cipher.open(RESOURCE_CIPHERTEXT, "short", RESOURCE_AAD).is_err());
        let other = ResourceCipher::new(b"kanjian-test-apiv3-key-32-bytes?").unwrap();
        assert!(other.open(RESOURCE_CIPHERTEXT, RESOURCE_NONCE, RESOURCE_AAD).is_err());
        let mut bytes = BASE64.decode(RESOURCE_CIPHERTEXT).unwrap();
        bytes[5] ^= 1;
        assert!(cipher.open(&BASE64.encode(&bytes), RESOURCE_NONCE, RESOURCE_AAD).is_err());
        assert!(cipher.open("%%%", RESOURCE_NONCE, RESOURCE_AAD).is_err());
    }

    #[test]
    fn the_api_v3_key_is_exactly_32_bytes() {
        let short = ResourceCipher::new(b"0123456789abcdef0123456789abcde").err().unwrap().to_string();
        assert!(short.contains("exactly 32 bytes") && short.contains("not 31"), "{short}");
        assert!(ResourceCipher::new(&[7; 33]).is_err());
        assert!(ResourceCipher::new(&[7; 32]).is_ok());
    }

    #[test]
    fn keys_are_checked_when_read() {
        assert!(MerchantSigner::from_pem("not a key").is_err());
        // A public key is not a private key, and the other way round.
        assert!(MerchantSigner::from_pem(PUBLIC).is_err());
        assert!(PlatformVerifier::from_pem(PRIVATE).is_err());
        assert!(PlatformVerifier::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
    }

    #[test]
    fn reads_only_well_formed_rsa_subject_public_key_infos() {
        let der = SubjectPublicKeyInfoDer::from_pem_slice(PUBLIC.as_bytes()).unwrap();
        let der = der.as_ref();
        let (n, e) = spki_rsa_components(der).unwrap();
        assert_eq!(n.len(), 256);
        assert!(n[0] & 0x80 != 0);
        assert_eq!(e, [0x01, 0x00, 0x01]);
        // Truncated anywhere, or with a byte after it, it is refused.
        for cut in [0, 1, 2, 10, 30, der.len() - 1] {
            assert!(spki_rsa_components(&der[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = der.to_vec();
        longer.push(0);
        assert!(spki_rsa_components(&longer).is_err());
        // An EC key's SubjectPublicKeyInfo (P-256, from `openssl ecparam -genkey | openssl ec -pubout`).
        let ec = BASE64
            .decode("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAElOz24tve5n9S6pxpURig+AKNvvgvNF8xhN91Qn1x5AlArOCDREopeRwWZZgbtnZULL0CNhaT12Ex7FYAlaND4w==")
            .unwrap();
        assert!(spki_rsa_components(&ec).is_err());
        // Long-form lengths that are not the shortest are refused.
        assert!(der_element(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_none());
        assert_eq!(der_element(&[0x04, 0x02, 1, 2, 9]), Some((0x04, &[1u8, 2][..], &[9u8][..])));
    }
}
