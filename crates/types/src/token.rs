//! Access tokens: how a client says who is asking on every API call.
//!
//! A token is a JSON Web Token (RFC 7519) in its compact form, signed with EdDSA over Ed25519
//! (RFC 8037) by a key the consortium knows: an organisation's key, or a validator's (for state
//! sync). The client makes it itself, with no round trip and no secret shared with any
//! validator, and sends it as `Authorization: Bearer <token>` (RFC 6750). Any validator checks
//! it alone, so a client that fails over to another validator keeps its token.
//!
//! ```text
//! token   = b64(header) "." b64(claims) "." b64(signature)     b64: base64url, no padding
//! header  = {"alg":"EdDSA","typ":"JWT","kid":"<signing public key, 64 hex digits>"}
//! claims  = {"iss":"<organisation id, decimal>","aud":"<chain id, 64 hex digits>",
//!            "iat":<issued at, Unix s>,"exp":<expires at, Unix s>}
//! signature = Ed25519 over the ASCII bytes of b64(header) "." b64(claims), checked by
//!             ZIP-215's rules like every signature of the chain
//! ```
//!
//! The rules a validator applies, besides the signature and the key belonging to `iss`:
//! `alg` is `EdDSA` (no other algorithm is accepted, so no algorithm confusion); `aud` is this
//! chain's id (a token for one chain is worthless on another); `exp` is after `iat` and at most
//! [`TOKEN_LIFETIME_S_MAX`] after it (a token is short-lived: a leaked one is soon useless);
//! and the validator's clock is within [`CLOCK_SKEW_S`] of the window. A token is at most
//! [`TOKEN_BYTES_MAX`] long. Members of the JSON objects other than these are ignored, as RFC
//! 7519 says, except `crit`, which is refused (RFC 7515 §4.1.11: nothing here understands an
//! extension).
//!
//! This module parses and checks; which keys belong to which organisation is the caller's
//! knowledge (genesis, and later delegated keys on chain). It has no clock: the time is passed.

use crate::{Hash, OrgId, PublicKey, SecretKey, Signature};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The longest a token may be valid, from `iat` to `exp`.
pub const TOKEN_LIFETIME_S_MAX: u64 = 3_600;
/// How far a validator's clock may be from the client's: a token is taken from `CLOCK_SKEW_S`
/// before its `iat` to `CLOCK_SKEW_S` after its `exp`.
pub const CLOCK_SKEW_S: u64 = 60;
/// The longest token accepted, in bytes (a well-formed one is about 330).
pub const TOKEN_BYTES_MAX: usize = 1_024;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token is for another chain")]
    WrongChain,
    #[error("the token expired at {expires_at_s} (now {now_s}, Unix seconds)")]
    Expired { expires_at_s: u64, now_s: u64 },
    #[error("the token is not valid before {issued_at_s} (now {now_s}, Unix seconds)")]
    NotYetValid { issued_at_s: u64, now_s: u64 },
    #[error("the token is valid for {lifetime_s} s, over the {TOKEN_LIFETIME_S_MAX} s allowed")]
    TooLong { lifetime_s: u64 },
    #[error("the token's signature does not verify")]
    BadSignature,
}

/// What a token says, once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    /// The organisation that asks (`iss`).
    pub org: OrgId,
    /// The key that signed the token (`kid`).
    pub key: PublicKey,
    /// The chain it is for (`aud`).
    pub chain_id: Hash,
    pub issued_at_s: u64,
    pub expires_at_s: u64,
}

/// A parsed token: its claims, and what its signature covers.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub claims: TokenClaims,
    signed: String,
    signature: Signature,
}

/// Makes a token for `org`, signed by `key`, valid from `issued_at_s` for `lifetime_s` seconds.
pub fn sign_token(chain_id: &Hash, org: OrgId, key: &SecretKey, issued_at_s: u64, lifetime_s: u64) -> String {
    let header = format!(r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#, key.public_key().to_hex());
    let claims = format!(
        r#"{{"iss":"{}","aud":"{}","iat":{issued_at_s},"exp":{}}}"#,
        org.0,
        chain_id.to_hex(),
        issued_at_s.saturating_add(lifetime_s)
    );
    let signed = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
    let signature = key.sign(signed.as_bytes());
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.0))
}

