//! Secrets at rest: client secrets, refresh and access tokens, signing keys.
//!
//! Everything secret the store keeps is sealed with one key the operator
//! gives the host (`CONDUIT_SECRET_KEY`, or a key file), with
//! XChaCha20-Poly1305: a stolen database file alone yields no token, and a
//! tampered value fails to open instead of being used.

use std::fmt;
use std::path::Path;

use anyhow::{Context, bail};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Bytes of a key: 256 bits.
const KEY_BYTES: usize = 32;

/// Bytes of a nonce, stored in front of each sealed value.
const NONCE_BYTES: usize = 24;

/// The environment variable holding the key, as 64 hex digits.
pub const KEY_ENV: &str = "CONDUIT_SECRET_KEY";

/// The key secrets are sealed with. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SecretKey {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A key from 64 hex digits.
    pub fn from_hex(text: &str) -> anyhow::Result<Self> {
        let bytes =
            hex::decode(text.trim()).context("the secret key must be 64 hex digits (32 bytes)")?;
        if bytes.len() != KEY_BYTES {
            bail!(
                "the secret key must be 64 hex digits (32 bytes), got {} bytes",
                bytes.len()
            );
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("the secret key has the wrong length"))?;
        Ok(Self { cipher })
    }

    /// The key in `path`, as 64 hex digits.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the secret key file {}", path.display()))?;
        Self::from_hex(&text).with_context(|| format!("in {}", path.display()))
    }

    /// A new random key, for the demo and tests, whose stores live only as
    /// long as the process.
    pub fn ephemeral() -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&XChaCha20Poly1305::generate_key(&mut OsRng)),
        }
    }

    /// Seals `plain`: a random nonce and the ciphertext, as hex.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption fails only for inputs over 256 GiB.
        let sealed = self
            .cipher
            .encrypt(&nonce, plain.as_bytes())
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(sealed);
        hex::encode(out)
    }

    /// Opens a value [`seal`](Self::seal) made with this key.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let bytes = hex::decode(sealed).context("a sealed secret is not hex")?;
        if bytes.len() < NONCE_BYTES {
            bail!("a sealed secret is too short");
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().context("a sealed secret's nonce")?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| {
                anyhow::anyhow!(
                    "a stored secret does not open with this key: the key changed, or the \
                     value was altered"
                )
            })?;
        String::from_utf8(plain).context("a sealed secret is not text")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_only_unaltered() -> anyhow::Result<()> {
        let key = SecretKey::from_hex(&"ab".repeat(32))?;
        let sealed = key.seal("5Aep861-refresh");
        assert!(!sealed.contains("refresh"));
        assert_eq!(key.open(&sealed)?, "5Aep861-refresh");
        // Two seals of one value differ: the nonce is fresh each time.
        assert_ne!(key.seal("5Aep861-refresh"), sealed);

        let other = SecretKey::from_hex(&"cd".repeat(32))?;
        assert!(other.open(&sealed).is_err());
        let mut altered = sealed.into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
        assert!(key.open(&String::from_utf8(altered)?).is_err());
        Ok(())
    }

    #[test]
    fn a_key_must_be_32_bytes_of_hex_and_never_shows() {
        assert!(SecretKey::from_hex("abcd").is_err());
        assert!(SecretKey::from_hex(&"zz".repeat(32)).is_err());
        let key = SecretKey::ephemeral();
        assert_eq!(format!("{key:?}"), "SecretKey(<redacted>)");
    }
}
