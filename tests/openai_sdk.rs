//! The official OpenAI Python SDK works against `rotor sim` unchanged: a
//! completion, a streamed completion, and its own retry on the simulator's 429
//! honouring retry-after-ms (scripts/openai_sdk_check.py). Runs when python3
//! and the `openai` package are available; otherwise it says why it skipped.

mod common;

use common::*;

fn sdk_available() -> Result<(), String> {
    match std::process::Command::new("python3")
        .args(["-c", "import openai; print(openai.__version__)"])
        .output()
    {
        Ok(o) if o.status.success() => Ok(()),
        Ok(_) => Err("the `openai` package is not installed (pip install openai)".into()),
        Err(_) => Err("python3 is not on PATH".into()),
    }
}

#[test]
fn official_openai_python_sdk_works_against_rotor_sim() {
    if let Err(why) = sdk_available() {
        eprintln!("SKIPPED official_openai_python_sdk_works_against_rotor_sim: {why}");
        return;
    }
    let sim = SimProcess::start("sdk-check", &[]);
    let out = std::process::Command::new("python3")
        .arg(repo_path("scripts/openai_sdk_check.py"))
        .arg(&sim.base_url)
        .output()
        .expect("run the SDK check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}