impl AccessToken {
    /// Parses a token's form; checks nothing about its chain, time or signature.
    pub fn parse(text: &str) -> Result<AccessToken, TokenError> {
        if text.len() > TOKEN_BYTES_MAX {
            return Err(TokenError::Malformed("over 1,024 bytes"));
        }
        let mut parts = text.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("a token has three parts separated by dots"));
        };
        let header = json_object(header, "the header is not base64url", "the header is not a JSON object")?;
        if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
            return Err(TokenError::Malformed("the algorithm (alg) must be EdDSA"));
        }
        if header.get("crit").is_some() {
            return Err(TokenError::Malformed("no critical extension (crit) is understood"));
        }
        let key = header
            .get("kid")
            .and_then(Value::as_str)
            .and_then(PublicKey::from_hex)
            .ok_or(TokenError::Malformed("the key id (kid) must be a public key in 64 hex digits"))?;
        let body = json_object(claims, "the claims are not base64url", "the claims are not a JSON object")?;
        let org = body
            .get("iss")
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit()))
            .and_then(|text| text.parse::<u32>().ok())
            .ok_or(TokenError::Malformed(
                "the issuer (iss) must be an organisation id as a decimal string",
            ))?;
        let chain_id = body
            .get("aud")
            .and_then(Value::as_str)
            .and_then(Hash::from_hex)
            .ok_or(TokenError::Malformed("the audience (aud) must be a chain id in 64 hex digits"))?;
        let time =
            |name: &'static str, error: &'static str| body.get(name).and_then(Value::as_u64).ok_or(error);
        let issued_at_s =
            time("iat", "issued at (iat) must be Unix seconds").map_err(TokenError::Malformed)?;
        let expires_at_s = time("exp", "expiry (exp) must be Unix seconds").map_err(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .ok()
            .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
            .ok_or(TokenError::Malformed("the signature must be 64 bytes in base64url"))?;
        let signed_len = text.len() - text.rsplit('.').next().map_or(0, str::len) - 1;
        Ok(AccessToken {
            claims: TokenClaims { org: OrgId(org), key, chain_id, issued_at_s, expires_at_s },
            signed: text[..signed_len].to_string(),
            signature: Signature(signature),
        })
    }

    /// Checks the token's chain and validity window at `now_s`, and its signature by its key.
    pub fn check(&self, chain_id: &Hash, now_s: u64) -> Result<(), TokenError> {
        let claims = &self.claims;
        if claims.chain_id != *chain_id {
            return Err(TokenError::WrongChain);
        }
        if claims.expires_at_s <= claims.issued_at_s {
            return Err(TokenError::Malformed("expiry (exp) must be after issued at (iat)"));
        }
        let lifetime_s = claims.expires_at_s - claims.issued_at_s;
        if lifetime_s > TOKEN_LIFETIME_S_MAX {
            return Err(TokenError::TooLong { lifetime_s });
        }
        if now_s.saturating_add(CLOCK_SKEW_S) < claims.issued_at_s {
            return Err(TokenError::NotYetValid { issued_at_s: claims.issued_at_s, now_s });
        }
        if now_s >= claims.expires_at_s.saturating_add(CLOCK_SKEW_S) {
            return Err(TokenError::Expired { expires_at_s: claims.expires_at_s, now_s });
        }
        if !claims.key.verify(self.signed.as_bytes(), &self.signature) {
            return Err(TokenError::BadSignature);
        }
        Ok(())
    }
}

