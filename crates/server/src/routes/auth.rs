//! Who is calling: `Authorization: Bearer <token>`, or nobody.

use actix_web::HttpRequest;
use std::net::IpAddr;

use actix_web::http::header::{AUTHORIZATION, FORWARDED, HeaderMap, USER_AGENT};
use kanjian_contracts::identity::{ClientInfo, IdentityApi};
use kanjian_kernel::{Actor, Error};

/// No header: anonymous. A header with a bad, expired or revoked token: `Unauthenticated`
/// (a client that sends a token means to be someone; silently serving it as anonymous hides bugs).
pub(crate) async fn actor(req: &HttpRequest, identity: &dyn IdentityApi) -> Result<Actor, Error> {
    let Some(header) = req.headers().get(AUTHORIZATION) else { return Ok(Actor::Anonymous) };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .ok_or(Error::Unauthenticated)?;
    identity.authenticate(token.trim()).await
}

/// Token from a graphql-transport-ws `connection_init` payload: `{"authorization": "Bearer …"}`.
pub(crate) async fn actor_from_init(
    payload: &serde_json::Value,
    identity: &dyn IdentityApi,
) -> Result<Actor, Error> {
    let header = ["authorization", "Authorization", "token"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()));
    match header {
        None => Ok(Actor::Anonymous),
        Some(h) => {
            let token = h.strip_prefix("Bearer ").unwrap_or(h);
            identity.authenticate(token.trim()).await
        }
    }
}

/// Where the request comes from, for rate limits and the session record: the socket's peer
/// address, or, when that peer is a trusted proxy, the address [`TrustedProxies`] finds in the
/// forwarding header. Never a header a client could set on its own.
pub(crate) fn client_info(req: &HttpRequest, proxies: &TrustedProxies) -> ClientInfo {
    let peer = req.peer_addr().map(|a| a.ip());
    ClientInfo {
        ip: proxies.client_ip(peer, req.headers()).map(|ip| ip.to_string()),
        user_agent: req.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
    }
}

/// The forwarding header the trusted proxies write (`[http] client_ip_header`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The proxies whose forwarding header is believed (`[http] trusted_proxies`, CIDRs; none by
/// default). A request from any other peer is keyed on the peer's address, whatever headers it
/// sends. A request from a trusted proxy is keyed on the right-most address of the chain that
/// is not itself a trusted proxy: each proxy appends the address it saw, so everything left of
/// the first untrusted hop could have been written by the client.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
    header: ForwardedHeader,
}

/// At most this many hops of a chain are read (from the right): a longer one is someone's game.
const MAX_HOPS: usize = 32;

impl TrustedProxies {
    /// From `[http] trusted_proxies` (`"10.0.0.0/8"`, `"::1/128"`, or a bare address) and
    /// `client_ip_header` (`x-forwarded-for` or `forwarded`). A bad entry stops the start-up.
    pub(crate) fn from_config(proxies: &[String], header: &str) -> anyhow::Result<Self> {
        let nets = proxies
            .iter()
            .map(|p| {
                let p = p.trim();
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(ipnet::IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| anyhow::anyhow!("http.trusted_proxies: {p:?} is not a CIDR range (like 10.0.0.0/8) or an IP address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let header = match header.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => anyhow::bail!("http.client_ip_header: {other:?} is neither x-forwarded-for nor forwarded"),
        };
        Ok(Self { nets, header })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, given the socket's peer and the request's headers.
    pub(crate) fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer?.to_canonical();
        if !self.trusts(client) {
            return Some(client);
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        for hop in hops.iter().rev().take(MAX_HOPS) {
            // An entry that is no address (`unknown`, an obfuscated name, garbage) ends the walk
            // at the last address known: a client cannot pick its key by writing nonsense.
            let Some(ip) = hop else { return Some(client) };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return Some(client);
            }
        }
        // Every hop is a trusted proxy: the left-most is as far as anyone can tell.
        Some(client)
    }
}

/// Every `X-Forwarded-For` entry, left to right, across repeated headers.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(value) => hops.extend(value.split(',').map(parse_hop)),
            // Not text: one hop that is no address.
            Err(_) => hops.push(None),
        }
    }
    hops
}

/// Every `for=` of RFC 7239 `Forwarded` headers, left to right.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let Ok(value) = value.to_str() else {
            hops.push(None);
            continue;
        };
        for element in value.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
            });
            hops.push(node.and_then(parse_hop));
        }
    }
    hops
}

/// `203.0.113.9`, `203.0.113.9:4711`, `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok())
}

