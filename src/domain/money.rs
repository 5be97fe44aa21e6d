//! Money is integer micro-dollars (1 USD = 1,000,000), never a float.
//! [`Money`] holds an amount with the rounding rule of every amount billed
//! or shown as earned (half away from zero: invoice cents, the overview's
//! and TPC's markups and prorated prices, through `round_div`) and the one
//! exact display. Wire types keep plain `*_micros` / `*_cents` integers;
//! displays that round for people (the dashboard's `ui::format::usd`)
//! start from these. (The forecast's daily usage revenue still truncates,
//! as it always has; it is a projection, never billed.)

/// An amount of money in micro-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// `self * numerator / denominator`, rounded half away from zero (a
    /// markup in basis points, a share of days): the one rounding rule.
    pub fn scaled(self, numerator: i64, denominator: i64) -> Self {
        Self(round_div(
            i128::from(self.0) * i128::from(numerator),
            i128::from(denominator),
        ))
    }

    /// Whole cents, half away from zero (invoices).
    pub fn cents(self) -> i64 {
        round_div(i128::from(self.0), 10_000)
    }
}

impl std::fmt::Display for Money {
    /// The exact decimal with six places: `-1.234567`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let m = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
    }
}

/// Micro-dollars as an exact decimal with six places: `-1.234567`.
pub fn micros_decimal(micros: i64) -> String {
    Money::from_micros(micros).to_string()
}

/// n / d rounded half away from zero (saturating at the ends of i64).
pub fn round_div(n: i128, d: i128) -> i64 {
    if d == 0 {
        return 0;
    }
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    let q = if n >= 0 {
        (2 * n + d) / (2 * d)
    } else {
        -((2 * -n + d) / (2 * d))
    };
    i64::try_from(q).unwrap_or(if q > 0 { i64::MAX } else { i64::MIN })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_exact_places_and_the_sign_in_front() {
        assert_eq!(micros_decimal(0), "0.000000");
        assert_eq!(micros_decimal(1_234_567), "1.234567");
        assert_eq!(micros_decimal(-5), "-0.000005");
        assert_eq!(micros_decimal(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn one_rounding_rule_half_away_from_zero() {
        assert_eq!(Money::from_micros(5_000).cents(), 1);
        assert_eq!(Money::from_micros(4_999).cents(), 0);
        assert_eq!(Money::from_micros(-5_000).cents(), -1);
        assert_eq!(Money::from_micros(-14_999).cents(), -1);
        // 20 % markup of 0.000003 $ = 0.6 micro -> 1; of -3 -> -1.
        assert_eq!(Money::from_micros(3).scaled(2_000, 10_000).micros(), 1);
        assert_eq!(Money::from_micros(-3).scaled(2_000, 10_000).micros(), -1);
        assert_eq!(Money::from_micros(7).scaled(1, 0), Money::ZERO);
        assert_eq!(Money::from_micros(i64::MAX).scaled(2, 1).micros(), i64::MAX);
    }
}
