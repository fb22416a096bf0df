//! Bearer tokens, validated the way ASP.NET Core's `JwtBearerHandler` validates them with an
//! application's `TokenValidationParameters` (`Microsoft.IdentityModel.JsonWebTokens`): the
//! signature first (HS256/384/512 with the symmetric key, RS256 with the RSA public key), then
//! the lifetime with a clock skew (5 minutes by default), then audience and issuer when they are
//! configured. A refused token is answered with the `WWW-Authenticate` value the handler writes
//! (`JwtBearerHandler.HandleChallengeAsync`, `CreateErrorDescription`). Claims are mapped on the
//! way in as `JwtSecurityTokenHandler.DefaultInboundClaimTypeMap` maps them (`sub` → name
//! identifier, `role` → role …), and the user id is one claim (`DefaultUserIdProvider`: the name
//! identifier). Also issues the tokens of `/generateJwtToken` and `/contract/token`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{json, Map, Value as Json};
use signalr_protocol::error::texts::invariant_date;

/// `ClaimTypes.NameIdentifier`.
pub const NAME_IDENTIFIER: &str =
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier";
/// `ClaimTypes.Role`.
pub const ROLE: &str = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role";
/// `ClaimTypes.Name`.
pub const NAME: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";

/// The key of the contract's `wrongKey` tokens: any key but the server's would do.
const WRONG_KEY: &str = "signalr-conform: not the server's key; tokens signed with it are refused";

/// Longest token looked at (a header or query value beyond it is refused as malformed).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The JWT claim names `JwtSecurityTokenHandler.DefaultInboundClaimTypeMap` maps (the ones a
/// SignalR application meets), and what they become.
fn inbound_claim_type(name: &str) -> &str {
    match name {
        "sub" | "nameid" => NAME_IDENTIFIER,
        "role" | "roles" => ROLE,
        "unique_name" => NAME,
        other => other,
    }
}

/// An authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The name identifier claim.
    pub name_identifier: Option<String>,
    /// The user id (`Context.UserIdentifier`): the configured claim, the name identifier by
    /// default.
    pub user_id: Option<String>,
    /// Every claim of the token (types mapped as ASP.NET Core maps them; an array claim is one
    /// claim per string).
    pub claims: Vec<(String, String)>,
    /// The token's `exp` (Unix seconds), for `CloseOnAuthenticationExpiration`.
    pub expires: Option<i64>,
}

impl User {
    /// A claim's value (the first of that type).
    pub fn claim(&self, claim_type: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|(k, _)| k == claim_type)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the user has the claim with this value (`RequireClaim(type, value)`).
    pub fn has_claim(&self, claim_type: &str, value: &str) -> bool {
        self.claims
            .iter()
            .any(|(k, v)| k == claim_type && v == value)
    }

    /// `IsInRole(role)`.
    pub fn in_role(&self, role: &str) -> bool {
        self.has_claim(ROLE, role)
    }
}

/// Why a token was refused; [`TokenError::www_authenticate`] is what ASP.NET Core answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not a JWT at all (`abc.def`): no error description.
    Malformed,
    /// `alg: none` (or an empty signature): `SecurityTokenInvalidSignatureException`.
    SignatureInvalid,
    /// Signed with a key the server does not have: `SecurityTokenSignatureKeyNotFoundException`.
    KeyNotFound,
    /// No `exp`: `SecurityTokenNoExpirationException`.
    NoExpiration,
    /// `nbf` after `exp`: `SecurityTokenInvalidLifetimeException`.
    InvalidLifetime {
        /// `nbf`, Unix seconds.
        not_before: i64,
        /// `exp`, Unix seconds.
        expires: i64,
    },
    /// `nbf` in the future beyond the clock skew.
    NotYetValid(i64),
    /// `exp` in the past beyond the clock skew.
    Expired(i64),
    /// Not for the configured audience.
    Audience(Option<String>),
    /// Not from the configured issuer.
    Issuer(Option<String>),
}