/// A base64url part decoded as a JSON object.
fn json_object(
    part: &str,
    not_base64: &'static str,
    not_object: &'static str,
) -> Result<serde_json::Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed(not_base64))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TokenError::Malformed(not_object)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_seed([7; 32])
    }

    const CHAIN: Hash = Hash([3; 32]);

    fn checked(text: &str, now_s: u64) -> Result<TokenClaims, TokenError> {
        let token = AccessToken::parse(text)?;
        token.check(&CHAIN, now_s)?;
        Ok(token.claims)
    }

    #[test]
    fn a_signed_token_reads_back_within_its_window_only() {
        let text = sign_token(&CHAIN, OrgId(2), &key(), 1_000, 300);
        let claims = checked(&text, 1_100).expect("valid");
        assert_eq!(claims.org, OrgId(2));
        assert_eq!(claims.key, key().public_key());
        assert_eq!((claims.issued_at_s, claims.expires_at_s), (1_000, 1_300));
        assert!(checked(&text, 1_000 - CLOCK_SKEW_S).is_ok(), "within the skew before iat");
        assert!(matches!(checked(&text, 1_000 - CLOCK_SKEW_S - 1), Err(TokenError::NotYetValid { .. })));
        assert!(checked(&text, 1_300 + CLOCK_SKEW_S - 1).is_ok(), "within the skew after exp");
        assert!(matches!(checked(&text, 1_300 + CLOCK_SKEW_S), Err(TokenError::Expired { .. })));
    }

    #[test]
    fn tokens_for_another_chain_too_long_or_tampered_are_refused() {
        let other = sign_token(&Hash([4; 32]), OrgId(2), &key(), 1_000, 300);
        assert_eq!(checked(&other, 1_100), Err(TokenError::WrongChain));
        let long = sign_token(&CHAIN, OrgId(2), &key(), 1_000, TOKEN_LIFETIME_S_MAX + 1);
        assert_eq!(checked(&long, 1_100), Err(TokenError::TooLong { lifetime_s: TOKEN_LIFETIME_S_MAX + 1 }));
        let text = sign_token(&CHAIN, OrgId(2), &key(), 1_000, 300);
        let parts: Vec<&str> = text.split('.').collect();
        // Another organisation named in the claims, under the first one's signature.
        let forged = URL_SAFE_NO_PAD
            .encode(format!(r#"{{"iss":"3","aud":"{}","iat":1000,"exp":1300}}"#, CHAIN.to_hex()));
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(checked(&tampered, 1_100), Err(TokenError::BadSignature));
        // Another key named in the header.
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"JWT","kid":"{}"}}"#,
            SecretKey::from_seed([8; 32]).public_key().to_hex()
        ));
        assert_eq!(
            checked(&format!("{header}.{}.{}", parts[1], parts[2]), 1_100),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn malformed_tokens_say_what_is_wrong() {
        let text = sign_token(&CHAIN, OrgId(2), &key(), 1_000, 300);
        let parts: Vec<&str> = text.split('.').collect();
        let with_header =
            |header: &str| format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), parts[1], parts[2]);
        let with_claims =
            |claims: &str| format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims), parts[2]);
        let kid = key().public_key().to_hex();
        let cases = [
            ("abc".to_string(), "three parts"),
            (format!("{text}.x"), "three parts"),
            ("x".repeat(TOKEN_BYTES_MAX + 1), "over 1,024"),
            (format!("!!.{}.{}", parts[1], parts[2]), "not base64url"),
            (with_header("[1]"), "not a JSON object"),
            (with_header(&format!(r#"{{"alg":"none","kid":"{kid}"}}"#)), "EdDSA"),
            (with_header(&format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#)), "EdDSA"),
            (with_header(&format!(r#"{{"alg":"EdDSA","kid":"{kid}","crit":["x"]}}"#)), "crit"),
            (with_header(r#"{"alg":"EdDSA","kid":"12"}"#), "kid"),
            (with_claims(r#"{"iss":2,"aud":"00","iat":1,"exp":2}"#), "iss"),
            (with_claims(&format!(r#"{{"iss":"2","aud":"{}","iat":"1","exp":2}}"#, CHAIN.to_hex())), "iat"),
            (with_claims(&format!(r#"{{"iss":"2","aud":"{}","iat":1}}"#, CHAIN.to_hex())), "exp"),
            (with_claims(r#"{"iss":"2","aud":"zz","iat":1,"exp":2}"#), "aud"),
            (format!("{}.{}.{}", parts[0], parts[1], &parts[2][..10]), "64 bytes"),
        ];
        for (token, expected) in cases {
            match AccessToken::parse(&token) {
                Err(TokenError::Malformed(message)) => {
                    assert!(message.contains(expected), "{message} for {token}")
                }
                other => panic!("{token}: {other:?}, expected malformed ({expected})"),
            }
        }
        let backwards = with_claims(&format!(r#"{{"iss":"2","aud":"{}","iat":5,"exp":5}}"#, CHAIN.to_hex()));
        let parsed = AccessToken::parse(&backwards).expect("parses");
        assert!(
            matches!(parsed.check(&CHAIN, 5), Err(TokenError::Malformed(message)) if message.contains("after"))
        );
    }
}
