//! Just enough MIME to turn a raw e-mail into the text a classifier should see: the
//! Subject and the body, with headers dropped (they leak the label: relay hosts,
//! spam-filter stamps), transfer encodings decoded and HTML reduced to its text.

/// `Subject` + body text of a raw RFC 822 message.
pub fn subject_and_body(raw: &str) -> String {
    let (headers, body) = split_message(raw);
    let subject = header(&headers, "subject")
        .map(|s| decode_encoded_words(&s))
        .unwrap_or_default();
    let body = part_text(&headers, body);
    let text = format!("{subject}\n{body}");
    collapse_whitespace(&text)
}

/// Headers (continuation lines unfolded) and the body after the first blank line.
fn split_message(raw: &str) -> (Vec<(String, String)>, &str) {
    let raw = raw.trim_start_matches(['\r', '\n']);
    let (head, body) = match raw.find("\n\n").or_else(|| raw.find("\r\n\r\n")) {
        Some(i) => (&raw[..i], raw[i..].trim_start_matches(['\r', '\n'])),
        None => (raw, ""),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// `Content-Type: multipart/mixed; boundary="xyz"` → ("multipart/mixed", Some("xyz")).
fn content_type(headers: &[(String, String)]) -> (String, Option<String>) {
    let value = header(headers, "content-type").unwrap_or_else(|| "text/plain".into());
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let boundary = parts.find_map(|p| {
        let (key, val) = p.split_once('=')?;
        (key.trim().eq_ignore_ascii_case("boundary"))
            .then(|| val.trim().trim_matches('"').to_owned())
    });
    (mime, boundary)
}

/// The readable text of a (possibly multipart) body: plain-text parts when there are
/// any, else HTML parts reduced to text. Attachments are skipped.
fn part_text(headers: &[(String, String)], body: &str) -> String {
    let (mime, boundary) = content_type(headers);
    if mime.starts_with("multipart/")
        && let Some(boundary) = boundary
    {
        let parts: Vec<(String, String)> = split_multipart(body, &boundary)
            .into_iter()
            .map(|part| {
                let (h, b) = split_message(part);
                (content_type(&h).0, part_text(&h, b))
            })
            .filter(|(_, text)| !text.trim().is_empty())
            .collect();
        let plain: Vec<&str> = parts
            .iter()
            .filter(|(m, _)| !m.contains("html"))
            .map(|(_, t)| t.as_str())
            .collect();
        let chosen: Vec<&str> = if plain.is_empty() {
            parts.iter().map(|(_, t)| t.as_str()).collect()
        } else {
            plain
        };
        return chosen.join("\n");
    }
    if !(mime.starts_with("text/") || mime.is_empty()) {
        return String::new(); // an attachment: image, application, …
    }
    let encoding = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let decoded = match encoding.trim() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => String::from_utf8_lossy(&decode_base64(body)).into_owned(),
        _ => body.to_owned(),
    };
    if mime.contains("html") || looks_like_html(&decoded) {
        html_to_text(&decoded)
    } else {
        decoded
    }
}

fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    body.split(delimiter.as_str())
        .skip(1) // the preamble
        .take_while(|part| !part.starts_with("--")) // the closing delimiter
        .collect()
}

fn looks_like_html(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("<html") || lower.contains("<body") || lower.contains("<br")
}

