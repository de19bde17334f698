//! The verifier's report for people and machines: the verdict line, one text line per check,
//! and JSON.

use super::VerifyReport;

impl VerifyReport {
    /// The verdict line: `VERIFIED: all N checks passed` or `NOT VERIFIED: M of N checks failed`.
    pub fn verdict(&self) -> String {
        let total = self.checks.len();
        let failed = self.failures().count();
        if self.passed() {
            format!("VERIFIED: all {total} checks passed")
        } else {
            format!("NOT VERIFIED: {failed} of {total} checks failed")
        }
    }

    /// Human-readable output: one line per check, then the verdict.
    pub fn render_text(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for check in &self.checks {
            let status = if check.passed { "PASS" } else { "FAIL" };
            out.push_str(&format!(
                "{status}  {:<width$}  {}\n",
                check.name, check.detail
            ));
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
        };
        assert_eq!(
            report.render_text(),
            "PASS  readme  fine\nFAIL  totals  off by one\nNOT VERIFIED: 1 of 2 checks failed\n"
        );
        let json = report.to_json();
        assert_eq!(json["verified"], false);
        assert_eq!(json["failed"], 1);
        assert_eq!(json["total"], 2);
        assert_eq!(json["checks"][1]["name"], "totals");
    }

    #[test]
    fn no_checks_is_not_verified() {
        let report = VerifyReport { checks: Vec::new() };
        assert!(!report.passed());
        assert_eq!(report.verdict(), "NOT VERIFIED: 0 of 0 checks failed");
    }
}
