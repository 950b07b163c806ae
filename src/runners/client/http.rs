//! The runner's calls to one instance (PeerTube's `/api/v1/runners/…`), over a blocking `ureq`
//! agent: JSON bodies for register/request/accept/error/abort, streamed multipart bodies for
//! `update` and `success`, and the input downloads (POST with both tokens, redirects followed as
//! PeerTube's runner does: 301/302/303 as GET, 307/308 as POST again).

use super::multipart::{boundary, Form};
use crate::runners::protocol::{
    fields, AbortBody, AcceptResult, AcceptedJob, AvailableJob, CustomUpload, ErrorBody,
    JobTokensBody, JobType, RegisterBody, RegisterResult, RequestBody, RequestResult,
    RunnerTokenBody,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Redirects followed by a download at most.
const MAX_REDIRECTS: usize = 5;

/// What a call to the instance can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No answer (connection refused, reset, timed out).
    #[error("{method} {url}: {error}")]
    Transport {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// What failed.
        error: ureq::Error,
    },
    /// The instance answered with an error status.
    #[error("{method} {url}: HTTP {status}{}: {detail}", .code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The problem document's `code` (`unknown_runner_token`, …).
        code: Option<String>,
        /// The problem document's `detail`, or the body.
        detail: String,
    },
    /// The answer is not what PeerTube sends.
    #[error("{url}: unexpected answer: {reason}")]
    BadAnswer {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {error}", .path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
}

impl ApiError {
    /// The problem document's error code.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status, when the instance answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the same call may succeed later (no answer, or a 502/503/504 of a restarting
    /// instance behind a proxy).
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// The runner token is not known there (`unknown_runner_token`).
    pub fn is_unknown_runner(&self) -> bool {
        self.code() == Some(crate::runners::protocol::UNKNOWN_RUNNER_TOKEN)
    }
}

/// A job the runner holds: its uuid and its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    /// The job's uuid.
    pub uuid: String,
    /// `ptrjt-…`.
    pub job_token: String,
}

/// The runner's connection to one instance.
#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    base: String,
    runner_token: String,
}

fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(15)))
        // `success` may wait for the instance to publish (PeerTube develop: bounded wait).
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .user_agent(concat!("fleuve-runner/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// The runner's version, sent in `register` and `request`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

impl Api {
    /// A connection to `base` (`https://videos.example.org`) with `runner_token`.
    pub fn new(base: &str, runner_token: &str) -> Api {
        Api {
            agent: agent(),
            base: super::config::normalize_url(base),
            runner_token: runner_token.to_string(),
        }
    }

    /// The instance's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The runner token.
    pub fn runner_token(&self) -> &str {
        &self.runner_token
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/runners{path}", self.base)
    }

    /// `POST /register`: a runner token for `name` on `base`.
    pub fn register(
        base: &str,
        registration_token: &str,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisterResult, ApiError> {
        let api = Api::new(base, "");
        let body = RegisterBody {
            registration_token: registration_token.to_string(),
            name: name.to_string(),
            description: description.map(str::to_string),
            version: Some(VERSION.into()),
        };
        api.post_json("/register", &body)
    }

    /// `POST /unregister`.
    pub fn unregister(&self) -> Result<(), ApiError> {
        let body = RunnerTokenBody {
            runner_token: self.runner_token.clone(),
        };
        self.post_json_empty("/unregister", &body)
    }

    /// `POST /jobs/request`: the pending jobs of `types` (all when `None`).
    pub fn request(&self, types: Option<&[JobType]>) -> Result<Vec<AvailableJob>, ApiError> {
        let body = RequestBody {
            runner_token: self.runner_token.clone(),
            job_types: types.map(<[JobType]>::to_vec),
            version: Some(VERSION.into()),
        };
        let r: RequestResult = self.post_json("/jobs/request", &body)?;
        Ok(r.available_jobs)
    }

    /// `POST /jobs/{uuid}/accept`.
    pub fn accept(&self, uuid: &str) -> Result<AcceptedJob, ApiError> {
        let body = RunnerTokenBody {
            runner_token: self.runner_token.clone(),
        };
        let r: AcceptResult = self.post_json(&format!("/jobs/{uuid}/accept"), &body)?;
        Ok(r.job)
    }

    fn tokens(&self, job: &JobRef) -> Form {
        Form::new()
            .text(fields::RUNNER_TOKEN, self.runner_token.clone())
            .text(fields::JOB_TOKEN, job.job_token.clone())
    }

    /// `POST /jobs/{uuid}/update` (multipart, as PeerTube's runner sends it) with `progress`.
    pub fn update(&self, job: &JobRef, progress: Option<u8>) -> Result<(), ApiError> {
        self.update_with(job, progress, &[], &[])
    }

    /// `POST /jobs/{uuid}/update` with text `payload` fields and `files` as `(field, path)`
    /// too (a live job's `add-chunk`: `payload[type]`, `payload[videoChunkFile]`, …).
    pub fn update_with(
        &self,
        job: &JobRef,
        progress: Option<u8>,
        payload: &[(&str, String)],
        files: &[(&str, &Path)],
    ) -> Result<(), ApiError> {
        let mut form = self.tokens(job);
        if let Some(p) = progress {
            form = form.text(fields::PROGRESS, p.min(100).to_string());
        }
        for (name, value) in payload {
            form = form.text(name, value.clone());
        }
        for (name, path) in files {
            form = form.file(name, path);
        }
        self.post_multipart(&format!("/jobs/{}/update", job.uuid), form)
    }

    /// `POST /jobs/{uuid}/success` with `files` as `(field, path)` and text `extra` fields.
    pub fn success(
        &self,
        job: &JobRef,
        files: &[(&str, &Path)],
        extra: &[(&str, String)],
    ) -> Result<(), ApiError> {
        let mut form = self.tokens(job);
        for (name, value) in extra {
            form = form.text(name, value.clone());
        }
        for (name, path) in files {
            form = form.file(name, path);
        }
        self.post_multipart(&format!("/jobs/{}/success", job.uuid), form)
    }

    /// `POST /jobs/{uuid}/error`.
    pub fn error(&self, job: &JobRef, message: &str) -> Result<(), ApiError> {
        // PeerTube caps the message (`isRunnerJobErrorMessageValid`: 1 to 10000 characters).
        let message: String = message.chars().take(5000).collect();
        let body = ErrorBody {
            runner_token: self.runner_token.clone(),
            job_token: job.job_token.clone(),
            message: if message.is_empty() {
                "unknown error".into()
            } else {
                message
            },
        };
        self.post_json_empty(&format!("/jobs/{}/error", job.uuid), &body)
    }

    /// `POST /jobs/{uuid}/abort`.
    pub fn abort(&self, job: &JobRef, reason: &str) -> Result<(), ApiError> {
        let body = AbortBody {
            runner_token: self.runner_token.clone(),
            job_token: job.job_token.clone(),
            reason: reason.to_string(),
        };
        self.post_json_empty(&format!("/jobs/{}/abort", job.uuid), &body)
    }

    /// Downloads `url` (an input of `job`) into `to`: POST with both tokens; 301/302/303 are
    /// followed with a GET, 307/308 with the same POST. Returns the bytes written.
    pub fn download(&self, job: &JobRef, url: &str, to: &Path, max: u64) -> Result<u64, ApiError> {
        let body = serde_json::to_vec(&JobTokensBody {
            runner_token: self.runner_token.clone(),
            job_token: job.job_token.clone(),
        })
        .unwrap_or_default();
        let mut current = url.to_string();
        let mut post = true;
        for _ in 0..=MAX_REDIRECTS {
            let method = if post { "POST" } else { "GET" };
            let transport = |error| ApiError::Transport {
                method,
                url: current.clone(),
                error,
            };
            let mut response = if post {
                self.agent
                    .post(&current)
                    .header("Content-Type", "application/json")
                    .send(&body[..])
                    .map_err(transport)?
            } else {
                self.agent.get(&current).call().map_err(transport)?
            };
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| ApiError::BadAnswer {
                        url: current.clone(),
                        reason: format!("HTTP {status} without a Location"),
                    })?;
                current = resolve(&current, location);
                post = post && matches!(status, 307 | 308);
                continue;
            }
            if status >= 400 {
                return Err(status_error(method, &current, status, &mut response));
            }
            let mut file = std::fs::File::create(to).map_err(|error| ApiError::File {
                path: to.to_path_buf(),
                error,
            })?;
            let mut reader = response.body_mut().as_reader();
            let copied = copy_bounded(&mut reader, &mut file, max);
            if copied.is_err() {
                drop(file);
                let _ = std::fs::remove_file(to);
            }
            return copied.map_err(|error| ApiError::Transport {
                method,
                url: current.clone(),
                error: ureq::Error::Io(error),
            });
        }
        Err(ApiError::BadAnswer {
            url: url.to_string(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        let url = self.url(path);
        let mut response = self
            .agent
            .post(&url)
            .header("Accept", "application/json")
            .send_json(body)
            .map_err(|error| ApiError::Transport {
                method: "POST",
                url: url.clone(),
                error,
            })?;
        let status = response.status().as_u16();
        if status >= 300 {
            return Err(status_error("POST", &url, status, &mut response));
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|error| ApiError::Transport {
                method: "POST",
                url: url.clone(),
                error,
            })?;
        serde_json::from_str(&text).map_err(|e| ApiError::BadAnswer {
            url,
            reason: e.to_string(),
        })
    }

    fn post_json_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ApiError> {
        let url = self.url(path);
        let mut response =
            self.agent
                .post(&url)
                .send_json(body)
                .map_err(|error| ApiError::Transport {
                    method: "POST",
                    url: url.clone(),
                    error,
                })?;
        finish_empty("POST", &url, &mut response)
    }

    fn post_multipart(&self, path: &str, form: Form) -> Result<(), ApiError> {
        self.send_multipart("POST", &self.url(path), form)
    }

    /// Uploads one output file to its `*CustomUpload` target (PeerTube develop: multipart
    /// field `file`, `PUT` unless the payload says `POST`) instead of in `success`.
    pub fn custom_upload(&self, target: &CustomUpload, path: &Path) -> Result<(), ApiError> {
        let method = match target.method.as_deref().map(str::to_ascii_uppercase) {
            None => "PUT",
            Some(m) if m == "PUT" => "PUT",
            Some(m) if m == "POST" => "POST",
            Some(m) => {
                return Err(ApiError::BadAnswer {
                    url: target.url.clone(),
                    reason: format!("custom upload method {m:?}; expected PUT or POST"),
                })
            }
        };
        self.send_multipart(method, &target.url, Form::new().file("file", path))
    }

    fn send_multipart(&self, method: &'static str, url: &str, form: Form) -> Result<(), ApiError> {
        let mut body = form
            .into_body(&boundary())
            .map_err(|error| ApiError::File {
                path: Path::new(url).to_path_buf(),
                error,
            })?;
        let request = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        let mut response = request
            .header("Content-Type", &body.content_type)
            .header("Content-Length", body.len.to_string())
            .send(ureq::SendBody::from_reader(&mut body.reader))
            .map_err(|error| ApiError::Transport {
                method,
                url: url.to_string(),
                error,
            })?;
        finish_empty(method, url, &mut response)
    }
}

fn finish_empty(
    method: &'static str,
    url: &str,
    response: &mut ureq::http::Response<ureq::Body>,
) -> Result<(), ApiError> {
    let status = response.status().as_u16();
    if status >= 300 {
        return Err(status_error(method, url, status, response));
    }
    // Read to the end so the connection goes back to the pool.
    let _ = response.body_mut().read_to_string();
    Ok(())
}

fn status_error(
    method: &'static str,
    url: &str,
    status: u16,
    response: &mut ureq::http::Response<ureq::Body>,
) -> ApiError {
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .unwrap_or_default();
    let (code, detail) = problem(&text);
    ApiError::Status {
        method,
        url: url.to_string(),
        status,
        code,
        detail,
    }
}

/// The `code` and `detail` of a PeerTube problem document (`application/problem+json`); the
/// body itself (shortened) when it is not one.
pub fn problem(body: &str) -> (Option<String>, String) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return (None, body.chars().take(300).collect());
    };
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let code = s("code").or_else(|| {
        // Older PeerTube: only `type`, a docs URL ending in the code.
        s("type").and_then(|t| {
            let tail = t.rsplit(['/', '#']).next()?.to_string();
            tail.contains('_').then_some(tail)
        })
    });
    let detail = s("detail")
        .or_else(|| s("error"))
        .or_else(|| s("message"))
        .unwrap_or_else(|| body.chars().take(300).collect());
    (code, detail)
}

/// `location` made absolute against `current`.
pub fn resolve(current: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let scheme_end = current.find("://").map(|i| i + 3).unwrap_or(0);
    let origin_end = current[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(current.len());
    if let Some(rest) = location.strip_prefix("//") {
        return format!("{}{rest}", &current[..scheme_end]);
    }
    if location.starts_with('/') {
        return format!("{}{location}", &current[..origin_end]);
    }
    let dir_end = current
        .rfind('/')
        .filter(|i| *i >= origin_end)
        .unwrap_or(origin_end);
    format!("{}/{location}", &current[..dir_end])
}

/// Copies at most `max` bytes of `from` into `to`; a longer body is an error naming the limit.
fn copy_bounded(from: &mut dyn Read, to: &mut dyn Write, max: u64) -> std::io::Result<u64> {
    let n = std::io::copy(&mut from.take(max.saturating_add(1)), to)?;
    if n > max {
        return Err(std::io::Error::other(format!(
            "the input is larger than {max} bytes ([jobs] max_input_bytes)"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downloads_stop_at_their_limit() {
        let mut out = Vec::new();
        let n = copy_bounded(&mut &[7u8; 10][..], &mut out, 10).unwrap();
        assert_eq!((n, out.len()), (10, 10));
        let e = copy_bounded(&mut &[7u8; 11][..], &mut Vec::new(), 10).unwrap_err();
        assert!(e.to_string().contains("larger than 10 bytes"), "{e}");
    }

    #[test]
    fn problem_documents_give_their_code() {
        let body = r#"{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/unknown_runner_token","detail":"Unknown runner token","status":404,"code":"unknown_runner_token"}"#;
        assert_eq!(
            problem(body),
            (
                Some("unknown_runner_token".into()),
                "Unknown runner token".into()
            )
        );
        let old = r#"{"type":"https://docs.joinpeertube.org/api-rest-reference.html#section/Errors/runner_job_not_in_processing_state","detail":"Job is not in processing state"}"#;
        assert_eq!(
            problem(old).0.as_deref(),
            Some("runner_job_not_in_processing_state")
        );
        assert_eq!(problem("oops"), (None, "oops".into()));
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(resolve("http://a/x/y", "http://b/z"), "http://b/z");
        assert_eq!(resolve("http://a:1/x/y", "/z?s=1"), "http://a:1/z?s=1");
        assert_eq!(resolve("https://a/x/y", "//c/d"), "https://c/d");
        assert_eq!(resolve("http://a/x/y", "z"), "http://a/x/z");
    }
}
