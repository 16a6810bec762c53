//! rotate-test's JUnit XML (`--junit`), written with quick-junit: a test
//! suite with one test case per prompt (a failure carries the give-up
//! reason and the last error), and a `thresholds` suite with one test case
//! per threshold checked.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::report::RotateReport;

/// The report as JUnit XML.
pub fn render(r: &RotateReport) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("rotor rotate-test");
    report.set_time(secs(r.info.elapsed_s));

    let mut prompts = TestSuite::new(format!("rotate-test {}", r.info.suite));
    prompts.set_time(secs(r.info.elapsed_s));
    prompts.add_property(Property::new("policy", r.info.policy.as_str()));
    prompts.add_property(Property::new("backend", r.info.backend.as_str()));
    prompts.add_property(Property::new("chain", r.info.chain.join(",")));
    prompts.add_property(Property::new("run_id", r.info.run_id.as_str()));
    let repeats = r.repeats();
    for p in &r.prompts {
        let status = if p.ok {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type(p.gave_up.as_deref().unwrap_or("no_answer"));
            st.set_message(p.failure.as_deref().unwrap_or("no answer"));
            st
        };
        let mut case = TestCase::new(p.name(repeats), status);
        case.set_classname(format!("rotor.{}", r.info.suite));
        case.set_time(secs(p.elapsed_ms / 1000.0));
        if let Some(m) = &p.model_used {
            case.add_property(Property::new("model", m.as_str()));
        }
        case.add_property(Property::new("attempts", p.attempts.to_string()));
        case.add_property(Property::new("fallbacks", p.fallbacks.to_string()));
        case.add_property(Property::new("waited_ms", p.waited_ms.to_string()));
        if let Some(v) = &p.validation {
            case.add_property(Property::new("validation", v.as_str()));
        }
        if let Some(d) = &p.validation_detail {
            case.add_property(Property::new("validation_detail", d.as_str()));
        }
        prompts.add_test_case(case);
    }
    report.add_test_suite(prompts);

    let mut checks = TestSuite::new("thresholds");
    for c in &r.thresholds {
        let status = if c.passed {
            TestCaseStatus::success()
        } else {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("threshold");
            st.set_message(c.describe());
            st
        };
        let mut case = TestCase::new(c.name, status);
        case.set_classname("rotor.thresholds");
        checks.add_test_case(case);
    }
    // An interrupted run is a failed one (as the Markdown and the exit code
    // say): the prompts it did not reach were never checked.
    if r.info.interrupted {
        let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
        st.set_type("interrupted");
        st.set_message(
            "the run was interrupted: the prompts it did not reach are not in this report",
        );
        let mut case = TestCase::new("completed", st);
        case.set_classname("rotor.thresholds");
        checks.add_test_case(case);
    }
    report.add_test_suite(checks);
    report.to_string()
}

/// The JUnit of a run that could not be made (exit code 3: an unreachable
/// server, a rejected key): one test case in error, saying why, so a CI
/// step that publishes the file shows the reason instead of "no files".
pub fn render_environment_failure(why: &str) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("rotor rotate-test");
    let mut suite = TestSuite::new("rotate-test");
    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
    st.set_type("environment");
    st.set_message(why);
    let mut case = TestCase::new("run", st);
    case.set_classname("rotor.environment");
    suite.add_test_case(case);
    report.add_test_suite(suite);
    report.to_string()
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}
