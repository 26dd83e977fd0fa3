//! The HTTP client a pool scrapes with.

use narthex_config::http_client::HttpClientConfig;

#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpClientError(String);

impl HttpClient {
    pub fn new(config: &HttpClientConfig) -> Result<HttpClient, HttpClientError> {
        let redirects = if config.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = reqwest::Client::builder()
            .user_agent(concat!("Narthex/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .build()
            .map_err(|e| HttpClientError(e.to_string()))?;
        Ok(HttpClient { client })
    }

    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url)
    }
}
