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

/// How e-mails go out (`PS_MAIL__*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailSettings {
    /// Sender, e.g. `Practice Staff <no-reply@example.com>`.
    pub from: String,
    /// Folder for `.eml` files, used when `smtp_url` is empty.
    pub folder: PathBuf,
    /// `smtp://user:pass@host:587?tls=required` or `smtps://…`; empty writes to the folder.
    pub smtp_url: String,
    /// E-mails sent at once (each its own SMTP connection; providers limit how many).
    pub concurrency: usize,
    /// Sending attempts before an e-mail is given up on (its link voided, the failure
    /// published); failures of identity to mint a link do not count.
    pub max_attempts: u32,
    /// Wait after the first failed attempt; it doubles after each further one, up to 10 minutes.
    #[serde(with = "humantime_serde")]
    pub retry_delay: std::time::Duration,
}

impl Default for MailSettings {
    fn default() -> Self {
        Self {
            from: "Practice Staff <no-reply@practice-staff.local>".into(),
            folder: PathBuf::from("data/mail"),
            smtp_url: String::new(),
            concurrency: 8,
            max_attempts: 6,
            retry_delay: std::time::Duration::from_secs(2),
        }
    }
}

/// Why an e-mail was not sent.
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

/// The mail transport: SMTP, or `.eml` files in a folder.
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
    /// The transport `settings` describe (the folder when no SMTP URL is set).
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

    /// Sends one e-mail, with its delivery id as Message-ID (and file name).
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

    /// Just enough of an SMTP server to receive one message; returns the envelope and data.
    async fn fake_smtp_server(listener: tokio::net::TcpListener) -> (Vec<String>, String) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut commands = Vec::new();
        let mut data = String::new();
        write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            let upper = line.to_uppercase();
            commands.push(line.clone());
            if upper.starts_with("EHLO") {
                write
                    .write_all(b"250-fake\r\n250 8BITMIME\r\n")
                    .await
                    .unwrap();
            } else if upper.starts_with("DATA") {
                write.write_all(b"354 go ahead\r\n").await.unwrap();
                while let Some(line) = lines.next_line().await.unwrap() {
                    if line == "." {
                        break;
                    }
                    data.push_str(&line);
                    data.push('\n');
                }
                write.write_all(b"250 queued\r\n").await.unwrap();
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                write.write_all(b"250 ok\r\n").await.unwrap();
            }
        }
        (commands, data)
    }

    #[tokio::test]
    async fn smtp_delivery_goes_through_lettre() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(fake_smtp_server(listener));
        let mailer = Mailer::new(&MailSettings {
            smtp_url: format!("smtp://127.0.0.1:{port}"),
            ..MailSettings::default()
        })
        .unwrap();
        assert_eq!(mailer.describe(), "smtp");
        let id = Uuid::now_v7();
        mailer
            .send(&Outgoing {
                delivery_id: id,
                to_name: "Ada",
                to_address: "ada@example.com",
                subject: "Invitation",
                text: "plain body",
                html: "<p>html body</p>",
                date: Utc::now(),
            })
            .await
            .unwrap();
        let (commands, data) = server.await.unwrap();
        assert!(
            commands
                .iter()
                .any(|c| c.contains("MAIL FROM:<no-reply@practice-staff.local>")),
            "{commands:?}"
        );
        assert!(
            commands
                .iter()
                .any(|c| c.contains("RCPT TO:<ada@example.com>")),
            "{commands:?}"
        );
        assert!(
            data.contains(&format!("Message-ID: <{id}@practice-staff>")),
            "{data}"
        );
        assert!(data.contains("Subject: Invitation"), "{data}");
    }
}
