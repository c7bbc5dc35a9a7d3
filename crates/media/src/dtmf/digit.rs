//! The sixteen DTMF keys: RFC 4733 §3.2 event codes 0-15 and the ITU-T
//! Q.23 frequency pairs.

use std::fmt;

/// Low-group (row) frequencies in hertz, ITU-T Q.23 Table 1.
pub(crate) const ROW_HZ: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in hertz, ITU-T Q.23 Table 1.
pub(crate) const COLUMN_HZ: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Keys by row and column, as on the keypad (ITU-T Q.23 Figure 1).
const KEYPAD: [[DtmfDigit; 4]; 4] = [
    [
        DtmfDigit::One,
        DtmfDigit::Two,
        DtmfDigit::Three,
        DtmfDigit::A,
    ],
    [
        DtmfDigit::Four,
        DtmfDigit::Five,
        DtmfDigit::Six,
        DtmfDigit::B,
    ],
    [
        DtmfDigit::Seven,
        DtmfDigit::Eight,
        DtmfDigit::Nine,
        DtmfDigit::C,
    ],
    [
        DtmfDigit::Star,
        DtmfDigit::Zero,
        DtmfDigit::Pound,
        DtmfDigit::D,
    ],
];

/// One DTMF key. The discriminant is the RFC 4733 §3.2 event code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtmfDigit {
    /// `0`, event 0.
    Zero = 0,
    /// `1`, event 1.
    One = 1,
    /// `2`, event 2.
    Two = 2,
    /// `3`, event 3.
    Three = 3,
    /// `4`, event 4.
    Four = 4,
    /// `5`, event 5.
    Five = 5,
    /// `6`, event 6.
    Six = 6,
    /// `7`, event 7.
    Seven = 7,
    /// `8`, event 8.
    Eight = 8,
    /// `9`, event 9.
    Nine = 9,
    /// `*`, event 10.
    Star = 10,
    /// `#`, event 11.
    Pound = 11,
    /// `A`, event 12.
    A = 12,
    /// `B`, event 13.
    B = 13,
    /// `C`, event 14.
    C = 14,
    /// `D`, event 15.
    D = 15,
}

impl DtmfDigit {
    /// Every key, in event-code order.
    pub const ALL: [DtmfDigit; 16] = [
        DtmfDigit::Zero,
        DtmfDigit::One,
        DtmfDigit::Two,
        DtmfDigit::Three,
        DtmfDigit::Four,
        DtmfDigit::Five,
        DtmfDigit::Six,
        DtmfDigit::Seven,
        DtmfDigit::Eight,
        DtmfDigit::Nine,
        DtmfDigit::Star,
        DtmfDigit::Pound,
        DtmfDigit::A,
        DtmfDigit::B,
        DtmfDigit::C,
        DtmfDigit::D,
    ];

    /// The key of an RFC 4733 event code, `None` above 15 (flash and the
    /// non-DTMF events of RFC 4734).
    pub fn from_event_code(code: u8) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The RFC 4733 §3.2 event code, 0..=15.
    pub const fn event_code(self) -> u8 {
        self as u8
    }

    /// The key written as `character` (`0`-`9`, `*`, `#`, `A`-`D`, letters
    /// in either case).
    pub fn from_char(character: char) -> Option<Self> {
        Some(match character {
            '0'..='9' => Self::ALL[character as usize - '0' as usize],
            '*' => DtmfDigit::Star,
            '#' => DtmfDigit::Pound,
            'A' | 'a' => DtmfDigit::A,
            'B' | 'b' => DtmfDigit::B,
            'C' | 'c' => DtmfDigit::C,
            'D' | 'd' => DtmfDigit::D,
            _ => return None,
        })
    }

    /// The key as a character: `0`-`9`, `*`, `#`, `A`-`D`.
    pub const fn as_char(self) -> char {
        match self {
            DtmfDigit::Star => '*',
            DtmfDigit::Pound => '#',
            DtmfDigit::A => 'A',
            DtmfDigit::B => 'B',
            DtmfDigit::C => 'C',
            DtmfDigit::D => 'D',
            // Events 0-9 are the digits themselves.
            digit => (b'0' + digit as u8) as char,
        }
    }

    /// The key at `row` and `column` of the keypad (each 0..=3).
    pub(crate) fn at(row: usize, column: usize) -> Option<Self> {
        KEYPAD.get(row)?.get(column).copied()
    }

    /// Row and column of the key on the keypad.
    pub(crate) fn position(self) -> (usize, usize) {
        let code = self as usize;
        match self {
            DtmfDigit::Zero => (3, 1),
            DtmfDigit::Star => (3, 0),
            DtmfDigit::Pound => (3, 2),
            DtmfDigit::A | DtmfDigit::B | DtmfDigit::C | DtmfDigit::D => (code - 12, 3),
            _ => ((code - 1) / 3, (code - 1) % 3),
        }
    }

    /// The low-group and high-group frequencies in hertz (ITU-T Q.23).
    pub fn frequencies(self) -> (f32, f32) {
        let (row, column) = self.position();
        (ROW_HZ[row], COLUMN_HZ[column])
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_characters_and_keypad_agree() {
        for (code, digit) in DtmfDigit::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(digit.event_code()), code);
            assert_eq!(DtmfDigit::from_event_code(code as u8), Some(digit));
            assert_eq!(DtmfDigit::from_char(digit.as_char()), Some(digit));
            let (row, column) = digit.position();
            assert_eq!(DtmfDigit::at(row, column), Some(digit));
        }
        assert_eq!(DtmfDigit::from_event_code(16), None);
        assert_eq!(DtmfDigit::from_char('e'), None);
        assert_eq!(DtmfDigit::from_char('d'), Some(DtmfDigit::D));
        assert_eq!(DtmfDigit::Pound.frequencies(), (941.0, 1477.0));
        assert_eq!(DtmfDigit::Five.frequencies(), (770.0, 1336.0));
        assert_eq!(DtmfDigit::A.frequencies(), (697.0, 1633.0));
        assert_eq!(DtmfDigit::Star.to_string(), "*");
    }
}
