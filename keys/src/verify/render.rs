//! The verifier's report for people and machines: the verdict line, one text line per check,
//! and JSON.

use super::{RESTS_ON_COORDINATOR, VerifyReport};

impl VerifyReport {
    /// The verdict line: `VERIFIED: all N checks passed` (with `, W warning(s)` when there are
    /// warnings) or `NOT VERIFIED: M of N checks failed`.
    pub fn verdict(&self) -> String {
        let total = self.checks.len();
        let failed = self.failures().count();
        let warned = match self.warnings.len() {
            0 => String::new(),
            1 => ", 1 warning".to_owned(),
            n => format!(", {n} warnings"),
        };
        if self.passed() {
            format!("VERIFIED: all {total} checks passed{warned}")
        } else {
            format!("NOT VERIFIED: {failed} of {total} checks failed{warned}")
        }
    }

    /// Whether the package passes under `--strict`: every check passed and nothing warned.
    pub fn passed_strictly(&self) -> bool {
        self.passed() && self.warnings.is_empty()
    }

    /// Human-readable output: one line per check, one per warning, what rests on the
    /// coordinator's word, then the verdict.
    pub fn render_text(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.len())
            .chain(self.warnings.iter().map(|w| w.name.len()))
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let status = if check.passed { "PASS" } else { "FAIL" };
            out.push_str(&format!(
                "{status}  {:<width$}  {}\n",
                check.name, check.detail
            ));
        }
        for warning in &self.warnings {
            out.push_str(&format!(
                "WARN  {:<width$}  {}\n",
                warning.name, warning.detail
            ));
        }
        out.push_str("Not checked (rests on the coordinator's word):\n");
        for line in RESTS_ON_COORDINATOR {
            out.push_str(&format!("  - {line}\n"));
        }
        out.push_str(&self.verdict());
        out.push('\n');
        out
    }

    /// Machine-readable output: the checks and the verdict.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verified": self.passed(),
            "verdict": self.verdict(),
            "total": self.checks.len(),
            "failed": self.failures().count(),
            "checks": self.checks,
            "warnings": self.warnings,
            "not_checked": RESTS_ON_COORDINATOR,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Check;
    use super::*;

    fn check(name: &str, passed: bool, detail: &str) -> Check {
        Check {
            name: name.to_owned(),
            passed,
            detail: detail.to_owned(),
            file: None,
            site: None,
            cell: None,
        }
    }

    #[test]
    fn text_aligns_names_and_ends_with_the_verdict() {
        let report = VerifyReport {
            checks: vec![
                check("readme", true, "fine"),
                check("totals", false, "off by one"),
            ],
            warnings: Vec::new(),
        };
        let text = report.render_text();
        assert!(
            text.starts_with("PASS  readme  fine\nFAIL  totals  off by one\nNot checked"),
            "{text}"
        );
        assert!(
            text.ends_with("\nNOT VERIFIED: 1 of 2 checks failed\n"),
            "{text}"
        );
        for line in RESTS_ON_COORDINATOR {
            assert!(text.contains(line), "{line}");
        }
        let json = report.to_json();
        assert_eq!(json["verified"], false);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["total"], 2);
        assert_eq!(json["checks"][1]["name"], "totals");
    }

    #[test]
    fn no_checks_is_not_verified() {
        let report = VerifyReport {
            checks: Vec::new(),
            warnings: Vec::new(),
        };
        assert!(!report.passed());
        assert_eq!(report.verdict(), "NOT VERIFIED: 0 of 0 checks failed");
    }

    #[test]
    fn warnings_are_listed_counted_and_fail_only_strictly() {
        let report = VerifyReport {
            checks: vec![check("readme", true, "fine")],
            warnings: vec![super::super::Warning {
                name: "incomplete".to_owned(),
                detail: "4 of 6 expected sites reported".to_owned(),
                site: None,
            }],
        };
        assert!(report.passed());
        assert!(!report.passed_strictly());
        assert_eq!(report.verdict(), "VERIFIED: all 1 checks passed, 1 warning");
        assert!(
            report
                .render_text()
                .contains("WARN  incomplete  4 of 6 expected sites reported\n")
        );
        assert_eq!(report.to_json()["warnings"][0]["name"], "incomplete");
    }
}
