//! `X-Hub-Signature-256` verification: HMAC-SHA256 of the raw request body with the webhook
//! secret, hex-encoded after a `sha256=` prefix. Pure.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header does not start with `sha256=`")]
    BadPrefix,
    #[error("the X-Hub-Signature-256 header is not a hex SHA-256 digest")]
    BadHex,
    #[error("the X-Hub-Signature-256 header does not match the body")]
    Mismatch,
}

fn mac(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts a key of any length; `new_from_slice` cannot fail for it.
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// A well-formed `X-Hub-Signature-256` value, not yet checked against a body. Parsing it
/// needs no body, so a request without one is refused before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature([u8; 32]);

impl Signature {
    pub fn parse(header: Option<&str>) -> Result<Signature, SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let digest_hex = header
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(SignatureError::BadPrefix)?;
        let digest = hex::decode(digest_hex).map_err(|_| SignatureError::BadHex)?;
        let digest: [u8; 32] = digest.try_into().map_err(|_| SignatureError::BadHex)?;
        Ok(Signature(digest))
    }

    /// Whether this is the signature of `body` under `secret`, compared in constant time.
    pub fn verify(&self, secret: &[u8], body: &[u8]) -> Result<(), SignatureError> {
        let mut m = mac(secret);
        m.update(body);
        m.verify_slice(&self.0)
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Check `header` (the value of `X-Hub-Signature-256`) against the raw `body`. The digest
/// comparison takes constant time.
pub fn verify_signature(
    secret: &[u8],
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    Signature::parse(header)?.verify(secret, body)
}

/// The `X-Hub-Signature-256` value GitHub would send for `body`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut m = mac(secret);
    m.update(body);
    format!("{PREFIX}{}", hex::encode(m.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const BODY: &[u8] = b"Hello, World!";
    const EXPECTED: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn github_test_vector() {
        assert_eq!(sign(SECRET, BODY), EXPECTED);
        assert_eq!(verify_signature(SECRET, BODY, Some(EXPECTED)), Ok(()));
    }

    #[test]
    fn each_fault_has_its_own_error() {
        assert_eq!(
            verify_signature(SECRET, BODY, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(SECRET, BODY, Some(&EXPECTED.replace("sha256=", "sha1="))),
            Err(SignatureError::BadPrefix)
        );
        assert_eq!(
            verify_signature(SECRET, BODY, Some("sha256=zz")),
            Err(SignatureError::BadHex)
        );
        assert_eq!(
            verify_signature(SECRET, BODY, Some("sha256=abcd")),
            Err(SignatureError::BadHex)
        );
        assert_eq!(
            verify_signature(SECRET, b"Hello, World?", Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"another secret", BODY, Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let upper = format!("sha256={}", EXPECTED[7..].to_uppercase());
        assert_eq!(verify_signature(SECRET, BODY, Some(&upper)), Ok(()));
    }
}
