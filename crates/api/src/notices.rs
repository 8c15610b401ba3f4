//! The applicant's notices (issue #16; docs/integration.md): one template
//! per notice and channel, `templates/notices/<notice>.<email|sms>.txt`,
//! built in and replaceable file by file from `MOTCUA_TEMPLATES_DIR`. An
//! e-mail template's first line is `Subject: …`. Placeholders are
//! `{applicant_name}`, `{dossier_code}`, `{procedure_name}`,
//! `{appointment}`, `{reason}` and `{amount}`; a template naming any other
//! stops the server at start, not a delivery later.

use std::collections::HashMap;
use std::path::Path;

use motcua_domain::portal::Notice;
use serde::Deserialize;

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 6] = [
    "applicant_name",
    "dossier_code",
    "procedure_name",
    "appointment",
    "reason",
    "amount",
];

/// A channel a notice goes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// E-mail: a subject and a body.
    Email,
    /// SMS: one text.
    Sms,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// The built-in templates, embedded at build time.
const BUILT_IN: [(Notice, Channel, &str); 12] = [
    (
        Notice::Accepted,
        Channel::Email,
        include_str!("../templates/notices/accepted.email.txt"),
    ),
    (
        Notice::Accepted,
        Channel::Sms,
        include_str!("../templates/notices/accepted.sms.txt"),
    ),
    (
        Notice::SupplementRequested,
        Channel::Email,
        include_str!("../templates/notices/supplement_requested.email.txt"),
    ),
    (
        Notice::SupplementRequested,
        Channel::Sms,
        include_str!("../templates/notices/supplement_requested.sms.txt"),
    ),
    (
        Notice::PaymentRequested,
        Channel::Email,
        include_str!("../templates/notices/payment_requested.email.txt"),
    ),
    (
        Notice::PaymentRequested,
        Channel::Sms,
        include_str!("../templates/notices/payment_requested.sms.txt"),
    ),
    (
        Notice::ResultReady,
        Channel::Email,
        include_str!("../templates/notices/result_ready.email.txt"),
    ),
    (
        Notice::ResultReady,
        Channel::Sms,
        include_str!("../templates/notices/result_ready.sms.txt"),
    ),
    (
        Notice::Apology,
        Channel::Email,
        include_str!("../templates/notices/apology.email.txt"),
    ),
    (
        Notice::Apology,
        Channel::Sms,
        include_str!("../templates/notices/apology.sms.txt"),
    ),
    (
        Notice::Refused,
        Channel::Email,
        include_str!("../templates/notices/refused.email.txt"),
    ),
    (
        Notice::Refused,
        Channel::Sms,
        include_str!("../templates/notices/refused.sms.txt"),
    ),
];

/// Every notice's template for every channel.
#[derive(Debug, Clone)]
pub struct Templates(HashMap<(Notice, Channel), String>);

/// A template that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("notice template {file}: {problem}")]
pub struct TemplateError {
    file: String,
    problem: String,
}

impl Templates {
    /// The built-in templates, each replaced by its file in `dir` where
    /// there is one; every one checked.
    pub fn load(dir: Option<&Path>) -> Result<Self, TemplateError> {
        if let Some(dir) = dir {
            check_dir(dir)?;
        }
        let mut templates = HashMap::new();
        for (notice, channel, built_in) in BUILT_IN {
            let file = format!("{}.{}.txt", notice.as_str(), channel.as_str());
            let text = match dir.map(|dir| dir.join(&file)).filter(|path| path.exists()) {
                Some(path) => std::fs::read_to_string(&path).map_err(|e| TemplateError {
                    file: path.display().to_string(),
                    problem: e.to_string(),
                })?,
                None => built_in.to_owned(),
            };
            check(&text, channel).map_err(|problem| TemplateError {
                file: file.clone(),
                problem,
            })?;
            templates.insert((notice, channel), text);
        }
        Ok(Templates(templates))
    }