/// Decodes quoted-printable: `=XX` escapes and `=` soft line breaks.
pub fn decode_quoted_printable(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            let rest = &bytes[i + 1..];
            if rest.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if rest.starts_with(b"\n") {
                i += 2;
                continue;
            }
            if let Some(byte) = rest
                .get(..2)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes base64, skipping line breaks and anything outside the alphabet.
pub fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for sextet in text.bytes().take_while(|&c| c != b'=').filter_map(value) {
        buffer = (buffer << 6) | sextet as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// Rewrites every occurrence of `marker` in `text`: `decode` gets what follows the
/// marker and returns the replacement and the remaining text, or `None` to keep the
/// marker as it is.
fn rewrite_escapes(
    text: &str,
    marker: &str,
    decode: impl Fn(&str) -> Option<(String, &str)>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(marker) {
        out.push_str(&rest[..start]);
        let after = &rest[start + marker.len()..];
        match decode(after) {
            Some((decoded, tail)) => {
                out.push_str(&decoded);
                rest = tail;
            }
            None => {
                out.push_str(marker);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// RFC 2047 encoded words in headers: `=?charset?B?...?=` and `=?charset?Q?...?=`.
fn decode_encoded_words(value: &str) -> String {
    rewrite_escapes(value, "=?", |word| {
        let (inner, after) = word.split_once("?=")?;
        let mut fields = inner.splitn(3, '?');
        let (_charset, kind, data) = (fields.next()?, fields.next()?, fields.next()?);
        let text = match kind.to_ascii_uppercase().as_str() {
            "B" => String::from_utf8_lossy(&decode_base64(data)).into_owned(),
            "Q" => decode_quoted_printable(&data.replace('_', " ")),
            _ => return None,
        };
        Some((text, after))
    })
}

/// The text of an HTML document: tags dropped, `script`/`style` content dropped,
/// common entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            rest = "";
            break;
        };
        let tag = after[..close].trim_start_matches('/').to_ascii_lowercase();
        rest = &after[close + 1..];
        for hidden in ["script", "style"] {
            if tag.starts_with(hidden) && !after.starts_with('/') {
                let end = format!("</{hidden}");
                rest = match rest.to_ascii_lowercase().find(&end) {
                    Some(i) => &rest[i..],
                    None => "",
                };
            }
        }
        out.push(' ');
    }
    out.push_str(rest);
    decode_entities(&out)
}

pub(crate) fn decode_entities(text: &str) -> String {
    rewrite_escapes(text, "&", |after| {
        let end = after.find(';').filter(|&i| i <= 8)?;
        let (name, tail) = (&after[..end], &after[end + 1..]);
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => ' ',
            _ => {
                let code = name.strip_prefix('#')?;
                let n = match code.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => code.parse().ok()?,
                };
                char::from_u32(n)?
            }
        };
        Some((c.to_string(), tail))
    })
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_headers_and_keeps_subject_and_body() {
        let raw = "From: a@spamassassin.taint.org\nReceived: from relay\n  by host\nSubject: Hello there\n\nBody line one.\nLine two.\n";
        assert_eq!(
            subject_and_body(raw),
            "Hello there Body line one. Line two."
        );
    }

    #[test]
    fn decodes_quoted_printable_and_base64() {
        assert_eq!(
            decode_quoted_printable("caf=C3=A9 =\nau lait"),
            "café au lait"
        );
        assert_eq!(decode_base64("aGVsbG8gd29y\nbGQ="), b"hello world");
        let raw = "Subject: x\nContent-Transfer-Encoding: base64\n\naGVsbG8gd29ybGQ=\n";
        assert_eq!(subject_and_body(raw), "x hello world");
    }

    #[test]
    fn prefers_plain_text_parts_and_skips_attachments() {
        let raw = "Subject: s\nContent-Type: multipart/alternative; boundary=\"B\"\n\npreamble\n--B\nContent-Type: text/plain\n\nplain words\n--B\nContent-Type: text/html\n\n<p>html words</p>\n--B\nContent-Type: image/gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--B--\n";
        assert_eq!(subject_and_body(raw), "s plain words");
    }

    #[test]
    fn reduces_html_to_text() {
        let raw = "Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\nContent-Type: text/html\n\n<html><style>p{x:1}</style><body><p>Buy&nbsp;now &amp; save</p><script>evil()</script>!</body></html>";
        assert_eq!(subject_and_body(raw), "Grüße Buy now & save !");
    }
}
