//! Bearer tokens: HS256 JWTs issued by the server and validated the way ASP.NET Core's
//! JwtBearer handler does by default (5 minutes of clock skew, `sub`/`nameid` mapped to the
//! name identifier claim).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value as Json};

/// `ClaimTypes.NameIdentifier`.
pub const NAME_IDENTIFIER: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name identifier claim (`Context.UserIdentifier` by default).
    pub name_identifier: Option<String>,
    /// Every string claim of the token.
    pub claims: Vec<(String, String)>,
}

impl User {
    /// A claim's value.
    pub fn claim(&self, claim_type: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|(k, _)| k == claim_type)
            .map(|(_, v)| v.as_str())
    }
}

/// Issues and validates tokens with one symmetric key.
#[derive(Clone)]
pub(crate) struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TokenService {
    /// A service keyed by `secret`.
    pub(crate) fn new(secret: &str) -> Result<Self, String> {
        let bad = |e: jsonwebtoken::errors::Error| format!("unusable JWT signing key: {e}");
        Ok(Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()).map_err(bad)?,
            decoding: DecodingKey::from_secret(secret.as_bytes()).map_err(bad)?,
        })
    }

    /// A token for `user` valid for `lifetime_secs`.
    pub(crate) fn issue(
        &self,
        user: &str,
        issuer: &str,
        audience: &str,
        lifetime_secs: u64,
    ) -> String {
        let claims = json!({
            NAME_IDENTIFIER: user,
            "sub": user,
            "iss": issuer,
            "aud": audience,
            "nbf": now().saturating_sub(1),
            "exp": now() + lifetime_secs,
        });
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).unwrap_or_default()
    }

    /// The user of a valid token; `None` for anything else.
    pub(crate) fn validate(&self, token: &str) -> Option<User> {
        let mut v = Validation::new(Algorithm::HS256);
        // The JwtBearer handler accepts any HMAC-SHA2 signature made with the symmetric key.
        v.algorithms = vec![Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];
        v.leeway = 300;
        v.validate_aud = false;
        v.validate_nbf = true;
        let data = decode::<Json>(token, &self.decoding, &v).ok()?;
        let obj = data.claims.as_object()?;
        let claims: Vec<(String, String)> = obj
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect();
        let name_identifier = [NAME_IDENTIFIER, "nameid", "sub"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Json::as_str))
            .map(str::to_owned);
        Some(User {
            name_identifier,
            claims,
        })
    }

    /// The user from `Authorization: Bearer …`, or else the `access_token` query parameter. An
    /// `Authorization` header of another scheme (or a bare token without `Bearer `) carries no
    /// token, as for `JwtBearerHandler`.
    pub(crate) fn user_from_request(
        &self,
        headers: &HeaderMap,
        query: &[(String, String)],
    ) -> Option<User> {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty());
        let bearer = header.and_then(|h| {
            h.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| h[7..].trim().to_owned())
        });
        let token = match bearer {
            Some(t) => t,
            None => query
                .iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v.clone())?,
        };
        self.validate(&token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_validate() {
        let s = TokenService::new("key").unwrap();
        let t = s.issue("alice", "me", "you", 60);
        let u = s.validate(&t).unwrap();
        assert_eq!(u.name_identifier.as_deref(), Some("alice"));
        assert!(s.validate("garbage").is_none());
        assert!(TokenService::new("other").unwrap().validate(&t).is_none());
    }

    fn auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            value.parse().expect("header value"),
        );
        h
    }

    #[test]
    fn only_bearer_tokens_count() {
        let s = TokenService::new("key").unwrap();
        let t = s.issue("alice", "me", "you", 60);
        assert!(s
            .user_from_request(&auth(&format!("Bearer {t}")), &[])
            .is_some());
        assert!(s
            .user_from_request(&auth(&format!("bearer {t}")), &[])
            .is_some());
        // ASP.NET Core: 401 for the raw token and for another scheme.
        assert!(s.user_from_request(&auth(&t), &[]).is_none());
        assert!(s
            .user_from_request(&auth(&format!("Basic {t}")), &[])
            .is_none());
        let q = [("access_token".to_owned(), t.clone())];
        assert!(s.user_from_request(&HeaderMap::new(), &q).is_some());
    }

    #[test]
    fn hs384_and_hs512_with_the_key_are_accepted() {
        let s = TokenService::new("a key long enough for every HMAC size ............").unwrap();
        let claims = json!({"sub": "bob", "exp": now() + 60});
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let t = encode(&Header::new(alg), &claims, &s.encoding).unwrap();
            let u = s.validate(&t).expect("accepted");
            assert_eq!(u.name_identifier.as_deref(), Some("bob"));
        }
        let other = TokenService::new("another key").unwrap();
        let t = encode(&Header::new(Algorithm::HS512), &claims, &other.encoding).unwrap();
        assert!(s.validate(&t).is_none());
    }
}
