//! Keyset pagination over UUIDv7 ids (which sort by creation time).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::validation::{FieldViolation, Invalid, Violations};

/// A page to read: at most `size` items with ids after `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Most items to return (1–[`PageRequest::MAX_SIZE`]).
    pub size: u64,
    /// The last id of the previous page; `None` for the first page.
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// Page size when the request asks for 0.
    pub const DEFAULT_SIZE: u64 = 50;
    /// Largest page size a request may ask for.
    pub const MAX_SIZE: u64 = 500;

    /// Parses the wire values; `field` is the request field holding them (`page`).
    pub fn parse(field: &str, size: u32, token: &str) -> Result<Self, Invalid> {
        let mut violations = Violations::default();
        let size = match u64::from(size) {
            0 => Self::DEFAULT_SIZE,
            n if n > Self::MAX_SIZE => {
                violations.push(FieldViolation::new(
                    format!("{field}.page_size"),
                    format!("must be at most {}", Self::MAX_SIZE),
                ));
                0
            }
            n => n,
        };
        let after = if token.is_empty() {
            None
        } else {
            violations.check(decode_token(token).ok_or_else(|| {
                FieldViolation::new(
                    format!("{field}.page_token"),
                    "is not a token this service issued",
                )
            }))
        };
        violations.finish()?;
        Ok(Self { size, after })
    }

    /// Rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch_limit(&self) -> u64 {
        self.size + 1
    }
}

/// One page of results and the token for the next (empty on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The page's items, in id order.
    pub items: Vec<T>,
    /// Opaque token for the next page; empty when this is the last.
    pub next_page_token: String,
}

impl<T> Page<T> {
    /// Builds a page from up to `request.fetch_limit()` rows ordered by id.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, id: impl Fn(&T) -> Uuid) -> Self {
        let size = usize::try_from(request.size).unwrap_or(usize::MAX);
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            rows.last()
                .map(|row| encode_token(id(row)))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Self {
            items: rows,
            next_page_token,
        }
    }

    /// The same page with each item converted by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

fn encode_token(after: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(after.as_bytes())
}

fn decode_token(token: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_chain_through_tokens() {
        let ids: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
        let request = PageRequest::parse("page", 2, "").unwrap();
        let page = Page::from_rows(ids[..3].to_vec(), &request, |id| *id);
        assert_eq!(page.items, ids[..2]);
        let next = PageRequest::parse("page", 2, &page.next_page_token).unwrap();
        assert_eq!(next.after, Some(ids[1]));
        let last = Page::from_rows(ids[2..4].to_vec(), &next, |id| *id);
        assert_eq!(last.next_page_token, "");
    }

    #[test]
    fn bad_sizes_and_tokens_name_their_fields() {
        let err = PageRequest::parse("page", 501, "%%%").unwrap_err();
        let fields: Vec<_> = err.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["page.page_size", "page.page_token"]);
        assert_eq!(
            PageRequest::parse("page", 0, "").unwrap().size,
            PageRequest::DEFAULT_SIZE
        );
    }
}
