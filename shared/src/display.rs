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

/// How an attack's results are named: `PGD-20`, `CW∞-30`, with ` (any iterate)` when an example
/// counts as broken if any iterate fooled it (lower than the papers' final-iterate figure).
pub fn attack_label(name: &str, steps: usize, any_iterate: bool) -> String {
    let suffix = if any_iterate { " (any iterate)" } else { "" };
    format!("{name}-{steps}{suffix}")
}

/// The name of the students' robust accuracy in an experiment config (JSON): its
/// `evaluation.pgd20` steps and iterate, `PGD-20` where the config leaves them out.
pub fn robust_label(config: &serde_json::Value) -> String {
    let pgd = &config["evaluation"]["pgd20"];
    let steps = pgd["steps"].as_u64().unwrap_or(20) as usize;
    attack_label("PGD", steps, pgd["iterate"].as_str() == Some("any-fooling"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_accuracy_is_named_after_its_attack() {
        assert_eq!(robust_label(&serde_json::json!({})), "PGD-20");
        let config =
            serde_json::json!({"evaluation": {"pgd20": {"steps": 10, "iterate": "final"}}});
        assert_eq!(robust_label(&config), "PGD-10");
        let any = serde_json::json!({"evaluation": {"pgd20": {"iterate": "any-fooling"}}});
        assert_eq!(robust_label(&any), "PGD-20 (any iterate)");
        assert_eq!(attack_label("CW∞", 30, false), "CW∞-30");
    }

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
