//! The certificate PDF: one A4 page, standard Helvetica (no fonts embedded), text in
//! WinAnsiEncoding.

use chrono::{DateTime, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

pub struct Certificate<'a> {
    pub member_name: &'a str,
    pub practice_name: &'a str,
    pub certified_at: DateTime<Utc>,
    pub number: &'a str,
}

/// Text as WinAnsiEncoding bytes: Latin-1 letters map one to one; anything else becomes `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u32::from(c) {
            code @ (0x20..=0x7e | 0xa0..=0xff) => code as u8,
            _ => b'?',
        })
        .collect()
}

pub fn render(certificate: &Certificate<'_>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page = Ref::new(3);
    let regular = Ref::new(4);
    let bold = Ref::new(5);
    let contents = Ref::new(6);
    let (regular_name, bold_name) = (Name(b"F1"), Name(b"F2"));

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    {
        let mut page_writer = pdf.page(page);
        page_writer.media_box(Rect::new(0.0, 0.0, 595.0, 842.0));
        page_writer.parent(pages);
        page_writer.contents(contents);
        let mut resources = page_writer.resources();
        let mut fonts = resources.fonts();
        fonts.pair(regular_name, regular);
        fonts.pair(bold_name, bold);
        fonts.finish();
        resources.finish();
        page_writer.finish();
    }
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));

    let date = certificate.certified_at.format("%-d %B %Y").to_string();
    let lines: [(Name, f32, f32, Vec<u8>); 6] = [
        (
            bold_name,
            28.0,
            700.0,
            win_ansi("Certificate of Completion"),
        ),
        (regular_name, 14.0, 640.0, win_ansi("This certifies that")),
        (bold_name, 22.0, 605.0, win_ansi(certificate.member_name)),
        (
            regular_name,
            14.0,
            570.0,
            win_ansi(&format!("of {}", certificate.practice_name)),
        ),
        (
            regular_name,
            14.0,
            535.0,
            win_ansi(&format!("completed the certification on {date}.")),
        ),
        (
            regular_name,
            11.0,
            470.0,
            win_ansi(&format!("Certificate number {}", certificate.number)),
        ),
    ];
    let mut content = Content::new();
    for (font, size, y, text) in &lines {
        content.begin_text();
        content.set_font(*font, *size);
        content.next_line(72.0, *y);
        content.show(Str(text));
        content.end_text();
    }
    pdf.stream(contents, &content.finish());
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_are_pdf_documents_with_the_details() {
        let bytes = render(&Certificate {
            member_name: "Zoë Provider",
            practice_name: "Acme Clinic",
            certified_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            number: "CERT-1",
        });
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(bytes.windows(5).any(|w| w == b"%%EOF"));
        // pdf-writer writes strings with non-ASCII bytes in hexadecimal form.
        let text = String::from_utf8_lossy(&bytes).to_uppercase();
        let name_hex: String = win_ansi("Zoë Provider")
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        assert!(
            text.contains(&name_hex),
            "the name is in the content stream"
        );
        assert!(bytes.windows(6).any(|w| w == b"CERT-1"));
    }

    #[test]
    fn characters_outside_win_ansi_become_question_marks() {
        assert_eq!(win_ansi("Zoë 日"), b"Zo\xeb ?");
    }
}