impl TokenError {
    /// `JwtBearerHandler.CreateErrorDescription`'s text, if the handler writes one.
    pub fn description(&self) -> Option<String> {
        let or_null = |v: &Option<String>| v.clone().unwrap_or_else(|| "(null)".to_owned());
        Some(match self {
            TokenError::Malformed => return None,
            TokenError::SignatureInvalid => "The signature is invalid".to_owned(),
            TokenError::KeyNotFound => "The signature key was not found".to_owned(),
            TokenError::NoExpiration => "The token has no expiration".to_owned(),
            TokenError::InvalidLifetime {
                not_before,
                expires,
            } => format!(
                "The token lifetime is invalid; NotBefore: '{}', Expires: '{}'",
                invariant_date(*not_before),
                invariant_date(*expires)
            ),
            TokenError::NotYetValid(t) => {
                format!("The token is not valid before '{}'", invariant_date(*t))
            }
            TokenError::Expired(t) => format!("The token expired at '{}'", invariant_date(*t)),
            TokenError::Audience(a) => format!("The audience '{}' is invalid", or_null(a)),
            TokenError::Issuer(i) => format!("The issuer '{}' is invalid", or_null(i)),
        })
    }

    /// The `WWW-Authenticate` value of the 401.
    pub fn www_authenticate(&self) -> String {
        match self.description() {
            None => "Bearer error=\"invalid_token\"".to_owned(),
            Some(d) => format!("Bearer error=\"invalid_token\", error_description=\"{d}\""),
        }
    }
}

/// What a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No bearer token (no header, another scheme, no `access_token`).
    Nothing,
    /// A valid token.
    Valid(User),
    /// A token that was refused.
    Invalid(TokenError),
}

impl Presented {
    /// The user, if the token was valid.
    pub fn user(self) -> Option<User> {
        match self {
            Presented::Valid(u) => Some(u),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value of a 401 for this request.
    pub fn challenge(&self) -> String {
        match self {
            Presented::Invalid(e) => e.www_authenticate(),
            _ => "Bearer".to_owned(),
        }
    }
}

/// How tokens are validated (`TokenValidationParameters`) and whose id a user has.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Symmetric key (UTF-8 bytes) for HS256/384/512.
    pub signing_key: String,
    /// RSA public key (PEM) for RS256, if any.
    pub rsa_public_key_pem: Option<Vec<u8>>,
    /// `ValidIssuer` (None = not validated).
    pub issuer: Option<String>,
    /// `ValidAudience` (None = not validated).
    pub audience: Option<String>,
    /// `ClockSkew` in seconds.
    pub clock_skew_secs: i64,
    /// The claim type whose value is the user id (after inbound mapping).
    pub user_id_claim: String,
}

/// A token to issue (`/contract/token`'s parameters).
#[derive(Debug, Clone)]
pub(crate) struct TokenSpec {
    pub(crate) user: String,
    pub(crate) issuer: String,
    pub(crate) audience: String,
    /// `exp` = now + this (negative: already expired).
    pub(crate) lifetime_secs: i64,
    /// `nbf` = now + this (default: one second ago).
    pub(crate) not_before_secs: i64,
    /// `HS256` (default), `HS384`, `HS512` or `none`.
    pub(crate) alg: Option<Algorithm>,
    /// Signed with a key the server does not know.
    pub(crate) wrong_key: bool,
    /// `role` claims.
    pub(crate) roles: Vec<String>,
    /// The `level` claim (the contract's claim policy).
    pub(crate) level: Option<String>,
}

impl TokenSpec {
    pub(crate) fn new(user: &str, issuer: &str, audience: &str, lifetime_secs: i64) -> Self {
        Self {
            user: user.to_owned(),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime_secs,
            not_before_secs: -1,
            alg: Some(Algorithm::HS256),
            wrong_key: false,
            roles: Vec::new(),
            level: None,
        }
    }
}

/// Issues and validates tokens.
#[derive(Clone)]
pub(crate) struct TokenService {
    settings: AuthSettings,
    encoding: EncodingKey,
    wrong: EncodingKey,
    hmac: DecodingKey,
    rsa: Option<DecodingKey>,
    /// Fault `skip-token-signature`.
    pub(crate) skip_signature: bool,
    /// Fault `accept-expired-tokens`.
    pub(crate) skip_lifetime: bool,
    /// Fault `hs256-only`.
    pub(crate) hs256_only: bool,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn b64_json(part: &str) -> Option<Map<String, Json>> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Json::Object(m) => Some(m),
        _ => None,
    }
}

