//! Phone numbers: the [`E164`] form Teams wants (ITU-T E.164 §6, written
//! with a leading `+` as in RFC 3966 §5.1.4 global numbers) and per-trunk
//! [`NumberPlan`]s that turn what a carrier or a Teams user sends into it
//! and back into what a carrier expects.
//!
//! Rules are plain prefixes and digit counts, not regular expressions:
//! the first [`NumberRule`] whose prefix and length match rewrites the
//! number (strip N leading characters, add a prefix); then the plan's
//! international prefix becomes `+`, its national prefix becomes `+` and
//! the country code, and a bare national number of `national_digits`
//! digits gets the country code.

use std::fmt;
use std::str::FromStr;

use crate::error::NumberError;

/// A number in E.164 form: `+`, then 3 to 15 digits, the first not zero.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// Reads `+` followed by digits, nothing else.
    pub fn parse(s: &str) -> Result<E164, NumberError> {
        let digits = s.strip_prefix('+').ok_or(NumberError::NotE164)?;
        if digits.is_empty() {
            return Err(NumberError::Empty);
        }
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotDigits);
        }
        if !(3..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(NumberError::NotE164);
        }
        Ok(E164(s.to_owned()))
    }

    /// The number with its leading `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`.
    pub fn digits(&self) -> &str {
        self.0.get(1..).unwrap_or("")
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for E164 {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<E164, NumberError> {
        E164::parse(s)
    }
}

/// One rewrite: numbers that start with `prefix` and have between
/// `min_digits` and `max_digits` digits lose `strip` leading characters and
/// gain `add` in front.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberRule {
    /// The number must start with this (`""` matches all; may start with `+`).
    pub prefix: String,
    /// Fewest digits the number may have to match.
    pub min_digits: Option<usize>,
    /// Most digits the number may have to match.
    pub max_digits: Option<usize>,
    /// How many leading characters to remove.
    pub strip: usize,
    /// What to put in front after stripping.
    pub add: String,
}

impl NumberRule {
    fn apply(&self, number: &str) -> Option<String> {
        if !number.starts_with(&self.prefix) {
            return None;
        }
        let digits = number.bytes().filter(u8::is_ascii_digit).count();
        if self.min_digits.is_some_and(|min| digits < min)
            || self.max_digits.is_some_and(|max| digits > max)
        {
            return None;
        }
        let rest = number.get(self.strip.min(number.len())..).unwrap_or("");
        Some(format!("{}{rest}", self.add))
    }
}

/// How numbers are written towards a carrier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NumberFormat {
    /// `+12065550100`.
    #[default]
    E164,
    /// `12065550100`.
    E164WithoutPlus,
    /// National prefix and national number for the plan's own country
    /// (`12065550100` in the US, `030123456` in Germany), international
    /// prefix and digits for others (`01149301234`, `0012065550100`).
    National,
}

/// The numbering conventions of one carrier trunk or one tenant's dial plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberPlan {
    /// Country calling code without `+`, e.g. `1` or `49`.
    pub country_code: Option<String>,
    /// Trunk prefix before national numbers, e.g. `0` (most of Europe) or
    /// `1` (NANP).
    pub national_prefix: Option<String>,
    /// International call prefix, e.g. `00` or `011`.
    pub international_prefix: Option<String>,
    /// Length of a national number written without prefix (10 in NANP);
    /// such a number gets the country code. Also the length a number must
    /// have after the national prefix, when set.
    pub national_digits: Option<usize>,
    /// Rewrites tried first, in order; the first that matches applies.
    pub rules: Vec<NumberRule>,
    /// How numbers are written towards the carrier.
    pub outbound: NumberFormat,
}

/// The digits of a SIP user part or tel number with visual separators
/// (RFC 3966 §5.1.1) and user parameters (`;phone-context=..`) removed.
fn clean(user: &str) -> Result<String, NumberError> {
    let decoded = sip::percent_decode(user);
    let number = decoded.split(';').next().unwrap_or("");
    let mut out = String::with_capacity(number.len());
    for (i, c) in number.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            '-' | '.' | '(' | ')' | ' ' => {}
            _ => return Err(NumberError::NotDigits),
        }
    }
    if out.trim_start_matches('+').is_empty() {
        return Err(NumberError::Empty);
    }
    Ok(out)
}

impl NumberPlan {
    /// The E.164 form of `user` (a Request-URI or To user part, a tel
    /// number, or a dialled string).
    pub fn to_e164(&self, user: &str) -> Result<E164, NumberError> {
        let mut number = clean(user)?;
        if let Some(rewritten) = self.rules.iter().find_map(|rule| rule.apply(&number)) {
            number = rewritten;
        }
        if number.starts_with('+') {
            return E164::parse(&number);
        }
        if let Some(rest) = self
            .international_prefix
            .as_deref()
            .and_then(|p| number.strip_prefix(p))
        {
            return E164::parse(&format!("+{rest}"));
        }
        let Some(cc) = self.country_code.as_deref() else {
            return Err(NumberError::NoRule);
        };
        if let Some(rest) = self
            .national_prefix
            .as_deref()
            .and_then(|p| number.strip_prefix(p))
        {
            if self.national_digits.is_none_or(|n| rest.len() == n) {
                return E164::parse(&format!("+{cc}{rest}"));
            }
        }
        if self.national_digits == Some(number.len()) {
            return E164::parse(&format!("+{cc}{number}"));
        }
        Err(NumberError::NoRule)
    }

