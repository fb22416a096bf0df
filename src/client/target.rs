//! Where and how to reach the server: the hub URL, extra headers, a bearer token.

/// Where and how to reach the server.
#[derive(Debug, Clone)]
pub struct Target {
    /// The hub URL (`http://host/conformance`).
    pub hub_url: reqwest::Url,
    /// Extra headers for every request.
    pub headers: Vec<(String, String)>,
    /// A bearer token for every request (header for HTTP, `access_token` for WS/SSE).
    pub access_token: Option<String>,
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
        })
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
