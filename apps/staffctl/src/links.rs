//! Reading an invitation or reset token out of whatever the person has at hand: the token, the
//! link, or the `.eml` file the link arrived in. The system tests read e-mails with it too.

use std::path::Path;

/// Accepts a token, a link containing `token=…`, or an `.eml` file holding such a link.
pub fn invitation_token(input: &str) -> Result<String, String> {
    let text = if Path::new(input).is_file() {
        let raw = std::fs::read_to_string(input).map_err(|e| format!("reading {input}: {e}"))?;
        decode_quoted_printable(&raw)
    } else {
        input.to_owned()
    };
    token_in(&text).ok_or_else(|| format!("no invitation token found in {input}"))
}

/// The token of the first `token=` link in `text`, or `text` itself when it is a bare token.
pub fn token_in(text: &str) -> Option<String> {
    if let Some(start) = text.find("token=") {
        let token: String = text[start + 6..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        return (!token.is_empty()).then_some(token);
    }
    let trimmed = text.trim();
    (!trimmed.is_empty() && !trimmed.contains(char::is_whitespace)).then(|| trimmed.to_owned())
}

/// E-mail bodies are quoted-printable: drop soft line breaks and decode `=XX` escapes, enough
/// to read a link out of an `.eml` file.
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_out_of_quoted_printable_links() {
        let eml = "Open this link:\nhttp://x/invitation?token=3DgeXt53SV1bz_x3xK6DCy6sQ0kmGFAL6W68=\nAd3GwKbc4\n\nThe link";
        let decoded = decode_quoted_printable(eml);
        assert_eq!(
            token_in(&decoded).as_deref(),
            Some("geXt53SV1bz_x3xK6DCy6sQ0kmGFAL6W68Ad3GwKbc4")
        );
        assert_eq!(token_in("  abc-_1 ").as_deref(), Some("abc-_1"));
        assert_eq!(token_in("two words"), None);
        assert_eq!(decode_quoted_printable("caf=C3=A9 =é"), "café =é");
    }
}