    /// `number` written as this plan's carrier expects it.
    pub fn format(&self, number: &E164) -> String {
        match self.outbound {
            NumberFormat::E164 => number.as_str().to_owned(),
            NumberFormat::E164WithoutPlus => number.digits().to_owned(),
            NumberFormat::National => {
                let national = self
                    .country_code
                    .as_deref()
                    .and_then(|cc| number.digits().strip_prefix(cc));
                match (national, &self.national_prefix) {
                    (Some(rest), Some(prefix)) => format!("{prefix}{rest}"),
                    (Some(rest), None) => rest.to_owned(),
                    (None, _) => format!(
                        "{}{}",
                        self.international_prefix.as_deref().unwrap_or("+"),
                        number.digits()
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nanp() -> NumberPlan {
        NumberPlan {
            country_code: Some("1".into()),
            national_prefix: Some("1".into()),
            international_prefix: Some("011".into()),
            national_digits: Some(10),
            rules: vec![],
            outbound: NumberFormat::National,
        }
    }

    fn germany() -> NumberPlan {
        NumberPlan {
            country_code: Some("49".into()),
            national_prefix: Some("0".into()),
            international_prefix: Some("00".into()),
            national_digits: None,
            rules: vec![],
            outbound: NumberFormat::National,
        }
    }

    fn e164(plan: &NumberPlan, s: &str) -> String {
        plan.to_e164(s).unwrap().to_string()
    }

    #[test]
    fn us_numbers_in_every_usual_form() {
        let plan = nanp();
        assert_eq!(e164(&plan, "2065550100"), "+12065550100");
        assert_eq!(e164(&plan, "12065550100"), "+12065550100");
        assert_eq!(e164(&plan, "+12065550100"), "+12065550100");
        assert_eq!(e164(&plan, "(206) 555-0100"), "+12065550100");
        assert_eq!(e164(&plan, "%2B1.206.555.0100"), "+12065550100");
        assert_eq!(e164(&plan, "+12065550100;npdi"), "+12065550100");
        assert_eq!(e164(&plan, "011442071838750"), "+442071838750");
        // Seven digits (local dialling) is not a national number.
        assert_eq!(plan.to_e164("5550100"), Err(NumberError::NoRule));
        assert_eq!(plan.to_e164("*67"), Err(NumberError::NotDigits));
    }

    #[test]
    fn european_numbers() {
        let plan = germany();
        assert_eq!(e164(&plan, "030123456"), "+4930123456");
        assert_eq!(e164(&plan, "0049 30 123456"), "+4930123456");
        assert_eq!(e164(&plan, "00442071838750"), "+442071838750");
        assert_eq!(plan.to_e164("123456"), Err(NumberError::NoRule));
        let uk = NumberPlan {
            country_code: Some("44".into()),
            national_prefix: Some("0".into()),
            international_prefix: Some("00".into()),
            ..NumberPlan::default()
        };
        assert_eq!(e164(&uk, "020 7183 8750"), "+442071838750");
        assert_eq!(e164(&uk, "0033142685300"), "+33142685300");
    }

    #[test]
    fn rules_run_first_and_respect_length() {
        let mut plan = germany();
        // An outside-line 9 in front of anything; a 4-digit extension maps
        // to the company's DID block.
        plan.rules = vec![
            NumberRule {
                prefix: "9".into(),
                strip: 1,
                min_digits: Some(6),
                ..NumberRule::default()
            },
            NumberRule {
                prefix: "".into(),
                min_digits: Some(4),
                max_digits: Some(4),
                add: "+493012345".into(),
                ..NumberRule::default()
            },
        ];
        assert_eq!(e164(&plan, "9030123456"), "+4930123456");
        assert_eq!(e164(&plan, "2001"), "+4930123452001");
        // A 3-digit string matches neither rule.
        assert_eq!(plan.to_e164("200"), Err(NumberError::NoRule));
    }

    #[test]
    fn outbound_formats() {
        let us = nanp();
        let n = E164::parse("+12065550100").unwrap();
        let uk = E164::parse("+442071838750").unwrap();
        assert_eq!(us.format(&n), "12065550100");
        assert_eq!(us.format(&uk), "011442071838750");
        let de = germany();
        assert_eq!(de.format(&E164::parse("+4930123456").unwrap()), "030123456");
        assert_eq!(de.format(&n), "0012065550100");
        let plain = NumberPlan {
            outbound: NumberFormat::E164WithoutPlus,
            ..NumberPlan::default()
        };
        assert_eq!(plain.format(&n), "12065550100");
        assert_eq!(NumberPlan::default().format(&n), "+12065550100");
    }

    #[test]
    fn e164_validation() {
        assert!(E164::parse("+12065550100").is_ok());
        assert_eq!(E164::parse("12065550100"), Err(NumberError::NotE164));
        assert_eq!(E164::parse("+0123456"), Err(NumberError::NotE164));
        assert_eq!(E164::parse("+1234567890123456"), Err(NumberError::NotE164));
        assert_eq!(E164::parse("+12a"), Err(NumberError::NotDigits));
        assert_eq!(E164::parse("+"), Err(NumberError::Empty));
        assert_eq!(E164::parse("+12065550100").unwrap().digits(), "12065550100");
    }
}
