//! What a run found: the table on stdout, the summary line, JUnit XML (the Jenkins/Ant schema
//! GitLab, Jenkins and the common GitHub actions read) and JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// A case's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub suite: String,
    pub case: String,
    pub verdict: Verdict,
    /// The pass note, the skip reason or what differed.
    pub message: String,
    #[serde(rename = "seconds", serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub target: String,
    pub connector: String,
    pub seed: u64,
    pub cases_per_property: u32,
    pub results: Vec<CaseReport>,
    /// Set when the run was interrupted before every case ran.
    pub interrupted: bool,
    /// What the clean-up of a remote target did.
    pub clean_up: Vec<String>,
}

impl RunReport {
    pub fn count(&self, v: Verdict) -> usize {
        self.results.iter().filter(|r| r.verdict == v).count()
    }

    /// Everything passed (skips allowed) and the run was not cut short.
    pub fn ok(&self) -> bool {
        self.count(Verdict::Fail) == 0 && !self.interrupted
    }

    /// `conformance: N passed, N failed, N skipped`.
    pub fn summary_line(&self) -> String {
        format!(
            "conformance: {} passed, {} failed, {} skipped",
            self.count(Verdict::Pass),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip)
        )
    }

    /// One row a case: suite, case, result, time, and the note.
    pub fn table(&self) -> String {
        let w_suite = self.results.iter().map(|r| r.suite.len()).max().unwrap_or(5).max(5);
        let w_case = self.results.iter().map(|r| r.case.len()).max().unwrap_or(4).max(4);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:w_suite$}  {:w_case$}  result  {:>7}  note",
            "suite", "case", "time"
        );
        for r in &self.results {
            let _ = writeln!(
                out,
                "{:w_suite$}  {:w_case$}  {:6}  {:>6.2}s  {}",
                r.suite,
                r.case,
                r.verdict.label(),
                r.elapsed.as_secs_f64(),
                first_line(&r.message)
            );
        }
        out
    }

    /// Each failure in full, after the table.
    pub fn failures(&self) -> String {
        let mut out = String::new();
        for r in self.results.iter().filter(|r| r.verdict == Verdict::Fail) {
            let _ = writeln!(out, "\n--- FAIL {}::{}\n{}", r.suite, r.case, r.message.trim_end());
        }
        out
    }

    pub fn junit(&self) -> String {
        let total: f64 = self.results.iter().map(|r| r.elapsed.as_secs_f64()).sum();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuites name=\"notion-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\" time=\"{total:.3}\">",
            self.results.len(),
            self.count(Verdict::Fail),
            self.count(Verdict::Skip)
        );
        let mut suites: Vec<&str> = self.results.iter().map(|r| r.suite.as_str()).collect();
        suites.dedup();
        for suite in suites {
            let rows: Vec<&CaseReport> = self.results.iter().filter(|r| r.suite == suite).collect();
            let time: f64 = rows.iter().map(|r| r.elapsed.as_secs_f64()).sum();
            let _ = writeln!(
                out,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" errors=\"0\" time=\"{time:.3}\">",
                xml(suite),
                rows.len(),
                rows.iter().filter(|r| r.verdict == Verdict::Fail).count(),
                rows.iter().filter(|r| r.verdict == Verdict::Skip).count()
            );
            for r in rows {
                let _ = write!(
                    out,
                    "    <testcase classname=\"notion-conformance.{}\" name=\"{}\" time=\"{:.3}\"",
                    xml(&r.suite),
                    xml(&r.case),
                    r.elapsed.as_secs_f64()
                );
                match r.verdict {
                    Verdict::Pass => out.push_str("/>\n"),
                    Verdict::Skip => {
                        let _ = writeln!(
                            out,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            xml(&r.message)
                        );
                    }
                    Verdict::Fail => {
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\" type=\"conformance\">{}</failure>\n    </testcase>",
                            xml(first_line(&r.message)),
                            xml(&r.message)
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot carry.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> RunReport {
        let row = |suite: &str, case: &str, verdict, message: &str| CaseReport {
            suite: suite.into(),
            case: case.into(),
            verdict,
            message: message.into(),
            elapsed: Duration::from_millis(1500),
        };
        RunReport {
            target: "t".into(),
            connector: "c".into(),
            seed: 1,
            cases_per_property: 2,
            results: vec![
                row("sync", "a", Verdict::Pass, "ok"),
                row("sync", "b<&>", Verdict::Fail, "missing user \"x\"\nsecond line"),
                row("behaviour", "c", Verdict::Skip, "no admin API"),
            ],
            interrupted: false,
            clean_up: vec![],
        }
    }

    #[test]
    fn summary_and_verdict() {
        let r = report();
        assert_eq!(r.summary_line(), "conformance: 1 passed, 1 failed, 1 skipped");
        assert!(!r.ok());
        assert!(r.table().contains("FAIL"));
        assert!(r.failures().contains("second line"));
    }

    #[test]
    fn junit_is_escaped_and_counted() {
        let x = report().junit();
        assert!(x.contains("tests=\"3\" failures=\"1\" skipped=\"1\""));
        assert!(x.contains("name=\"b&lt;&amp;&gt;\""));
        assert!(x.contains("<failure message=\"missing user &quot;x&quot;\""));
        assert!(x.contains("<skipped message=\"no admin API\"/>"));
        assert_eq!(x.matches("<testsuite ").count(), 2);
    }
}
