//! Login throttling: failed logins counted per (client address, account), per client address
//! and per account, so password guessing stays slow without other people's failures locking a
//! user out.
//!
//! * The client address is the connection's peer address (Fleuve terminates the connections
//!   itself; `X-Forwarded-For` is not read, so it cannot be forged). IPv6 addresses count by
//!   their /64, which one host or home usually holds whole: rotating inside it gains nothing.
//! * Only failures count: an attempt is counted when it starts (so a burst of parallel guesses
//!   cannot outrun the count) and taken back when it succeeds.
//! * Limits per 5 minutes: `auth.login_attempts_per_5min` failures for one account from one
//!   address; `auth.login_failures_per_address_per_5min` from one address, all accounts
//!   together (spraying many accounts); `auth.login_failures_per_account_per_5min` for one
//!   account, all addresses together (guessing from many addresses).
//! * An address that has logged into an account (since the server started) is held only by the
//!   per-(address, account) limit for it: an administrator behind a shared NAT, or whose account
//!   is being guessed at from elsewhere, still gets in.

use crate::config::AuthConfig;
use crate::ratelimit::Windows;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window of every login limit.
const WINDOW: Duration = Duration::from_secs(300);
/// (address, account) pairs remembered as having logged in.
const KNOWN_PAIRS: usize = 100_000;

/// Whose failures filled a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// This account from this address.
    AccountFromAddress,
    /// This address, all accounts together.
    Address,
    /// This account, all addresses together.
    Account,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::AccountFromAddress => "for this account from this address",
            Scope::Address => "from this address",
            Scope::Account => "for this account",
        })
    }
}

/// A login attempt refused before any password was checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins {scope}; retry in {retry_after} s")]
pub struct Refused {
    /// The limit reached.
    pub scope: Scope,
    /// Seconds until that limit's window ends.
    pub retry_after: u64,
}

/// The address failures are counted under: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

struct Counts {
    pair: Windows<(IpAddr, String)>,
    address: Windows<IpAddr>,
    account: Windows<String>,
    known: lru::LruCache<(IpAddr, String), ()>,
}

/// The login limits (one per process, in [`crate::app::App`]).
pub struct LoginThrottle {
    per_pair: u32,
    per_address: u32,
    per_account: u32,
    counts: Mutex<Counts>,
}

/// An admitted attempt, counted as a failure unless [`Attempt::succeeded`] is called.
#[must_use = "an attempt counts as a failure unless it is marked as succeeded"]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    address: IpAddr,
    account: String,
}