/// A NumericDate claim (JSON number, possibly fractional).
fn numeric_date(m: &Map<String, Json>, k: &str) -> Option<i64> {
    let v = m.get(k)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

impl TokenService {
    /// A service with these settings; the error says which key is unusable.
    pub(crate) fn new(settings: AuthSettings) -> Result<Self, String> {
        let bad = |what: &str, e: jsonwebtoken::errors::Error| format!("unusable {what}: {e}");
        let key = settings.signing_key.as_bytes();
        let rsa = match &settings.rsa_public_key_pem {
            Some(pem) => {
                Some(DecodingKey::from_rsa_pem(pem).map_err(|e| bad("RSA public key (PEM)", e))?)
            }
            None => None,
        };
        Ok(Self {
            encoding: EncodingKey::from_secret(key).map_err(|e| bad("JWT signing key", e))?,
            wrong: EncodingKey::from_secret(WRONG_KEY.as_bytes())
                .map_err(|e| bad("JWT signing key", e))?,
            hmac: DecodingKey::from_secret(key).map_err(|e| bad("JWT signing key", e))?,
            rsa,
            settings,
            skip_signature: false,
            skip_lifetime: false,
            hs256_only: false,
        })
    }

    /// Fault `wrong-signing-key`: validates with a key tokens are not issued with.
    pub(crate) fn validate_with_another_key(&mut self) {
        if let Ok(k) = DecodingKey::from_secret(WRONG_KEY.as_bytes()) {
            self.hmac = k;
        }
    }

    /// A token for `user` valid for `lifetime_secs`.
    pub(crate) fn issue(
        &self,
        user: &str,
        issuer: &str,
        audience: &str,
        lifetime_secs: u64,
    ) -> String {
        let lifetime = i64::try_from(lifetime_secs).unwrap_or(i64::MAX / 2);
        self.issue_spec(&TokenSpec::new(user, issuer, audience, lifetime))
    }

    /// A token as `spec` describes it.
    pub(crate) fn issue_spec(&self, spec: &TokenSpec) -> String {
        let now = now();
        let mut claims = json!({
            NAME_IDENTIFIER: spec.user,
            "sub": spec.user,
            "iss": spec.issuer,
            "aud": spec.audience,
            "nbf": now.saturating_add(spec.not_before_secs),
            "iat": now,
            "exp": now.saturating_add(spec.lifetime_secs),
        });
        if let Some(m) = claims.as_object_mut() {
            match spec.roles.as_slice() {
                [] => {}
                [one] => {
                    m.insert("role".into(), json!(one));
                }
                many => {
                    m.insert("role".into(), json!(many));
                }
            }
            if let Some(l) = &spec.level {
                m.insert("level".into(), json!(l));
            }
        }
        let Some(alg) = spec.alg else {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            return format!("{header}.{payload}.");
        };
        let key = if spec.wrong_key {
            &self.wrong
        } else {
            &self.encoding
        };
        encode(&Header::new(alg), &claims, key).unwrap_or_default()
    }

    /// The user of a valid token, or why it is refused (checks in `JsonWebTokenHandler`'s order:
    /// signature, lifetime, audience, issuer).
    pub(crate) fn validate(&self, token: &str) -> Result<User, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let (Some(header), Some(payload)) = (b64_json(h), b64_json(p)) else {
            return Err(TokenError::Malformed);
        };
        let alg = header.get("alg").and_then(Json::as_str).unwrap_or("");
        if (alg.eq_ignore_ascii_case("none") || sig.is_empty()) && !self.skip_signature {
            return Err(TokenError::SignatureInvalid);
        }
        let message = &token.as_bytes()[..h.len() + 1 + p.len()];
        let verified = match alg {
            "HS384" | "HS512" if self.hs256_only => false,
            "HS256" | "HS384" | "HS512" => {
                let a = match alg {
                    "HS256" => Algorithm::HS256,
                    "HS384" => Algorithm::HS384,
                    _ => Algorithm::HS512,
                };
                jsonwebtoken::crypto::verify(sig, message, &self.hmac, a).unwrap_or(false)
            }
            "RS256" => self.rsa.as_ref().is_some_and(|k| {
                jsonwebtoken::crypto::verify(sig, message, k, Algorithm::RS256).unwrap_or(false)
            }),
            _ => false,
        };
        if !verified && !self.skip_signature {
            return Err(TokenError::KeyNotFound);
        }
        let now = now();
        let skew = if self.skip_lifetime {
            i64::MAX / 4
        } else {
            self.settings.clock_skew_secs
        };
        let exp = numeric_date(&payload, "exp");
        let nbf = numeric_date(&payload, "nbf");
        let Some(exp) = exp else {
            return Err(TokenError::NoExpiration);
        };
        if let Some(nbf) = nbf {
            if nbf > exp && !self.skip_lifetime {
                return Err(TokenError::InvalidLifetime {
                    not_before: nbf,
                    expires: exp,
                });
            }
            if nbf > now.saturating_add(skew) {
                return Err(TokenError::NotYetValid(nbf));
            }
        }
        if exp < now.saturating_sub(skew) {
            return Err(TokenError::Expired(exp));
        }
        if let Some(want) = &self.settings.audience {
            let auds: Vec<&str> = match payload.get("aud") {
                Some(Json::String(s)) => vec![s.as_str()],
                Some(Json::Array(a)) => a.iter().filter_map(Json::as_str).collect(),
                _ => Vec::new(),
            };
            if !auds.contains(&want.as_str()) {
                return Err(TokenError::Audience(
                    (!auds.is_empty()).then(|| auds.join(", ")),
                ));
            }
        }
        if let Some(want) = &self.settings.issuer {
            let iss = payload.get("iss").and_then(Json::as_str);
            if iss != Some(want.as_str()) {
                return Err(TokenError::Issuer(iss.map(str::to_owned)));
            }
        }
        let mut claims = Vec::new();
        for (k, v) in &payload {
            let ty = inbound_claim_type(k);
            match v {
                Json::String(s) => claims.push((ty.to_owned(), s.clone())),
                Json::Number(n) => claims.push((ty.to_owned(), n.to_string())),
                Json::Bool(b) => claims.push((ty.to_owned(), b.to_string())),
                Json::Array(a) => claims.extend(
                    a.iter()
                        .filter_map(Json::as_str)
                        .map(|s| (ty.to_owned(), s.to_owned())),
                ),
                _ => {}
            }
        }
        let first = |ty: &str| claims.iter().find(|(k, _)| k == ty).map(|(_, v)| v.clone());
        Ok(User {
            name_identifier: first(NAME_IDENTIFIER),
            user_id: first(inbound_claim_type(&self.settings.user_id_claim)),
            claims,
            expires: Some(exp),
        })
    }

    /// What the request presents: the `Authorization: Bearer` token, or else — only when the
    /// request has no `Authorization` header at all — the `access_token` query parameter (what
    /// the reference app's `JwtBearerEvents.OnMessageReceived` reads on hub paths). Another
    /// scheme, or a bare token without `Bearer `, presents nothing, as for `JwtBearerHandler`.
    pub(crate) fn presented(&self, headers: &HeaderMap, query: &[(String, String)]) -> Presented {
        let header = headers
            .get(axum::http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""))
            .filter(|v| !v.is_empty());
        let token = match header {
            Some(h) => match h.get(..7).filter(|p| p.eq_ignore_ascii_case("bearer ")) {
                Some(_) => h[7..].trim().to_owned(),
                None => return Presented::Nothing,
            },
            None => match query.iter().find(|(k, _)| k == "access_token") {
                Some((_, v)) if !v.is_empty() => v.clone(),
                _ => return Presented::Nothing,
            },
        };
        if token.is_empty() {
            return Presented::Nothing;
        }
        match self.validate(&token) {
            Ok(u) => Presented::Valid(u),
            Err(e) => Presented::Invalid(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(key: &str) -> AuthSettings {
        AuthSettings {
            signing_key: key.to_owned(),
            rsa_public_key_pem: None,
            issuer: None,
            audience: None,
            clock_skew_secs: 300,
            user_id_claim: NAME_IDENTIFIER.to_owned(),
        }
    }

    fn service(key: &str) -> TokenService {
        TokenService::new(settings(key)).unwrap()
    }

    #[test]
    fn issue_and_validate() {
        let s = service("key");
        let t = s.issue("alice", "me", "you", 60);
        let u = s.validate(&t).unwrap();
        assert_eq!(u.name_identifier.as_deref(), Some("alice"));
        assert_eq!(u.user_id.as_deref(), Some("alice"));
        assert_eq!(s.validate("garbage"), Err(TokenError::Malformed));
        assert_eq!(s.validate("abc.def"), Err(TokenError::Malformed));
        assert_eq!(service("other").validate(&t), Err(TokenError::KeyNotFound));
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
    fn only_bearer_tokens_count_and_the_header_wins() {
        let s = service("key");
        let t = s.issue("alice", "me", "you", 60);
        let q = [("access_token".to_owned(), t.clone())];
        assert!(s
            .presented(&auth(&format!("Bearer {t}")), &[])
            .user()
            .is_some());
        assert!(s
            .presented(&auth(&format!("bearer {t}")), &[])
            .user()
            .is_some());
        // ASP.NET Core: 401 `Bearer` for the raw token and for another scheme.
        assert_eq!(s.presented(&auth(&t), &[]), Presented::Nothing);
        assert_eq!(
            s.presented(&auth(&format!("Basic {t}")), &q),
            Presented::Nothing
        );
        assert!(s.presented(&HeaderMap::new(), &q).user().is_some());
        let mut expired = TokenSpec::new("alice", "me", "you", -3600);
        expired.not_before_secs = -7200;
        let old = s.issue_spec(&expired);
        let got = s.presented(&auth(&format!("Bearer {old}")), &q);
        assert!(matches!(got, Presented::Invalid(TokenError::Expired(_))));
    }

    #[test]
    fn hs384_and_hs512_with_the_key_are_accepted() {
        let s = service("a key long enough for every HMAC size ............");
        for alg in [Algorithm::HS384, Algorithm::HS512] {
            let mut spec = TokenSpec::new("bob", "i", "a", 60);
            spec.alg = Some(alg);
            let u = s.validate(&s.issue_spec(&spec)).expect("accepted");
            assert_eq!(u.name_identifier.as_deref(), Some("bob"));
            spec.wrong_key = true;
            assert_eq!(
                s.validate(&s.issue_spec(&spec)),
                Err(TokenError::KeyNotFound)
            );
        }
    }

    #[test]
    fn each_bad_token_has_aspnetcores_text() {
        let s = service("key");
        let mut none = TokenSpec::new("a", "i", "a", 60);
        none.alg = None;
        let e = s.validate(&s.issue_spec(&none)).unwrap_err();
        assert_eq!(
            e.www_authenticate(),
            "Bearer error=\"invalid_token\", error_description=\"The signature is invalid\""
        );
        let mut wrong = TokenSpec::new("a", "i", "a", 60);
        wrong.wrong_key = true;
        let e = s.validate(&s.issue_spec(&wrong)).unwrap_err();
        assert_eq!(
            e.www_authenticate(),
            "Bearer error=\"invalid_token\", error_description=\"The signature key was not found\""
        );
        assert_eq!(
            TokenError::Malformed.www_authenticate(),
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(
            TokenError::Expired(1_796_287_529).description().unwrap(),
            "The token expired at '12/03/2026 08:45:29'"
        );
        assert_eq!(
            TokenError::NotYetValid(951_782_400).description().unwrap(),
            "The token is not valid before '02/29/2000 00:00:00'"
        );
        // Within the clock skew: accepted; beyond it: refused.
        let recent = TokenSpec {
            not_before_secs: -3600,
            ..TokenSpec::new("a", "i", "a", -120)
        };
        assert!(s.validate(&s.issue_spec(&recent)).is_ok());
        let future = TokenSpec {
            not_before_secs: 3600,
            ..TokenSpec::new("a", "i", "a", 7200)
        };
        assert!(matches!(
            s.validate(&s.issue_spec(&future)),
            Err(TokenError::NotYetValid(_))
        ));
    }

    #[test]
    fn issuer_audience_and_user_id_claim_are_configurable() {
        let mut cfg = settings("key");
        cfg.issuer = Some("me".into());
        cfg.audience = Some("you".into());
        cfg.user_id_claim = "level".into();
        let s = TokenService::new(cfg).unwrap();
        let mut spec = TokenSpec::new("alice", "me", "you", 60);
        spec.level = Some("gold".into());
        spec.roles = vec!["admin".into(), "ops".into()];
        let u = s.validate(&s.issue_spec(&spec)).unwrap();
        assert_eq!(u.user_id.as_deref(), Some("gold"));
        assert!(u.in_role("admin") && u.in_role("ops") && !u.in_role("x"));
        spec.issuer = "them".into();
        assert_eq!(
            s.validate(&s.issue_spec(&spec))
                .unwrap_err()
                .description()
                .unwrap(),
            "The issuer 'them' is invalid"
        );
        spec.issuer = "me".into();
        spec.audience = "others".into();
        assert_eq!(
            s.validate(&s.issue_spec(&spec))
                .unwrap_err()
                .description()
                .unwrap(),
            "The audience 'others' is invalid"
        );
    }

    #[test]
    fn rs256_with_the_public_key() {
        let private = include_bytes!("../../fixtures/keys/rs256-test-private.pem");
        let public = include_bytes!("../../fixtures/keys/rs256-test-public.pem");
        let mut cfg = settings("key");
        cfg.rsa_public_key_pem = Some(public.to_vec());
        let s = TokenService::new(cfg).unwrap();
        let claims = json!({"sub": "rsa-user", "exp": now() + 60});
        let key = EncodingKey::from_rsa_pem(private).unwrap();
        let t = encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
        assert_eq!(s.validate(&t).unwrap().user_id.as_deref(), Some("rsa-user"));
        // Without the public key the same token is refused.
        assert_eq!(service("key").validate(&t), Err(TokenError::KeyNotFound));
    }
}
