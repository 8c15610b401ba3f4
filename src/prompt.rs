//! Where `create-admin` gets its password: the environment, the terminal
//! (typed twice, never shown) or one line of standard input (no prompt).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal, Write};

use rustix::termios::{self, LocalModes, OptionalActions};

/// The password from `MOTCUA_ADMIN_PASSWORD`; else, on a terminal, typed
/// twice without echo; else the first line of standard input, read
/// without a prompt (for scripts: `printf '%s\n' "$PASSWORD" | motcua create-admin …`).
pub fn admin_password(username: &str) -> Result<String, String> {
    if let Ok(password) = std::env::var("MOTCUA_ADMIN_PASSWORD")
        && !password.is_empty()
    {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(
                "no password: set MOTCUA_ADMIN_PASSWORD, type it at a terminal, \
                        or give it as the first line of standard input"
                    .into(),
            );
        }
        return Ok(password.to_owned());
    }
    let first = read_hidden(&format!("Password for {username}: "))?;
    let again = read_hidden("The same password again: ")?;
    if first != again {
        return Err("the two passwords differ; nothing was created".into());
    }
    Ok(first)
}

/// Prints `prompt` on the terminal and reads one line with echo off. Echo
/// is switched off before the prompt appears, so nothing typed after it
/// is ever shown; the terminal's settings are restored afterwards.
fn read_hidden(prompt: &str) -> Result<String, String> {
    let failed = |e: std::io::Error| format!("cannot read the password from the terminal: {e}");
    let tty: File = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(failed)?;
    let saved = termios::tcgetattr(&tty).map_err(|e| failed(e.into()))?;
    let mut hidden = saved.clone();
    hidden.local_modes.remove(LocalModes::ECHO);
    hidden.local_modes.insert(LocalModes::ECHONL);
    termios::tcsetattr(&tty, OptionalActions::Flush, &hidden).map_err(|e| failed(e.into()))?;
    let read = (|| {
        (&tty).write_all(prompt.as_bytes())?;
        (&tty).flush()?;
        let mut line = String::new();
        BufReader::new(&tty).read_line(&mut line)?;
        Ok(line)
    })();
    let restored = termios::tcsetattr(&tty, OptionalActions::Now, &saved);
    let line = read.map_err(failed)?;
    restored.map_err(|e| failed(e.into()))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
