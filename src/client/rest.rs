//! The REST calls `fleuve ingest` makes before and after the upload: PeerTube's password login,
//! the user's channel, and a video's state, over one blocking `ureq` agent.

use super::protocol::{problem_detail, Endpoint, Target};
use super::ClientError;
use serde_json::Value;
use std::time::Duration;

/// An authenticated connection to one server.
pub struct Client {
    agent: ureq::Agent,
    /// Where requests go.
    pub endpoint: Endpoint,
    token: Option<String>,
}

/// An answer whose status is known and whose body has been read.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The `Range` header, on 308s.
    pub range: Option<String>,
    /// The `Location` header, on 201s.
    pub location: Option<String>,
    /// `Retry-After` in seconds, on 429/503.
    pub retry_after: Option<u64>,
    /// The body.
    pub body: String,
}

impl Answer {
    /// The body as JSON, or a protocol error naming the request.
    pub fn json(&self, what: &str) -> Result<Value, ClientError> {
        serde_json::from_str(&self.body).map_err(|e| ClientError::Protocol {
            what: what.to_string(),
            reason: format!("the answer is not JSON ({e})"),
        })
    }

    /// The problem document's detail, for error messages.
    pub fn detail(&self) -> String {
        problem_detail(self.status, &self.body)
    }
}

impl Client {
    /// A client with no credentials yet.
    pub fn new(endpoint: Endpoint) -> Client {
        let config = ureq::Agent::config_builder()
            // 4xx/5xx carry problem documents we want to show.
            .http_status_as_error(false)
            // 308 is node-uploadx's "resume incomplete", not a redirect.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_send_body(Some(Duration::from_secs(300)))
            .timeout_recv_response(Some(Duration::from_secs(300)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .user_agent(concat!("fleuve-ingest/", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            endpoint,
            token: None,
        }
    }

    /// Uses a bearer token for every later request.
    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    /// The target of an API path on this server.
    pub fn target(&self, path: &str) -> Target {
        Target {
            url: self.endpoint.url(path),
            host: self.endpoint.host.clone(),
        }
    }

    fn decorate<B>(
        &self,
        mut rb: ureq::RequestBuilder<B>,
        target: &Target,
    ) -> ureq::RequestBuilder<B> {
        if let Some(h) = &target.host {
            rb = rb.header("Host", h);
        }
        if let Some(t) = &self.token {
            rb = rb.header("Authorization", format!("Bearer {t}"));
        }
        rb.header("Accept", "application/json")
    }

    /// `GET target`.
    pub fn get(&self, target: &Target) -> Result<Answer, ClientError> {
        let rb = self.decorate(self.agent.get(&target.url), target);
        finish("GET", target, rb.call())
    }

    /// `POST target` with a form body.
    pub fn post_form(&self, target: &Target, form: &[(&str, &str)]) -> Result<Answer, ClientError> {
        let rb = self.decorate(self.agent.post(&target.url), target);
        finish("POST", target, rb.send_form(form.iter().copied()))
    }

    /// `POST target` with a JSON body and extra headers.
    pub fn post_json(
        &self,
        target: &Target,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<Answer, ClientError> {
        let mut rb = self.decorate(self.agent.post(&target.url), target);
        for (k, v) in headers {
            rb = rb.header(*k, v);
        }
        finish("POST", target, rb.send_json(body))
    }

    /// `PUT target` with `Content-Range` and a body of `len` bytes read from `body`.
    pub fn put_bytes(
        &self,
        target: &Target,
        content_range: &str,
        len: u64,
        body: &mut dyn std::io::Read,
    ) -> Result<Answer, ClientError> {
        let rb = self
            .decorate(self.agent.put(&target.url), target)
            .header("Content-Type", "application/octet-stream")
            .header("Content-Range", content_range)
            .header("Content-Length", len.to_string());
        finish("PUT", target, rb.send(ureq::SendBody::from_reader(body)))
    }

    /// Logs in with PeerTube's password grant and keeps the access token.
    pub fn login(&mut self, username: &str, password: &str) -> Result<(), ClientError> {
        let clients = self.target("/api/v1/oauth-clients/local");
        let answer = expect_ok("GET", &clients, self.get(&clients)?)?;
        let v = answer.json("the local OAuth client")?;
        let field = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ClientError::Protocol {
                    what: format!("GET {}", clients.url),
                    reason: format!("the answer has no {k:?}"),
                })
        };
        let (id, secret) = (field("client_id")?, field("client_secret")?);
        let token = self.target("/api/v1/users/token");
        let form = [
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        let answer = self.post_form(&token, &form)?;
        if answer.status != 200 {
            return Err(ClientError::Login {
                user: username.to_string(),
                url: token.url,
                status: answer.status,
                detail: answer.detail(),
            });
        }
        let access = answer
            .json("the token answer")?
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ClientError::Protocol {
                what: format!("POST {}", token.url),
                reason: "the answer has no \"access_token\"".into(),
            })?;
        self.set_token(access);
        Ok(())
    }

    /// The id of the logged-in user's first channel.
    pub fn first_channel(&self) -> Result<u64, ClientError> {
        let me = self.target("/api/v1/users/me");
        let v = expect_ok("GET", &me, self.get(&me)?)?.json("the user")?;
        v.get("videoChannels")
            .and_then(Value::as_array)
            .and_then(|cs| cs.first())
            .and_then(|c| c.get("id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| ClientError::Protocol {
                what: format!("GET {}", me.url),
                reason: "the user has no video channel (videoChannels[0].id)".into(),
            })
    }
}

/// Turns a non-2xx answer into an API error.
pub fn expect_ok(method: &str, target: &Target, answer: Answer) -> Result<Answer, ClientError> {
    if (200..300).contains(&answer.status) {
        Ok(answer)
    } else {
        Err(ClientError::Api {
            request: format!("{method} {}", target.url),
            status: answer.status,
            detail: answer.detail(),
        })
    }
}

fn finish(
    method: &str,
    target: &Target,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Answer, ClientError> {
    let transport = |error| ClientError::Transport {
        request: format!("{method} {}", target.url),
        error,
    };
    let mut response = result.map_err(transport)?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status().as_u16();
    let range = header("range");
    let location = header("location");
    let retry_after = header("retry-after").and_then(|s| s.trim().parse().ok());
    let body = response
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .lossy_utf8(true)
        .read_to_string()
        .map_err(transport)?;
    tracing::debug!(method, url = %target.url, status, "answer");
    Ok(Answer {
        status,
        range,
        location,
        retry_after,
        body,
    })
}