/// A JSON error body for the non-GraphQL routes: `{"error": {"code", "message"}}`.
pub(crate) fn error_response(error: &Error) -> actix_web::HttpResponse {
    use actix_web::http::StatusCode;
    use kanjian_kernel::UserErrorCode as U;
    let status = match error {
        Error::Unauthenticated => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::User(errors) => match errors.first().map(|e| e.code) {
            Some(U::UploadOffsetMismatch) => StatusCode::CONFLICT,
            Some(U::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Some(U::UnsupportedMedia) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        },
        Error::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let code = match error {
        Error::User(errors) => errors.first().map_or("BAD_USER_INPUT", |e| e.code.as_str()).to_owned(),
        other => other.code().to_string(),
    };
    let mut response = actix_web::HttpResponse::build(status);
    if let Error::RateLimited { retry_after_secs } = error {
        response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after_secs.to_string()));
    }
    response.json(serde_json::json!({ "error": { "code": code, "message": error.to_string() } }))
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn proxies(nets: &[&str], header: &str) -> TrustedProxies {
        TrustedProxies::from_config(&nets.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(), header).unwrap()
    }

    #[test]
    fn with_no_trusted_proxy_the_peer_is_the_client_whatever_the_headers_say() {
        let none = TrustedProxies::default();
        let spoofed = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=5.6.7.8"),
            ("x-real-ip", "9.9.9.9"),
        ]);
        assert_eq!(none.client_ip(ip("198.51.100.7"), &spoofed), ip("198.51.100.7"));
        assert_eq!(none.client_ip(ip("127.0.0.1"), &spoofed), ip("127.0.0.1"));
        assert_eq!(none.client_ip(None, &spoofed), None);
        // A peer that is not trusted is believed no more when others are.
        let some = proxies(&["10.0.0.0/8"], "x-forwarded-for");
        assert_eq!(some.client_ip(ip("198.51.100.7"), &spoofed), ip("198.51.100.7"));
    }

    #[test]
    fn behind_trusted_proxies_the_client_is_the_right_most_untrusted_hop() {
        let p = proxies(&["10.0.0.0/8", "127.0.0.1/32"], "x-forwarded-for");
        // One proxy: it appended the client it saw.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &headers(&[("x-forwarded-for", "203.0.113.9")])), ip("203.0.113.9"));
        // The client made up a chain; the proxy appended the real address. Only that counts.
        let forged = headers(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 203.0.113.9")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &forged), ip("203.0.113.9"));
        // Two trusted proxies in a row, across two header lines.
        let two = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9"), ("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(p.client_ip(ip("127.0.0.1"), &two), ip("203.0.113.9"));
        // Ports and IPv6, bracketed or not; IPv4-mapped IPv6 peers are IPv4.
        let v6 = headers(&[("x-forwarded-for", "[2001:db8::1]:4711")]);
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.2"), &v6), ip("2001:db8::1"));
        let port = headers(&[("x-forwarded-for", "203.0.113.9:5555")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &port), ip("203.0.113.9"));
        // No header: the proxy itself is all anyone knows.
        assert_eq!(p.client_ip(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        // Only trusted hops: the left-most.
        let inside = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.3")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &inside), ip("10.9.9.9"));
    }

    #[test]
    fn garbage_in_the_chain_cannot_choose_the_key() {
        let p = proxies(&["10.0.0.0/8"], "x-forwarded-for");
        for chain in ["garbage", "unknown", "", "1.2.3.4, nonsense", "999.1.1.1", "' OR 1=1 --"] {
            assert_eq!(p.client_ip(ip("10.0.0.2"), &headers(&[("x-forwarded-for", chain)])), ip("10.0.0.2"), "{chain:?}");
        }
        // Behind two proxies the walk stops at the last address it could read.
        let mixed = headers(&[("x-forwarded-for", "1.2.3.4, junk, 10.0.0.7")]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &mixed), ip("10.0.0.7"));
        // An absurdly long chain of trusted hops is read no further than MAX_HOPS.
        let long = vec!["10.0.0.1"; 100].join(", ");
        let long = format!("6.6.6.6, {long}");
        assert_eq!(p.client_ip(ip("10.0.0.2"), &headers(&[("x-forwarded-for", &long)])), ip("10.0.0.1"));
    }

    #[test]
    fn the_forwarded_header_is_read_when_configured_and_only_then() {
        let rfc = proxies(&["10.0.0.0/8"], "Forwarded");
        let h = headers(&[
            ("forwarded", "for=6.6.6.6;proto=https, For=\"[2001:db8:cafe::17]:4711\";by=10.0.0.2"),
            ("x-forwarded-for", "7.7.7.7"),
        ]);
        assert_eq!(rfc.client_ip(ip("10.0.0.2"), &h), ip("2001:db8:cafe::17"));
        assert_eq!(rfc.client_ip(ip("10.0.0.2"), &headers(&[("forwarded", "for=unknown")])), ip("10.0.0.2"));
        assert_eq!(rfc.client_ip(ip("10.0.0.2"), &headers(&[("forwarded", "proto=http")])), ip("10.0.0.2"));
        // Configured for X-Forwarded-For, a Forwarded header is ignored (and the other way round).
        let xff = proxies(&["10.0.0.0/8"], "x-forwarded-for");
        assert_eq!(xff.client_ip(ip("10.0.0.2"), &headers(&[("forwarded", "for=6.6.6.6")])), ip("10.0.0.2"));
        assert_eq!(rfc.client_ip(ip("10.0.0.2"), &headers(&[("x-forwarded-for", "6.6.6.6")])), ip("10.0.0.2"));
    }

    #[test]
    fn bad_proxy_settings_stop_the_start() {
        assert!(TrustedProxies::from_config(&["10.0.0.0/33".into()], "x-forwarded-for").is_err());
        assert!(TrustedProxies::from_config(&["proxy.internal".into()], "x-forwarded-for").is_err());
        assert!(TrustedProxies::from_config(&[], "x-real-ip").is_err());
        // A bare address is one host; host bits in a range are dropped.
        let p = proxies(&["192.168.1.7", "172.16.5.9/12"], "x-forwarded-for");
        assert!(p.trusts("192.168.1.7".parse().unwrap()) && !p.trusts("192.168.1.8".parse().unwrap()));
        assert!(p.trusts("172.31.0.1".parse().unwrap()));
    }

    #[test]
    fn a_rate_limited_route_answers_429_with_retry_after() {
        let response = error_response(&Error::RateLimited { retry_after_secs: 42 });
        assert_eq!(response.status(), actix_web::http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get("retry-after").unwrap(), "42");
    }
}
