//! How the pages write money, shares and counts.

/// Micro-dollars as dollars: "$1,234.56"; amounts under a dollar keep four
/// decimals ("$0.0042"), so per-request and per-user costs stay readable.
pub fn usd(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    if abs != 0 && abs < 50 {
        return format!("{sign}<$0.0001");
    }
    if abs < 1_000_000 && abs != 0 {
        let tenth_cents = (abs + 50) / 100; // 4 decimals, half up
        return format!("{sign}$0.{tenth_cents:04}");
    }
    let cents = (abs + 5_000) / 10_000;
    format!("{sign}${}.{:02}", thousands(cents / 100), cents % 100)
}

/// A dollar amount on a chart axis (f64 dollars).
pub fn usd_axis(dollars: f64) -> String {
    let abs = dollars.abs();
    if abs >= 1_000.0 {
        format!("${}", thousands(dollars.round() as u64))
    } else if abs >= 10.0 || abs == 0.0 {
        format!("${dollars:.0}")
    } else if abs >= 0.1 {
        format!("${dollars:.2}")
    } else {
        format!("${dollars:.4}")
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn count(n: i64) -> String {
    let s = thousands(n.unsigned_abs());
    if n < 0 {
        format!("-{s}")
    } else {
        s
    }
}

/// Basis points as a percentage: 1234 -> "12.3%".
pub fn bps(value: i64) -> String {
    format!("{:.1}%", value as f64 / 100.0)
}

/// A signed change in basis points: "+12.3%", "-4.0%".
pub fn trend(value: Option<i64>) -> String {
    match value {
        Some(v) if v > 0 => format!("+{}", bps(v)),
        Some(v) => bps(v),
        None => "new".to_string(),
    }
}

pub fn percent_axis(v: f64) -> String {
    format!("{v:.0}%")
}

/// Bytes as B / KB / MB / GB (powers of 1000).
pub fn bytes(n: i64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.2} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.2} MB", n / 1e6),
        n if n >= 1e3 => format!("{:.1} KB", n / 1e3),
        n => format!("{n:.0} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_counts() {
        assert_eq!(usd(1_234_567_890), "$1,234.57");
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(4_200), "$0.0042");
        assert_eq!(usd(3), "<$0.0001");
        assert_eq!(usd(-2_500_000), "-$2.50");
        assert_eq!(usd_axis(1500.0), "$1,500");
        assert_eq!(usd_axis(0.05), "$0.0500");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(bps(1234), "12.3%");
        assert_eq!(trend(Some(500)), "+5.0%");
        assert_eq!(trend(None), "new");
        assert_eq!(bytes(1_500_000), "1.50 MB");
    }
}
