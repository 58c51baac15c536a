//! Password hashing (argon2id, off the async runtime) and session tokens.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kanjian_kernel::{Context, Result};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::domain::Password;

/// Every bearer token starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "kj_";

/// Hashes a password into an argon2id PHC string with a random salt, on a blocking thread.
pub async fn hash_password(password: Password) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
    })
    .await
    .context("waiting for the password hasher")?
    .context("hashing a password")
}

/// Whether `candidate` matches the PHC string `hash`, checked on a blocking thread.
pub async fn verify_password(candidate: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        match Argon2::default().verify_password(candidate.as_bytes(), hash.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(other) => Err(other),
        }
    })
    .await
    .context("waiting for the password verifier")?
    .context("verifying a password")
}

/// A hash of a password nobody knows, made with the same parameters as real ones. Log-ins with
/// an unknown email are verified against it, so they take as long as a wrong password and the
/// timing does not tell which emails have accounts.
#[derive(Clone, Default)]
pub struct DummyHash(Arc<OnceCell<String>>);

impl DummyHash {
    pub async fn get(&self) -> Result<String> {
        self.0
            .get_or_try_init(|| async {
                let mut secret = [0u8; 32];
                rand::rng().fill_bytes(&mut secret);
                let password = Password::parse(&URL_SAFE_NO_PAD.encode(secret), "")
                    .map_err(|e| kanjian_kernel::Error::internal(e.message))?;
                hash_password(password).await
            })
            .await
            .cloned()
    }
}

/// A new bearer token: `kj_` and 32 random bytes in unpadded base64url.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Length of an email link token: 32 bytes in unpadded base64url.
pub const EMAIL_TOKEN_LEN: usize = 43;

/// A new token for a link in mail (verification, password reset): 32 random bytes in unpadded
/// base64url, no prefix (it travels in a URL and is typed by no one).
pub fn new_email_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` could be one of [`new_email_token`]'s: the right length, base64url only.
/// Anything else is refused without a database lookup.
pub fn is_email_token_shaped(token: &str) -> bool {
    token.len() == EMAIL_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What is stored of a token: the lowercase hex SHA-256 of the whole token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_43_base64url_chars() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        let body = a.strip_prefix(TOKEN_PREFIX).unwrap();
        assert_eq!(body.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
    }

    #[test]
    fn email_tokens_are_32_random_bytes_in_base64url() {
        let a = new_email_token();
        assert_ne!(a, new_email_token());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(is_email_token_shaped(&a));
        for bad in [
            "",
            "short",
            &a[1..],
            &format!("{a}x"),
            &format!("{}=", &a[1..]),
            &format!("{}/", &a[1..]),
            &format!("{}é", &a[2..]),
            "' OR 1=1 --                                ",
        ] {
            assert!(!is_email_token_shaped(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hash = hash_password(Password::parse("correct horse battery", "").unwrap())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse battery".into(), hash)
                .await
                .unwrap()
        );
        assert!(
            verify_password("x".into(), "not a phc string".into())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn the_dummy_hash_is_made_once() {
        let dummy = DummyHash::default();
        let first = dummy.get().await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_eq!(dummy.get().await.unwrap(), first);
    }
}
