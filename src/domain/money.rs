//! Money is integer micro-dollars (1 USD = 1,000,000), never a float. This
//! is its one exact decimal form; displays that round (the dashboard's
//! `ui::format::usd`) start from it.

/// Micro-dollars as an exact decimal with six places: `-1.234567`.
pub fn micros_decimal(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    format!("{sign}{}.{:06}", m / 1_000_000, m % 1_000_000)
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
}
