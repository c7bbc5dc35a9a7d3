//! Untrusted text never panics: configuration files (damaged copies of
//! the examples and random text), numbers, Refer-To values.

use proptest::prelude::*;

use crate::config::Config;
use crate::number::{NumberPlan, NumberRule};

const TEAMS: &str = include_str!("../../../examples/teams.toml");

proptest! {
    #[test]
    fn random_text_never_panics_the_loader(text in "\\PC{0,400}") {
        let _ = Config::from_toml_str(&text, "random.toml");
    }

    #[test]
    fn damaged_examples_never_panic_the_loader(
        at in 0usize..4000,
        len in 0usize..40,
        junk in "[\\[\\]{}=\",.:+*0-9a-z \n]{0,20}",
    ) {
        let start = at.min(TEAMS.len());
        let end = (start + len).min(TEAMS.len());
        if TEAMS.is_char_boundary(start) && TEAMS.is_char_boundary(end) {
            let text = format!("{}{junk}{}", &TEAMS[..start], &TEAMS[end..]);
            let _ = Config::from_toml_str(&text, "damaged.toml");
        }
    }

    #[test]
    fn numbers_never_panic(user in "\\PC{0,40}", strip in 0usize..40) {
        let plan = NumberPlan {
            country_code: Some("49".into()),
            national_prefix: Some("0".into()),
            international_prefix: Some("00".into()),
            national_digits: Some(10),
            rules: vec![NumberRule { strip, ..NumberRule::default() }],
            ..NumberPlan::default()
        };
        if let Ok(n) = plan.to_e164(&user) {
            prop_assert!(n.as_str().starts_with('+'));
            let _ = plan.format(&n);
        }
    }
}
