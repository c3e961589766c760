//! Number formatting shared by the CLI and the studio, so both print the same figures.

/// Groups the digits of a decimal integer by thousands with `separator`
/// ("2458914796962" → "2 458 914 796 962").
pub fn group_digits(decimal: &str, separator: char) -> String {
    let n = decimal.chars().count();
    let mut out = String::with_capacity(decimal.len() + n / 3 * separator.len_utf8());
    for (i, c) in decimal.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// MACs in millions with one decimal ("285.2").
pub fn mmacs(macs: u64) -> String {
    format!("{:.1}", macs as f64 / 1e6)
}

/// Parameters in millions with two decimals ("5.22").
pub fn mparams(params: u64) -> String {
    format!("{:.2}", params as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_grouped_by_thousands() {
        assert_eq!(group_digits("2458914796962", ' '), "2 458 914 796 962");
        assert_eq!(group_digits("999", ' '), "999");
        assert_eq!(group_digits("1000", '\u{2009}'), "1\u{2009}000");
        assert_eq!(group_digits("", ' '), "");
    }

    #[test]
    fn millions_are_rounded_for_display() {
        assert_eq!(mmacs(2_358_013_952), "2358.0");
        assert_eq!(mmacs(35_293_824), "35.3");
        assert_eq!(mparams(5_223_570), "5.22");
    }
}
