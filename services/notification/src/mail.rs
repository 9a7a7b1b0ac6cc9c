//! Sending e-mail: SMTP through lettre when configured, otherwise `.eml` files in a folder.
//!
//! Each e-mail carries `Message-ID: <delivery id@practice-staff>` and, in the folder, is
//! written to `<delivery id>.eml` (through a temporary file and a rename). If the process dies
//! after sending but before recording it, the retry rewrites the same file rather than adding
//! a second one, and an SMTP retry repeats the same Message-ID, which mail systems use to drop
//! duplicates. (lettre's own file transport names files by a random id, which would duplicate.)

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSettings {
    /// Sender, e.g. `Practice Staff <no-reply@example.com>`.
    pub from: String,
    /// Folder for `.eml` files, used when `smtp_url` is empty.
    pub folder: PathBuf,
    /// `smtp://user:pass@host:587?tls=required` or `smtps://…`; empty writes to the folder.
    pub smtp_url: String,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            from: "Practice Staff <no-reply@practice-staff.local>".into(),
            folder: PathBuf::from("data/mail"),
            smtp_url: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address: {0}")]
    Address(String),
    #[error("building the message: {0}")]
    Build(String),
    #[error("writing the e-mail file: {0}")]
    Io(#[from] std::io::Error),
    #[error("smtp: {0}")]
    Smtp(String),
}

/// One e-mail to send.
pub struct Outgoing<'a> {
    pub delivery_id: Uuid,
    pub to_name: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub date: DateTime<Utc>,
}

#[derive(Clone)]
pub enum Mailer {
    Folder {
        from: Mailbox,
        folder: PathBuf,
    },
    Smtp {
        from: Mailbox,
        transport: AsyncSmtpTransport<Tokio1Executor>,
    },
}

impl Mailer {
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| MailError::Address(format!("from: {e}")))?;
        if settings.smtp_url.is_empty() {
            std::fs::create_dir_all(&settings.folder)?;
            Ok(Mailer::Folder {
                from,
                folder: settings.folder.clone(),
            })
        } else {
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
                .map_err(|e| MailError::Smtp(e.to_string()))?
                .build();
            Ok(Mailer::Smtp { from, transport })
        }
    }

    /// Where e-mails go, for start-up messages (never includes SMTP credentials).
    pub fn describe(&self) -> String {
        match self {
            Mailer::Folder { folder, .. } => format!("folder {}", folder.display()),
            Mailer::Smtp { .. } => "smtp".into(),
        }
    }

    fn message(from: &Mailbox, mail: &Outgoing<'_>) -> Result<Message, MailError> {
        let to = Mailbox::new(
            Some(mail.to_name.to_owned()),
            mail.to_address
                .parse()
                .map_err(|e| MailError::Address(format!("to: {e}")))?,
        );
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{}@practice-staff>", mail.delivery_id)))
            .date(mail.date.into())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.to_owned(),
                mail.html.to_owned(),
            ))
            .map_err(|e| MailError::Build(e.to_string()))
    }

    pub async fn send(&self, mail: &Outgoing<'_>) -> Result<(), MailError> {
        match self {
            Mailer::Folder { from, folder } => {
                let bytes = Self::message(from, mail)?.formatted();
                let final_path = folder.join(format!("{}.eml", mail.delivery_id));
                let temporary = folder.join(format!(".{}.eml.partial", mail.delivery_id));
                tokio::fs::write(&temporary, bytes).await?;
                tokio::fs::rename(&temporary, &final_path).await?;
                Ok(())
            }
            Mailer::Smtp { from, transport } => {
                let message = Self::message(from, mail)?;
                transport
                    .send(message)
                    .await
                    .map(drop)
                    .map_err(|e| MailError::Smtp(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn folder_delivery_is_one_file_per_delivery_even_when_retried() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(&MailSettings {
            folder: dir.path().to_owned(),
            ..MailSettings::default()
        })
        .unwrap();
        let id = Uuid::now_v7();
        let mail = Outgoing {
            delivery_id: id,
            to_name: "Ada",
            to_address: "ada@example.com",
            subject: "Hello",
            text: "plain body",
            html: "<p>html body</p>",
            date: Utc::now(),
        };
        mailer.send(&mail).await.unwrap();
        mailer.send(&mail).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let content = std::fs::read_to_string(dir.path().join(format!("{id}.eml"))).unwrap();
        assert!(content.contains(&format!("Message-ID: <{id}@practice-staff>")));
        assert!(content.contains("plain body"));
        assert!(
            content.contains("To: \"Ada\" <ada@example.com>")
                || content.contains("To: Ada <ada@example.com>")
        );
    }
}