impl LoginThrottle {
    /// The limits of `config` (each 0 = unlimited).
    pub fn new(config: &AuthConfig) -> LoginThrottle {
        LoginThrottle {
            per_pair: config.login_attempts_per_5min,
            per_address: config.login_failures_per_address_per_5min,
            per_account: config.login_failures_per_account_per_5min,
            counts: Mutex::new(Counts {
                pair: Windows::new(WINDOW),
                address: Windows::new(WINDOW),
                account: Windows::new(WINDOW),
                known: lru::LruCache::new(NonZeroUsize::new(KNOWN_PAIRS).expect("non-zero")),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a login attempt for `account` (lower-cased user name; empty when the request
    /// names none: refresh-token grants, malformed requests) from `ip`, counting it as a failure
    /// until it succeeds; refused when a limit is reached.
    pub fn begin(&self, ip: IpAddr, account: &str) -> Result<Attempt<'_>, Refused> {
        let now = Instant::now();
        let address = address_key(ip);
        let pair = (address, account.to_string());
        let mut c = self.lock();
        let known = !account.is_empty() && c.known.get(&pair).is_some();
        let over = |limit: u32, count: u32| limit != 0 && count >= limit;
        let refused = if over(self.per_pair, c.pair.count(&pair, now)) {
            Some((Scope::AccountFromAddress, c.pair.wait(&pair, now)))
        } else if !known && over(self.per_address, c.address.count(&address, now)) {
            Some((Scope::Address, c.address.wait(&address, now)))
        } else if !known
            && !account.is_empty()
            && over(self.per_account, c.account.count(&pair.1, now))
        {
            Some((Scope::Account, c.account.wait(&pair.1, now)))
        } else {
            None
        };
        if let Some((scope, retry_after)) = refused {
            return Err(Refused { scope, retry_after });
        }
        c.pair.add(pair.clone(), now);
        c.address.add(address, now);
        if !account.is_empty() {
            c.account.add(pair.1.clone(), now);
        }
        Ok(Attempt {
            throttle: self,
            address,
            account: pair.1,
        })
    }
}

impl Attempt<'_> {
    /// The attempt succeeded: it no longer counts, the (address, account) failures are
    /// forgotten, and the address is known for the account from now on.
    pub fn succeeded(self) {
        let now = Instant::now();
        let mut c = self.throttle.lock();
        let pair = (self.address, self.account);
        c.pair.clear(&pair);
        c.address.remove_one(&self.address, now);
        if !pair.1.is_empty() {
            c.account.remove_one(&pair.1, now);
            c.known.put(pair, ());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(per_pair: u32, per_address: u32, per_account: u32) -> LoginThrottle {
        LoginThrottle::new(&AuthConfig {
            login_attempts_per_5min: per_pair,
            login_failures_per_address_per_5min: per_address,
            login_failures_per_account_per_5min: per_account,
            ..AuthConfig::default()
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn fail(t: &LoginThrottle, from: &str, account: &str) -> Result<(), Refused> {
        t.begin(ip(from), account).map(drop)
    }

    #[test]
    fn ipv6_counts_by_slash_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(address_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(address_key(ip("192.0.2.7")), ip("192.0.2.7"));
        let t = throttle(3, 100, 100);
        for host in ["::1", "::2", "::3"] {
            fail(&t, &format!("2001:db8:1:2{host}"), "root").unwrap();
        }
        // Another address of the same /64: same count.
        let r = fail(&t, "2001:db8:1:2:ffff::9", "root").unwrap_err();
        assert_eq!(r.scope, Scope::AccountFromAddress);
        assert!((1..=300).contains(&r.retry_after));
        // Another /64 is another address.
        fail(&t, "2001:db8:1:3::1", "root").unwrap();
    }

    #[test]
    fn many_addresses_guessing_one_account_are_limited_per_account() {
        let t = throttle(3, 100, 5);
        for n in 1..=5 {
            fail(&t, &format!("198.51.100.{n}"), "root").unwrap();
        }
        let r = fail(&t, "198.51.100.6", "root").unwrap_err();
        assert_eq!(r.scope, Scope::Account);
        assert!(r.to_string().contains("for this account"), "{r}");
        // Other accounts are not affected.
        t.begin(ip("198.51.100.6"), "alice").unwrap().succeeded();
    }

    #[test]
    fn a_known_address_logs_in_despite_others_failures() {
        let t = throttle(3, 4, 5);
        // The administrator logged in once from the office's shared address.
        t.begin(ip("203.0.113.1"), "root").unwrap().succeeded();
        // Colleagues behind the same address fail on their accounts: the address is full.
        for account in ["a", "b", "c", "d"] {
            fail(&t, "203.0.113.1", account).unwrap();
        }
        assert_eq!(
            fail(&t, "203.0.113.1", "e").unwrap_err().scope,
            Scope::Address
        );
        // Someone guesses root's password from many addresses: the account is full.
        for n in 1..=5 {
            fail(&t, &format!("192.0.2.{n}"), "root").unwrap();
        }
        assert_eq!(
            fail(&t, "192.0.2.99", "root").unwrap_err().scope,
            Scope::Account
        );
        // The administrator still gets in from the known address.
        t.begin(ip("203.0.113.1"), "root").unwrap().succeeded();
    }

    #[test]
    fn only_failures_count_and_parallel_attempts_are_counted_at_once() {
        let t = throttle(3, 100, 100);
        for _ in 0..10 {
            t.begin(ip("192.0.2.1"), "root").unwrap().succeeded();
        }
        // Three attempts in flight at once fill the limit before any finishes.
        let a = t.begin(ip("192.0.2.2"), "root").unwrap();
        let b = t.begin(ip("192.0.2.2"), "root").unwrap();
        let c = t.begin(ip("192.0.2.2"), "root").unwrap();
        assert!(t.begin(ip("192.0.2.2"), "root").is_err());
        drop((a, b));
        // The third was the right password: the pair's failures are forgotten.
        c.succeeded();
        t.begin(ip("192.0.2.2"), "root").unwrap().succeeded();
    }

    #[test]
    fn requests_naming_no_account_count_per_address_only_and_zero_is_unlimited() {
        let t = throttle(2, 100, 1);
        fail(&t, "192.0.2.1", "").unwrap();
        fail(&t, "192.0.2.2", "").unwrap();
        // The per-account limit (1) does not pool anonymous requests from everywhere.
        fail(&t, "192.0.2.3", "").unwrap();
        fail(&t, "192.0.2.1", "").unwrap();
        assert!(fail(&t, "192.0.2.1", "").is_err());
        let open = throttle(0, 0, 0);
        for _ in 0..100 {
            fail(&open, "192.0.2.1", "root").unwrap();
        }
    }
}
