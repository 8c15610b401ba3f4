//! Who is on the other end: the client's address, for throttling and rate
//! limits. Behind a reverse proxy every connection comes from the proxy, so
//! the proxy's `X-Forwarded-For` is believed — but only from proxies named
//! in `MOTCUA_TRUSTED_PROXIES` (none by default: a client can write any
//! `X-Forwarded-For` it likes).

use std::net::IpAddr;

use actix_governor::KeyExtractor;
use actix_governor::governor::NotUntil;
use actix_governor::governor::clock::{Clock as _, DefaultClock, QuantaInstant};
use actix_web::dev::ServiceRequest;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};

use crate::auth::TokenIssuer;
use crate::error::ApiError;

/// The reverse proxies whose `X-Forwarded-For` names the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    /// Parses a comma-separated list of IP addresses (empty: none).
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpAddr>()
                    .map_err(|_| format!("`{part}` is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, address: IpAddr) -> bool {
        self.0.contains(&address)
    }

    /// The client's address: the peer, unless the peer is a trusted proxy;
    /// then the right-most `X-Forwarded-For` entry that is not itself a
    /// trusted proxy (entries further left were written by the client and
    /// prove nothing).
    pub fn client(&self, peer: Option<IpAddr>, forwarded_for: &[&str]) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops = forwarded_for
            .iter()
            .flat_map(|header| header.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(address) if self.trusts(address) => continue,
                Ok(address) => return Some(address),
                // A hop we cannot read: the last trusted hop is all we know.
                Err(_) => return Some(peer),
            }
        }
        Some(peer)
    }
}

fn forwarded_for(headers: &header::HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// The client address of a request, as text (empty if unknown).
pub fn address(request: &HttpRequest) -> String {
    let proxies = request.app_data::<web::Data<TrustedProxies>>();
    let peer = request.peer_addr().map(|a| a.ip());
    let client = match proxies {
        Some(proxies) => proxies.client(peer, &forwarded_for(request.headers())),
        None => peer,
    };
    client.map(|a| a.to_string()).unwrap_or_default()
}

/// Whom a public rate limit counts: a client address, or authenticated
/// staff, who are not counted (the desk looks dossiers up all day).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    /// Anyone else, by address.
    Address(String),
    /// A valid staff access token.
    Staff,
}

/// The key extractor of the public rate limits.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicCaller;

/// Whether the request carries a valid staff access token.
pub fn is_staff(request: &HttpRequest) -> bool {
    let Some(issuer) = request.app_data::<web::Data<TokenIssuer>>() else {
        return false;
    };
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer)
        .and_then(|token| issuer.verify(token).ok())
        .is_some_and(|claims| claims.kind == "staff")
}

impl KeyExtractor for PublicCaller {
    type Key = Caller;
    type KeyExtractionError = ApiError;

    fn extract(&self, request: &ServiceRequest) -> Result<Caller, ApiError> {
        if is_staff(request.request()) {
            return Ok(Caller::Staff);
        }
        Ok(Caller::Address(address(request.request())))
    }

    fn exceed_rate_limit_response(
        &self,
        negative: &NotUntil<QuantaInstant>,
        _: HttpResponseBuilder,
    ) -> HttpResponse {
        let wait = negative.wait_time_from(DefaultClock::default().now());
        ApiError::TooManyRequests { retry_after: wait }.error_response()
    }

    fn whitelisted_keys(&self) -> Vec<Caller> {
        vec![Caller::Staff]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(Some(ip("10.0.0.9")), &["1.2.3.4"]),
            Some(ip("10.0.0.9"))
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_forged_hops_are_ignored() {
        let proxies = TrustedProxies::parse("10.0.0.1, 10.0.0.2").unwrap_or_default();
        assert_eq!(
            proxies.client(Some(ip("10.0.0.1")), &["203.0.113.7"]),
            Some(ip("203.0.113.7"))
        );
        // The client wrote "1.1.1.1" itself; the proxies appended the rest.
        assert_eq!(
            proxies.client(Some(ip("10.0.0.1")), &["1.1.1.1, 203.0.113.7", "10.0.0.2"]),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(
            proxies.client(Some(ip("10.0.0.1")), &["garbage"]),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            proxies.client(Some(ip("10.0.0.1")), &[]),
            Some(ip("10.0.0.1"))
        );
        assert!(TrustedProxies::parse("10.0.0.1, nope").is_err());
        assert_eq!(TrustedProxies::parse(" "), Ok(TrustedProxies::default()));
    }
}
