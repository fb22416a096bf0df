//! Where and how to reach the server: the hub URL, extra headers, a bearer token.

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The hub URL (`http://host/conformance`).
    pub hub_url: reqwest::Url,
    /// Extra headers for every request.
    pub headers: Vec<(String, String)>,
    /// A bearer token for every request (placed as `token_in` says).
    pub access_token: Option<String>,
    /// Where the token goes.
    pub token_in: TokenIn,
    /// How HTTPS certificates are checked (`--insecure`, `--ca-cert`).
    pub tls: Tls,
}

/// Where a client puts its bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenIn {
    /// As the browser clients do: `Authorization: Bearer` on negotiate, POSTs, polls and
    /// DELETE; the `access_token` query parameter on the WebSocket upgrade and the SSE GET
    /// (browsers cannot set headers on those).
    #[default]
    Browser,
    /// `Authorization: Bearer` on every request, the WebSocket upgrade and SSE GET included.
    Header,
    /// The `access_token` query parameter on every request, no header.
    Query,
}

/// How HTTPS certificates of the target are checked.
#[derive(Debug, Clone, Default)]
pub struct Tls {
    /// Accept any certificate (`--insecure`, development servers only).
    pub insecure: bool,
    /// Extra trusted roots (`--ca-cert FILE`, PEM).
    pub ca_certs: Vec<reqwest::Certificate>,
}

impl Tls {
    /// `--insecure` and `--ca-cert FILE…`; the error names the file that is not a PEM
    /// certificate.
    pub fn from_args(insecure: bool, ca_cert_files: &[std::path::PathBuf]) -> Result<Tls, String> {
        let mut ca_certs = Vec::new();
        for f in ca_cert_files {
            let pem = std::fs::read(f)
                .map_err(|e| format!("--ca-cert {}: cannot read it: {e}", f.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("--ca-cert {}: not a PEM certificate: {e}", f.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--ca-cert {}: no PEM certificate in it",
                    f.display()
                ));
            }
            ca_certs.extend(certs);
        }
        Ok(Tls { insecure, ca_certs })
    }
}

impl Target {
    /// A target from the command line: an http(s) hub URL, `Name: value` header lines and a
    /// bearer token; the error names the bad argument.
    pub fn parse(url: &str, headers: &[String], token: Option<String>) -> Result<Target, String> {
        let hub_url =
            reqwest::Url::parse(url).map_err(|e| format!("invalid --target URL '{url}': {e}"))?;
        if !matches!(hub_url.scheme(), "http" | "https") {
            return Err(format!("--target must be an http(s) URL, not '{url}'"));
        }
        let headers = headers
            .iter()
            .map(|h| match h.split_once(':') {
                Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
                None => Err(format!("--header '{h}' must look like 'Name: value'")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Target {
            hub_url,
            headers,
            access_token: token,
            token_in: TokenIn::default(),
            tls: Tls::default(),
        })
    }

    /// The token for an `Authorization: Bearer` header; `stream_open` = the WebSocket upgrade
    /// or the SSE GET.
    pub(crate) fn bearer(&self, stream_open: bool) -> Option<&str> {
        let t = self.access_token.as_deref()?;
        match self.token_in {
            TokenIn::Header => Some(t),
            TokenIn::Browser => (!stream_open).then_some(t),
            TokenIn::Query => None,
        }
    }

    /// The token for the `access_token` query parameter; `stream_open` as for [`Target::bearer`].
    pub(crate) fn query_token(&self, stream_open: bool) -> Option<&str> {
        let t = self.access_token.as_deref()?;
        match self.token_in {
            TokenIn::Query => Some(t),
            TokenIn::Browser => stream_open.then_some(t),
            TokenIn::Header => None,
        }
    }

    /// A URL relative to the hub URL: `suffix` appended to its path, then `query`.
    pub fn url(&self, suffix: &str, query: &str) -> reqwest::Url {
        let mut u = self.hub_url.clone();
        let path = format!("{}{}", u.path().trim_end_matches('/'), suffix);
        u.set_path(&path);
        u.set_query((!query.is_empty()).then_some(query));
        u
    }

    /// A URL at the hub's parent path (`/contract/token` next to `/conformance`).
    pub fn sibling_url(&self, path: &str) -> reqwest::Url {
        let mut u = self.hub_url.clone();
        let parent = match u.path().trim_end_matches('/').rsplit_once('/') {
            Some((p, _)) => p.to_owned(),
            None => String::new(),
        };
        u.set_path(&format!("{parent}/{}", path.trim_start_matches('/')));
        u.set_query(None);
        u
    }
}