    /// The notice `filled` asks for by `channel`: its subject (e-mail
    /// only) and text.
    pub fn render(&self, channel: Channel, filled: &Filled) -> Option<(String, String)> {
        let template = self.0.get(&(filled.notice, channel))?;
        let text = fill(template, filled);
        Some(match channel {
            Channel::Email => {
                let (subject, body) = text.split_once('\n').unwrap_or((&text, ""));
                let subject = subject.strip_prefix("Subject:").unwrap_or(subject).trim();
                (subject.to_owned(), body.trim_start_matches('\n').to_owned())
            }
            Channel::Sms => (String::new(), text.trim().to_owned()),
        })
    }
}

/// A replacement directory must be one, and name only templates that
/// exist: a misspelt file would otherwise be ignored in silence.
fn check_dir(dir: &Path) -> Result<(), TemplateError> {
    let unusable = |problem: String| TemplateError {
        file: dir.display().to_string(),
        problem,
    };
    let listed = std::fs::read_dir(dir).map_err(|e| {
        unusable(format!(
            "MOTCUA_TEMPLATES_DIR is not a readable directory: {e}"
        ))
    })?;
    let known: Vec<String> = BUILT_IN
        .iter()
        .map(|(notice, channel, _)| format!("{}.{}.txt", notice.as_str(), channel.as_str()))
        .collect();
    for entry in listed {
        let name = entry
            .map_err(|e| unusable(e.to_string()))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !name.starts_with('.') && !known.contains(&name) {
            return Err(unusable(format!(
                "`{name}` is not a notice template (they are named like `accepted.email.txt`)"
            )));
        }
    }
    Ok(())
}

/// What a notice's message in the outbox holds (built by
/// `persistence::outbox::enqueue`).
#[derive(Debug, Clone, Deserialize)]
pub struct Filled {
    /// Which notice.
    pub notice: Notice,
    /// The e-mail address or phone number.
    pub to: String,
    /// The applicant's name.
    pub applicant_name: String,
    /// The dossier's code.
    pub dossier_code: String,
    /// The procedure's name.
    pub procedure_name: String,
    /// The appointment, in local time.
    pub appointment: Option<String>,
    /// The reason given (requests, refusals, apologies).
    pub reason: Option<String>,
    /// The fee, in đồng.
    pub amount: Option<i64>,
}

