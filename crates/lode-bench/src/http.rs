//! A minimal HTTP/1.1 client over one keep-alive TCP connection: enough to
//! push bodies and run GET queries against any Loki-compatible server,
//! without pulling a full client stack into the measurement.

use std::io;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// `http://host:port[/prefix]` split into its parts.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub prefix: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("only http:// URLs are supported")?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| format!("bad port in {url}"))?),
            None => (authority, 80),
        };
        Ok(Target {
            host: host.to_string(),
            port,
            prefix: prefix.to_string(),
        })
    }
}

/// A response: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

pub struct Conn {
    target: Target,
    io: Option<BufReader<TcpStream>>,
    head: Vec<u8>,
}

/// Percent-encodes a query-string value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl Conn {
    pub fn new(target: Target) -> Conn {
        Conn {
            target,
            io: None,
            head: Vec::with_capacity(512),
        }
    }

    async fn stream(&mut self) -> io::Result<&mut BufReader<TcpStream>> {
        if self.io.is_none() {
            let s = TcpStream::connect((self.target.host.as_str(), self.target.port)).await?;
            s.set_nodelay(true)?;
            self.io = Some(BufReader::with_capacity(64 << 10, s));
        }
        Ok(self.io.as_mut().expect("connected above"))
    }

    /// Sends one request; reconnects once if a kept-alive connection was
    /// closed by the server in between.
    pub async fn request(
        &mut self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        match self
            .try_request(method, path_and_query, headers, body)
            .await
        {
            Ok(r) => Ok(r),
            Err(_) if self.io.is_some() => {
                self.io = None;
                self.try_request(method, path_and_query, headers, body)
                    .await
            }
            Err(e) => Err(e),
        }
    }

    async fn try_request(
        &mut self,
        method: &str,
        pq: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        self.head.clear();
        let t = &self.target;
        let head = format!(
            "{method} {}{pq} HTTP/1.1\r\nHost: {}:{}\r\nContent-Length: {}\r\n",
            t.prefix,
            t.host,
            t.port,
            body.len()
        );
        self.head.extend_from_slice(head.as_bytes());
        for (k, v) in headers {
            self.head
                .extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        self.head.extend_from_slice(b"\r\n");
        let head = std::mem::take(&mut self.head);
        let s = self.stream().await?;
        let res = async {
            s.get_mut().write_all(&head).await?;
            s.get_mut().write_all(body).await?;
            read_response(s).await
        }
        .await;
        self.head = head;
        match res {
            Ok((r, keep)) => {
                if !keep {
                    self.io = None;
                }
                Ok(r)
            }
            Err(e) => {
                self.io = None;
                Err(e)
            }
        }
    }
}

fn bad(m: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, m.to_string())
}

async fn read_response(s: &mut BufReader<TcpStream>) -> io::Result<(Response, bool)> {
    let mut line = String::new();
    if s.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let mut len: Option<usize> = None;
    let mut chunked = false;
    let mut keep = true;
    loop {
        line.clear();
        s.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                len = Some(v.parse().map_err(|_| bad("bad content-length"))?);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            } else if k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close") {
                keep = false;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            s.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers end with an empty line.
                loop {
                    line.clear();
                    s.read_line(&mut line).await?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            s.read_exact(&mut body[at..]).await?;
            let mut crlf = [0u8; 2];
            s.read_exact(&mut crlf).await?;
        }
    } else if let Some(n) = len {
        body.resize(n, 0);
        s.read_exact(&mut body).await?;
    } else if status != 204 && status != 304 {
        s.read_to_end(&mut body).await?;
        keep = false;
    }
    Ok((Response { status, body }, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:3100").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 3100, "")
        );
        let t = Target::parse("http://loki:80/prefix/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("loki", 80, "/prefix")
        );
        assert!(Target::parse("https://x").is_err());
    }

    #[test]
    fn encoding() {
        assert_eq!(
            encode("{a=~\".+\"} |= \"x\""),
            "%7Ba%3D~%22.%2B%22%7D%20%7C%3D%20%22x%22"
        );
    }

    #[tokio::test]
    async fn chunked_and_length_bodies() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let replies: [&[u8]; 2] = [
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            ];
            for reply in replies {
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = s.read(&mut buf).await.unwrap();
                    got.extend_from_slice(&buf[..n]);
                }
                s.write_all(reply).await.unwrap();
            }
        });
        let mut c = Conn::new(Target::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        let a = c.request("GET", "/a", &[], b"").await.unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"hello"[..]));
        let b = c.request("GET", "/b", &[], b"").await.unwrap();
        assert_eq!((b.status, b.body.as_slice()), (200, &b"abcde"[..]));
    }
}
