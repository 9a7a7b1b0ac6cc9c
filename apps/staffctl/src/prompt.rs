//! Questions to the person at the terminal: passwords, confirmations, the practice to sign in to.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Result, bail};
use ps_proto::identity::v1 as identity;

use crate::cli::role_title;

/// Identity's rule for a new password (`ps_identity::domain::Password`): 10 to 128 characters.
const MIN_CHARS: usize = 10;
const MAX_CHARS: usize = 128;
/// Prompts before giving up, so a closed terminal cannot loop for ever.
const ATTEMPTS: usize = 5;

/// A password already set (signing in, accepting with an existing account): asked once.
pub(crate) fn password(from_stdin: bool, prompt: &str) -> Result<String> {
    if from_stdin {
        read_stdin_line()
    } else {
        Ok(rpassword::prompt_password(prompt)?)
    }
}

/// A new password: asked twice, and again while it is too short, too long or the two differ.
/// With `--password-stdin` it is read once and the service judges it.
pub(crate) fn new_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        return read_stdin_line();
    }
    for _ in 0..ATTEMPTS {
        let first =
            rpassword::prompt_password(format!("New password ({MIN_CHARS}+ characters): "))?;
        if let Some(problem) = problem(&first) {
            eprintln!("{problem}; try again");
            continue;
        }
        let again = rpassword::prompt_password("The same password again: ")?;
        if again != first {
            eprintln!("the two passwords differ; try again");
            continue;
        }
        return Ok(first);
    }
    bail!("no password chosen")
}

/// What is wrong with a new password, if anything.
fn problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        Some(format!(
            "too short: {chars} character(s), at least {MIN_CHARS} needed"
        ))
    } else if chars > MAX_CHARS {
        Some(format!("too long: at most {MAX_CHARS} characters"))
    } else {
        None
    }
}

fn read_stdin_line() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Asks a yes/no question on standard input; anything but yes is no.
pub(crate) fn confirm(question: &str) -> Result<bool> {
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Asks which of `practices` to sign in to, by number or name, until one is chosen.
pub(crate) fn choose_practice(
    practices: Vec<identity::MyPractice>,
) -> Result<identity::MyPractice> {
    println!("You are active in several practices:");
    for (i, p) in practices.iter().enumerate() {
        println!(
            "  {}. {} ({})",
            i + 1,
            p.practice_name,
            role_title(p.practice_role)
        );
    }
    loop {
        print!("Practice (number or name): ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer)? == 0 {
            bail!("no practice chosen");
        }
        let answer = answer.trim();
        if let Ok(n) = answer.parse::<usize>()
            && (1..=practices.len()).contains(&n)
        {
            return Ok(practices[n - 1].clone());
        }
        match crate::resolve::choose_practice(answer, practices.clone()) {
            Ok(chosen) => return Ok(chosen),
            Err(err) => println!("{err}"),
        }
    }
}

/// Whether a person is at the keyboard (standard input is a terminal), to ask before changes
/// that scripts make without asking.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_follow_identitys_length_rule() {
        for (password, ok) in [
            ("", false),
            ("123456789", false),
            ("1234567890", true),
            ("ééééééééé", false),
            ("éééééééééé", true),
            (&"x".repeat(128), true),
            (&"x".repeat(129), false),
        ] {
            assert_eq!(problem(password).is_none(), ok, "{password:?}");
        }
    }
}