impl Filled {
    fn value(&self, name: &str) -> String {
        match name {
            "applicant_name" => self.applicant_name.clone(),
            "dossier_code" => self.dossier_code.clone(),
            "procedure_name" => self.procedure_name.clone(),
            "appointment" => self.appointment.clone().unwrap_or_default(),
            "reason" => self.reason.clone().unwrap_or_default(),
            "amount" => self.amount.map(group_thousands).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// `150000` as Vietnamese writes it: `150.000`.
fn group_thousands(amount: i64) -> String {
    let digits = amount.unsigned_abs().to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    if amount < 0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// A template cut at its placeholders: literal text and placeholder names,
/// in order; an error for a `{` that is not closed.
fn pieces(template: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let (text, after) = rest.split_at(open);
        let Some((name, tail)) = after[1..].split_once('}') else {
            return Err("a `{` is not closed by a `}`".into());
        };
        pieces.push((text, Some(name)));
        rest = tail;
    }
    pieces.push((rest, None));
    Ok(pieces)
}

fn check(template: &str, channel: Channel) -> Result<(), String> {
    let names = pieces(template)?;
    if let Some(unknown) = names
        .iter()
        .filter_map(|(_, name)| *name)
        .find(|name| !PLACEHOLDERS.contains(name))
    {
        return Err(format!(
            "`{{{unknown}}}` is not one of {}",
            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
        ));
    }
    if channel == Channel::Email && !template.starts_with("Subject:") {
        return Err("an e-mail template begins with `Subject: …`".into());
    }
    if template.trim().is_empty() {
        return Err("is empty".into());
    }
    Ok(())
}

/// The template with each placeholder replaced by its value, in one pass:
/// a value is never read as a template (a name or reason holding `{…}`
/// stays as written).
fn fill(template: &str, filled: &Filled) -> String {
    // Checked at load: every `{` is closed.
    let Ok(pieces) = pieces(template) else {
        return template.to_owned();
    };
    let mut text = String::with_capacity(template.len());
    for (literal, name) in pieces {
        text.push_str(literal);
        if let Some(name) = name {
            text.push_str(&filled.value(name));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(notice: Notice) -> Filled {
        Filled {
            notice,
            to: "an@example.vn".into(),
            applicant_name: "Nguyễn Văn An".into(),
            dossier_code: "000.00.01.H01-261201-0001".into(),
            procedure_name: "Đăng ký khai sinh".into(),
            appointment: Some("14:30 ngày 05/12/2026".into()),
            reason: Some("Thiếu bản sao giấy chứng sinh".into()),
            amount: Some(150_000),
        }
    }

    #[test]
    fn every_built_in_template_is_usable_and_fills_every_placeholder() {
        let templates = Templates::load(None).unwrap_or_else(|e| panic!("{e}"));
        for notice in Notice::ALL {
            for channel in [Channel::Email, Channel::Sms] {
                let (subject, text) = templates
                    .render(channel, &filled(notice))
                    .unwrap_or_else(|| panic!("a template for each"));
                assert!(text.contains("000.00.01.H01-261201-0001"), "{notice:?}");
                assert!(!text.contains('{'), "{notice:?} {channel:?}: {text}");
                assert_eq!(subject.is_empty(), channel == Channel::Sms);
            }
        }
        let (subject, body) = templates
            .render(Channel::Email, &filled(Notice::Accepted))
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(subject, "Hồ sơ 000.00.01.H01-261201-0001 đã được tiếp nhận");
        assert!(body.contains("Thời gian hẹn trả kết quả: 14:30 ngày 05/12/2026."));
        let (_, sms) = templates
            .render(Channel::Sms, &filled(Notice::PaymentRequested))
            .unwrap_or_else(|| panic!("payment"));
        assert!(sms.contains("150.000 dong"), "{sms}");
    }

    #[test]
    fn a_replacement_with_an_unknown_placeholder_stops_the_start() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("refused.sms.txt"),
            "Ho so {code} bi tu choi",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let error = Templates::load(Some(dir.path()))
            .err()
            .unwrap_or_else(|| panic!("unknown placeholder accepted"));
        assert!(error.to_string().contains("`{code}`"), "{error}");
        std::fs::write(dir.path().join("refused.sms.txt"), "Tu choi {dossier_code}")
            .unwrap_or_else(|e| panic!("{e}"));
        let templates = Templates::load(Some(dir.path())).unwrap_or_else(|e| panic!("{e}"));
        let (_, sms) = templates
            .render(Channel::Sms, &filled(Notice::Refused))
            .unwrap_or_else(|| panic!("refused"));
        assert_eq!(sms, "Tu choi 000.00.01.H01-261201-0001");
    }

    #[test]
    fn values_are_filled_in_as_written_never_read_as_templates() {
        let templates = Templates::load(None).unwrap_or_else(|e| panic!("{e}"));
        let mut odd = filled(Notice::Refused);
        odd.applicant_name = "Phạm {reason} Refuse".into();
        odd.reason = Some("Không thuộc thẩm quyền {applicant_name} {amount} %s".into());
        let (_, body) = templates
            .render(Channel::Email, &odd)
            .unwrap_or_else(|| panic!("refused"));
        assert!(body.starts_with("Kính gửi Phạm {reason} Refuse,"), "{body}");
        assert!(
            body.contains("Lý do: Không thuộc thẩm quyền {applicant_name} {amount} %s"),
            "{body}"
        );
    }

    #[test]
    fn a_replacement_directory_must_exist_and_name_only_templates() {
        let missing = Templates::load(Some(Path::new("/nonexistent/templates")));
        assert!(missing.is_err());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("refused.sms.txt"), "Ho so {dossier_code")
            .unwrap_or_else(|e| panic!("{e}"));
        let unclosed = Templates::load(Some(dir.path())).err();
        assert!(
            unclosed.is_some_and(|e| e.to_string().contains("not closed")),
            "an unclosed placeholder"
        );
        std::fs::write(dir.path().join("refused.sms.txt"), "Ho so {dossier_code}")
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("typo.sms.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
        let misspelt = Templates::load(Some(dir.path())).err();
        assert!(
            misspelt.is_some_and(|e| e.to_string().contains("`typo.sms.txt`")),
            "a misspelt file"
        );
    }

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(group_thousands(150_000), "150.000");
        assert_eq!(group_thousands(1_234_567), "1.234.567");
        assert_eq!(group_thousands(999), "999");
    }
}
