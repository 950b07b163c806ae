//! E-mail: a durable outbox in the store (`jobs`: [`MailKey`]) and one thread that sends it
//! through `[smtp]` with `lettre`. Queueing is a store write, so a message asked for survives a
//! restart; the sender retries a failed message with backoff (1 minute, doubling, at most an hour
//! apart) until it goes or is `smtp.give_up_secs` old. Without `smtp.host` nothing is queued.

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::store::tables::{Mail, MailKey, Sequence};
use crate::store::{Durability, Store, StoreError};
use crate::time::now_secs;
use lettre::message::{header::ContentType, Mailbox};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// First retry delay, doubled per failure up to [`MAX_BACKOFF_SECS`].
const FIRST_BACKOFF_SECS: u64 = 60;
/// Longest delay between two attempts.
const MAX_BACKOFF_SECS: u64 = 3600;
/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The outbox and its sender.
pub struct Mailer {
    config: SmtpConfig,
    from: String,
    store: Arc<Store>,
    wake: (Mutex<bool>, Condvar),
    /// Messages per recipient: nobody can make this instance flood an address.
    per_recipient: crate::ratelimit::RateLimiter<String>,
}

/// Messages one address may be sent per hour.
const PER_RECIPIENT_PER_HOUR: u32 = 6;

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.config.host)
            .finish_non_exhaustive()
    }
}

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// No SMTP server is configured.
    #[error("this instance sends no e-mail (smtp.host is not set)")]
    Off,
    /// The address cannot be a recipient.
    #[error("{0:?} is not an e-mail address")]
    BadAddress(String),
    /// The address was sent too many messages lately.
    #[error("too many e-mails to {0:?} lately; try again in {1} s")]
    TooMany(String, u64),
    /// The outbox could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Mailer {
    /// The mailer for `config` (`public_host`: the default `From` domain).
    pub fn new(config: SmtpConfig, public_host: &str, store: Arc<Store>) -> Mailer {
        let from = if config.from_address.is_empty() {
            let host = public_host.split(':').next().unwrap_or("localhost");
            format!("noreply@{host}")
        } else {
            config.from_address.clone()
        };
        Mailer {
            config,
            from,
            store,
            wake: (Mutex::new(false), Condvar::new()),
            per_recipient: crate::ratelimit::RateLimiter::new(
                PER_RECIPIENT_PER_HOUR,
                Duration::from_secs(3600),
            ),
        }
    }

    /// Whether e-mail can be sent at all.
    pub fn enabled(&self) -> bool {
        !self.config.host.is_empty()
    }

    /// Queues a plain-text message to `to`; it is sent by the sender thread.
    pub fn queue(&self, to: &str, subject: &str, text: &str) -> Result<u64, MailError> {
        if !self.enabled() {
            return Err(MailError::Off);
        }
        to.parse::<Mailbox>()
            .map_err(|_| MailError::BadAddress(to.to_string()))?;
        self.per_recipient
            .check(to.to_ascii_lowercase())
            .map_err(|wait| MailError::TooMany(to.to_string(), wait))?;
        let id = self.store.next_id(Sequence::Mail)?;
        let now = now_secs();
        let mail = Mail {
            to: to.to_string(),
            subject: subject.to_string(),
            text: text.to_string(),
            created_at: now,
            attempts: 0,
            next_at: now,
        };
        self.store.put(&MailKey(id), &mail, Durability::Sync)?;
        tracing::info!(mail = id, to = %to, subject = %subject, "e-mail queued");
        let (lock, cv) = &self.wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_one();
        Ok(id)
    }

    fn transport(&self) -> Result<SmtpTransport, lettre::transport::smtp::Error> {
        let c = &self.config;
        let builder = match c.security {
            SmtpSecurity::None => SmtpTransport::builder_dangerous(&c.host),
            SmtpSecurity::Starttls => SmtpTransport::starttls_relay(&c.host)?,
            SmtpSecurity::Tls => SmtpTransport::relay(&c.host)?,
        };
        let mut builder = builder.port(c.port).timeout(Some(SMTP_TIMEOUT));
        if !c.username.is_empty() {
            builder = builder.credentials(Credentials::new(c.username.clone(), c.password.clone()));
        }
        Ok(builder.build())
    }

    fn send(&self, mail: &Mail) -> Result<(), String> {
        let message = Message::builder()
            .from(
                self.from
                    .parse::<Mailbox>()
                    .map_err(|e| format!("smtp.from_address {:?}: {e}", self.from))?,
            )
            .to(mail
                .to
                .parse::<Mailbox>()
                .map_err(|e| format!("recipient {:?}: {e}", mail.to))?)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| e.to_string())?;
        self.transport()
            .map_err(|e| e.to_string())?
            .send(&message)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Sends what is due; returns the seconds until the next message is due (if any).
    fn pass(&self) -> Result<Option<u64>, StoreError> {
        let now = now_secs();
        let mut next: Option<u64> = None;
        for (key, mut mail) in self.store.scan::<MailKey>(&())? {
            if mail.next_at > now {
                next = Some(next.map_or(mail.next_at, |n| n.min(mail.next_at)));
                continue;
            }
            match self.send(&mail) {
                Ok(()) => {
                    self.store.delete(&key, Durability::Sync)?;
                    tracing::info!(mail = key.0, to = %mail.to, subject = %mail.subject, attempts = mail.attempts + 1, "e-mail sent");
                }
                Err(why) if now.saturating_sub(mail.created_at) >= self.config.give_up_secs => {
                    self.store.delete(&key, Durability::Sync)?;
                    tracing::warn!(mail = key.0, to = %mail.to, error = %why, "e-mail given up");
                }
                Err(why) => {
                    mail.attempts += 1;
                    let wait =
                        (FIRST_BACKOFF_SECS << (mail.attempts - 1).min(6)).min(MAX_BACKOFF_SECS);
                    mail.next_at = now + wait;
                    self.store.put(&key, &mail, Durability::Sync)?;
                    next = Some(next.map_or(mail.next_at, |n| n.min(mail.next_at)));
                    tracing::warn!(mail = key.0, to = %mail.to, error = %why, retry_in_s = wait, "e-mail not sent; will retry");
                }
            }
        }
        Ok(next.map(|n| n.saturating_sub(now_secs())))
    }

    /// Starts the sender thread (nothing when no SMTP server is configured).
    pub fn spawn(self: &Arc<Self>) -> std::io::Result<()> {
        if !self.enabled() {
            return Ok(());
        }
        let me = self.clone();
        std::thread::Builder::new()
            .name("mail".into())
            .spawn(move || loop {
                let wait = match me.pass() {
                    Ok(Some(secs)) => Duration::from_secs(secs.clamp(1, MAX_BACKOFF_SECS)),
                    Ok(None) => Duration::from_secs(MAX_BACKOFF_SECS),
                    Err(e) => {
                        tracing::error!(error = %e, "e-mail outbox unreadable; retrying in a minute");
                        Duration::from_secs(FIRST_BACKOFF_SECS)
                    }
                };
                let (lock, cv) = &me.wake;
                let mut woken = lock.lock().unwrap_or_else(|p| p.into_inner());
                if !*woken {
                    woken = cv
                        .wait_timeout(woken, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                *woken = false;
            })
            .map(|_| ())
    }
}
